//! `optimize_report.json`, written beside the optimized bundle.

use serde::Serialize;

use super::evaluate::{AccuracyComparison, TimingComparison};
use super::quantize::QuantSummary;
use super::{CalibrationMethod, QuantMode, Scheme};
use crate::report::ModelReport;

/// The schema identifier of the optimisation report.
pub const OPTIMIZE_SCHEMA: &str = "neurospeak.optimize_report/1";

/// The integer scheme chosen and why.
#[derive(Clone, Debug, Serialize)]
pub struct SchemeReport {
    /// The scheme used.
    pub scheme: Scheme,
    /// Why it was chosen (CPU features found, or the configuration).
    pub reason: String,
    /// Whether the CPU has VNNI dot-product instructions.
    pub cpu_vnni: bool,
    /// CPU features the quantized decoder needs to compute what was checked (recorded in
    /// the manifest's `optimization.requires_cpu`); empty when it runs anywhere.
    pub requires_cpu: Vec<String>,
    /// Whether the bundle runs as checked on every CPU.
    pub portable: bool,
}

/// Model file sizes.
#[derive(Clone, Debug, Serialize)]
pub struct SizeReport {
    /// The float model, in bytes.
    pub fp32_bytes: u64,
    /// The quantized model, in bytes.
    pub int8_bytes: u64,
    /// `int8_bytes / fp32_bytes`.
    pub ratio: f64,
}

/// The data used.
#[derive(Clone, Debug, Serialize)]
pub struct DataReport {
    /// Recordings used for calibration.
    pub calibration_recordings: Vec<String>,
    /// Calibration frames used (after subsampling).
    pub calibration_frames: usize,
    /// Recordings kept for the accuracy check.
    pub held_out_recordings: Vec<String>,
    /// Held-out frames.
    pub held_out_frames: usize,
    /// Worker threads.
    pub workers: usize,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct OptimizeReport {
    /// Always [`OPTIMIZE_SCHEMA`].
    pub schema: &'static str,
    /// The command line.
    pub command: String,
    /// `ok` or `failed`.
    pub status: String,
    /// Why it failed, when it did.
    pub message: Option<String>,
    /// The input bundle.
    pub input_model: ModelReport,
    /// The optimized bundle (absent when it failed).
    pub output_model: Option<ModelReport>,
    /// Static or dynamic.
    pub mode: QuantMode,
    /// The calibration method (static mode).
    pub method: CalibrationMethod,
    /// Whether weights have one scale per output channel.
    pub per_channel: bool,
    /// The integer scheme and why.
    pub scheme: SchemeReport,
    /// File sizes before and after.
    pub size: SizeReport,
    /// Decoder time per frame before and after.
    pub timing: Option<TimingComparison>,
    /// Accuracy of the quantized model against the float one and the truth.
    pub accuracy: AccuracyComparison,
    /// The allowed drop of decoded-versus-truth Pearson r.
    pub tolerance_r: f64,
    /// What the quantizer did, node by node.
    pub quantization: QuantSummary,
    /// A plain statement of what stays in float.
    pub stays_float: String,
    /// Data used.
    pub data: DataReport,
    /// ONNX Runtime's optimised graph (Extended level), when `--to-onnx` was given.
    pub ort_extended_model: Option<String>,
    /// About the ORT format.
    pub ort_format: String,
    /// Things the reader must know about the result (for example clamped bias values).
    pub warnings: Vec<String>,
}
