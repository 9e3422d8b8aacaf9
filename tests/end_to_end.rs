//! The whole offline path on a small corpus made by the project's own code:
//! flite speech → forward model → XDF → train (ridge and MLP) → bundle →
//! replay → WAV and report with accuracy against the paired speech.

mod common;

use neurospeak::bundle::Bundle;
use neurospeak::pipeline::{ReplayOptions, replay};
use neurospeak::synth::{CorpusConfig, forward::ForwardConfig, generate};

fn corpus(dir: &std::path::Path, recordings: usize, first_index: usize) -> Vec<std::path::PathBuf> {
    let cfg = CorpusConfig {
        seed: 3,
        recordings,
        first_index,
        utterances_per_recording: 3,
        voices: vec!["slt".into()],
        forward: ForwardConfig {
            channels: 16,
            noise: 0.5,
            ..ForwardConfig::default()
        },
        ..CorpusConfig::default()
    };
    generate(&cfg, dir, &mut |_, _| {}).expect("corpus generated")
}

#[test]
fn synth_is_deterministic_and_paired() {
    if !common::flite() {
        return;
    }
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let fa = corpus(a.path(), 1, 5);
    let fb = corpus(b.path(), 1, 5);
    assert_eq!(
        std::fs::read(&fa[0]).unwrap(),
        std::fs::read(&fb[0]).unwrap()
    );
    let rec = neurospeak::recording::load(&fa[0]).unwrap();
    assert_eq!(rec.eeg.channel_count, 16);
    assert_eq!(rec.eeg.sample_rate, 1024.0);
    let audio = rec.audio.expect("paired speech");
    assert_eq!(audio.sample_rate, 16000);
    let speech_s = audio.samples.len() as f64 / 16000.0;
    assert!(
        (rec.eeg.duration_s() - speech_s).abs() < 0.02,
        "{} vs {speech_s}",
        rec.eeg.duration_s()
    );
    assert_eq!(rec.markers.len(), 3);
    assert!(b.path().join("participant.json").is_file());
}

#[test]
fn trained_decoders_beat_chance_and_replay_reports_accuracy() {
    if !common::flite() || !common::onnxruntime() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    corpus(data.path(), 5, 0);
    let mut cfg = common::train_config();
    cfg.holdout_recordings = 1;
    cfg.mlp.hidden = vec![32];
    cfg.mlp.epochs = 8;
    let out = tempfile::tempdir().unwrap();
    let summary =
        neurospeak::train::corpus::train_bundle(data.path(), &cfg, out.path(), "test", &mut |_| {})
            .expect("training succeeds");
    assert!(
        summary.ridge_pearson_r > 0.3,
        "ridge r {}",
        summary.ridge_pearson_r
    );
    assert!(
        summary.decoder_pearson_r > 0.3,
        "mlp r {}",
        summary.decoder_pearson_r
    );
    assert!(summary.parameters > 0);

    let bundle = Bundle::load(out.path()).expect("trained bundle loads");
    let rec = neurospeak::recording::load(&summary.test_recordings[0]).unwrap();
    let wav = out.path().join("decoded.wav");
    let options = ReplayOptions {
        wav: Some(wav.clone()),
        ..ReplayOptions::default()
    };
    let outcome = replay(&bundle, &rec, &options, &mut |_| {}).unwrap();
    let acc = outcome
        .report
        .accuracy
        .clone()
        .expect("paired speech gives accuracy");
    // Streaming replay through ONNX Runtime reproduces the held-out figure
    // computed in training with the plain-Rust forward pass.
    assert!(
        (acc.decoded.pearson_r - summary.decoder_pearson_r).abs() < 0.02,
        "replay r {} vs training r {}",
        acc.decoded.pearson_r,
        summary.decoder_pearson_r
    );
    let mcd = acc.decoded.mcd_db.speech_frames.c1_13;
    assert!(mcd.is_finite() && mcd > 0.0, "{mcd}");
    assert!(wav.is_file());
    // The report counts what was decoded: one frame of log-mel per 10 ms hop,
    // and the audio the WAV holds.
    let report = &outcome.report;
    let n_mels = bundle.manifest.decoder.output_dim;
    assert_eq!(report.frames as usize, outcome.log_mel.len() / n_mels);
    let written = hound::WavReader::open(&wav).unwrap();
    let wav_seconds = written.duration() as f64 / f64::from(written.spec().sample_rate);
    assert!(
        (report.audio_seconds - wav_seconds).abs() < 1e-6,
        "report says {} s of audio, the WAV holds {wav_seconds} s",
        report.audio_seconds
    );
    assert!(
        (report.audio_seconds - report.frames as f64 * 0.01).abs() < 0.011,
        "{} frames but {} s of audio",
        report.frames,
        report.audio_seconds
    );
    let compute = report.latency_ms.compute.expect("compute latency");
    assert_eq!(compute.count, report.frames);
    assert!(compute.p50 > 0.0 && compute.p50 <= compute.p99 && compute.p99 <= compute.max);
}
