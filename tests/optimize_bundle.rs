//! `optimize` on whole bundles: the demo model with synthetic recordings, the accuracy
//! guard, and errors for bad inputs.
//!
//! These tests need ONNX Runtime and, for the recordings, flite; without them they say
//! why they are skipped (a failure under `NEUROSPEAK_REQUIRE_PEERS=1`, as in CI).

mod common;

use std::path::{Path, PathBuf};

use neurospeak::bundle::{Bundle, sha256_file, write_manifest};
use neurospeak::decoder::{Decoder, DecoderOptions};
use neurospeak::onnx::{OnnxError, load_model};
use neurospeak::optimize::{
    CalibrationMethod, OPTIMIZED_DIR, ORT_EXTENDED_FILE, ORT_FORMAT_DIR, ORT_FORMAT_FILE,
    OptimizeError, OptimizeOptions, QuantConfig, REPORT_FILE, Scheme, optimize_bundle,
};
use neurospeak::synth::{CorpusConfig, forward::ForwardConfig, generate};

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo")
}

fn options(model: &Path, data: &Path, out: &Path, config: QuantConfig) -> OptimizeOptions {
    OptimizeOptions {
        model_path: model.to_path_buf(),
        data_dir: data.to_path_buf(),
        output_dir: out.to_path_buf(),
        config,
        to_onnx: true,
        workers: 2,
        command: "test".into(),
        progress: false,
    }
}

