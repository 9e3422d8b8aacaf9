//! Errors raised by `neurospeak optimize`.

use std::path::PathBuf;

use crate::bundle::BundleError;
use crate::decoder::DecoderError;
use crate::onnx::OnnxError;
use crate::recording::RecordingError;

/// Everything that can stop an optimisation.
#[derive(Debug, thiserror::Error)]
pub enum OptimizeError {
    /// The input bundle does not load.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The model file is not a usable ONNX model.
    #[error(transparent)]
    Model(#[from] OnnxError),
    /// ONNX Runtime could not load or run a model.
    #[error(transparent)]
    Decoder(#[from] DecoderError),
    /// A recording could not be read.
    #[error(transparent)]
    Recording(#[from] RecordingError),
    /// The quantization configuration is invalid.
    #[error(
        "quantization configuration `{path}`: {message}; see configs/quantization.yaml for every option"
    )]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The data directory cannot be used.
    #[error("{reason}")]
    Data {
        /// What is wrong and what to do.
        reason: String,
    },
    /// A recording's montage does not match the bundle.
    #[error(
        "recording `{recording}` has {found} channels at {found_rate} Hz, but bundle `{bundle}` expects \
         {expected} channels at {expected_rate} Hz; calibrate with recordings of the montage the model was trained on"
    )]
    ChannelMismatch {
        /// The recording.
        recording: PathBuf,
        /// Its channel count.
        found: usize,
        /// Its sample rate.
        found_rate: f64,
        /// The bundle directory.
        bundle: PathBuf,
        /// The bundle's channel count.
        expected: usize,
        /// The bundle's sample rate.
        expected_rate: f64,
    },
    /// Calibration failed.
    #[error("calibration failed: {reason}")]
    Calibration {
        /// What went wrong.
        reason: String,
    },
    /// The graph could not be rewritten.
    #[error("the quantizer could not rewrite the graph: {reason}")]
    Graph {
        /// What went wrong.
        reason: String,
    },
    /// The model's opset is older than the converter handles.
    #[error(
        "the model imports opset {found} of the default ONNX domain; the quantized graph is written at \
         opset {target}, and the quantizer converts models from opset {oldest} on only (too many operators \
         changed before it). Re-export the model at opset {target} or later (for example \
         torch.onnx.export(..., opset_version=17)) or convert it first with \
         onnx.version_converter.convert_version(model, {target})"
    )]
    Opset {
        /// The model's default-domain opset.
        found: i64,
        /// The opset of the quantized graph.
        target: i64,
        /// The oldest opset converted.
        oldest: i64,
    },
    /// The quantized model lost too much accuracy; nothing was written as optimized.
    #[error(
        "the quantized model lost too much accuracy on the held-out data: {metric} is {int8:.4} against \
         {fp32:.4} for the float model (drop {drop:.4}), but tolerance_r allows {tolerance:.4}; nothing was written \
         as optimized. Try `method: percentile` or `entropy`, `per_channel: true`, `scheme: u8u8`, or exclude the \
         most sensitive nodes (exclude_nodes) in the configuration"
    )]
    AccuracyDrop {
        /// Which figure was compared.
        metric: String,
        /// The float model's figure.
        fp32: f64,
        /// The quantized model's figure.
        int8: f64,
        /// How much was lost.
        drop: f64,
        /// The allowed loss.
        tolerance: f64,
    },
    /// A file or directory could not be written.
    #[error("could not {action} `{path}`: {source}; check that the output directory is writable")]
    Io {
        /// What was being attempted.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}
