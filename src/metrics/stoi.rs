//! Short-time objective intelligibility: STOI (Taal, Hendriks, Heusdens &
//! Jensen 2011) and extended STOI (Jensen & Taal 2016) of a processed
//! (here: decoded) signal against the clean one.
//!
//! Both follow the published MATLAB reference, as `pystoi` does:
//!
//! 1. Resample to 10 kHz ([`super::resample`]).
//! 2. Drop the frames (256 samples, hop 128, Hann window) where the clean
//!    signal is more than 40 dB below its loudest frame, from both signals,
//!    and overlap-add what is left.
//! 3. Short-time spectra: 256-sample Hann frames, hop 128, 512-point FFT; the
//!    15 one-third-octave bands from 150 Hz (band edges rounded to FFT bins)
//!    give envelopes `sqrt(Σ |X_k|²)` per band and frame.
//! 4. Segments of 30 frames (384 ms), one starting at every frame.
//!    - STOI: per band, the processed envelope is scaled to the clean one's
//!      energy and clipped at 15 dB above it (signal-to-distortion bound
//!      −15 dB), then correlated with the clean envelope over the segment;
//!      the mean over bands and segments.
//!    - ESTOI: each segment's band × frame matrix is normalised to zero mean
//!      and unit norm along time for every band, then along bands for every
//!      frame; the score is the mean over segments of the two matrices'
//!      inner product divided by 30 (no clipping).
//!
//! Signals of different lengths are compared over their common prefix (the
//! references refuse them). When fewer than 30 frames remain after step 2 the
//! score is undefined and `None` comes back (`pystoi` warns and returns 1e-5).

use super::resample::resample;
use realfft::RealFftPlanner;
use realfft::num_complex::Complex;

/// The rate STOI is defined at.
pub const STOI_RATE_HZ: u32 = 10_000;
const FRAME: usize = 256;
const HOP: usize = FRAME / 2;
const NFFT: usize = 512;
const BANDS: usize = 15;
const MIN_FREQ_HZ: f64 = 150.0;
const SEGMENT: usize = 30;
const BETA_DB: f64 = -15.0;
const DYN_RANGE_DB: f64 = 40.0;
const EPS: f64 = f64::EPSILON;

/// STOI of `processed` against `clean`, both at `rate` Hz; see the module
/// documentation. Typically 0.4–1: near 1 for clean speech.
pub fn stoi(clean: &[f32], processed: &[f32], rate: u32) -> Option<f64> {
    let (x, y) = envelopes(clean, processed, rate)?;
    let clip = 10f64.powf(-BETA_DB / 20.0);
    let segments = x.len() - SEGMENT + 1;
    let mut total = 0.0;
    let (mut xs, mut ys) = ([0.0f64; SEGMENT], [0.0f64; SEGMENT]);
    for m in 0..segments {
        for j in 0..BANDS {
            for t in 0..SEGMENT {
                xs[t] = x[m + t][j];
                ys[t] = y[m + t][j];
            }
            let alpha = norm(&xs) / (norm(&ys) + EPS);
            for t in 0..SEGMENT {
                ys[t] = (alpha * ys[t]).min(xs[t] * (1.0 + clip));
            }
            total += correlation(&mut xs, &mut ys);
        }
    }
    Some(total / (segments * BANDS) as f64)
}

