//! Integration tests for EDF+ and BDF+ reading in `neurospeak::recording`.
//!
//! The fixtures are written byte by byte here, following the EDF+ and BDF+
//! specifications, so the tests need no external files.

use std::path::Path;

use neurospeak::recording::{RecordingError, load};

mod common;

use common::edf::{Signal, build, encode};

/// The physical test signal of channel `c` at sample `i` (256 Hz).
fn physical(c: usize, i: usize) -> f64 {
    let t = i as f64 / 256.0;
    150.0 * (2.0 * std::f64::consts::PI * (5.0 + c as f64) * t).sin() - 20.0 * c as f64
}

/// Builds a 3-record, 1 s per record, 2-channel 256 Hz file with annotations.
fn fixture(bdf: bool) -> (Vec<u8>, f64) {
    let (physical_range, digital_range) = if bdf {
        ((-400.0, 400.0), (-8_388_608, 8_388_607))
    } else {
        ((-400.0, 400.0), (-32_768, 32_767))
    };
    let step = (physical_range.1 - physical_range.0) / f64::from(digital_range.1 - digital_range.0);
    let digital = |c: usize, i: usize| -> i32 {
        (f64::from(digital_range.0) + (physical(c, i) - physical_range.0) / step).round() as i32
    };
    let mut signals: Vec<Signal> = ["Fp1", "Cz"]
        .iter()
        .enumerate()
        .map(|(c, label)| Signal {
            label,
            physical: physical_range,
            digital: digital_range,
            per_record: 256,
            records: (0..3)
                .map(|r| {
                    let values: Vec<i32> = (0..256).map(|k| digital(c, r * 256 + k)).collect();
                    encode(&values, bdf)
                })
                .collect(),
        })
        .collect();
    let tals = [
        "+0\x14\x14\0+0.5\x14start\x14\0".to_string(),
        "+1\x14\x14\0+1.25\x150.5\x14word\x14second\x14\0".to_string(),
        "+2\x14\x14\0".to_string(),
    ];
    signals.push(Signal {
        label: if bdf {
            "BDF Annotations"
        } else {
            "EDF Annotations"
        },
        physical: (-1.0, 1.0),
        digital: (digital_range.0, digital_range.1),
        per_record: if bdf { 20 } else { 30 },
        records: tals.iter().map(|t| t.as_bytes().to_vec()).collect(),
    });
    (build(bdf, 1.0, 3, &signals), step)
}

fn check_fixture(bdf: bool, extension: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("rec.{extension}"));
    let (bytes, step) = fixture(bdf);
    std::fs::write(&path, bytes).unwrap();
    let rec = load(&path).expect("fixture loads");
    assert_eq!(rec.eeg.channel_count, 2);
    assert_eq!(rec.eeg.channel_labels, ["Fp1", "Cz"]);
    assert_eq!(rec.eeg.sample_rate, 256.0);
    assert_eq!(rec.eeg.len(), 768);
    assert_eq!(rec.eeg.timestamps[0], 0.0);
    assert!((rec.eeg.timestamps[767] - 767.0 / 256.0).abs() < 1e-12);
    for i in 0..768 {
        for c in 0..2 {
            let got = f64::from(rec.eeg.sample(i)[c]);
            // Half a quantization step, plus f32 rounding of the result.
            let tolerance = step / 2.0 + 1e-4;
            assert!(
                (got - physical(c, i)).abs() <= tolerance,
                "sample {i} channel {c}: {got} vs {} (step {step})",
                physical(c, i)
            );
        }
    }
    let markers: Vec<(f64, &str)> = rec
        .markers
        .iter()
        .map(|m| (m.timestamp, m.text.as_str()))
        .collect();
    assert_eq!(markers, [(0.5, "start"), (1.25, "word"), (1.25, "second")]);
    assert!(rec.audio.is_none());
    assert_eq!(rec.clock_resets, 0);
}

#[test]
fn edf_plus_values_and_annotations() {
    check_fixture(false, "edf");
}

#[test]
fn bdf_plus_values_and_annotations() {
    // The extension is deliberately wrong: the format comes from the content.
    check_fixture(true, "dat");
}

#[test]
fn bdf_negative_24_bit_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("neg.bdf");
    let signal = Signal {
        label: "A1",
        physical: (-8_388_608.0, 8_388_607.0),
        digital: (-8_388_608, 8_388_607),
        per_record: 4,
        records: vec![encode(&[-8_388_608, -1, 0, 8_388_607], true)],
    };
    std::fs::write(&path, build(true, 1.0, 1, &[signal])).unwrap();
    let rec = load(&path).unwrap();
    assert_eq!(rec.eeg.samples, [-8_388_608.0, -1.0, 0.0, 8_388_607.0]);
}

