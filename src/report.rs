//! The report schema shared by `replay`, `run`, `benchmark` and `optimize`
//! (`--report` / `--json`). README.md documents every field.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Schema identifier written into every report.
pub const SCHEMA: &str = "neurospeak.report/2";

/// Percentiles of one latency, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LatencyStats {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl LatencyStats {
    /// Summarises a histogram of nanoseconds; `None` when it is empty.
    pub fn from_histogram(h: &Histogram<u64>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        let ms = |ns: u64| ns as f64 / 1e6;
        Some(Self {
            count: h.len(),
            mean: h.mean() / 1e6,
            p50: ms(h.value_at_quantile(0.50)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        })
    }
}

/// Latency of every stage, DESIGN.md section 4 definitions.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LatencyReport {
    /// What a participant hears: the neural activity frame k's audio stands
    /// for (its LSL timestamp on the local clock, less the fixed delays) →
    /// that audio leaving the device. Frames heard whose transport is known.
    pub sensor_to_sound: Option<LatencyStats>,
    /// `sensor_to_sound`'s parts over the same frames; their means add up
    /// to its mean.
    pub budget: Option<LatencyBudget>,
    /// Audio of frame k written to the output − arrival of its newest sample.
    pub compute: Option<LatencyStats>,
    /// Frame k's first audio sample leaving the device (cpal's playback
    /// instant, or the null sink's real clock when it ran) − arrival.
    pub arrival_to_playback: Option<LatencyStats>,
    pub features: Option<LatencyStats>,
    pub decoder: Option<LatencyStats>,
    pub vocoder: Option<LatencyStats>,
    /// Arrival − the sample's source timestamp on the local clock, per
    /// sample; live only.
    pub transport: Option<LatencyStats>,
    /// The fixed delays in milliseconds: half the feature window, the
    /// filters' measured delay, future context and the vocoder's look-ahead
    /// and overlap. Part of `sensor_to_sound`; not of the other figures.
    pub algorithmic: f64,
}

/// The parts of `sensor_to_sound`, in the order the signal meets them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LatencyBudget {
    pub parts: Vec<BudgetPart>,
    /// The parts' means added up (equal to `sensor_to_sound.mean` up to the
    /// histograms' 3 significant digits).
    pub sum_of_means: f64,
}

/// One part of the sensor-to-sound budget, in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BudgetPart {
    pub part: &'static str,
    /// True for parts measured frame by frame; false for the bundle's fixed
    /// delays (the same for every frame).
    pub measured_per_frame: bool,
    pub mean: f64,
    pub p50: f64,
    pub p99: f64,
}

/// Mel-cepstral distortion over c1..c13 and c1..c24, in dB (conventional
/// scale: SPTK mel-cepstra of log amplitude; see `metrics::mcd`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct McdFigures {
    pub c1_13: f64,
    pub c1_24: f64,
}

/// Mel-cepstral distortion averaged over all compared frames and over the
/// speech frames only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct McdReport {
    pub all_frames: McdFigures,
    pub speech_frames: McdFigures,
}

/// The figures of one output (decoded, or the loudness baseline) against the truth.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Pearson r per mel bin over time, averaged over bins.
    pub pearson_r: f64,
    /// Pearson r across bins per speech frame (each frame's mean removed),
    /// averaged over speech frames.
    pub spectral_shape_r: f64,
    pub mcd_db: McdReport,
    /// STOI of the audio against the true audio; `None` without audio or
    /// with less than 384 ms of speech.
    pub stoi: Option<f64>,
    /// Extended STOI, likewise.
    pub estoi: Option<f64>,
}

/// How decoded audio was lined up with the true audio.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct AudioAlignment {
    /// Decoded sample `n + delay_samples` was compared with true sample `n`
    /// (the vocoder's look-ahead and overlap).
    pub delay_samples: usize,
    pub delay_ms: f64,
    /// Seconds of audio compared.
    pub seconds_compared: f64,
}

