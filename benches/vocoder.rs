//! Cost of the audio back end, per call, on one core.
//!
//! * `vocoder/push_frame`: one `StreamingVocoder::push_frame` with the
//!   default config (3 look-ahead frames, 2 passes), i.e. the work for 10 ms
//!   of audio. It must stay far below 10 ms; the target is under 0.2 ms.
//!   Frames cycle through the log-mel of a synthetic voiced signal, so the
//!   vocoder is always in steady state.
//! * `mel/analyzer_push_hop`: one `MelAnalyzer::push_hop` (one 10 ms frame).
//! * `griffin_lim/1s_32iter`: offline fast Griffin-Lim, 32 iterations over
//!   1 s (100 frames); divide by 100 for a per-frame figure.
//!
//! Read the middle number of criterion's `time: [low median high]` line as
//! the median time per call. Run with `cargo bench --bench vocoder`.
//!
//! Reference medians from the first run (shared 2-core dev VM): push_frame
//! 17.9 µs, analyzer_push_hop 1.13 µs, griffin_lim 1 s / 32 iterations 6.93 ms.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use neurospeak::mel::{MelAnalyzer, log_mel_spectrogram};
use neurospeak::vocoder::{StreamingVocoder, VocoderConfig, griffin_lim};

/// One second of a voiced, vibrato signal at 16 kHz.
fn voiced_second() -> Vec<f32> {
    let mut phase = 0.0f32;
    (0..16_000)
        .map(|i| {
            let t = i as f32 / 16_000.0;
            phase += 130.0 * (1.0 + 0.03 * (2.0 * std::f32::consts::PI * 5.0 * t).sin()) / 16_000.0;
            (1..=20)
                .map(|h| 0.2 / h as f32 * (2.0 * std::f32::consts::PI * phase * h as f32).sin())
                .sum()
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let cfg = VocoderConfig::default();
    let audio = voiced_second();
    let log_mel = log_mel_spectrogram(&audio, &cfg.mel);
    let n_mels = cfg.mel.n_mels;
    let n_frames = log_mel.len() / n_mels;

    let mut vocoder = StreamingVocoder::new(&cfg).expect("default config is valid");
    let mut block = vec![0.0f32; cfg.mel.hop_length];
    let mut k = 0;
    c.bench_function("vocoder/push_frame", |b| {
        b.iter(|| {
            let frame = &log_mel[k * n_mels..(k + 1) * n_mels];
            k = (k + 1) % n_frames;
            vocoder.push_frame(black_box(frame), &mut block);
            black_box(&block);
        })
    });

    let mut analyzer = MelAnalyzer::new(&cfg.mel);
    let mut frame = vec![0.0f32; n_mels];
    let hop = cfg.mel.hop_length;
    let mut h = 0;
    c.bench_function("mel/analyzer_push_hop", |b| {
        b.iter(|| {
            analyzer.push_hop(black_box(&audio[h * hop..(h + 1) * hop]), &mut frame);
            h = (h + 1) % n_frames;
            black_box(&frame);
        })
    });

    let mut group = c.benchmark_group("griffin_lim");
    group.sample_size(10);
    group.bench_function("1s_32iter", |b| {
        b.iter(|| black_box(griffin_lim(black_box(&log_mel), &cfg.mel, 32)))
    });
    group.finish();
}

criterion_group!(vocoder_benches, benches);
criterion_main!(vocoder_benches);
