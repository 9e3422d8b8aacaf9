//! Calibration: the float model is run on representative inputs with the tensors to be
//! quantized made graph outputs, and a range is chosen for each from the values seen.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use onnx_protobuf::ModelProto;
use protobuf::Message;

use super::graph::float_output;
use super::{CalibrationMethod, OptimizeError};
use crate::decoder::{Probe, StateSpec};

/// Frames per calibration run.
const CHUNK_FRAMES: usize = 256;
/// The most values kept per tensor for percentile and entropy calibration.
const SAMPLE_CAP: usize = 2_000_000;

/// Returns a copy of the model in which each of `tensors` is also a graph output.
///
/// Graph inputs are left out: their values are the calibration data itself.
pub fn calibration_model(model: &ModelProto, tensors: &[String]) -> ModelProto {
    let mut m = model.clone();
    if let Some(g) = m.graph.as_mut() {
        for t in tensors {
            if !g.output.iter().any(|o| &o.name == t) && !g.input.iter().any(|i| &i.name == t) {
                g.output.push(float_output(t));
            }
        }
    }
    m
}

/// What was seen of one tensor.
#[derive(Clone, Debug)]
struct Seen {
    min: f32,
    max: f32,
    samples: Vec<f32>,
}

impl Seen {
    fn new() -> Seen {
        Seen {
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            samples: Vec::new(),
        }
    }

    fn add(&mut self, values: &[f32], stride: usize, keep: bool) {
        for (i, &v) in values.iter().enumerate() {
            if !v.is_finite() {
                continue;
            }
            self.min = self.min.min(v);
            self.max = self.max.max(v);
            if keep && i % stride == 0 {
                self.samples.push(v);
            }
        }
    }

    fn merge(&mut self, other: Seen) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.samples.extend(other.samples);
    }
}

/// Settings of one calibration run.
#[derive(Clone, Copy, Debug)]
pub struct CalibrationRun<'a> {
    /// The float model (not yet rewritten).
    pub model: &'a ModelProto,
    /// Names the model in errors.
    pub label: &'a Path,
    /// Features per frame of the model's input.
    pub input_dim: usize,
    /// How ranges are chosen.
    pub method: CalibrationMethod,
    /// The upper percentile for [`CalibrationMethod::Percentile`].
    pub percentile: f64,
    /// Worker threads, each with its own session (at least 1; a stateful
    /// model runs on one, its frames in order).
    pub workers: usize,
    /// The model's recurrent state (empty: stateless), fed back as the
    /// float model runs.
    pub state: &'a [StateSpec],
}

