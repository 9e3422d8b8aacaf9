//! Decoded-versus-true comparison: the true log-mel and audio come from the
//! speech paired with the recording, aligned to the EEG clock.
//!
//! Every comparison also scores a *loudness-only baseline*: the recording's
//! mean spectral shape moved to each frame's true level
//! ([`loudness_baseline`]), vocoded by the same vocoder as the decoded
//! frames. It knows the true loudness contour and nothing else, so what a
//! model scores above it is what the model adds beyond loudness.
//!
//! It also scores *copy synthesis*: the true log-mel itself through the same
//! vocoder. Its spectral figures are perfect by construction; its STOI,
//! ESTOI (and WER in `benchmark`) are the ceiling of what any decoder can
//! reach with this representation and vocoder.
//!
//! Audio alignment: decoded frame k is centre frame k (future context delays
//! its emission, not its index), and the vocoder's output lags the audio it
//! reconstructs by its look-ahead and overlap
//! ([`crate::vocoder::StreamingVocoder::latency_samples`]). So decoded audio
//! sample `n + delay` is compared with true audio sample `n`, where true
//! sample 0 is the first EEG sample's time; the rest of the algorithmic
//! latency (half the feature window, future context) delays when a frame is
//! produced, not what it shows.

use crate::mel::{MelConfig, log_mel_spectrogram};
use crate::metrics::mcd::{MCD_C13, MCD_C24, mean_where};
use crate::metrics::{
    estoi, mcd_frames_db, mean_bin_pearson, spectral_shape_r, speech_frames, stoi,
};
use crate::recording::Recording;
use crate::report::{AccuracyReport, AudioAlignment, Figures, McdFigures, McdReport};
use crate::vocoder::{StreamingVocoder, VocoderConfig, VocoderError};

/// Cepstral coefficients of the single MCD figure of training and
/// optimization (c1..c13; c0, the energy, is left out).
pub const MCD_COEFFICIENTS: usize = MCD_C13;

/// The speech paired with a recording, aligned so that sample 0 is at the
/// first EEG sample, and its log-mel (frame k ends at EEG time (k+1) hops).
#[derive(Clone, Debug)]
pub struct PairedSpeech {
    pub audio: Vec<f32>,
    pub sample_rate: u32,
    pub log_mel: Vec<f32>,
}

/// The recording's paired speech on the EEG clock; `None` when it holds no audio.
pub fn paired_speech(rec: &Recording, mel: &MelConfig) -> Option<PairedSpeech> {
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
    let log_mel = log_mel_spectrogram(&aligned, mel);
    Some(PairedSpeech {
        audio: aligned,
        sample_rate: audio.sample_rate,
        log_mel,
    })
}

/// The log-mel frames of the recording's paired speech, aligned so that frame
/// k ends at EEG time (k+1) hops after the first EEG sample. `None` when the
/// recording holds no audio.
pub fn true_log_mel(rec: &Recording, mel: &MelConfig) -> Option<Vec<f32>> {
    paired_speech(rec, mel).map(|p| p.log_mel)
}

/// The loudness-only baseline of a true log-mel: every frame gets the
/// recording's mean spectral shape, moved to that frame's true level.
///
/// A frame's level is its mean log-mel across bins, `ℓ_k = mean_m x_km` (the
/// mean band level; 10/ln 10 of it is dB). The shape is
/// `s_m = mean_k (x_km − ℓ_k)` over the speech frames (all frames when none
/// is), and the baseline is `max(ℓ_k + s_m, ln log_floor)`: the true level
/// contour and one fixed shape, never below the floor the truth is floored at.
///
/// Why the mean log level and not the log of the summed power: Pearson r per
/// bin ignores a fixed offset per bin, so the baseline's r depends only on
/// the contour it follows, and the mean log level tracks the log-mel bins
/// more closely (the stronger baseline is the fairer one). And what it lacks
/// is exactly what spectral-shape r measures: each frame's deviation from its
/// own mean across bins.
pub fn loudness_baseline(
    truth: &[f32],
    n_mels: usize,
    speech: &[bool],
    log_floor: f32,
) -> Vec<f32> {
    assert!(n_mels > 0, "n_mels must be positive");
    let level: Vec<f64> = truth
        .chunks_exact(n_mels)
        .map(|f| f.iter().map(|&x| f64::from(x)).sum::<f64>() / n_mels as f64)
        .collect();
    let any_speech = speech.iter().take(level.len()).any(|&s| s);
    let mut shape = vec![0.0f64; n_mels];
    let mut count = 0usize;
    for (k, frame) in truth.chunks_exact(n_mels).enumerate() {
        if any_speech && !speech.get(k).copied().unwrap_or(false) {
            continue;
        }
        for (s, &x) in shape.iter_mut().zip(frame) {
            *s += f64::from(x) - level[k];
        }
        count += 1;
    }
    shape.iter_mut().for_each(|s| *s /= count.max(1) as f64);
    let floor = f64::from(log_floor).ln();
    level
        .iter()
        .flat_map(|&l| shape.iter().map(move |&s| (l + s).max(floor) as f32))
        .collect()
}