/// Extended STOI of `processed` against `clean`, both at `rate` Hz; see the
/// module documentation. Lower than STOI for the same signals.
pub fn estoi(clean: &[f32], processed: &[f32], rate: u32) -> Option<f64> {
    let (x, y) = envelopes(clean, processed, rate)?;
    let segments = x.len() - SEGMENT + 1;
    let mut total = 0.0;
    let mut xs = [[0.0f64; SEGMENT]; BANDS];
    let mut ys = [[0.0f64; SEGMENT]; BANDS];
    for m in 0..segments {
        for j in 0..BANDS {
            for t in 0..SEGMENT {
                xs[j][t] = x[m + t][j];
                ys[j][t] = y[m + t][j];
            }
        }
        normalise_rows_then_columns(&mut xs);
        normalise_rows_then_columns(&mut ys);
        let inner: f64 = xs
            .iter()
            .zip(&ys)
            .flat_map(|(a, b)| a.iter().zip(b).map(|(p, q)| p * q))
            .sum();
        total += inner / SEGMENT as f64;
    }
    Some(total / segments as f64)
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Subtracts the mean from `v` and divides by its norm (plus `EPS`).
fn centre_and_scale(v: &mut [f64]) {
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    v.iter_mut().for_each(|x| *x -= mean);
    let n = norm(v) + EPS;
    v.iter_mut().for_each(|x| *x /= n);
}

/// The correlation coefficient of two vectors, as the reference computes it
/// (both are overwritten).
fn correlation(a: &mut [f64], b: &mut [f64]) -> f64 {
    centre_and_scale(a);
    centre_and_scale(b);
    a.iter().zip(b.iter()).map(|(p, q)| p * q).sum()
}

/// Zero mean and unit norm along time for every band, then along bands for
/// every frame. A row or column that is all zero stays zero.
fn normalise_rows_then_columns(m: &mut [[f64; SEGMENT]; BANDS]) {
    for row in m.iter_mut() {
        let mean = row.iter().sum::<f64>() / SEGMENT as f64;
        row.iter_mut().for_each(|x| *x -= mean);
        let n = norm(row);
        if n > 0.0 {
            row.iter_mut().for_each(|x| *x /= n);
        }
    }
    for t in 0..SEGMENT {
        let mean = m.iter().map(|r| r[t]).sum::<f64>() / BANDS as f64;
        m.iter_mut().for_each(|r| r[t] -= mean);
        let n = m.iter().map(|r| r[t] * r[t]).sum::<f64>().sqrt();
        if n > 0.0 {
            m.iter_mut().for_each(|r| r[t] /= n);
        }
    }
}

/// MATLAB's `hanning(n)`: the Hann window without its zero end points.
fn hanning(n: usize) -> Vec<f64> {
    (0..n)
        .map(|k| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * (k + 1) as f64 / (n + 1) as f64).cos())
        .collect()
}

/// Start of every analysis frame of a signal of `len` samples (the last
/// frame that would end exactly at the end is left out, as in the reference).
fn frame_starts(len: usize) -> impl Iterator<Item = usize> {
    (0..len.saturating_sub(FRAME)).step_by(HOP)
}

/// Drops the frames where `x` is more than [`DYN_RANGE_DB`] below its loudest
/// frame, from both signals, and overlap-adds the windowed frames left.
fn remove_silent_frames(x: &[f64], y: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let w = hanning(FRAME);
    let energy: Vec<f64> = frame_starts(x.len())
        .map(|s| {
            let e: f64 = (0..FRAME).map(|k| (w[k] * x[s + k]).powi(2)).sum();
            20.0 * (e.sqrt() + EPS).log10()
        })
        .collect();
    let max = energy.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let kept: Vec<usize> = frame_starts(x.len())
        .zip(&energy)
        .filter(|(_, e)| max - DYN_RANGE_DB - **e < 0.0)
        .map(|(s, _)| s)
        .collect();
    let len = match kept.len() {
        0 => 0,
        n => (n - 1) * HOP + FRAME,
    };
    let (mut xo, mut yo) = (vec![0.0; len], vec![0.0; len]);
    for (k, &s) in kept.iter().enumerate() {
        for i in 0..FRAME {
            xo[k * HOP + i] += w[i] * x[s + i];
            yo[k * HOP + i] += w[i] * y[s + i];
        }
    }
    (xo, yo)
}

