//! Pacing a sound device that takes audio faster than real time.
//!
//! A sound card calls back when its buffer has room, so its callbacks come
//! at the audio rate. ALSA's `null` device (and other discarding devices)
//! has room at once, every time: its callbacks come back to back, the
//! player's queue runs dry after every frame, and its underruns and latency
//! mean nothing. The cpal sink therefore watches its first [`PROBE`]
//! callbacks: when they asked for audio more than four times faster than it
//! plays, the device is *unpaced*, and from then on each callback first
//! waits until its block is due on the monotonic clock, the wait a real
//! device's poll would have done, and a callback that comes a whole block
//! after its due time is an underrun (the grid restarts from it, and the
//! audio whose time passed is cut), as on the null sink. A device that
//! paces itself is never waited for; one whose own default buffer (kept
//! when it refuses a fixed period) holds more than [`PROBE`] periods fills
//! it in its first callbacks, looks unpaced, and is then fed at the audio
//! rate, which keeps that buffer full. The device latency cpal reports
//! (playback − callback instant, zero on `null`) is counted either way.

use std::time::{Duration, Instant};

/// Callbacks watched before deciding whether the device paces itself.
pub const PROBE: u32 = 8;
/// An unpaced device asked for audio more than this many times faster than
/// it plays.
const UNPACED_SPEED: f64 = 4.0;

/// What the pacer has found out about the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaceMode {
    /// Still watching the first callbacks.
    Probing,
    /// The device calls back at the audio rate: nothing to do.
    Device,
    /// The device takes audio at once: callbacks wait for the clock.
    Clock,
}

/// What a callback does before it fills its block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pace {
    /// Wait until then (only for an unpaced device).
    pub wait_until: Option<Instant>,
    /// The callback came a whole block or more after its due time: the
    /// device ran dry for this long (an underrun).
    pub dry: Option<Duration>,
}

/// See the module documentation.
#[derive(Clone, Copy, Debug)]
pub struct Pacer {
    mode: PaceMode,
    rate: f64,
    callbacks: u32,
    /// The first callback (probing), or the clock's start (pacing).
    t0: Option<Instant>,
    /// Device frames asked for since `t0`.
    frames: u64,
}

impl Pacer {
    /// A pacer for a device at `rate` frames per second.
    pub fn new(rate: u32) -> Self {
        Self {
            mode: PaceMode::Probing,
            rate: f64::from(rate.max(1)),
            callbacks: 0,
            t0: None,
            frames: 0,
        }
    }

    pub fn mode(&self) -> PaceMode {
        self.mode
    }

    /// Called at the start of a callback at `now` asking for `frames`
    /// device frames.
    #[inline]
    pub fn before(&mut self, now: Instant, frames: usize) -> Pace {
        let go = Pace {
            wait_until: None,
            dry: None,
        };
        match self.mode {
            PaceMode::Device => go,
            PaceMode::Probing => {
                let t0 = *self.t0.get_or_insert(now);
                self.callbacks += 1;
                if self.callbacks >= PROBE {
                    let asked = self.frames as f64 / self.rate;
                    let took = now.saturating_duration_since(t0).as_secs_f64();
                    if took * UNPACED_SPEED < asked {
                        self.mode = PaceMode::Clock;
                        self.t0 = Some(now);
                        self.frames = frames as u64;
                        return go;
                    }
                    self.mode = PaceMode::Device;
                }
                self.frames += frames as u64;
                go
            }
            PaceMode::Clock => {
                let t0 = *self.t0.get_or_insert(now);
                let due = t0 + self.seconds(self.frames);
                let block = self.seconds(frames as u64);
                let mut pace = go;
                let late = now.saturating_duration_since(due);
                if now < due {
                    pace.wait_until = Some(due);
                } else if late >= block {
                    pace.dry = Some(late);
                    self.t0 = Some(now);
                    self.frames = 0;
                }
                self.frames += frames as u64;
                pace
            }
        }
    }

    fn seconds(&self, frames: u64) -> Duration {
        Duration::from_secs_f64(frames as f64 / self.rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_device_calling_back_at_the_audio_rate_is_left_alone() {
        // 48 frames (1 ms) a callback at 48 kHz, one every millisecond after
        // the two that fill its buffer.
        let mut p = Pacer::new(48_000);
        let t = Instant::now();
        for k in 0..100u64 {
            let now = t + ms(k.saturating_sub(1));
            let pace = p.before(now, 48);
            assert_eq!(pace, Pace::default());
        }
        assert_eq!(p.mode(), PaceMode::Device);
    }

    #[test]
    fn a_device_taking_audio_at_once_waits_for_the_clock_and_a_late_callback_is_an_underrun() {
        let mut p = Pacer::new(1000);
        let t = Instant::now();
        // Eight callbacks of 10 frames (10 ms) within 1 µs of each other.
        for k in 0..PROBE {
            let pace = p.before(t + Duration::from_nanos(k.into()), 10);
            assert_eq!(pace.wait_until, None);
        }
        assert_eq!(p.mode(), PaceMode::Clock);
        let start = t + Duration::from_nanos(7);
        // Back to back again: each waits for its block's due time.
        assert_eq!(p.before(start, 10).wait_until, Some(start + ms(10)));
        // Called at its due time: no wait, no underrun.
        assert_eq!(p.before(start + ms(20), 10), Pace::default());
        // 25 ms after its due time of 30 ms: 25 ms of silence were played.
        let late = start + ms(55);
        assert_eq!(p.before(late, 10).dry, Some(ms(25)));
        // The grid restarts there.
        assert_eq!(p.before(late, 10).wait_until, Some(late + ms(10)));
    }
}
