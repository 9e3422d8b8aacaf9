//! The consumer side of the audio path, shared by the paced sinks: an
//! adaptive playout schedule.
//!
//! A sink takes audio in fixed blocks (128 samples, 8 ms at 16 kHz) while
//! frames come every hop (160 samples, 10 ms), so a frame must be ready when
//! the block holding its first sample is taken: up to most of a block before
//! that sample is heard. How early each frame was ready is its *margin*. The
//! player keeps a schedule (audio sample → playback instant) and moves it
//! only to hold the margin:
//!
//! - Every [`WINDOW`] frames it works out, for each frame, how much earlier
//!   it could have been played with the margin kept, given the block grid,
//!   and how much later it should have been when it was short of it. When
//!   more than [`SPARE`] frames were short, the schedule moves later by what
//!   fixes all but [`SPARE`] of them (silence inserted); otherwise earlier by
//!   as much as every frame allows (samples skipped). Either is done at a
//!   quiet point of the audio when there is one within a second.
//! - A frame that comes after its block was due does not move the schedule:
//!   the block plays silence where the frame should start (an underrun), and
//!   the part of the frame whose time has passed is cut (a late frame), so
//!   one slow frame costs a few milliseconds of audio, not lasting latency.
//!   More than [`SPARE`] late frames within a window move the schedule later
//!   at once.
//! - At the start, and when the audio has been missing for longer than
//!   [`MAX_DEBT_S`] (the stream was lost), it primes: the newest queued frame
//!   is heard one block plus the margin after its arrival.

use crate::live::rings::{Counters, FrameStamp};
use crate::pipeline::latency::record;
use hdrhistogram::Histogram;
use ringbuf::HeapCons;
use ringbuf::traits::{Consumer, Observer};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Frames per schedule decision.
pub const WINDOW: usize = 400;
/// Frames per window allowed to be later than the margin without moving the
/// schedule later (the latest frames, counted as late when they miss).
pub const SPARE: usize = 4;
/// Audio missing for longer than this (seconds) means the stream was lost:
/// the player primes again instead of cutting what comes next.
pub const MAX_DEBT_S: f64 = 0.1;
/// A move is put off for a quiet point at most this long.
const QUIET_WAIT: Duration = Duration::from_secs(1);
/// Peak level below which audio counts as quiet (−40 dBFS).
const QUIET_LEVEL: f32 = 0.01;
/// The schedule moves earlier only by at least this much (seconds).
const MIN_TRIM_S: f64 = 0.000_75;
/// Margin added beyond the one asked for when the schedule moves (seconds),
/// so the next window does not undo the move.
const HEADROOM_S: f64 = 0.000_25;

/// Sizes of a [`Player`].
#[derive(Clone, Copy, Debug)]
pub struct PlayerConfig {
    /// How long before its block is taken a frame should be ready.
    pub margin: Duration,
    /// The sink's block, in samples at the audio rate.
    pub block: usize,
    /// Samples per decoded frame; drops are whole frames.
    pub hop: usize,
    /// Audio rate in Hz.
    pub rate: u32,
}

/// Plays decoded audio on a schedule that holds a margin; see the module
/// documentation.
pub struct Player {
    audio: HeapCons<f32>,
    stamps: HeapCons<FrameStamp>,
    /// Audio samples popped (or skipped) so far.
    consumed: u64,
    /// A frame whose start was cut, timed at its first sample played.
    carry: Option<FrameStamp>,
    /// True while waiting to (re)start.
    priming: bool,
    /// Samples from the newest frame's arrival to its playback at a (re)start.
    prefill: usize,
    /// Queued audio beyond which the oldest is dropped.
    max_queue: usize,
    /// Samples that should have played but were missing (cut when they come).
    debt: usize,
    /// True while blocks run dry one after another.
    dry: bool,
    max_debt: usize,
    block: usize,
    block_s: f64,
    hop: usize,
    rate: f64,
    margin_s: f64,
    min_trim: i64,
    headroom: i64,
    /// Each frame of the current window: how many samples earlier it could
    /// have played with the margin kept (never less than where it starts in
    /// its block) ...
    earlier: Box<[i64]>,
    /// ... and how many samples later it should have played to keep it
    /// (zero or negative).
    later: Box<[i64]>,
    scratch: Box<[i64]>,
    filled: usize,
    late_in_window: usize,
    /// The most audio missing at once in this window, in samples.
    worst_debt: usize,
    /// Pending schedule move: positive skips samples, negative inserts silence.
    shift: i64,
    shift_since: Instant,
    end_to_end: Histogram<u64>,
    counters: Arc<Counters>,
}

