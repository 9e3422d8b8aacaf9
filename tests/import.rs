//! `neurospeak import` on decoders the project did not write: a GRU, an LSTM
//! and a causal 1-D convolution written by the `onnx` Python package at
//! opsets 13 and 17 (`tests/peers/recurrent_models.py`). Each is imported
//! with its state inferred, replayed on a synthetic recording, and its decoded
//! frames compared with Python onnxruntime's run of the same front-end frames
//! (`tests/peers/run_stateful.py`); and models that do not fit are refused
//! with errors that name the tensor.
//!
//! These tests need ONNX Runtime, flite and the venv's `onnx` and
//! `onnxruntime`; without them they print a skip message (a failure with
//! NEUROSPEAK_REQUIRE_PEERS=1).

mod common;

use common::read_f32;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use neurospeak::bundle::{Bundle, sha256_file};
use neurospeak::features::FeatureExtractor;
use neurospeak::optimize::{
    OPTIMIZED_DIR, OptimizeOptions, QuantConfig, optimize_bundle, report::OptimizeReport,
};
use neurospeak::pipeline::{ReplayOptions, replay};
use neurospeak::recording::{self, Recording};

/// EEG channels of the test recordings: the models take one frame of them.
const CHANNELS: usize = 8;
/// Mel bins of the shipped vocoder settings.
const MELS: usize = 40;
/// Float32 recurrences in two builds of ONNX Runtime: equal to rounding.
const TOLERANCE: f32 = 1e-4;

struct Fixture {
    dir: PathBuf,
    data: PathBuf,
    /// The peer's models: name and its JSON description.
    models: Vec<(String, serde_json::Value)>,
}

fn neurospeak() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_neurospeak"));
    c.env("NEUROSPEAK_LOG", "warn")
        .env("NEUROSPEAK_CACHE_DIR", common::test_cache_dir())
        .current_dir(common::root());
    c
}

/// Two 8-channel recordings and the peer's six models, made once.
fn fixture() -> Option<&'static Fixture> {
    static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            if !common::onnxruntime() || !common::flite() {
                return None;
            }
            let python = common::venv_python()?;
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("import-fixture");
            let _ = std::fs::remove_dir_all(&dir);
            let data = dir.join("data");
            let ok = neurospeak()
                .args([
                    "synth",
                    "--seed",
                    "5",
                    "--recordings",
                    "2",
                    "--utterances",
                    "2",
                ])
                .args(["--channels", &CHANNELS.to_string(), "--out"])
                .arg(&data)
                .stdout(Stdio::null())
                .status()
                .unwrap()
                .success();
            assert!(ok, "synth failed");
            let out = Command::new(&python)
                .arg(common::root().join("tests/peers/recurrent_models.py"))
                .arg(dir.join("peer"))
                .args([CHANNELS.to_string(), MELS.to_string()])
                .output()
                .expect("run the onnx peer");
            assert!(
                out.status.success(),
                "the onnx peer failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let models: Vec<(String, serde_json::Value)> = json
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            assert_eq!(models.len(), 6, "GRU, LSTM and conv at two opsets");
            Some(Fixture { dir, data, models })
        })
        .as_ref()
}

fn import(f: &Fixture, model: &Path, out: &Path, extra: &[&str]) -> Output {
    import_with(
        f,
        model,
        out,
        &common::root().join("configs/import.yaml"),
        extra,
    )
}

