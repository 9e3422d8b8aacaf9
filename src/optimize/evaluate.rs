//! Data for calibration and the accuracy check, the comparison of the float and
//! quantized models, and the side-by-side timing.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::OptimizeError;
use crate::bundle::Bundle;
use crate::decoder::{Decoder, DecoderOptions, GraphOptimization, StateSpec};
use crate::features::FeatureExtractor;
use crate::metrics::{mean_bin_pearson, mel_cepstral_distortion_db, speech_frames};
use crate::pipeline::accuracy::{
    MCD_COEFFICIENTS, loudness_baseline, spectral_figures, true_log_mel,
};
use crate::report::Figures;

/// Decoder inputs of some recordings and, where the recordings carry speech, the true log-mel.
#[derive(Clone, Debug, Default)]
pub struct FrameSet {
    /// Frame-major inputs, `frames * input_dim` values.
    pub inputs: Vec<f32>,
    /// The true log-mel frames aligned with `inputs`, when every recording has
    /// paired speech.
    pub truth: Option<TrueFrames>,
    /// The number of frames.
    pub frames: usize,
    /// The first frame of each recording (a stateful decoder starts afresh there).
    pub starts: Vec<usize>,
}

/// The true log-mel of a set of recordings with what the figures against it need,
/// each made per recording.
#[derive(Clone, Debug, Default)]
pub struct TrueFrames {
    /// `frames * n_mels` values.
    pub log_mel: Vec<f32>,
    /// Which frames hold speech (`metrics::speech_frames`).
    pub speech: Vec<bool>,
    /// The loudness-only baseline (`pipeline::accuracy::loudness_baseline`).
    pub baseline: Vec<f32>,
}

/// The inputs of one recording and its true log-mel, if it has paired speech.
type Features = (Vec<f32>, Option<Vec<f32>>);

/// Pushes recordings through the bundle's own front-end.
///
/// Every recording must match the bundle's channel count and sample rate; a mismatch is
/// [`OptimizeError::ChannelMismatch`] naming both. Recordings are processed on up to
/// `workers` threads.
pub fn bundle_frames(
    bundle: &Bundle,
    files: &[PathBuf],
    workers: usize,
) -> Result<FrameSet, OptimizeError> {
    let plan = bundle.front_end_plan();
    let mel = bundle.vocoder_config().mel;
    let one = |file: &PathBuf| -> Result<Features, OptimizeError> {
        let rec = crate::recording::load(file)?;
        let expected = bundle.manifest.input.channels;
        let expected_rate = bundle.manifest.input.sample_rate_hz;
        if rec.eeg.channel_count != expected || (rec.eeg.sample_rate - expected_rate).abs() > 1e-6 {
            return Err(OptimizeError::ChannelMismatch {
                recording: file.clone(),
                found: rec.eeg.channel_count,
                found_rate: rec.eeg.sample_rate,
                bundle: bundle.dir.clone(),
                expected,
                expected_rate,
            });
        }
        let x = FeatureExtractor::run_batch(&plan, &rec.eeg.samples);
        let truth = true_log_mel(&rec, &mel);
        Ok((x, truth))
    };
    let mut parts: Vec<Option<Result<Features, OptimizeError>>> =
        (0..files.len()).map(|_| None).collect();
    let workers = workers.clamp(1, files.len().max(1));
    std::thread::scope(|s| {
        for (w, slots) in parts
            .chunks_mut(files.len().div_ceil(workers).max(1))
            .enumerate()
        {
            let one = &one;
            let base = w * files.len().div_ceil(workers).max(1);
            s.spawn(move || {
                for (k, slot) in slots.iter_mut().enumerate() {
                    *slot = Some(one(&files[base + k]));
                }
            });
        }
    });
    let dim = plan.feature_dim();
    let n_mels = mel.n_mels;
    let mut set = FrameSet {
        truth: Some(TrueFrames::default()),
        ..Default::default()
    };
    for part in parts {
        let (x, truth) = part.expect("every slot is filled")?;
        let mut frames = x.len() / dim;
        match (&truth, &mut set.truth) {
            (Some(t), Some(all)) => {
                frames = frames.min(t.len() / n_mels);
                let t = &t[..frames * n_mels];
                let speech = speech_frames(t, n_mels, mel.log_floor);
                all.baseline
                    .extend(loudness_baseline(t, n_mels, &speech, mel.log_floor));
                all.log_mel.extend_from_slice(t);
                all.speech.extend(speech);
            }
            _ => set.truth = None,
        }
        set.starts.push(set.frames);
        set.inputs.extend_from_slice(&x[..frames * dim]);
        set.frames += frames;
    }
    Ok(set)
}

/// Keeps at most `max` frames, taken evenly over the set.
pub fn subsample(set: &FrameSet, dim: usize, max: usize) -> (Vec<f32>, usize) {
    if set.frames <= max {
        return (set.inputs.clone(), set.frames);
    }
    let mut out = Vec::with_capacity(max * dim);
    for k in 0..max {
        let f = k * set.frames / max;
        out.extend_from_slice(&set.inputs[f * dim..(f + 1) * dim]);
    }
    (out, max)
}

