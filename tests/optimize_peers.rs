//! The INT8 rewrite on models written by an independent producer (the `onnx` Python
//! package, `tests/peers/onnx_models.py`), checked against Python onnxruntime's outputs of
//! the float models: an opset-11 export with the operators whose signature or meaning
//! changed at opset 13, and Gemms with alpha, beta, transA and transB.
//!
//! These tests need ONNX Runtime and `onnx` + `onnxruntime` in `.local/venv`; without them
//! they print a skip message.

mod common;

use std::path::Path;
use std::process::Command;

use neurospeak::decoder::{Decoder, DecoderOptions};
use neurospeak::metrics::mean_bin_pearson;
use neurospeak::onnx::{ModelProto, load_model, save_model};
use neurospeak::optimize::opset::{QUANTIZED_OPSET, default_opset, upgrade};
use neurospeak::optimize::{OptimizeError, QuantConfig, QuantMode, QuantSummary, Scheme};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// A model written by the peer, its inputs and onnxruntime's outputs of it.
struct PeerModel {
    model: ModelProto,
    d: usize,
    m: usize,
    frames: usize,
    x: Vec<f32>,
    y: Vec<f32>,
}

/// Runs the peer into `dir` and returns its models by name, or `None` (with a skip
/// message) when ONNX Runtime or the Python packages are missing.
fn peer_models(dir: &Path) -> Option<serde_json::Map<String, serde_json::Value>> {
    if !common::onnxruntime() {
        return None;
    }
    let python = common::root().join(".local/venv/bin/python");
    let ready = Command::new(&python)
        .args(["-c", "import onnx, onnxruntime"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        common::skip(&format!(
            "onnx and onnxruntime are not importable by {}; run scripts/setup.sh",
            python.display()
        ));
        return None;
    }
    let out = Command::new(&python)
        .arg(common::root().join("tests/peers/onnx_models.py"))
        .arg(dir)
        .output()
        .expect("run the onnx peer");
    assert!(
        out.status.success(),
        "the onnx peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the peer prints JSON");
    Some(json.as_object().expect("an object").clone())
}

fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn load_peer(
    dir: &Path,
    all: &serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> PeerModel {
    let meta = &all[name];
    let field = |k: &str| meta[k].as_u64().expect("a number") as usize;
    let (d, m, frames) = (field("d"), field("m"), field("frames"));
    let model = load_model(&dir.join(format!("{name}.onnx"))).expect("the peer's model parses");
    let x = read_f32(&dir.join(format!("{name}.x.f32")));
    let y = read_f32(&dir.join(format!("{name}.y.f32")));
    assert_eq!((x.len(), y.len()), (frames * d, frames * m));
    PeerModel {
        model,
        d,
        m,
        frames,
        x,
        y,
    }
}

/// Runs `model` in ONNX Runtime (through the project's decoder) on the peer's inputs.
fn run(model: &ModelProto, p: &PeerModel, path: &Path) -> Vec<f32> {
    save_model(model, path).unwrap();
    let mut dec = Decoder::load(path, &DecoderOptions::default())
        .unwrap_or_else(|e| panic!("{} does not load in ONNX Runtime: {e}", path.display()));
    assert_eq!((dec.input_dim(), dec.output_dim()), (p.d, p.m));
    let mut y = vec![0f32; p.frames * p.m];
    dec.run_batch(&p.x, p.frames, &mut y).unwrap();
    y
}

fn quantize(p: &PeerModel, dir: &Path, mode: QuantMode) -> (ModelProto, QuantSummary) {
    let float_path = dir.join("float-for-calibration.onnx");
    save_model(&p.model, &float_path).unwrap();
    let frames = 1024;
    let normal = Normal::new(0.0f32, 1.0).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let cal: Vec<f32> = (0..frames * p.d).map(|_| normal.sample(&mut rng)).collect();
    let cfg = QuantConfig {
        mode,
        ..QuantConfig::default()
    };
    neurospeak::optimize::quantize_model(
        &p.model,
        &float_path,
        p.d,
        &cfg,
        Scheme::U8S8ReduceRange,
        &cal,
        frames,
        1,
        &|_| {},
    )
    .unwrap_or_else(|e| panic!("{mode:?} quantization fails: {e}"))
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The largest absolute value, to put errors in proportion.
fn max_abs(a: &[f32]) -> f32 {
    a.iter().map(|v| v.abs()).fold(0.0, f32::max)
}

#[test]
fn an_opset_11_model_is_converted_to_13_and_keeps_its_meaning() {
    let dir = tempfile::tempdir().unwrap();
    let Some(all) = peer_models(dir.path()) else {
        return;
    };
    let p = load_peer(dir.path(), &all, "opset11_shape_ops");
    assert_eq!(default_opset(&p.model), Some(11));

    // The conversion alone: the float graph at opset 13 gives onnxruntime's outputs of
    // the opset-11 original.
    let (converted, account) = upgrade(&p.model).expect("opset 11 converts");
    assert_eq!(default_opset(&converted), Some(QUANTIZED_OPSET));
    let account = account.expect("a conversion is reported");
    // Every changed operator, the If branch's Squeeze and Unsqueeze included; the 2-D
    // LogSoftmax over its last axis needs only an explicit axis, the 3-D Softmax and
    // Hardmax at axis 1 need Flatten/Reshape.
    for part in [
        "Dropout (ratio to an input) x1",
        "Squeeze (axes to an input) x2",
        "Unsqueeze (axes to an input) x2",
        "ReduceSum (axes to an input) x2",
        "Split (split to an input) x1",
        "Softmax (2-D semantics kept with Flatten and Reshape) x1",
        "Hardmax (2-D semantics kept with Flatten and Reshape) x1",
        "LogSoftmax (over its last axis, unchanged) x1",
    ] {
        assert!(account.contains(part), "{part} missing from: {account}");
    }
    assert!(!account.contains("ReduceMean"), "{account}");
    let y = run(&converted, &p, &dir.path().join("converted.onnx"));
    let diff = max_abs_diff(&y, &p.y);
    assert!(
        diff <= 1e-4 * max_abs(&p.y).max(1.0),
        "converted float model differs from onnxruntime on the opset-11 original by {diff} ({account})"
    );

    // Quantized in both modes: within INT8 tolerance of the original's outputs.
    for mode in [QuantMode::Static, QuantMode::Dynamic] {
        let (q, summary) = quantize(&p, dir.path(), mode);
        assert_eq!(default_opset(&q), Some(QUANTIZED_OPSET));
        assert_eq!(summary.opset_conversion.as_deref(), Some(account.as_str()));
        let ops: Vec<&str> = summary
            .quantized
            .iter()
            .map(|d| d.op_type.as_str())
            .collect();
        assert_eq!(ops, ["MatMul", "Gemm"], "{mode:?}: {summary:?}");
        let yq = run(&q, &p, &dir.path().join(format!("int8-{mode:?}.onnx")));
        let r = mean_bin_pearson(&p.y, &yq, p.m);
        let err = max_abs_diff(&yq, &p.y) / max_abs(&p.y);
        assert!(
            r >= 0.98 && err <= 0.1,
            "{mode:?}: INT8 vs onnxruntime's float outputs: Pearson r {r}, max abs error {err} of the largest output"
        );
    }
}

#[test]
fn gemm_alpha_beta_and_transposes_survive_the_dynamic_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let Some(all) = peer_models(dir.path()) else {
        return;
    };
    let p = load_peer(dir.path(), &all, "gemm_attributes");
    let (q, summary) = quantize(&p, dir.path(), QuantMode::Dynamic);
    let names: Vec<&str> = summary.quantized.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        ["scaled", "scaled_biased", "transposed_input"],
        "every Gemm is quantized: {summary:?}"
    );
    assert!(summary.left_float.is_empty(), "{summary:?}");
    let yq = run(&q, &p, &dir.path().join("int8-dynamic.onnx"));
    let r = mean_bin_pearson(&p.y, &yq, p.m);
    let err = max_abs_diff(&yq, &p.y) / max_abs(&p.y);
    assert!(
        r >= 0.99 && err <= 0.05,
        "dynamic INT8 vs onnxruntime's float outputs: Pearson r {r}, max abs error {err} of the largest output"
    );

    // Static mode keeps the Gemm nodes (alpha stays on the node); the two with a bias and
    // alpha/beta other than 1, or transA, stay float and say why.
    let (q, summary) = quantize(&p, dir.path(), QuantMode::Static);
    assert_eq!(summary.quantized.len(), 1, "{summary:?}");
    assert_eq!(summary.left_float.len(), 2, "{summary:?}");
    assert!(
        summary
            .left_float
            .iter()
            .all(|d| d.detail.contains("static mode")),
        "{summary:?}"
    );
    let yq = run(&q, &p, &dir.path().join("int8-static.onnx"));
    let r = mean_bin_pearson(&p.y, &yq, p.m);
    let err = max_abs_diff(&yq, &p.y) / max_abs(&p.y);
    assert!(
        r >= 0.99 && err <= 0.05,
        "static INT8 vs onnxruntime's float outputs: Pearson r {r}, max abs error {err} of the largest output"
    );
}

#[test]
fn a_model_older_than_opset_11_is_refused_naming_its_opset_and_the_fix() {
    let mut model = ModelProto::default();
    model.opset_import.push(onnx_protobuf::OperatorSetIdProto {
        domain: String::new(),
        version: 9,
        ..Default::default()
    });
    model.graph = protobuf::MessageField::some(Default::default());
    let err = upgrade(&model).expect_err("opset 9 is refused");
    assert!(
        matches!(err, OptimizeError::Opset { found: 9, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    for part in ["opset 9", "opset_version", "convert_version(model, 13)"] {
        assert!(text.contains(part), "{part} missing from: {text}");
    }
}
