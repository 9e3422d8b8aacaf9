//! Replay: a recorded file through the same engine a live session runs, as
//! fast as possible or paced by the clock, into a WAV file and a report.

use super::accuracy;
use super::engine::{Engine, EngineError};
use crate::bundle::Bundle;
use crate::decoder::{DecoderError, DecoderOptions};
use crate::recording::Recording;
use crate::report::{FaultReport, MemoryReport, ModelReport, RunReport, SCHEMA, peak_rss_mb};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How to replay.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Release samples at the pace of their timestamps instead of at once.
    pub realtime: bool,
    /// Samples the source hands over at a time (LSL delivers chunks too).
    pub chunk_samples: usize,
    /// Where to write the decoded speech.
    pub wav: Option<PathBuf>,
    pub decoder: DecoderOptions,
    /// Called once the engine is built and warmed up, before the first sample:
    /// the command line prints the decoder's graph-cache line here.
    pub on_engine_ready: Option<fn(&Engine)>,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        Self {
            realtime: false,
            chunk_samples: 16,
            wav: None,
            decoder: DecoderOptions::default(),
            on_engine_ready: None,
        }
    }
}

/// Errors of a replay.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Decoder(#[from] DecoderError),
    #[error(
        "{recording}: the recording has {found} channels but the model {model} expects {expected}; \
         replay a recording made with the montage the model was trained on, or pick the matching model"
    )]
    Channels {
        recording: PathBuf,
        model: PathBuf,
        expected: usize,
        found: usize,
    },
    #[error(
        "{recording}: the recording is sampled at {found} Hz but the model {model} expects {expected} Hz; \
         resample the recording or pick a model trained at this rate"
    )]
    SampleRate {
        recording: PathBuf,
        model: PathBuf,
        expected: f64,
        found: f64,
    },
    #[error("{path}: cannot write the WAV file: {message}")]
    Wav { path: PathBuf, message: String },
}

/// What a replay produced.
pub struct ReplayOutcome {
    pub report: RunReport,
    /// Decoded log-mel, frame-major.
    pub log_mel: Vec<f32>,
    /// Decoded audio at the vocoder's rate.
    pub audio: Vec<f32>,
}

/// Checks that `rec` can be decoded by `bundle`.
pub fn check_compatible(bundle: &Bundle, rec: &Recording) -> Result<(), ReplayError> {
    let input = &bundle.manifest.input;
    if rec.eeg.channel_count != input.channels {
        return Err(ReplayError::Channels {
            recording: rec.path.clone(),
            model: bundle.dir.clone(),
            expected: input.channels,
            found: rec.eeg.channel_count,
        });
    }
    if (rec.eeg.sample_rate - input.sample_rate_hz).abs() > 1e-6 * input.sample_rate_hz {
        return Err(ReplayError::SampleRate {
            recording: rec.path.clone(),
            model: bundle.dir.clone(),
            expected: input.sample_rate_hz,
            found: rec.eeg.sample_rate,
        });
    }
    Ok(())
}

