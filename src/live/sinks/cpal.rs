//! The sound-device sink through cpal. The only module that names cpal.
//!
//! The callback never blocks: it pulls what the audio ring holds through the
//! [`Player`] (silence and an underrun count when it runs dry), resamples
//! linearly to the device rate when that differs from the vocoder's, and
//! copies into every output channel. The playback instant cpal reports for
//! the buffer (`OutputCallbackInfo`'s playback − callback instant: the
//! device's own latency) times each frame's arrival-to-playback and
//! sensor-to-sound latency, and is the budget's `device` part.
//!
//! The period asked for is the session's block (converted to the device
//! rate) with `BufferSize::Fixed`; a device that refuses it is asked for
//! twice as much, up to [`MAX_DOUBLINGS`] times, then for its own default.
//! cpal's ALSA host buffers two periods. A device that takes audio faster
//! than it plays (ALSA `null`) is paced by the clock ([`super::pacer`]).
//!
//! cpal's callback thread is cpal's: the `audio` feature turns on cpal's
//! `realtime`, whose ALSA backend (cpal 0.18.2, `host/alsa/mod.rs`) calls
//! `audio_thread_priority::promote_current_thread_to_real_time(period, rate)`
//! at the start of the stream's worker thread, only for PCM types that never
//! spin or chain to a sound server (hw, linear, float, ...: not `null`,
//! `plug`, `rate`, `softvol` or ioplug/PulseAudio ones), and passes a refusal to
//! the error callback. cpal depends on `audio_thread_priority` without its
//! default `with_dbus` feature, and without it that crate's Linux promotion is
//! a no-op that returns success: on Linux the callback keeps its scheduling
//! unless cpal's `realtime-dbus` is on (RealtimeKit over D-Bus, which needs
//! libdbus and a running rtkit daemon) or the process was started under
//! `chrt`. The session reports it as `cpal-callback` (see `live::realtime`).

use super::Player;
use super::blocks::MAX_DOUBLINGS;
use super::pacer::{PaceMode, Pacer};
use crate::live::rings::{Counters, ring};
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use ringbuf::traits::{Consumer, Producer};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// Errors of the sound-device sink.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// No usable output device.
    #[error(
        "no sound output device {which} is available ({reason}); on a machine without a sound card \
         use --audio null (a clock-paced headless sink) and --wav OUT.wav to keep the audio"
    )]
    NoDevice { which: String, reason: String },
    /// The device refused the stream.
    #[error(
        "the sound device {device} refused an output stream ({reason}); try another device \
         (`--audio NAME`) or --audio null"
    )]
    Stream { device: String, reason: String },
}

/// Largest device buffer the callback resamples in one go, in samples at
/// the vocoder rate.
const SCRATCH: usize = 1 << 15;

/// Linear resampler from the vocoder rate to the device rate, pulling its
/// input as the device asks for output.
///
/// Input positions count from `prev`, the last sample pulled (position 0);
/// `before` is the one before it (position -1) and freshly pulled samples
/// sit at 1, 2, ... The next output sample lies at `pos`, which never falls
/// below -1: each render pulls exactly the samples its last output needs,
/// which can leave the next output just behind `prev`.
struct Resampler {
    /// Input samples per output sample.
    step: f64,
    pos: f64,
    before: f32,
    prev: f32,
    scratch: Vec<f32>,
}

impl Resampler {
    fn new(from_hz: u32, to_hz: u32) -> Self {
        Self {
            step: f64::from(from_hz) / f64::from(to_hz.max(1)),
            pos: 0.0,
            before: 0.0,
            prev: 0.0,
            scratch: vec![0.0; SCRATCH],
        }
    }

