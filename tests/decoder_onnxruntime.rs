//! ONNX Runtime agrees with the plain-Rust forward pass, and bad models give clear errors.
//!
//! These tests need the ONNX Runtime library; without it (a fresh clone before
//! `scripts/setup.sh`) they say why they are skipped (a failure under
//! `NEUROSPEAK_REQUIRE_PEERS=1`, as in CI).

mod common;

use std::path::Path;

use neurospeak::decoder::{
    Decoder, DecoderError, DecoderOptions, GraphOptimization, RuntimeError, init_onnxruntime,
    locate_onnxruntime, onnxruntime_version,
};
use neurospeak::onnx::{
    Activation, DenseLayer, GraphSpec, dense_stack_model, load_model, metadata, save_model,
};
use neurospeak::train::predict_dense;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Loads ONNX Runtime, or explains how to get it and returns false.
fn onnxruntime_ready() -> bool {
    match locate_onnxruntime(None) {
        Ok(path) => {
            init_onnxruntime(Some(&path)).expect("the located ONNX Runtime library should load");
            true
        }
        Err(e) => {
            common::skip(&format!(
                "ONNX Runtime is not installed; run scripts/setup.sh to enable this test.\n{e}"
            ));
            false
        }
    }
}

fn random_mlp(seed: u64, dims: &[usize]) -> Vec<DenseLayer> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let last = dims.len() - 2;
    dims.windows(2)
        .enumerate()
        .map(|(i, w)| DenseLayer {
            in_dim: w[0],
            out_dim: w[1],
            weight: (0..w[0] * w[1])
                .map(|_| rng.random_range(-0.3..0.3))
                .collect(),
            bias: (0..w[1]).map(|_| rng.random_range(-0.1..0.1)).collect(),
            activation: match i {
                _ if i == last => Activation::None,
                0 => Activation::Relu,
                _ => Activation::Tanh,
            },
        })
        .collect()
}

fn export(layers: &[DenseLayer], meta: &[(String, String)], path: &Path) {
    let spec = GraphSpec {
        input_name: "eeg_features",
        output_name: "mel_frame",
        producer: "neurospeak-test",
        doc: "random 3-layer MLP",
        metadata: meta,
    };
    save_model(&dense_stack_model(layers, &spec), path).unwrap();
}

fn assert_close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol,
            "value {i}: onnxruntime {x} vs reference {y}"
        );
    }
}

