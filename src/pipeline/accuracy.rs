//! Decoded-versus-true comparison: the true log-mel comes from the speech
//! paired with the recording, aligned to the EEG clock.

use crate::mel::{MelConfig, log_mel_spectrogram};
use crate::metrics::{mean_bin_pearson, mel_cepstral_distortion_db};
use crate::recording::Recording;
use crate::report::AccuracyReport;

/// Cepstral coefficients used for MCD (c1..c13; c0, the energy, is left out).
pub const MCD_COEFFICIENTS: usize = 13;

/// The log-mel frames of the recording's paired speech, aligned so that frame
/// k ends at EEG time (k+1) hops after the first EEG sample. `None` when the
/// recording holds no audio.
pub fn true_log_mel(rec: &Recording, mel: &MelConfig) -> Option<Vec<f32>> {
    let audio = rec.audio.as_ref()?;
    let eeg_start = *rec.eeg.timestamps.first()?;
    let rate = audio.sample_rate as f64;
    let offset = ((audio.first_timestamp - eeg_start) * rate).round() as i64;
    let n = (rec.eeg.duration_s() * rate) as usize;
    let aligned: Vec<f32> = (0..n as i64)
        .map(|i| {
            let j = i - offset;
            if j >= 0 && (j as usize) < audio.samples.len() {
                audio.samples[j as usize]
            } else {
                0.0
            }
        })
        .collect();
    Some(log_mel_spectrogram(&aligned, mel))
}

/// Compares decoded frames with the truth over the frames both have.
pub fn compare(truth: &[f32], decoded: &[f32], n_mels: usize, against: &str) -> AccuracyReport {
    let frames = (truth.len() / n_mels).min(decoded.len() / n_mels);
    let (t, d) = (&truth[..frames * n_mels], &decoded[..frames * n_mels]);
    AccuracyReport {
        pearson_r: mean_bin_pearson(t, d, n_mels),
        mcd_db: mel_cepstral_distortion_db(t, d, n_mels, MCD_COEFFICIENTS),
        compared_against: against.to_string(),
        frames_compared: frames,
    }
}
