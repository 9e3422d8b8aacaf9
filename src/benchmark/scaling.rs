//! Throughput with 1..N workers: the recordings are cut into independent
//! segments that pinned worker threads, each with its own engine, take from a
//! shared counter. Real-time factor = seconds of signal ÷ wall time.

use crate::bundle::Bundle;
use crate::decoder::DecoderOptions;
use crate::pipeline::Engine;
use crate::recording::Recording;
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Instant;

/// Length of one independent segment, in seconds of signal.
const SEGMENT_S: f64 = 10.0;

/// Throughput with a given number of workers.
#[derive(Clone, Debug, Serialize)]
pub struct ScalingPoint {
    pub workers: usize,
    pub frames: u64,
    pub wall_seconds: f64,
    pub frames_per_second: f64,
    pub realtime_factor: f64,
    /// The core each worker was pinned to, in worker order (empty unpinned).
    pub cores: Vec<usize>,
}

/// Measures throughput for every worker count from 1 to `max_workers`,
/// worker `w` pinned to `cores[w % cores.len()]` (none when `cores` is
/// empty). Take `cores` from the process before any thread pins itself: a
/// pinned thread sees only its own core.
pub fn scaling(
    bundle: &Bundle,
    recordings: &[Recording],
    max_workers: usize,
    cores: &[core_affinity::CoreId],
) -> Result<Vec<ScalingPoint>, String> {
    let mut segments: Vec<(usize, usize, usize)> = Vec::new();
    for (r, rec) in recordings.iter().enumerate() {
        let len = ((SEGMENT_S * rec.eeg.sample_rate) as usize).max(1);
        let n = rec.eeg.len();
        segments.extend(
            (0..n)
                .step_by(len)
                .map(|start| (r, start, (start + len).min(n))),
        );
    }
    let signal_s: f64 = recordings.iter().map(|r| r.eeg.duration_s()).sum();
    let options = DecoderOptions::default();
    let mut points = Vec::new();
    for workers in 1..=max_workers.max(1) {
        let pinned: Vec<Option<core_affinity::CoreId>> = (0..workers)
            .map(|w| cores.get(w % cores.len().max(1)).copied())
            .collect();
        let next = Arc::new(AtomicUsize::new(0));
        let frames = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(Barrier::new(workers + 1));
        let started = std::thread::scope(|scope| -> Result<f64, String> {
            let mut handles = Vec::new();
            for (w, &core) in pinned.iter().enumerate() {
                let (next, frames, barrier) = (next.clone(), frames.clone(), barrier.clone());
                let (segments, options) = (&segments, &options);
                handles.push(
                    std::thread::Builder::new()
                        .name(format!("bench-worker-{w}"))
                        .spawn_scoped(scope, move || -> Result<(), String> {
                            if let Some(core) = core {
                                core_affinity::set_for_current(core);
                            }
                            let built = Engine::build(bundle, options).map_err(|e| e.to_string());
                            barrier.wait();
                            let mut engine = built?;
                            loop {
                                let i = next.fetch_add(1, Ordering::Relaxed);
                                let Some(&(r, start, end)) = segments.get(i) else {
                                    return Ok(());
                                };
                                let eeg = &recordings[r].eeg;
                                let ch = eeg.channel_count;
                                engine.restart();
                                let now = Instant::now();
                                for s in eeg.samples[start * ch..end * ch].chunks_exact(ch) {
                                    if engine
                                        .push_sample(s, now)
                                        .map_err(|e| e.to_string())?
                                        .is_some()
                                    {
                                        frames.fetch_add(1, Ordering::Relaxed);
                                    }
                                }
                            }
                        })
                        .map_err(|e| format!("cannot start a benchmark worker: {e}"))?,
                );
            }
            barrier.wait();
            let t0 = Instant::now();
            for h in handles {
                h.join()
                    .map_err(|_| "a benchmark worker panicked".to_string())??;
            }
            Ok(t0.elapsed().as_secs_f64())
        })?;
        let frames = frames.load(Ordering::Relaxed) as u64;
        points.push(ScalingPoint {
            workers,
            frames,
            wall_seconds: started,
            frames_per_second: frames as f64 / started.max(1e-9),
            realtime_factor: signal_s / started.max(1e-9),
            cores: pinned.iter().flatten().map(|c| c.id).collect(),
        });
    }
    Ok(points)
}