/// Decoding accuracy.
#[derive(Clone, Debug, Serialize)]
pub struct AccuracyReport {
    /// The decoded output's figures (`pearson_r`, `spectral_shape_r`,
    /// `mcd_db`, `stoi`, `estoi`, at the top level of the JSON).
    #[serde(flatten)]
    pub decoded: Figures,
    /// The same figures for the loudness-only baseline (the recording's mean
    /// spectral shape moved to each frame's true level, same vocoder).
    pub loudness_baseline: Figures,
    /// The same figures for copy synthesis (the true log-mel through the same
    /// vocoder): the intelligibility ceiling of the representation and vocoder.
    pub copy_synthesis: Figures,
    /// What the decoded frames were compared with.
    pub compared_against: String,
    pub frames_compared: usize,
    /// Frames within 30 dB of the recording's loud frames (`metrics::speech_frames`).
    pub speech_frames: usize,
    pub audio: AudioAlignment,
}

/// Faults counted during the run; none of them stops it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FaultReport {
    /// Forward jumps in the input timestamps (more than 1.5 sample periods).
    pub gaps: u64,
    /// Samples missing inside those gaps.
    pub missing_samples: u64,
    /// Samples whose timestamp did not advance; dropped before the decoder.
    pub duplicated_samples: u64,
    /// Live: samples whose timestamp was unusable (not finite, far from
    /// the local clock, or backwards beyond jitter) and was replaced from
    /// the nominal rate; the samples are decoded.
    pub bad_timestamps: u64,
    /// Input samples dropped because the decoder fell behind.
    pub dropped_samples: u64,
    /// Frames lost: input dropped (in frames) or audio with no room to play.
    pub dropped_frames: u64,
    pub underruns: u64,
    /// Live: frames whose start was cut because they came after their
    /// block was taken.
    pub late_frames: u64,
    /// Live: times the player moved its schedule to hold its margin.
    pub latency_adjustments: u64,
    /// Non-finite channel values, replaced by the channel's last finite value.
    pub nonfinite_samples: u64,
    pub reconnects: u64,
    /// Live: whole frames left out of the WAV file because its writer fell
    /// behind (the file then has fewer frames than `frames`).
    pub wav_dropped_frames: u64,
    /// Live: frame records left out of the CSV because its writer fell behind.
    pub csv_dropped_frames: u64,
    /// Live: frames left out of the `--lsl-audio` outlet because its thread
    /// fell behind (the player's own cuts are in `dropped_frames`).
    pub lsl_audio_dropped_frames: u64,
    /// Live: the error that ended the session before its duration or a
    /// signal did (a file that could not be written, the decoder failing);
    /// absent when the session ended normally. Everything else in the
    /// report covers the session up to that point.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_by_error: Option<String>,
}

/// Memory use.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MemoryReport {
    /// Peak resident set of the process (VmHWM), in MiB.
    pub peak_rss_mb: f64,
    /// Size of the ONNX file in bytes.
    pub model_bytes: u64,
}

/// The model that ran.
#[derive(Clone, Debug, Serialize)]
pub struct ModelReport {
    pub name: String,
    pub path: String,
    pub sha256: String,
    /// Where the decoder's optimized graph came from (`replay` and `run`); absent
    /// from the other commands' reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graph_cache: Option<crate::decoder::GraphCacheStatus>,
    /// A stateful decoder's state and how often it was reset (`replay`,
    /// `run`, `benchmark`); absent for a stateless one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<StateReport>,
}

/// The recurrent state of a stateful decoder over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct StateReport {
    /// State input/output pairs the decoder feeds back.
    pub pairs: usize,
    /// Values they hold together.
    pub values: usize,
    /// Resets because the stream had a gap longer than the manifest allows.
    pub resets_gap: u64,
    /// Resets because the stream was lost and came back.
    pub resets_reconnect: u64,
    /// Resets at the start of a new stream (the next recording, `restart`).
    pub resets_restart: u64,
}

