//! From a directory of paired recordings to a model bundle: the front-end
//! turns EEG into inputs, the paired speech gives log-mel targets, a ridge
//! baseline and the configured decoder are fitted, compared on held-out
//! recordings, exported to ONNX and written with a manifest.

use super::config::{FeaturesConfig, TrainConfig, VocoderTuning};
use super::{Dataset, EpochStats, fold_output_affine, predict_dense, select_ridge, train_mlp};
use crate::bundle::manifest::*;
use crate::bundle::{front_end_plan, sha256_file, write_manifest};
use crate::features::{FeatureExtractor, FrontEndPlan};
use crate::mel::MelConfig;
use crate::metrics::{mean_bin_pearson, mel_cepstral_distortion_db};
use crate::onnx::{DenseLayer, GraphSpec, dense_stack_model, parameter_count, save_model};
use crate::pipeline::accuracy::{MCD_COEFFICIENTS, true_log_mel};
use crate::recording::{self, Recording};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Figures from one training run, written into the bundle's provenance.
#[derive(Clone, Debug, Default)]
pub struct TrainSummary {
    pub train_frames: usize,
    pub test_frames: usize,
    pub test_recordings: Vec<PathBuf>,
    pub decoder_pearson_r: f64,
    pub decoder_mcd_db: f64,
    pub ridge_pearson_r: f64,
    pub ridge_mcd_db: f64,
    pub ridge_lambda: f64,
    pub parameters: usize,
}

/// Lists the recordings of a data directory (XDF, EDF, BDF), sorted by name.
pub fn list_recordings(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        format!(
            "{}: cannot list the data directory: {e}; pass a directory of recordings",
            dir.display()
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| {
                ["xdf", "edf", "bdf"]
                    .iter()
                    .any(|k| x.eq_ignore_ascii_case(k))
            })
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!(
            "{}: no recordings (.xdf, .edf, .bdf) found; make a corpus with `neurospeak synth --out {}`",
            dir.display(),
            dir.display()
        ));
    }
    Ok(files)
}

/// Checks every recording has the first one's channel count and rate: a
/// model runs on one montage.
pub fn check_montage(recs: &[Recording]) -> Result<(), String> {
    let Some(first) = recs.first() else {
        return Ok(());
    };
    for r in &recs[1..] {
        if r.eeg.channel_count != first.eeg.channel_count
            || r.eeg.sample_rate != first.eeg.sample_rate
        {
            return Err(format!(
                "{}: {} channels at {} Hz, but {} has {} at {} Hz; a model runs on one montage",
                r.path.display(),
                r.eeg.channel_count,
                r.eeg.sample_rate,
                first.path.display(),
                first.eeg.channel_count,
                first.eeg.sample_rate
            ));
        }
    }
    Ok(())
}

/// A manifest for `channels` EEG channels at `rate` Hz with the front-end
/// and vocoder of `cfg`; normalisation is the identity and provenance empty
/// until training fills them in.
pub fn manifest_for(
    cfg: &TrainConfig,
    channel_names: &[String],
    rate: f64,
    mel: &MelConfig,
) -> Manifest {
    front_end_manifest(&cfg.features, &cfg.vocoder, channel_names, rate, mel)
}