/// The 1/3-octave band of every FFT bin range: `(first, end)` bins.
fn third_octave_bands() -> [(usize, usize); BANDS] {
    let f: Vec<f64> = (0..=NFFT / 2)
        .map(|k| k as f64 * f64::from(STOI_RATE_HZ) / NFFT as f64)
        .collect();
    // The first bin nearest to `hz` (ties go to the lower bin).
    let nearest = |hz: f64| {
        let mut best = 0;
        for (k, &fk) in f.iter().enumerate() {
            if (fk - hz).powi(2) < (f[best] - hz).powi(2) {
                best = k;
            }
        }
        best
    };
    let mut bands = [(0, 0); BANDS];
    for (i, band) in bands.iter_mut().enumerate() {
        let k = i as f64;
        let low = MIN_FREQ_HZ * 2f64.powf((2.0 * k - 1.0) / 6.0);
        let high = MIN_FREQ_HZ * 2f64.powf((2.0 * k + 1.0) / 6.0);
        *band = (nearest(low), nearest(high));
    }
    bands
}

/// Band envelopes of a signal: one row of [`BANDS`] values per frame.
type Envelopes = Vec<[f64; BANDS]>;

/// The band envelopes of a signal.
fn band_envelopes(x: &[f64]) -> Envelopes {
    let w = hanning(FRAME);
    let bands = third_octave_bands();
    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(NFFT);
    let mut input = vec![0.0; NFFT];
    let mut spectrum = vec![Complex::new(0.0, 0.0); NFFT / 2 + 1];
    frame_starts(x.len())
        .map(|s| {
            input.iter_mut().for_each(|v| *v = 0.0);
            for k in 0..FRAME {
                input[k] = w[k] * x[s + k];
            }
            fft.process(&mut input, &mut spectrum)
                .expect("buffers have the planned lengths");
            let mut env = [0.0; BANDS];
            for (e, &(lo, hi)) in env.iter_mut().zip(&bands) {
                *e = spectrum[lo..hi]
                    .iter()
                    .map(|c| c.norm_sqr())
                    .sum::<f64>()
                    .sqrt();
            }
            env
        })
        .collect()
}

/// Steps 1–3 of the module documentation; `None` when fewer than 30 frames remain.
fn envelopes(clean: &[f32], processed: &[f32], rate: u32) -> Option<(Envelopes, Envelopes)> {
    let n = clean.len().min(processed.len());
    let to_f64 = |v: &[f32]| -> Vec<f64> { v[..n].iter().map(|&s| f64::from(s)).collect() };
    let (mut x, mut y) = (to_f64(clean), to_f64(processed));
    if rate != STOI_RATE_HZ {
        x = resample(&x, STOI_RATE_HZ, rate);
        y = resample(&y, STOI_RATE_HZ, rate);
    }
    let (x, y) = remove_silent_frames(&x, &y);
    let (ex, ey) = (band_envelopes(&x), band_envelopes(&y));
    (ex.len() >= SEGMENT).then_some((ex, ey))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(seed: u64, n: usize) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect()
    }

    #[test]
    fn bands_match_the_reference_table() {
        // thirdoct(10000, 512, 15, 150): edges in FFT bins of 19.53 Hz.
        let b = third_octave_bands();
        assert_eq!(b[0], (7, 9));
        assert_eq!(b[14], (174, 219));
    }

    #[test]
    fn identical_signals_score_one_and_short_ones_none() {
        let x = noise(1, 16_000);
        assert!((stoi(&x, &x, 16_000).unwrap() - 1.0).abs() < 1e-9);
        assert!((estoi(&x, &x, 16_000).unwrap() - 1.0).abs() < 1e-9);
        assert_eq!(stoi(&x[..3000], &x[..3000], 16_000), None);
    }

    #[test]
    fn independent_noise_scores_near_zero() {
        let (x, y) = (noise(1, 32_000), noise(2, 32_000));
        assert!(stoi(&x, &y, 16_000).unwrap().abs() < 0.1);
        assert!(estoi(&x, &y, 16_000).unwrap().abs() < 0.1);
    }
}
