//! `configs/model.yaml`: how `neurospeak train` builds a decoder.

use super::MlpConfig;
use serde::{Deserialize, Serialize};

/// The whole training configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Which decoder the bundle ships: `mlp` or `ridge`. The ridge baseline is
    /// always fitted and its held-out figures recorded beside the MLP's.
    pub decoder: String,
    /// Recordings kept out of training and used only for the held-out figures.
    pub holdout_recordings: usize,
    pub features: FeaturesConfig,
    pub vocoder: VocoderTuning,
    pub ridge: RidgeConfig,
    pub mlp: MlpConfig,
}

/// Front-end settings written into the bundle.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturesConfig {
    pub reference: String,
    #[serde(default)]
    pub line_frequency_hz: Option<f64>,
    pub notch_harmonics: usize,
    pub band_hz: [f64; 2],
    pub filter_order: usize,
    pub window_ms: f64,
    pub hop_ms: f64,
    pub past_frames: usize,
    #[serde(default)]
    pub future_frames: usize,
    pub stride: usize,
}

/// Streaming vocoder settings written into the bundle.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VocoderTuning {
    pub lookahead_frames: usize,
    pub iterations: usize,
}

/// Ridge regularisation strengths tried on the validation recording.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RidgeConfig {
    pub lambdas: Vec<f64>,
}

impl TrainConfig {
    /// Reads and checks a configuration file.
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let cfg: TrainConfig = serde_saphyr::from_str(&text).map_err(|e| {
            format!(
                "{}: not a valid training configuration: {e}; see configs/model.yaml for every field",
                path.display()
            )
        })?;
        if cfg.decoder != "mlp" && cfg.decoder != "ridge" {
            return Err(format!(
                "{}: field `decoder`: expected mlp or ridge, found {:?}",
                path.display(),
                cfg.decoder
            ));
        }
        if cfg.mlp.hidden.is_empty() && cfg.decoder == "mlp" {
            return Err(format!(
                "{}: field `mlp.hidden`: expected at least one hidden layer size, found none",
                path.display()
            ));
        }
        if cfg.ridge.lambdas.is_empty() || cfg.ridge.lambdas.iter().any(|l| l.is_nan() || *l <= 0.0)
        {
            return Err(format!(
                "{}: field `ridge.lambdas`: expected one or more positive values, found {:?}",
                path.display(),
                cfg.ridge.lambdas
            ));
        }
        Ok(cfg)
    }
}
