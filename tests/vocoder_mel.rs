//! Log-mel analysis: streaming equals batch, filterbank placement and
//! pseudo-inverse, configuration checks.

use neurospeak::mel::{
    MelAnalyzer, MelConfig, MelFilterbank, hz_to_mel, log_mel_spectrogram, mel_to_hz,
};
use proptest::prelude::*;

fn tone(freq: f32, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| 0.5 * (2.0 * std::f32::consts::PI * freq * i as f32 / 16_000.0).sin())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn analyzer_in_random_chunks_equals_batch(
        audio in proptest::collection::vec(-1.0f32..1.0, 0..3000),
        chunks in proptest::collection::vec(0usize..400, 1..40),
    ) {
        let cfg = MelConfig::default();
        let batch = log_mel_spectrogram(&audio, &cfg);
        let mut analyzer = MelAnalyzer::new(&cfg);
        let mut streamed = Vec::new();
        let mut rest = &audio[..];
        let mut sizes = chunks.iter().cycle();
        while !rest.is_empty() {
            let take = (*sizes.next().unwrap()).min(rest.len());
            analyzer.push(&rest[..take], &mut streamed);
            rest = &rest[take..];
        }
        prop_assert_eq!(streamed.len(), audio.len() / cfg.hop_length * cfg.n_mels);
        prop_assert_eq!(streamed, batch);
    }
}

#[test]
fn push_hop_equals_batch() {
    let cfg = MelConfig::default();
    let audio = tone(440.0, 16_000);
    let batch = log_mel_spectrogram(&audio, &cfg);
    let mut analyzer = MelAnalyzer::new(&cfg);
    let mut frame = vec![0.0; cfg.n_mels];
    for (k, hop) in audio.chunks_exact(cfg.hop_length).enumerate() {
        analyzer.push_hop(hop, &mut frame);
        assert_eq!(frame, batch[k * cfg.n_mels..(k + 1) * cfg.n_mels]);
    }
    analyzer.reset();
    analyzer.push_hop(&audio[..cfg.hop_length], &mut frame);
    assert_eq!(frame, batch[..cfg.n_mels]);
}

#[test]
fn pure_tone_lands_in_the_nearest_band() {
    let cfg = MelConfig::default();
    let fb = MelFilterbank::new(&cfg);
    for freq in [150.0, 440.0, 1000.0, 2500.0, 6000.0] {
        let log_mel = log_mel_spectrogram(&tone(freq, 8000), &cfg);
        // A frame well inside the signal.
        let frame = &log_mel[20 * cfg.n_mels..21 * cfg.n_mels];
        let loudest = (0..cfg.n_mels)
            .max_by(|&a, &b| frame[a].total_cmp(&frame[b]))
            .unwrap();
        let nearest = (0..cfg.n_mels)
            .min_by(|&a, &b| {
                let da = (hz_to_mel(fb.center_hz(a)) - hz_to_mel(freq)).abs();
                let db = (hz_to_mel(fb.center_hz(b)) - hz_to_mel(freq)).abs();
                da.total_cmp(&db)
            })
            .unwrap();
        assert!(
            loudest.abs_diff(nearest) <= 1,
            "{freq} Hz: loudest band {loudest} ({} Hz), nearest centre {nearest} ({} Hz)",
            fb.center_hz(loudest),
            fb.center_hz(nearest)
        );
        // Far bands hold only window leakage: at least 40 dB below the peak.
        for (m, v) in frame.iter().enumerate() {
            if m.abs_diff(loudest) > 4 {
                assert!(
                    frame[loudest] - v > 1e4f32.ln(),
                    "{freq} Hz leaks into band {m}"
                );
            }
        }
    }
}

#[test]
fn band_centres_are_htk_mel_spaced() {
    let cfg = MelConfig::default();
    let fb = MelFilterbank::new(&cfg);
    let step = (hz_to_mel(cfg.f_max) - hz_to_mel(cfg.f_min)) / (cfg.n_mels + 1) as f32;
    for m in 0..cfg.n_mels {
        let expected = mel_to_hz(hz_to_mel(cfg.f_min) + step * (m + 1) as f32);
        assert!((fb.center_hz(m) - expected).abs() < 1e-2);
        let (_, weights) = fb.band_weights(m);
        assert!(!weights.is_empty() && weights.iter().all(|&w| w > 0.0 && w <= 1.0));
    }
    assert!(
        (hz_to_mel(1000.0) - 1000.0).abs() < 0.5,
        "HTK: 1 kHz ≈ 1000 mel"
    );
}

