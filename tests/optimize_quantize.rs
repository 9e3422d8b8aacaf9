//! INT8 quantization of several decoder architectures: each quantized model loads in
//! ONNX Runtime, stays close to the float model, and ONNX Runtime fuses the QDQ pairs.
//!
//! These tests need the ONNX Runtime library; without it they say why they are skipped
//! (a failure under `NEUROSPEAK_REQUIRE_PEERS=1`, as in CI).

mod common;

use std::collections::HashMap;
use std::path::Path;

use neurospeak::decoder::{Decoder, DecoderOptions, GraphOptimization};
use neurospeak::metrics::mean_bin_pearson;
use neurospeak::onnx::{ModelProto, OnnxError, load_model, save_model};
use neurospeak::optimize::{QuantConfig, QuantMode, QuantSummary, Scheme, quantize_model};
use onnx_protobuf::{
    AttributeProto, GraphProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto,
    TypeProto, ValueInfoProto, attribute_proto::AttributeType, tensor_proto::DataType,
    tensor_shape_proto::Dimension, tensor_shape_proto::dimension, type_proto,
};
use protobuf::Enum;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

// ---- small ONNX builders -------------------------------------------------------------

fn random(rng: &mut ChaCha8Rng, n: usize, std: f32) -> Vec<f32> {
    let d = Normal::new(0.0f32, std).unwrap();
    (0..n).map(|_| d.sample(rng)).collect()
}

fn ftensor(name: &str, dims: &[i64], values: Vec<f32>) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::FLOAT.value(),
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn i64tensor(name: &str, values: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![values.len() as i64],
        data_type: DataType::INT64.value(),
        int64_data: values.to_vec(),
        ..Default::default()
    }
}

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        type_: AttributeType::INTS.into(),
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        type_: AttributeType::INT.into(),
        i: v,
        ..Default::default()
    }
}

fn n(op: &str, name: &str, i: &[&str], o: &[&str], attrs: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: i.iter().map(|s| s.to_string()).collect(),
        output: o.iter().map(|s| s.to_string()).collect(),
        attribute: attrs,
        ..Default::default()
    }
}

