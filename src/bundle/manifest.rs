//! `neurospeak.yaml`, the manifest of a model bundle: everything the runtime
//! needs to run the model and nothing it must guess. These serde types are the
//! file format only; [`super::Bundle`] turns them into typed plans.

pub use crate::features::InputLayout;
use serde::{Deserialize, Serialize};

/// The manifest format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// The manifest's file name inside a bundle directory.
pub const MANIFEST_FILE: &str = "neurospeak.yaml";

/// The whole manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Manifest format version; must equal [`FORMAT_VERSION`].
    pub format_version: u32,
    /// A short human name for the model.
    pub name: String,
    pub input: InputSection,
    pub features: FeaturesSection,
    pub decoder: DecoderSection,
    pub vocoder: VocoderSection,
    pub provenance: Provenance,
    /// How the decoder was optimized (written by `neurospeak optimize`); absent for float models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimization: Option<OptimizationSection>,
}

/// What `neurospeak optimize` did to the decoder, and what the result needs to run as checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizationSection {
    /// `static` or `dynamic` INT8.
    pub mode: String,
    /// The integer scheme: `u8s8`, `u8s8_reduce_range` or `u8u8`.
    pub scheme: String,
    /// CPU features the decoder needs to compute what `optimize` checked (see
    /// [`super::cpu`]); empty for a portable bundle. Loading refuses the bundle on a
    /// machine without them.
    #[serde(default)]
    pub requires_cpu: Vec<String>,
}

/// What the model expects from the amplifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSection {
    /// Number of EEG channels.
    pub channels: usize,
    /// Channel labels in order; empty when the model does not care.
    #[serde(default)]
    pub channel_names: Vec<String>,
    /// Sample rate in Hz.
    pub sample_rate_hz: f64,
}

/// The feature front-end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturesSection {
    /// Front-end type; `high_gamma_log_power` is the one implemented.
    pub kind: String,
    /// Re-referencing: `common_average`, `none` or `bipolar` (then
    /// `bipolar_pairs` gives the derivations).
    pub reference: String,
    /// For `reference: bipolar`: the derivations as pairs of 0-based channel
    /// indices, each the first channel minus the second; they replace the
    /// channels from the filters on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bipolar_pairs: Vec<[usize; 2]>,
    /// Mains frequency to notch (50 or 60 Hz), or absent for none.
    #[serde(default)]
    pub line_frequency_hz: Option<f64>,
    /// Number of line harmonics to notch, counting the line itself.
    pub notch_harmonics: usize,
    /// Band of the amplitude envelope, `[low, high]` in Hz.
    pub band_hz: [f64; 2],
    /// More bands whose log power is taken too (for example a low-frequency
    /// one beside high gamma), each `[low, high]`: every frame holds the
    /// first band's values for every channel, then the next band's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_bands_hz: Vec<[f64; 2]>,
    /// Order of each Butterworth half of the band-pass (even, 2 to 8).
    pub filter_order: usize,
    /// Power window length in milliseconds.
    pub window_ms: f64,
    /// Frame hop in milliseconds.
    pub hop_ms: f64,
    pub context: ContextSection,
    pub normalization: NormalizationSection,
}

/// Frames stacked around the current one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextSection {
    pub past_frames: usize,
    /// Future frames add `future_frames * stride` hops of delay, reported as
    /// algorithmic latency.
    #[serde(default)]
    pub future_frames: usize,
    pub stride: usize,
}

/// Per-channel z-scoring statistics of the log power, from the training data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormalizationSection {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

/// The ONNX decoder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecoderSection {
    /// ONNX file, relative to the bundle directory.
    pub file: String,
    pub input_name: String,
    pub output_name: String,
    /// Length of one input vector (channels × stacked frames).
    pub input_dim: usize,
    /// How the stacked frames are laid out: `flat` (`[1, input_dim]`, newest
    /// first; the default), `time_major` (`[1, T, C]`, oldest first) or
    /// `channel_major` (`[1, C, T]`, oldest first), T being the stacked frames.
    #[serde(default, skip_serializing_if = "InputLayout::is_flat")]
    pub input_layout: InputLayout,
    /// Length of one output vector (mel bins).
    pub output_dim: usize,
    /// What the output is; `log_mel` (natural log of mel power) is the one implemented.
    pub output_kind: String,
    /// Expected range of the outputs, `[min, max]`; values outside are clamped.
    pub output_range: [f32; 2],
    /// Whether the model carries state between frames; true exactly when
    /// `state` declares some.
    #[serde(default)]
    pub stateful: bool,
    /// The recurrent state the model carries (ONNX input/output pairs the
    /// runtime feeds back frame to frame); empty for a stateless decoder.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub state: Vec<StateSection>,
    /// A gap in a live stream longer than this (milliseconds) resets the
    /// state, since what it remembers no longer leads into the next frame;
    /// absent: one hop (any lost frame resets it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_reset_gap_ms: Option<f64>,
}

/// One recurrent state of a stateful decoder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSection {
    /// The ONNX input receiving the state before a frame (for example `h_in`).
    pub input: String,
    /// The ONNX output giving the state after it (for example `h_out`).
    pub output: String,
    /// Its shape with batch 1, the same for input and output (for example `[1, 1, 64]`).
    pub shape: Vec<usize>,
    /// The value every element starts from, and returns to on a reset.
    #[serde(default)]
    pub initial: f32,
}

/// The vocoder turning decoder frames into audio.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VocoderSection {
    /// Vocoder type; `rtisi_la` is the one implemented.
    pub kind: String,
    pub sample_rate_hz: u32,
    pub n_fft: usize,
    pub win_length: usize,
    pub hop_length: usize,
    pub n_mels: usize,
    pub f_min_hz: f32,
    pub f_max_hz: f32,
    /// Floor of mel power before the log.
    pub log_floor: f32,
    /// Frames the vocoder waits for before committing one.
    pub lookahead_frames: usize,
    /// Phase-estimation iterations per frame.
    pub iterations: usize,
}

/// Where the model came from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The data it was trained on.
    pub trained_on: String,
    /// The command that produced it.
    #[serde(default)]
    pub command: String,
    /// Held-out metrics, name to value.
    #[serde(default)]
    pub metrics: std::collections::BTreeMap<String, f64>,
    /// The bundle this one was derived from (for optimised models).
    #[serde(default)]
    pub parent: Option<String>,
    /// SHA-256 of the ONNX file, hex.
    pub sha256: String,
    /// Number of decoder parameters.
    #[serde(default)]
    pub parameters: usize,
}
