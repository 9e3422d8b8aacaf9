//! Training decoders natively in Rust.
//!
//! Two decoders are offered: a closed-form ridge regression ([`fit_ridge`],
//! [`select_ridge`]) and a small multi-layer perceptron trained with candle on the
//! CPU ([`train_mlp`]). Both return [`DenseLayer`](crate::onnx::DenseLayer)s that
//! [`dense_stack_model`](crate::onnx::dense_stack_model) turns into an ONNX graph,
//! and [`predict_dense`] runs the same stack in plain Rust to cross-check ONNX Runtime.

pub mod config;
pub mod corpus;
mod dataset;
mod error;
mod forward;
mod mlp;
mod ridge;

pub use dataset::Dataset;
pub use error::TrainError;
pub use forward::{fold_output_affine, mse, predict_dense};
pub use mlp::{EpochStats, MlpConfig, train_mlp};
pub use ridge::{fit_ridge, ridge_path, select_ridge};
