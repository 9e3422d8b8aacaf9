//! Per-stage latency histograms, allocated before start and recorded into
//! without allocating.

use crate::report::{LatencyReport, LatencyStats};
use hdrhistogram::Histogram;
use std::time::Duration;

/// Largest latency a histogram holds: one minute, in nanoseconds.
const MAX_NS: u64 = 60_000_000_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_NS, 3).expect("static histogram bounds are valid")
}

/// One histogram per latency the report names.
#[derive(Clone, Debug)]
pub struct StageHistograms {
    pub features: Histogram<u64>,
    pub decoder: Histogram<u64>,
    pub vocoder: Histogram<u64>,
    pub compute: Histogram<u64>,
    pub end_to_end: Histogram<u64>,
    pub transport: Histogram<u64>,
}

impl Default for StageHistograms {
    fn default() -> Self {
        Self {
            features: histogram(),
            decoder: histogram(),
            vocoder: histogram(),
            compute: histogram(),
            end_to_end: histogram(),
            transport: histogram(),
        }
    }
}

/// Records a duration in nanoseconds, clamped into the histogram's range.
#[inline]
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    h.saturating_record((d.as_nanos() as u64).clamp(1, MAX_NS));
}

impl StageHistograms {
    /// Summarises every histogram; `algorithmic_ms` is reported beside them.
    pub fn report(&self, algorithmic_ms: f64) -> LatencyReport {
        LatencyReport {
            compute: LatencyStats::from_histogram(&self.compute),
            end_to_end: LatencyStats::from_histogram(&self.end_to_end),
            features: LatencyStats::from_histogram(&self.features),
            decoder: LatencyStats::from_histogram(&self.decoder),
            vocoder: LatencyStats::from_histogram(&self.vocoder),
            transport: LatencyStats::from_histogram(&self.transport),
            algorithmic: algorithmic_ms,
        }
    }
}