impl Player {
    /// A player of audio at `config.rate` Hz; see the module documentation.
    pub fn new(
        audio: HeapCons<f32>,
        stamps: HeapCons<FrameStamp>,
        config: PlayerConfig,
        end_to_end: Histogram<u64>,
        counters: Arc<Counters>,
    ) -> Self {
        let rate = config.rate as f64;
        let block = config.block.max(1);
        let samples = |s: f64| (s * rate).round() as i64;
        let prefill = block + samples(config.margin.as_secs_f64()) as usize;
        Self {
            audio,
            stamps,
            consumed: 0,
            carry: None,
            priming: true,
            prefill,
            // Up to 100 ms more than the start needs may queue.
            max_queue: prefill + config.rate as usize / 10,
            debt: 0,
            dry: false,
            max_debt: samples(MAX_DEBT_S) as usize,
            block,
            block_s: block as f64 / rate,
            hop: config.hop.max(1),
            rate,
            margin_s: config.margin.as_secs_f64(),
            min_trim: samples(MIN_TRIM_S).max(1),
            headroom: samples(HEADROOM_S),
            earlier: vec![0; WINDOW].into_boxed_slice(),
            later: vec![0; WINDOW].into_boxed_slice(),
            scratch: vec![0; WINDOW].into_boxed_slice(),
            filled: 0,
            late_in_window: 0,
            worst_debt: 0,
            shift: 0,
            shift_since: Instant::now(),
            end_to_end,
            counters,
        }
    }

