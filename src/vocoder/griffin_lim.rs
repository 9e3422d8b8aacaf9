//! Offline spectrogram inversion with fast Griffin-Lim, the quality reference.

use realfft::num_complex::Complex;

use super::frame_codec::FrameCodec;
use super::target::TargetMagnitude;
use crate::mel::MelConfig;

/// Momentum of fast Griffin-Lim (Perraudin et al. 2013 recommend 0.99).
const MOMENTUM: f32 = 0.99;

/// Inverts a frame-major log-mel spectrogram offline with `iterations`
/// steps of fast Griffin-Lim.
///
/// The output has `n_frames * hop_length` samples and is aligned with the
/// analysed audio: output sample `n` corresponds to original sample `n`
/// (frame `k` covers `[(k+1)*hop - win_length, (k+1)*hop)`, and samples
/// before 0 are constrained to zero). The initial phase is zero, so the
/// result is deterministic. Non-finite log-mel values count as the floor;
/// the output is clipped to `[-1, 1]`.
///
/// # Panics
/// If `cfg` is invalid.
pub fn griffin_lim(log_mel: &[f32], cfg: &MelConfig, iterations: usize) -> Vec<f32> {
    if let Err(e) = cfg.validate() {
        panic!("griffin_lim: {e}");
    }
    let (hop, win, n_bins, n_mels) = (cfg.hop_length, cfg.win_length, cfg.n_bins(), cfg.n_mels);
    let n_frames = log_mel.len() / n_mels;
    if n_frames == 0 {
        return Vec::new();
    }
    let mut codec = FrameCodec::new(cfg);
    let mut target = TargetMagnitude::new(cfg);
    let mut magnitudes = vec![0.0f32; n_frames * n_bins];
    for (frame, mag) in log_mel
        .chunks_exact(n_mels)
        .zip(magnitudes.chunks_exact_mut(n_bins))
    {
        target.compute(frame, mag);
    }

    // Buffer sample `i` is original sample `i - pre`; frame k starts at `k * hop`.
    let pre = win - hop;
    let len = pre + n_frames * hop;
    let mut norm = vec![0.0f32; len];
    for k in 0..n_frames {
        for (n, w) in codec.window().iter().enumerate() {
            norm[k * hop + n] += w * w;
        }
    }

    let mut coefficients: Vec<Complex<f32>> =
        magnitudes.iter().map(|&m| Complex::new(m, 0.0)).collect();
    let mut previous = coefficients.clone();
    let mut signal = vec![0.0f32; len];
    let mut frame = vec![0.0f32; win];
    for iteration in 0..=iterations {
        // Least-squares inverse STFT of the magnitude-projected coefficients.
        signal.fill(0.0);
        for k in 0..n_frames {
            let bins = k * n_bins..(k + 1) * n_bins;
            codec.spectrum.copy_from_slice(&coefficients[bins.clone()]);
            codec.impose_magnitude(&magnitudes[bins]);
            codec.synthesize(&mut frame, false);
            for (s, f) in signal[k * hop..k * hop + win].iter_mut().zip(&frame) {
                *s += f;
            }
        }
        for (s, &n) in signal.iter_mut().zip(&norm) {
            *s = if n > 1e-6 { *s / n } else { 0.0 };
        }
        signal[..pre].fill(0.0);
        if iteration == iterations {
            break;
        }
        // STFT of the estimate, with momentum on the consistent coefficients.
        for k in 0..n_frames {
            let bins = k * n_bins..(k + 1) * n_bins;
            codec.analyze(&signal[k * hop..k * hop + win]);
            for ((c, p), &t) in coefficients[bins.clone()]
                .iter_mut()
                .zip(&mut previous[bins])
                .zip(&codec.spectrum)
            {
                *c = t + (t - *p) * MOMENTUM;
                *p = t;
            }
        }
    }
    signal[pre..]
        .iter()
        .map(|x| {
            if x.is_finite() {
                x.clamp(-1.0, 1.0)
            } else {
                0.0
            }
        })
        .collect()
}
