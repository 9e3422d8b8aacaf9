//! `neurospeak benchmark`: is a model fit for a live session? Time per frame
//! (decoder alone and the whole pipeline), memory, throughput with 1..N
//! workers, and accuracy against the original model and against the truth,
//! every figure for candidate and reference measured side by side in one run.

pub mod measure;
pub mod plots;
pub mod scaling;
pub mod wer;

use crate::bundle::Bundle;
use crate::decoder::DecoderOptions;
use crate::metrics::mean_bin_pearson;
use crate::pipeline::accuracy::{Decoded, Truth, paired_speech, true_log_mel};
use crate::pipeline::replay::check_compatible;
use crate::recording::Recording;
use crate::report::{FaultReport, MemoryReport, ModelReport, RunReport, SCHEMA, peak_rss_mb};
use measure::Subject;
use scaling::ScalingPoint;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What to benchmark and how.
pub struct BenchmarkPlan {
    pub candidate: Bundle,
    pub reference: Option<Bundle>,
    pub recordings: Vec<Recording>,
    pub max_workers: usize,
    pub pin: bool,
    pub data_dir: PathBuf,
}

/// One model's figures.
#[derive(Clone, Debug, Serialize)]
pub struct ModelBenchmark {
    #[serde(flatten)]
    pub run: RunReport,
    /// Resident memory the ONNX Runtime session and engine added at load, MiB.
    pub session_rss_mb: f64,
    pub frames_per_second: f64,
    pub scaling: Vec<ScalingPoint>,
}

/// Candidate against reference.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// Reference decoder p50 ÷ candidate decoder p50.
    pub decoder_speedup_p50: f64,
    /// Reference whole-frame p50 ÷ candidate whole-frame p50.
    pub pipeline_speedup_p50: f64,
    /// Candidate model bytes ÷ reference model bytes.
    pub size_ratio: f64,
    /// Pearson r of the candidate's decoder outputs against the reference's.
    pub output_pearson_r: f64,
    /// Largest absolute difference between their outputs.
    pub output_max_abs_error: f64,
    /// Candidate − reference, decoded vs truth; absent without paired speech.
    pub pearson_r_delta: Option<f64>,
}

/// The whole benchmark report (`--json`).
#[derive(Clone, Debug, Serialize)]
pub struct BenchmarkReport {
    pub schema: &'static str,
    pub data_dir: String,
    pub recordings: usize,
    pub signal_seconds: f64,
    pub candidate: ModelBenchmark,
    pub reference: Option<ModelBenchmark>,
    pub comparison: Option<Comparison>,
    pub wer: wer::WerReport,
    pub plots: Vec<String>,
}