/// Pearson r, spectral-shape r and MCD of `est` against `truth` (frame-major,
/// `n_mels` a frame), with `speech` marking the speech frames; STOI and ESTOI
/// are left `None` (they need audio). Compares the common frames.
pub fn spectral_figures(truth: &[f32], est: &[f32], n_mels: usize, speech: &[bool]) -> Figures {
    let frames = (truth.len() / n_mels).min(est.len() / n_mels);
    let (t, e) = (&truth[..frames * n_mels], &est[..frames * n_mels]);
    let mcd13 = mcd_frames_db(t, e, n_mels, MCD_C13);
    let mcd24 = mcd_frames_db(t, e, n_mels, MCD_C24);
    let mcd = |select: Option<&[bool]>| McdFigures {
        c1_13: mean_where(&mcd13, select),
        c1_24: mean_where(&mcd24, select),
    };
    Figures {
        pearson_r: mean_bin_pearson(t, e, n_mels),
        spectral_shape_r: spectral_shape_r(t, e, n_mels, speech),
        mcd_db: McdReport {
            all_frames: mcd(None),
            speech_frames: mcd(Some(speech)),
        },
        stoi: None,
        estoi: None,
    }
}

/// One recording's decoded output: log-mel frames (frame k = centre frame k)
/// and audio at the vocoder's rate.
#[derive(Clone, Copy, Debug)]
pub struct Decoded<'a> {
    pub log_mel: &'a [f32],
    pub audio: &'a [f32],
}

/// One recording's truth with its speech frames and loudness baseline.
struct Part {
    speech: PairedSpeech,
    speech_frames: Vec<bool>,
    baseline_log_mel: Vec<f32>,
}

/// The truth of a set of recordings, with the loudness-only baseline scored
/// once, to score any number of decoders against.
pub struct Truth {
    parts: Vec<Option<Part>>,
    n_mels: usize,
    against: String,
    baseline_audio: Vec<Vec<f32>>,
    /// The true log-mel itself through the same vocoder, per recording.
    copy_audio: Vec<Vec<f32>>,
    baseline_delay: usize,
    baseline: Figures,
    copy_synthesis: Figures,
}

