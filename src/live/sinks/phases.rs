//! What a session's arrival-to-playback latency would have been at other sink grid
//! phases: the frames of one session (arrival and ready times, as `run
//! --csv` records them) replayed through the real [`Player`] on a virtual
//! clock, with the null sink's block grid started at a range of offsets.
//!
//! With the null sink and a source on the same clock, where the sink's
//! blocks fall against the frames is fixed for a whole session, and it
//! moves the latency by up to gcd(hop, block) (2 ms for 10 ms frames in
//! 8 ms blocks); a sound card's clock drifts through every phase. One
//! session's figure is therefore one draw; the sweep gives the spread.

use super::{Player, PlayerConfig};
use crate::live::rings::{Counters, FrameStamp, ring};
use crate::pipeline::latency::PlaybackHistograms;
use hdrhistogram::Histogram;
use ringbuf::traits::{Observer, Producer};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One decoded frame's times, in nanoseconds on any one clock.
#[derive(Clone, Copy, Debug)]
pub struct FrameTimes {
    /// Arrival of the frame's newest EEG sample.
    pub arrival_ns: u64,
    /// When its audio was ready for the sink.
    pub ready_ns: u64,
}

/// The session replayed with the sink's grid at one offset.
#[derive(Clone, Debug)]
pub struct PhaseOutcome {
    /// Offset of the grid's first block after the first frame's arrival.
    pub offset_ms: f64,
    pub arrival_to_playback: Histogram<u64>,
    pub underruns: u64,
    pub late_frames: u64,
    pub latency_adjustments: u64,
}

/// Replays `frames` (every frame's audio `config.hop` samples, one after
/// another) into a clock-paced sink whose first block is taken
/// `offset_ms` after the first frame's arrival.
pub fn replay_at(frames: &[FrameTimes], config: PlayerConfig, offset_ms: f64) -> PhaseOutcome {
    let counters = Arc::new(Counters::default());
    let mut outcome = PhaseOutcome {
        offset_ms,
        arrival_to_playback: crate::pipeline::latency::histogram(),
        underruns: 0,
        late_frames: 0,
        latency_adjustments: 0,
    };
    let Some(first) = frames.first() else {
        return outcome;
    };
    let hop = config.hop.max(1);
    let (mut audio, audio_c) = ring::<f32>(config.rate as usize + 4 * hop);
    let (mut stamps, stamps_c) = ring::<FrameStamp>(config.rate as usize / hop + 4);
    let mut player = Player::new(
        audio_c,
        stamps_c,
        config,
        PlaybackHistograms::default(),
        counters.clone(),
    );
    let t0 = Instant::now();
    let at = |ns: u64| t0 + Duration::from_nanos(ns);
    let period = Duration::from_secs_f64(config.block as f64 / config.rate as f64);
    let start = at(first.arrival_ns) + Duration::from_secs_f64(offset_ms / 1000.0);
    let silence = vec![0.0f32; hop];
    let mut out = vec![0.0f32; config.block.max(1)];
    let mut next = 0;
    let mut b: u32 = 0;
    loop {
        let now = start + period * b;
        // The end of the frames is not an underrun.
        if next == frames.len() && audio.occupied_len() < out.len() {
            break;
        }
        while let Some(f) = frames.get(next).filter(|f| at(f.ready_ns) <= now) {
            audio.push_slice(&silence);
            let _ = stamps.try_push(FrameStamp {
                audio_index: (next * hop) as u64,
                arrival: at(f.arrival_ns),
                ready: at(f.ready_ns),
                transport: None,
            });
            next += 1;
        }
        player.fill(&mut out, now, now);
        b += 1;
    }
    outcome.arrival_to_playback = player.into_histograms().arrival_to_playback;
    outcome.underruns = Counters::get(&counters.underruns);
    outcome.late_frames = Counters::get(&counters.late_frames);
    outcome.latency_adjustments = Counters::get(&counters.latency_adjustments);
    outcome
}

/// [`replay_at`] at `steps` offsets evenly spaced over one phase step
/// ([`PlayerConfig::phase_step`]): every grid phase the frames can meet.
pub fn sweep(frames: &[FrameTimes], config: PlayerConfig, steps: usize) -> Vec<PhaseOutcome> {
    let step_ms = config.phase_step() as f64 * 1000.0 / config.rate as f64;
    (0..steps)
        .map(|i| replay_at(frames, config, step_ms * i as f64 / steps as f64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(margin_ms: f64) -> PlayerConfig {
        PlayerConfig {
            margin: Duration::from_secs_f64(margin_ms / 1000.0),
            adaptive: false,
            block: 128,
            hop: 160,
            rate: 16000,
            fixed: Duration::ZERO,
        }
    }

    /// Frames every 10 ms, each ready `compute_ms` after arrival.
    fn steady(n: u64, compute_ms: f64) -> Vec<FrameTimes> {
        (0..n)
            .map(|k| FrameTimes {
                arrival_ns: 1_000_000 + k * 10_000_000,
                ready_ns: 1_000_000 + k * 10_000_000 + (compute_ms * 1e6) as u64,
            })
            .collect()
    }

    #[test]
    fn the_grid_phase_moves_steady_latency_by_up_to_one_phase_step() {
        // Ready 1 ms after arrival, a 0.5 ms margin: the frame at the worst of
        // the four block phases must be ready 6 ms + the grid's offset (0 to
        // 2 ms) + the margin before it is heard.
        let frames = steady(3000, 1.0);
        let outcomes = sweep(&frames, config(0.5), 8);
        assert_eq!(outcomes.len(), 8);
        let mut p50s = Vec::new();
        for o in &outcomes {
            assert_eq!(o.underruns, 0, "offset {} ms", o.offset_ms);
            assert_eq!(o.late_frames, 0, "offset {} ms", o.offset_ms);
            let p50 = o.arrival_to_playback.value_at_quantile(0.5) as f64 / 1e6;
            // 1 + 6 + 0.5, plus the player's 0.25 ms headroom, plus the phase;
            // it moves earlier only by 0.75 ms or more, hence the upper bound.
            assert!(
                (7.5..10.3).contains(&p50),
                "offset {} ms: p50 {p50}",
                o.offset_ms
            );
            p50s.push(p50);
        }
        let spread = p50s.iter().cloned().fold(f64::MIN, f64::max)
            - p50s.iter().cloned().fold(f64::MAX, f64::min);
        assert!(spread > 1.0, "p50 over phases {p50s:?}");
    }

    #[test]
    fn frames_later_than_every_block_are_cut_at_every_phase() {
        // Every 100th frame is ready 12 ms after arrival, later than any
        // block phase allows: it is cut (with the frame it holds up, at some
        // phases), at every phase.
        let mut frames = steady(2000, 1.0);
        for f in frames.iter_mut().skip(100).step_by(100) {
            f.ready_ns += 11_000_000;
        }
        for o in sweep(&frames, config(0.5), 4) {
            assert!(
                o.late_frames >= 19,
                "offset {}: {}",
                o.offset_ms,
                o.late_frames
            );
            assert!(o.underruns >= 19, "offset {}: {}", o.offset_ms, o.underruns);
        }
    }

    #[test]
    fn no_frames_replay_to_nothing() {
        let o = replay_at(&[], config(0.5), 0.0);
        assert_eq!(o.arrival_to_playback.len(), 0);
        assert_eq!(o.underruns, 0);
    }
}
