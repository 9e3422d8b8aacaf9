//! The feature front-end: from raw EEG samples to decoder input frames.
//!
//! Everything here is causal and streaming; the same [`FeatureExtractor`]
//! serves replay, live sessions, training and calibration.

pub mod filters;
mod frontend;

pub use frontend::{FeatureExtractor, FrontEndPlan, InputLayout, NOTCH_Q};
