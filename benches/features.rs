//! Front-end cost: common average reference, notches, high-gamma band-pass,
//! windowed log power and context stacking for 64 channels at 1024 Hz.
//!
//! `features/frame` pushes the samples of one 10 ms frame (10 or 11 samples)
//! and reads the stacked feature vector: its time is the per-frame cost of the
//! front-end, to compare with the 10 ms budget of a real-time frame.
//! `features/second` runs one second of signal (100 frames).

use criterion::{Criterion, criterion_group, criterion_main};
use neurospeak::features::{FeatureExtractor, FrontEndPlan};
use std::hint::black_box;

fn plan() -> FrontEndPlan {
    FrontEndPlan {
        channels: 64,
        sample_rate: 1024.0,
        common_average_reference: true,
        line_frequency: Some(50.0),
        notch_harmonics: 3,
        band: (70.0, 170.0),
        filter_order: 4,
        window_s: 0.05,
        hop_s: 0.01,
        past_frames: 10,
        future_frames: 0,
        stride: 2,
        mean: vec![0.0; 64],
        std: vec![1.0; 64],
        layout: Default::default(),
        bipolar: vec![],
        extra_bands: vec![],
        raw_window: false,
    }
}

fn signal(seconds: usize) -> Vec<f32> {
    (0..64 * 1024 * seconds)
        .map(|i| ((i as f32 * 0.618).sin() * 30.0) + ((i % 97) as f32 - 48.0) * 0.1)
        .collect()
}

fn bench(c: &mut Criterion) {
    let p = plan();
    let x = signal(4);
    let mut fx = FeatureExtractor::new(&p);
    let mut pos = 0usize;
    c.bench_function("features/frame", |b| {
        b.iter(|| {
            loop {
                let s = &x[pos * 64..(pos + 1) * 64];
                pos = (pos + 1) % (x.len() / 64);
                if let Some(f) = fx.push_sample(black_box(s)) {
                    black_box(f[0]);
                    break;
                }
            }
        })
    });
    let second = signal(1);
    c.bench_function("features/second", |b| {
        b.iter(|| black_box(FeatureExtractor::run_batch(&p, black_box(&second)).len()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