fn import_with(f: &Fixture, model: &Path, out: &Path, config: &Path, extra: &[&str]) -> Output {
    neurospeak()
        .arg("import")
        .arg("--onnx")
        .arg(model)
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(&f.data)
        .arg("--output-dir")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn write_f32(path: &Path, values: &[f32]) {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

/// Runs a peer script and fails the test with its stderr if it fails.
fn peer(python: &Path, args: &[&std::ffi::OsStr]) -> Vec<u8> {
    let out = Command::new(python).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "peer {:?} failed: {}",
        args.first(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The largest difference between `got` and onnxruntime's `expected`
/// clamped into the bundle's output range, as the engine clamps.
fn worst_difference(got: &[f32], expected: &[f32], range: [f32; 2]) -> f32 {
    assert_eq!(got.len(), expected.len(), "frame counts");
    got.iter()
        .zip(expected)
        .map(|(a, b)| (a - b.clamp(range[0], range[1])).abs())
        .fold(0.0f32, f32::max)
}

#[test]
fn recurrent_models_import_and_replay_as_onnxruntime_runs_them() {
    let Some(f) = fixture() else {
        return;
    };
    let python = common::venv_python().unwrap();
    let rec_path = f.data.join("rec_000.xdf");
    let rec = recording::load(&rec_path).unwrap();
    for (name, meta) in &f.models {
        let source = f.dir.join("peer").join(format!("{name}.onnx"));
        let out_dir = f.dir.join("bundles").join(name);
        let out = import(f, &source, &out_dir, &[]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: import failed: {stderr}");
        assert!(
            stdout.contains("check run: ") && stdout.contains("Pearson r"),
            "{stdout}"
        );

        // The manifest: the state the peer declared, found without being told.
        let bundle = Bundle::load(&out_dir).unwrap();
        let d = &bundle.manifest.decoder;
        assert_eq!((d.input_name.as_str(), d.output_name.as_str()), ("x", "y"));
        assert_eq!((d.input_dim, d.output_dim), (CHANNELS, MELS));
        assert!(d.stateful);
        let declared: Vec<(String, String, Vec<usize>)> = meta["state"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["input"].as_str().unwrap().to_string(),
                    s["output"].as_str().unwrap().to_string(),
                    serde_json::from_value(s["shape"].clone()).unwrap(),
                )
            })
            .collect();
        let found: Vec<(String, String, Vec<usize>)> = d
            .state
            .iter()
            .map(|s| (s.input.clone(), s.output.clone(), s.shape.clone()))
            .collect();
        assert_eq!(found, declared, "{name}");
        // The exporter's file, unchanged.
        assert_eq!(bundle.sha256(), sha256_file(&source).unwrap());
        assert_eq!(
            bundle.manifest.features.normalization.mean.len(),
            CHANNELS,
            "{name}"
        );

        // Replay in this process; onnxruntime in Python on the same frames.
        let outcome = replay(&bundle, &rec, &ReplayOptions::default(), &mut |_| {}).unwrap();
        let x = FeatureExtractor::run_batch(&bundle.front_end_plan(), &rec.eeg.samples);
        let x_file = f.dir.join(format!("{name}.frames.f32"));
        let y_file = f.dir.join(format!("{name}.ort.f32"));
        write_f32(&x_file, &x);
        let script = common::root().join("tests/peers/run_stateful.py");
        let pairs: Vec<String> = declared
            .iter()
            .map(|(i, o, _)| format!("{i}={o}"))
            .collect();
        let mut args: Vec<&std::ffi::OsStr> = vec![
            script.as_os_str(),
            source.as_os_str(),
            x_file.as_os_str(),
            y_file.as_os_str(),
            "x".as_ref(),
            "y".as_ref(),
        ];
        args.extend(pairs.iter().map(std::ffi::OsStr::new));
        peer(&python, &args);
        let expected = read_f32(&y_file);
        let frames = expected.len() / MELS;
        assert!(frames > 500, "{name}: {frames} frames");
        let worst = worst_difference(&outcome.log_mel, &expected, d.output_range);
        assert!(
            worst <= TOLERANCE,
            "{name}: replay differs from onnxruntime by {worst} over {frames} frames"
        );
        let state = outcome.report.model.state.as_ref().expect("state reported");
        assert_eq!(state.pairs, declared.len(), "{name}");
    }
}

#[test]
fn an_imported_bundle_replays_from_the_command_line() {
    let Some(f) = fixture() else {
        return;
    };
    let out_dir = f.dir.join("cli-lstm17");
    let out = import(
        f,
        &f.dir.join("peer/lstm17.onnx"),
        &out_dir,
        &["--name", "lab-lstm", "--state-reset-gap-ms", "40"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("state: `h_out` -> `h_in` [1, 1, 16]"),
        "{stderr}"
    );
    let m = Bundle::load(&out_dir).unwrap().manifest;
    let shown = neurospeak().arg("inspect").arg(&out_dir).output().unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("x [1, 8] → y [1, 40]")
            && shown.contains(
                "state      h_out → h_in [1, 1, 16], initial 0 (reset after a gap over 40 ms)"
            )
            && shown.contains("state      c_out → c_in"),
        "{shown}"
    );
    assert_eq!(m.name, "lab-lstm");
    assert_eq!(m.decoder.state_reset_gap_ms, Some(40.0));
    assert!(m.provenance.command.contains("--state-reset-gap-ms 40"));
    assert!(m.provenance.metrics["check_frames"] > 500.0);
    let report = f.dir.join("cli-lstm17.json");
    let wav = f.dir.join("cli-lstm17.wav");
    let out = neurospeak()
        .args(["replay", "--model"])
        .arg(&out_dir)
        .arg("--input")
        .arg(f.data.join("rec_001.xdf"))
        .arg("--out")
        .arg(&wav)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["model"]["state"]["pairs"], 2, "{}", r["model"]);
    assert_eq!(r["model"]["state"]["values"], 32, "{}", r["model"]);
    assert!(r["accuracy"]["pearson_r"].is_number(), "{}", r["accuracy"]);
    assert!(hound::WavReader::open(&wav).unwrap().len() > 16_000);
}

#[test]
fn models_that_do_not_fit_are_refused_naming_the_tensor() {
    let Some(f) = fixture() else {
        return;
    };
    let gru = f.dir.join("peer/gru13.onnx");
    let refused = |extra: &[&str], config: Option<&Path>, wants: &[&str]| {
        let out_dir = tempfile::tempdir().unwrap();
        let mut cmd = neurospeak();
        cmd.arg("import").arg("--onnx").arg(&gru);
        cmd.arg("--config")
            .arg(config.unwrap_or(&common::root().join("configs/import.yaml")));
        cmd.arg("--data-dir").arg(&f.data).arg("--output-dir");
        cmd.arg(out_dir.path()).args(extra);
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "import of {extra:?} succeeded");
        for w in wants {
            assert!(stderr.contains(w), "no {w:?} in: {stderr}");
        }
        assert!(
            !out_dir.path().join("neurospeak.yaml").exists(),
            "a refused import wrote a manifest"
        );
    };
    // The demo's context: 8 channels x 11 frames, but the model takes one frame.
    refused(
        &[],
        Some(&common::root().join("configs/model.yaml")),
        &[
            "the frame input",
            "[1, 88]",
            "`x` (a float32 tensor of shape [1, 8])",
            "past_frames",
        ],
    );
    refused(
        &["--state", "h_in"],
        None,
        &["--state h_in", "INPUT=OUTPUT"],
    );
    refused(
        &["--state", "h_in=y2"],
        None,
        &["state output `y2`", "free outputs: `h_out`"],
    );
    refused(
        &["--input", "frame"],
        None,
        &["input `frame`", "the inputs are `x`, `h_in`"],
    );
    let empty = tempfile::tempdir().unwrap();
    let out = neurospeak()
        .arg("import")
        .arg("--onnx")
        .arg(&gru)
        .args(["--config", "configs/import.yaml", "--data-dir"])
        .arg(empty.path())
        .arg("--output-dir")
        .arg(empty.path().join("b"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no recordings"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Decoders taking a window of the last T frames, as PyTorch exports them: a
/// 1-D convolution over `[1, C, T]` and a GRU over `[1, T, C]`, run from a zero
/// state on every window. Imported with a context of T frames 2 hops apart,
/// their layout told by the input's shape; replayed; and compared with
/// onnxruntime on windows the peer builds itself from the per-frame features.
#[test]
fn window_decoders_import_and_replay_as_onnxruntime_runs_them() {
    let Some(f) = fixture() else {
        return;
    };
    let python = common::venv_python().unwrap();
    const T: usize = 5;
    const STRIDE: usize = 2;
    let script = common::root().join("tests/peers/sequence_models.py");
    let models = f.dir.join("seq");
    let (c, t, m) = (CHANNELS.to_string(), T.to_string(), MELS.to_string());
    let listed = peer(
        &python,
        &[
            script.as_os_str(),
            "write".as_ref(),
            models.as_os_str(),
            c.as_ref(),
            t.as_ref(),
            m.as_ref(),
        ],
    );
    let layouts: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&listed).unwrap();
    assert_eq!(layouts.len(), 4, "conv and GRU at two opsets");
    let shipped = std::fs::read_to_string(common::root().join("configs/import.yaml")).unwrap();
    let cfg_text = shipped
        .replace("past_frames: 0", &format!("past_frames: {}", T - 1))
        .replace("stride: 1", &format!("stride: {STRIDE}"));
    assert_ne!(
        cfg_text, shipped,
        "configs/import.yaml changed its context lines"
    );
    let cfg = f.dir.join("window.yaml");
    std::fs::write(&cfg, cfg_text).unwrap();
    let rec = recording::load(&f.data.join("rec_001.xdf")).unwrap();
    for (name, layout) in &layouts {
        let source = models.join(format!("{name}.onnx"));
        let out_dir = f.dir.join("bundles").join(name);
        let out = import_with(f, &source, &out_dir, &cfg, &[]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bundle = Bundle::load(&out_dir).unwrap();
        let d = &bundle.manifest.decoder;
        assert_eq!(d.input_layout.name(), layout.as_str().unwrap(), "{name}");
        assert!(!d.stateful);
        assert_eq!(d.input_dim, CHANNELS * T);
        bundle
            .check_model()
            .expect("the bundle's graph fits its manifest");
        let shown = neurospeak().arg("inspect").arg(&out_dir).output().unwrap();
        let shown = String::from_utf8_lossy(&shown.stdout);
        let window = format!(
            "input      a window of {T} frames, {}",
            layout.as_str().unwrap()
        );
        assert!(shown.contains(&window), "{shown}");

        let outcome = replay(&bundle, &rec, &ReplayOptions::default(), &mut |_| {}).unwrap();
        let mut per_frame = bundle.front_end_plan();
        per_frame.past_frames = 0;
        per_frame.layout = Default::default();
        let x = FeatureExtractor::run_batch(&per_frame, &rec.eeg.samples);
        let x_file = f.dir.join(format!("{name}.frames.f32"));
        let y_file = f.dir.join(format!("{name}.ort.f32"));
        write_f32(&x_file, &x);
        let stride = STRIDE.to_string();
        peer(
            &python,
            &[
                script.as_os_str(),
                "run".as_ref(),
                source.as_os_str(),
                layout.as_str().unwrap().as_ref(),
                x_file.as_os_str(),
                c.as_ref(),
                t.as_ref(),
                stride.as_ref(),
                y_file.as_os_str(),
            ],
        );
        let expected = read_f32(&y_file);
        assert!(expected.len() / MELS > 500, "{name}");
        let worst = worst_difference(&outcome.log_mel, &expected, d.output_range);
        assert!(
            worst <= TOLERANCE,
            "{name}: replay differs from onnxruntime by {worst}"
        );
        if name.ends_with("17") {
            optimize_window_bundle(f, &out_dir, name, &rec);
        }
    }
}

/// `optimize` on a window decoder: calibrated on `[n, A, B]` windows, its
/// Conv or GRU readout quantized (a GRU left float), the INT8 outputs close
/// to the float ones, and the INT8 bundle replays.
fn optimize_window_bundle(f: &Fixture, bundle_dir: &Path, name: &str, rec: &Recording) {
    let out_dir = f.dir.join("quant").join(format!("{name}-int8"));
    let report = quantize(f, bundle_dir, &out_dir, name);
    let quantized: Vec<&str> = report
        .quantization
        .quantized
        .iter()
        .map(|d| d.op_type.as_str())
        .collect();
    assert!(quantized.contains(&"Gemm"), "{name}: {quantized:?}");
    if name.starts_with("seqconv") {
        assert!(quantized.contains(&"Conv"), "{name}: {quantized:?}");
    } else {
        assert!(
            report.stays_float.contains("GRU x1"),
            "{}",
            report.stays_float
        );
    }
    let r = report.accuracy.output_pearson_r;
    assert!(
        r > 0.95,
        "{name}: INT8 outputs follow the float ones with r {r}"
    );
    let int8 = Bundle::load(&out_dir.join(OPTIMIZED_DIR)).unwrap();
    assert_eq!(int8.manifest.decoder.input_layout, {
        Bundle::load(bundle_dir)
            .unwrap()
            .manifest
            .decoder
            .input_layout
    });
    replay(&int8, rec, &ReplayOptions::default(), &mut |_| {}).unwrap();
}

/// The imported recurrent decoders through `optimize`: calibrated with their
/// state fed back frame by frame, the MatMul/Gemm/Conv around the recurrence
/// quantized, GRU and LSTM left float and said so; the INT8 bundle keeps the
/// state declaration, follows the float model on the held-out recording, and
/// replays.
#[test]
fn imported_recurrent_decoders_quantize_around_the_recurrence() {
    let Some(f) = fixture() else {
        return;
    };
    for (name, float_op, quantized) in [
        ("gru13", Some("GRU"), vec!["Gemm"]),
        ("lstm17", Some("LSTM"), vec!["Gemm"]),
        ("conv17", None, vec!["Conv", "Gemm"]),
    ] {
        let bundle_dir = f.dir.join("quant").join(name);
        let out = import(
            f,
            &f.dir.join("peer").join(format!("{name}.onnx")),
            &bundle_dir,
            &[],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out_dir = f.dir.join("quant").join(format!("{name}-int8"));
        let report = quantize(f, &bundle_dir, &out_dir, name);
        let q = &report.quantization;
        for op in &quantized {
            assert!(
                q.quantized.iter().any(|d| d.op_type == *op),
                "{name}: no {op} quantized: {:?}",
                q.quantized
            );
        }
        if let Some(op) = float_op {
            assert!(
                q.left_float.iter().any(|d| d.op_type == op),
                "{name}: {op} not reported float: {:?}",
                q.left_float
            );
            assert!(
                report.stays_float.contains(&format!("{op} x1")),
                "{}",
                report.stays_float
            );
        }
        let r = report.accuracy.output_pearson_r;
        assert!(
            r > 0.95,
            "{name}: INT8 outputs follow the float ones with r {r}"
        );
        let int8 = Bundle::load(&out_dir.join(OPTIMIZED_DIR)).unwrap();
        assert_eq!(
            int8.manifest.decoder.state,
            Bundle::load(&bundle_dir).unwrap().manifest.decoder.state
        );
        let rec = recording::load(&f.data.join("rec_001.xdf")).unwrap();
        let outcome = replay(&int8, &rec, &ReplayOptions::default(), &mut |_| {}).unwrap();
        assert!(outcome.report.model.state.is_some(), "{name}");
    }
}

/// A front-end labs use besides the default: four bipolar derivations of the
/// eight channels, each in high gamma and in a 4-30 Hz band (8 values per
/// frame, which the GRU takes). Imported, replayed, and compared with
/// onnxruntime on the front-end's frames (the front-end itself is checked
/// against scipy in `tests/features_reference.rs`).
#[test]
fn a_bipolar_two_band_front_end_imports_and_replays_as_onnxruntime_runs_it() {
    let Some(f) = fixture() else {
        return;
    };
    let python = common::venv_python().unwrap();
    let shipped = std::fs::read_to_string(common::root().join("configs/import.yaml")).unwrap();
    let cfg_text = shipped
        .replace(
            "reference: common_average",
            "reference: bipolar\n  bipolar_pairs: [[0, 1], [2, 3], [4, 5], [6, 7]]",
        )
        .replace(
            "band_hz: [70, 170]",
            "band_hz: [70, 170]\n  extra_bands_hz: [[4, 30]]",
        );
    assert!(cfg_text.contains("bipolar_pairs") && cfg_text.contains("extra_bands_hz"));
    let cfg = f.dir.join("bipolar.yaml");
    std::fs::write(&cfg, cfg_text).unwrap();
    let source = f.dir.join("peer/gru17.onnx");
    let out_dir = f.dir.join("bundles/bipolar-gru17");
    let out = import_with(f, &source, &out_dir, &cfg, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bundle = Bundle::load(&out_dir).unwrap();
    let m = &bundle.manifest;
    assert_eq!(m.features.reference, "bipolar");
    assert_eq!(m.features.bipolar_pairs.len(), 4);
    assert_eq!(m.features.normalization.mean.len(), 8);
    assert_eq!(bundle.front_end_plan().frame_features(), 8);
    let rec = recording::load(&f.data.join("rec_001.xdf")).unwrap();
    let outcome = replay(&bundle, &rec, &ReplayOptions::default(), &mut |_| {}).unwrap();
    let x = FeatureExtractor::run_batch(&bundle.front_end_plan(), &rec.eeg.samples);
    let (x_file, y_file) = (f.dir.join("bipolar.x.f32"), f.dir.join("bipolar.y.f32"));
    write_f32(&x_file, &x);
    let script = common::root().join("tests/peers/run_stateful.py");
    peer(
        &python,
        &[
            script.as_os_str(),
            source.as_os_str(),
            x_file.as_os_str(),
            y_file.as_os_str(),
            "x".as_ref(),
            "y".as_ref(),
            "h_in=h_out".as_ref(),
        ],
    );
    let worst = worst_difference(&outcome.log_mel, &read_f32(&y_file), m.decoder.output_range);
    assert!(
        worst <= TOLERANCE,
        "replay differs from onnxruntime by {worst}"
    );
}

/// The raw-window passthrough: a 1-D convolution written by the `onnx`
/// package over the last 20 samples of the 8 channels (`[1, 8, 20]`), imported
/// with `kind: raw_window`, replayed, and compared with onnxruntime run on the
/// front-end's windows (the windows themselves are checked against numpy in
/// `tests/features_reference.rs`).
#[test]
fn a_raw_window_decoder_imports_and_replays_as_onnxruntime_runs_it() {
    let Some(f) = fixture() else {
        return;
    };
    let python = common::venv_python().unwrap();
    // 20 ms at 1024 Hz: 20 samples.
    const W: usize = 20;
    let models = f.dir.join("raw-models");
    let script = common::root().join("tests/peers/sequence_models.py");
    let (c, t, m) = (CHANNELS.to_string(), W.to_string(), MELS.to_string());
    peer(
        &python,
        &[
            script.as_os_str(),
            "write".as_ref(),
            models.as_os_str(),
            c.as_ref(),
            t.as_ref(),
            m.as_ref(),
        ],
    );
    let shipped = std::fs::read_to_string(common::root().join("configs/import.yaml")).unwrap();
    let cfg_text = shipped
        .replace("features:\n", "features:\n  kind: raw_window\n")
        .replace("window_ms: 50", "window_ms: 20");
    assert!(cfg_text.contains("  kind: raw_window\n") && cfg_text.contains("window_ms: 20"));
    let cfg = f.dir.join("raw.yaml");
    std::fs::write(&cfg, cfg_text).unwrap();
    let source = models.join("seqconv17.onnx");
    let out_dir = f.dir.join("bundles/raw-seqconv17");
    let out = import_with(f, &source, &out_dir, &cfg, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bundle = Bundle::load(&out_dir).unwrap();
    let plan = bundle.front_end_plan();
    assert!(plan.raw_window);
    assert_eq!(bundle.manifest.decoder.input_layout.name(), "channel_major");
    assert_eq!(bundle.manifest.decoder.input_dim, CHANNELS * W);
    assert_eq!(plan.filter_delay_s(), 0.0);
    let rec = recording::load(&f.data.join("rec_001.xdf")).unwrap();
    let outcome = replay(&bundle, &rec, &ReplayOptions::default(), &mut |_| {}).unwrap();
    let x = FeatureExtractor::run_batch(&plan, &rec.eeg.samples);
    let (x_file, y_file) = (f.dir.join("raw.x.f32"), f.dir.join("raw.y.f32"));
    write_f32(&x_file, &x);
    let runner = common::root().join("tests/peers/run_stateful.py");
    peer(
        &python,
        &[
            runner.as_os_str(),
            source.as_os_str(),
            x_file.as_os_str(),
            y_file.as_os_str(),
            "x".as_ref(),
            "y".as_ref(),
        ],
    );
    let expected = read_f32(&y_file);
    assert!(expected.len() / MELS > 500);
    let worst = worst_difference(
        &outcome.log_mel,
        &expected,
        bundle.manifest.decoder.output_range,
    );
    assert!(
        worst <= TOLERANCE,
        "replay differs from onnxruntime by {worst}"
    );
}

/// `optimize` of `bundle_dir` into `out_dir` on the fixture's recordings. A
/// random decoder scores r near 0 against the speech, so the guard on that
/// drop is tested with the demo model (`tests/optimize_bundle.rs`); callers
/// check the INT8 outputs against the float ones.
fn quantize(f: &Fixture, bundle_dir: &Path, out_dir: &Path, name: &str) -> OptimizeReport {
    let options = OptimizeOptions {
        model_path: bundle_dir.to_path_buf(),
        data_dir: f.data.clone(),
        output_dir: out_dir.to_path_buf(),
        config: QuantConfig {
            tolerance_r: 0.99,
            timing_runs: 20,
            ..QuantConfig::default()
        },
        to_onnx: false,
        workers: 2,
        command: "test".into(),
        progress: false,
    };
    optimize_bundle(&options, &mut |_| {})
        .unwrap_or_else(|e| panic!("{name}: optimize failed: {e}"))
}
