//! Side-by-side measurement: every model runs the same recordings through
//! its own engine, sample by sample, alternating between the models so that
//! machine noise hits all of them alike.

use crate::bundle::Bundle;
use crate::decoder::DecoderOptions;
use crate::pipeline::{Engine, EngineError};
use crate::recording::Recording;
use crate::report::current_rss_mb;
use std::time::{Duration, Instant};

/// One model under measurement.
pub struct Subject {
    pub bundle: Bundle,
    pub engine: Engine,
    /// Resident memory the engine added when it was built (session, weights, buffers), MiB.
    pub session_rss_mb: f64,
    /// Decoded log-mel per recording, frame-major.
    pub decoded: Vec<Vec<f32>>,
    /// Decoded audio per recording.
    pub audio: Vec<Vec<f32>>,
    /// Time spent inside this model's engine.
    pub busy: Duration,
    pub frames: u64,
}

impl Subject {
    /// Builds (and warms up) the engine of `bundle`, measuring the memory it adds.
    pub fn new(bundle: Bundle, options: &DecoderOptions) -> Result<Subject, EngineError> {
        let before = current_rss_mb();
        let engine = Engine::build(&bundle, options)?;
        let session_rss_mb = (current_rss_mb() - before).max(0.0);
        Ok(Subject {
            bundle,
            engine,
            session_rss_mb,
            decoded: Vec::new(),
            audio: Vec::new(),
            busy: Duration::ZERO,
            frames: 0,
        })
    }
}

/// Runs every recording through every subject, alternating per sample (and
/// which subject goes first, per sample), one sample per arrival so each
/// frame's compute latency is the cost of that frame alone.
pub fn side_by_side(
    subjects: &mut [Subject],
    recordings: &[Recording],
    progress: &mut dyn FnMut(u64),
) -> Result<(), crate::decoder::DecoderError> {
    for rec in recordings {
        let ch = rec.eeg.channel_count;
        for s in subjects.iter_mut() {
            s.engine.restart();
            let hop_s = s.bundle.manifest.features.hop_ms / 1000.0;
            let frames = (rec.eeg.duration_s() / hop_s).ceil() as usize + 1;
            let v = &s.bundle.manifest.vocoder;
            s.decoded.push(Vec::with_capacity(frames * v.n_mels));
            s.audio.push(Vec::with_capacity(frames * v.hop_length));
        }
        let count = subjects.len();
        let fixed: Vec<_> = subjects
            .iter()
            .map(|s| s.engine.fixed_delays().total())
            .collect();
        for (i, sample) in rec.eeg.samples.chunks_exact(ch).enumerate() {
            for k in 0..count {
                let s = &mut subjects[(i + k) % count];
                let t0 = Instant::now();
                let out = s.engine.push_sample(sample, t0)?;
                if let Some(frame) = out {
                    let ready = frame.stamps.vocoder;
                    s.decoded
                        .last_mut()
                        .expect("pushed above")
                        .extend_from_slice(frame.log_mel);
                    s.audio
                        .last_mut()
                        .expect("pushed above")
                        .extend_from_slice(frame.audio);
                    s.frames += 1;
                    // As `replay` without pacing: no transport and no device,
                    // so sensor to sound is the fixed delays plus compute.
                    s.engine.latency_mut().playback.record_frame(
                        t0,
                        Some(Duration::ZERO),
                        ready,
                        ready,
                        ready,
                        fixed[(i + k) % count],
                    );
                }
                s.busy += t0.elapsed();
            }
            if i % 1024 == 0 {
                progress(1024);
            }
        }
    }
    Ok(())
}
