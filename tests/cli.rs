//! The binary as a user runs it: the main job's replay on the shipped demo
//! model, `inspect`, and clear errors with a failing exit code on bad input.

mod common;

use std::process::Command;

fn neurospeak() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_neurospeak"));
    c.current_dir(common::root())
        .env("NEUROSPEAK_CACHE_DIR", common::test_cache_dir());
    c
}

#[test]
fn inspect_summarises_the_demo_bundle() {
    let out = neurospeak()
        .args(["inspect", "models/demo"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("64 channels at 1024 Hz"), "{text}");
    assert!(text.contains("1812520 parameters"), "{text}");
    assert!(text.contains("ridge_heldout_pearson_r"), "{text}");
}

#[test]
fn replay_of_a_file_that_is_not_a_recording_fails_clearly() {
    if !common::onnxruntime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("notes.xdf");
    std::fs::write(&bogus, "these are my notes, not EEG").unwrap();
    let report = dir.path().join("r.json");
    let out = neurospeak()
        .args(["replay", "--model", "models/demo", "--input"])
        .arg(&bogus)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("error:") && err.contains("XDF"), "{err}");
    assert!(!report.exists(), "a failed run wrote a report");
}

#[test]
fn replay_of_a_missing_model_names_the_fix() {
    let out = neurospeak()
        .args(["replay", "--model", "models/nope", "--input", "x.xdf"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("not a model bundle"), "{err}");
}

#[test]
fn the_main_job_decodes_a_held_out_recording_with_the_demo_model() {
    if !common::onnxruntime() {
        return;
    }
    if !common::flite() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The demo participant (seed 7), a recording index the model never saw,
    // shorter than the demo's so the test stays quick.
    let rec = synth_held_out(dir.path(), 31);
    let (wav, report) = (dir.path().join("d.wav"), dir.path().join("r.json"));
    let out = neurospeak()
        .args(["replay", "--model", "models/demo", "--input"])
        .arg(&rec)
        .arg("--out")
        .arg(&wav)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("Pearson r") && text.contains("real time"),
        "{text}"
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["schema"], "neurospeak.report/2");
    let pearson = r["accuracy"]["pearson_r"].as_f64().unwrap();
    assert!(
        pearson > 0.6,
        "the demo model decodes its participant poorly: r = {pearson}"
    );
    let acc = &r["accuracy"];
    let figure = |v: &serde_json::Value| v.as_f64().unwrap_or_else(|| panic!("{acc}"));
    // MCD on the conventional scale (SPTK mel-cepstra of log amplitude) is a
    // few dB; the orthonormal DCT of ln power gave about 50.
    for frames in ["all_frames", "speech_frames"] {
        for order in ["c1_13", "c1_24"] {
            let mcd = figure(&acc["mcd_db"][frames][order]);
            assert!((2.0..15.0).contains(&mcd), "MCD {frames} {order}: {mcd}");
        }
    }
    // What loudness alone cannot score: the shape of each frame's spectrum.
    let baseline = &acc["loudness_baseline"];
    let (shape, baseline_shape) = (
        figure(&acc["spectral_shape_r"]),
        figure(&baseline["spectral_shape_r"]),
    );
    assert!(
        shape > baseline_shape,
        "spectral-shape r {shape} not above the loudness-only baseline's {baseline_shape}"
    );
    let (estoi, baseline_estoi) = (figure(&acc["estoi"]), figure(&baseline["estoi"]));
    assert!(
        estoi > baseline_estoi,
        "ESTOI {estoi} not above the loudness-only baseline's {baseline_estoi}"
    );
    assert!((0.0..1.0).contains(&figure(&acc["stoi"])), "{acc}");
    assert_eq!(acc["audio"]["delay_samples"], 960, "{acc}");
    assert!(acc["speech_frames"].as_u64().unwrap() > 100, "{acc}");
    // Copy synthesis: the truth's own log-mel through the same vocoder, so its
    // spectral figures are exact and its intelligibility is the ceiling.
    let copy = &acc["copy_synthesis"];
    assert!((figure(&copy["pearson_r"]) - 1.0).abs() < 1e-9, "{copy}");
    assert!(
        figure(&copy["mcd_db"]["speech_frames"]["c1_13"]) < 1e-6,
        "{copy}"
    );
    let copy_stoi = figure(&copy["stoi"]);
    assert!(
        copy_stoi > 0.85 && copy_stoi > figure(&acc["stoi"]),
        "copy-synthesis STOI {copy_stoi}: {acc}"
    );
    assert!(
        text.contains("loudness baseline")
            && text.contains("copy synthesis")
            && text.contains("ESTOI"),
        "{text}"
    );
    assert!(r["frames"].as_u64().unwrap() > 300);
    assert!(hound::WavReader::open(&wav).unwrap().len() > 16000);
}