    /// Fills `out`, interleaved with `channels` channels that all get the
    /// same signal, with input that `pull` writes into the slice it is given.
    fn render(&mut self, out: &mut [f32], channels: usize, pull: impl FnOnce(&mut [f32])) {
        let channels = channels.max(1);
        let frames = out.len() / channels;
        if frames == 0 {
            return;
        }
        let last = self.pos + (frames - 1) as f64 * self.step;
        let need = ((last.floor() + 1.0).max(0.0) as usize).min(SCRATCH);
        pull(&mut self.scratch[..need]);
        let (before, prev, fresh) = (self.before, self.prev, &self.scratch[..need]);
        let sample = |m: i64| -> f32 {
            match m {
                ..=-1 => before,
                0 => prev,
                _ => fresh
                    .get(m as usize - 1)
                    .or(fresh.last())
                    .copied()
                    .unwrap_or(prev),
            }
        };
        for (i, frame) in out.chunks_mut(channels).enumerate() {
            let x = self.pos + i as f64 * self.step;
            let k = x.floor();
            let frac = (x - k) as f32;
            let (a, b) = (sample(k as i64), sample(k as i64 + 1));
            frame.fill(a + (b - a) * frac);
        }
        match need {
            0 => {}
            1 => (self.before, self.prev) = (self.prev, fresh[0]),
            n => (self.before, self.prev) = (fresh[n - 2], fresh[n - 1]),
        }
        self.pos += frames as f64 * self.step - need as f64;
    }
}

/// A running output stream.
pub struct DeviceSink {
    stream: cpal::Stream,
    description: String,
    stop: Arc<AtomicBool>,
    back: ringbuf::HeapCons<Player>,
}

/// A device with its stream configuration chosen, not yet playing.
pub struct OpenDevice {
    device: cpal::Device,
    label: String,
    config: cpal::StreamConfig,
    block: usize,
    rate: u32,
}

fn pick_device(name: Option<&str>) -> Result<cpal::Device, AudioError> {
    let host = cpal::default_host();
    let which = name.map_or("(default)".to_string(), |n| format!("{n:?}"));
    let no = |reason: String| AudioError::NoDevice {
        which: which.clone(),
        reason,
    };
    match name {
        None | Some("default") => host
            .default_output_device()
            .ok_or_else(|| no("the host has no default output device".into())),
        Some(n) => {
            let devices = host.output_devices().map_err(|e| no(e.to_string()))?;
            let mut names = Vec::new();
            for d in devices {
                let label = d
                    .description()
                    .map(|x| x.name().to_string())
                    .unwrap_or_default();
                let id = d.id().map(|x| x.to_string()).unwrap_or_default();
                if label == n || id == n {
                    return Ok(d);
                }
                names.push(format!("{label} [{id}]"));
            }
            Err(no(format!("the output devices are: {}", names.join(", "))))
        }
    }
}

/// Device frames for a period of `block` samples at `rate`, inside the
/// range the device supports (`None` when it does not say).
fn period_frames(block: usize, rate: u32, supported: &cpal::SupportedStreamConfig) -> Option<u32> {
    let frames = (block as u64 * u64::from(supported.sample_rate()))
        .div_ceil(u64::from(rate).max(1))
        .max(1);
    let frames = u32::try_from(frames).unwrap_or(u32::MAX);
    match supported.buffer_size() {
        cpal::SupportedBufferSize::Range { min, max } => Some(frames.clamp(*min, (*max).max(*min))),
        cpal::SupportedBufferSize::Unknown => None,
    }
}

/// Whether the device opens an output stream with periods of `frames`:
/// tried with a silent stream that is closed at once, before the real one.
fn accepts_period(device: &cpal::Device, config: &cpal::StreamConfig, frames: u32) -> bool {
    let mut probe = *config;
    probe.buffer_size = cpal::BufferSize::Fixed(frames);
    device
        .build_output_stream::<f32, _, _>(
            probe,
            |out: &mut [f32], _: &cpal::OutputCallbackInfo| out.fill(0.0),
            |_| {},
            None,
        )
        .is_ok()
}