/// Runs the float model over `inputs` (`frames` frames) and returns a range `(lo, hi)`
/// for each of `tensors`.
///
/// With more than one worker, frames are split into chunks that the workers take in
/// turn, each with its own ONNX Runtime session on one intra-op thread, pinned to a
/// core when the platform allows. `progress` is called with the number of frames done.
pub fn collect_ranges(
    run: &CalibrationRun,
    tensors: &[String],
    inputs: &[f32],
    frames: usize,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<HashMap<String, (f32, f32)>, OptimizeError> {
    if tensors.is_empty() || frames == 0 {
        return Ok(HashMap::new());
    }
    if inputs.len() != frames * run.input_dim {
        return Err(OptimizeError::Calibration {
            reason: format!(
                "{} calibration values for {frames} frames: expected {} ({} per frame)",
                inputs.len(),
                frames * run.input_dim,
                run.input_dim
            ),
        });
    }
    let cal = calibration_model(run.model, tensors);
    let bytes = cal
        .write_to_bytes()
        .map_err(|e| OptimizeError::Calibration {
            reason: format!("could not serialise the calibration model: {e}"),
        })?;
    let keep = run.method != CalibrationMethod::MinMax;
    let input_name: Option<String> = run
        .model
        .graph
        .as_ref()
        .and_then(|g| {
            g.input
                .iter()
                .find(|i| tensors.contains(&i.name) && !run.state.iter().any(|s| s.input == i.name))
        })
        .map(|i| i.name.clone());
    let input_name = &input_name;
    let chunks = frames.div_ceil(CHUNK_FRAMES);
    let workers = if run.state.is_empty() {
        run.workers.clamp(1, chunks)
    } else {
        1
    };
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let results: Mutex<Vec<HashMap<String, Seen>>> = Mutex::new(Vec::new());
    let first_error: Mutex<Option<OptimizeError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for w in 0..workers {
            let (bytes, next, done, results, first_error, cores) =
                (&bytes, &next, &done, &results, &first_error, &cores);
            s.spawn(move || {
                if workers > 1
                    && let Some(core) = cores.get(w % cores.len().max(1))
                {
                    core_affinity::set_for_current(*core);
                }
                let work = || -> Result<HashMap<String, Seen>, OptimizeError> {
                    let mut probe =
                        Probe::from_bytes_with_state(run.label, bytes, run.input_dim, run.state)?;
                    let mut seen: HashMap<String, Seen> = HashMap::new();
                    loop {
                        let c = next.fetch_add(1, Ordering::Relaxed);
                        if c >= chunks {
                            break;
                        }
                        let (a, b) = (c * CHUNK_FRAMES, ((c + 1) * CHUNK_FRAMES).min(frames));
                        let x = &inputs[a * run.input_dim..b * run.input_dim];
                        let mut outputs = probe.run(x, b - a)?;
                        if let Some(name) = &input_name {
                            outputs.push((name.clone(), x.to_vec()));
                        }
                        for (name, values) in outputs {
                            if !tensors.contains(&name) {
                                continue;
                            }
                            let total = values.len() / (b - a).max(1) * frames;
                            let stride = (total / SAMPLE_CAP).max(1);
                            seen.entry(name)
                                .or_insert_with(Seen::new)
                                .add(&values, stride, keep);
                        }
                        progress(done.fetch_add(b - a, Ordering::Relaxed) + (b - a));
                    }
                    Ok(seen)
                };
                match work() {
                    Ok(seen) => results.lock().expect("not poisoned").push(seen),
                    Err(e) => {
                        first_error.lock().expect("not poisoned").get_or_insert(e);
                        next.store(chunks, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().expect("not poisoned") {
        return Err(e);
    }
    let mut merged: HashMap<String, Seen> = HashMap::new();
    for part in results.into_inner().expect("not poisoned") {
        for (k, v) in part {
            match merged.get_mut(&k) {
                Some(m) => m.merge(v),
                None => {
                    merged.insert(k, v);
                }
            }
        }
    }
    let mut ranges = HashMap::new();
    for t in tensors {
        let seen = merged.remove(t).ok_or_else(|| OptimizeError::Calibration {
            reason: format!(
                "tensor `{t}` was not produced when running the calibration model; \
                 exclude the node that reads it in the configuration"
            ),
        })?;
        if !(seen.min.is_finite() && seen.max.is_finite()) {
            return Err(OptimizeError::Calibration {
                reason: format!(
                    "tensor `{t}` held no finite value over {frames} calibration frames; check the data"
                ),
            });
        }
        ranges.insert(t.clone(), choose_range(seen, run.method, run.percentile));
    }
    Ok(ranges)
}

/// Picks the range of one tensor by the configured method.
fn choose_range(mut seen: Seen, method: CalibrationMethod, percentile: f64) -> (f32, f32) {
    match method {
        CalibrationMethod::MinMax => (seen.min, seen.max),
        _ if seen.samples.len() < 2 => (seen.min, seen.max),
        CalibrationMethod::Percentile => {
            let n = seen.samples.len();
            let hi_k = ((percentile / 100.0) * (n - 1) as f64).round() as usize;
            let lo_k = (((100.0 - percentile) / 100.0) * (n - 1) as f64).round() as usize;
            let s = &mut seen.samples;
            let hi = *s.select_nth_unstable_by(hi_k.min(n - 1), f32::total_cmp).1;
            let lo = *s.select_nth_unstable_by(lo_k.min(n - 1), f32::total_cmp).1;
            (lo.max(seen.min), hi.min(seen.max))
        }
        CalibrationMethod::Entropy => {
            let t = entropy_threshold(&seen.samples, seen.min >= 0.0);
            (seen.min.max(-t), seen.max.min(t))
        }
    }
}

/// The clipping threshold on |x| minimising the KL divergence between the histogram of
/// the values and the same histogram quantized to 8 bits (the TensorRT method).
pub fn entropy_threshold(values: &[f32], non_negative: bool) -> f32 {
    const BINS: usize = 2048;
    let max = values.iter().fold(0f32, |m, v| m.max(v.abs()));
    if max <= 0.0 {
        return 0.0;
    }
    let width = max / BINS as f32;
    let mut hist = vec![0f64; BINS];
    for v in values {
        let b = ((v.abs() / width) as usize).min(BINS - 1);
        hist[b] += 1.0;
    }
    let levels = if non_negative { 255 } else { 127 };
    let mut best = (f64::INFINITY, BINS);
    let mut i = levels;
    while i <= BINS {
        // Reference distribution: the first i bins, outliers folded into the last.
        let mut p: Vec<f64> = hist[..i].to_vec();
        p[i - 1] += hist[i..].iter().sum::<f64>();
        // Candidate: the i bins merged into `levels` buckets and spread back.
        let mut q = vec![0f64; i];
        for j in 0..levels {
            let (a, b) = (
                j * i / levels,
                ((j + 1) * i / levels).max(j * i / levels + 1),
            );
            let b = b.min(i);
            let total: f64 = hist[a..b].iter().sum();
            let nonzero = hist[a..b].iter().filter(|&&h| h > 0.0).count();
            if nonzero > 0 {
                for k in a..b {
                    if hist[k] > 0.0 {
                        q[k] = total / nonzero as f64;
                    }
                }
            }
        }
        let (ps, qs): (f64, f64) = (p.iter().sum(), q.iter().sum());
        let mut kl = 0.0;
        if ps > 0.0 && qs > 0.0 {
            for k in 0..i {
                if p[k] > 0.0 {
                    let pk = p[k] / ps;
                    let qk = (q[k] / qs).max(1e-12);
                    kl += pk * (pk / qk).ln();
                }
            }
        }
        if kl < best.0 {
            best = (kl, i);
        }
        i += 16;
    }
    (best.1 as f32 + 0.5) * width
}
