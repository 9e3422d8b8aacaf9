//! The sound-device sink through cpal. The only module that names cpal.
//!
//! The callback never blocks: it pulls what the audio ring holds through the
//! [`Player`] (silence and an underrun count when it runs dry), resamples
//! linearly to the device rate when that differs from the vocoder's, and
//! copies into every output channel. The playback instant cpal reports for
//! the buffer times each frame's end-to-end latency.

use super::Player;
use crate::live::rings::ring;
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use hdrhistogram::Histogram;
use ringbuf::traits::{Consumer, Producer};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// Linear resampler state from the vocoder rate to the device rate.
struct Resampler {
    /// Input samples per output sample.
    step: f64,
    /// Position of the next output sample between `prev` and `scratch[0]`.
    pos: f64,
    prev: f32,
    scratch: Vec<f32>,
}

/// A running output stream.
pub struct DeviceSink {
    stream: cpal::Stream,
    stop: Arc<AtomicBool>,
    back: ringbuf::HeapCons<Player>,
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

impl DeviceSink {
    /// Opens the device and starts playing `player`'s audio (at `rate` Hz).
    pub fn start(name: Option<&str>, player: Player, rate: u32) -> Result<Self, AudioError> {
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
        let config: cpal::StreamConfig = supported.into();
        let channels = config.channels as usize;
        let mut resampler = Resampler {
            step: rate as f64 / config.sample_rate as f64,
            pos: 0.0,
            prev: 0.0,
            scratch: vec![0.0; SCRATCH],
        };
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
            let ts = info.timestamp();
            let play_at = Instant::now() + ts.playback.duration_since(ts.callback);
            let frames = out.len() / channels.max(1);
            if frames == 0 {
                return;
            }
            let r = &mut resampler;
            // Input sample m is `prev` for m = 0 and scratch[m - 1] after it;
            // output i sits at input position pos + i·step.
            let need =
                ((r.pos + (frames - 1) as f64 * r.step).floor() as usize + 1).clamp(1, SCRATCH);
            p.fill(&mut r.scratch[..need], play_at);
            let (prev, scratch) = (r.prev, &r.scratch[..need]);
            let sample = |m: usize| {
                if m == 0 {
                    prev
                } else {
                    scratch[(m - 1).min(need - 1)]
                }
            };
            for (i, frame) in out.chunks_mut(channels.max(1)).enumerate() {
                let x = r.pos + i as f64 * r.step;
                let k = x.floor() as usize;
                let frac = (x - k as f64) as f32;
                let (a, b) = (sample(k), sample(k + 1));
                frame.fill(a + (b - a) * frac);
            }
            r.pos += frames as f64 * r.step - need as f64;
            r.prev = r.scratch[need - 1];
        };
        let err = |e: cpal::Error| tracing::warn!("sound device: {e}");
        let stream = device
            .build_output_stream::<f32, _, _>(config, data, err, None)
            .map_err(|e| AudioError::Stream {
                device: label.clone(),
                reason: e.to_string(),
            })?;
        stream.play().map_err(|e| AudioError::Stream {
            device: label,
            reason: e.to_string(),
        })?;
        Ok(Self {
            stream,
            stop,
            back: back_c,
        })
    }

    /// Stops the stream and returns the end-to-end histogram the callback
    /// collected (empty if the device never called back).
    pub fn stop(mut self) -> Result<Histogram<u64>, AudioError> {
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
        Ok(player.map_or_else(
            || Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("static bounds"),
            Player::into_histogram,
        ))
    }
}