/// The first `max` frames, in order (what a stateful model's calibration
/// needs: its state follows the frames one after another).
pub fn prefix(set: &FrameSet, dim: usize, max: usize) -> (Vec<f32>, usize) {
    let n = set.frames.min(max);
    (set.inputs[..n * dim].to_vec(), n)
}

/// How the quantized model compares with the float one on held-out data.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AccuracyComparison {
    /// Frames compared.
    pub frames: usize,
    /// Pearson r (per output bin over time, averaged) of quantized against float outputs.
    pub output_pearson_r: f64,
    /// The largest absolute difference between quantized and float outputs.
    pub max_abs_error: f64,
    /// Decoded-versus-truth Pearson r of the float model; `None` without paired speech.
    pub fp32_pearson_r: Option<f64>,
    /// Decoded-versus-truth Pearson r of the quantized model.
    pub int8_pearson_r: Option<f64>,
    /// `fp32_pearson_r - int8_pearson_r`.
    pub delta_pearson_r: Option<f64>,
    /// Mel-cepstral distortion against the truth, float model, in dB.
    pub fp32_mcd_db: Option<f64>,
    /// Mel-cepstral distortion against the truth, quantized model, in dB.
    pub int8_mcd_db: Option<f64>,
    /// Mel-cepstral distortion between quantized and float outputs, in dB (log-mel outputs only).
    pub int8_vs_fp32_mcd_db: Option<f64>,
    /// Every frame figure of the float model against the truth (log-mel outputs
    /// only; STOI needs audio and is `None`: optimize does not vocode).
    pub fp32_vs_truth: Option<Figures>,
    /// The same for the quantized model.
    pub int8_vs_truth: Option<Figures>,
    /// The same for the loudness-only baseline of the held-out recordings.
    pub loudness_baseline: Option<Figures>,
}

/// Runs a model over all frames (in batches) on one thread. A stateful model
/// (`state` not empty) runs frame by frame in order, its state reset at each
/// of `starts` (the first frame of each recording).
pub fn decode_all(
    model: &Path,
    state: &[StateSpec],
    inputs: &[f32],
    frames: usize,
    starts: &[usize],
) -> Result<Vec<f32>, OptimizeError> {
    let mut dec = Decoder::load_with_state(model, &DecoderOptions::default(), state)?;
    let (d, m) = (dec.input_dim(), dec.output_dim());
    let mut out = vec![0f32; frames * m];
    if dec.is_stateful() {
        for k in 0..frames {
            if starts.contains(&k) {
                dec.reset_state();
            }
            dec.run(&inputs[k * d..(k + 1) * d], &mut out[k * m..(k + 1) * m])?;
        }
        return Ok(out);
    }
    const BATCH: usize = 256;
    for start in (0..frames).step_by(BATCH) {
        let end = (start + BATCH).min(frames);
        dec.run_batch(
            &inputs[start * d..end * d],
            end - start,
            &mut out[start * m..end * m],
        )?;
    }
    Ok(out)
}