#[test]
fn mixed_sample_rates_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.edf");
    let signal = |label, per_record| Signal {
        label,
        physical: (-1.0, 1.0),
        digital: (-100, 100),
        per_record,
        records: vec![Vec::new()],
    };
    let bytes = build(false, 1.0, 1, &[signal("EEG Fz", 256), signal("Resp", 32)]);
    std::fs::write(&path, bytes).unwrap();
    let err = load(&path).unwrap_err();
    assert!(
        matches!(err, RecordingError::MixedSampleRates { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("'EEG Fz' at 256 Hz"), "{message}");
    assert!(message.contains("'Resp' at 32 Hz"), "{message}");
}

#[test]
fn truncated_and_corrupt_edf() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.edf");
    let (bytes, _) = fixture(false);
    let header = 256 * 4;
    let record = 2 * 256 * 2 + 60;
    std::fs::write(&path, &bytes[..header + record + 100]).unwrap();
    let err = load(&path).unwrap_err();
    let RecordingError::Truncated { offset, .. } = err else {
        panic!("expected Truncated, got {err:?}");
    };
    assert_eq!(offset, (header + record) as u64);
    // Every prefix of the header: an error, never a panic.
    for len in 8..header {
        std::fs::write(&path, &bytes[..len]).unwrap();
        assert!(load(&path).is_err(), "prefix of {len} bytes");
    }
    let mut bad = bytes.clone();
    bad[252..256].copy_from_slice(b"abc ");
    std::fs::write(&path, &bad).unwrap();
    let err = load(&path).unwrap_err();
    assert!(
        matches!(err, RecordingError::Corrupt { offset: 252, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("'abc'"), "{err}");
}

#[test]
fn missing_file_is_an_io_error() {
    let err = load(Path::new("definitely/not/here.edf")).unwrap_err();
    assert!(matches!(err, RecordingError::Io { .. }), "{err:?}");
}

#[test]
fn absurd_sample_counts_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.edf");
    let signal = Signal {
        label: "X",
        physical: (-1.0, 1.0),
        digital: (-100, 100),
        per_record: 1,
        records: vec![Vec::new()],
    };
    let mut bytes = build(false, 1.0, 1, &[signal]);
    // The "number of samples" field of the only signal.
    let at = 256 + 16 + 80 + 8 * 5 + 80;
    bytes[at..at + 8].copy_from_slice(b"99999999");
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        load(&path).unwrap_err(),
        RecordingError::Truncated { .. }
    ));
    bytes[236..244].copy_from_slice(b"99999999");
    std::fs::write(&path, &bytes).unwrap();
    assert!(load(&path).is_err());
}

#[test]
fn a_signal_with_physical_minimum_equal_to_maximum_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flat.edf");
    let signal = |label, physical| Signal {
        label,
        physical,
        digital: (-100, 100),
        per_record: 4,
        records: vec![encode(&[1, 2, 3, 4], false)],
    };
    let bytes = build(
        false,
        1.0,
        1,
        &[signal("EEG Fz", (-1.0, 1.0)), signal("EEG Cz", (5.0, 5.0))],
    );
    std::fs::write(&path, bytes).unwrap();
    let err = load(&path).unwrap_err();
    assert!(matches!(err, RecordingError::Corrupt { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message
            .contains("physical maximum different from the physical minimum for signal 'EEG Cz'"),
        "{message}"
    );
    assert!(message.contains("minimum 5 and maximum 5"), "{message}");
    // An inverted range is allowed by the standard and still reads.
    let bytes = build(false, 1.0, 1, &[signal("EEG Fz", (1.0, -1.0))]);
    std::fs::write(&path, bytes).unwrap();
    let rec = load(&path).unwrap();
    // physical = 1 + (digital + 100) * (-2 / 200): digital 1 gives -0.01.
    for (got, want) in rec.eeg.samples.iter().zip([-0.01, -0.02, -0.03, -0.04]) {
        assert!((got - want).abs() < 1e-6, "{:?}", rec.eeg.samples);
    }
}

#[test]
fn a_signal_with_a_non_finite_scale_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nan.edf");
    let mut bytes = build(
        false,
        1.0,
        1,
        &[Signal {
            label: "EEG Oz",
            physical: (-1.0, 1.0),
            digital: (-100, 100),
            per_record: 2,
            records: vec![encode(&[1, 2], false)],
        }],
    );
    // The "digital maximum" field of the only signal.
    let at = 256 + 16 + 80 + 8 * 4;
    bytes[at..at + 8].copy_from_slice(b"NaN     ");
    std::fs::write(&path, bytes).unwrap();
    let err = load(&path).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("for signal 'EEG Oz'"), "{message}");
    assert!(message.contains("digital -100 to NaN"), "{message}");
}
