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
//!
//! `load/*` measures [`Decoder::load`] of the same model file (session start,
//! not in the real-time path): `no_cache` optimizes at every load;
//! `cold_cache` optimizes and stores the graph in an empty cache directory;
//! `warm_cache` checks and loads the stored graph (see README, *Optimized-graph
//! cache*).

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
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

    let cache = dir.path().join("cache");
    let cached = |dir: std::path::PathBuf| DecoderOptions {
        cache_dir: Some(dir),
        ..DecoderOptions::default()
    };
    Decoder::load(&path, &cached(cache.clone())).expect("fill the cache");
    let mut group = c.benchmark_group("load");
    group.sample_size(20);
    group.bench_function("no_cache", |b| {
        b.iter(|| Decoder::load(&path, &DecoderOptions::default()).unwrap())
    });
    let mut n = 0;
    group.bench_function("cold_cache", |b| {
        b.iter_batched(
            || {
                // A fresh directory each time; the last one's entry goes.
                let _ = std::fs::remove_dir_all(dir.path().join(format!("cold-{n}")));
                n += 1;
                cached(dir.path().join(format!("cold-{n}")))
            },
            |options| Decoder::load(&path, &options).unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("warm_cache", |b| {
        b.iter(|| Decoder::load(&path, &cached(cache.clone())).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench_decoder);
criterion_main!(benches);
