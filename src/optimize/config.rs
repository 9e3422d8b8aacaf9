//! `configs/quantization.yaml`: how `neurospeak optimize` quantizes a decoder.

use serde::{Deserialize, Serialize};
use std::path::Path;

use super::OptimizeError;

/// How activation ranges are chosen from the calibration data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CalibrationMethod {
    /// The smallest and largest value seen.
    #[default]
    MinMax,
    /// The `percentile` and `100 - percentile` quantiles (outliers are clipped).
    Percentile,
    /// The clipping threshold minimising the KL divergence between the value histogram and
    /// its 8-bit quantized version.
    Entropy,
}

/// Static (activations calibrated ahead of time) or dynamic (activations quantized per call).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuantMode {
    /// Weights and activations in QDQ form; ONNX Runtime fuses them into quantized kernels.
    #[default]
    Static,
    /// Weights only, MatMul and Gemm only; activations are quantized at run time.
    Dynamic,
}

/// The integer types of activations and weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemeChoice {
    /// U8S8 with 7-bit weights: exact on every CPU, so the bundle runs anywhere as checked.
    #[default]
    Portable,
    /// Machine-specific: U8S8 when this CPU has VNNI (and the bundle then requires VNNI),
    /// otherwise U8S8 with 7-bit weights.
    Auto,
    /// Unsigned 8-bit activations, signed 8-bit weights.
    U8s8,
    /// U8S8 with weights limited to 7 bits (\[-64, 63\]) so `vpmaddubsw` cannot saturate.
    U8s8ReduceRange,
    /// Unsigned 8-bit activations and weights.
    U8u8,
}

/// The whole quantization configuration; every field has a default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuantConfig {
    /// `static` or `dynamic`.
    pub mode: QuantMode,
    /// `minmax`, `percentile` or `entropy`.
    pub method: CalibrationMethod,
    /// The upper percentile for `method: percentile` (for example 99.99).
    pub percentile: f64,
    /// One weight scale per output channel instead of one per tensor.
    pub per_channel: bool,
    /// `portable`, `auto`, `u8s8`, `u8s8_reduce_range` or `u8u8`.
    pub scheme: SchemeChoice,
    /// Node names left in float.
    pub exclude_nodes: Vec<String>,
    /// Operator types left in float (for example `Conv`).
    pub exclude_op_types: Vec<String>,
    /// The largest allowed drop of decoded-versus-truth Pearson r on held-out data.
    pub tolerance_r: f64,
    /// The most calibration frames used (spread evenly over the calibration recordings).
    pub calibration_frames: usize,
    /// The last recordings of the data directory, by name, kept for the accuracy check.
    pub held_out_recordings: usize,
    /// Single-frame decoder runs per model for the timing figures.
    pub timing_runs: usize,
}

impl Default for QuantConfig {
    fn default() -> Self {
        QuantConfig {
            mode: QuantMode::Static,
            method: CalibrationMethod::MinMax,
            percentile: 99.99,
            per_channel: true,
            scheme: SchemeChoice::Portable,
            exclude_nodes: Vec::new(),
            exclude_op_types: Vec::new(),
            tolerance_r: 0.01,
            calibration_frames: 4000,
            held_out_recordings: 1,
            timing_runs: 2000,
        }
    }
}

impl QuantConfig {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<QuantConfig, OptimizeError> {
        let text = std::fs::read_to_string(path).map_err(|e| OptimizeError::Config {
            path: path.to_path_buf(),
            message: format!("cannot read it: {e}"),
        })?;
        let cfg: QuantConfig =
            serde_saphyr::from_str(&text).map_err(|e| OptimizeError::Config {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        cfg.validate().map_err(|message| OptimizeError::Config {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(cfg)
    }

    /// Checks the values and the relations between them.
    pub fn validate(&self) -> Result<(), String> {
        if !(50.0..=100.0).contains(&self.percentile) {
            return Err(format!(
                "percentile is {}: expected a value in [50, 100] such as 99.99",
                self.percentile
            ));
        }
        if !(self.tolerance_r >= 0.0 && self.tolerance_r < 1.0) {
            return Err(format!(
                "tolerance_r is {}: expected a value in [0, 1) such as 0.01",
                self.tolerance_r
            ));
        }
        if self.calibration_frames == 0 {
            return Err("calibration_frames is 0: expected at least 1 (for example 4000)".into());
        }
        if self.held_out_recordings == 0 {
            return Err(
                "held_out_recordings is 0: expected at least 1 recording kept for the accuracy check"
                    .into(),
            );
        }
        Ok(())
    }
}
