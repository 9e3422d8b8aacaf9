//! Mel-cepstral distortion on the conventional scale (Kubichek 1993, as
//! computed with SPTK mel-cepstra in the speech-synthesis and speech-BCI
//! literature).
//!
//! # Mel-cepstra from a log-mel frame
//!
//! SPTK defines the mel-cepstrum `c̃_0 ..= c̃_D` of a frame by its log
//! *amplitude* spectrum on the warped (mel) frequency axis `ω̃ ∈ [0, π]`:
//! `ln |X(ω̃)| = Σ_d c̃_d cos(d ω̃)`. This is the minimum-phase form, in which
//! every `c̃_d` with `d ≥ 1` is twice the coefficient of the symmetric real
//! cepstrum (`pysptk.sp2mc` makes it so by halving only `c_0`).
//!
//! A log-mel frame samples that curve: band `m` of `M` bands equally spaced
//! on the mel axis sits at `ω̃_m = π (m + ½) / M`, and its natural-log power
//! `x_m` is twice the log amplitude, `ln |X| = x_m / 2`. Projecting the
//! sampled log amplitude on `cos(d ω̃)` gives
//!
//! `c_d = (2 / M) Σ_m (x_m / 2) cos(π d (m + ½) / M) = (1 / M) Σ_m x_m cos(π d (m + ½) / M)`,
//!
//! a DCT-II of the log amplitude with SPTK's normalisation. The HTK mel axis of
//! the filterbank stands in for SPTK's all-pass warping (α = 0.42 at 16 kHz
//! approximates the same mel scale), and the triangular bands for SPTK's
//! spectral envelope; `tests/accuracy_peers.rs` checks the resulting MCD
//! against `pysptk.mcep` on real speech.
//!
//! # Distortion
//!
//! Per frame, `MCD = (10 / ln 10) · sqrt(2 · Σ_{d=1}^{D} (c_d − c'_d)²)` in dB;
//! `c_0` (the overall level) is left out. Reports give `D = 13` and `D = 24`.

/// `D` of the customary MCD over `c_1 ..= c_13`.
pub const MCD_C13: usize = 13;
/// `D` of the MCD over `c_1 ..= c_24` (SPTK's usual order at 16 kHz).
pub const MCD_C24: usize = 24;

/// The cosine table `cos(π d (m + ½) / M) / M` for `d = 1 ..= n_ceps`,
/// `n_ceps * n_mels` values, row `d - 1`.
fn basis(n_mels: usize, n_ceps: usize) -> Vec<f64> {
    let m_total = n_mels as f64;
    let mut table = Vec::with_capacity(n_ceps * n_mels);
    for d in 1..=n_ceps {
        for m in 0..n_mels {
            let angle = std::f64::consts::PI * d as f64 * (m as f64 + 0.5) / m_total;
            table.push(angle.cos() / m_total);
        }
    }
    table
}

/// Mel-cepstral coefficients `c_1 ..= c_n_ceps` of one natural-log mel power
/// frame, on SPTK's scale (see the module documentation).
pub fn mel_cepstrum(log_mel_frame: &[f32], n_ceps: usize) -> Vec<f64> {
    let table = basis(log_mel_frame.len(), n_ceps);
    cepstrum_with(&table, log_mel_frame)
}

fn cepstrum_with(table: &[f64], frame: &[f32]) -> Vec<f64> {
    table
        .chunks_exact(frame.len().max(1))
        .map(|row| row.iter().zip(frame).map(|(c, &x)| c * f64::from(x)).sum())
        .collect()
}

/// Mel-cepstral distortion of every common frame, in dB, over
/// `c_1 ..= c_n_ceps` (see the module documentation).
///
/// # Panics
/// If `n_mels` is 0.
pub fn mcd_frames_db(
    truth_log_mel: &[f32],
    est_log_mel: &[f32],
    n_mels: usize,
    n_ceps: usize,
) -> Vec<f64> {
    assert!(n_mels > 0, "n_mels must be positive");
    let table = basis(n_mels, n_ceps);
    let scale = 10.0 / std::f64::consts::LN_10;
    truth_log_mel
        .chunks_exact(n_mels)
        .zip(est_log_mel.chunks_exact(n_mels))
        .map(|(a, b)| {
            let squared: f64 = table
                .chunks_exact(n_mels)
                .map(|row| {
                    let diff: f64 = row
                        .iter()
                        .zip(a.iter().zip(b))
                        .map(|(c, (&x, &y))| c * (f64::from(x) - f64::from(y)))
                        .sum();
                    diff * diff
                })
                .sum();
            scale * (2.0 * squared).sqrt()
        })
        .collect()
}

/// Mel-cepstral distortion in dB over `c_1 ..= c_n_ceps`, averaged over the
/// common frames (0.0 if there are none); see the module documentation.
///
/// # Panics
/// If `n_mels` is 0.
pub fn mel_cepstral_distortion_db(
    truth_log_mel: &[f32],
    est_log_mel: &[f32],
    n_mels: usize,
    n_ceps: usize,
) -> f64 {
    let frames = mcd_frames_db(truth_log_mel, est_log_mel, n_mels, n_ceps);
    mean_where(&frames, None)
}

/// The mean of `values`, over those where `select` is true when it is given
/// (entries beyond `select.len()` are left out); 0.0 when nothing is left.
pub fn mean_where(values: &[f64], select: Option<&[bool]>) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for (k, v) in values.iter().enumerate() {
        if select.is_none_or(|s| s.get(k).copied().unwrap_or(false)) {
            sum += v;
            n += 1;
        }
    }
    if n == 0 { 0.0 } else { sum / n as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cepstrum_of_a_cosine_ripple_recovers_its_amplitude() {
        // ln power x_m = 2 a cos(3 ω̃_m) is log amplitude a cos(3 ω̃): c_3 = a, others 0.
        let m = 40;
        let a = 0.7;
        let frame: Vec<f32> = (0..m)
            .map(|k| {
                let w = std::f64::consts::PI * (k as f64 + 0.5) / m as f64;
                (2.0 * a * (3.0 * w).cos()) as f32
            })
            .collect();
        let c = mel_cepstrum(&frame, 6);
        for (d, v) in c.iter().enumerate() {
            let want = if d + 1 == 3 { a } else { 0.0 };
            assert!((v - want).abs() < 1e-6, "c{} = {v}, want {want}", d + 1);
        }
    }

    #[test]
    fn mean_where_selects() {
        assert_eq!(mean_where(&[1.0, 3.0, 5.0], None), 3.0);
        assert_eq!(
            mean_where(&[1.0, 3.0, 5.0], Some(&[true, false, true])),
            3.0
        );
        assert_eq!(mean_where(&[1.0, 3.0], Some(&[false, true, true])), 3.0);
        assert_eq!(mean_where(&[1.0], Some(&[false])), 0.0);
    }
}
