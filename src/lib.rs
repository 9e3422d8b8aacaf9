//! NeuroSpeak: a real-time EEG-to-speech inference runtime.
//!
//! The modules follow the data flow: a [`recording`] (or a [`live`] LSL
//! source) feeds the [`features`] front-end, whose frames go through the ONNX
//! [`decoder`] into the streaming [`vocoder`]; the [`pipeline`] wires them
//! together and stamps every frame for the latency [`report`]. Around it sit
//! the model [`bundle`] contract, the [`synth`]etic corpus, [`train`]ing and
//! the [`onnx`] graph writer. See ARCHITECTURE.md for the map and invariants.

pub mod benchmark;
pub mod bundle;
pub mod cli;
pub mod decoder;
pub mod features;
pub mod import;
pub mod live;
pub mod mel;
pub mod metrics;
pub mod onnx;
pub mod optimize;
pub mod pipeline;
pub mod recording;
pub mod report;
pub mod synth;
pub mod train;
pub mod vocoder;