/// Replays `rec` through `bundle`'s model. `progress` is called about every
/// second of signal with the fraction done.
pub fn replay(
    bundle: &Bundle,
    rec: &Recording,
    options: &ReplayOptions,
    progress: &mut dyn FnMut(f64),
) -> Result<ReplayOutcome, ReplayError> {
    check_compatible(bundle, rec)?;
    let mut engine = Engine::build(bundle, &options.decoder)?;
    if let Some(ready) = options.on_engine_ready {
        ready(&engine);
    }
    let m = &bundle.manifest;
    let ch = rec.eeg.channel_count;
    let n = rec.eeg.len();
    let hop = m.vocoder.hop_length;
    let expected_frames = (rec.eeg.duration_s() / (m.features.hop_ms / 1000.0)).ceil() as usize + 1;
    let mut log_mel = Vec::with_capacity(expected_frames * m.vocoder.n_mels);
    let mut audio = Vec::with_capacity(expected_frames * hop);

    let rate = rec.eeg.sample_rate;
    let fixed = engine.fixed_delays().total();
    let chunk = options.chunk_samples.max(1);
    let report_every = (rate as usize).max(chunk);
    let start = Instant::now();
    let mut next_report = report_every;
    let mut pos = 0;
    while pos < n {
        let end = (pos + chunk).min(n);
        if options.realtime {
            let due = start + Duration::from_secs_f64(end as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let arrival = Instant::now();
        for i in pos..end {
            let Some(frame) =
                engine.push_sample(&rec.eeg.samples[i * ch..(i + 1) * ch], arrival)?
            else {
                continue;
            };
            log_mel.extend_from_slice(frame.log_mel);
            audio.extend_from_slice(frame.audio);
            // No device: the audio is out when it is ready. Paced, the file's
            // clock stands in for the amplifier's (sample i taken at start +
            // i / rate, arrived when it was pushed); as fast as possible there
            // is no transport, and the figure is the bundle's fixed delays
            // plus compute.
            let ready = frame.stamps.vocoder;
            let transport = if options.realtime {
                let taken = start + Duration::from_secs_f64(i as f64 / rate);
                arrival.saturating_duration_since(taken)
            } else {
                Duration::ZERO
            };
            engine.latency_mut().playback.record_frame(
                arrival,
                Some(transport),
                ready,
                ready,
                ready,
                fixed,
            );
        }
        pos = end;
        if pos >= next_report {
            progress(pos as f64 / n as f64);
            next_report += report_every;
        }
    }
    let wall = start.elapsed().as_secs_f64();

    let mut outputs = BTreeMap::new();
    if let Some(path) = &options.wav {
        write_wav(path, &audio, m.vocoder.sample_rate_hz)?;
        outputs.insert("wav".to_string(), path.display().to_string());
    }
    let vocoder_cfg = bundle.vocoder_config();
    let accuracy = match accuracy::paired_speech(rec, &vocoder_cfg.mel) {
        Some(speech) => {
            let truth = accuracy::Truth::new(
                vec![Some(speech)],
                &vocoder_cfg,
                "log-mel and audio of the speech paired with the recording",
            )
            .map_err(EngineError::from)?;
            // Decoded frame k is centre frame k (future context only delays its
            // emission), so decoded and true frames line up index by index; the
            // audio lags by the vocoder's latency.
            let decoded = accuracy::Decoded {
                log_mel: &log_mel,
                audio: &audio,
            };
            Some(truth.score(&[decoded], engine.vocoder_latency_samples()))
        }
        None => None,
    };
    let signal_s = n as f64 / rate;
    let report = RunReport {
        schema: SCHEMA,
        command: if options.realtime {
            "replay --realtime"
        } else {
            "replay"
        }
        .to_string(),
        model: ModelReport {
            name: m.name.clone(),
            path: bundle.dir.display().to_string(),
            sha256: bundle.sha256().to_string(),
            graph_cache: Some(engine.graph_cache().clone()),
            state: engine.state_report(),
        },
        input: rec.path.display().to_string(),
        frames: engine.frames(),
        audio_seconds: audio.len() as f64 / m.vocoder.sample_rate_hz as f64,
        wall_seconds: wall,
        realtime_factor: signal_s / wall.max(1e-9),
        latency_ms: engine.latency().report(engine.fixed_delays()),
        accuracy,
        faults: FaultReport {
            nonfinite_samples: engine.nonfinite_samples(),
            ..FaultReport::default()
        },
        memory: MemoryReport {
            peak_rss_mb: peak_rss_mb(),
            model_bytes: bundle.model_bytes,
        },
        outputs,
        realtime_request: None,
        playout: None,
    };
    Ok(ReplayOutcome {
        report,
        log_mel,
        audio,
    })
}

/// Writes mono 16-bit PCM, atomically.
pub fn write_wav(path: &Path, audio: &[f32], rate: u32) -> Result<(), ReplayError> {
    let err = |e: &dyn std::fmt::Display| ReplayError::Wav {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let tmp = path.with_extension("wav.partial");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&tmp, spec).map_err(|e| err(&e))?;
    for &s in audio {
        w.write_sample((s.clamp(-1.0, 1.0) * i16::MAX as f32) as i16)
            .map_err(|e| err(&e))?;
    }
    w.finalize().map_err(|e| err(&e))?;
    std::fs::rename(&tmp, path).map_err(|e| err(&e))
}
