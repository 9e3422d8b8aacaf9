//! A stateful decoder (an LSTM written by the `onnx` Python package,
//! `tests/peers/recurrent_models.py`) runs, feeds its state back, resets and
//! runs detached without a Rust heap allocation. Its own binary: the counting
//! allocator counts every thread of the process.
//!
//! Needs ONNX Runtime and `onnx` + `onnxruntime` in `.local/venv`; without them
//! it prints a skip message (a failure with NEUROSPEAK_REQUIRE_PEERS=1).

mod common;

use common::counting::{ALLOCATIONS, COUNTING, Counting};
use std::process::Command;
use std::sync::atomic::Ordering;

use neurospeak::decoder::{Decoder, DecoderOptions, StateSpec};

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_stateful_run_does_not_allocate() {
    if !common::onnxruntime() {
        return;
    }
    let Some(python) = common::venv_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(&python)
        .arg(common::root().join("tests/peers/recurrent_models.py"))
        .arg(dir.path())
        .output()
        .expect("run the onnx peer");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spec = |input: &str, output: &str| StateSpec {
        input: input.into(),
        output: output.into(),
        shape: vec![1, 1, 16],
        initial: 0.0,
    };
    let states = [spec("h_in", "h_out"), spec("c_in", "c_out")];
    let mut decoder = Decoder::load_with_state(
        &dir.path().join("lstm17.onnx"),
        &DecoderOptions::default(),
        &states,
    )
    .unwrap();
    let input = vec![0.5f32; 12];
    let mut output = vec![0f32; 8];
    for _ in 0..10 {
        decoder.run(&input, &mut output).unwrap();
    }
    COUNTING.store(true, Ordering::SeqCst);
    for i in 0..1000 {
        decoder.run(&input, &mut output).unwrap();
        if i % 100 == 0 {
            decoder.run_detached(&input, &mut output).unwrap();
            decoder.reset_state();
        }
    }
    COUNTING.store(false, Ordering::SeqCst);
    let count = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(
        count, 0,
        "a stateful Decoder::run made {count} Rust heap allocations in 1000 calls"
    );
}