/// One run of the pipeline.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub schema: &'static str,
    pub command: String,
    pub model: ModelReport,
    pub input: String,
    pub frames: u64,
    pub audio_seconds: f64,
    pub wall_seconds: f64,
    /// Seconds of signal processed per second of wall time.
    pub realtime_factor: f64,
    pub latency_ms: LatencyReport,
    pub accuracy: Option<AccuracyReport>,
    pub faults: FaultReport,
    pub memory: MemoryReport,
    /// Where the run's output went, by kind: the files it wrote, the audio
    /// sink (`audio`) and the LSL outlet (`lsl_audio`).
    pub outputs: std::collections::BTreeMap<String, String>,
    /// `run`: what was asked of the OS for real time (locked memory,
    /// SCHED_FIFO per session thread) and what it granted; `None` (`null`)
    /// with `--no-realtime` and for the other commands.
    pub realtime_request: Option<Vec<RealtimeGrant>>,
    /// The playout buffer a live session chose and how its margin moved
    /// (`run` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub playout: Option<PlayoutReport>,
}

/// One real-time request of `run` and its outcome (`live::realtime`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RealtimeGrant {
    /// `memory`, or the thread's name (`ns-worker`, ...).
    pub what: String,
    /// What was asked, e.g. `mlockall(MCL_CURRENT | MCL_FUTURE)` or `SCHED_FIFO 30`.
    pub asked: String,
    /// What the process has now, e.g. `MCL_CURRENT`, `SCHED_FIFO 30`, `none`
    /// or `SCHED_OTHER`.
    pub granted: String,
    /// What was refused or not asked, and why (the errno's name and text);
    /// `None` when everything asked was granted.
    pub refused: Option<String>,
}

/// A live session's playout buffer: the sink's block, the device's period
/// and the player's margin.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PlayoutReport {
    /// `null` or `device`.
    pub sink: String,
    /// Samples per block at the audio rate, and in milliseconds.
    pub block_samples: usize,
    pub block_ms: f64,
    /// Whether the block was chosen automatically (`--block auto`).
    pub block_auto: bool,
    /// Samples per decoded frame, and whether the block divides it (every
    /// frame then starts at one place in its block).
    pub hop_samples: usize,
    pub block_divides_hop: bool,
    /// The device's period in its own frames and its rate, when it
    /// accepted a fixed period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_period_frames: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_rate_hz: Option<u32>,
    /// Whether the margin adapted; its floor (`--margin-ms`), start, end
    /// and peak in milliseconds, and how many near misses or misses grew it.
    pub margin_adaptive: bool,
    pub margin_floor_ms: f64,
    pub margin_start_ms: f64,
    pub margin_final_ms: f64,
    pub margin_peak_ms: f64,
    pub margin_raises: u64,
}

/// The peak resident set size of this process in MiB, from /proc (Linux);
/// 0 where that is not available.
pub fn peak_rss_mb() -> f64 {
    proc_status_mb("VmHWM:")
}

/// The current resident set size of this process in MiB; 0 if unknown.
pub fn current_rss_mb() -> f64 {
    proc_status_mb("VmRSS:")
}

/// A kB figure of /proc/self/status, in MiB.
fn proc_status_mb(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Writes a report as pretty JSON, atomically.
pub fn write_json<T: Serialize>(path: &std::path::Path, report: &T) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    crate::bundle::write_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_out_in_milliseconds() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        for us in 1..=1000u64 {
            h.record(us * 1000).unwrap();
        }
        let s = LatencyStats::from_histogram(&h).unwrap();
        assert_eq!(s.count, 1000);
        assert!((s.p50 - 0.5).abs() < 0.01, "{s:?}");
        assert!((s.p99 - 0.99).abs() < 0.01, "{s:?}");
        assert!((s.max - 1.0).abs() < 0.01, "{s:?}");
        assert!(LatencyStats::from_histogram(&Histogram::new(3).unwrap()).is_none());
    }

    #[test]
    fn peak_rss_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss_mb() > 1.0);
        }
    }
}