impl Truth {
    /// `speech[k]` is recording k's paired speech (`None` without any);
    /// `vocoder` is the configuration the baseline is vocoded with (the
    /// model's), `against` says what the truth is, for the report.
    pub fn new(
        speech: Vec<Option<PairedSpeech>>,
        vocoder: &VocoderConfig,
        against: &str,
    ) -> Result<Self, VocoderError> {
        let mel = &vocoder.mel;
        let n_mels = mel.n_mels;
        let mut voc = StreamingVocoder::new(vocoder)?;
        let delay = voc.latency_samples();
        let flush = vec![mel.log_floor.ln(); n_mels];
        let mut block = vec![0.0; mel.hop_length];
        let parts: Vec<Option<Part>> = speech
            .into_iter()
            .map(|s| {
                let s = s?;
                let speech_frames = speech_frames(&s.log_mel, n_mels, mel.log_floor);
                let baseline_log_mel =
                    loudness_baseline(&s.log_mel, n_mels, &speech_frames, mel.log_floor);
                Some(Part {
                    speech: s,
                    speech_frames,
                    baseline_log_mel,
                })
            })
            .collect();
        let mut vocode = |voc: &mut StreamingVocoder, log_mel: &[f32]| {
            // Flush with floor frames so the audio covers all of the truth.
            voc.reset();
            let mut audio = Vec::with_capacity((log_mel.len() / n_mels + 8) * mel.hop_length);
            for frame in log_mel
                .chunks_exact(n_mels)
                .chain((0..delay.div_ceil(mel.hop_length)).map(|_| &flush[..]))
            {
                voc.push_frame(frame, &mut block);
                audio.extend_from_slice(&block);
            }
            audio
        };
        let (mut baseline_audio, mut copy_audio) = (Vec::new(), Vec::new());
        for part in &parts {
            let (b, c) = match part {
                Some(p) => (
                    vocode(&mut voc, &p.baseline_log_mel),
                    vocode(&mut voc, &p.speech.log_mel),
                ),
                None => (Vec::new(), Vec::new()),
            };
            baseline_audio.push(b);
            copy_audio.push(c);
        }
        let mut truth = Self {
            parts,
            n_mels,
            against: against.to_string(),
            baseline_audio,
            copy_audio,
            baseline_delay: delay,
            baseline: spectral_figures(&[], &[], n_mels, &[]),
            copy_synthesis: spectral_figures(&[], &[], n_mels, &[]),
        };
        let outputs: Vec<Option<(&[f32], &[f32])>> = truth
            .parts
            .iter()
            .zip(&truth.baseline_audio)
            .map(|(p, a)| {
                p.as_ref()
                    .map(|p| (p.baseline_log_mel.as_slice(), a.as_slice()))
            })
            .collect();
        truth.baseline = truth.figures(&outputs, delay).0;
        let outputs: Vec<Option<(&[f32], &[f32])>> = truth
            .parts
            .iter()
            .zip(&truth.copy_audio)
            .map(|(p, a)| {
                p.as_ref()
                    .map(|p| (p.speech.log_mel.as_slice(), a.as_slice()))
            })
            .collect();
        truth.copy_synthesis = truth.figures(&outputs, delay).0;
        Ok(truth)
    }

    /// Whether any recording had paired speech.
    pub fn is_empty(&self) -> bool {
        self.parts.iter().all(Option::is_none)
    }

    /// The baseline's audio per recording (empty without paired speech); its
    /// sample `n + baseline_delay()` goes with true sample `n`.
    pub fn baseline_audio(&self) -> &[Vec<f32>] {
        &self.baseline_audio
    }

    /// Copy synthesis per recording: the true log-mel through the model's
    /// vocoder (empty without paired speech), delayed like
    /// [`Self::baseline_audio`]. The decoder cannot sound better than this.
    pub fn copy_synthesis_audio(&self) -> &[Vec<f32>] {
        &self.copy_audio
    }

    /// The vocoder delay of [`Self::baseline_audio`] and
    /// [`Self::copy_synthesis_audio`], in samples.
    pub fn baseline_delay(&self) -> usize {
        self.baseline_delay
    }

    /// Scores decoded outputs, one per recording given to [`Truth::new`]
    /// (recordings without paired speech are skipped), whose audio lags the
    /// truth by `audio_delay` samples (the vocoder's latency).
    pub fn score(&self, decoded: &[Decoded], audio_delay: usize) -> AccuracyReport {
        let outputs: Vec<Option<(&[f32], &[f32])>> =
            decoded.iter().map(|d| Some((d.log_mel, d.audio))).collect();
        let (f, counts) = self.figures(&outputs, audio_delay);
        let rate = self
            .parts
            .iter()
            .flatten()
            .next()
            .map_or(16_000, |p| p.speech.sample_rate);
        AccuracyReport {
            decoded: f,
            loudness_baseline: self.baseline.clone(),
            copy_synthesis: self.copy_synthesis.clone(),
            compared_against: self.against.clone(),
            frames_compared: counts.frames,
            speech_frames: counts.speech_frames,
            audio: AudioAlignment {
                delay_samples: audio_delay,
                delay_ms: audio_delay as f64 * 1000.0 / f64::from(rate),
                seconds_compared: counts.audio_samples as f64 / f64::from(rate),
            },
        }
    }

