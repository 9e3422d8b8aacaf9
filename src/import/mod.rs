//! `neurospeak import`: an ONNX decoder someone else exported, wrapped into a
//! model bundle.
//!
//! The file says which tensors it has; [`infer`] decides which is the
//! frame and which are recurrent state. What the file cannot say comes from
//! the user: the front-end and vocoder settings the model was trained with (a
//! config with `features` and `vocoder` sections, as in `configs/model.yaml`)
//! and recordings of the participant, from which the per-channel
//! normalization is measured. The decoder is then run once over a real
//! recording, state fed back, and the manifest is written only if every frame
//! came out finite and the bundle loads.

mod signature;

pub use signature::{Declared, DecoderSignature, FoundState, FrameSpec, infer};

use crate::bundle::manifest::{DecoderSection, Provenance, StateSection};
use crate::bundle::{Bundle, BundleError, front_end_plan, state_specs};
use crate::decoder::{Decoder, DecoderError, DecoderOptions};
use crate::features::FeatureExtractor;
use crate::metrics::{mean_bin_pearson, mel_cepstral_distortion_db};
use crate::onnx::{OnnxError, graph_inputs, graph_outputs, load_model, parameter_count};
use crate::pipeline::accuracy::{MCD_COEFFICIENTS, true_log_mel};
use crate::recording::{self, Recording};
use crate::train::config::{FeaturesConfig, VocoderTuning, mel_for};
use crate::train::corpus::{
    channel_statistics, check_montage, finish_bundle, front_end_manifest, list_recordings,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Errors of an import.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A tensor of the model does not fit what the bundle needs.
    #[error("{what}: expected {expected}, found {found}; {hint}")]
    Tensor {
        what: String,
        expected: String,
        found: String,
        hint: String,
    },
    #[error(transparent)]
    Model(#[from] OnnxError),
    #[error(transparent)]
    Decoder(#[from] DecoderError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The config, the recordings or the output directory.
    #[error("{0}")]
    Input(String),
    /// The check run produced a value that is not a number.
    #[error(
        "{model}: the decoder gave {value} at frame {frame} of {recording}; expected finite \
         values; check the front-end settings and normalization the model was trained with"
    )]
    NonFinite {
        model: PathBuf,
        recording: PathBuf,
        frame: usize,
        value: f32,
    },
}

/// The settings `import` cannot read from the ONNX file: the front-end and
/// vocoder sections of a training config (other sections are ignored, so a
/// training config works as it is).
#[derive(Clone, Debug, Deserialize)]
pub struct ImportConfig {
    pub features: FeaturesConfig,
    pub vocoder: VocoderTuning,
}

impl ImportConfig {
    /// Reads a config file.
    pub fn load(path: &Path) -> Result<Self, ImportError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ImportError::Input(format!("{}: cannot read: {e}", path.display())))?;
        let cfg: ImportConfig = serde_saphyr::from_str(&text).map_err(|e| {
            ImportError::Input(format!(
                "{}: expected a `features` and a `vocoder` section as in configs/import.yaml: {e}",
                path.display()
            ))
        })?;
        mel_for(&cfg.features, &cfg.vocoder)
            .map_err(|e| ImportError::Input(format!("{}: {e}", path.display())))?;
        Ok(cfg)
    }
}

/// What to import, and how.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// The exported decoder.
    pub onnx: PathBuf,
    pub config: ImportConfig,
    /// Recordings of the participant: normalization statistics (all of them)
    /// and the check run (the first).
    pub data_dir: PathBuf,
    /// The bundle directory to write (created if needed).
    pub output_dir: PathBuf,
    /// The bundle's name (default: the output directory's name).
    pub name: Option<String>,
    /// Tensor names the signature cannot decide.
    pub declared: Declared,
    /// Longest gap (ms) a live stream may have before the state is reset.
    pub state_reset_gap_ms: Option<f64>,
    /// The command line, for provenance.
    pub command: String,
}

