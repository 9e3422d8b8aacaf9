//! Bundles whose decoder is in ONNX Runtime's ORT (flatbuffer) format: `optimize
//! --to-onnx` writes one, and the decoder, `replay` and `benchmark` load it and decode
//! exactly what the ONNX model it was made from decodes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use neurospeak::bundle::{Bundle, sha256_file, write_manifest};
use neurospeak::decoder::{
    Decoder, DecoderOptions, GraphCacheStatus, GraphOptimization, is_ort_format,
};
use neurospeak::optimize::{
    OPTIMIZED_DIR, ORT_FORMAT_DIR, ORT_FORMAT_FILE, OptimizeError, OptimizeOptions, QuantConfig,
    optimize_bundle,
};
use neurospeak::recording::write_xdf;

const CHANNELS: usize = 8;
const RATE: f64 = 1000.0;

/// Writes, next to the bundle in `onnx_dir`, a bundle in `ort_dir` whose decoder is the
/// same model saved by ONNX Runtime in ORT format.
fn ort_bundle_of(onnx_dir: &Path, ort_dir: &Path) {
    let onnx = Bundle::load(onnx_dir).unwrap();
    std::fs::create_dir_all(ort_dir).unwrap();
    let ort = ort_dir.join(ORT_FORMAT_FILE);
    Decoder::load(
        &onnx.model_path,
        &DecoderOptions {
            optimization: GraphOptimization::Extended,
            optimized_model_path: Some(ort.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let mut m = onnx.manifest.clone();
    m.decoder.file = ORT_FORMAT_FILE.into();
    m.provenance.sha256 = sha256_file(&ort).unwrap();
    write_manifest(ort_dir, &m).unwrap();
}

/// Decodes the same pseudo-random frames with both models and returns the largest
/// difference.
fn max_difference(a: &Path, b: &Path, opts_b: &DecoderOptions) -> f32 {
    let mut da = Decoder::load(a, &DecoderOptions::default()).unwrap();
    let mut db = Decoder::load(b, opts_b).unwrap();
    assert_eq!(
        (da.input_dim(), da.output_dim()),
        (db.input_dim(), db.output_dim())
    );
    let frames = 64;
    let x: Vec<f32> = (0..frames * da.input_dim())
        .map(|i| ((i * 7919 % 1009) as f32 / 1009.0 - 0.5) * 4.0)
        .collect();
    let mut ya = vec![0f32; frames * da.output_dim()];
    let mut yb = ya.clone();
    da.run_batch(&x, frames, &mut ya).unwrap();
    db.run_batch(&x, frames, &mut yb).unwrap();
    assert!(ya.iter().any(|v| *v != 0.0), "the model decodes only zeros");
    ya.iter()
        .zip(&yb)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f32::max)
}

#[test]
fn an_ort_format_decoder_loads_and_decodes_as_its_onnx_model() {
    if !common::onnxruntime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (onnx_dir, ort_dir) = (dir.path().join("onnx"), dir.path().join("ort"));
    std::fs::create_dir_all(&onnx_dir).unwrap();
    common::tiny_bundle(&onnx_dir, CHANNELS, RATE);
    ort_bundle_of(&onnx_dir, &ort_dir);
    let ort = Bundle::load(&ort_dir).expect("the ORT-format bundle loads");
    assert!(is_ort_format(&std::fs::read(&ort.model_path).unwrap()));
    let onnx_model = onnx_dir.join("model.onnx");

    assert_eq!(
        max_difference(&onnx_model, &ort.model_path, &DecoderOptions::default()),
        0.0
    );
    // The graph cache (on for replay and run) is bypassed: the graph is already optimized.
    let cache = tempfile::tempdir().unwrap();
    let cached = DecoderOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        ..Default::default()
    };
    assert_eq!(max_difference(&onnx_model, &ort.model_path, &cached), 0.0);
    let d = Decoder::load(&ort.model_path, &cached).unwrap();
    assert_eq!(d.graph_cache(), &GraphCacheStatus::OrtFormat);
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0);

    // It cannot be saved again as an optimized graph: a clear error, not a crash.
    let err = Decoder::load(
        &ort.model_path,
        &DecoderOptions {
            optimized_model_path: Some(dir.path().join("again.onnx")),
            ..Default::default()
        },
    )
    .expect_err("an ORT-format model is not saved again");
    assert!(err.to_string().contains("ORT format"), "{err}");
}

fn neurospeak() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_neurospeak"));
    c.env("NEUROSPEAK_CACHE_DIR", common::test_cache_dir());
    c
}

fn run_ok(c: &mut Command) -> String {
    let out = c.output().expect("run neurospeak");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout)
}

