//! Recordings that do not fit the model, or are not recordings, get clear
//! errors before anything runs.

mod common;

use common::recording;
use neurospeak::bundle::Bundle;
use neurospeak::pipeline::{ReplayError, ReplayOptions, replay};
use neurospeak::recording::{self as recordings, RecordingError};

#[test]
fn channel_count_mismatch_names_both_counts() {
    let dir = tempfile::tempdir().unwrap();
    common::tiny_bundle(dir.path(), 4, 1024.0);
    let bundle = Bundle::load(dir.path()).unwrap();
    let rec = recording(&dir.path().join("r.xdf"), 6, 1024.0, 0.5);
    let err = match replay(&bundle, &rec, &ReplayOptions::default(), &mut |_| {}) {
        Err(e) => e,
        Ok(_) => panic!("replay accepted 6 channels for a 4-channel model"),
    };
    assert!(
        matches!(
            err,
            ReplayError::Channels {
                expected: 4,
                found: 6,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn sample_rate_mismatch_names_both_rates() {
    let dir = tempfile::tempdir().unwrap();
    common::tiny_bundle(dir.path(), 4, 1024.0);
    let bundle = Bundle::load(dir.path()).unwrap();
    let rec = recording(&dir.path().join("r.xdf"), 4, 512.0, 0.5);
    let err = match replay(&bundle, &rec, &ReplayOptions::default(), &mut |_| {}) {
        Err(e) => e,
        Ok(_) => panic!("replay accepted 512 Hz for a 1024 Hz model"),
    };
    let msg = err.to_string();
    assert!(msg.contains("512") && msg.contains("1024"), "{msg}");
}

#[test]
fn a_wav_file_is_not_a_recording() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("speech.xdf");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for i in 0..1600 {
        w.write_sample((i % 100) as i16).unwrap();
    }
    w.finalize().unwrap();
    let err = recordings::load(&path).unwrap_err();
    assert!(matches!(err, RecordingError::NotARecording { .. }), "{err}");
}

#[test]
fn replay_of_a_matching_recording_writes_wav_and_counts_frames() {
    if !common::onnxruntime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    common::tiny_bundle(dir.path(), 4, 1024.0);
    let bundle = Bundle::load(dir.path()).unwrap();
    let mut rec = recording(&dir.path().join("r.xdf"), 4, 1024.0, 2.0);
    rec.eeg.samples[40] = f32::NAN;
    let wav = dir.path().join("out.wav");
    let options = ReplayOptions {
        wav: Some(wav.clone()),
        ..ReplayOptions::default()
    };
    let out = replay(&bundle, &rec, &options, &mut |_| {}).unwrap();
    let r = &out.report;
    assert_eq!(r.frames, 200);
    assert_eq!(out.audio.len(), 200 * 160);
    assert_eq!(r.faults.nonfinite_samples, 1);
    assert!(r.accuracy.is_none(), "no paired audio, no accuracy");
    let compute = r.latency_ms.compute.expect("compute latency recorded");
    assert_eq!(compute.count, 200);
    assert!(compute.p50 > 0.0 && compute.p50 <= compute.p99 && compute.p99 <= compute.max);
    assert!(r.realtime_factor > 0.0);
    assert!(r.latency_ms.algorithmic > 25.0, "half the window at least");
    let reader = hound::WavReader::open(&wav).unwrap();
    assert_eq!(reader.spec().sample_rate, 16000);
    assert_eq!(reader.len() as usize, 200 * 160);
}

#[test]
fn realtime_replay_is_paced_by_the_recording_clock() {
    if !common::onnxruntime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    common::tiny_bundle(dir.path(), 4, 1024.0);
    let bundle = Bundle::load(dir.path()).unwrap();
    let rec = recording(&dir.path().join("r.xdf"), 4, 1024.0, 0.5);
    let options = ReplayOptions {
        realtime: true,
        ..ReplayOptions::default()
    };
    let out = replay(&bundle, &rec, &options, &mut |_| {}).unwrap();
    // Paced: it cannot finish before the signal's own duration has passed.
    assert!(
        out.report.wall_seconds >= 0.49,
        "{}",
        out.report.wall_seconds
    );
    assert!(
        out.report.realtime_factor <= 1.02,
        "{}",
        out.report.realtime_factor
    );
    assert_eq!(out.report.frames, 50);
    // Sensor to sound: the file's clock stands in for the amplifier's, no
    // device; every frame is counted and its parts add up to it.
    let lat = &out.report.latency_ms;
    let total = lat
        .sensor_to_sound
        .expect("replay --realtime times sensor to sound");
    assert_eq!(total.count, 50);
    let budget = lat.budget.as_ref().expect("and its budget");
    let sum: f64 = budget.parts.iter().map(|p| p.mean).sum();
    assert!((sum - total.mean).abs() <= 0.005 * total.mean, "{lat:?}");
    let part = |n: &str| budget.parts.iter().find(|p| p.part == n).unwrap();
    // (Zero is recorded as the histograms' 1 ns floor.)
    assert!(
        part("playout").mean < 1e-3 && part("device").mean < 1e-3,
        "{lat:?}"
    );
    assert!(part("front_end_filters").mean > 1.0, "{lat:?}");
    assert!(total.p50 > lat.algorithmic, "{lat:?}");
}

#[test]
fn replay_as_fast_as_possible_reports_the_fixed_delays_plus_compute_as_sensor_to_sound() {
    if !common::onnxruntime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    common::tiny_bundle(dir.path(), 4, 1024.0);
    let bundle = Bundle::load(dir.path()).unwrap();
    let rec = recording(&dir.path().join("r.xdf"), 4, 1024.0, 0.5);
    let out = replay(&bundle, &rec, &ReplayOptions::default(), &mut |_| {}).unwrap();
    let lat = &out.report.latency_ms;
    let total = lat.sensor_to_sound.expect("sensor to sound");
    assert_eq!(total.count, out.report.frames);
    let budget = lat.budget.as_ref().unwrap();
    let part = |n: &str| budget.parts.iter().find(|p| p.part == n).unwrap().mean;
    for zero in ["transport", "playout", "device"] {
        assert!(part(zero) < 1e-3, "{zero}: {lat:?}");
    }
    let compute = lat.compute.unwrap();
    assert!(
        (total.mean - (lat.algorithmic + compute.mean)).abs() <= 0.005 * total.mean,
        "{lat:?}"
    );
}
