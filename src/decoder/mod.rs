//! Running decoder models with ONNX Runtime.
//!
//! A [`Decoder`] wraps one ONNX Runtime session whose graph maps a feature frame
//! `[batch, D]` to a target frame `[batch, M]`. [`Decoder::run`] is the real-time
//! path: the caller owns both buffers, and the input and output tensors are created
//! once and reused, so a call makes no heap allocation on the Rust side.
//! [`runtime`] finds and loads the ONNX Runtime library; [`cache`] keeps ONNX
//! Runtime's optimized graphs between starts.

pub mod cache;
mod error;
mod probe;
pub mod runtime;
mod session;
pub mod state;

use std::path::PathBuf;

pub use cache::GraphCacheStatus;
pub use error::DecoderError;
pub use probe::Probe;
pub use runtime::{
    RuntimeError, init_onnxruntime, locate_onnxruntime, onnxruntime_build_info, onnxruntime_version,
};
pub use session::{Decoder, is_ort_format};
pub use state::StateSpec;

/// How much ONNX Runtime may rewrite the graph when it loads a model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GraphOptimization {
    /// No rewriting at all.
    Disable,
    /// Constant folding and redundant-node removal.
    Basic,
    /// Basic plus operator fusions (for example Gemm + Relu).
    Extended,
    /// Every optimisation, including layout changes.
    #[default]
    All,
}

impl GraphOptimization {
    /// Maps the option to `ort`'s level.
    fn level(self) -> ort::session::builder::GraphOptimizationLevel {
        use ort::session::builder::GraphOptimizationLevel as L;
        match self {
            GraphOptimization::Disable => L::Disable,
            GraphOptimization::Basic => L::Level1,
            GraphOptimization::Extended => L::Level2,
            GraphOptimization::All => L::All,
        }
    }
}

/// Session settings for [`Decoder::load`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecoderOptions {
    /// The number of threads ONNX Runtime may use inside one operator (default 1, best for single frames).
    pub intra_threads: usize,
    /// The graph optimisation level.
    pub optimization: GraphOptimization,
    /// Where to save ONNX Runtime's optimised graph, if anywhere (bypasses the cache).
    pub optimized_model_path: Option<PathBuf>,
    /// The optimized-graph [`cache`] directory; `None` (the default) optimizes at
    /// every load and writes nothing.
    pub cache_dir: Option<PathBuf>,
    /// Whether idle intra-op threads spin instead of sleeping (lower latency, more CPU).
    pub spin: bool,
}

impl Default for DecoderOptions {
    fn default() -> Self {
        DecoderOptions {
            intra_threads: 1,
            optimization: GraphOptimization::All,
            optimized_model_path: None,
            cache_dir: None,
            spin: false,
        }
    }
}
