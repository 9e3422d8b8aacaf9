//! Audio sinks: where decoded audio goes. Every sink that plays audio pulls
//! blocks through a [`Player`], which never blocks: it pops what the ring
//! holds, fills the rest with silence and counts an underrun, and times the
//! playback of each frame's first sample for the end-to-end latency. The WAV
//! writer and the LSL audio outlet take every decoded frame from rings of
//! their own, on threads of their own.

#[cfg(feature = "lsl")]
pub mod lsl_outlet;
pub mod null;
pub mod wav;

#[cfg(feature = "audio")]
pub mod cpal;

use super::rings::{Counters, FrameStamp};
use crate::pipeline::latency::record;
use hdrhistogram::Histogram;
use ringbuf::HeapCons;
use ringbuf::traits::{Consumer, Observer};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sizes of a [`Player`], in samples at the audio rate.
#[derive(Clone, Copy, Debug)]
pub struct PlayerConfig {
    /// Audio waited for before playing (again).
    pub prefill: usize,
    /// Queued audio beyond which the oldest is dropped.
    pub max_queue: usize,
    /// Samples per decoded frame; drops are whole frames.
    pub hop: usize,
    /// Audio rate in Hz.
    pub rate: u32,
}

/// The consumer side of the audio path, shared by the paced sinks.
pub struct Player {
    audio: HeapCons<f32>,
    stamps: HeapCons<FrameStamp>,
    /// Audio samples popped so far.
    consumed: u64,
    /// True while waiting for `prefill` samples before playing.
    priming: bool,
    prefill: usize,
    /// Queued audio beyond which the oldest is dropped to get back to `prefill`.
    max_queue: usize,
    hop: usize,
    rate: f64,
    end_to_end: Histogram<u64>,
    counters: Arc<Counters>,
}