/// What an import found and measured.
#[derive(Clone, Debug)]
pub struct ImportSummary {
    pub signature: DecoderSignature,
    pub input_dim: usize,
    pub output_dim: usize,
    pub parameters: usize,
    pub recordings: usize,
    /// The check run: its recording, frames, and (with paired speech) the
    /// per-bin Pearson r and MCD against the true log-mel.
    pub check_recording: PathBuf,
    pub check_frames: usize,
    pub check_pearson_r: Option<f64>,
    pub check_mcd_db: Option<f64>,
    /// Whether the output range came from paired speech (else from the
    /// decoder's own outputs).
    pub range_from_speech: bool,
    pub bundle: Bundle,
}

/// Imports `opts.onnx` into a bundle in `opts.output_dir`.
pub fn import(
    opts: &ImportOptions,
    log: &mut dyn FnMut(&str),
) -> Result<ImportSummary, ImportError> {
    let model = load_model(&opts.onnx)?;
    let files = list_recordings(&opts.data_dir).map_err(ImportError::Input)?;
    let mut recs = Vec::with_capacity(files.len());
    for f in &files {
        recs.push(recording::load(f).map_err(|e| ImportError::Input(e.to_string()))?);
    }
    check_montage(&recs).map_err(ImportError::Input)?;
    let cfg = &opts.config;
    let mel = mel_for(&cfg.features, &cfg.vocoder).map_err(ImportError::Input)?;
    let first = &recs[0];
    let mut manifest = front_end_manifest(
        &cfg.features,
        &cfg.vocoder,
        &first.eeg.channel_labels,
        first.eeg.sample_rate,
        &mel,
    );
    let input_dim = manifest.decoder.input_dim;
    let output_dim = manifest.decoder.output_dim;
    let mut plan = front_end_plan(&manifest);
    let spec = FrameSpec {
        channels: plan.frame_features(),
        frames: plan.stacked_frames(),
        mels: output_dim,
    };
    let sig = infer(
        &graph_inputs(&model),
        &graph_outputs(&model),
        spec,
        &opts.declared,
    )
    .map_err(|e| in_model(&opts.onnx, e))?;
    let shape = sig.layout.shape(spec.channels, spec.frames);
    log(&format!(
        "decoder: frame `{}` {:?} ({}) -> `{}` [1, {output_dim}]",
        sig.input,
        std::iter::once(1).chain(shape).collect::<Vec<_>>(),
        sig.layout.name(),
        sig.output
    ));
    for s in &sig.state {
        let assumed = if s.symbolic.is_empty() {
            String::new()
        } else {
            format!(" ({} taken as 1)", s.symbolic.join(", "))
        };
        log(&format!(
            "state: `{}` -> `{}` {:?}{assumed}",
            s.output, s.input, s.shape
        ));
    }

    manifest.decoder.input_layout = sig.layout;
    plan.layout = sig.layout;
    let (mean, std) = channel_statistics(&plan, &recs);
    plan.mean.clone_from(&mean);
    plan.std.clone_from(&std);
    manifest.features.normalization.mean = mean;
    manifest.features.normalization.std = std;
    log(&format!(
        "normalization: per-channel statistics of {} recording(s) in {}",
        recs.len(),
        opts.data_dir.display()
    ));

    manifest.decoder = DecoderSection {
        input_name: sig.input.clone(),
        output_name: sig.output.clone(),
        stateful: !sig.state.is_empty(),
        state: sig
            .state
            .iter()
            .map(|s| StateSection {
                input: s.input.clone(),
                output: s.output.clone(),
                shape: s.shape.clone(),
                initial: 0.0,
            })
            .collect(),
        state_reset_gap_ms: opts.state_reset_gap_ms,
        ..manifest.decoder
    };
    std::fs::create_dir_all(&opts.output_dir).map_err(|e| {
        ImportError::Input(format!(
            "{}: cannot create the bundle directory: {e}",
            opts.output_dir.display()
        ))
    })?;
    let model_path = opts.output_dir.join(&manifest.decoder.file);
    copy_model(&opts.onnx, &model_path)?;

    // The check run, on the first recording with the state fed back.
    let specs = state_specs(&manifest);
    let mut decoder = Decoder::load_with_state(&model_path, &DecoderOptions::default(), &specs)?;
    let (decoded, frames) = check_run(&mut decoder, &plan, first, output_dim, &model_path)?;
    let truth = true_log_mel(first, &mel);
    let (check_r, check_mcd) = match &truth {
        Some(t) => {
            let n = frames.min(t.len() / output_dim) * output_dim;
            (
                Some(mean_bin_pearson(&t[..n], &decoded[..n], output_dim)),
                Some(mel_cepstral_distortion_db(
                    &t[..n],
                    &decoded[..n],
                    output_dim,
                    MCD_COEFFICIENTS,
                )),
            )
        }
        None => (None, None),
    };
    let targets: Vec<Vec<f32>> = recs.iter().filter_map(|r| true_log_mel(r, &mel)).collect();
    let range_from_speech = !targets.is_empty();
    let top = if range_from_speech {
        targets.iter().flatten().fold(f32::MIN, |m, v| m.max(*v))
    } else {
        decoded.iter().fold(f32::MIN, |m, v| m.max(*v))
    };
    manifest.decoder.output_range = [mel.log_floor.ln(), top.max(mel.log_floor.ln()) + 2.0];

    let parameters = parameter_count(&model);
    manifest.name = opts.name.clone().unwrap_or_else(|| {
        opts.output_dir
            .file_name()
            .map_or("imported".into(), |n| n.to_string_lossy().into_owned())
    });
    let mut metrics = BTreeMap::from([("check_frames".to_string(), frames as f64)]);
    if let (Some(r), Some(mcd)) = (check_r, check_mcd) {
        metrics.insert("check_pearson_r".into(), r);
        metrics.insert("check_mcd_db".into(), mcd);
    }
    manifest.provenance = Provenance {
        trained_on: format!(
            "imported from {}; normalization from {} ({} recordings); check run on {}",
            file_name(&opts.onnx),
            opts.data_dir.display(),
            recs.len(),
            file_name(&first.path)
        ),
        command: opts.command.clone(),
        metrics,
        parent: None,
        sha256: String::new(),
        parameters,
    };
    finish_bundle(&opts.output_dir, &mut manifest, &model_path).map_err(ImportError::Input)?;
    let bundle = Bundle::load(&opts.output_dir)?;
    Ok(ImportSummary {
        signature: sig,
        input_dim,
        output_dim,
        parameters,
        recordings: recs.len(),
        check_recording: first.path.clone(),
        check_frames: frames,
        check_pearson_r: check_r,
        check_mcd_db: check_mcd,
        range_from_speech,
        bundle,
    })
}

