//! Per-stage latency histograms, allocated before start and recorded into
//! without allocating, and the fixed delays that complete the
//! sensor-to-sound budget.

use crate::report::{BudgetPart, LatencyBudget, LatencyReport, LatencyStats};
use hdrhistogram::Histogram;
use std::time::{Duration, Instant};

/// Largest latency a histogram holds: one minute, in nanoseconds.
const MAX_NS: u64 = 60_000_000_000;

/// An empty histogram of nanoseconds, 1 ns to one minute, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_NS, 3).expect("static histogram bounds are valid")
}

/// The fixed delays between the neural activity a frame's audio stands for
/// and the moment that audio is ready, apart from compute: set by the
/// bundle's front-end and vocoder, measured once in `Engine::build`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FixedDelays {
    /// The power window's centre to its last sample
    /// (`FrontEndPlan::window_centre_s`).
    pub window_centre_s: f64,
    /// The notch and band-pass filters' delay, measured on the filter chain
    /// (see `FrontEndPlan::filter_delay_s`).
    pub filters_s: f64,
    /// Future context frames the decoder waits for.
    pub future_context_s: f64,
    /// The vocoder's look-ahead and overlap-add delay.
    pub vocoder_s: f64,
}

impl FixedDelays {
    /// All of them.
    pub fn total_s(&self) -> f64 {
        self.window_centre_s + self.filters_s + self.future_context_s + self.vocoder_s
    }

    /// [`Self::total_s`] as a duration.
    pub fn total(&self) -> Duration {
        Duration::from_secs_f64(self.total_s().max(0.0))
    }
}

/// The histograms of frames that were heard, one value per frame and part,
/// so that the parts add up to `sensor_to_sound` frame by frame (and their
/// means add up exactly). Recorded by the sink that plays the frame
/// (`live::sinks::Player`) or, with no device, by `replay --realtime`.
#[derive(Clone, Debug)]
pub struct PlaybackHistograms {
    /// The first audio sample of frame k leaving the device − the arrival of
    /// frame k's newest EEG sample.
    pub arrival_to_playback: Histogram<u64>,
    /// The first audio sample of frame k leaving the device − the neural
    /// activity it stands for (the LSL timestamp on the local clock minus
    /// the fixed delays). Only frames whose transport is known.
    pub sensor_to_sound: Histogram<u64>,
    /// Of the frames in `sensor_to_sound`: arrival − LSL timestamp.
    pub transport: Histogram<u64>,
    /// ... audio ready − arrival.
    pub compute: Histogram<u64>,
    /// ... when the block holding the frame's first sample is handed to the
    /// device, plus that sample's place in the block − ready.
    pub playout: Histogram<u64>,
    /// ... the device's own output latency (cpal's playback − callback
    /// instant; zero for the null sink, which plays when it runs).
    pub device: Histogram<u64>,
}

impl Default for PlaybackHistograms {
    fn default() -> Self {
        Self {
            arrival_to_playback: histogram(),
            sensor_to_sound: histogram(),
            transport: histogram(),
            compute: histogram(),
            playout: histogram(),
            device: histogram(),
        }
    }
}

impl PlaybackHistograms {
    /// Records one heard frame: its EEG `arrival` and `transport` (`None`
    /// when the clock offset was not known yet), when its audio was `ready`,
    /// when the block holding its first sample went to the device (`handed`,
    /// already including the sample's place in the block) and when it left
    /// the device (`heard`). `fixed` is the bundle's fixed delay.
    #[inline]
    pub fn record_frame(
        &mut self,
        arrival: Instant,
        transport: Option<Duration>,
        ready: Instant,
        handed: Instant,
        heard: Instant,
        fixed: Duration,
    ) {
        record(
            &mut self.arrival_to_playback,
            heard.saturating_duration_since(arrival),
        );
        let Some(transport) = transport else {
            return;
        };
        let ready = ready.max(arrival);
        let handed = handed.max(ready);
        let heard = heard.max(handed);
        record(&mut self.transport, transport);
        record(&mut self.compute, ready - arrival);
        record(&mut self.playout, handed - ready);
        record(&mut self.device, heard - handed);
        record(
            &mut self.sensor_to_sound,
            transport + fixed + (heard - arrival),
        );
    }
}

/// One histogram per latency the report names.
#[derive(Clone, Debug)]
pub struct StageHistograms {
    pub features: Histogram<u64>,
    pub decoder: Histogram<u64>,
    pub vocoder: Histogram<u64>,
    pub compute: Histogram<u64>,
    pub transport: Histogram<u64>,
    pub playback: PlaybackHistograms,
}

impl Default for StageHistograms {
    fn default() -> Self {
        Self {
            features: histogram(),
            decoder: histogram(),
            vocoder: histogram(),
            compute: histogram(),
            transport: histogram(),
            playback: PlaybackHistograms::default(),
        }
    }
}

/// Records a duration in nanoseconds, clamped into the histogram's range.
#[inline]
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    h.saturating_record((d.as_nanos() as u64).clamp(1, MAX_NS));
}

/// A constant part of the budget, in milliseconds.
fn constant(part: &'static str, seconds: f64) -> BudgetPart {
    let ms = seconds * 1000.0;
    BudgetPart {
        part,
        measured_per_frame: false,
        mean: ms,
        p50: ms,
        p99: ms,
    }
}

/// A part measured frame by frame.
fn measured(part: &'static str, h: &Histogram<u64>) -> BudgetPart {
    let s = LatencyStats::from_histogram(h).unwrap_or_default();
    BudgetPart {
        part,
        measured_per_frame: true,
        mean: s.mean,
        p50: s.p50,
        p99: s.p99,
    }
}

impl StageHistograms {
    /// Summarises every histogram, with the sensor-to-sound budget built
    /// from the heard frames and the bundle's fixed delays.
    pub fn report(&self, fixed: &FixedDelays) -> LatencyReport {
        let p = &self.playback;
        let budget = (!p.sensor_to_sound.is_empty()).then(|| {
            let parts = vec![
                measured("transport", &p.transport),
                constant("front_end_window", fixed.window_centre_s),
                constant("front_end_filters", fixed.filters_s),
                constant("future_context", fixed.future_context_s),
                measured("compute", &p.compute),
                constant("vocoder", fixed.vocoder_s),
                measured("playout", &p.playout),
                measured("device", &p.device),
            ];
            LatencyBudget {
                sum_of_means: parts.iter().map(|x| x.mean).sum(),
                parts,
            }
        });
        LatencyReport {
            sensor_to_sound: LatencyStats::from_histogram(&p.sensor_to_sound),
            budget,
            compute: LatencyStats::from_histogram(&self.compute),
            arrival_to_playback: LatencyStats::from_histogram(&p.arrival_to_playback),
            features: LatencyStats::from_histogram(&self.features),
            decoder: LatencyStats::from_histogram(&self.decoder),
            vocoder: LatencyStats::from_histogram(&self.vocoder),
            transport: LatencyStats::from_histogram(&self.transport),
            algorithmic: fixed.total_s() * 1000.0,
        }
    }
}
