//! The whole replay path with the shipped demo model (`models/demo`):
//! 64-channel EEG at 1024 Hz → features → MLP decoder (ONNX Runtime, one
//! thread) → streaming vocoder, one frame at a time as a live session runs it.
//!
//! `pipeline/frame` is the cost of one 10 ms frame through every stage (the
//! compute latency a live session adds); `pipeline/replay_5s` replays five
//! seconds of signal, so 5 s divided by its time is the real-time factor.
//! The EEG comes from the project's forward model driven by a synthetic
//! spectrogram; timing does not depend on what is said.
//! Needs `scripts/setup.sh` (ONNX Runtime); without it the bench says so and exits.

use criterion::{Criterion, criterion_group, criterion_main};
use neurospeak::bundle::Bundle;
use neurospeak::decoder::{DecoderOptions, init_onnxruntime};
use neurospeak::pipeline::{Engine, ReplayOptions, replay};
use neurospeak::recording::{Recording, SignalStream};
use neurospeak::synth::forward::{ForwardConfig, Participant};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

fn recording(seconds: usize) -> Recording {
    let n_mels = 40;
    let mel: Vec<f32> = (0..seconds * 100 * n_mels)
        .map(|i| ((i / n_mels) as f32 * 0.07).sin() * 3.0 - 6.0 + (i % n_mels) as f32 * 0.05)
        .collect();
    let p = Participant::new(7, ForwardConfig::default(), n_mels);
    let samples = p.simulate(&mel, n_mels, 1);
    let n = samples.len() / 64;
    Recording {
        path: PathBuf::from("bench"),
        eeg: SignalStream {
            name: "bench".into(),
            stream_type: "EEG".into(),
            source_id: "bench".into(),
            channel_labels: (1..=64).map(|c| format!("ch{c:02}")).collect(),
            sample_rate: 1024.0,
            samples,
            timestamps: (0..n).map(|i| i as f64 / 1024.0).collect(),
            channel_count: 64,
        },
        audio: None,
        markers: vec![],
        empty_streams: vec![],
        clock_resets: 0,
    }
}

fn bench(c: &mut Criterion) {
    if let Err(e) = init_onnxruntime(None) {
        eprintln!("pipeline bench skipped: {e}");
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bundle = Bundle::load(&root.join("models/demo")).expect("models/demo loads");
    let rec = recording(5);
    let mut engine = Engine::build(&bundle, &DecoderOptions::default()).expect("engine builds");
    let n = rec.eeg.len();
    let mut pos = 0usize;
    c.bench_function("pipeline/frame", |b| {
        b.iter(|| {
            loop {
                let s = rec.eeg.sample(pos);
                pos = (pos + 1) % n;
                if let Some(f) = engine.push_sample(black_box(s), Instant::now()).unwrap() {
                    black_box(f.audio[0]);
                    break;
                }
            }
        })
    });
    let mut group = c.benchmark_group("pipeline");
    group.sample_size(10);
    group.bench_function("replay_5s", |b| {
        b.iter(|| {
            let out = replay(&bundle, &rec, &ReplayOptions::default(), &mut |_| {}).unwrap();
            black_box(out.report.frames)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
