//! Accuracy metrics for reconstructed spectrograms and audio.
//!
//! All sums are accumulated in `f64`. Matrices are frame-major
//! (`frame * n_bins + bin`). When two inputs differ in length, the common
//! prefix is compared (whole frames only for matrices).

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

/// Orthonormal DCT-II coefficient `d` of one log-mel frame:
/// `c_d = sqrt(2/M) * Σ_m x[m] cos(π d (m + 1/2) / M)` for `d ≥ 1`.
fn dct2_coefficient(frame: &[f32], d: usize) -> f64 {
    let m_total = frame.len() as f64;
    let sum: f64 = frame
        .iter()
        .enumerate()
        .map(|(m, &x)| {
            let angle = std::f64::consts::PI * d as f64 * (m as f64 + 0.5) / m_total;
            f64::from(x) * angle.cos()
        })
        .sum();
    (2.0 / m_total).sqrt() * sum
}

/// Mel cepstral distortion in dB, averaged over frames.
///
/// Convention: the cepstrum of each frame is the orthonormal DCT-II of its
/// natural-log mel power,
/// `c_d = sqrt(2/M) * Σ_m x[m] cos(π d (m + 1/2) / M)`; coefficients
/// `c_1 ..= c_n_ceps` are compared and `c_0` (overall level) is excluded.
/// Per frame, `MCD = (10 / ln 10) * sqrt(2 * Σ_d (c_d - c'_d)^2)`; the
/// result is the mean over the common frames (0.0 if there are none).
///
/// # Panics
/// If `n_mels` is 0.
pub fn mel_cepstral_distortion_db(
    truth_log_mel: &[f32],
    est_log_mel: &[f32],
    n_mels: usize,
    n_ceps: usize,
) -> f64 {
    assert!(n_mels > 0, "n_mels must be positive");
    let n_frames = truth_log_mel.len().min(est_log_mel.len()) / n_mels;
    if n_frames == 0 {
        return 0.0;
    }
    let scale = 10.0 / std::f64::consts::LN_10;
    let mut total = 0.0;
    for t in 0..n_frames {
        let a = &truth_log_mel[t * n_mels..(t + 1) * n_mels];
        let b = &est_log_mel[t * n_mels..(t + 1) * n_mels];
        let squared: f64 = (1..=n_ceps)
            .map(|d| (dct2_coefficient(a, d) - dct2_coefficient(b, d)).powi(2))
            .sum();
        total += scale * (2.0 * squared).sqrt();
    }
    total / n_frames as f64
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