#[test]
fn pseudo_inverse_of_a_smooth_spectrum_is_close() {
    let cfg = MelConfig::default();
    let fb = MelFilterbank::new(&cfg);
    let bin_hz = cfg.sample_rate as f32 / cfg.n_fft as f32;
    // A smooth tilted spectrum with one broad resonance.
    let power: Vec<f32> = (0..fb.n_bins())
        .map(|b| {
            let f = b as f32 * bin_hz;
            1.0 / (1.0 + f / 1000.0) + 0.5 * (-((f - 2000.0) / 800.0).powi(2)).exp()
        })
        .collect();
    let mut mel = vec![0.0; cfg.n_mels];
    fb.apply(&power, &mut mel);
    let mut back = vec![0.0; fb.n_bins()];
    fb.pseudo_inverse(&mel, &mut back);
    assert!(back.iter().all(|&p| p >= 0.0));
    let lo = fb.center_hz(0);
    let hi = fb.center_hz(cfg.n_mels - 1);
    for (b, (&p, &q)) in power.iter().zip(&back).enumerate() {
        let f = b as f32 * bin_hz;
        if f < cfg.f_min || f > cfg.f_max {
            assert_eq!(q, 0.0, "bin {b} outside the mel range");
        } else if (lo..=hi).contains(&f) {
            assert!((q / p - 1.0).abs() < 0.05, "bin {b} ({f} Hz): {q} vs {p}");
        }
    }
    // Re-applying the filterbank gives back the band powers.
    let mut again = vec![0.0; cfg.n_mels];
    fb.apply(&back, &mut again);
    for (a, b) in mel.iter().zip(&again) {
        assert!((a / b - 1.0).abs() < 0.05, "{a} vs {b}");
    }
}

#[test]
fn silence_is_the_floor_and_frames_count_whole_hops() {
    let cfg = MelConfig::default();
    let log_mel = log_mel_spectrogram(&vec![0.0; 1000], &cfg);
    assert_eq!(log_mel.len(), 1000 / cfg.hop_length * cfg.n_mels);
    assert!(log_mel.iter().all(|&v| v == cfg.log_floor.ln()));
}

#[test]
fn causal_frame_sees_only_its_window() {
    let cfg = MelConfig::default();
    let floor = cfg.log_floor.ln();
    // An impulse at sample 1000 affects frames k with (k+1)*160 - 640 <= 1000 < (k+1)*160.
    let mut audio = vec![0.0; 3200];
    audio[1000] = 1.0;
    let log_mel = log_mel_spectrogram(&audio, &cfg);
    for k in 0..audio.len() / cfg.hop_length {
        let covered = (k + 1) * 160 > 1000 && (k + 1) * 160 <= 1000 + 640;
        let frame = &log_mel[k * cfg.n_mels..(k + 1) * cfg.n_mels];
        let above_floor = frame.iter().any(|&v| v > floor);
        assert_eq!(above_floor, covered, "frame {k}");
    }
}

#[test]
fn validate_names_the_field() {
    let ok = MelConfig::default();
    assert_eq!(ok.validate(), Ok(()));
    let cases: [(&str, MelConfig); 6] = [
        (
            "hop_length",
            MelConfig {
                hop_length: 0,
                ..ok.clone()
            },
        ),
        (
            "n_fft",
            MelConfig {
                n_fft: 320,
                ..ok.clone()
            },
        ),
        (
            "f_max",
            MelConfig {
                f_max: 9000.0,
                ..ok.clone()
            },
        ),
        (
            "log_floor",
            MelConfig {
                log_floor: 0.0,
                ..ok.clone()
            },
        ),
        (
            "n_mels",
            MelConfig {
                n_mels: 200,
                ..ok.clone()
            },
        ),
        (
            "win_length",
            MelConfig {
                win_length: 100,
                n_fft: 640,
                ..ok.clone()
            },
        ),
    ];
    for (field, cfg) in cases {
        let err = cfg.validate().expect_err(field);
        assert_eq!(err.field, field, "{err}");
        assert!(err.to_string().contains("fix:"), "{err}");
    }
}
