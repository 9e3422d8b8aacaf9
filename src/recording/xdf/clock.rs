//! Mapping stream timestamps through ClockOffset measurements.
//!
//! The measurements are split into segments at clock resets (a jump in both
//! the collection time and the offset value much larger than typical, the
//! criterion pyxdf uses); each segment gets a robust linear fit of offset
//! against collection time, and every sample is corrected with the fit of
//! the segment it belongs to.

use super::ClockOffset;

/// A reset needs the collection-time step to exceed the median step by this many MADs...
const TIME_RESET_MADS: f64 = 5.0;
/// ...and by this many seconds.
const TIME_RESET_SECONDS: f64 = 5.0;
/// A reset needs the offset-value step to exceed the median step by this many MADs...
const VALUE_RESET_MADS: f64 = 10.0;
/// ...and by this many seconds.
const VALUE_RESET_SECONDS: f64 = 1.0;

/// The result of mapping a stream's timestamps.
#[derive(Debug, Clone, PartialEq)]
pub struct ClockMapping {
    /// One corrected timestamp per sample.
    pub timestamps: Vec<f64>,
    /// The number of clock resets found in the offset measurements.
    pub resets: usize,
}

/// One segment of offsets between resets, with its fitted line.
#[derive(Debug, Clone, Copy)]
struct Segment {
    /// Index of the first measurement of the segment.
    start: usize,
    /// Centre of the collection times (the fit is `intercept + slope * (t - centre)`).
    centre: f64,
    intercept: f64,
    slope: f64,
}

impl Segment {
    fn offset_at(&self, t: f64) -> f64 {
        self.intercept + self.slope * (t - self.centre)
    }
}

/// Maps raw sample timestamps to the recorder's clock.
///
/// `offsets_seen[i]` is the number of this stream's ClockOffset chunks that
/// precede sample `i` in the file; together with backward jumps in the raw
/// timestamps it decides which reset segment a sample belongs to. Without
/// measurements the timestamps are returned unchanged.
pub fn map_timestamps(
    raw: &[f64],
    offsets_seen: &[usize],
    offsets: &[ClockOffset],
) -> ClockMapping {
    if offsets.is_empty() {
        return ClockMapping {
            timestamps: raw.to_vec(),
            resets: 0,
        };
    }
    let starts = segment_starts(offsets);
    let segments: Vec<Segment> = starts
        .iter()
        .enumerate()
        .map(|(k, &start)| {
            let end = starts.get(k + 1).copied().unwrap_or(offsets.len());
            fit_segment(start, &offsets[start..end])
        })
        .collect();
    let mut current = 0usize;
    let mut previous: Option<f64> = None;
    let timestamps = raw
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            if let Some(next) = segments.get(current + 1) {
                let seen = offsets_seen.get(i).copied().unwrap_or(0);
                let jumped_back = previous.is_some_and(|p| t < p);
                if seen > next.start || jumped_back {
                    current += 1;
                }
            }
            previous = Some(t);
            t + segments[current].offset_at(t)
        })
        .collect();
    ClockMapping {
        timestamps,
        resets: segments.len() - 1,
    }
}

/// Returns the index of the first measurement of every segment.
fn segment_starts(offsets: &[ClockOffset]) -> Vec<usize> {
    let mut starts = vec![0];
    if offsets.len() < 3 {
        return starts;
    }
    let time_steps: Vec<f64> = offsets
        .windows(2)
        .map(|w| w[1].collection_time - w[0].collection_time)
        .collect();
    let value_steps: Vec<f64> = offsets
        .windows(2)
        .map(|w| (w[1].offset - w[0].offset).abs())
        .collect();
    let (time_median, time_mad) = median_and_mad(&time_steps);
    let (value_median, value_mad) = median_and_mad(&value_steps);
    for (k, (&dt, &dv)) in time_steps.iter().zip(&value_steps).enumerate() {
        let time_glitch = dt < 0.0
            || ((dt - time_median) / time_mad > TIME_RESET_MADS
                && dt - time_median > TIME_RESET_SECONDS);
        let value_glitch = (dv - value_median) / value_mad > VALUE_RESET_MADS
            && dv - value_median > VALUE_RESET_SECONDS;
        if time_glitch && value_glitch {
            starts.push(k + 1);
        }
    }
    starts
}

