//! The consumer side of the audio path, shared by the paced sinks: an
//! adaptive playout schedule.
//!
//! A sink takes audio in fixed blocks (by default the largest divisor of the
//! hop up to 5 ms: 80 samples at 16 kHz for 10 ms and 5 ms frames; see
//! [`super::blocks`]) while frames come every hop, so a frame must be ready
//! when the block holding its first sample is taken: up to a block before
//! that sample is heard. How early each frame was ready is its *spare*; the
//! spare the player aims for is the *margin*. The player keeps a schedule
//! (audio sample → playback instant) and moves it only to hold the margin:
//!
//! - Every [`WINDOW`] frames it works out, for each frame, how much earlier
//!   it could have been played with the margin kept, given the block grid,
//!   and how much later it should have been when it was short of it. When
//!   more than [`SPARE`] frames were short, the schedule moves later by what
//!   fixes all but [`SPARE`] of them (silence inserted); otherwise earlier by
//!   as much as every frame allows (samples skipped), at a quiet point of
//!   the audio when there is one within a second.
//! - A frame that comes after its block was due does not move the schedule:
//!   the block plays silence where the frame should start (an underrun), and
//!   the part of the frame whose time has passed is cut (a late frame), so
//!   one slow frame costs a few milliseconds of audio, not lasting latency.
//!   More than twice [`SPARE`] late frames within a window move the
//!   schedule later at once. The first decision after a start comes after
//!   [`WINDOW_START`] frames, with no frame to spare.
//! - The margin adapts (`super::margin`): it starts at 2 ms (or
//!   `--margin-ms`, the floor, when that is more), grows at once when a
//!   frame comes near missing its block (ready with less than half the
//!   margin to spare) or misses it, by the delay that frame met, and the
//!   schedule moves later at once by what the window's median frame needs
//!   to keep the new margin, before the next such delay makes an underrun
//!   (a delay that would need more than 10 ms is an outage and
//!   grows nothing); windows without a near miss shrink it by 0.1 ms per
//!   second of audio, down to the floor. `run --fixed-margin` holds the
//!   floor.
//! - At the start, and when the audio has been missing for longer than
//!   [`MAX_DEBT_S`] (the stream was lost), it primes: the newest queued frame
//!   is heard one block, plus the step between frame phases (gcd of hop and
//!   block), plus the margin after its arrival.

use super::margin::{AdaptiveMargin, MarginSummary};
use crate::live::rings::{Counters, FrameStamp};
use crate::pipeline::latency::PlaybackHistograms;
use ringbuf::HeapCons;
use ringbuf::traits::{Consumer, Observer};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Frames per schedule decision.
pub const WINDOW: usize = 400;
/// Frames of the first decision after a (re)start: the start's schedule
/// is a guess, soon corrected.
pub const WINDOW_START: usize = 25;
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

/// A block that ran dry: when it was taken, where in it the missing frame
/// should have started, and that frame's first audio sample.
#[derive(Clone, Copy, Debug)]
struct DryBlock {
    deadline: Instant,
    at: i64,
    index: u64,
}

/// Sizes of a [`Player`].
#[derive(Clone, Copy, Debug)]
pub struct PlayerConfig {
    /// How long before its block is taken a frame should be ready: the
    /// margin's floor when `adaptive`, the margin itself when not.
    pub margin: Duration,
    /// Whether the margin grows from near misses and shrinks slowly
    /// ([`super::margin`]).
    pub adaptive: bool,
    /// The sink's block, in samples at the audio rate.
    pub block: usize,
    /// Samples per decoded frame; drops are whole frames.
    pub hop: usize,
    /// Audio rate in Hz.
    pub rate: u32,
    /// The bundle's fixed delays (front-end and vocoder), the constant part
    /// of every frame's sensor-to-sound latency.
    pub fixed: Duration,
}

