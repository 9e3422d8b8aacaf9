//! Accuracy metrics for reconstructed spectrograms and audio.
//!
//! All sums are accumulated in `f64`. Matrices are frame-major
//! (`frame * n_bins + bin`). When two inputs differ in length, the common
//! prefix is compared (whole frames only for matrices).
//!
//! * Correlations (here): [`pearson_r`], [`mean_bin_pearson`] (per bin over
//!   time) and [`spectral_shape_r`] (per frame across bins), and which
//!   frames hold speech ([`speech_frames`]).
//! * [`mod@mcd`]: mel-cepstral distortion on the conventional (SPTK) scale.
//! * [`mod@stoi`]: STOI and extended STOI of decoded against true audio, with
//!   the Octave-compatible resampler in [`mod@resample`].

pub mod mcd;
pub mod resample;
pub mod stoi;

pub use mcd::{mcd_frames_db, mel_cepstral_distortion_db, mel_cepstrum};
pub use stoi::{estoi, stoi};

/// Pearson correlation of `a` and `b` over their common prefix.
///
/// NaN-safe: pairs where either value is not finite are skipped. If fewer
/// than two pairs remain, or either side is constant over them, the result
/// is `0.0` (no linear relation can be measured), never NaN.
pub fn pearson_r(a: &[f32], b: &[f32]) -> f64 {
    let pairs = || {
        a.iter()
            .zip(b)
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|(&x, &y)| (f64::from(x), f64::from(y)))
    };
    let (mut n, mut sum_a, mut sum_b) = (0usize, 0.0f64, 0.0f64);
    for (x, y) in pairs() {
        n += 1;
        sum_a += x;
        sum_b += y;
    }
    if n < 2 {
        return 0.0;
    }
    let (mean_a, mean_b) = (sum_a / n as f64, sum_b / n as f64);
    let (mut cov, mut var_a, mut var_b) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in pairs() {
        let (dx, dy) = (x - mean_a, y - mean_b);
        cov += dx * dy;
        var_a += dx * dx;
        var_b += dy * dy;
    }
    let denom = (var_a * var_b).sqrt();
    if denom > 0.0 && denom.is_finite() {
        (cov / denom).clamp(-1.0, 1.0)
    } else {
        0.0
    }
}

/// Mean over bins of the Pearson correlation along time, for two
/// frame-major matrices with `n_bins` columns.
///
/// This is the usual spectrogram-reconstruction figure in speech-BCI papers
/// (e.g. Angrick et al. 2019, Verwoert et al. 2022). A bin that is constant
/// in either matrix contributes `0.0`, as in [`pearson_r`].
///
/// # Panics
/// If `n_bins` is 0.
pub fn mean_bin_pearson(truth: &[f32], est: &[f32], n_bins: usize) -> f64 {
    assert!(n_bins > 0, "n_bins must be positive");
    let n_frames = truth.len().min(est.len()) / n_bins;
    let mut column_a = vec![0.0f32; n_frames];
    let mut column_b = vec![0.0f32; n_frames];
    let mut total = 0.0;
    for bin in 0..n_bins {
        for t in 0..n_frames {
            column_a[t] = truth[t * n_bins + bin];
            column_b[t] = est[t * n_bins + bin];
        }
        total += pearson_r(&column_a, &column_b);
    }
    total / n_bins as f64
}

/// How far below the recording's loud frames a frame may be and still count
/// as speech, in dB.
pub const SPEECH_RANGE_DB: f64 = 30.0;

/// The quantile of frame energy that stands for the recording's loud frames
/// (a high quantile rather than the maximum, so one click does not move it).
pub const LOUD_QUANTILE: f64 = 0.95;

/// The energy of each log-mel frame in dB: `10 log10 Σ_m exp(x_m)`, the
/// summed band power (the log-mel is natural-log band power).
pub fn frame_energy_db(log_mel: &[f32], n_mels: usize) -> Vec<f64> {
    assert!(n_mels > 0, "n_mels must be positive");
    log_mel
        .chunks_exact(n_mels)
        .map(|f| log_sum_exp(f) * 10.0 / std::f64::consts::LN_10)
        .collect()
}

/// `ln Σ exp(x)`, computed without overflow; non-finite values are skipped.
fn log_sum_exp(x: &[f32]) -> f64 {
    let finite = || x.iter().filter(|v| v.is_finite()).map(|&v| f64::from(v));
    let max = finite().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + finite().map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// Which frames of a true log-mel hold speech: those whose energy
/// ([`frame_energy_db`]) is within [`SPEECH_RANGE_DB`] of the recording's
/// loud frames (the [`LOUD_QUANTILE`] of frame energy) and above the energy
/// of a frame at the log floor in every band (digital silence is never
/// speech, however quiet the rest of the recording is).
///
/// `log_floor` is the power floor of the analysis (`MelConfig::log_floor`).
/// The same rule serves every figure "on speech frames" in the reports.
pub fn speech_frames(truth_log_mel: &[f32], n_mels: usize, log_floor: f32) -> Vec<bool> {
    let energy = frame_energy_db(truth_log_mel, n_mels);
    if energy.is_empty() {
        return Vec::new();
    }
    let mut sorted = energy.clone();
    sorted.sort_by(f64::total_cmp);
    let loud = sorted[((sorted.len() - 1) as f64 * LOUD_QUANTILE).round() as usize];
    // An all-floor frame, plus a margin of 1 dB for rounding in the analysis.
    let silence = 10.0 * (n_mels as f64 * f64::from(log_floor)).log10() + 1.0;
    energy
        .iter()
        .map(|&e| e >= loud - SPEECH_RANGE_DB && e > silence)
        .collect()
}

/// Spectral-shape correlation: for each selected frame, the Pearson
/// correlation across bins of `truth` and `est` (which removes each frame's
/// mean across bins, so overall loudness does not count), averaged over the
/// frames where `frames[t]` is true.
///
/// A frame constant in either matrix contributes `0.0`, as in [`pearson_r`];
/// with no selected frames the result is `0.0`. Frames beyond `frames.len()`
/// are not selected.
///
/// # Panics
/// If `n_bins` is 0.
pub fn spectral_shape_r(truth: &[f32], est: &[f32], n_bins: usize, frames: &[bool]) -> f64 {
    assert!(n_bins > 0, "n_bins must be positive");
    let (mut total, mut n) = (0.0, 0usize);
    for ((a, b), _) in truth
        .chunks_exact(n_bins)
        .zip(est.chunks_exact(n_bins))
        .zip(frames)
        .filter(|(_, selected)| **selected)
    {
        total += pearson_r(a, b);
        n += 1;
    }
    if n == 0 { 0.0 } else { total / n as f64 }
}

/// Spectral convergence `‖truth − est‖₂ / ‖truth‖₂` of two magnitude (or
/// any non-negative) arrays over their common prefix; 0.0 when `truth` is
/// all zero.
pub fn spectral_convergence(truth: &[f32], est: &[f32]) -> f64 {
    let (mut err, mut norm) = (0.0f64, 0.0f64);
    for (&a, &b) in truth.iter().zip(est) {
        let (a, b) = (f64::from(a), f64::from(b));
        err += (a - b).powi(2);
        norm += a * a;
    }
    if norm > 0.0 { (err / norm).sqrt() } else { 0.0 }
}
