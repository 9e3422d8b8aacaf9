//! Writing, saving and loading ONNX graphs without ONNX Runtime.

use neurospeak::onnx::{
    Activation, DenseLayer, GraphSpec, OnnxError, dense_stack_model, load_model, metadata,
    parameter_count, save_model,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_layer(
    rng: &mut ChaCha8Rng,
    in_dim: usize,
    out_dim: usize,
    activation: Activation,
) -> DenseLayer {
    DenseLayer {
        in_dim,
        out_dim,
        weight: (0..in_dim * out_dim)
            .map(|_| rng.random_range(-0.5..0.5))
            .collect(),
        bias: (0..out_dim).map(|_| rng.random_range(-0.1..0.1)).collect(),
        activation,
    }
}

fn spec(meta: &[(String, String)]) -> GraphSpec<'_> {
    GraphSpec {
        input_name: "features",
        output_name: "mel",
        producer: "neurospeak-test",
        doc: "test model",
        metadata: meta,
    }
}

#[test]
fn dense_stack_has_expected_structure_and_round_trips() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let layers = vec![
        random_layer(&mut rng, 6, 5, Activation::Relu),
        random_layer(&mut rng, 5, 4, Activation::Tanh),
        random_layer(&mut rng, 4, 3, Activation::None),
    ];
    let meta = vec![
        ("sample_rate".to_string(), "16000".to_string()),
        ("kind".into(), "mlp".into()),
    ];
    let model = dense_stack_model(&layers, &spec(&meta));
    assert_eq!(model.ir_version, 8);
    assert_eq!(model.opset_import[0].version, 17);
    let graph = model.graph.as_ref().unwrap();
    let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(ops, ["Gemm", "Relu", "Gemm", "Tanh", "Gemm"]);
    assert_eq!(graph.node.last().unwrap().output, ["mel"]);
    assert_eq!(graph.initializer[0].name, "layer0.weight");
    assert_eq!(graph.initializer[0].dims, [6, 5]);
    assert_eq!(graph.input[0].name, "features");
    assert_eq!(
        graph.value_info.len(),
        4,
        "every intermediate keeps its shape"
    );
    assert_eq!(parameter_count(&model), 6 * 5 + 5 + 5 * 4 + 4 + 4 * 3 + 3);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    save_model(&model, &path).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "atomic save leaves no temporary file");
    let loaded = load_model(&path).unwrap();
    assert_eq!(loaded, model);
    assert_eq!(metadata(&loaded), meta);
}

#[test]
fn random_bytes_are_not_onnx() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("noise.onnx");
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut bytes: Vec<u8> = (0..4096).map(|_| rng.random()).collect();
    bytes[0] = 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let err = load_model(&path).unwrap_err();
    assert!(matches!(err, OnnxError::NotOnnx { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("expected a protobuf-encoded onnx.ModelProto"),
        "{msg}"
    );
    assert!(msg.contains("noise.onnx"), "{msg}");

    std::fs::write(&path, b"{\"not\": \"a model\"}").unwrap();
    let err = load_model(&path).unwrap_err();
    assert!(err.to_string().contains("JSON"), "{err}");
}

#[test]
fn truncated_model_is_reported_as_corrupt() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let layers = vec![random_layer(&mut rng, 32, 16, Activation::None)];
    let model = dense_stack_model(&layers, &spec(&[]));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    save_model(&model, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_model(&path).unwrap_err();
    assert!(matches!(err, OnnxError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn empty_graph_and_missing_io_have_their_own_errors() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let layers = vec![random_layer(&mut rng, 4, 2, Activation::None)];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");

    let mut model = dense_stack_model(&layers, &spec(&[]));
    model.graph.as_mut().unwrap().node.clear();
    save_model(&model, &path).unwrap();
    assert!(matches!(
        load_model(&path),
        Err(OnnxError::EmptyGraph { .. })
    ));

    let mut model = dense_stack_model(&layers, &spec(&[]));
    model.graph.as_mut().unwrap().input.clear();
    save_model(&model, &path).unwrap();
    let err = load_model(&path).unwrap_err();
    assert!(
        matches!(err, OnnxError::MissingInputOutput { what: "input", .. }),
        "{err:?}"
    );

    let mut model = dense_stack_model(&layers, &spec(&[]));
    model.graph.as_mut().unwrap().output.clear();
    save_model(&model, &path).unwrap();
    let err = load_model(&path).unwrap_err();
    assert!(
        matches!(err, OnnxError::MissingInputOutput { what: "output", .. }),
        "{err:?}"
    );
}

#[test]
fn inconsistent_layers_are_rejected() {
    let layers = vec![DenseLayer {
        in_dim: 3,
        out_dim: 2,
        weight: vec![0.0; 5],
        bias: vec![0.0; 2],
        activation: Activation::None,
    }];
    let err = neurospeak::onnx::try_dense_stack_model(&layers, &spec(&[])).unwrap_err();
    assert!(err.to_string().contains("6 weights"), "{err}");
}
