//! Resynthesis quality of the streaming vocoder and the offline Griffin-Lim
//! reference: analyse → vocode → re-analyse, compared in the log-mel domain.

use neurospeak::mel::{MelConfig, log_mel_spectrogram};
use neurospeak::metrics::{mean_bin_pearson, mel_cepstral_distortion_db, pearson_r};
use neurospeak::vocoder::{StreamingVocoder, VocoderConfig, griffin_lim};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SR: f32 = 16_000.0;

/// Quality figures of one resynthesis against the original log-mel.
#[derive(Debug)]
struct Quality {
    mean_bin_r: f64,
    flat_r: f64,
    mcd_db: f64,
}

fn quality(original: &[f32], resynth_audio: &[f32], cfg: &MelConfig) -> Quality {
    let truth = log_mel_spectrogram(original, cfg);
    let est = log_mel_spectrogram(resynth_audio, cfg);
    Quality {
        mean_bin_r: mean_bin_pearson(&truth, &est, cfg.n_mels),
        flat_r: pearson_r(&truth, &est),
        mcd_db: mel_cepstral_distortion_db(&truth, &est, cfg.n_mels, 12),
    }
}

/// Streams every frame of `log_mel` through a fresh vocoder, then flushes
/// with floor frames, and returns output aligned to the original audio.
fn stream(log_mel: &[f32], vocoder: &mut StreamingVocoder, cfg: &MelConfig) -> Vec<f32> {
    let hop = cfg.hop_length;
    let latency = vocoder.latency_samples();
    assert_eq!(latency % hop, 0);
    let flush = vec![cfg.log_floor.ln(); cfg.n_mels];
    let mut out = Vec::new();
    let mut block = vec![0.0; hop];
    for frame in log_mel
        .chunks_exact(cfg.n_mels)
        .chain((0..latency / hop).map(|_| &flush[..]))
    {
        vocoder.push_frame(frame, &mut block);
        out.extend_from_slice(&block);
    }
    out.split_off(latency)
}

/// A voiced, speech-like signal: harmonics of a 120 Hz fundamental with
/// 5 Hz vibrato, a formant-like spectral tilt and a syllabic envelope.
fn harmonic_with_vibrato(seconds: f32) -> Vec<f32> {
    let n = (seconds * SR) as usize;
    let mut phase = 0.0f64;
    (0..n)
        .map(|i| {
            let t = i as f32 / SR;
            let f0 = 120.0 * (1.0 + 0.04 * (2.0 * std::f32::consts::PI * 5.0 * t).sin());
            phase += f64::from(f0) / f64::from(SR);
            let mut x = 0.0;
            for h in 1..=40 {
                let fh = f0 * h as f32;
                if fh > 7000.0 {
                    break;
                }
                let formant = 1.0 / (1.0 + ((fh - 700.0) / 400.0).powi(2))
                    + 0.5 / (1.0 + ((fh - 1800.0) / 500.0).powi(2));
                x += formant / h as f32
                    * (2.0 * std::f64::consts::PI * phase * h as f64).sin() as f32;
            }
            let envelope = 0.55 - 0.45 * (2.0 * std::f32::consts::PI * 3.0 * t).cos();
            0.2 * envelope * x
        })
        .collect()
}

/// A linear chirp from 200 Hz to 3 kHz.
fn chirp(seconds: f32) -> Vec<f32> {
    let n = (seconds * SR) as usize;
    let rate = (3000.0 - 200.0) / seconds;
    (0..n)
        .map(|i| {
            let t = i as f32 / SR;
            0.3 * (2.0 * std::f32::consts::PI * (200.0 * t + 0.5 * rate * t * t)).sin()
        })
        .collect()
}

/// Bursts of white noise, 100 ms on and 150 ms off.
fn noise_bursts(seconds: f32) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let n = (seconds * SR) as usize;
    (0..n)
        .map(|i| {
            let on = (i % 4000) < 1600;
            let x: f32 = rng.random_range(-1.0..1.0);
            if on { 0.2 * x } else { 0.001 * x }
        })
        .collect()
}

fn arctic() -> Option<Vec<f32>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/speech/arctic_a0007.wav");
    if !path.exists() {
        eprintln!(
            "SKIP: {} not found (a fresh clone has no ../shared); real-speech check skipped",
            path.display()
        );
        return None;
    }
    let mut reader = hound::WavReader::open(&path).expect("readable WAV");
    let spec = reader.spec();
    assert_eq!(spec.sample_rate, 16_000);
    assert_eq!(spec.channels, 1);
    let scale = 1.0 / (1u32 << (spec.bits_per_sample - 1)) as f32;
    Some(
        reader
            .samples::<i32>()
            .map(|s| s.expect("valid sample") as f32 * scale)
            .collect(),
    )
}

