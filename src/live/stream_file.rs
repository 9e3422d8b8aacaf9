//! `stream-file`: a recording's EEG served as a live LSL outlet, paced by the
//! clock, so the whole live path runs without an amplifier.

use crate::recording::Recording;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How to serve the recording.
#[derive(Clone, Debug)]
pub struct StreamFileOptions {
    /// The stream's name.
    pub name: String,
    /// Start again from the beginning at the end, forever.
    pub looping: bool,
    /// Wait until an inlet connects before the clock starts, so the consumer
    /// receives the recording from its first sample.
    pub wait_for_consumer: bool,
    /// Interval between chunks.
    pub chunk_interval: Duration,
    /// Pace relative to real time (1 = real time). Timestamps stay nominal
    /// (first sample + i / rate), so above 1 they run ahead of the clock:
    /// a way to overload a consumer on purpose.
    pub speed: f64,
}

/// What was served.
#[derive(Clone, Copy, Debug, Default)]
pub struct StreamFileOutcome {
    pub samples: u64,
    pub seconds: f64,
}

/// Errors of `stream-file`.
#[derive(Debug, thiserror::Error)]
pub enum StreamFileError {
    #[error("{path}: the recording holds no EEG samples; serve a recording with an EEG stream")]
    Empty { path: std::path::PathBuf },
    #[error("liblsl failed while {doing}: {error:?}; check the LSL configuration (--lsl-config)")]
    Lsl {
        doing: &'static str,
        error: lsl::Error,
    },
}

/// The source id of a stream served by `stream-file` under `name`.
pub fn source_id(name: &str) -> String {
    format!("neurospeak-stream-file:{name}")
}

/// Serves `rec` until it ends (or forever with `looping`) or `stop` is set.
/// `on_start` is called once the clock starts.
pub fn serve(
    rec: &Recording,
    options: &StreamFileOptions,
    stop: &Arc<AtomicBool>,
    on_start: &mut dyn FnMut(),
) -> Result<StreamFileOutcome, StreamFileError> {
    let eeg = &rec.eeg;
    let ch = eeg.channel_count;
    let n = eeg.len();
    if n == 0 || ch == 0 {
        return Err(StreamFileError::Empty {
            path: rec.path.clone(),
        });
    }
    let lsl_err = |doing| move |error| StreamFileError::Lsl { doing, error };
    let mut info = lsl::StreamInfo::new(
        &options.name,
        "EEG",
        ch as u32,
        eeg.sample_rate,
        lsl::ChannelFormat::Float32,
        &source_id(&options.name),
    )
    .map_err(lsl_err("describing the stream"))?;
    let mut desc = info.desc();
    let mut channels = desc.append_child("channels");
    for c in 0..ch {
        let label = eeg
            .channel_labels
            .get(c)
            .cloned()
            .unwrap_or_else(|| format!("ch{}", c + 1));
        let mut e = channels.append_child("channel");
        e.append_child_value("label", &label);
        e.append_child_value("unit", "microvolts");
        e.append_child_value("type", "EEG");
    }
    desc.append_child_value("manufacturer", "NeuroSpeak stream-file");
    let outlet = lsl::StreamOutlet::new(&info, 0, 10).map_err(lsl_err("creating the outlet"))?;
    if options.wait_for_consumer {
        while !stop.load(Ordering::Relaxed) && !outlet.wait_for_consumers(0.1) {}
    }
    use lsl::ExPushable;
    let rate = eeg.sample_rate;
    let start = Instant::now();
    let t0 = lsl::local_clock();
    on_start();
    let mut sample = vec![0.0f32; ch];
    let mut sent: u64 = 0;
    let mut tick: u32 = 0;
    let total = if options.looping { u64::MAX } else { n as u64 };
    // Chunk k holds the samples due by tick k's nominal time, not by when
    // the thread woke up for it: a wake-up a few microseconds late would
    // otherwise move a chunk's last sample into the next chunk now and then,
    // and a consumer framing the stream would see that frame a whole chunk
    // late. An amplifier's chunks are cut by its own clock, the same way.
    while sent < total && !stop.load(Ordering::Relaxed) {
        let due = due_by_tick(tick, options.chunk_interval, rate * options.speed).min(total);
        while sent < due {
            let i = (sent % n as u64) as usize;
            sample.copy_from_slice(eeg.sample(i));
            let ts = t0 + sent as f64 / rate;
            outlet
                .push_sample_ex(&sample, ts, sent + 1 == due)
                .map_err(lsl_err("pushing samples"))?;
            sent += 1;
        }
        tick += 1;
        let next = start + options.chunk_interval * tick;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    Ok(StreamFileOutcome {
        samples: sent,
        seconds: sent as f64 / rate,
    })
}

/// Samples due by tick `tick` (the sample at 0 s is due at tick 0), at
/// `rate` samples per second of ticks `interval` apart.
fn due_by_tick(tick: u32, interval: Duration, rate: f64) -> u64 {
    // The nudge guards a product that is exactly a whole sample (every 25
    // ticks of 10 ms at 1024 Hz) against rounding down to the one before.
    (tick as f64 * interval.as_secs_f64() * rate + 1e-6) as u64 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_follow_the_nominal_ticks() {
        let ten_ms = Duration::from_millis(10);
        // 1024 Hz in 10 ms ticks: 10.24 samples a tick, so chunks of 10 or
        // 11 samples and exactly 256 more every 25 ticks.
        let mut last = due_by_tick(0, ten_ms, 1024.0);
        assert_eq!(last, 1);
        for tick in 1..100_000u32 {
            let due = due_by_tick(tick, ten_ms, 1024.0);
            assert!(
                (10..=11).contains(&(due - last)),
                "tick {tick}: {}",
                due - last
            );
            if tick % 25 == 0 {
                assert_eq!(due, 256 * (tick / 25) as u64 + 1, "tick {tick}");
            }
            last = due;
        }
        // Faster than real time (--speed 2) sends twice as much a tick.
        assert_eq!(due_by_tick(100, ten_ms, 2048.0), 2049);
    }
}