    /// Every figure of `outputs[k]` (log-mel, audio) against recording k's
    /// truth, over all recordings together.
    fn figures(&self, outputs: &[Option<(&[f32], &[f32])>], delay: usize) -> (Figures, Counts) {
        let n_mels = self.n_mels;
        let (mut truth, mut est, mut speech) = (Vec::new(), Vec::new(), Vec::new());
        let (mut truth_audio, mut est_audio) = (Vec::new(), Vec::new());
        let mut rate = None;
        for (part, out) in self.parts.iter().zip(outputs) {
            let (Some(p), Some((log_mel, audio))) = (part, out) else {
                continue;
            };
            let frames = (p.speech.log_mel.len() / n_mels).min(log_mel.len() / n_mels);
            truth.extend_from_slice(&p.speech.log_mel[..frames * n_mels]);
            est.extend_from_slice(&log_mel[..frames * n_mels]);
            speech.extend_from_slice(&p.speech_frames[..frames.min(p.speech_frames.len())]);
            let n = p.speech.audio.len().min(audio.len().saturating_sub(delay));
            truth_audio.extend_from_slice(&p.speech.audio[..n]);
            est_audio.extend_from_slice(&audio[delay..delay + n]);
            rate.get_or_insert(p.speech.sample_rate);
        }
        let mut f = spectral_figures(&truth, &est, n_mels, &speech);
        if let Some(rate) = rate {
            f.stoi = stoi(&truth_audio, &est_audio, rate);
            f.estoi = estoi(&truth_audio, &est_audio, rate);
        }
        let counts = Counts {
            frames: truth.len() / n_mels,
            speech_frames: speech.iter().filter(|&&s| s).count(),
            audio_samples: truth_audio.len(),
        };
        (f, counts)
    }
}

/// How much was compared.
struct Counts {
    frames: usize,
    speech_frames: usize,
    audio_samples: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames with two spectral shapes (low-heavy and high-heavy) at
    /// several loudness levels, and a stretch of floor (silence).
    fn two_shapes(n_mels: usize) -> Vec<f32> {
        let mut out = Vec::new();
        for k in 0..60 {
            let level = [0.0f32, 1.5, -1.0][k % 3];
            for m in 0..n_mels {
                let tilt = if (k / 6) % 2 == 0 { -0.2 } else { 0.4 };
                out.push(level + tilt * m as f32);
            }
        }
        out.extend(std::iter::repeat_n(1e-6f32.ln(), 10 * n_mels));
        out
    }

    #[test]
    fn baseline_keeps_each_frames_level_and_only_the_mean_shape() {
        let n = 8;
        let truth = two_shapes(n);
        let speech = speech_frames(&truth, n, 1e-6);
        assert_eq!(speech.iter().filter(|&&s| s).count(), 60, "{speech:?}");
        let base = loudness_baseline(&truth, n, &speech, 1e-6);
        assert_eq!(base.len(), truth.len());
        let mean = |f: &[f32]| f.iter().sum::<f32>() / f.len() as f32;
        for (k, (t, b)) in truth
            .chunks_exact(n)
            .zip(base.chunks_exact(n))
            .take(60)
            .enumerate()
        {
            assert!((mean(t) - mean(b)).abs() < 1e-4, "frame {k}");
        }
        // Equal numbers of both tilts (-0.2 and 0.4 a bin): the mean shape
        // rises by 0.1 a bin in every frame.
        for frame in base[..60 * n].chunks_exact(n) {
            assert!(
                frame.windows(2).all(|w| (w[1] - w[0] - 0.1).abs() < 1e-4),
                "{frame:?}"
            );
        }
        // Nothing goes below the floor the truth is floored at.
        assert!(base.iter().all(|&v| v >= 1e-6f32.ln()));
    }

    #[test]
    fn baseline_scores_no_spectral_shape_and_a_decoder_that_knows_it_does() {
        let n = 8;
        let truth = two_shapes(n);
        let speech = speech_frames(&truth, n, 1e-6);
        let base = loudness_baseline(&truth, n, &speech, 1e-6);
        let exact = spectral_figures(&truth, &truth, n, &speech);
        assert!((exact.spectral_shape_r - 1.0).abs() < 1e-9);
        assert_eq!(exact.mcd_db.speech_frames.c1_24, 0.0);
        let loud = spectral_figures(&truth, &base, n, &speech);
        // The mean shape correlates +1 with the rising frames and -1 with the
        // falling ones, 0 on average; yet the loudness contour alone gives
        // every bin a high correlation over time.
        assert!(
            loud.spectral_shape_r.abs() < 1e-4,
            "{}",
            loud.spectral_shape_r
        );
        assert!(loud.pearson_r > 0.9, "{}", loud.pearson_r);
        assert!(loud.mcd_db.speech_frames.c1_13 > 1.0);
        // Silence is left out of the speech figures, not of the all-frame ones.
        assert!(loud.mcd_db.all_frames.c1_13 < loud.mcd_db.speech_frames.c1_13);
    }
}
