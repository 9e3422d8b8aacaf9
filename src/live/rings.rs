//! The lock-free rings and shared counters that join the threads of a live
//! session.
//!
//! Samples travel from the reader to the worker in two SPSC rings: the
//! channel values, then one [`SampleMeta`] per sample (pushed after its
//! values, so the worker never sees a meta without its data). Audio travels
//! from the worker to the sink (and to the WAV writer) in `f32` rings, with
//! one [`FrameStamp`] per frame so the sink can time its playback. Every ring
//! is bounded and sized before start; counters are atomics.

use ringbuf::traits::{Consumer, Observer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What travels with each EEG sample.
#[derive(Clone, Copy, Debug)]
pub struct SampleMeta {
    /// When the reader took the sample from the inlet.
    pub arrival: Instant,
    /// Arrival − the sample's LSL timestamp on the local clock, in seconds.
    pub transport_s: f32,
    /// Samples the stream lost just before this one (a gap), saturating.
    pub missing_before: u32,
    /// Whether this is the first sample after the stream was lost and found again.
    pub reconnected: bool,
    /// Whether `transport_s` used liblsl's measured clock offset; before the
    /// first measurement it takes the sender's clock as ours (offset 0).
    pub corrected: bool,
}

/// Where one frame's audio starts in the audio stream, and when its newest
/// EEG sample arrived.
#[derive(Clone, Copy, Debug)]
pub struct FrameStamp {
    /// Index of the frame's first audio sample among all audio pushed.
    pub audio_index: u64,
    /// Arrival of the frame's newest EEG sample.
    pub arrival: Instant,
    /// When the frame's audio was ready (the vocoder's stamp).
    pub ready: Instant,
    /// Arrival − the newest EEG sample's LSL timestamp on the local clock;
    /// `None` until the stream's clock offset is known.
    pub transport: Option<Duration>,
}

/// Producer and consumer halves of one ring.
pub type Ring<T> = (HeapProd<T>, HeapCons<T>);

/// Makes a bounded SPSC ring holding `capacity` items.
pub fn ring<T>(capacity: usize) -> Ring<T> {
    HeapRb::<T>::new(capacity.max(1)).split()
}

/// Drops the oldest `n` samples (values and metas) from the worker's side of
/// the sample rings; returns how many were dropped.
pub fn drop_oldest(
    meta: &mut HeapCons<SampleMeta>,
    data: &mut HeapCons<f32>,
    channels: usize,
    n: usize,
) -> usize {
    let n = n.min(meta.occupied_len());
    let dropped = meta.skip(n);
    data.skip(dropped * channels);
    dropped
}

/// Counters shared by the threads of a session; each has one writer.
#[derive(Debug, Default)]
pub struct Counters {
    /// Samples the reader took from the inlet.
    pub samples_in: AtomicU64,
    /// Timestamp gaps (more than 1.5 sample periods between samples).
    pub gaps: AtomicU64,
    /// Samples missing inside those gaps.
    pub missing_samples: AtomicU64,
    /// Samples whose timestamp did not advance (dropped as duplicates).
    pub duplicates: AtomicU64,
    /// Samples whose timestamp was unusable (non-finite, far from the local
    /// clock, or backwards beyond jitter) and was replaced from the nominal
    /// rate; the samples themselves are kept.
    pub bad_timestamps: AtomicU64,
    /// Input samples dropped because the worker fell behind.
    pub dropped_samples: AtomicU64,
    /// Frames lost: input dropped (in frames) or audio that found the ring full.
    pub dropped_frames: AtomicU64,
    /// Whole frames left out of the WAV file because its writer fell behind.
    pub wav_dropped_frames: AtomicU64,
    /// Frame records left out of the CSV because its writer fell behind.
    pub csv_dropped_frames: AtomicU64,
    /// Frames the LSL audio outlet's thread fell too far behind to take.
    pub lsl_audio_dropped_frames: AtomicU64,
    /// Times the sink ran dry: found too little audio for a block (blocks
    /// that run dry one after another count once).
    pub underruns: AtomicU64,
    /// Frames whose start was cut because they came after their block was
    /// due (the player keeps its schedule; see `sinks::player`).
    pub late_frames: AtomicU64,
    /// Times the player moved its schedule (trimmed or padded a few
    /// samples, at a quiet point) to hold its margin.
    pub latency_adjustments: AtomicU64,
    /// Times the source came back after it was lost.
    pub reconnects: AtomicU64,
    /// Frames decoded.
    pub frames: AtomicU64,
    /// Non-finite samples replaced by the front-end.
    pub nonfinite: AtomicU64,
    /// Recent compute latency p50 and p99 in nanoseconds, for the status line.
    pub compute_p50_ns: AtomicU64,
    pub compute_p99_ns: AtomicU64,
    /// True while the reader has a live inlet.
    pub connected: AtomicBool,
}

impl Counters {
    /// Reads a counter.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    /// Adds to a counter.
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringbuf::traits::Producer;

    #[test]
    fn dropping_the_oldest_keeps_values_and_metas_in_step() {
        let (mut mp, mut mc) = ring::<SampleMeta>(8);
        let (mut dp, mut dc) = ring::<f32>(16);
        let now = Instant::now();
        for i in 0..4 {
            dp.push_slice(&[i as f32, -(i as f32)]);
            mp.try_push(SampleMeta {
                arrival: now,
                transport_s: i as f32,
                missing_before: 0,
                reconnected: false,
                corrected: true,
            })
            .unwrap();
        }
        assert_eq!(drop_oldest(&mut mc, &mut dc, 2, 3), 3);
        let m = mc.try_pop().unwrap();
        assert_eq!(m.transport_s, 3.0);
        let mut v = [0.0; 2];
        assert_eq!(dc.pop_slice(&mut v), 2);
        assert_eq!(v, [3.0, -3.0]);
    }
}
