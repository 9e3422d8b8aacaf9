//! The headless sink: a thread that consumes fixed blocks at the audio rate,
//! paced by the monotonic clock (the ALSA `null` device is not paced), so a
//! server without a sound card measures the latency a device would give.
//!
//! It stands for a device with no output latency whose blocks are due on a
//! fixed grid. Each block is taken, and heard, when the thread actually ran
//! (never at its ideal due time), so the thread's own late wake-ups show in
//! `arrival_to_playback` and `sensor_to_sound`. A wake-up a whole block or
//! more late is an underrun (a device would have had nothing for that
//! block): counted in `underruns`, and the grid restarts from then.

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
        if now.saturating_duration_since(due) >= period {
            // The device played a block of silence while this thread slept.
            Counters::add(&counters.underruns, 1);
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

    #[test]
    fn a_stalled_wake_up_shows_as_lateness_and_an_underrun() {
        // Frames of one block (10 ms at 16 kHz), each arriving on its ideal
        // schedule and pushed just before its block is taken; the thread
        // stalls 30 ms before block 40, as a descheduled sink would.
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
        let stall = Duration::from_millis(30);
        let mut first: Option<Instant> = None;
        let player = run_with(player, 160, 16_000, counters.clone(), rx, |b| {
            let t0 = *first.get_or_insert_with(Instant::now);
            if b == 40 {
                std::thread::sleep(stall);
            }
            let arrival = t0 + period * b as u32;
            ap.push_slice(&[0.0; 160]);
            let _ = sp.try_push(FrameStamp {
                audio_index: b * 160,
                arrival,
                ready: arrival,
                transport: None,
            });
            if b == 80 {
                let _ = tx.send(Control::Stop);
            }
        });
        let heard = player.into_histograms().arrival_to_playback;
        assert!(heard.len() > 40, "{} frames heard", heard.len());
        // The frames after the stall were heard at least the stall late:
        // the sink's real wake-up times, not its ideal schedule.
        let max_ms = heard.max() as f64 / 1e6;
        assert!(
            max_ms >= 30.0,
            "latest frame heard {max_ms} ms after arrival"
        );
        assert!(Counters::get(&counters.underruns) >= 1);
    }
}