#[test]
fn demo_model_optimizes_within_tolerance_and_the_guard_refuses_a_bad_one() {
    if !common::onnxruntime() || !common::flite() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let cfg = CorpusConfig {
        seed: 7,
        first_index: 40,
        recordings: 2,
        utterances_per_recording: 2,
        ..CorpusConfig::default()
    };
    generate(&cfg, data.path(), &mut |_, _| {}).expect("corpus generated");

    let out = tempfile::tempdir().unwrap();
    let config = QuantConfig {
        timing_runs: 20,
        ..QuantConfig::default()
    };
    let report = optimize_bundle(
        &options(&demo(), data.path(), out.path(), config),
        &mut |_| {},
    )
    .expect("the demo model optimizes");
    assert_eq!(report.status, "ok");
    let dir = out.path().join(OPTIMIZED_DIR);
    let bundle = Bundle::load(&dir).expect("the optimized bundle loads");
    assert_eq!(
        bundle.manifest.provenance.parent.as_deref(),
        Some(demo().display().to_string().as_str())
    );
    assert_ne!(bundle.sha256(), Bundle::load(&demo()).unwrap().sha256());
    assert!(out.path().join(REPORT_FILE).is_file());
    let ratio = report.size.int8_bytes as f64 / report.size.fp32_bytes as f64;
    assert!(ratio <= 0.30, "INT8 file is {:.1} % of FP32", 100.0 * ratio);
    let delta = report.accuracy.delta_pearson_r.expect("paired speech");
    assert!(
        delta <= 0.005,
        "decoded-vs-truth r dropped by {delta} ({:?})",
        report.accuracy
    );
    assert!(
        report.accuracy.output_pearson_r > 0.99,
        "{:?}",
        report.accuracy
    );
    assert!(report.timing.is_some());
    // Held-out figures against the truth, beside the loudness-only baseline.
    let acc = &report.accuracy;
    let (fp32, int8, baseline) = (
        acc.fp32_vs_truth
            .as_ref()
            .expect("a log-mel decoder with paired speech"),
        acc.int8_vs_truth.as_ref().expect("likewise"),
        acc.loudness_baseline.as_ref().expect("likewise"),
    );
    assert_eq!(Some(fp32.pearson_r), acc.fp32_pearson_r);
    assert!(
        (fp32.spectral_shape_r - int8.spectral_shape_r).abs() < 0.01,
        "{acc:?}"
    );
    assert!(fp32.spectral_shape_r > baseline.spectral_shape_r, "{acc:?}");
    assert!(
        (2.0..15.0).contains(&fp32.mcd_db.speech_frames.c1_13),
        "{acc:?}"
    );
    assert_eq!(
        (fp32.stoi, fp32.estoi),
        (None, None),
        "optimize does not vocode"
    );

    // The portable scheme by default, recorded in the manifest; nothing clamped.
    assert_eq!(report.scheme.scheme, Scheme::U8S8ReduceRange);
    assert!(report.scheme.portable && report.scheme.requires_cpu.is_empty());
    let o = bundle.manifest.optimization.as_ref().expect("recorded");
    assert_eq!(
        (o.mode.as_str(), o.scheme.as_str()),
        ("static", "u8s8_reduce_range")
    );
    assert!(o.requires_cpu.is_empty());
    assert_eq!(report.quantization.clamped_bias_values, 0);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    // The ORT (flatbuffer) format: a bundle of its own that loads and decodes as model.onnx.
    let ort = Bundle::load(&dir.join(ORT_FORMAT_DIR)).expect("the ORT-format bundle loads");
    let ort_bytes = std::fs::read(&ort.model_path).expect("the .ort model was saved");
    assert_eq!(&ort_bytes[4..8], b"ORTM");
    assert!(ort.model_path.ends_with(ORT_FORMAT_FILE));
    assert!(
        report.ort_format.contains(ORT_FORMAT_DIR),
        "{}",
        report.ort_format
    );
    let mut a = Decoder::load(&bundle.model_path, &DecoderOptions::default()).unwrap();
    let mut b = Decoder::load(&ort.model_path, &DecoderOptions::default()).unwrap();
    let x: Vec<f32> = (0..a.input_dim())
        .map(|i| (i % 13) as f32 * 0.3 - 1.8)
        .collect();
    let (mut ya, mut yb) = (vec![0f32; a.output_dim()], vec![0f32; b.output_dim()]);
    a.run(&x, &mut ya).unwrap();
    b.run(&x, &mut yb).unwrap();
    assert_eq!(ya, yb, "the ORT-format decoder differs from model.onnx");

    // ORT's Extended-level graph fuses every DequantizeLinear into the quantized kernels.
    let ext = load_model(&dir.join(ORT_EXTENDED_FILE)).expect("the Extended graph was saved");
    let g = ext.graph.as_ref().unwrap();
    for node in &g.node {
        if ["MatMul", "Gemm", "Conv"].contains(&node.op_type.as_str()) {
            for i in &node.input {
                let producer = g.node.iter().find(|p| p.output.contains(i));
                assert!(
                    producer.is_none_or(|p| p.op_type != "DequantizeLinear"),
                    "DequantizeLinear feeds {} `{}`",
                    node.op_type,
                    node.name
                );
            }
        }
    }
    assert!(g.node.iter().any(|n| n.op_type == "QGemm"));

    // A deliberately bad calibration (ranges squeezed to the median) must be refused,
    // and nothing written as optimized.
    let out2 = tempfile::tempdir().unwrap();
    let bad = QuantConfig {
        method: CalibrationMethod::Percentile,
        percentile: 50.0,
        timing_runs: 0,
        ..QuantConfig::default()
    };
    let err = optimize_bundle(
        &options(&demo(), data.path(), out2.path(), bad),
        &mut |_| {},
    )
    .expect_err("the guard refuses the model");
    assert!(
        matches!(err, OptimizeError::AccuracyDrop { .. }),
        "expected AccuracyDrop, got {err}"
    );
    assert!(err.to_string().contains("tolerance_r"), "{err}");
    assert!(!out2.path().join(OPTIMIZED_DIR).exists());
    let leftovers: Vec<_> = std::fs::read_dir(out2.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != REPORT_FILE)
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

#[test]
fn recordings_with_another_channel_count_are_refused_naming_both() {
    if !common::onnxruntime() || !common::flite() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let cfg = CorpusConfig {
        seed: 7,
        first_index: 60,
        recordings: 2,
        utterances_per_recording: 1,
        voices: vec!["slt".into()],
        forward: ForwardConfig {
            channels: 8,
            ..ForwardConfig::default()
        },
        ..CorpusConfig::default()
    };
    generate(&cfg, data.path(), &mut |_, _| {}).expect("corpus generated");
    let out = tempfile::tempdir().unwrap();
    let err = optimize_bundle(
        &options(&demo(), data.path(), out.path(), QuantConfig::default()),
        &mut |_| {},
    )
    .expect_err("8 channels do not fit a 64-channel bundle");
    let text = err.to_string();
    assert!(
        matches!(
            err,
            OptimizeError::ChannelMismatch {
                found: 8,
                expected: 64,
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.contains("8 channels") && text.contains("64 channels"),
        "{text}"
    );
    assert!(text.contains("models/demo"), "{text}");
}

#[test]
fn a_bundle_whose_model_is_not_onnx_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = Bundle::load(&demo()).unwrap().manifest;
    let model = dir.path().join("model.onnx");
    std::fs::write(&model, b"this is a text file, not a model\n").unwrap();
    manifest.provenance.sha256 = sha256_file(&model).unwrap();
    write_manifest(dir.path(), &manifest).unwrap();
    let out = tempfile::tempdir().unwrap();
    let err = optimize_bundle(
        &options(dir.path(), dir.path(), out.path(), QuantConfig::default()),
        &mut |_| {},
    )
    .expect_err("not an ONNX model");
    assert!(
        matches!(err, OptimizeError::Model(OnnxError::NotOnnx { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("not an ONNX model"), "{err}");
}