fn io(name: &str, features: i64) -> ValueInfoProto {
    let dim = |v: dimension::Value| Dimension {
        value: Some(v),
        ..Default::default()
    };
    ValueInfoProto {
        name: name.into(),
        type_: protobuf::MessageField::some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::FLOAT.value(),
                shape: protobuf::MessageField::some(TensorShapeProto {
                    dim: vec![
                        dim(dimension::Value::DimParam("batch".into())),
                        dim(dimension::Value::DimValue(features)),
                    ],
                    ..Default::default()
                }),
                ..Default::default()
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn model(nodes: Vec<NodeProto>, inits: Vec<TensorProto>, d: i64, m: i64) -> ModelProto {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 17,
            ..Default::default()
        }],
        producer_name: "neurospeak-tests".into(),
        graph: protobuf::MessageField::some(GraphProto {
            name: "test".into(),
            node: nodes,
            initializer: inits,
            input: vec![io("x", d)],
            output: vec![io("y", m)],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// 32 → 64 (Relu) → 16 with Gemm; the first layer stores its weight transposed.
fn mlp_gemm(rng: &mut ChaCha8Rng) -> (ModelProto, usize) {
    let inits = vec![
        ftensor("w0", &[64, 32], random(rng, 64 * 32, 0.18)),
        ftensor("b0", &[64], random(rng, 64, 0.1)),
        ftensor("w1", &[64, 16], random(rng, 64 * 16, 0.12)),
        ftensor("b1", &[16], random(rng, 16, 0.1)),
    ];
    let nodes = vec![
        n(
            "Gemm",
            "fc0",
            &["x", "w0", "b0"],
            &["h0"],
            vec![int("transB", 1)],
        ),
        n("Relu", "relu0", &["h0"], &["a0"], vec![]),
        n("Gemm", "fc1", &["a0", "w1", "b1"], &["y"], vec![]),
    ];
    (model(nodes, inits, 32, 16), 32)
}

/// A temporal conv net: [batch, 64] → [batch, 8 channels, 8 frames] → Conv1d → Relu →
/// Conv1d → Relu → Flatten → Gemm → [batch, 10].
fn conv1d_net(rng: &mut ChaCha8Rng) -> (ModelProto, usize) {
    let inits = vec![
        i64tensor("shape", &[-1, 8, 8]),
        ftensor("c0.w", &[16, 8, 3], random(rng, 16 * 8 * 3, 0.2)),
        ftensor("c0.b", &[16], random(rng, 16, 0.1)),
        ftensor("c1.w", &[16, 16, 3], random(rng, 16 * 16 * 3, 0.14)),
        ftensor("c1.b", &[16], random(rng, 16, 0.1)),
        ftensor("fc.w", &[128, 10], random(rng, 128 * 10, 0.09)),
        ftensor("fc.b", &[10], random(rng, 10, 0.1)),
    ];
    let conv = |name: &str, i: &str, w: &str, b: &str, o: &str| {
        n(
            "Conv",
            name,
            &[i, w, b],
            &[o],
            vec![ints("kernel_shape", &[3]), ints("pads", &[1, 1])],
        )
    };
    let nodes = vec![
        n("Reshape", "stack", &["x", "shape"], &["frames"], vec![]),
        conv("conv0", "frames", "c0.w", "c0.b", "h0"),
        n("Relu", "relu0", &["h0"], &["a0"], vec![]),
        conv("conv1", "a0", "c1.w", "c1.b", "h1"),
        n("Relu", "relu1", &["h1"], &["a1"], vec![]),
        n("Flatten", "flat", &["a1"], &["f"], vec![int("axis", 1)]),
        n("Gemm", "fc", &["f", "fc.w", "fc.b"], &["y"], vec![]),
    ];
    (model(nodes, inits, 64, 10), 64)
}

/// A 2-D conv net: [batch, 64] → [batch, 1, 8, 8] → Conv2d → Relu → Flatten → Gemm.
fn conv2d_net(rng: &mut ChaCha8Rng) -> (ModelProto, usize) {
    let inits = vec![
        i64tensor("shape", &[-1, 1, 8, 8]),
        ftensor("c.w", &[4, 1, 3, 3], random(rng, 4 * 9, 0.3)),
        ftensor("c.b", &[4], random(rng, 4, 0.1)),
        ftensor("fc.w", &[256, 6], random(rng, 256 * 6, 0.06)),
        ftensor("fc.b", &[6], random(rng, 6, 0.1)),
    ];
    let nodes = vec![
        n("Reshape", "image", &["x", "shape"], &["img"], vec![]),
        n(
            "Conv",
            "conv",
            &["img", "c.w", "c.b"],
            &["h"],
            vec![ints("kernel_shape", &[3, 3]), ints("pads", &[1, 1, 1, 1])],
        ),
        n("Relu", "relu", &["h"], &["a"], vec![]),
        n("Flatten", "flat", &["a"], &["f"], vec![int("axis", 1)]),
        n("Gemm", "fc", &["f", "fc.w", "fc.b"], &["y"], vec![]),
    ];
    (model(nodes, inits, 64, 6), 64)
}

/// A GRU over the frames of the batch (as one sequence) and a MatMul + Add projection.
fn gru_projection(rng: &mut ChaCha8Rng) -> (ModelProto, usize) {
    let (d, h, m) = (24i64, 32i64, 12i64);
    let inits = vec![
        i64tensor("seq_shape", &[-1, 1, d]),
        i64tensor("flat_shape", &[-1, h]),
        ftensor(
            "gru.W",
            &[1, 3 * h, d],
            random(rng, (3 * h * d) as usize, 0.2),
        ),
        ftensor(
            "gru.R",
            &[1, 3 * h, h],
            random(rng, (3 * h * h) as usize, 0.15),
        ),
        ftensor("gru.B", &[1, 6 * h], random(rng, (6 * h) as usize, 0.1)),
        ftensor("proj.w", &[h, m], random(rng, (h * m) as usize, 0.3)),
        ftensor("proj.b", &[m], random(rng, m as usize, 0.1)),
    ];
    let nodes = vec![
        n("Reshape", "to_seq", &["x", "seq_shape"], &["seq"], vec![]),
        n(
            "GRU",
            "gru",
            &["seq", "gru.W", "gru.R", "gru.B"],
            &["gru_y"],
            vec![int("hidden_size", h)],
        ),
        n(
            "Reshape",
            "to_frames",
            &["gru_y", "flat_shape"],
            &["hid"],
            vec![],
        ),
        n("MatMul", "proj", &["hid", "proj.w"], &["proj_y"], vec![]),
        n("Add", "proj_bias", &["proj_y", "proj.b"], &["y"], vec![]),
    ];
    (model(nodes, inits, d, m), d as usize)
}

/// Gemm → Softsign (an operator the quantizer does not know) → Gemm.
fn with_unknown_op(rng: &mut ChaCha8Rng) -> (ModelProto, usize) {
    let inits = vec![
        ftensor("w0", &[16, 32], random(rng, 16 * 32, 0.25)),
        ftensor("b0", &[32], random(rng, 32, 0.1)),
        ftensor("w1", &[32, 8], random(rng, 32 * 8, 0.2)),
        ftensor("b1", &[8], random(rng, 8, 0.1)),
    ];
    let nodes = vec![
        n("Gemm", "fc0", &["x", "w0", "b0"], &["h0"], vec![]),
        n("Softsign", "soft", &["h0"], &["a0"], vec![]),
        n("Gemm", "fc1", &["a0", "w1", "b1"], &["y"], vec![]),
    ];
    (model(nodes, inits, 16, 8), 16)
}

// ---- the checks ----------------------------------------------------------------------

struct Outcome {
    summary: QuantSummary,
    r: f64,
    quantized_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// Quantizes `model` with random calibration data and compares it with the float model
/// on fresh random data.
fn quantize_and_compare(model: &ModelProto, d: usize, cfg: &QuantConfig) -> Outcome {
    quantize_with_scheme(model, d, cfg, Scheme::U8S8)
}

/// As [`quantize_and_compare`] with a given integer scheme.
fn quantize_with_scheme(
    model: &ModelProto,
    d: usize,
    cfg: &QuantConfig,
    scheme: Scheme,
) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let float_path = dir.path().join("float.onnx");
    save_model(model, &float_path).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let frames = 1024;
    let cal = random(&mut rng, frames * d, 1.0);
    let (q, summary) = quantize_model(model, &float_path, d, cfg, scheme, &cal, frames, 2, &|_| {})
        .expect("quantization succeeds");
    let quantized_path = dir.path().join("int8.onnx");
    save_model(&q, &quantized_path).unwrap();

    let test_frames = 512;
    let x = random(&mut rng, test_frames * d, 1.0);
    let run = |p: &Path| {
        let mut dec = Decoder::load(p, &DecoderOptions::default()).expect("loads in ORT");
        let mut y = vec![0f32; test_frames * dec.output_dim()];
        dec.run_batch(&x, test_frames, &mut y).unwrap();
        (y, dec.output_dim())
    };
    let (yf, m) = run(&float_path);
    let (yq, _) = run(&quantized_path);
    let r = mean_bin_pearson(&yf, &yq, m);
    Outcome {
        summary,
        r,
        quantized_path,
        _dir: dir,
    }
}

/// Saves ONNX Runtime's Extended-level graph of `path` and returns the op types of its
/// nodes, after checking that no DequantizeLinear feeds a MatMul, Gemm or Conv.
fn assert_fused(path: &Path) -> HashMap<String, usize> {
    let out = path.with_extension("ort-extended.onnx");
    Decoder::load(
        path,
        &DecoderOptions {
            optimization: GraphOptimization::Extended,
            optimized_model_path: Some(out.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let m = load_model(&out).unwrap();
    let g = m.graph.as_ref().unwrap();
    let producer: HashMap<&str, &NodeProto> = g
        .node
        .iter()
        .flat_map(|n| n.output.iter().map(move |o| (o.as_str(), n)))
        .collect();
    let mut ops = HashMap::new();
    for node in &g.node {
        *ops.entry(node.op_type.clone()).or_insert(0) += 1;
        if ["MatMul", "Gemm", "Conv"].contains(&node.op_type.as_str()) {
            for i in &node.input {
                if let Some(p) = producer.get(i.as_str()) {
                    assert_ne!(
                        p.op_type, "DequantizeLinear",
                        "DequantizeLinear `{}` feeds {} `{}` in ORT's optimised graph: not fused ({ops:?})",
                        p.name, node.op_type, node.name
                    );
                }
            }
        }
    }
    ops
}

fn static_cfg() -> QuantConfig {
    QuantConfig::default()
}

#[test]
fn mlp_with_gemm_quantizes_and_fuses() {
    if !common::onnxruntime() {
        return;
    }
    let (m, d) = mlp_gemm(&mut ChaCha8Rng::seed_from_u64(1));
    let o = quantize_and_compare(&m, d, &static_cfg());
    assert_eq!(o.summary.quantized.len(), 2, "{:?}", o.summary);
    assert!(o.summary.left_float.is_empty(), "{:?}", o.summary);
    assert!(o.r >= 0.99, "quantized vs float Pearson r {}", o.r);
    let ops = assert_fused(&o.quantized_path);
    assert!(ops.contains_key("QGemm"), "{ops:?}");
}

#[test]
fn calibration_methods_and_per_tensor_weights_stay_close() {
    if !common::onnxruntime() {
        return;
    }
    let (m, d) = mlp_gemm(&mut ChaCha8Rng::seed_from_u64(2));
    for (method, per_channel) in [
        (neurospeak::optimize::CalibrationMethod::Percentile, true),
        (neurospeak::optimize::CalibrationMethod::Entropy, true),
        (neurospeak::optimize::CalibrationMethod::MinMax, false),
    ] {
        let cfg = QuantConfig {
            method,
            per_channel,
            ..QuantConfig::default()
        };
        let o = quantize_and_compare(&m, d, &cfg);
        // Entropy calibration clips the tails by design, which costs a little on Gaussian data.
        let floor = if method == neurospeak::optimize::CalibrationMethod::Entropy {
            0.97
        } else {
            0.99
        };
        assert!(
            o.r >= floor,
            "{method:?} per_channel {per_channel}: r {}",
            o.r
        );
        assert_fused(&o.quantized_path);
    }
}

#[test]
fn temporal_conv_nets_quantize_and_fuse() {
    if !common::onnxruntime() {
        return;
    }
    for (label, (m, d)) in [
        ("conv1d", conv1d_net(&mut ChaCha8Rng::seed_from_u64(3))),
        ("conv2d", conv2d_net(&mut ChaCha8Rng::seed_from_u64(4))),
    ] {
        let o = quantize_and_compare(&m, d, &static_cfg());
        let convs = o
            .summary
            .quantized
            .iter()
            .filter(|q| q.op_type == "Conv")
            .count();
        assert!(convs >= 1, "{label}: {:?}", o.summary);
        assert!(o.r >= 0.99, "{label}: quantized vs float Pearson r {}", o.r);
        let ops = assert_fused(&o.quantized_path);
        assert!(ops.contains_key("QLinearConv"), "{label}: {ops:?}");
    }
}

#[test]
fn gru_stays_float_and_its_projection_is_quantized() {
    if !common::onnxruntime() {
        return;
    }
    let (m, d) = gru_projection(&mut ChaCha8Rng::seed_from_u64(5));
    let o = quantize_and_compare(&m, d, &static_cfg());
    assert!(
        o.summary
            .left_float
            .iter()
            .any(|f| f.op_type == "GRU" && f.detail.contains("does not know")),
        "{:?}",
        o.summary
    );
    assert!(
        o.summary.quantized.iter().any(|q| q.op_type == "MatMul"),
        "{:?}",
        o.summary
    );
    assert!(o.r >= 0.99, "quantized vs float Pearson r {}", o.r);
    assert_fused(&o.quantized_path);

    // Dynamic mode: the projection becomes an integer MatMul, the GRU stays float.
    let cfg = QuantConfig {
        mode: QuantMode::Dynamic,
        ..QuantConfig::default()
    };
    let o = quantize_and_compare(&m, d, &cfg);
    assert!(o.summary.quantized.iter().any(|q| q.op_type == "MatMul"));
    assert!(o.summary.left_float.iter().any(|f| f.op_type == "GRU"));
    assert!(o.r >= 0.99, "dynamic: quantized vs float Pearson r {}", o.r);
    let ops = assert_fused(&o.quantized_path);
    assert!(
        ops.contains_key("DynamicQuantizeMatMul") || ops.contains_key("MatMulIntegerToFloat"),
        "{ops:?}"
    );
}

#[test]
fn dynamic_mode_never_touches_conv() {
    if !common::onnxruntime() {
        return;
    }
    let (m, d) = conv1d_net(&mut ChaCha8Rng::seed_from_u64(6));
    let cfg = QuantConfig {
        mode: QuantMode::Dynamic,
        ..QuantConfig::default()
    };
    let o = quantize_and_compare(&m, d, &cfg);
    assert!(o.summary.quantized.iter().all(|q| q.op_type != "Conv"));
    assert_eq!(
        o.summary
            .left_float
            .iter()
            .filter(|f| f.op_type == "Conv")
            .count(),
        2
    );
    assert!(o.r >= 0.99, "r {}", o.r);
}

#[test]
fn unknown_op_is_left_float_and_reported() {
    if !common::onnxruntime() {
        return;
    }
    let (m, d) = with_unknown_op(&mut ChaCha8Rng::seed_from_u64(7));
    let o = quantize_and_compare(&m, d, &static_cfg());
    let soft = o
        .summary
        .left_float
        .iter()
        .find(|f| f.op_type == "Softsign")
        .expect("Softsign is reported");
    assert_eq!(soft.name, "soft");
    assert!(soft.detail.contains("does not know"), "{}", soft.detail);
    assert_eq!(o.summary.quantized.len(), 2);
    assert!(o.r >= 0.99, "r {}", o.r);
}

#[test]
fn excluded_nodes_and_op_types_stay_float() {
    if !common::onnxruntime() {
        return;
    }
    let (m, d) = conv1d_net(&mut ChaCha8Rng::seed_from_u64(8));
    let cfg = QuantConfig {
        exclude_nodes: vec!["fc".into()],
        exclude_op_types: vec!["Conv".into()],
        ..QuantConfig::default()
    };
    let o = quantize_and_compare(&m, d, &cfg);
    assert!(o.summary.quantized.is_empty(), "{:?}", o.summary);
    assert_eq!(o.summary.left_float.len(), 3, "{:?}", o.summary);
    assert!(o.r > 0.999999, "nothing quantized, yet r {}", o.r);
}

#[test]
fn a_file_that_is_not_onnx_is_rejected_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("model.onnx");
    std::fs::write(&p, b"{\"not\": \"a model\"}").unwrap();
    match load_model(&p) {
        Err(e @ OnnxError::NotOnnx { .. }) => {
            assert!(e.to_string().contains("not an ONNX model"), "{e}")
        }
        other => panic!("expected NotOnnx, got {other:?}"),
    }
}

#[test]
fn the_shipped_config_parses_to_the_defaults_and_unknown_fields_fail() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cfg = QuantConfig::load(&root.join("configs/quantization.yaml")).unwrap();
    assert_eq!(cfg, QuantConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("q.yaml");
    std::fs::write(&bad, "methd: entropy\n").unwrap();
    let e = QuantConfig::load(&bad).unwrap_err().to_string();
    assert!(e.contains("methd"), "{e}");
    std::fs::write(&bad, "percentile: 20\n").unwrap();
    let e = QuantConfig::load(&bad).unwrap_err().to_string();
    assert!(e.contains("percentile"), "{e}");
}

#[test]
fn reduce_range_and_u8u8_schemes_load_fuse_and_stay_close() {
    if !common::onnxruntime() {
        return;
    }
    for (label, (m, d)) in [
        ("mlp", mlp_gemm(&mut ChaCha8Rng::seed_from_u64(9))),
        ("conv1d", conv1d_net(&mut ChaCha8Rng::seed_from_u64(10))),
    ] {
        for scheme in [Scheme::U8S8ReduceRange, Scheme::U8U8] {
            let o = quantize_with_scheme(&m, d, &static_cfg(), scheme);
            assert!(o.r >= 0.98, "{label} {scheme:?}: r {}", o.r);
            assert_fused(&o.quantized_path);
        }
    }
}

#[test]
fn int32_bias_values_beyond_range_are_counted_and_warned_about() {
    if !common::onnxruntime() {
        return;
    }
    // Weights of about 1e-5 and inputs of about 1: the bias scale (input scale x weight
    // scale) is near 1e-8, so a bias of 1e4 needs about 1e12 steps, far beyond int32.
    let (d, m) = (8usize, 4usize);
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let bias = vec![1e4f32, -1e4, 0.0, 1e4];
    let inits = vec![
        ftensor("w", &[d as i64, m as i64], random(&mut rng, d * m, 1e-5)),
        ftensor("b", &[m as i64], bias.clone()),
    ];
    let nodes = vec![n("Gemm", "fc", &["x", "w", "b"], &["y"], vec![])];
    let model = model(nodes, inits, d as i64, m as i64);
    let o = quantize_and_compare(&model, d, &static_cfg());
    let expected = bias.iter().filter(|b| b.abs() > 1.0).count();
    assert_eq!(o.summary.clamped_bias_values, expected, "{:?}", o.summary);
    let fc = &o.summary.quantized[0];
    assert!(
        fc.detail.contains(&format!("{expected} bias values")),
        "{}",
        fc.detail
    );
    let warnings = neurospeak::optimize::quantization_warnings(&o.summary);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("3 int32 bias values") && warnings[0].contains("fc"),
        "{warnings:?}"
    );

    // An ordinary model clamps nothing and warns about nothing.
    let (m, d) = mlp_gemm(&mut ChaCha8Rng::seed_from_u64(1));
    let o = quantize_and_compare(&m, d, &static_cfg());
    assert_eq!(o.summary.clamped_bias_values, 0);
    assert!(neurospeak::optimize::quantization_warnings(&o.summary).is_empty());
}
