//! `neurospeak benchmark` end to end through the binary: the side-by-side
//! report, the plots, and clear errors (nothing written) on bad input.

mod common;

use std::process::Command;

fn neurospeak() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_neurospeak"));
    c.current_dir(common::root());
    c
}

/// A short two-recording data set of the demo participant, made with flite.
fn data_dir(dir: &std::path::Path) -> bool {
    if !common::flite() {
        return false;
    }
    let out = neurospeak()
        .args([
            "synth",
            "--seed",
            "7",
            "--recordings",
            "1",
            "--first-index",
            "33",
            "--utterances",
            "2",
            "--out",
        ])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

#[test]
fn side_by_side_report_and_plots() {
    if !common::onnxruntime() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    if !data_dir(data.path()) {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let (json, plots) = (out.path().join("b.json"), out.path().join("plots"));
    // The demo model against itself: every ratio must be about one and the
    // outputs identical, which the report must show.
    let run = neurospeak()
        .args([
            "benchmark",
            "--model-path",
            "models/demo",
            "--reference",
            "models/demo",
            "--num-workers",
            "2",
            "--data-dir",
        ])
        .arg(data.path())
        .arg("--json")
        .arg(&json)
        .arg("--plots")
        .arg(&plots)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        text.contains("decoder ms/frame p50") && text.contains("scaling candidate"),
        "{text}"
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let c = &r["comparison"];
    assert!((c["size_ratio"].as_f64().unwrap() - 1.0).abs() < 1e-12);
    assert!(c["output_pearson_r"].as_f64().unwrap() > 0.999_999);
    assert_eq!(c["output_max_abs_error"].as_f64().unwrap(), 0.0);
    assert!(c["pearson_r_delta"].as_f64().unwrap().abs() < 1e-9);
    assert!(c["decoder_speedup_p50"].as_f64().unwrap() > 0.0);
    for side in ["candidate", "reference"] {
        let m = &r[side];
        assert!(m["frames"].as_u64().unwrap() > 100, "{side}");
        assert!(m["latency_ms"]["decoder"]["p99"].as_f64().unwrap() > 0.0);
        assert!(m["accuracy"]["pearson_r"].as_f64().unwrap() > 0.5);
        let acc = &m["accuracy"];
        let shape = acc["spectral_shape_r"].as_f64().unwrap();
        let baseline_shape = acc["loudness_baseline"]["spectral_shape_r"]
            .as_f64()
            .unwrap();
        assert!(shape > baseline_shape, "{side}: {acc}");
        assert!(acc["estoi"].as_f64().is_some(), "{side}: {acc}");
        // No device and no clock: sensor to sound is the fixed delays plus
        // compute, and the budget's parts add up to it.
        let lat = &m["latency_ms"];
        let s2s = lat["sensor_to_sound"]["mean"].as_f64().unwrap();
        let sum = lat["budget"]["sum_of_means"].as_f64().unwrap();
        assert!((s2s - sum).abs() <= 0.005 * s2s, "{side}: {lat}");
        assert!(s2s > lat["algorithmic"].as_f64().unwrap(), "{side}: {lat}");
        let scaling = m["scaling"].as_array().unwrap();
        assert_eq!(scaling.len(), 2);
        // Two workers on two cores, not both on the core the benchmark's
        // own thread pinned itself to.
        let cores: Vec<u64> = scaling[1]["cores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .collect();
        assert_eq!(cores.len(), 2, "{side}: {cores:?}");
        if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 {
            assert_ne!(cores[0], cores[1], "{side}: both workers on one core");
        }
    }
    let wer = &r["wer"];
    if wer["skipped"] == true {
        common::skip(&format!("the benchmark skipped word error rate: {wer}"));
        assert!(
            wer["reason"]
                .as_str()
                .unwrap()
                .contains("pip install pocketsphinx"),
            "{wer}"
        );
    } else {
        assert_eq!(wer["utterances"], 2, "{wer}");
        // The recognizer understands the clean flite speech (2 of 7 words
        // wrong when this was written), so a WER of the decoded audio means
        // something.
        let truth = wer["truth"].as_f64().unwrap();
        assert!(truth < 0.6, "pocketsphinx misheard clean speech: {wer}");
        assert!(wer["candidate"].as_f64().unwrap().is_finite(), "{wer}");
        // Same model on both sides: same audio, same transcript.
        assert_eq!(wer["candidate"], wer["reference"], "{wer}");
        // Loudness alone is not speech: the recogniser does worse on it than
        // on the true speech.
        assert!(
            wer["loudness_baseline"].as_f64().unwrap() > wer["truth"].as_f64().unwrap(),
            "{wer}"
        );
        // Copy synthesis (the truth's log-mel through the vocoder) keeps the
        // words that the loudness contour alone loses.
        let copy = wer["copy_synthesis"].as_f64().unwrap();
        assert!(copy < wer["loudness_baseline"].as_f64().unwrap(), "{wer}");
    }
    // One truth for both models, so one baseline.
    assert_eq!(
        r["candidate"]["accuracy"]["loudness_baseline"],
        r["reference"]["accuracy"]["loudness_baseline"]
    );
    for name in [
        "latency_histogram",
        "latency_cdf",
        "scaling",
        "spectrogram_rec_033",
    ] {
        for ext in ["svg", "png"] {
            let p = plots.join(format!("{name}.{ext}"));
            assert!(
                std::fs::metadata(&p)
                    .map(|m| m.len() > 1000)
                    .unwrap_or(false),
                "{}",
                p.display()
            );
        }
    }
}

#[test]
fn an_empty_data_dir_is_refused_and_nothing_is_written() {
    if !common::onnxruntime() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let json = data.path().join("b.json");
    let run = neurospeak()
        .args(["benchmark", "--model-path", "models/demo", "--data-dir"])
        .arg(data.path())
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(
        err.contains("no recordings") && err.contains("neurospeak synth"),
        "{err}"
    );
    assert!(!json.exists());
}

#[test]
fn a_reference_with_other_outputs_is_refused() {
    if !common::onnxruntime() {
        return;
    }
    let other = tempfile::tempdir().unwrap();
    common::tiny_bundle(other.path(), 64, 1024.0);
    let data = tempfile::tempdir().unwrap();
    let json = data.path().join("b.json");
    let run = neurospeak()
        .args(["benchmark", "--model-path", "models/demo", "--reference"])
        .arg(other.path())
        .arg("--data-dir")
        .arg(data.path())
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    // Checked before the (here empty) data directory is even listed.
    assert!(
        err.contains("the reference") && err.contains("maps 192 inputs"),
        "{err}"
    );
    assert!(!json.exists());
}

#[test]
fn recordings_that_do_not_match_the_model_are_refused() {
    if !common::onnxruntime() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    if !common::flite() {
        return;
    }
    let out = neurospeak()
        .args([
            "synth",
            "--channels",
            "8",
            "--recordings",
            "1",
            "--utterances",
            "1",
            "--out",
        ])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let run = neurospeak()
        .args(["benchmark", "--model-path", "models/demo", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(err.contains("8 channels") && err.contains("64"), "{err}");
}