/// [`manifest_for`] from the front-end and vocoder sections alone (what
/// `neurospeak import` is given).
pub fn front_end_manifest(
    f: &FeaturesConfig,
    vocoder: &VocoderTuning,
    channel_names: &[String],
    rate: f64,
    mel: &MelConfig,
) -> Manifest {
    let ch = channel_names.len();
    let mut m = Manifest {
        format_version: FORMAT_VERSION,
        name: String::new(),
        input: InputSection {
            channels: ch,
            channel_names: channel_names.to_vec(),
            sample_rate_hz: rate,
        },
        features: FeaturesSection {
            kind: f.kind.clone(),
            reference: f.reference.clone(),
            bipolar_pairs: f.bipolar_pairs.clone(),
            line_frequency_hz: f.line_frequency_hz,
            notch_harmonics: f.notch_harmonics,
            band_hz: f.band_hz,
            extra_bands_hz: f.extra_bands_hz.clone(),
            filter_order: f.filter_order,
            window_ms: f.window_ms,
            hop_ms: f.hop_ms,
            context: ContextSection {
                past_frames: f.past_frames,
                future_frames: f.future_frames,
                stride: f.stride,
            },
            normalization: NormalizationSection {
                mean: Vec::new(),
                std: Vec::new(),
            },
        },
        decoder: DecoderSection {
            file: "model.onnx".into(),
            input_name: "features".into(),
            output_name: "log_mel".into(),
            input_dim: 0,
            input_layout: InputLayout::Flat,
            output_dim: mel.n_mels,
            output_kind: "log_mel".into(),
            output_range: [mel.log_floor.ln(), 0.0],
            stateful: false,
            state: Vec::new(),
            state_reset_gap_ms: None,
        },
        vocoder: VocoderSection {
            kind: "rtisi_la".into(),
            sample_rate_hz: mel.sample_rate,
            n_fft: mel.n_fft,
            win_length: mel.win_length,
            hop_length: mel.hop_length,
            n_mels: mel.n_mels,
            f_min_hz: mel.f_min,
            f_max_hz: mel.f_max,
            log_floor: mel.log_floor,
            lookahead_frames: vocoder.lookahead_frames,
            iterations: vocoder.iterations,
        },
        provenance: Provenance::default(),
        optimization: None,
    };
    // The decoder's input and the statistics' length, as the front-end makes them.
    let plan = front_end_plan(&m);
    m.decoder.input_dim = plan.feature_dim();
    m.features.normalization = NormalizationSection {
        mean: vec![0.0; plan.frame_features()],
        std: vec![1.0; plan.frame_features()],
    };
    m
}

/// Per-feature (channel or bipolar pair, and band) mean and standard
/// deviation of the raw log power over the training recordings.
pub fn channel_statistics(plan: &FrontEndPlan, recs: &[Recording]) -> (Vec<f32>, Vec<f32>) {
    // One frame at a time, flat: the stack's rows are then each the frame's
    // values (a raw window's rows are its samples).
    let mut raw = plan.clone();
    raw.past_frames = 0;
    raw.future_frames = 0;
    raw.layout = crate::features::InputLayout::Flat;
    raw.mean.clear();
    raw.std.clear();
    let ch = plan.frame_features();
    let (mut sum, mut sq, mut n) = (vec![0f64; ch], vec![0f64; ch], 0usize);
    for rec in recs {
        let frames = FeatureExtractor::run_batch(&raw, &rec.eeg.samples);
        for f in frames.chunks_exact(ch) {
            for c in 0..ch {
                sum[c] += f[c] as f64;
                sq[c] += (f[c] as f64).powi(2);
            }
            n += 1;
        }
    }
    let n = n.max(1) as f64;
    let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
    let std = sq
        .iter()
        .zip(&mean)
        .map(|(q, m)| ((q / n - (*m as f64).powi(2)).max(1e-8)).sqrt() as f32)
        .collect();
    (mean, std)
}

/// Inputs and targets of some recordings, frame by frame.
fn dataset(plan: &FrontEndPlan, mel: &MelConfig, recs: &[Recording]) -> Result<Dataset, String> {
    let (mut inputs, mut targets) = (Vec::new(), Vec::new());
    for rec in recs {
        let truth = true_log_mel(rec, mel).ok_or_else(|| {
            format!(
                "{}: the recording has no paired speech (an Audio stream in the XDF file or a WAV \
                 beside it); training needs it as the target",
                rec.path.display()
            )
        })?;
        let x = FeatureExtractor::run_batch(plan, &rec.eeg.samples);
        let frames = (x.len() / plan.feature_dim()).min(truth.len() / mel.n_mels);
        inputs.extend_from_slice(&x[..frames * plan.feature_dim()]);
        targets.extend_from_slice(&truth[..frames * mel.n_mels]);
    }
    let n = inputs.len() / plan.feature_dim();
    Ok(Dataset {
        inputs,
        targets,
        n,
        in_dim: plan.feature_dim(),
        out_dim: mel.n_mels,
    })
}

