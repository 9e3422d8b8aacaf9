//! The headless sink: a thread that consumes fixed blocks at the audio rate,
//! paced by the monotonic clock (the ALSA `null` device is not paced), so a
//! server without a sound card measures the latency a device would give.
//! Each block is timed by the clock when the thread actually ran, never by
//! its ideal schedule, so the sink's own late wake-ups count.

use super::Player;
use crossbeam_channel::Receiver;
use std::time::{Duration, Instant};

pub use crate::live::Control;

/// Runs the paced sink until told to stop; returns the player (with its
/// histograms of the frames heard).
pub fn run(mut player: Player, block: usize, rate: u32, control: Receiver<Control>) -> Player {
    let mut out = vec![0.0f32; block];
    let period = Duration::from_secs_f64(block as f64 / rate as f64);
    let start = Instant::now();
    let mut b: u32 = 0;
    loop {
        if Control::should_stop(&control) {
            break;
        }
        // The block starts playing at its due time.
        let due = start + period * b;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        // Timed by the real clock when it ran, not by its due time: a late
        // wake-up makes frames late and is measured as such.
        let now = Instant::now();
        player.fill(&mut out, now, now);
        b = b.wrapping_add(1);
    }
    player
}