impl Player {
    /// A player of audio at `rate` Hz that starts (and restarts after an
    /// underrun) once `prefill` samples are waiting, and drops the oldest
    /// audio (whole hops, counted as dropped frames) when more than
    /// `max_queue` samples wait, so a burst after a stall does not become
    /// lasting latency.
    pub fn new(
        audio: HeapCons<f32>,
        stamps: HeapCons<FrameStamp>,
        config: PlayerConfig,
        end_to_end: Histogram<u64>,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            audio,
            stamps,
            consumed: 0,
            priming: true,
            prefill: config.prefill,
            max_queue: config.max_queue.max(config.prefill),
            hop: config.hop.max(1),
            rate: config.rate as f64,
            end_to_end,
            counters,
        }
    }

    /// Fills `out` with the next audio; `play_at` is when `out[0]` will be
    /// heard. Returns true when the ring ran dry inside the block (an
    /// underrun: counted, the rest is silence, and the player primes again).
    ///
    /// Priming starts the first queued frame `prefill` samples' worth of time
    /// after its arrival, to the sample: the block begins with as much
    /// silence as that takes. The latency of the whole run then follows the
    /// buffer asked for, not where the block grid happened to fall.
    pub fn fill(&mut self, out: &mut [f32], play_at: Instant) -> bool {
        let mut lead = 0;
        if self.priming {
            match self.prime(out.len(), play_at) {
                Some(silence) => lead = silence,
                None => {
                    out.fill(0.0);
                    return false;
                }
            }
            self.priming = false;
        }
        let queued = self.audio.occupied_len();
        if queued > self.max_queue {
            let excess = (queued - self.prefill) / self.hop * self.hop;
            let skipped = self.audio.skip(excess);
            self.consumed += skipped as u64;
            Counters::add(&self.counters.dropped_frames, (skipped / self.hop) as u64);
        }
        out[..lead].fill(0.0);
        let n = lead + self.audio.pop_slice(&mut out[lead..]);
        let end = self.consumed + (n - lead) as u64;
        while let Some(s) = self.stamps.try_peek().copied() {
            if s.audio_index >= end {
                break;
            }
            self.stamps.try_pop();
            if s.audio_index >= self.consumed {
                let at = lead as u64 + s.audio_index - self.consumed;
                let offset = at as f64 / self.rate;
                let heard = play_at + Duration::from_secs_f64(offset);
                record(
                    &mut self.end_to_end,
                    heard.saturating_duration_since(s.arrival),
                );
            }
        }
        self.consumed = end;
        if n < out.len() {
            out[n..].fill(0.0);
            Counters::add(&self.counters.underruns, 1);
            self.priming = true;
            return true;
        }
        false
    }

    /// While priming: the samples of silence to play before the queued
    /// audio in a block of `block` samples starting at `play_at`, or `None`
    /// to keep waiting. The newest queued frame is the anchor: it is heard
    /// one buffer after its arrival. Older frames queued before it (a burst
    /// after a stall) play first; those that no longer fit in front of it
    /// are dropped, whole and counted, so a stall does not become lasting
    /// latency.
    fn prime(&mut self, block: usize, play_at: Instant) -> Option<usize> {
        let consumed = self.consumed;
        let at_frame = self
            .stamps
            .try_peek()
            .is_some_and(|s| s.audio_index == consumed);
        let newest = self.stamps.iter().last().copied();
        let (true, Some(newest)) = (at_frame, newest) else {
            // No frame boundary at the head: plain prefill.
            return (self.audio.occupied_len() >= self.prefill.max(1)).then_some(0);
        };
        let due = newest.arrival + Duration::from_secs_f64(self.prefill as f64 / self.rate);
        let until_due = due.saturating_duration_since(play_at).as_secs_f64() * self.rate;
        let before = (newest.audio_index - consumed) as f64;
        let mut lead = until_due - before;
        if lead < 0.0 {
            let frames = (-lead / self.hop as f64).ceil() as usize;
            let skipped = self.audio.skip(frames * self.hop);
            self.consumed += skipped as u64;
            let consumed = self.consumed;
            while self
                .stamps
                .try_peek()
                .is_some_and(|s| s.audio_index < consumed)
            {
                self.stamps.try_pop();
            }
            Counters::add(&self.counters.dropped_frames, frames as u64);
            lead += skipped as f64;
        }
        let lead = lead.max(0.0) as usize;
        (lead < block && self.audio.occupied_len() >= block - lead).then_some(lead)
    }

    /// The end-to-end histogram, for the report.
    pub fn into_histogram(self) -> Histogram<u64> {
        self.end_to_end
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::rings::ring;
    use ringbuf::traits::Producer;

    fn histogram() -> Histogram<u64> {
        Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap()
    }

    #[test]
    fn a_full_underrun_gives_silence_and_counts_once() {
        let (mut ap, ac) = ring::<f32>(64);
        let (_sp, sc) = ring::<FrameStamp>(8);
        let counters = Arc::new(Counters::default());
        let mut p = Player::new(
            ac,
            sc,
            PlayerConfig {
                prefill: 4,
                max_queue: 64,
                hop: 1,
                rate: 16_000,
            },
            histogram(),
            counters.clone(),
        );
        let mut out = [1.0f32; 4];
        // Priming: nothing queued yet, silence, no underrun.
        assert!(!p.fill(&mut out, Instant::now()));
        assert_eq!(out, [0.0; 4]);
        ap.push_slice(&[0.5; 6]);
        assert!(!p.fill(&mut out, Instant::now()));
        assert_eq!(out, [0.5; 4]);
        // Two left for a block of four: an underrun, the rest silent.
        assert!(p.fill(&mut out, Instant::now()));
        assert_eq!(out, [0.5, 0.5, 0.0, 0.0]);
        assert_eq!(Counters::get(&counters.underruns), 1);
        // Empty while priming again: silence, not another underrun.
        assert!(!p.fill(&mut out, Instant::now()));
        assert_eq!(Counters::get(&counters.underruns), 1);
    }

    #[test]
    fn a_backlog_beyond_the_limit_is_dropped_in_whole_hops() {
        let (mut ap, ac) = ring::<f32>(64);
        let (_sp, sc) = ring::<FrameStamp>(8);
        let counters = Arc::new(Counters::default());
        let mut p = Player::new(
            ac,
            sc,
            PlayerConfig {
                prefill: 4,
                max_queue: 8,
                hop: 4,
                rate: 16_000,
            },
            histogram(),
            counters.clone(),
        );
        let v: Vec<f32> = (0..20).map(|i| i as f32).collect();
        ap.push_slice(&v);
        let mut out = [0.0f32; 4];
        p.fill(&mut out, Instant::now());
        // 20 queued, limit 8: 16 dropped (4 hops of 4), then 16..20 played.
        assert_eq!(out, [16.0, 17.0, 18.0, 19.0]);
        assert_eq!(Counters::get(&counters.dropped_frames), 4);
    }

    #[test]
    fn end_to_end_is_the_playback_of_the_frames_first_sample() {
        let (mut ap, ac) = ring::<f32>(64);
        let (mut sp, sc) = ring::<FrameStamp>(8);
        let counters = Arc::new(Counters::default());
        let mut p = Player::new(
            ac,
            sc,
            PlayerConfig {
                prefill: 1,
                max_queue: 64,
                hop: 1,
                rate: 1000,
            },
            histogram(),
            counters,
        );
        let t = Instant::now();
        ap.push_slice(&[0.1; 8]);
        sp.try_push(FrameStamp {
            audio_index: 2,
            arrival: t,
        })
        .unwrap();
        let mut out = [0.0f32; 4];
        p.fill(&mut out, t + Duration::from_millis(10));
        let h = p.into_histogram();
        assert_eq!(h.len(), 1);
        // Played at 10 ms + 2 samples at 1 kHz = 12 ms after arrival.
        assert!((h.max() as f64 / 1e6 - 12.0).abs() < 0.1, "{}", h.max());
    }

    #[test]
    fn priming_starts_the_first_frame_one_buffer_after_its_arrival() {
        let (mut ap, ac) = ring::<f32>(64);
        let (mut sp, sc) = ring::<FrameStamp>(8);
        let counters = Arc::new(Counters::default());
        // A 16 ms buffer at 1 kHz, blocks of 8 samples (8 ms).
        let mut p = Player::new(
            ac,
            sc,
            PlayerConfig {
                prefill: 16,
                max_queue: 64,
                hop: 10,
                rate: 1000,
            },
            histogram(),
            counters.clone(),
        );
        let t = Instant::now();
        ap.push_slice(&[0.5; 10]);
        sp.try_push(FrameStamp {
            audio_index: 0,
            arrival: t,
        })
        .unwrap();
        let mut out = [1.0f32; 8];
        // The block at 0 ms ends before 16 ms: silence, still priming.
        assert!(!p.fill(&mut out, t));
        assert_eq!(out, [0.0; 8]);
        // The block at 10 ms: 6 samples of silence, then the frame at 16 ms.
        assert!(!p.fill(&mut out, t + Duration::from_millis(10)));
        assert_eq!(out, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5]);
        // The frame's other 8 samples, then the ring runs dry: one underrun,
        // then priming again.
        assert!(!p.fill(&mut out, t + Duration::from_millis(18)));
        assert_eq!(out, [0.5; 8]);
        assert!(p.fill(&mut out, t + Duration::from_millis(26)));
        assert_eq!(out, [0.0; 8]);
        assert!(!p.fill(&mut out, t + Duration::from_millis(34)));
        assert_eq!(Counters::get(&counters.underruns), 1);
        let h = p.into_histogram();
        assert_eq!(h.len(), 1);
        assert!((h.max() as f64 / 1e6 - 16.0).abs() < 0.1, "{}", h.max());
    }

    #[test]
    fn a_burst_after_a_stall_keeps_the_newest_frame_one_buffer_late() {
        let (mut ap, ac) = ring::<f32>(64);
        let (mut sp, sc) = ring::<FrameStamp>(8);
        let counters = Arc::new(Counters::default());
        let mut p = Player::new(
            ac,
            sc,
            PlayerConfig {
                prefill: 16,
                max_queue: 64,
                hop: 10,
                rate: 1000,
            },
            histogram(),
            counters.clone(),
        );
        // Three frames of 10 samples arrive together at t.
        let t = Instant::now();
        for f in 0..3u64 {
            ap.push_slice(&[f as f32 + 1.0; 10]);
            sp.try_push(FrameStamp {
                audio_index: f * 10,
                arrival: t,
            })
            .unwrap();
        }
        // At 10 ms the newest is due in 6 ms; the 20 samples before it do not
        // fit, so frames 1 and 2 go and frame 3 starts after 6 silent samples.
        let mut out = [9.0f32; 8];
        assert!(!p.fill(&mut out, t + Duration::from_millis(10)));
        assert_eq!(out, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 3.0]);
        assert_eq!(Counters::get(&counters.dropped_frames), 2);
        let h = p.into_histogram();
        assert_eq!(h.len(), 1);
        assert!((h.max() as f64 / 1e6 - 16.0).abs() < 0.1, "{}", h.max());
    }
}