/// Returns the median and the median absolute deviation (never zero).
fn median_and_mad(values: &[f64]) -> (f64, f64) {
    let median = median(values);
    let deviations: Vec<f64> = values.iter().map(|v| (v - median).abs()).collect();
    (median, median_of(deviations) + f64::EPSILON)
}

fn median(values: &[f64]) -> f64 {
    median_of(values.to_vec())
}

fn median_of(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// Fits `offset = intercept + slope * (time - centre)` robustly: a least
/// squares fit, then a refit without measurements whose residual exceeds
/// three robust standard deviations (jittery offset measurements).
fn fit_segment(start: usize, offsets: &[ClockOffset]) -> Segment {
    let centre = offsets.iter().map(|o| o.collection_time).sum::<f64>() / offsets.len() as f64;
    let points: Vec<(f64, f64)> = offsets
        .iter()
        .map(|o| (o.collection_time - centre, o.offset))
        .collect();
    let (mut intercept, mut slope) = least_squares(&points);
    if points.len() > 3 {
        let residuals: Vec<f64> = points
            .iter()
            .map(|&(x, y)| y - (intercept + slope * x))
            .collect();
        let (centre_residual, mad) = median_and_mad(&residuals);
        let limit = (3.0 * 1.4826 * mad).max(1e-6);
        let kept: Vec<(f64, f64)> = points
            .iter()
            .zip(&residuals)
            .filter(|(_, r)| (*r - centre_residual).abs() <= limit)
            .map(|(p, _)| *p)
            .collect();
        if kept.len() >= 2 && kept.len() < points.len() {
            (intercept, slope) = least_squares(&kept);
        }
    }
    Segment {
        start,
        centre,
        intercept,
        slope,
    }
}

/// Ordinary least squares on centred points; a single point or identical
/// times give a constant.
fn least_squares(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    if sxx <= f64::EPSILON {
        return (mean_y, 0.0);
    }
    let slope = sxy / sxx;
    (mean_y - slope * mean_x, slope)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(points: &[(f64, f64)]) -> Vec<ClockOffset> {
        points
            .iter()
            .map(|&(collection_time, offset)| ClockOffset {
                collection_time,
                offset,
            })
            .collect()
    }

    #[test]
    fn no_offsets_leaves_timestamps_unchanged() {
        let mapped = map_timestamps(&[1.0, 2.0], &[0, 0], &[]);
        assert_eq!(mapped.timestamps, vec![1.0, 2.0]);
        assert_eq!(mapped.resets, 0);
    }

    #[test]
    fn linear_drift_is_interpolated() {
        let o = offsets(&[(0.0, 1.0), (5.0, 1.5), (10.0, 2.0), (15.0, 2.5)]);
        let mapped = map_timestamps(&[2.0, 12.0], &[1, 3], &o);
        assert!((mapped.timestamps[0] - (2.0 + 1.2)).abs() < 1e-12);
        assert!((mapped.timestamps[1] - (12.0 + 2.2)).abs() < 1e-12);
        assert_eq!(mapped.resets, 0);
    }

    #[test]
    fn outlier_measurement_is_ignored() {
        let o = offsets(&[
            (0.0, 1.0),
            (5.0, 1.0),
            (10.0, 1.3),
            (15.0, 1.0),
            (20.0, 1.0),
        ]);
        let mapped = map_timestamps(&[10.0], &[3], &o);
        assert!(
            (mapped.timestamps[0] - 11.0).abs() < 1e-9,
            "{}",
            mapped.timestamps[0]
        );
        assert!((mapped.timestamps[0] - 11.0).abs() < 1e-9);
    }

    #[test]
    fn reset_splits_segments() {
        let o = offsets(&[
            (0.0, 100.0),
            (5.0, 100.0),
            (10.0, 100.0),
            (1.0, -50.0),
            (6.0, -50.0),
            (11.0, -50.0),
        ]);
        let mapped = map_timestamps(&[9.0, 2.0, 7.0], &[2, 2, 5], &o);
        assert_eq!(mapped.resets, 1);
        assert_eq!(mapped.timestamps, vec![109.0, -48.0, -43.0]);
    }
}