/// Errors before anything is measured.
#[derive(Debug, thiserror::Error)]
pub enum BenchmarkError {
    #[error(
        "the reference {reference} maps {ref_in} inputs to {ref_out} outputs but the candidate {candidate} maps \
         {cand_in} to {cand_out}; a reference must decode the same features into the same outputs \
         (pass the model the candidate was optimized from)"
    )]
    ReferenceMismatch {
        reference: PathBuf,
        candidate: PathBuf,
        ref_in: usize,
        ref_out: usize,
        cand_in: usize,
        cand_out: usize,
    },
    #[error(transparent)]
    Replay(#[from] crate::pipeline::ReplayError),
    #[error(transparent)]
    Engine(#[from] crate::pipeline::EngineError),
    #[error(transparent)]
    Decoder(#[from] crate::decoder::DecoderError),
    #[error("{0}")]
    Other(String),
}

impl BenchmarkPlan {
    /// Checks that every recording fits every model and the models fit each other.
    pub fn check(&self) -> Result<(), BenchmarkError> {
        if let Some(r) = &self.reference {
            check_reference(&self.candidate, r)?;
        }
        for rec in &self.recordings {
            check_compatible(&self.candidate, rec)?;
            if let Some(r) = &self.reference {
                check_compatible(r, rec)?;
            }
        }
        Ok(())
    }
}

/// Checks that `reference` decodes the same features into the same outputs
/// as `candidate`.
pub fn check_reference(candidate: &Bundle, reference: &Bundle) -> Result<(), BenchmarkError> {
    let (c, r) = (&candidate.manifest, &reference.manifest);
    if c.decoder.input_dim != r.decoder.input_dim || c.decoder.output_dim != r.decoder.output_dim {
        return Err(BenchmarkError::ReferenceMismatch {
            reference: reference.dir.clone(),
            candidate: candidate.dir.clone(),
            ref_in: r.decoder.input_dim,
            ref_out: r.decoder.output_dim,
            cand_in: c.decoder.input_dim,
            cand_out: c.decoder.output_dim,
        });
    }
    Ok(())
}

fn model_report(
    subject: &Subject,
    truth: &Truth,
    recordings: &[Recording],
    busy_s: f64,
    signal_s: f64,
) -> RunReport {
    let m = &subject.bundle.manifest;
    let accuracy = (!truth.is_empty()).then(|| {
        let decoded: Vec<Decoded> = subject
            .decoded
            .iter()
            .zip(&subject.audio)
            .map(|(log_mel, audio)| Decoded { log_mel, audio })
            .collect();
        truth.score(&decoded, subject.engine.vocoder_latency_samples())
    });
    RunReport {
        schema: SCHEMA,
        command: "benchmark".into(),
        model: ModelReport {
            name: m.name.clone(),
            path: subject.bundle.dir.display().to_string(),
            sha256: subject.bundle.sha256().to_string(),
            graph_cache: None,
            state: subject.engine.state_report(),
        },
        input: format!("{} recordings", recordings.len()),
        frames: subject.frames,
        audio_seconds: subject.frames as f64 * m.vocoder.hop_length as f64
            / m.vocoder.sample_rate_hz as f64,
        wall_seconds: busy_s,
        realtime_factor: signal_s / busy_s.max(1e-9),
        latency_ms: subject
            .engine
            .latency()
            .report(subject.engine.fixed_delays()),
        accuracy,
        faults: FaultReport {
            nonfinite_samples: subject.engine.nonfinite_samples(),
            ..FaultReport::default()
        },
        memory: MemoryReport {
            peak_rss_mb: peak_rss_mb(),
            model_bytes: subject.bundle.model_bytes,
        },
        outputs: BTreeMap::new(),
        realtime_request: None,
        playout: None,
    }
}

/// Which stretch of a recording to draw: the 4 s with the most speech energy.
fn loudest_stretch(truth: &[f32], n_mels: usize, frames: usize) -> usize {
    let n = truth.len() / n_mels;
    if n <= frames {
        return 0;
    }
    let energy: Vec<f32> = truth.chunks_exact(n_mels).map(|f| f.iter().sum()).collect();
    let mut best = (f32::MIN, 0);
    let mut sum: f32 = energy[..frames].iter().sum();
    for start in 0..=n - frames {
        if start > 0 {
            sum += energy[start + frames - 1] - energy[start - 1];
        }
        if sum > best.0 {
            best = (sum, start);
        }
    }
    best.1
}

/// Runs the benchmark. `progress` gets (stage, units done, units total).
pub fn run(
    plan: BenchmarkPlan,
    plots_dir: Option<&Path>,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<BenchmarkReport, BenchmarkError> {
    plan.check()?;
    // The cores this process may use, read before this thread pins itself
    // (afterwards it would see only its own core).
    let cores = if plan.pin {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };
    if let Some(&core) = cores.first() {
        core_affinity::set_for_current(core);
    }
    let options = DecoderOptions::default();
    let mut subjects = vec![Subject::new(plan.candidate.clone(), &options)?];
    if let Some(r) = &plan.reference {
        subjects.push(Subject::new(r.clone(), &options)?);
    }
    let total: u64 = plan.recordings.iter().map(|r| r.eeg.len() as u64).sum();
    let mut done = 0u64;
    measure::side_by_side(&mut subjects, &plan.recordings, &mut |n| {
        done += n;
        progress("side by side", done.min(total), total);
    })?;
    let signal_s: f64 = plan.recordings.iter().map(|r| r.eeg.duration_s()).sum();
    // The truth and the loudness baseline (vocoded like the candidate's output)
    // are made once and shared by both models.
    let vocoder_cfg = plan.candidate.vocoder_config();
    let speech = plan
        .recordings
        .iter()
        .map(|r| paired_speech(r, &vocoder_cfg.mel))
        .collect();
    let truth = Truth::new(
        speech,
        &vocoder_cfg,
        "log-mel and audio of the speech paired with each recording",
    )
    .map_err(crate::pipeline::EngineError::from)?;

    let mut benches = Vec::new();
    for (i, s) in subjects.iter().enumerate() {
        progress("scaling", i as u64, subjects.len() as u64);
        let points = scaling::scaling(&s.bundle, &plan.recordings, plan.max_workers, &cores)
            .map_err(BenchmarkError::Other)?;
        let busy = s.busy.as_secs_f64();
        benches.push(ModelBenchmark {
            run: model_report(s, &truth, &plan.recordings, busy, signal_s),
            session_rss_mb: s.session_rss_mb,
            frames_per_second: s.frames as f64 / busy.max(1e-9),
            scaling: points,
        });
    }
    progress("scaling", subjects.len() as u64, subjects.len() as u64);

    let comparison = (subjects.len() == 2).then(|| {
        let (c, r) = (&benches[0].run, &benches[1].run);
        let p50 = |s: &Option<crate::report::LatencyStats>| s.map_or(f64::NAN, |s| s.p50);
        let cand: Vec<f32> = subjects[0].decoded.concat();
        let refr: Vec<f32> = subjects[1].decoded.concat();
        let n_mels = subjects[0].bundle.manifest.vocoder.n_mels;
        let max_err = cand
            .iter()
            .zip(&refr)
            .map(|(a, b)| (a - b).abs() as f64)
            .fold(0.0, f64::max);
        Comparison {
            decoder_speedup_p50: p50(&r.latency_ms.decoder) / p50(&c.latency_ms.decoder),
            pipeline_speedup_p50: p50(&r.latency_ms.compute) / p50(&c.latency_ms.compute),
            size_ratio: c.memory.model_bytes as f64 / r.memory.model_bytes.max(1) as f64,
            output_pearson_r: mean_bin_pearson(&refr, &cand, n_mels),
            output_max_abs_error: max_err,
            pearson_r_delta: match (&c.accuracy, &r.accuracy) {
                (Some(a), Some(b)) => Some(a.decoded.pearson_r - b.decoded.pearson_r),
                _ => None,
            },
        }
    });

    let mut plots = Vec::new();
    if let Some(dir) = plots_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| BenchmarkError::Other(format!("{}: {e}", dir.display())))?;
        let labels = ["candidate", "reference"];
        let hists: Vec<(&str, &crate::pipeline::latency::StageHistograms)> = subjects
            .iter()
            .enumerate()
            .map(|(i, s)| (labels[i], s.engine.latency()))
            .collect();
        let mut svgs = plots::latency(dir, &hists).map_err(BenchmarkError::Other)?;
        let scaling_path = dir.join("scaling.svg");
        let pts: Vec<(&str, &[ScalingPoint])> = benches
            .iter()
            .enumerate()
            .map(|(i, b)| (labels[i], b.scaling.as_slice()))
            .collect();
        plots::scaling(&scaling_path, &pts).map_err(BenchmarkError::Other)?;
        svgs.push(scaling_path);
        let m = &subjects[0].bundle.manifest;
        let n_mels = m.vocoder.n_mels;
        let mel = subjects[0].bundle.vocoder_config().mel;
        for (k, rec) in plan.recordings.iter().enumerate() {
            let Some(truth) = true_log_mel(rec, &mel) else {
                continue;
            };
            // Four seconds of the loudest stretch.
            let frames_per_s = 1000.0 / m.features.hop_ms;
            let frames = (4.0 * frames_per_s).round() as usize;
            let start = loudest_stretch(&truth, n_mels, frames);
            let cut = |v: &[f32]| -> Vec<f32> {
                let end = ((start + frames) * n_mels).min(v.len());
                v[(start * n_mels).min(end)..end].to_vec()
            };
            let mut panels = vec![("truth (paired speech)".to_string(), cut(&truth))];
            if subjects.len() == 2 {
                panels.push(("reference".into(), cut(&subjects[1].decoded[k])));
            }
            panels.push(("candidate".into(), cut(&subjects[0].decoded[k])));
            let name = rec
                .path
                .file_stem()
                .map_or("recording".into(), |s| s.to_string_lossy().into_owned());
            let path = dir.join(format!("spectrogram_{name}.svg"));
            let refs: Vec<(&str, &[f32])> = panels
                .iter()
                .map(|(l, v)| (l.as_str(), v.as_slice()))
                .collect();
            let title = format!(
                "{name}: log-mel, {:.1}–{:.1} s",
                start as f64 / frames_per_s,
                (start + frames) as f64 / frames_per_s
            );
            plots::spectrograms(
                &path,
                &title,
                &refs,
                n_mels,
                frames_per_s,
                (m.decoder.output_range[0].max(-12.0), 8.0),
            )
            .map_err(BenchmarkError::Other)?;
            svgs.push(path);
        }
        for svg in svgs {
            let png = plots::to_png(&svg).map_err(BenchmarkError::Other)?;
            plots.push(svg.display().to_string());
            plots.push(png.display().to_string());
        }
    }

    progress("word error rate", 0, 1);
    let audio: Vec<&[Vec<f32>]> = subjects.iter().map(|s| s.audio.as_slice()).collect();
    let latency: Vec<usize> = subjects
        .iter()
        .map(|s| s.engine.vocoder_latency_samples())
        .collect();
    let baseline = (!truth.is_empty()).then(|| (truth.baseline_audio(), truth.baseline_delay()));
    let copy = (!truth.is_empty()).then(|| (truth.copy_synthesis_audio(), truth.baseline_delay()));
    let wer = wer::evaluate(&plan.recordings, &audio, &latency, baseline, copy);
    let mut it = benches.into_iter();
    Ok(BenchmarkReport {
        schema: "neurospeak.benchmark/1",
        data_dir: plan.data_dir.display().to_string(),
        recordings: plan.recordings.len(),
        signal_seconds: signal_s,
        candidate: it.next().expect("the candidate is always measured"),
        reference: it.next(),
        comparison,
        wer,
        plots,
    })
}