/// Runs every frame of `rec` through `decoder`; refuses a non-finite output.
fn check_run(
    decoder: &mut Decoder,
    plan: &crate::features::FrontEndPlan,
    rec: &Recording,
    output_dim: usize,
    model_path: &Path,
) -> Result<(Vec<f32>, usize), ImportError> {
    let x = FeatureExtractor::run_batch(plan, &rec.eeg.samples);
    let frames = x.len() / plan.feature_dim();
    let mut out = vec![0.0f32; frames * output_dim];
    for (k, (xi, yi)) in x
        .chunks_exact(plan.feature_dim())
        .zip(out.chunks_exact_mut(output_dim))
        .enumerate()
    {
        decoder.run(xi, yi)?;
        if let Some(v) = yi.iter().find(|v| !v.is_finite()) {
            return Err(ImportError::NonFinite {
                model: model_path.to_path_buf(),
                recording: rec.path.clone(),
                frame: k,
                value: *v,
            });
        }
    }
    Ok((out, frames))
}

/// Copies the ONNX file into the bundle unchanged (its hash is the one the
/// exporter's file has), unless it is already there.
fn copy_model(from: &Path, to: &Path) -> Result<(), ImportError> {
    let same = match (from.canonicalize(), to.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same {
        let tmp = to.with_extension("partial");
        std::fs::copy(from, &tmp)
            .and_then(|_| std::fs::rename(&tmp, to))
            .map_err(|e| {
                ImportError::Input(format!(
                    "{}: cannot copy the model to {}: {e}",
                    from.display(),
                    to.display()
                ))
            })?;
    }
    Ok(())
}

fn in_model(path: &Path, e: ImportError) -> ImportError {
    match e {
        ImportError::Tensor {
            what,
            expected,
            found,
            hint,
        } => ImportError::Tensor {
            what: format!("{}: {what}", path.display()),
            expected,
            found,
            hint,
        },
        other => other,
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
