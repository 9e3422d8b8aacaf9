//! Decoder latency through ONNX Runtime.
//!
//! Measures [`Decoder::run`] (one frame, the real-time path) and
//! [`Decoder::run_batch`] (100 frames, the offline replay path) on a
//! randomly initialised MLP of about 1.6 M parameters: input 512, hidden
//! 1024 and 1024 with ReLU, output 40. The session uses one intra-op thread
//! and full graph optimisation, as in the streaming pipeline.
//!
//! How to read it: run `cargo bench --bench decoder`; criterion prints the
//! time per iteration as `[low median high]`. The median of `run/1_frame` is
//! the per-frame inference cost that must fit in the frame hop (10 ms); the
//! median of `run_batch/100_frames` divided by 100 is the amortised per-frame
//! cost for offline work. Without ONNX Runtime installed (`scripts/setup.sh`)
//! the benchmark prints a skip message and measures nothing.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use neurospeak::decoder::{Decoder, DecoderOptions, init_onnxruntime, locate_onnxruntime};
use neurospeak::onnx::{
    Activation, DenseLayer, GraphSpec, dense_stack_model, parameter_count, save_model,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const DIMS: [usize; 4] = [512, 1024, 1024, 40];
const BATCH: usize = 100;

fn bench_decoder(c: &mut Criterion) {
    let lib = match locate_onnxruntime(None) {
        Ok(lib) => lib,
        Err(e) => {
            eprintln!("skipping decoder benchmark: {e}");
            return;
        }
    };
    init_onnxruntime(Some(&lib)).expect("ONNX Runtime should load");

    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let layers: Vec<DenseLayer> = DIMS
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            let scale = (2.0 / w[0] as f32).sqrt();
            DenseLayer {
                in_dim: w[0],
                out_dim: w[1],
                weight: (0..w[0] * w[1])
                    .map(|_| rng.random_range(-scale..scale))
                    .collect(),
                bias: vec![0.0; w[1]],
                activation: if i + 2 < DIMS.len() {
                    Activation::Relu
                } else {
                    Activation::None
                },
            }
        })
        .collect();
    let spec = GraphSpec {
        input_name: "features",
        output_name: "mel",
        producer: "neurospeak-bench",
        doc: "benchmark MLP",
        metadata: &[],
    };
    let model = dense_stack_model(&layers, &spec);
    eprintln!("benchmark model: {} parameters", parameter_count(&model));
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("bench.onnx");
    save_model(&model, &path).expect("save benchmark model");
    let mut decoder =
        Decoder::load(&path, &DecoderOptions::default()).expect("load benchmark model");

    let frame: Vec<f32> = (0..DIMS[0]).map(|_| rng.random_range(-1.0..1.0)).collect();
    let mut out = vec![0f32; DIMS[3]];
    let mut group = c.benchmark_group("run");
    group.throughput(Throughput::Elements(1));
    group.bench_function("1_frame", |b| {
        b.iter(|| decoder.run(black_box(&frame), black_box(&mut out)).unwrap())
    });
    group.finish();

    let frames: Vec<f32> = (0..BATCH * DIMS[0])
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let mut outs = vec![0f32; BATCH * DIMS[3]];
    let mut group = c.benchmark_group("run_batch");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("100_frames", |b| {
        b.iter(|| {
            decoder
                .run_batch(black_box(&frames), BATCH, black_box(&mut outs))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_decoder);
criterion_main!(benches);
