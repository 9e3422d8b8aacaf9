//! The headless sink: a thread that consumes fixed blocks at the audio rate,
//! paced by the monotonic clock (the ALSA `null` device is not paced), so a
//! server without a sound card measures the latency a device would give.
//!
//! It stands for a device with no output latency whose blocks are due on a
//! fixed grid. Each block is taken, and heard, when the thread actually ran
//! (never at its ideal due time), so the thread's own late wake-ups show in
//! `arrival_to_playback` and `sensor_to_sound`. A wake-up a whole block or
//! more late is an underrun (a device would have had nothing for that
//! block): counted in `underruns`, the grid restarts from then, and the
//! audio whose time passed meanwhile is cut ([`Player::lost`]), so the
//! stall does not stay in the latency of every later frame.

use super::Player;
use crate::live::rings::Counters;
use crossbeam_channel::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::live::Control;

/// Runs the paced sink until told to stop; returns the player (with the
/// histograms of the frames heard).
pub fn run(
    player: Player,
    block: usize,
    rate: u32,
    counters: Arc<Counters>,
    control: Receiver<Control>,
) -> Player {
    run_with(player, block, rate, counters, control, |_| {})
}

/// [`run`], calling `before_block(b)` after the wait for block `b` and
/// before it is taken (a stall there is a late wake-up).
pub fn run_with(
    mut player: Player,
    block: usize,
    rate: u32,
    counters: Arc<Counters>,
    control: Receiver<Control>,
    mut before_block: impl FnMut(u64),
) -> Player {
    let mut out = vec![0.0f32; block];
    let period = Duration::from_secs_f64(block as f64 / rate as f64);
    let mut start = Instant::now();
    let mut b: u32 = 0;
    let mut taken: u64 = 0;
    loop {
        if Control::should_stop(&control) {
            break;
        }
        let due = start + period * b;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        before_block(taken);
        let now = Instant::now();
        let late = now.saturating_duration_since(due);
        if late >= period {
            // The device played silence while this thread slept.
            Counters::add(&counters.underruns, 1);
            player.lost((late.as_secs_f64() * f64::from(rate)).round() as usize, now);
            start = now;
            b = 0;
        }
        player.fill(&mut out, now, now);
        b = b.wrapping_add(1);
        taken += 1;
    }
    player
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::rings::{FrameStamp, ring};
    use crate::live::sinks::PlayerConfig;
    use crate::pipeline::latency::PlaybackHistograms;
    use ringbuf::traits::Producer;

    /// Runs the sink on 10 ms blocks of 10 ms frames, each pushed once the
    /// clock reaches its arrival (as a worker that is not stalled would),
    /// with the thread stalling for `stall` before block 40; returns the
    /// player and the counters.
    fn stalled(stall: Duration) -> (Player, Arc<Counters>) {
        let (mut ap, ac) = ring::<f32>(16_000);
        let (mut sp, sc) = ring::<FrameStamp>(100);
        let counters = Arc::new(Counters::default());
        let config = PlayerConfig {
            margin: Duration::ZERO,
            adaptive: false,
            block: 160,
            hop: 160,
            rate: 16_000,
            fixed: Duration::ZERO,
        };
        let player = Player::new(
            ac,
            sc,
            config,
            PlaybackHistograms::default(),
            counters.clone(),
        );
        let (tx, rx) = crossbeam_channel::unbounded();
        let period = Duration::from_millis(10);
        let mut first: Option<Instant> = None;
        let mut next: u32 = 0;
        let player = run_with(player, 160, 16_000, counters.clone(), rx, |b| {
            let t0 = *first.get_or_insert_with(Instant::now);
            if b == 40 {
                std::thread::sleep(stall);
            }
            while t0 + period * next <= Instant::now() {
                let arrival = t0 + period * next;
                ap.push_slice(&[0.0; 160]);
                let _ = sp.try_push(FrameStamp {
                    audio_index: u64::from(next) * 160,
                    arrival,
                    ready: arrival,
                    transport: None,
                });
                next += 1;
            }
            if b == 80 {
                let _ = tx.send(Control::Stop);
            }
        });
        (player, counters)
    }

    #[test]
    fn a_late_wake_up_shows_as_lateness() {
        // 6 ms late, less than a block: the frames it takes are heard at
        // least that late, by the sink's real wake-up time.
        let (player, _) = stalled(Duration::from_millis(6));
        let heard = player.into_histograms().arrival_to_playback;
        assert!(heard.len() > 60, "{} frames heard", heard.len());
        let max_ms = heard.max() as f64 / 1e6;
        assert!(
            max_ms >= 6.0,
            "latest frame heard {max_ms} ms after arrival"
        );
    }

    #[test]
    fn a_stalled_wake_up_is_an_underrun_and_the_audio_it_missed_is_cut() {
        // 30 ms late, three blocks: the device played silence (an
        // underrun), the frames whose time passed are cut, and playback
        // goes on.
        let (player, counters) = stalled(Duration::from_millis(30));
        assert!(Counters::get(&counters.underruns) >= 1);
        assert!(Counters::get(&counters.late_frames) >= 1);
        let heard = player.into_histograms().arrival_to_playback;
        assert!(heard.len() > 60, "{} frames heard", heard.len());
    }
}