/// Z-scores targets per bin, returning the statistics to fold back.
fn standardise_targets(ds: &mut Dataset) -> (Vec<f32>, Vec<f32>) {
    let m = ds.out_dim;
    let n = ds.n.max(1) as f64;
    let mut mean = vec![0f64; m];
    let mut sq = vec![0f64; m];
    for row in ds.targets.chunks_exact(m) {
        for b in 0..m {
            mean[b] += row[b] as f64 / n;
            sq[b] += (row[b] as f64).powi(2) / n;
        }
    }
    let std: Vec<f32> = (0..m)
        .map(|b| (sq[b] - mean[b] * mean[b]).max(1e-8).sqrt() as f32)
        .collect();
    let mean: Vec<f32> = mean.iter().map(|v| *v as f32).collect();
    for row in ds.targets.chunks_exact_mut(m) {
        for b in 0..m {
            row[b] = (row[b] - mean[b]) / std[b];
        }
    }
    (mean, std)
}

fn evaluate(layers: &[DenseLayer], test: &Dataset) -> (f64, f64) {
    let pred = predict_dense(layers, &test.inputs, test.n);
    (
        mean_bin_pearson(&test.targets, &pred, test.out_dim),
        mel_cepstral_distortion_db(&test.targets, &pred, test.out_dim, MCD_COEFFICIENTS),
    )
}

