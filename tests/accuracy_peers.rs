//! The accuracy figures against independent implementations, on real speech
//! (CMU ARCTIC, `../shared/data/speech`) and copies of it degraded by the
//! Python peer `tests/peers/accuracy.py`:
//!
//! - mel-cepstral distortion against the definition written out with
//!   numpy/scipy (tight), and against SPTK's own mel-cepstral analysis of the
//!   waveform (`pysptk.mcep`, α = 0.42), which must land on the same scale;
//! - STOI and ESTOI against `pystoi` (tight).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use neurospeak::mel::{MelConfig, log_mel_spectrogram};
use neurospeak::metrics::mcd::mean_where;
use neurospeak::metrics::{estoi, mcd_frames_db, speech_frames, stoi};

/// The venv's Python with pysptk, pystoi and scipy, or `None` (with a message).
fn python_with_peers() -> Option<PathBuf> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".local/venv/bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import pysptk, pystoi, scipy, numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Some(python)
    } else {
        common::skip(&format!(
            "{} cannot import pysptk, pystoi and scipy; run scripts/setup.sh",
            python.display()
        ));
        None
    }
}

fn read_wav(path: &Path) -> Vec<f32> {
    let mut r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = r.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (16_000, 1, 16)
    );
    r.samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect()
}

/// Runs the peer on the clean file; returns its JSON.
fn peer_figures(python: &Path, clean: &Path, dir: &Path) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/accuracy.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(clean)
        .arg(dir)
        .output()
        .expect("the peer runs");
    assert!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the peer prints JSON")
}

fn close(ours: f64, theirs: f64, rel: f64, abs: f64, what: &str) {
    assert!(
        (ours - theirs).abs() <= abs + rel * theirs.abs(),
        "{what}: ours {ours}, peer {theirs} (tolerance {rel} relative + {abs})"
    );
}

#[test]
fn accuracy_figures_match_pysptk_and_pystoi_on_real_speech() {
    let Some(clean_path) = common::shared_data("speech/arctic_a0007.wav") else {
        return;
    };
    let Some(python) = python_with_peers() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let peer = peer_figures(&python, &clean_path, dir.path());
    let cfg = MelConfig::default();
    let clean = read_wav(&clean_path);
    let truth = log_mel_spectrogram(&clean, &cfg);
    let speech = speech_frames(&truth, cfg.n_mels, cfg.log_floor);
    assert_eq!(
        speech.iter().filter(|&&s| s).count() as u64,
        peer["speech_frames"].as_u64().unwrap(),
        "speech frames"
    );
    let cases = peer["cases"].as_object().unwrap();
    assert_eq!(cases.len(), 3);
    for (name, case) in cases {
        let f = |key: &str| {
            case[key]
                .as_f64()
                .unwrap_or_else(|| panic!("{name}: {key}"))
        };
        let degraded = read_wav(Path::new(case["wav"].as_str().unwrap()));
        let est = log_mel_spectrogram(&degraded, &cfg);
        for order in [13, 24] {
            let frames = mcd_frames_db(&truth, &est, cfg.n_mels, order);
            let all = mean_where(&frames, None);
            let on_speech = mean_where(&frames, Some(&speech));
            eprintln!(
                "{name}: MCD c1..c{order} all {all:.3} dB (peer {:.3}), speech {on_speech:.3} dB \
                 (peer {:.3}, SPTK mcep {:.3})",
                f(&format!("mcd_c1_{order}_all")),
                f(&format!("mcd_c1_{order}_speech")),
                f(&format!("sptk_mcep_c1_{order}_speech"))
            );
            // The definition, computed independently: equal up to f32 analysis.
            let what = format!("{name} MCD c1..c{order}");
            close(all, f(&format!("mcd_c1_{order}_all")), 1e-3, 1e-3, &what);
            close(
                on_speech,
                f(&format!("mcd_c1_{order}_speech")),
                1e-3,
                1e-3,
                &what,
            );
            // SPTK's mel-cepstral analysis of the waveform: the same scale
            // (the orthonormal DCT of ln power was sqrt(2 M) = 8.9 times larger,
            // and symmetric instead of SPTK's one-sided cepstra would be half).
            // Not equal: SPTK warps with an all-pass filter and fits a spectral
            // envelope where the log-mel has HTK triangles of band power; they
            // agree within 7 % here.
            close(
                on_speech,
                f(&format!("sptk_mcep_c1_{order}_speech")),
                0.10,
                0.0,
                &format!("{what} vs SPTK mcep"),
            );
        }
        let (s, e) = (
            stoi(&clean, &degraded, 16_000).expect("4 s of speech is enough for STOI"),
            estoi(&clean, &degraded, 16_000).expect("and for ESTOI"),
        );
        eprintln!(
            "{name}: STOI {s:.5} (pystoi {:.5}), ESTOI {e:.5} (pystoi {:.5})",
            f("stoi"),
            f("estoi")
        );
        // The same algorithm in f64 on the same samples: equal to rounding
        // (pystoi's ESTOI adds noise of 2e-16 before normalising).
        close(s, f("stoi"), 0.0, 1e-9, &format!("{name} STOI"));
        close(e, f("estoi"), 0.0, 1e-9, &format!("{name} ESTOI"));
    }
}