#[test]
fn onnxruntime_matches_reference_forward_pass() {
    if !onnxruntime_ready() {
        return;
    }
    assert!(
        onnxruntime_version().starts_with("1."),
        "{}",
        onnxruntime_version()
    );
    let layers = random_mlp(11, &[24, 32, 16, 5]);
    let meta = vec![
        ("decoder".to_string(), "mlp".to_string()),
        ("frame_ms".into(), "10".into()),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlp.onnx");
    export(&layers, &meta, &path);
    assert_eq!(metadata(&load_model(&path).unwrap()), meta);

    for optimization in [GraphOptimization::Disable, GraphOptimization::All] {
        let opts = DecoderOptions {
            optimization,
            ..Default::default()
        };
        let mut decoder = Decoder::load(&path, &opts).unwrap();
        assert_eq!((decoder.input_dim(), decoder.output_dim()), (24, 5));
        assert_eq!(
            (decoder.input_name(), decoder.output_name()),
            ("eeg_features", "mel_frame")
        );

        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut out = vec![0f32; 5];
        for _ in 0..20 {
            let x: Vec<f32> = (0..24).map(|_| rng.random_range(-2.0..2.0)).collect();
            decoder.run(&x, &mut out).unwrap();
            assert_close(&out, &predict_dense(&layers, &x, 1), 1e-4);
        }
        for n in [1, 7, 100, 7] {
            let x: Vec<f32> = (0..n * 24).map(|_| rng.random_range(-2.0..2.0)).collect();
            let mut y = vec![0f32; n * 5];
            decoder.run_batch(&x, n, &mut y).unwrap();
            assert_close(&y, &predict_dense(&layers, &x, n), 1e-4);
        }
    }
}

#[test]
fn optimized_model_is_saved_when_asked() {
    if !onnxruntime_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlp.onnx");
    export(&random_mlp(3, &[8, 8, 8, 2]), &[], &path);
    let optimized = dir.path().join("mlp.opt.onnx");
    let opts = DecoderOptions {
        optimized_model_path: Some(optimized.clone()),
        ..Default::default()
    };
    let _decoder = Decoder::load(&path, &opts).unwrap();
    assert!(
        load_model(&optimized).is_ok(),
        "ONNX Runtime wrote a readable optimised model"
    );
}

#[test]
fn wrong_buffer_sizes_are_rejected() {
    if !onnxruntime_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlp.onnx");
    export(&random_mlp(4, &[6, 4, 4, 3]), &[], &path);
    let mut decoder = Decoder::load(&path, &DecoderOptions::default()).unwrap();
    let err = decoder.run(&[0.0; 5], &mut [0.0; 3]).unwrap_err();
    assert!(
        matches!(
            err,
            DecoderError::BufferSize {
                expected: 6,
                found: 5,
                ..
            }
        ),
        "{err:?}"
    );
    let err = decoder.run_batch(&[0.0; 12], 2, &mut [0.0; 3]).unwrap_err();
    assert!(err.to_string().contains("expected 6"), "{err}");
}

#[test]
fn wrong_input_rank_names_the_input_and_its_shape() {
    if !onnxruntime_ready() {
        return;
    }
    use onnx_protobuf::{
        GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorShapeProto, TypeProto,
        ValueInfoProto,
        tensor_shape_proto::{Dimension, dimension},
        type_proto,
    };
    let value = |name: &str| ValueInfoProto {
        name: name.into(),
        type_: protobuf::MessageField::some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: 1,
                shape: protobuf::MessageField::some(TensorShapeProto {
                    dim: [1i64, 4, 8, 2]
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(dimension::Value::DimValue(d)),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }),
                ..Default::default()
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let model = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            version: 17,
            ..Default::default()
        }],
        graph: protobuf::MessageField::some(GraphProto {
            name: "rank3".into(),
            node: vec![NodeProto {
                op_type: "Relu".into(),
                input: vec!["cube".into()],
                output: vec!["out".into()],
                ..Default::default()
            }],
            input: vec![value("cube")],
            output: vec![value("out")],
            ..Default::default()
        }),
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rank3.onnx");
    save_model(&model, &path).unwrap();
    let err = Decoder::load(&path, &DecoderOptions::default()).unwrap_err();
    assert!(
        matches!(err, DecoderError::Signature { role: "input", .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("`cube`") && msg.contains("[1, 4, 8, 2]") && msg.contains("[batch or 1, N]"),
        "{msg}"
    );
}

#[test]
fn non_onnx_file_fails_before_onnxruntime() {
    if !onnxruntime_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weights.onnx");
    std::fs::write(&path, b"PK\x03\x04 zip archive").unwrap();
    let err = Decoder::load(&path, &DecoderOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            DecoderError::Model(neurospeak::onnx::OnnxError::NotOnnx { .. })
        ),
        "{err:?}"
    );
}

#[test]
fn missing_explicit_library_lists_where_it_looked() {
    // Only `locate_onnxruntime`: initialisation is process-global and must not be disturbed.
    let missing = Path::new("/nonexistent/dir/libonnxruntime.so");
    let err = locate_onnxruntime(Some(missing)).unwrap_err();
    assert!(
        matches!(&err, RuntimeError::NotFound { searched } if searched == &[missing.to_path_buf()])
    );
    let msg = err.to_string();
    assert!(msg.contains("/nonexistent/dir/libonnxruntime.so"), "{msg}");
    assert!(msg.contains("run scripts/setup.sh"), "{msg}");
    assert!(msg.contains("--ort-lib PATH / set ORT_DYLIB_PATH"), "{msg}");
}

#[test]
fn trained_mlp_with_folded_output_runs_in_onnxruntime() {
    use neurospeak::train::{Dataset, MlpConfig, fold_output_affine, train_mlp};
    if !onnxruntime_ready() {
        return;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let n = 300;
    let inputs: Vec<f32> = (0..n * 6).map(|_| rng.random_range(-1.0..1.0)).collect();
    let targets: Vec<f32> = inputs
        .chunks_exact(6)
        .flat_map(|x| [100.0 + 10.0 * (x[0] * x[1]).tanh(), -5.0 + x[2].max(0.0)])
        .collect();
    let data = Dataset::new(inputs, targets, 6, 2).unwrap();
    let (mean, std) = data.target_stats();
    let z = data.with_standardized_targets(&mean, &std);
    let cfg = MlpConfig {
        hidden: vec![16],
        epochs: 3,
        ..Default::default()
    };
    let mut layers = train_mlp(&z, &z, &cfg, &mut |_| {}).unwrap();
    fold_output_affine(layers.last_mut().unwrap(), &mean, &std);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trained.onnx");
    export(&layers, &[], &path);
    let mut decoder = Decoder::load(&path, &DecoderOptions::default()).unwrap();
    let mut out = vec![0f32; n * 2];
    decoder.run_batch(&data.inputs, n, &mut out).unwrap();
    assert_close(&out, &predict_dense(&layers, &data.inputs, n), 1e-3);
    let mean_out = out.chunks_exact(2).map(|y| y[0]).sum::<f32>() / n as f32;
    assert!(
        (mean_out - mean[0]).abs() < 5.0,
        "outputs are in raw target units ({mean_out} vs {})",
        mean[0]
    );
}

#[test]
fn decoder_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Decoder>();
}
