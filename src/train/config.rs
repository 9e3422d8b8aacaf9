//! `configs/model.yaml`: how `neurospeak train` builds a decoder.

use super::MlpConfig;
use crate::mel::MelConfig;
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
    /// `high_gamma_log_power` (the default) or `raw_window` (the referenced
    /// samples of the last `window_ms`, for decoders with their own filters).
    #[serde(default = "default_kind")]
    pub kind: String,
    /// `common_average`, `none` or `bipolar` (with `bipolar_pairs`).
    pub reference: String,
    /// For `reference: bipolar`: `[first, second]` channel indices from 0.
    #[serde(default)]
    pub bipolar_pairs: Vec<[usize; 2]>,
    #[serde(default)]
    pub line_frequency_hz: Option<f64>,
    pub notch_harmonics: usize,
    pub band_hz: [f64; 2],
    /// More bands beside `band_hz` (for example `[[1, 8]]`).
    #[serde(default)]
    pub extra_bands_hz: Vec<[f64; 2]>,
    pub filter_order: usize,
    pub window_ms: f64,
    pub hop_ms: f64,
    pub past_frames: usize,
    #[serde(default)]
    pub future_frames: usize,
    pub stride: usize,
}

/// Streaming vocoder settings written into the bundle. The vocoder's hop is
/// the front-end's (`features.hop_ms`): one decoded frame per hop of audio.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VocoderTuning {
    pub lookahead_frames: usize,
    pub iterations: usize,
    /// Analysis (and synthesis) window in milliseconds: a whole number of
    /// hops, at least two. The vocoder's delay is `lookahead_frames` hops
    /// plus the window less one hop. 40 ms when absent.
    #[serde(default = "default_vocoder_window_ms")]
    pub window_ms: f64,
}

fn default_kind() -> String {
    "high_gamma_log_power".into()
}

fn default_vocoder_window_ms() -> f64 {
    40.0
}

/// Ridge regularisation strengths tried on the validation recording.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RidgeConfig {
    pub lambdas: Vec<f64>,
}

impl TrainConfig {
    /// The mel analysis of the training targets and of the bundle's vocoder
    /// ([`mel_for`] of its front-end and vocoder sections).
    pub fn mel(&self) -> Result<MelConfig, String> {
        mel_for(&self.features, &self.vocoder)
    }

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
        let f = &cfg.features;
        if (f.reference == "bipolar") == f.bipolar_pairs.is_empty() {
            return Err(format!(
                "{}: field `features.bipolar_pairs`: expected pairs exactly when reference is \
                 bipolar, found reference {:?} with {} pairs",
                path.display(),
                f.reference,
                f.bipolar_pairs.len()
            ));
        }
        cfg.mel().map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(cfg)
    }
}

/// The mel analysis of a front-end's targets and of its vocoder: the corpus's
/// audio rate and mel bands, the configured window, the front-end's hop. The
/// FFT is at least 640 points (the window zero-padded) so that short windows
/// keep every mel band non-empty.
pub fn mel_for(features: &FeaturesConfig, vocoder: &VocoderTuning) -> Result<MelConfig, String> {
    let base = crate::synth::mel_config();
    let rate = f64::from(base.sample_rate);
    let hop = features.hop_ms * rate / 1000.0;
    let win = vocoder.window_ms * rate / 1000.0;
    let whole = |x: f64| x.is_finite() && x >= 1.0 && (x - x.round()).abs() < 1e-6;
    if !whole(hop) {
        return Err(format!(
            "field `features.hop_ms`: expected a whole number of audio samples at {rate} Hz, \
             found {} ms ({hop} samples); use a multiple of {} ms",
            features.hop_ms,
            1000.0 / rate
        ));
    }
    let whole_win = whole(win);
    let (hop, win) = (hop.round() as usize, win.round() as usize);
    if !whole_win || win < 2 * hop || win % hop != 0 {
        return Err(format!(
            "field `vocoder.window_ms`: expected a whole number of hops ({} ms each), at least \
             two, found {} ms",
            features.hop_ms, vocoder.window_ms
        ));
    }
    let mel = MelConfig {
        n_fft: win.max(base.n_fft),
        win_length: win,
        hop_length: hop,
        ..base
    };
    mel.validate().map_err(|e| e.to_string())?;
    Ok(mel)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(name: &str) -> TrainConfig {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        TrainConfig::load(&root.join("configs").join(name)).unwrap()
    }

    #[test]
    fn the_vocoder_analysis_follows_the_hop_and_window() {
        let demo = shipped("model.yaml").mel().unwrap();
        assert_eq!(demo, crate::synth::mel_config());
        let low = shipped("model-lowlatency.yaml").mel().unwrap();
        assert_eq!((low.hop_length, low.win_length, low.n_fft), (80, 160, 640));
    }

    #[test]
    fn a_window_that_is_not_whole_hops_is_refused_naming_the_field() {
        let mut cfg = shipped("model-lowlatency.yaml");
        cfg.vocoder.window_ms = 12.0;
        let e = cfg.mel().unwrap_err();
        assert!(e.contains("vocoder.window_ms") && e.contains("12"), "{e}");
        cfg.vocoder.window_ms = 5.0;
        assert!(cfg.mel().unwrap_err().contains("at least"));
        cfg.vocoder.window_ms = 15.0;
        cfg.features.hop_ms = 5.01;
        let e = cfg.mel().unwrap_err();
        assert!(e.contains("features.hop_ms"), "{e}");
    }
}