    /// Fills `out` with the next audio. `now` is when the block is taken (the
    /// deadline of the frames it starts), `play_at` when `out[0]` will be
    /// heard. Returns true when the ring ran dry inside the block (an
    /// underrun: counted, the rest is silence).
    pub fn fill(&mut self, out: &mut [f32], now: Instant, play_at: Instant) -> bool {
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
            self.debt = 0;
            self.shift = 0;
            self.restart_window();
        }
        let queued = self.audio.occupied_len();
        if queued > self.max_queue {
            let excess = (queued - self.prefill) / self.hop * self.hop;
            let cut = self.skip(excess);
            Counters::add(&self.counters.dropped_frames, cut);
        }
        if self.debt > 0 {
            let n = self.debt.min(self.audio.occupied_len());
            self.debt -= n;
            let cut = self.skip(n);
            Counters::add(&self.counters.late_frames, cut);
        }
        if self.shift != 0 && self.debt == 0 {
            lead += self.apply_shift(out.len() - lead, now);
        }
        out[..lead].fill(0.0);
        let n = lead + self.audio.pop_slice(&mut out[lead..]);
        let end = self.consumed + (n - lead) as u64;
        while let Some(s) = self.next_stamp(end) {
            if s.audio_index < self.consumed {
                continue;
            }
            let at = lead as u64 + s.audio_index - self.consumed;
            let heard = play_at + Duration::from_secs_f64(at as f64 / self.rate);
            record(
                &mut self.end_to_end,
                heard.saturating_duration_since(s.arrival),
            );
            let ready_for = now.saturating_duration_since(s.ready).as_secs_f64();
            let blocks = ((ready_for - self.margin_s) / self.block_s).floor() as i64;
            self.note(at as i64, blocks * self.block as i64, now);
        }
        self.consumed = end;
        if n < out.len() {
            out[n..].fill(0.0);
            self.debt += out.len() - n;
            self.worst_debt = self.worst_debt.max(self.debt);
            // Blocks that run dry one after another are one underrun.
            let fresh = !self.dry;
            self.dry = true;
            if fresh {
                Counters::add(&self.counters.underruns, 1);
            }
            if self.debt > self.max_debt {
                self.priming = true;
            } else if fresh {
                self.late_in_window += 1;
                if self.late_in_window > SPARE {
                    // Too many late frames: later by the most audio that was
                    // missing at once, plus the margin.
                    self.shift = -(self.worst_debt as i64
                        + (self.margin_s * self.rate).round() as i64
                        + self.headroom);
                    self.shift_since = now;
                    self.restart_window();
                }
            }
            return true;
        }
        self.dry = false;
        false
    }

    /// The next stamp of a frame starting before `end`: the carried one first.
    fn next_stamp(&mut self, end: u64) -> Option<FrameStamp> {
        if let Some(c) = self.carry
            && c.audio_index < end
        {
            self.carry = None;
            return Some(c);
        }
        if self.stamps.try_peek()?.audio_index >= end {
            return None;
        }
        self.stamps.try_pop()
    }

    /// Skips `n` queued samples; returns the frames whose start went with
    /// them. A frame cut in the middle is carried, to be timed at its first
    /// sample played.
    fn skip(&mut self, n: usize) -> u64 {
        let skipped = self.audio.skip(n);
        self.consumed += skipped as u64;
        let mut cut = 0;
        while let Some(s) = self.next_stamp(self.consumed) {
            cut += 1;
            if s.audio_index + self.hop as u64 > self.consumed {
                self.carry = Some(FrameStamp {
                    audio_index: self.consumed,
                    ..s
                });
            }
        }
        cut
    }

    /// Moves the schedule at a quiet point (or once one was waited for too
    /// long): skips samples, or returns how many samples of silence to play
    /// at the head of a block of `room` samples.
    fn apply_shift(&mut self, room: usize, now: Instant) -> usize {
        let forced = now.saturating_duration_since(self.shift_since) >= QUIET_WAIT;
        if self.shift > 0 {
            let n = (self.shift as usize).min(self.audio.occupied_len());
            if n == 0 || !(forced || self.quiet(n + 16)) {
                return 0;
            }
            self.skip(n);
            self.shift -= n as i64;
        } else {
            if !(forced || self.quiet(16)) {
                return 0;
            }
            let n = ((-self.shift) as usize).min(room);
            self.shift += n as i64;
            if self.shift == 0 {
                Counters::add(&self.counters.latency_adjustments, 1);
                self.restart_window();
            }
            return n;
        }
        if self.shift == 0 {
            Counters::add(&self.counters.latency_adjustments, 1);
            self.restart_window();
        }
        0
    }

    /// Whether the next `n` queued samples are all quiet.
    fn quiet(&self, n: usize) -> bool {
        let (a, b) = self.audio.as_slices();
        let n = n.min(a.len() + b.len());
        let (a, b) = (&a[..n.min(a.len())], &b[..n.saturating_sub(a.len())]);
        a.iter().chain(b).all(|x| x.abs() < QUIET_LEVEL)
    }

    /// Notes the frame just timed: it started `at` samples into its block,
    /// and was ready with the margin to spare for `spare_blocks` samples'
    /// worth of whole blocks (negative: short of the margin).
    fn note(&mut self, at: i64, spare_blocks: i64, now: Instant) {
        if self.filled < WINDOW {
            // Moving earlier by more than `at` puts the frame in the block
            // before, which it must then be ready for as well.
            self.earlier[self.filled] = at + spare_blocks.max(0);
            // Short of the margin: the move later that would have fixed it.
            self.later[self.filled] = (at + spare_blocks).min(0);
            self.filled += 1;
        }
        if self.filled == WINDOW {
            self.decide(now);
        }
    }

    /// Sets the schedule's next move from the window: later when more than
    /// [`SPARE`] frames were short of the margin (by what fixes all but
    /// [`SPARE`] of them), else earlier by as much as every frame allows.
    fn decide(&mut self, now: Instant) {
        let n = self.filled;
        let short = self.later[..n].iter().filter(|&&d| d < 0).count();
        let shift = if short + self.late_in_window > SPARE {
            let spare = SPARE.saturating_sub(self.late_in_window).min(n - 1);
            self.scratch[..n].copy_from_slice(&self.later[..n]);
            let (_, &mut need, _) = self.scratch[..n].select_nth_unstable(spare);
            need.min(0) - self.headroom
        } else {
            let room = self.earlier[..n].iter().copied().min().unwrap_or(0);
            if room >= self.min_trim + self.headroom {
                room - self.headroom
            } else {
                0
            }
        };
        if shift != 0 {
            self.shift = shift;
            self.shift_since = now;
        }
        self.restart_window();
    }

    fn restart_window(&mut self) {
        self.filled = 0;
        self.late_in_window = 0;
        self.worst_debt = 0;
    }

    /// While priming: the samples of silence to play before the queued
    /// audio in a block of `block` samples starting at `play_at`, or `None`
    /// to keep waiting. The newest queued frame is the anchor: it is heard
    /// `prefill` samples after its arrival. Older frames queued before it (a
    /// burst after a stall) play first; those that no longer fit in front of
    /// it are dropped, whole and counted.
    fn prime(&mut self, block: usize, play_at: Instant) -> Option<usize> {
        self.carry = None;
        let consumed = self.consumed;
        while self
            .stamps
            .try_peek()
            .is_some_and(|s| s.audio_index < consumed)
        {
            self.stamps.try_pop();
        }
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
            let from = self.consumed;
            let cut = self.skip(frames * self.hop);
            self.carry = None;
            Counters::add(&self.counters.dropped_frames, cut);
            lead += (self.consumed - from) as f64;
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
    use ringbuf::HeapProd;
    use ringbuf::traits::Producer;

    fn histogram() -> Histogram<u64> {
        Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap()
    }

    /// A player at 1 kHz (one sample per millisecond) with `block`-sample
    /// blocks, 10-sample frames and `margin_ms`.
    fn player(
        block: usize,
        margin_ms: u64,
    ) -> (HeapProd<f32>, HeapProd<FrameStamp>, Player, Arc<Counters>) {
        let (ap, ac) = ring::<f32>(4096);
        let (sp, sc) = ring::<FrameStamp>(512);
        let counters = Arc::new(Counters::default());
        let p = Player::new(
            ac,
            sc,
            PlayerConfig {
                margin: Duration::from_millis(margin_ms),
                block,
                hop: 10,
                rate: 1000,
            },
            histogram(),
            counters.clone(),
        );
        (ap, sp, p, counters)
    }

    /// Pushes frame `f` (10 samples of `value`) arrived and ready at `at`.
    fn push(
        ap: &mut HeapProd<f32>,
        sp: &mut HeapProd<FrameStamp>,
        f: u64,
        at: Instant,
        value: f32,
    ) {
        ap.push_slice(&[value; 10]);
        sp.try_push(FrameStamp {
            audio_index: f * 10,
            arrival: at,
            ready: at,
        })
        .unwrap();
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn priming_starts_the_first_frame_one_block_plus_the_margin_after_its_arrival() {
        // 8-sample blocks (8 ms) and a 2 ms margin: heard 10 ms after arrival.
        let (mut ap, mut sp, mut p, counters) = player(8, 2);
        let t = Instant::now();
        push(&mut ap, &mut sp, 0, t, 0.5);
        let mut out = [1.0f32; 8];
        // The block at 0 ms ends before 10 ms: silence, still priming.
        assert!(!p.fill(&mut out, t, t));
        assert_eq!(out, [0.0; 8]);
        // The block at 8 ms: 2 samples of silence, then the frame at 10 ms.
        assert!(!p.fill(&mut out, t + ms(8), t + ms(8)));
        assert_eq!(out, [0.0, 0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
        assert_eq!(Counters::get(&counters.underruns), 0);
        let h = p.into_histogram();
        assert_eq!(h.len(), 1);
        assert!((h.max() as f64 / 1e6 - 10.0).abs() < 0.1, "{}", h.max());
    }

    #[test]
    fn a_late_frame_is_cut_and_the_schedule_kept() {
        let (mut ap, mut sp, mut p, counters) = player(10, 0);
        let t = Instant::now();
        push(&mut ap, &mut sp, 0, t, 1.0);
        let mut out = [9.0f32; 10];
        // Primed: frame 0 heard at 10 ms (block + no margin), block at 10 ms.
        assert!(!p.fill(&mut out, t, t));
        assert!(!p.fill(&mut out, t + ms(10), t + ms(10)));
        assert_eq!(out, [1.0; 10]);
        // Frame 1 is missing when its block is taken at 20 ms: an underrun.
        assert!(p.fill(&mut out, t + ms(20), t + ms(20)));
        assert_eq!(out, [0.0; 10]);
        // It comes at 24 ms, with frame 2 at 30 ms: frame 1's time has passed,
        // so it is cut, and frame 2 plays on schedule at 30 ms.
        push(&mut ap, &mut sp, 1, t + ms(24), 2.0);
        push(&mut ap, &mut sp, 2, t + ms(30), 3.0);
        assert!(!p.fill(&mut out, t + ms(30), t + ms(30)));
        assert_eq!(out, [3.0; 10]);
        assert_eq!(Counters::get(&counters.underruns), 1);
        assert_eq!(Counters::get(&counters.late_frames), 1);
        let h = p.into_histogram();
        // Frames 0 and 2 were heard, each 0 to 10 ms after arrival.
        assert_eq!(h.len(), 2);
        assert!(h.max() as f64 / 1e6 <= 10.1, "{}", h.max());
    }

    #[test]
    fn a_frame_cut_in_the_middle_is_timed_at_its_first_sample_heard() {
        let (mut ap, mut sp, mut p, counters) = player(4, 0);
        let t = Instant::now();
        push(&mut ap, &mut sp, 0, t, 1.0);
        let mut out = [9.0f32; 4];
        // Primed: the first block waits for frame 0, due 4 ms after arrival.
        assert!(!p.fill(&mut out, t + ms(4), t + ms(4)));
        assert!(!p.fill(&mut out, t + ms(8), t + ms(8)));
        // 2 of frame 0's samples left for a block of 4: 2 missing.
        assert!(p.fill(&mut out, t + ms(12), t + ms(12)));
        assert_eq!(out, [1.0, 1.0, 0.0, 0.0]);
        // Frame 1 comes at 15 ms: its first 2 samples are cut, the rest plays
        // at 16 ms, heard 1 ms after arrival.
        push(&mut ap, &mut sp, 1, t + ms(15), 2.0);
        assert!(!p.fill(&mut out, t + ms(16), t + ms(16)));
        assert_eq!(out, [2.0; 4]);
        assert_eq!(Counters::get(&counters.late_frames), 1);
        let h = p.into_histogram();
        assert_eq!(h.len(), 2);
        assert!((h.min() as f64 / 1e6 - 1.0).abs() < 0.1, "{}", h.min());
    }

    /// Feeds `frames` frames arriving every 10 ms from `t`, each ready 1 ms
    /// after it, into blocks of 8 samples at 1 kHz taken every 8 ms.
    fn run_steady(
        p: &mut Player,
        ap: &mut HeapProd<f32>,
        sp: &mut HeapProd<FrameStamp>,
        t: Instant,
        frames: u64,
    ) {
        let mut out = [0.0f32; 8];
        let mut next = 0u64;
        let mut block = 0u64;
        while next < frames {
            let now = t + ms(8 * block);
            while next < frames && t + ms(10 * next + 1) <= now {
                // Audio ready 1 ms after arrival; values loud (never quiet).
                ap.push_slice(&[0.5; 10]);
                sp.try_push(FrameStamp {
                    audio_index: next * 10,
                    arrival: t + ms(10 * next),
                    ready: t + ms(10 * next + 1),
                })
                .unwrap();
                next += 1;
            }
            p.fill(&mut out, now, now);
            block += 1;
        }
    }

    #[test]
    fn the_schedule_moves_earlier_to_the_margin_without_underruns() {
        // 8-sample blocks at 1 kHz, 10-sample frames every 10 ms, each ready
        // 1 ms after arrival; a 1 ms margin. The start puts each frame 9 ms
        // (block + margin) after arrival; with the block grid, frames need to
        // be ready up to 6 ms before they are heard, so the player settles
        // where the frame at the end of a block has its 1 ms margin.
        let (mut ap, mut sp, mut p, counters) = player(8, 1);
        let t = Instant::now();
        run_steady(&mut p, &mut ap, &mut sp, t, 1000);
        assert_eq!(Counters::get(&counters.underruns), 0);
        assert_eq!(Counters::get(&counters.late_frames), 0);
        assert_eq!(Counters::get(&counters.latency_adjustments), 1);
        let h = p.into_histogram();
        // Started 9 ms after arrival (block + margin); the frames at the start
        // of a block were ready 7 ms early, those at the end 1 ms: one sample
        // earlier is the most the margin allows. Once moved (with loud audio,
        // after waiting a second for a quiet point), frames are heard 8 ms
        // after arrival.
        let p50 = h.value_at_quantile(0.5) as f64 / 1e6;
        assert!((p50 - 8.0).abs() < 0.05, "p50 {p50} ms");
        assert!(h.max() as f64 / 1e6 < 9.1, "{}", h.max());
    }

    #[test]
    fn the_schedule_moves_later_when_frames_keep_coming_late() {
        // Frames ready 1 ms after arrival, but a 7 ms margin: the start
        // (8 + 7 ms) leaves frames at the end of a block short of it, so the
        // schedule moves later, with no underrun.
        let (mut ap, mut sp, mut p, counters) = player(8, 7);
        let t = Instant::now();
        run_steady(&mut p, &mut ap, &mut sp, t, 600);
        assert_eq!(Counters::get(&counters.underruns), 0);
        assert!(Counters::get(&counters.latency_adjustments) >= 1);
        let h = p.into_histogram();
        // Every frame ready 7 ms before its block is taken, the frame at the
        // end of a block 6 ms before it is heard: heard 1 + 7 + 6 ms after
        // arrival, once settled.
        let p50 = h.value_at_quantile(0.5) as f64 / 1e6;
        assert!(p50 >= 14.0, "p50 {p50} ms");
    }

    #[test]
    fn a_backlog_beyond_the_limit_is_dropped_in_whole_hops() {
        let (mut ap, mut sp, mut p, counters) = player(10, 0);
        let t = Instant::now();
        // 300 samples (30 frames) queued at once, long before they are due.
        for f in 0..30 {
            push(&mut ap, &mut sp, f, t, f as f32);
        }
        let mut out = [0.0f32; 10];
        // Priming keeps only what fits in front of the newest frame.
        assert!(!p.fill(&mut out, t + ms(10), t + ms(10)));
        assert_eq!(out, [29.0; 10]);
        assert_eq!(Counters::get(&counters.dropped_frames), 29);
    }

    #[test]
    fn a_lost_stream_primes_again_instead_of_cutting() {
        let (mut ap, mut sp, mut p, counters) = player(10, 0);
        let t = Instant::now();
        push(&mut ap, &mut sp, 0, t, 1.0);
        let mut out = [0.0f32; 10];
        assert!(!p.fill(&mut out, t, t));
        assert!(!p.fill(&mut out, t + ms(10), t + ms(10)));
        // 200 ms without audio: one underrun (blocks that run dry one after
        // another count once), then, past 100 ms, waiting to start afresh.
        for b in 2..22 {
            p.fill(&mut out, t + ms(10 * b), t + ms(10 * b));
        }
        assert_eq!(Counters::get(&counters.underruns), 1);
        // The stream is back: the new frame is heard one block after arrival,
        // not cut.
        push(&mut ap, &mut sp, 1, t + ms(215), 7.0);
        assert!(!p.fill(&mut out, t + ms(220), t + ms(220)));
        assert_eq!(out, [0.0, 0.0, 0.0, 0.0, 0.0, 7.0, 7.0, 7.0, 7.0, 7.0]);
        assert_eq!(Counters::get(&counters.late_frames), 0);
    }
}