/// Runs a model over all frames split across `workers` threads (one session each).
/// A stateful model runs on one thread, in order.
pub fn decode_parallel(
    model: &Path,
    state: &[StateSpec],
    set: &FrameSet,
    input_dim: usize,
    workers: usize,
) -> Result<Vec<f32>, OptimizeError> {
    let (inputs, frames) = (&set.inputs[..], set.frames);
    let workers = workers.clamp(1, frames.max(1));
    if workers == 1 || !state.is_empty() {
        return decode_all(model, state, inputs, frames, &set.starts);
    }
    let per = frames.div_ceil(workers);
    let parts: Vec<Result<Vec<f32>, OptimizeError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let (a, b) = ((w * per).min(frames), ((w + 1) * per).min(frames));
                s.spawn(move || {
                    decode_all(
                        model,
                        &[],
                        &inputs[a * input_dim..b * input_dim],
                        b - a,
                        &[],
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("decoder thread panicked"))
            .collect()
    });
    let mut out = Vec::new();
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

/// Compares float and quantized outputs, and both against the truth when there is one.
///
/// Outputs are clamped into `output_range` first, as the runtime does.
pub fn compare(
    fp32: &[f32],
    int8: &[f32],
    truth: Option<&TrueFrames>,
    output_dim: usize,
    output_range: Option<[f32; 2]>,
    log_mel: bool,
) -> AccuracyComparison {
    let clamp = |v: &[f32]| -> Vec<f32> {
        match output_range {
            Some([lo, hi]) => v.iter().map(|x| x.clamp(lo, hi)).collect(),
            None => v.to_vec(),
        }
    };
    let (a, b) = (clamp(fp32), clamp(int8));
    let frames = a.len().min(b.len()) / output_dim.max(1);
    let max_abs_error = fp32
        .iter()
        .zip(int8)
        .map(|(x, y)| (x - y).abs() as f64)
        .fold(0.0, f64::max);
    let mut c = AccuracyComparison {
        frames,
        output_pearson_r: mean_bin_pearson(&a, &b, output_dim),
        max_abs_error,
        ..Default::default()
    };
    if log_mel {
        c.int8_vs_fp32_mcd_db = Some(mel_cepstral_distortion_db(
            &a,
            &b,
            output_dim,
            MCD_COEFFICIENTS,
        ));
    }
    if let Some(frames) = truth {
        let t = frames.log_mel.as_slice();
        if log_mel {
            let figures = |est: &[f32]| spectral_figures(t, est, output_dim, &frames.speech);
            c.fp32_vs_truth = Some(figures(&a));
            c.int8_vs_truth = Some(figures(&b));
            c.loudness_baseline = Some(figures(&frames.baseline));
        }
        let rf = mean_bin_pearson(t, &a, output_dim);
        let rq = mean_bin_pearson(t, &b, output_dim);
        c.fp32_pearson_r = Some(rf);
        c.int8_pearson_r = Some(rq);
        c.delta_pearson_r = Some(rf - rq);
        c.fp32_mcd_db = Some(mel_cepstral_distortion_db(
            t,
            &a,
            output_dim,
            MCD_COEFFICIENTS,
        ));
        c.int8_mcd_db = Some(mel_cepstral_distortion_db(
            t,
            &b,
            output_dim,
            MCD_COEFFICIENTS,
        ));
    }
    c
}

/// Decoder time per frame of both models, measured side by side.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TimingComparison {
    /// Single-frame runs per model (after warm-up).
    pub runs: usize,
    /// ONNX Runtime intra-op threads per session.
    pub threads: usize,
    /// Median time per frame of the float model, in ms.
    pub fp32_ms_per_frame_median: f64,
    /// Median time per frame of the quantized model, in ms.
    pub int8_ms_per_frame_median: f64,
    /// 99th percentile of the float model, in ms.
    pub fp32_ms_per_frame_p99: f64,
    /// 99th percentile of the quantized model, in ms.
    pub int8_ms_per_frame_p99: f64,
    /// How much less time the quantized model takes, in percent of the float time.
    pub reduction_percent: f64,
    /// How the figures were taken.
    pub method: String,
}

/// Times single-frame runs of both models alternately (one thread each, full graph
/// optimisation as in the runtime) and returns the medians.
pub fn time_side_by_side(
    fp32: &Path,
    int8: &Path,
    state: &[StateSpec],
    inputs: &[f32],
    frames: usize,
    runs: usize,
) -> Result<TimingComparison, OptimizeError> {
    let opts = DecoderOptions {
        intra_threads: 1,
        optimization: GraphOptimization::All,
        ..Default::default()
    };
    let mut a = Decoder::load_with_state(fp32, &opts, state)?;
    let mut b = Decoder::load_with_state(int8, &opts, state)?;
    let d = a.input_dim();
    let mut ya = vec![0f32; a.output_dim()];
    let mut yb = vec![0f32; b.output_dim()];
    let frame = |k: usize| {
        let f = if frames == 0 { 0 } else { k % frames };
        &inputs[f * d..(f + 1) * d]
    };
    for k in 0..100.min(runs) {
        a.run(frame(k), &mut ya)?;
        b.run(frame(k), &mut yb)?;
    }
    let (mut ta, mut tb) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for k in 0..runs {
        let x = frame(k);
        // Alternate which model goes first so neither always runs on a warm cache.
        let order_a_first = k % 2 == 0;
        for first in [order_a_first, !order_a_first] {
            let t0 = Instant::now();
            if first {
                a.run(x, &mut ya)?;
                ta.push(t0.elapsed().as_secs_f64() * 1e3);
            } else {
                b.run(x, &mut yb)?;
                tb.push(t0.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    let q = |v: &mut Vec<f64>, p: f64| -> f64 {
        if v.is_empty() {
            return 0.0;
        }
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * p).round() as usize]
    };
    let (ma, mb) = (q(&mut ta, 0.5), q(&mut tb, 0.5));
    Ok(TimingComparison {
        runs,
        threads: 1,
        fp32_ms_per_frame_median: ma,
        int8_ms_per_frame_median: mb,
        fp32_ms_per_frame_p99: q(&mut ta, 0.99),
        int8_ms_per_frame_p99: q(&mut tb, 0.99),
        reduction_percent: if ma > 0.0 {
            100.0 * (ma - mb) / ma
        } else {
            0.0
        },
        method: "single-frame Decoder::run calls, both models loaded in one process with one \
                 intra-op thread and full graph optimisation, alternating call by call after 100 \
                 warm-up calls each; median and p99 of the wall time per call"
            .into(),
    })
}