fn check(name: &str, audio: &[f32], streaming_min_r: f64) {
    let vcfg = VocoderConfig::default();
    let cfg = &vcfg.mel;
    let log_mel = log_mel_spectrogram(audio, cfg);
    let mut vocoder = StreamingVocoder::new(&vcfg).unwrap();
    let streamed = stream(&log_mel, &mut vocoder, cfg);
    let offline = griffin_lim(&log_mel, cfg, 32);
    let q_stream = quality(audio, &streamed, cfg);
    let q_offline = quality(audio, &offline, cfg);
    eprintln!("{name}: streaming {q_stream:?}");
    eprintln!("{name}: griffin-lim(32) {q_offline:?}");
    assert!(
        q_stream.mean_bin_r >= streaming_min_r,
        "{name}: streaming mean-bin r {} < {streaming_min_r}",
        q_stream.mean_bin_r
    );
    assert!(
        q_stream.flat_r >= streaming_min_r,
        "{name}: streaming flattened r {} < {streaming_min_r}",
        q_stream.flat_r
    );
    assert!(q_stream.mcd_db.is_finite() && q_offline.mcd_db.is_finite());
    assert!(
        q_offline.mean_bin_r >= q_stream.mean_bin_r - 0.01,
        "{name}: offline Griffin-Lim ({}) worse than streaming ({})",
        q_offline.mean_bin_r,
        q_stream.mean_bin_r
    );
}

#[test]
fn harmonic_signal_resynthesises_well() {
    check("harmonic", &harmonic_with_vibrato(2.0), 0.9);
}

#[test]
fn chirp_resynthesises_well() {
    check("chirp", &chirp(1.5), 0.9);
}

#[test]
fn noise_bursts_resynthesise_well() {
    check("noise", &noise_bursts(1.5), 0.9);
}

#[test]
fn arctic_speech_resynthesises_well() {
    let Some(audio) = arctic() else { return };
    check("arctic", &audio, 0.9);
}

#[test]
fn streaming_is_deterministic_and_reset_restores_initial_state() {
    let vcfg = VocoderConfig::default();
    let cfg = &vcfg.mel;
    let log_mel = log_mel_spectrogram(&harmonic_with_vibrato(0.5), cfg);
    let mut first = StreamingVocoder::new(&vcfg).unwrap();
    let a = stream(&log_mel, &mut first, cfg);
    let mut second = StreamingVocoder::new(&vcfg).unwrap();
    let b = stream(&log_mel, &mut second, cfg);
    assert_eq!(a, b, "two fresh vocoders disagree");
    first.reset();
    let c = stream(&log_mel, &mut first, cfg);
    assert_eq!(a, c, "reset did not restore the initial state");
    assert!(a.iter().any(|&x| x.abs() > 1e-3), "output is silent");
}

#[test]
fn priming_is_silent_and_latency_is_reported() {
    let vcfg = VocoderConfig::default();
    let cfg = &vcfg.mel;
    let mut vocoder = StreamingVocoder::new(&vcfg).unwrap();
    // 3 look-ahead frames + 3 hops of overlap-add delay, 10 ms each.
    assert_eq!(vocoder.latency_samples(), 960);
    assert!((vocoder.algorithmic_latency_s() - 0.06).abs() < 1e-12);
    let log_mel = log_mel_spectrogram(&harmonic_with_vibrato(0.2), cfg);
    let mut block = vec![1.0; cfg.hop_length];
    let priming = vocoder.latency_samples() / cfg.hop_length;
    for frame in log_mel.chunks_exact(cfg.n_mels).take(priming) {
        vocoder.push_frame(frame, &mut block);
        assert!(block.iter().all(|&x| x == 0.0), "priming output not silent");
    }
}

#[test]
fn non_finite_and_extreme_input_gives_finite_clipped_audio() {
    let vcfg = VocoderConfig::default();
    let cfg = &vcfg.mel;
    let mut vocoder = StreamingVocoder::new(&vcfg).unwrap();
    let mut frame = vec![0.0f32; cfg.n_mels];
    let mut block = vec![0.0; cfg.hop_length];
    for k in 0..50 {
        for (m, v) in frame.iter_mut().enumerate() {
            *v = match (k + m) % 5 {
                0 => f32::NAN,
                1 => f32::INFINITY,
                2 => f32::NEG_INFINITY,
                3 => 1e30,
                _ => 20.0,
            };
        }
        vocoder.push_frame(&frame, &mut block);
        assert!(block.iter().all(|x| x.is_finite() && x.abs() <= 1.0));
    }
    let offline = griffin_lim(&frame.repeat(10), cfg, 4);
    assert!(offline.iter().all(|x| x.is_finite() && x.abs() <= 1.0));
}
