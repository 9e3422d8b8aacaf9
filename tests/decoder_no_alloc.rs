//! `Decoder::run` makes no heap allocation on the Rust side once warmed up.
//!
//! A counting global allocator (this test binary only) records every Rust
//! allocation; ONNX Runtime's C++ allocations do not go through it.

mod common;

use common::counting::{ALLOCATIONS, COUNTING, Counting};
use std::sync::atomic::Ordering;

use neurospeak::decoder::{Decoder, DecoderOptions, init_onnxruntime, locate_onnxruntime};
use neurospeak::onnx::{Activation, DenseLayer, GraphSpec, dense_stack_model, save_model};

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn run_does_not_allocate() {
    let path = match locate_onnxruntime(None) {
        Ok(p) => p,
        Err(e) => {
            common::skip(&format!(
                "ONNX Runtime is not installed; run scripts/setup.sh to enable this test.\n{e}"
            ));
            return;
        }
    };
    init_onnxruntime(Some(&path)).unwrap();
    let layer = |i: usize, o: usize, activation| DenseLayer {
        in_dim: i,
        out_dim: o,
        weight: (0..i * o).map(|k| ((k % 7) as f32 - 3.0) * 0.01).collect(),
        bias: vec![0.01; o],
        activation,
    };
    let layers = [
        layer(64, 32, Activation::Relu),
        layer(32, 8, Activation::None),
    ];
    let spec = GraphSpec {
        input_name: "x",
        output_name: "y",
        producer: "test",
        doc: "",
        metadata: &[],
    };
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    save_model(&dense_stack_model(&layers, &spec), &model).unwrap();
    let mut decoder = Decoder::load(&model, &DecoderOptions::default()).unwrap();

    let input = vec![0.5f32; 64];
    let mut output = vec![0f32; 8];
    for _ in 0..10 {
        decoder.run(&input, &mut output).unwrap();
    }
    COUNTING.store(true, Ordering::SeqCst);
    for _ in 0..1000 {
        decoder.run(&input, &mut output).unwrap();
    }
    COUNTING.store(false, Ordering::SeqCst);
    let count = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(
        count, 0,
        "Decoder::run made {count} Rust heap allocations in 1000 calls"
    );
}