/// Trains on the recordings in `data_dir` and writes a bundle into `out_dir`.
pub fn train_bundle(
    data_dir: &Path,
    cfg: &TrainConfig,
    out_dir: &Path,
    command: &str,
    log: &mut dyn FnMut(&str),
) -> Result<TrainSummary, String> {
    let files = list_recordings(data_dir)?;
    if files.len() < cfg.holdout_recordings + 2 {
        return Err(format!(
            "{}: {} recordings found, but training needs at least {} (one to train, one to \
             validate, and holdout_recordings = {} held out); make more with `neurospeak synth`",
            data_dir.display(),
            files.len(),
            cfg.holdout_recordings + 2,
            cfg.holdout_recordings
        ));
    }
    let mut recs = Vec::with_capacity(files.len());
    for f in &files {
        recs.push(recording::load(f).map_err(|e| e.to_string())?);
    }
    check_montage(&recs)?;
    let first = &recs[0];
    let mel = cfg.mel()?;
    let mut manifest = manifest_for(cfg, &first.eeg.channel_labels, first.eeg.sample_rate, &mel);
    let n_test = cfg.holdout_recordings;
    let n_fit = recs.len() - n_test;
    let (fit, test) = recs.split_at(n_fit);
    let (train_recs, val_recs) = fit.split_at(n_fit - 1);

    let mut plan = front_end_plan(&manifest);
    let (mean, std) = channel_statistics(&plan, train_recs);
    plan.mean = mean.clone();
    plan.std = std.clone();
    manifest.features.normalization = NormalizationSection { mean, std };
    log(&format!(
        "features: {} train, {} validation, {} held-out recordings",
        train_recs.len(),
        val_recs.len(),
        test.len()
    ));
    let mut train = dataset(&plan, &mel, train_recs)?;
    let mut val = dataset(&plan, &mel, val_recs)?;
    let test_ds = dataset(&plan, &mel, test)?;
    let max_target = train.targets.iter().fold(f32::MIN, |m, v| m.max(*v));
    manifest.decoder.output_range[1] = max_target + 2.0;

    let (ridge, lambda) = select_ridge(&train, &val, &cfg.ridge.lambdas);
    let (ridge_r, ridge_mcd) = evaluate(std::slice::from_ref(&ridge), &test_ds);
    log(&format!(
        "ridge (λ = {lambda}): held-out Pearson r {ridge_r:.3}, MCD {ridge_mcd:.2} dB"
    ));

    let layers = if cfg.decoder == "ridge" {
        vec![ridge]
    } else {
        let (t_mean, t_std) = standardise_targets(&mut train);
        for row in val.targets.chunks_exact_mut(val.out_dim) {
            for b in 0..row.len() {
                row[b] = (row[b] - t_mean[b]) / t_std[b];
            }
        }
        log(&format!(
            "mlp: {} frames, hidden {:?}, {} epochs at most",
            train.n, cfg.mlp.hidden, cfg.mlp.epochs
        ));
        let mut layers = train_mlp(&train, &val, &cfg.mlp, &mut |s: EpochStats| {
            log(&format!(
                "  epoch {:3}  train MSE {:.4}  validation MSE {:.4}{}  ({:.0} s)",
                s.epoch,
                s.train_loss,
                s.val_loss,
                if s.improved { " *" } else { "" },
                s.elapsed.as_secs_f64()
            ));
        })
        .map_err(|e| e.to_string())?;
        let last = layers.last_mut().expect("an MLP has an output layer");
        fold_output_affine(last, &t_mean, &t_std);
        layers
    };
    let (r, mcd) = evaluate(&layers, &test_ds);
    log(&format!(
        "{}: held-out Pearson r {r:.3}, MCD {mcd:.2} dB",
        cfg.decoder
    ));

    let model_path = out_dir.join(&manifest.decoder.file);
    let metadata = vec![
        ("neurospeak.decoder".to_string(), cfg.decoder.clone()),
        (
            "neurospeak.trained_on".to_string(),
            data_dir.display().to_string(),
        ),
    ];
    let parameters = write_model(out_dir, &manifest, &layers, &metadata)?;
    let summary = TrainSummary {
        train_frames: train.n,
        test_frames: test_ds.n,
        test_recordings: test.iter().map(|r| r.path.clone()).collect(),
        decoder_pearson_r: r,
        decoder_mcd_db: mcd,
        ridge_pearson_r: ridge_r,
        ridge_mcd_db: ridge_mcd,
        ridge_lambda: lambda,
        parameters,
    };
    manifest.name = out_dir
        .file_name()
        .map_or("model".into(), |n| n.to_string_lossy().into_owned());
    manifest.provenance = Provenance {
        trained_on: format!(
            "{} ({} recordings; held out: {})",
            data_dir.display(),
            recs.len(),
            summary
                .test_recordings
                .iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        command: command.to_string(),
        metrics: BTreeMap::from([
            ("heldout_pearson_r".to_string(), r),
            ("heldout_mcd_db".to_string(), mcd),
            ("ridge_heldout_pearson_r".to_string(), ridge_r),
            ("ridge_heldout_mcd_db".to_string(), ridge_mcd),
            ("ridge_lambda".to_string(), lambda),
            ("train_frames".to_string(), train.n as f64),
            ("heldout_frames".to_string(), test_ds.n as f64),
        ]),
        parent: None,
        sha256: String::new(),
        parameters: summary.parameters,
    };
    finish_bundle(out_dir, &mut manifest, &model_path)?;
    Ok(summary)
}

/// Exports `layers` as the bundle's ONNX decoder into `out_dir` (created if
/// needed) and returns the parameter count.
pub fn write_model(
    out_dir: &Path,
    manifest: &Manifest,
    layers: &[DenseLayer],
    metadata: &[(String, String)],
) -> Result<usize, String> {
    std::fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let model = dense_stack_model(
        layers,
        &GraphSpec {
            input_name: &manifest.decoder.input_name,
            output_name: &manifest.decoder.output_name,
            producer: "neurospeak",
            doc: "EEG high-gamma features to log-mel frames",
            metadata,
        },
    );
    save_model(&model, &out_dir.join(&manifest.decoder.file)).map_err(|e| e.to_string())?;
    Ok(parameter_count(&model))
}

/// Records the model's hash in the manifest and writes the manifest.
pub fn finish_bundle(
    out_dir: &Path,
    manifest: &mut Manifest,
    model_path: &Path,
) -> Result<(), String> {
    manifest.provenance.sha256 =
        sha256_file(model_path).map_err(|e| format!("{}: {e}", model_path.display()))?;
    write_manifest(out_dir, manifest).map_err(|e| format!("{}: {e}", out_dir.display()))
}