fn wav_samples(path: &Path) -> Vec<f32> {
    let mut r = hound::WavReader::open(path).unwrap();
    match r.spec().sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().map(Result::unwrap).collect(),
        hound::SampleFormat::Int => r.samples::<i32>().map(|s| s.unwrap() as f32).collect(),
    }
}

#[test]
fn replay_and_benchmark_run_an_ort_format_bundle_as_its_onnx_bundle() {
    if !common::onnxruntime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (onnx_dir, ort_dir, data) = (
        dir.path().join("onnx"),
        dir.path().join("ort"),
        dir.path().join("data"),
    );
    for d in [&onnx_dir, &data] {
        std::fs::create_dir_all(d).unwrap();
    }
    common::tiny_bundle(&onnx_dir, CHANNELS, RATE);
    ort_bundle_of(&onnx_dir, &ort_dir);
    let rec = data.join("rec.xdf");
    write_xdf(&rec, &common::recording(&rec, CHANNELS, RATE, 3.0)).unwrap();

    let mut wavs: Vec<PathBuf> = Vec::new();
    for (label, model) in [("onnx", &onnx_dir), ("ort", &ort_dir)] {
        let wav = dir.path().join(format!("{label}.wav"));
        let text = run_ok(
            neurospeak()
                .args(["replay", "--model"])
                .arg(model)
                .arg("--input")
                .arg(&rec)
                .arg("--out")
                .arg(&wav),
        );
        if label == "ort" {
            assert!(text.contains("ORT-format model"), "{text}");
        }
        wavs.push(wav);
    }
    let (a, b) = (wav_samples(&wavs[0]), wav_samples(&wavs[1]));
    assert!(!a.is_empty() && a.iter().any(|s| *s != 0.0));
    assert_eq!(
        a, b,
        "replay of the ORT-format bundle differs from the ONNX one"
    );

    let json = dir.path().join("bench.json");
    run_ok(
        neurospeak()
            .args(["benchmark", "--model-path"])
            .arg(&ort_dir)
            .arg("--reference")
            .arg(&onnx_dir)
            .arg("--data-dir")
            .arg(&data)
            .args(["--num-workers", "1", "--no-pin", "--json"])
            .arg(&json),
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let c = &r["comparison"];
    assert_eq!(c["output_max_abs_error"].as_f64(), Some(0.0), "{c}");
}

#[test]
fn optimize_to_onnx_writes_an_ort_bundle_that_decodes_as_the_int8_onnx_one() {
    if !common::onnxruntime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (model, data, out) = (
        dir.path().join("model"),
        dir.path().join("data"),
        dir.path().join("out"),
    );
    for d in [&model, &data] {
        std::fs::create_dir_all(d).unwrap();
    }
    common::tiny_bundle(&model, CHANNELS, RATE);
    for k in 0..2 {
        let path = data.join(format!("rec{k}.xdf"));
        write_xdf(&path, &common::recording(&path, CHANNELS, RATE, 3.0)).unwrap();
    }
    let opts = OptimizeOptions {
        model_path: model.clone(),
        data_dir: data.clone(),
        output_dir: out.clone(),
        config: QuantConfig {
            tolerance_r: 0.5,
            timing_runs: 0,
            ..QuantConfig::default()
        },
        to_onnx: true,
        workers: 1,
        command: "test".into(),
        progress: false,
    };
    let report = optimize_bundle(&opts, &mut |_| {}).expect("optimize succeeds");
    let int8 = out.join(OPTIMIZED_DIR);
    let ort_dir = int8.join(ORT_FORMAT_DIR);
    assert!(
        report.ort_format.contains(&ort_dir.display().to_string()),
        "{}",
        report.ort_format
    );
    let ort = Bundle::load(&ort_dir).expect("the ORT-format bundle loads");
    let onnx = Bundle::load(&int8).unwrap();
    assert_eq!(
        ort.manifest.provenance.parent.as_deref(),
        Some(int8.display().to_string().as_str())
    );
    assert_eq!(ort.manifest.optimization, onnx.manifest.optimization);
    assert!(is_ort_format(&std::fs::read(&ort.model_path).unwrap()));
    let diff = max_difference(
        &onnx.model_path,
        &ort.model_path,
        &DecoderOptions::default(),
    );
    assert_eq!(
        diff, 0.0,
        "the ORT-format INT8 decoder differs from the ONNX one"
    );

    // An ORT-format bundle cannot be optimized again: a clear error naming its parent.
    let err = optimize_bundle(
        &OptimizeOptions {
            model_path: ort_dir.clone(),
            output_dir: dir.path().join("again"),
            ..opts
        },
        &mut |_| {},
    )
    .expect_err("an ORT-format bundle is refused");
    assert!(matches!(err, OptimizeError::Data { .. }), "{err}");
    assert!(
        err.to_string().contains("ORT format") && err.to_string().contains(OPTIMIZED_DIR),
        "{err}"
    );
}
