//! The model bundle: a directory with `model.onnx` and the `neurospeak.yaml`
//! manifest. Loading validates the manifest, checks the ONNX file against its
//! recorded hash, and resolves typed plans for the front-end and vocoder.

mod check;
pub mod cpu;
mod error;
pub mod manifest;
mod validate;

pub use check::ModelCheck;
pub use error::BundleError;
pub use manifest::{MANIFEST_FILE, Manifest};

use crate::features::FrontEndPlan;
use crate::mel::MelConfig;
use crate::vocoder::VocoderConfig;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A loaded, validated model bundle.
#[derive(Clone, Debug)]
pub struct Bundle {
    /// The bundle directory.
    pub dir: PathBuf,
    /// The parsed manifest.
    pub manifest: Manifest,
    /// Absolute path of the ONNX decoder.
    pub model_path: PathBuf,
    /// Size of the ONNX file in bytes.
    pub model_bytes: u64,
}

impl Bundle {
    /// Loads and validates the bundle in `dir`.
    pub fn load(dir: &Path) -> Result<Bundle, BundleError> {
        let manifest_path = dir.join(MANIFEST_FILE);
        if !manifest_path.is_file() {
            let found = if !dir.exists() {
                "nothing at that path".to_string()
            } else if dir.is_file() {
                "a file, not a directory".to_string()
            } else {
                format!("a directory without {MANIFEST_FILE}")
            };
            return Err(BundleError::NotABundle {
                dir: dir.to_path_buf(),
                manifest: MANIFEST_FILE,
                found,
            });
        }
        let text = std::fs::read_to_string(&manifest_path).map_err(|source| BundleError::Io {
            path: manifest_path.clone(),
            source,
        })?;
        let manifest = parse_manifest(&text, &manifest_path)?;
        check_cpu(&manifest, &manifest_path, &cpu::HostCpu::this())?;
        let model_path = dir.join(&manifest.decoder.file);
        if !model_path.is_file() {
            return Err(BundleError::MissingModel { path: model_path });
        }
        let found = sha256_file(&model_path).map_err(|source| BundleError::Io {
            path: model_path.clone(),
            source,
        })?;
        if !found.eq_ignore_ascii_case(&manifest.provenance.sha256) {
            return Err(BundleError::HashMismatch {
                path: model_path,
                expected: manifest.provenance.sha256.clone(),
                found,
            });
        }
        let model_bytes = std::fs::metadata(&model_path)
            .map_err(|source| BundleError::Io {
                path: model_path.clone(),
                source,
            })?
            .len();
        Ok(Bundle {
            dir: dir.to_path_buf(),
            manifest,
            model_path,
            model_bytes,
        })
    }

    /// The front-end plan this bundle's model was trained with.
    pub fn front_end_plan(&self) -> FrontEndPlan {
        front_end_plan(&self.manifest)
    }

    /// The vocoder settings this bundle's decoder output is meant for.
    pub fn vocoder_config(&self) -> VocoderConfig {
        vocoder_config(&self.manifest)
    }

    /// The decoder's recurrent state, as the decoder binds it (empty: stateless).
    pub fn state_specs(&self) -> Vec<crate::decoder::StateSpec> {
        state_specs(&self.manifest)
    }

    /// The SHA-256 of the ONNX file, as recorded (and checked) at load.
    pub fn sha256(&self) -> &str {
        &self.manifest.provenance.sha256
    }
}

/// Refuses a manifest whose `optimization.requires_cpu` names features `host` lacks.
pub fn check_cpu(m: &Manifest, path: &Path, host: &cpu::HostCpu) -> Result<(), BundleError> {
    let Some(o) = &m.optimization else {
        return Ok(());
    };
    let missing = cpu::unmet(&o.requires_cpu, host);
    if missing.is_empty() {
        return Ok(());
    }
    Err(BundleError::CpuRequirement {
        path: path.to_path_buf(),
        scheme: o.scheme.clone(),
        missing: missing
            .iter()
            .map(|f| match *f {
                cpu::VNNI => "vnni (AVX512-VNNI or AVX-VNNI on x86-64)".to_string(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        parent: m
            .provenance
            .parent
            .as_ref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default(),
    })
}

/// Parses and validates manifest text; `path` only names the file in errors.
pub fn parse_manifest(text: &str, path: &Path) -> Result<Manifest, BundleError> {
    let manifest: Manifest = serde_saphyr::from_str(text).map_err(|e| BundleError::Syntax {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    validate::validate(&manifest, path)?;
    Ok(manifest)
}

/// The recurrent state a manifest declares, as the decoder binds it.
pub fn state_specs(m: &Manifest) -> Vec<crate::decoder::StateSpec> {
    m.decoder
        .state
        .iter()
        .map(|s| crate::decoder::StateSpec {
            input: s.input.clone(),
            output: s.output.clone(),
            shape: s.shape.clone(),
            initial: s.initial,
        })
        .collect()
}

/// `features.kind` of the raw-window passthrough.
pub const RAW_WINDOW: &str = "raw_window";

/// Resolves the front-end section of a manifest into a plan.
pub fn front_end_plan(m: &Manifest) -> FrontEndPlan {
    let f = &m.features;
    FrontEndPlan {
        channels: m.input.channels,
        sample_rate: m.input.sample_rate_hz,
        common_average_reference: f.reference == "common_average",
        line_frequency: f.line_frequency_hz,
        notch_harmonics: f.notch_harmonics,
        band: (f.band_hz[0], f.band_hz[1]),
        filter_order: f.filter_order,
        window_s: f.window_ms / 1000.0,
        hop_s: f.hop_ms / 1000.0,
        past_frames: f.context.past_frames,
        future_frames: f.context.future_frames,
        stride: f.context.stride,
        mean: f.normalization.mean.clone(),
        std: f.normalization.std.clone(),
        layout: m.decoder.input_layout,
        bipolar: if f.reference == "bipolar" {
            f.bipolar_pairs.iter().map(|p| (p[0], p[1])).collect()
        } else {
            Vec::new()
        },
        extra_bands: f.extra_bands_hz.iter().map(|b| (b[0], b[1])).collect(),
        raw_window: f.kind == RAW_WINDOW,
    }
}

/// Resolves the vocoder section of a manifest.
pub fn vocoder_config(m: &Manifest) -> VocoderConfig {
    let v = &m.vocoder;
    VocoderConfig {
        mel: MelConfig {
            sample_rate: v.sample_rate_hz,
            n_fft: v.n_fft,
            win_length: v.win_length,
            hop_length: v.hop_length,
            n_mels: v.n_mels,
            f_min: v.f_min_hz,
            f_max: v.f_max_hz,
            log_floor: v.log_floor,
        },
        lookahead_frames: v.lookahead_frames,
        iterations: v.iterations,
    }
}

/// Writes `manifest` into `dir` (atomically, via a temporary file).
pub fn write_manifest(dir: &Path, manifest: &Manifest) -> std::io::Result<()> {
    let text = serde_saphyr::to_string(manifest).map_err(std::io::Error::other)?;
    let header =
        "# NeuroSpeak model bundle manifest. Field reference: README.md, \"Model bundle\".\n";
    write_atomic(
        &dir.join(MANIFEST_FILE),
        format!("{header}{text}").as_bytes(),
    )
}

/// Writes `bytes` to `path` through a temporary file in the same directory,
/// so readers never see a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// The SHA-256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut f = std::fs::File::open(path)?;
    std::io::copy(&mut f, &mut hasher)?;
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