/// Writes recording `index` of the demo participant (seed 7, 3 utterances:
/// shorter than the demo's so the tests stay quick) into `dir`; returns it.
fn synth_held_out(dir: &std::path::Path, index: u32) -> std::path::PathBuf {
    let out = neurospeak()
        .args([
            "synth",
            "--seed",
            "7",
            "--recordings",
            "1",
            "--utterances",
            "3",
        ])
        .args(["--first-index", &index.to_string(), "--out"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join(format!("rec_{index:03}.xdf"))
}

/// Replays `rec` with `model`, returning the report.
fn replay_report(model: &str, rec: &std::path::Path, dir: &std::path::Path) -> serde_json::Value {
    let report = dir.join(format!("{}.json", model.replace('/', "_")));
    let out = neurospeak()
        .args(["replay", "--model", model, "--input"])
        .arg(rec)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{model}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap()
}

#[test]
fn the_low_latency_bundle_cuts_the_fixed_delay_and_keeps_intelligibility() {
    if !common::onnxruntime() || !common::flite() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rec = synth_held_out(dir.path(), 32);
    let demo = replay_report("models/demo", &rec, dir.path());
    let low = replay_report("models/demo-lowlatency", &rec, dir.path());
    let f = |r: &serde_json::Value, path: &[&str]| {
        path.iter()
            .fold(r, |v, k| &v[*k])
            .as_f64()
            .unwrap_or_else(|| panic!("{path:?} missing: {r}"))
    };
    // Front-end window centre + filters + vocoder, without compute.
    let fixed = f(&low, &["latency_ms", "algorithmic"]);
    assert!(fixed < 20.0, "low-latency fixed delay {fixed} ms");
    assert!(fixed < f(&demo, &["latency_ms", "algorithmic"]) / 4.0);
    // The vocoder's own delay is at most 10 ms (160 samples at 16 kHz).
    let voc = f(&low, &["accuracy", "audio", "delay_ms"]);
    assert!(voc <= 10.0, "vocoder delay {voc} ms");
    // What the participant hears stays as intelligible (STOI within 0.05 of
    // the demo's on the same recording) and keeps the spectral shape the
    // loudness contour alone cannot give.
    let (stoi, demo_stoi) = (
        f(&low, &["accuracy", "stoi"]),
        f(&demo, &["accuracy", "stoi"]),
    );
    assert!(
        stoi > demo_stoi - 0.05,
        "STOI {stoi} vs the demo's {demo_stoi}"
    );
    assert!(
        f(&low, &["accuracy", "spectral_shape_r"])
            > f(&low, &["accuracy", "loudness_baseline", "spectral_shape_r"]),
        "{}",
        low["accuracy"]
    );
    let copy = f(&low, &["accuracy", "copy_synthesis", "stoi"]);
    assert!(copy > 0.85, "copy-synthesis STOI {copy}");
}

#[test]
fn run_refuses_durations_it_cannot_hold_naming_the_flag() {
    for (flag, value) in [
        ("--margin-ms", "inf"),
        ("--resolve-timeout", "1e300"),
        ("--status-every", "NaN"),
        ("--duration", "inf"),
    ] {
        let out = neurospeak()
            .args([
                "run",
                "--model",
                "models/demo",
                "--audio",
                "null",
                "--lsl-local",
            ])
            .args([flag, value])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flag} {value}: {err}");
        assert!(err.contains(flag) && !err.contains("panicked"), "{err}");
    }
}