impl OpenDevice {
    /// Opens the device for audio at `rate` Hz and picks its period: `block`
    /// samples at `rate` (converted to the device rate) when it accepts
    /// them, else twice as many, up to [`MAX_DOUBLINGS`] times, else its own
    /// default.
    pub fn open(name: Option<&str>, rate: u32, block: usize) -> Result<Self, AudioError> {
        let device = pick_device(name)?;
        let label = device
            .description()
            .map(|d| d.name().to_string())
            .unwrap_or_else(|_| "(unnamed)".into());
        let supported = device
            .default_output_config()
            .map_err(|e| AudioError::NoDevice {
                which: label.clone(),
                reason: e.to_string(),
            })?;
        let candidates: Vec<(usize, u32)> = (0..=MAX_DOUBLINGS)
            .filter_map(|i| {
                let b = block.max(1) << i;
                period_frames(b, rate, &supported).map(|f| (b, f))
            })
            .collect();
        let mut config: cpal::StreamConfig = supported.into();
        let chosen = candidates
            .into_iter()
            .find(|&(_, frames)| accepts_period(&device, &config, frames));
        config.buffer_size = match chosen {
            Some((_, frames)) => cpal::BufferSize::Fixed(frames),
            None => cpal::BufferSize::Default,
        };
        Ok(Self {
            device,
            label,
            config,
            block: chosen.map_or(block, |(b, _)| b),
            rate,
        })
    }

    /// The block the player should use: the period in samples at the audio
    /// rate (the block asked for when the device keeps its own default).
    pub fn block(&self) -> usize {
        self.block
    }

    /// The period in device frames, when the device accepted one.
    pub fn period_frames(&self) -> Option<u32> {
        match self.config.buffer_size {
            cpal::BufferSize::Fixed(f) => Some(f),
            cpal::BufferSize::Default => None,
        }
    }

    /// The device's rate in Hz.
    pub fn device_rate(&self) -> u32 {
        self.config.sample_rate
    }

    /// Starts playing `player`'s audio; the callback counts the underruns
    /// of an unpaced device in `counters`. Returns once the first callbacks
    /// have shown whether the device paces itself (at most a second).
    pub fn start(self, player: Player, counters: Arc<Counters>) -> Result<DeviceSink, AudioError> {
        let Self {
            device,
            label,
            config,
            rate,
            ..
        } = self;
        let channels = config.channels as usize;
        let mut resampler = Resampler::new(rate, config.sample_rate);
        let mut pacer = Pacer::new(config.sample_rate);
        let mode = Arc::new(AtomicU8::new(0));
        let mode_cb = mode.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let (mut back_p, back_c) = ring::<Player>(1);
        let mut player = Some(player);
        let stop_cb = stop.clone();
        let data = move |out: &mut [f32], info: &cpal::OutputCallbackInfo| {
            let Some(p) = player.as_mut() else {
                out.fill(0.0);
                return;
            };
            if stop_cb.load(Ordering::Relaxed) {
                out.fill(0.0);
                if let Some(p) = player.take() {
                    let _ = back_p.try_push(p);
                }
                return;
            }
            let pace = pacer.before(Instant::now(), out.len() / channels.max(1));
            if let Some(until) = pace.wait_until {
                // Only on a device that takes audio at once: the wait its
                // poll would have done.
                std::thread::sleep(until.saturating_duration_since(Instant::now()));
            }
            if let Some(dry) = pace.dry {
                Counters::add(&counters.underruns, 1);
                p.lost(
                    (dry.as_secs_f64() * f64::from(rate)).round() as usize,
                    Instant::now(),
                );
            }
            mode_cb.store(mode_code(pacer.mode()), Ordering::Relaxed);
            let ts = info.timestamp();
            let now = Instant::now();
            let play_at = now + ts.playback.duration_since(ts.callback);
            resampler.render(out, channels, |input| {
                p.fill(input, now, play_at);
            });
        };
        let err = |e: cpal::Error| tracing::warn!("sound device: {e}");
        let stream = device
            .build_output_stream::<f32, _, _>(config, data, err, None)
            .map_err(|e| AudioError::Stream {
                device: label.clone(),
                reason: e.to_string(),
            })?;
        stream.play().map_err(|e| AudioError::Stream {
            device: label.clone(),
            reason: e.to_string(),
        })?;
        let deadline = Instant::now() + Duration::from_secs(1);
        while mode.load(Ordering::Relaxed) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        let pacing = match mode.load(Ordering::Relaxed) {
            1 => "paced by the device",
            2 => "paced by the clock (the device takes audio at once)",
            _ => "not called back yet",
        };
        let description = format!(
            "{label}: {} Hz, {} channel(s), period {}, {pacing}",
            config.sample_rate,
            config.channels,
            match config.buffer_size {
                cpal::BufferSize::Fixed(f) => format!(
                    "{f} frames ({:.2} ms)",
                    f64::from(f) * 1000.0 / f64::from(config.sample_rate)
                ),
                cpal::BufferSize::Default => "the device's default".into(),
            }
        );
        Ok(DeviceSink {
            stream,
            description,
            stop,
            back: back_c,
        })
    }
}