impl PlayerConfig {
    /// The step between the phases at which frames start in the sink's
    /// blocks, in samples: gcd(hop, block) (2 ms for 10 ms frames in 8 ms
    /// blocks).
    pub fn phase_step(&self) -> usize {
        gcd(self.hop.max(1), self.block.max(1))
    }
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
    margin: AdaptiveMargin,
    min_trim: i64,
    headroom: i64,
    /// Each frame of the current window: where it started in its block
    /// (samples) ...
    starts: Box<[i64]>,
    /// ... and how long before that block was taken it was ready (seconds),
    /// judged against the margin when the window is decided.
    spares: Box<[f64]>,
    scratch: Box<[i64]>,
    filled: usize,
    late_in_window: usize,
    /// The move later that would have fixed the latest frame cut in this
    /// window (zero or negative).
    late_need: i64,
    /// The last block that ran dry, until the frame it missed comes.
    dry_mark: Option<DryBlock>,
    /// Frames in the current window: [`WINDOW_START`] after a (re)start,
    /// then [`WINDOW`].
    window_len: usize,
    /// Pending schedule move: positive skips samples, negative inserts silence.
    shift: i64,
    shift_since: Instant,
    fixed: Duration,
    histograms: PlaybackHistograms,
    counters: Arc<Counters>,
}

