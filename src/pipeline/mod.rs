//! The pipeline: the [`engine`] that turns EEG samples into speech frame by
//! frame, its latency histograms, and the drivers that feed it ([`mod@replay`];
//! live sessions come next).

pub mod accuracy;
pub mod engine;
pub mod latency;
pub mod replay;

pub use engine::{Engine, EngineError, FrameOut, Stamps};
pub use replay::{ReplayError, ReplayOptions, ReplayOutcome, replay};