/// The pacer's mode as the callback publishes it: 0 until decided.
fn mode_code(m: PaceMode) -> u8 {
    match m {
        PaceMode::Probing => 0,
        PaceMode::Device => 1,
        PaceMode::Clock => 2,
    }
}

impl DeviceSink {
    /// The device, its rate, channels and period, as opened.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Stops the stream and returns the player, with the histograms of the
    /// frames the callback played (`None` if the device never gave it back).
    pub fn stop(mut self) -> Option<Player> {
        self.stop.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(1);
        let player = loop {
            if let Some(p) = self.back.try_pop() {
                break Some(p);
            }
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        drop(self.stream);
        player
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The input signal: far from linear between samples, so an output
    /// extrapolated instead of interpolated is caught.
    fn signal(m: usize) -> f32 {
        (0.7 * m as f64).sin() as f32
    }

    /// Renders `sizes` device buffers (stereo) from `signal` through a
    /// resampler and checks every output against linear interpolation of
    /// the signal at its exact position, whatever the buffer boundaries.
    fn check(from_hz: u32, to_hz: u32, sizes: &[usize]) {
        let mut r = Resampler::new(from_hz, to_hz);
        let mut next_in = 1; // signal(0) = 0 is the initial `prev`
        let mut out_index = 0usize;
        for &frames in sizes {
            let mut out = vec![f32::NAN; 2 * frames];
            r.render(&mut out, 2, |input| {
                for x in input.iter_mut() {
                    *x = signal(next_in);
                    next_in += 1;
                }
            });
            for pair in out.chunks(2) {
                let x = out_index as f64 * f64::from(from_hz) / f64::from(to_hz);
                let k = x.floor() as usize;
                let want = signal(k) + (signal(k + 1) - signal(k)) * (x - k as f64) as f32;
                assert!(
                    (pair[0] - want).abs() < 1e-4,
                    "{from_hz}->{to_hz} Hz, output {out_index}: got {}, want {want}",
                    pair[0]
                );
                assert_eq!(pair[0], pair[1], "channels differ at output {out_index}");
                out_index += 1;
            }
        }
        let consumed = (out_index - 1) as f64 * f64::from(from_hz) / f64::from(to_hz);
        assert!(
            next_in - 1 <= consumed.floor() as usize + 1,
            "pulled {} input samples for outputs up to position {consumed}",
            next_in - 1
        );
    }

    #[test]
    fn upsampling_matches_interpolation_across_any_buffer_boundaries() {
        check(
            16_000,
            48_000,
            &[385, 384, 1, 2, 7, 1000, 383, 1, 1, 1, 512],
        );
        check(16_000, 44_100, &[441, 1, 13, 1024, 3, 2048, 5]);
    }

    #[test]
    fn equal_rates_and_downsampling_match_interpolation() {
        check(16_000, 16_000, &[128, 1, 77, 512]);
        check(48_000, 16_000, &[100, 1, 33, 256]);
    }
}