impl Player {
    /// A player of audio at `config.rate` Hz; see the module documentation.
    pub fn new(
        audio: HeapCons<f32>,
        stamps: HeapCons<FrameStamp>,
        config: PlayerConfig,
        histograms: PlaybackHistograms,
        counters: Arc<Counters>,
    ) -> Self {
        let rate = config.rate as f64;
        let block = config.block.max(1);
        let samples = |s: f64| (s * rate).round() as i64;
        let margin = AdaptiveMargin::new(config.margin.as_secs_f64(), config.adaptive);
        // Frames start at phases of their blocks spaced by gcd(hop, block)
        // (2 ms for 10 ms frames in 8 ms blocks): starting that much beyond
        // block + margin leaves every frame its margin whatever the phase,
        // and the first decision takes back what is not needed.
        let prefill = block + config.phase_step() + samples(margin.current_s()) as usize;
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
            margin,
            min_trim: samples(MIN_TRIM_S).max(1),
            headroom: samples(HEADROOM_S),
            starts: vec![0; WINDOW].into_boxed_slice(),
            spares: vec![0.0; WINDOW].into_boxed_slice(),
            scratch: vec![0; WINDOW].into_boxed_slice(),
            filled: 0,
            late_in_window: 0,
            window_len: WINDOW_START,
            late_need: 0,
            dry_mark: None,
            shift: 0,
            shift_since: Instant::now(),
            fixed: config.fixed,
            histograms,
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
            self.window_len = WINDOW_START;
            self.dry_mark = None;
            self.restart_window();
        }
        let queued = self.audio.occupied_len();
        if queued > self.max_queue {
            let excess = (queued - self.prefill) / self.hop * self.hop;
            let cut = self.skip(excess, now);
            Counters::add(&self.counters.dropped_frames, cut);
        }
        if self.debt > 0 {
            let n = self.debt.min(self.audio.occupied_len());
            self.debt -= n;
            let cut = self.skip(n, now);
            Counters::add(&self.counters.late_frames, cut);
        }
        if self.shift != 0 && self.debt == 0 {
            lead += self.apply_shift(out.len() - lead, now);
        }
        out[..lead].fill(0.0);
        let n = lead + self.audio.pop_slice(&mut out[lead..]);
        let end = self.consumed + (n - lead) as u64;
        loop {
            // A carried frame was cut: it counted as late already.
            let cut = self.carry.is_some_and(|c| c.audio_index < end);
            let Some(s) = self.next_stamp(end) else {
                break;
            };
            let at = lead as u64 + s.audio_index - self.consumed;
            let offset = Duration::from_secs_f64(at as f64 / self.rate);
            self.histograms.record_frame(
                s.arrival,
                s.transport,
                s.ready,
                now + offset,
                play_at + offset,
                self.fixed,
            );
            if !cut {
                let spare = now.saturating_duration_since(s.ready).as_secs_f64();
                let raised = self.margin.observe(spare);
                self.note(at as i64, spare, now);
                if raised {
                    self.follow_margin(now);
                }
            }
        }
        self.consumed = end;
        if n < out.len() {
            out[n..].fill(0.0);
            self.debt += out.len() - n;
            // Blocks that run dry one after another are one underrun.
            let fresh = !self.dry;
            self.dry = true;
            if fresh {
                Counters::add(&self.counters.underruns, 1);
                self.dry_mark = Some(DryBlock {
                    deadline: now,
                    at: n as i64,
                    index: self.consumed,
                });
            }
            if self.debt > self.max_debt {
                self.priming = true;
            }
            return true;
        }
        self.dry = false;
        false
    }

    /// The sink itself ran late (noticed at `now`): the device played
    /// `samples` of silence (at the audio rate). The queued audio whose time
    /// passed meanwhile is cut (its frames counted as late frames), so the
    /// schedule holds instead of every later frame being heard that much
    /// later; audio not queued yet (the worker stalled too) is judged when
    /// it comes, as any frame. The sink counts the underrun; the margin,
    /// which is about frames being ready, learns nothing from it.
    pub fn lost(&mut self, samples: usize, now: Instant) {
        if self.priming {
            return;
        }
        let n = samples.min(self.audio.occupied_len());
        let cut = self.skip(n, now);
        Counters::add(&self.counters.late_frames, cut);
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
    fn skip(&mut self, n: usize, now: Instant) -> u64 {
        let skipped = self.audio.skip(n);
        self.consumed += skipped as u64;
        let mut cut = 0;
        while let Some(s) = self.next_stamp(self.consumed) {
            cut += 1;
            if let Some(dry) = self.dry_mark
                && dry.index == s.audio_index
            {
                self.dry_mark = None;
                self.late_frame(dry, s.ready, now);
            }
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
        let silence = if self.shift > 0 {
            let n = (self.shift as usize).min(self.audio.occupied_len());
            let forced = now.saturating_duration_since(self.shift_since) >= QUIET_WAIT;
            if n == 0 || !(forced || self.quiet(n + 16)) {
                return 0;
            }
            self.skip(n, now);
            self.shift -= n as i64;
            0
        } else {
            // Frames are being cut meanwhile: no waiting for a quiet point.
            let n = ((-self.shift) as usize).min(room);
            self.shift += n as i64;
            n
        };
        if self.shift == 0 {
            Counters::add(&self.counters.latency_adjustments, 1);
            self.restart_window();
        }
        silence
    }

    /// Whether the next `n` queued samples are all quiet.
    fn quiet(&self, n: usize) -> bool {
        let (a, b) = self.audio.as_slices();
        let n = n.min(a.len() + b.len());
        let (a, b) = (&a[..n.min(a.len())], &b[..n.saturating_sub(a.len())]);
        a.iter().chain(b).all(|x| x.abs() < QUIET_LEVEL)
    }

    /// Frame `k` of the window against the margin now: how many samples
    /// earlier it could have played with the margin kept (never less than
    /// where it starts in its block: moving earlier by more puts it in the
    /// block before, which it must then be ready for as well), and how many
    /// later it should have played to keep it (zero or negative).
    fn judge(&self, k: usize) -> (i64, i64) {
        let at = self.starts[k];
        let blocks = ((self.spares[k] - self.margin.current_s()) / self.block_s).floor() as i64;
        let whole = blocks * self.block as i64;
        (at + whole.max(0), (at + whole).min(0))
    }

    /// The margin grew: the schedule moves later at once by what the
    /// window's median frame needs to keep the new margin (nothing when it
    /// still does), not by what the frame that grew it needed, which the
    /// new margin already counts.
    fn follow_margin(&mut self, now: Instant) {
        let n = self.filled;
        if n == 0 {
            return;
        }
        for k in 0..n {
            self.scratch[k] = self.judge(k).1;
        }
        let (_, &mut need, _) = self.scratch[..n].select_nth_unstable(n / 2);
        self.move_later(need, now);
    }

    /// Moves the schedule later by `-need` samples (and the headroom) at
    /// once, unless a larger move later is pending; `need` ≥ 0 is nothing.
    fn move_later(&mut self, need: i64, now: Instant) {
        if need >= 0 {
            return;
        }
        let shift = need - self.headroom;
        if self.shift >= 0 || shift < self.shift {
            if self.shift == 0 {
                self.shift_since = now;
            }
            self.shift = shift;
        }
        self.restart_window();
    }

    /// Notes the frame just timed: it started `at` samples into its block,
    /// and was ready `spare` seconds before that block was taken.
    fn note(&mut self, at: i64, spare: f64, now: Instant) {
        if self.filled < self.window_len {
            self.starts[self.filled] = at;
            self.spares[self.filled] = spare;
            self.filled += 1;
        }
        if self.filled >= self.window_len {
            self.decide(now);
        }
    }

    /// Counts a frame that missed the block `dry` (it was ready at `ready`)
    /// and notes how much later it should have played.
    fn late_frame(&mut self, dry: DryBlock, ready: Instant, now: Instant) {
        self.late_in_window += 1;
        let after = ready.saturating_duration_since(dry.deadline).as_secs_f64();
        let raised = self.margin.observe(-after);
        let short = after + self.margin.current_s();
        let blocks = (short / self.block_s).ceil().max(1.0) as i64;
        let need = dry.at - blocks * self.block as i64;
        self.late_need = self.late_need.min(need);
        if raised {
            // The margin learned this delay: the schedule makes room for
            // the next one now.
            self.follow_margin(now);
            return;
        }
        // Many late frames: a change for the worse, not a spike.
        if self.late_in_window > 2 * SPARE {
            self.decide(now);
        }
    }

    /// Sets the schedule's next move from the window: later when frames were
    /// late (cut) more often than twice [`SPARE`] in a window would allow
    /// (by what fixes all of them), or when more than [`SPARE`] frames were
    /// short of the margin (by what fixes all but [`SPARE`] of them); else
    /// earlier by as much as every frame allows. A few late frames are a
    /// spike of the machine's load and move nothing: they were cut.
    fn decide(&mut self, now: Instant) {
        let n = self.filled;
        if n == 0 {
            return;
        }
        self.margin.end_window((n * self.hop) as f64 / self.rate);
        let mut room = i64::MAX;
        for k in 0..n {
            let (earlier, later) = self.judge(k);
            room = room.min(earlier);
            self.scratch[k] = later;
        }
        // The spare frames, in proportion to the frames seen.
        let allowed = SPARE * n / WINDOW;
        let short = self.scratch[..n].iter().filter(|&&d| d < 0).count();
        let shift = if self.late_in_window > 2 * allowed {
            let worst = self.scratch[..n].iter().copied().min().unwrap_or(0);
            worst.min(self.late_need) - self.headroom
        } else if short > allowed {
            let spare = allowed.min(n - 1);
            let (_, &mut need, _) = self.scratch[..n].select_nth_unstable(spare);
            need.min(0) - self.headroom
        } else {
            if room >= self.min_trim + self.headroom {
                room - self.headroom
            } else {
                0
            }
        };
        if shift != 0 {
            if self.shift == 0 {
                self.shift_since = now;
            }
            self.shift = shift;
        }
        self.window_len = WINDOW;
        self.restart_window();
    }

    fn restart_window(&mut self) {
        self.filled = 0;
        self.late_in_window = 0;
        self.late_need = 0;
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
            let cut = self.skip(frames * self.hop, play_at);
            self.carry = None;
            Counters::add(&self.counters.dropped_frames, cut);
            lead += (self.consumed - from) as f64;
        }
        let lead = lead.max(0.0) as usize;
        (lead < block && self.audio.occupied_len() >= block - lead).then_some(lead)
    }

    /// The heard frames' histograms, for the report.
    pub fn into_histograms(self) -> PlaybackHistograms {
        self.histograms
    }

    /// What the margin did so far.
    pub fn margin(&self) -> MarginSummary {
        self.margin.summary()
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::rings::ring;
    use hdrhistogram::Histogram;
    use ringbuf::HeapProd;
    use ringbuf::traits::Producer;

    /// A player at 1 kHz (one sample per millisecond) with `block`-sample
    /// blocks, 10-sample frames and a fixed `margin_ms`.
    fn player(
        block: usize,
        margin_ms: u64,
    ) -> (HeapProd<f32>, HeapProd<FrameStamp>, Player, Arc<Counters>) {
        player_with(block, margin_ms, false)
    }

    /// [`player`], with the margin adaptive (`margin_ms` its floor) or not.
    fn player_with(
        block: usize,
        margin_ms: u64,
        adaptive: bool,
    ) -> (HeapProd<f32>, HeapProd<FrameStamp>, Player, Arc<Counters>) {
        let (ap, ac) = ring::<f32>(4096);
        let (sp, sc) = ring::<FrameStamp>(512);
        let counters = Arc::new(Counters::default());
        let p = Player::new(
            ac,
            sc,
            PlayerConfig {
                margin: Duration::from_millis(margin_ms),
                adaptive,
                block,
                hop: 10,
                rate: 1000,
                fixed: Duration::ZERO,
            },
            PlaybackHistograms::default(),
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
            transport: None,
        })
        .unwrap();
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn priming_starts_the_first_frame_a_block_a_phase_step_and_the_margin_after_its_arrival() {
        // 8-sample blocks (8 ms), 10-sample frames (phases 2 ms apart) and a
        // 2 ms margin: heard 8 + 2 + 2 = 12 ms after arrival.
        let (mut ap, mut sp, mut p, counters) = player(8, 2);
        let t = Instant::now();
        push(&mut ap, &mut sp, 0, t, 0.5);
        let mut out = [1.0f32; 8];
        // The block at 0 ms ends before 12 ms: silence, still priming.
        assert!(!p.fill(&mut out, t, t));
        assert_eq!(out, [0.0; 8]);
        // The block at 8 ms: 4 samples of silence, then the frame at 12 ms.
        assert!(!p.fill(&mut out, t + ms(8), t + ms(8)));
        assert_eq!(out, [0.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5]);
        assert_eq!(Counters::get(&counters.underruns), 0);
        let h = p.into_histograms().arrival_to_playback;
        assert_eq!(h.len(), 1);
        assert!((h.max() as f64 / 1e6 - 12.0).abs() < 0.1, "{}", h.max());
    }

    #[test]
    fn sensor_to_sound_is_transport_plus_the_fixed_delays_plus_arrival_to_playback() {
        let (mut ap, ac) = ring::<f32>(4096);
        let (mut sp, sc) = ring::<FrameStamp>(512);
        let config = PlayerConfig {
            margin: Duration::ZERO,
            adaptive: false,
            block: 10,
            hop: 10,
            rate: 1000,
            fixed: ms(85),
        };
        let counters = Arc::new(Counters::default());
        let mut p = Player::new(ac, sc, config, PlaybackHistograms::default(), counters);
        let t = Instant::now();
        // Frame 0 arrived 5 ms after its newest sample was taken, was ready
        // 1 ms later; frame 1's clock offset is not known yet.
        ap.push_slice(&[1.0; 10]);
        sp.try_push(FrameStamp {
            audio_index: 0,
            arrival: t,
            ready: t + ms(1),
            transport: Some(ms(5)),
        })
        .unwrap();
        ap.push_slice(&[1.0; 10]);
        sp.try_push(FrameStamp {
            audio_index: 10,
            arrival: t + ms(10),
            ready: t + ms(11),
            transport: None,
        })
        .unwrap();
        let mut out = [0.0f32; 10];
        // A device 3 ms behind its callback. Priming puts the newest frame
        // (1) one block and one phase step (20 ms) after its arrival, frame
        // 0 before it: both heard 20 ms after arrival, handed 3 ms earlier.
        for b in 0..4 {
            let now = t + ms(10 * b);
            p.fill(&mut out, now, now + ms(3));
        }
        let h = p.into_histograms();
        assert_eq!(h.arrival_to_playback.len(), 2);
        assert_eq!(h.sensor_to_sound.len(), 1, "only frames with a transport");
        let one = |h: &Histogram<u64>| h.max() as f64 / 1e6;
        let a2p = h.arrival_to_playback.min() as f64 / 1e6;
        assert!((a2p - 20.0).abs() < 0.05, "{a2p}");
        assert!((one(&h.sensor_to_sound) - (5.0 + 85.0 + 20.0)).abs() < 0.1);
        assert!((one(&h.transport) - 5.0).abs() < 0.01);
        assert!((one(&h.compute) - 1.0).abs() < 0.01);
        assert!((one(&h.playout) - 16.0).abs() < 0.05);
        assert!((one(&h.device) - 3.0).abs() < 0.01);
    }

    #[test]
    fn a_late_frame_is_cut_and_the_schedule_kept() {
        // Blocks of one frame, no margin: frame 0 heard 20 ms after arrival.
        let (mut ap, mut sp, mut p, counters) = player(10, 0);
        let t = Instant::now();
        push(&mut ap, &mut sp, 0, t, 1.0);
        let mut out = [9.0f32; 10];
        assert!(!p.fill(&mut out, t, t));
        assert!(!p.fill(&mut out, t + ms(10), t + ms(10)));
        assert!(!p.fill(&mut out, t + ms(20), t + ms(20)));
        assert_eq!(out, [1.0; 10]);
        // Frame 1 is missing when its block is taken at 30 ms: an underrun.
        assert!(p.fill(&mut out, t + ms(30), t + ms(30)));
        assert_eq!(out, [0.0; 10]);
        // It comes at 34 ms, with frame 2 at 40 ms: frame 1's time has passed,
        // so it is cut, and frame 2 plays on schedule at 40 ms.
        push(&mut ap, &mut sp, 1, t + ms(34), 2.0);
        push(&mut ap, &mut sp, 2, t + ms(40), 3.0);
        assert!(!p.fill(&mut out, t + ms(40), t + ms(40)));
        assert_eq!(out, [3.0; 10]);
        assert_eq!(Counters::get(&counters.underruns), 1);
        assert_eq!(Counters::get(&counters.late_frames), 1);
        let h = p.into_histograms().arrival_to_playback;
        // Frames 0 and 2 were heard, 20 and 0 ms after arrival.
        assert_eq!(h.len(), 2);
        assert!(h.max() as f64 / 1e6 <= 20.1, "{}", h.max());
        assert!(h.min() as f64 / 1e6 <= 0.1, "{}", h.min());
    }

    #[test]
    fn a_frame_cut_in_the_middle_is_timed_at_its_first_sample_heard() {
        // 4-sample blocks, no margin: frame 0 heard 4 + 2 = 6 ms after arrival.
        let (mut ap, mut sp, mut p, counters) = player(4, 0);
        let t = Instant::now();
        push(&mut ap, &mut sp, 0, t, 1.0);
        let mut out = [9.0f32; 4];
        assert!(!p.fill(&mut out, t + ms(4), t + ms(4)));
        assert_eq!(out, [0.0, 0.0, 1.0, 1.0]);
        assert!(!p.fill(&mut out, t + ms(8), t + ms(8)));
        assert!(!p.fill(&mut out, t + ms(12), t + ms(12)));
        // Frame 0 is done; nothing for the block at 16 ms: 4 missing.
        assert!(p.fill(&mut out, t + ms(16), t + ms(16)));
        assert_eq!(out, [0.0; 4]);
        // Frame 1 comes at 19 ms: its first 4 samples are cut, the rest
        // plays from 20 ms, heard 1 ms after arrival.
        push(&mut ap, &mut sp, 1, t + ms(19), 2.0);
        assert!(!p.fill(&mut out, t + ms(20), t + ms(20)));
        assert_eq!(out, [2.0; 4]);
        assert_eq!(Counters::get(&counters.late_frames), 1);
        let h = p.into_histograms().arrival_to_playback;
        assert_eq!(h.len(), 2);
        assert!((h.min() as f64 / 1e6 - 1.0).abs() < 0.1, "{}", h.min());
    }

    /// Feeds `frames` frames arriving every 10 ms from `t`, frame k ready
    /// `ready_ms(k)` after it, into blocks of 8 samples at 1 kHz taken every
    /// 8 ms ([`run_grid`] from the start). The audio is loud, so moves wait
    /// the full second for quiet.
    fn run_steady(
        p: &mut Player,
        ap: &mut HeapProd<f32>,
        sp: &mut HeapProd<FrameStamp>,
        t: Instant,
        frames: u64,
        ready_ms: impl Fn(u64) -> u64,
    ) {
        run_grid(p, ap, sp, (t, 8), 0..frames, ready_ms);
    }

    #[test]
    fn the_schedule_moves_earlier_to_the_margin_without_underruns() {
        // Frames ready 1 ms after arrival, a 1 ms margin. The start hears
        // each 11 ms after arrival (block + phase step + margin). With the
        // block grid a frame must be ready up to 6 ms before it is heard, so
        // the schedule settles at 1 + 6 + 1 = 8 ms.
        let (mut ap, mut sp, mut p, counters) = player(8, 1);
        let t = Instant::now();
        run_steady(&mut p, &mut ap, &mut sp, t, 3000, |_| 1);
        assert_eq!(Counters::get(&counters.underruns), 0);
        assert_eq!(Counters::get(&counters.late_frames), 0);
        assert!(Counters::get(&counters.latency_adjustments) >= 1);
        let h = p.into_histograms().arrival_to_playback;
        let p50 = h.value_at_quantile(0.5) as f64 / 1e6;
        assert!((p50 - 8.0).abs() < 0.05, "p50 {p50} ms");
    }

    #[test]
    fn the_schedule_moves_later_when_frames_come_later_for_good() {
        // Frames ready 1 ms after arrival for 10 s, then 4 ms (the machine
        // got busier): the schedule moves later by 3 ms, after a few frames
        // are cut, and none after that.
        let (mut ap, mut sp, mut p, counters) = player(8, 1);
        let t = Instant::now();
        let slower = |k: u64| if k < 1000 { 1 } else { 4 };
        run_steady(&mut p, &mut ap, &mut sp, t, 3000, slower);
        let late = Counters::get(&counters.late_frames);
        assert!((1..=20).contains(&late), "{late} late frames");
        let h = p.into_histograms().arrival_to_playback;
        // Heard 4 + 6 + 1 = 11 ms after arrival once moved: 2000 of the 3000
        // frames, less the few before the move.
        let p90 = h.value_at_quantile(0.9) as f64 / 1e6;
        assert!((10.9..12.1).contains(&p90), "p90 {p90} ms");
    }

    /// Feeds `frames` frames arriving every 10 ms from `t`, frame k ready
    /// `ready_ms(k)` after it, into blocks of `block` samples at 1 kHz taken
    /// every `block` ms: a virtual clock, no waiting.
    fn run_grid(
        p: &mut Player,
        ap: &mut HeapProd<f32>,
        sp: &mut HeapProd<FrameStamp>,
        (t, block): (Instant, u64),
        frames: std::ops::Range<u64>,
        ready_ms: impl Fn(u64) -> u64,
    ) {
        let mut out = vec![0.0f32; block as usize];
        let mut next = frames.start;
        // The grid continues from where the last call left it.
        let mut b = (10 * frames.start).div_ceil(block);
        while next < frames.end {
            let now = t + ms(block * b);
            while next < frames.end && t + ms(10 * next + ready_ms(next)) <= now {
                ap.push_slice(&[0.5; 10]);
                sp.try_push(FrameStamp {
                    audio_index: next * 10,
                    arrival: t + ms(10 * next),
                    ready: t + ms(10 * next + ready_ms(next)),
                    transport: None,
                })
                .unwrap();
                next += 1;
            }
            p.fill(&mut out, now, now);
            b += 1;
        }
    }

    #[test]
    fn a_near_miss_grows_the_margin_so_the_next_such_delay_is_no_underrun_and_it_shrinks_back() {
        // 5 ms blocks dividing the 10 ms frames, a 1 ms floor; frames ready
        // 1 ms after arrival, but frames 1000 and 1500 meet an 8 ms stall,
        // longer than the start's margin and a block together.
        let (mut ap, mut sp, mut p, counters) = player_with(5, 1, true);
        let t = Instant::now();
        let start = p.margin();
        assert!(start.adaptive);
        assert!((start.start_s - super::super::margin::START_MARGIN_S).abs() < 1e-12);
        let stall = |k: u64| if k == 1000 || k == 1500 { 9 } else { 1 };
        run_grid(&mut p, &mut ap, &mut sp, (t, 5), 0..1000, stall);
        // Ten quiet seconds: the margin shrank from its start, not below 1 ms.
        let before = p.margin();
        assert_eq!(before.raises, 0);
        assert!(before.final_s < start.start_s, "{before:?}");
        assert!(before.final_s >= 0.001, "{before:?}");
        run_grid(&mut p, &mut ap, &mut sp, (t, 5), 1000..1400, stall);
        // The stall missed its block (an underrun, counted) and the margin
        // grew by what that frame lacked.
        let (under, late) = (
            Counters::get(&counters.underruns),
            Counters::get(&counters.late_frames),
        );
        assert_eq!((under, late), (1, 1));
        let raised = p.margin();
        assert!(raised.raises >= 1, "{raised:?}");
        assert!(raised.peak_s >= before.final_s + 0.001, "{raised:?}");
        // The same stall 5 s later finds the schedule ready for it.
        run_grid(&mut p, &mut ap, &mut sp, (t, 5), 1400..1600, stall);
        assert_eq!(Counters::get(&counters.underruns), under);
        assert_eq!(Counters::get(&counters.late_frames), late);
        // Two quiet minutes: back at the floor, the schedule earlier again.
        run_grid(&mut p, &mut ap, &mut sp, (t, 5), 1600..14_000, stall);
        let end = p.margin();
        assert_eq!(end.final_s, 0.001, "{end:?}");
        assert_eq!(Counters::get(&counters.underruns), under);
        let h = p.into_histograms().arrival_to_playback;
        // Ready 1 ms after arrival, 1 ms margin and headroom: the last
        // frames heard within a block of that.
        let last_p50 = h.value_at_quantile(0.5) as f64 / 1e6;
        assert!(last_p50 < 1.0 + 1.0 + 5.0 + 0.5, "p50 {last_p50} ms");
    }

    #[test]
    fn a_fixed_margin_does_not_grow() {
        let (mut ap, mut sp, mut p, counters) = player_with(5, 1, false);
        let t = Instant::now();
        let stall = |k: u64| if k.is_multiple_of(500) && k > 0 { 9 } else { 1 };
        run_grid(&mut p, &mut ap, &mut sp, (t, 5), 0..3000, stall);
        let m = p.margin();
        assert!(!m.adaptive);
        assert_eq!((m.raises, m.final_s, m.peak_s), (0, 0.001, 0.001));
        // Each stall was cut: the fixed margin did not learn it.
        assert!(Counters::get(&counters.late_frames) >= 4);
    }

    #[test]
    fn a_backlog_beyond_the_limit_is_dropped_in_whole_hops() {
        let (mut ap, mut sp, mut p, counters) = player(10, 0);
        let t = Instant::now();
        // 300 samples (30 frames) queued at once.
        for f in 0..30 {
            push(&mut ap, &mut sp, f, t, f as f32);
        }
        let mut out = [0.0f32; 10];
        // The newest is heard 20 ms after arrival; at 10 ms only the frame
        // before it still fits in front of it.
        assert!(!p.fill(&mut out, t + ms(10), t + ms(10)));
        assert_eq!(out, [28.0; 10]);
        assert_eq!(Counters::get(&counters.dropped_frames), 28);
    }

    #[test]
    fn a_lost_stream_primes_again_instead_of_cutting() {
        let (mut ap, mut sp, mut p, counters) = player(10, 0);
        let t = Instant::now();
        push(&mut ap, &mut sp, 0, t, 1.0);
        let mut out = [0.0f32; 10];
        for b in 0..3 {
            assert!(!p.fill(&mut out, t + ms(10 * b), t + ms(10 * b)));
        }
        assert_eq!(out, [1.0; 10]);
        // 200 ms without audio: one underrun (blocks that run dry one after
        // another count once), then, past 100 ms, waiting to start afresh.
        for b in 3..23 {
            p.fill(&mut out, t + ms(10 * b), t + ms(10 * b));
        }
        assert_eq!(Counters::get(&counters.underruns), 1);
        // The stream is back: the new frame is heard 20 ms after arrival,
        // not cut.
        push(&mut ap, &mut sp, 1, t + ms(225), 7.0);
        assert!(!p.fill(&mut out, t + ms(230), t + ms(230)));
        assert_eq!(out, [0.0; 10]);
        assert!(!p.fill(&mut out, t + ms(240), t + ms(240)));
        assert_eq!(out, [0.0, 0.0, 0.0, 0.0, 0.0, 7.0, 7.0, 7.0, 7.0, 7.0]);
        assert_eq!(Counters::get(&counters.late_frames), 0);
    }
}
