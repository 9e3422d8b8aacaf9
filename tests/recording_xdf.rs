//! Integration tests for XDF reading and writing in `neurospeak::recording`.

mod common;

use std::path::Path;
use std::process::Command;

use neurospeak::recording::xdf::{ChannelFormat, StreamInfo, XdfValues, XdfWriter};
use neurospeak::recording::{
    AudioTrack, Marker, Recording, RecordingError, SignalStream, load, read_xdf, write_xdf,
};

fn assert_close(actual: f64, expected: f64, tolerance: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: expected {expected}, got {actual} (tolerance {tolerance})"
    );
}

#[test]
fn minimal_xdf_matches_pyxdf() {
    let Some(path) = common::shared_data("xdf/minimal.xdf") else {
        return;
    };
    let rec = load(&path).expect("minimal.xdf loads");
    assert_eq!(rec.eeg.name, "SendDataC");
    assert_eq!(rec.eeg.stream_type, "EEG");
    assert_eq!(rec.eeg.channel_count, 3);
    assert_eq!(rec.eeg.sample_rate, 10.0);
    assert_eq!(rec.eeg.len(), 9);
    // Values and timestamps as pyxdf 1.x reports them (clock offset -0.1 s).
    let expected: [[f32; 3]; 9] = [
        [192.0, 255.0, 238.0],
        [12.0, 22.0, 32.0],
        [13.0, 23.0, 33.0],
        [14.0, 24.0, 34.0],
        [15.0, 25.0, 35.0],
        [12.0, 22.0, 32.0],
        [13.0, 23.0, 33.0],
        [14.0, 24.0, 34.0],
        [15.0, 25.0, 35.0],
    ];
    for (i, row) in expected.iter().enumerate() {
        assert_eq!(rec.eeg.sample(i), row, "sample {i}");
        assert_close(
            rec.eeg.timestamps[i],
            5.0 + 0.1 * i as f64,
            1e-9,
            "EEG timestamp",
        );
    }
    assert_close(rec.eeg.duration_s(), 0.9, 1e-12, "duration");
    assert_eq!(rec.clock_resets, 0);
    assert!(rec.empty_streams.is_empty());
    assert!(rec.audio.is_none());
    // The marker stream's first sample is an XML document (a quirk of this file).
    assert_eq!(rec.markers.len(), 9);
    assert!(rec.markers[0].text.starts_with("<?xml"));
    let texts: Vec<&str> = rec.markers[1..].iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "Hello", "World", "from", "LSL", "Hello", "World", "from", "LSL"
        ]
    );
    for (i, m) in rec.markers.iter().enumerate() {
        assert_close(m.timestamp, 5.1 + 0.1 * i as f64, 1e-9, "marker timestamp");
    }
}

#[test]
fn empty_streams_xdf_is_read_and_reported() {
    let Some(path) = common::shared_data("xdf/empty_streams.xdf") else {
        return;
    };
    let file = read_xdf(&path).expect("read_xdf accepts empty streams");
    assert_eq!(file.streams.len(), 4);
    assert_eq!(
        file.empty_stream_names(),
        [
            "Empty data stream: test stream 0 counter",
            "Empty marker stream: test stream 0 counter"
        ]
    );
    let data = &file.streams[1];
    assert_eq!(data.channel_format, ChannelFormat::Int32);
    assert_eq!(data.channel_labels, ["ch:00"]);
    assert_eq!(data.source_id, "test_stream.py:191695:0");
    assert_eq!(
        data.values,
        XdfValues::Numeric((0..10).map(f64::from).collect())
    );
    // pyxdf with dejitter_timestamps=False; our robust fit differs by far less than 0.1 ms.
    assert_close(
        data.timestamps[0],
        91725.21392546587,
        1e-4,
        "first timestamp",
    );
    assert_close(
        data.timestamps[9],
        91734.21391809083,
        1e-4,
        "last timestamp",
    );

    let rec = load(&path).expect("load picks the non-empty data stream");
    assert_eq!(rec.eeg.name, "Data stream: test stream 0 counter");
    assert_eq!(rec.eeg.len(), 10);
    assert_eq!(rec.empty_streams.len(), 2);
    assert_eq!(rec.markers.len(), 1);
    assert_eq!(rec.markers[0].text, "{\"state\": 2}");
}

/// Builds an 8-channel, 1024 Hz, 3 s recording with 16 kHz audio and 3 markers.
fn synthetic_recording(path: &Path) -> Recording {
    let (channels, rate, seconds) = (8usize, 1024.0f64, 3usize);
    let n = rate as usize * seconds;
    let samples = (0..n * channels)
        .map(|k| {
            let (i, c) = (k / channels, k % channels);
            let t = i as f64 / rate;
            (50.0 * (2.0 * std::f64::consts::PI * (3.0 + c as f64) * t).sin() + c as f64) as f32
        })
        .collect();
    let timestamps = (0..n).map(|i| 100.0 + i as f64 / rate).collect();
    let audio = (0..16_000 * seconds)
        .map(|i| (0.5 * (i as f32 * 0.0345).sin()).clamp(-1.0, 1.0))
        .collect();
    Recording {
        path: path.to_path_buf(),
        eeg: SignalStream {
            name: "Synthetic EEG".into(),
            stream_type: "EEG".into(),
            source_id: "synthetic-1".into(),
            channel_labels: (1..=channels).map(|c| format!("Ch{c} <&>")).collect(),
            sample_rate: rate,
            samples,
            timestamps,
            channel_count: channels,
        },
        audio: Some(AudioTrack {
            sample_rate: 16_000,
            samples: audio,
            first_timestamp: 100.25,
        }),
        markers: vec![
            Marker {
                timestamp: 100.5,
                text: "start".into(),
            },
            Marker {
                timestamp: 101.5,
                text: "word: héllo".into(),
            },
            Marker {
                timestamp: 102.5,
                text: "end".into(),
            },
        ],
        empty_streams: Vec::new(),
        clock_resets: 0,
    }
}

#[test]
fn round_trip_with_our_reader() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("synthetic.xdf");
    let original = synthetic_recording(&path);
    write_xdf(&path, &original).expect("write");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    let back = load(&path).expect("read back");
    assert_eq!(back, original);
}

#[test]
fn round_trip_with_xdf_crate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("synthetic.xdf");
    let original = synthetic_recording(&path);
    write_xdf(&path, &original).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let file = xdf::XDFFile::from_bytes(&bytes).expect("the xdf crate reads our file");
    assert_eq!(file.streams.len(), 3);
    let eeg = file
        .streams
        .iter()
        .find(|s| s.r#type.as_deref() == Some("EEG"))
        .expect("EEG stream");
    assert_eq!(eeg.channel_count, 8);
    assert_eq!(eeg.nominal_srate, Some(1024.0));
    assert_eq!(eeg.samples.len(), original.eeg.len());
    for (i, sample) in eeg.samples.iter().enumerate() {
        let xdf::Values::Float32(values) = &sample.values else {
            panic!("expected float32 values, got {:?}", sample.values);
        };
        assert_eq!(values.as_slice(), original.eeg.sample(i), "sample {i}");
    }
    let audio = file
        .streams
        .iter()
        .find(|s| s.r#type.as_deref() == Some("Audio"))
        .expect("Audio stream");
    assert_eq!(audio.channel_count, 1);
    assert_eq!(audio.samples.len(), 48_000);
    let markers = file
        .streams
        .iter()
        .find(|s| s.r#type.as_deref() == Some("Markers"))
        .expect("Markers stream");
    let texts: Vec<_> = markers
        .samples
        .iter()
        .map(|s| match &s.values {
            xdf::Values::String(t) => t.clone(),
            other => panic!("expected a string marker, got {other:?}"),
        })
        .collect();
    assert_eq!(texts, ["start", "word: héllo", "end"]);
}

#[test]
fn round_trip_with_pyxdf() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".local/venv/bin/python");
    if !python.exists() {
        common::skip(&format!(
            "{} not found; run scripts/setup.sh to install pyxdf",
            python.display()
        ));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("synthetic.xdf");
    let original = synthetic_recording(&path);
    write_xdf(&path, &original).unwrap();
    let script = r#"
import json, sys, pyxdf, numpy as np
streams, _ = pyxdf.load_xdf(sys.argv[1], dejitter_timestamps=False)
out = {}
for s in streams:
    info = s["info"]
    ts = s["time_series"]
    if isinstance(ts, list):
        shape, total = [len(ts), 1], " ".join(x[0] for x in ts)
    else:
        shape, total = list(ts.shape), float(np.sum(ts.astype(np.float64)))
    labels = [c["label"][0] for c in (info["desc"][0] or {}).get("channels", [{}])[0].get("channel", [])] if info["desc"][0] else []
    out[info["type"][0]] = {"name": info["name"][0], "shape": shape, "sum": total,
        "first_ts": float(s["time_stamps"][0]), "last_ts": float(s["time_stamps"][-1]), "labels": labels,
        "clock_offsets": len(s["clock_times"])}
print(json.dumps(out))
"#;
    let output = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
        .expect("run pyxdf");
    assert!(
        output.status.success(),
        "pyxdf failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("pyxdf prints JSON");
    // Clock offsets as LabRecorder writes them (all zero: one clock), so
    // pyxdf's clock synchronization has nothing to warn about.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("clock-segments differ"),
        "pyxdf warned: {stderr}"
    );
    for (kind, s) in json.as_object().unwrap() {
        assert!(s["clock_offsets"].as_u64().unwrap() >= 1, "{kind}: {s}");
    }
    let eeg = &json["EEG"];
    assert_eq!(eeg["name"], "Synthetic EEG");
    assert_eq!(eeg["shape"], serde_json::json!([3072, 8]));
    let eeg_sum: f64 = original.eeg.samples.iter().map(|&v| f64::from(v)).sum();
    assert_close(eeg["sum"].as_f64().unwrap(), eeg_sum, 1e-6, "EEG sum");
    assert_close(
        eeg["first_ts"].as_f64().unwrap(),
        100.0,
        1e-9,
        "EEG first ts",
    );
    assert_close(
        eeg["last_ts"].as_f64().unwrap(),
        *original.eeg.timestamps.last().unwrap(),
        1e-9,
        "EEG last ts",
    );
    assert_eq!(eeg["labels"][0], "Ch1 <&>");
    let audio = &json["Audio"];
    assert_eq!(audio["shape"], serde_json::json!([48000, 1]));
    let audio_sum: f64 = original
        .audio
        .as_ref()
        .unwrap()
        .samples
        .iter()
        .map(|&v| f64::from(v))
        .sum();
    assert_close(audio["sum"].as_f64().unwrap(), audio_sum, 1e-6, "audio sum");
    assert_close(
        audio["first_ts"].as_f64().unwrap(),
        100.25,
        1e-9,
        "audio first ts",
    );
    assert_eq!(json["Markers"]["sum"], "start word: héllo end");
    assert_close(
        json["Markers"]["first_ts"].as_f64().unwrap(),
        100.5,
        1e-9,
        "marker ts",
    );
}

fn eeg_info(channels: usize, rate: f64) -> StreamInfo {
    StreamInfo {
        name: "amp".into(),
        stream_type: "EEG".into(),
        source_id: "amp-1".into(),
        channel_count: channels,
        channel_format: ChannelFormat::Float32,
        nominal_srate: rate,
        channel_labels: Vec::new(),
    }
}

#[test]
fn clock_offsets_and_a_reset_are_mapped() {
    // Sender clock: 10 Hz from t=0 for 12 s (offset +100 s, drifting 1 ms/s),
    // then the sender restarts and its clock begins again at t=0 (offset -50 s).
    let info = eeg_info(1, 10.0);
    let mut w = XdfWriter::new(Vec::new()).unwrap();
    w.stream_header(7, &info).unwrap();
    for block in 0..3 {
        let t: Vec<f64> = (0..40).map(|i| (block * 40 + i) as f64 / 10.0).collect();
        let v: Vec<f32> = (0..40).map(|i| (block * 40 + i) as f32).collect();
        w.numeric_samples(7, &info, &t, &v).unwrap();
        let ct = block as f64 * 4.0 + 2.0;
        w.clock_offset(7, ct, 100.0 + 0.001 * ct).unwrap();
    }
    for block in 0..3 {
        let ct = block as f64 * 4.0 + 1.0;
        w.clock_offset(7, ct, -50.0).unwrap();
        let t: Vec<f64> = (0..40).map(|i| (block * 40 + i) as f64 / 10.0).collect();
        let v: Vec<f32> = vec![-1.0; 40];
        w.numeric_samples(7, &info, &t, &v).unwrap();
    }
    w.stream_footer(7, &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reset.xdf");
    std::fs::write(&path, w.into_inner()).unwrap();

    let file = read_xdf(&path).unwrap();
    let stream = &file.streams[0];
    assert_eq!(stream.clock_resets, 1);
    assert_eq!(stream.clock_offsets.len(), 6);
    assert_eq!(stream.timestamps.len(), 240);
    for (i, &t) in stream.timestamps.iter().enumerate() {
        let raw = (i % 120) as f64 / 10.0;
        let expected = if i < 120 {
            raw + 100.0 + 0.001 * raw
        } else {
            raw - 50.0
        };
        assert_close(t, expected, 1e-6, &format!("timestamp {i}"));
    }
    let rec = load(&path).unwrap();
    assert_eq!(rec.clock_resets, 1);
}

#[test]
fn wav_next_to_the_recording_is_paired() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.xdf");
    let mut rec = synthetic_recording(&path);
    rec.audio = None;
    write_xdf(&path, &rec).unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut wav = hound::WavWriter::create(dir.path().join("session.wav"), spec).unwrap();
    for v in [0i16, 16_384, -32_768, 32_767] {
        wav.write_sample(v).unwrap();
    }
    wav.finalize().unwrap();
    let audio = load(&path).unwrap().audio.expect("WAV paired");
    assert_eq!(audio.sample_rate, 16_000);
    assert_eq!(audio.samples, [0.0, 0.5, -1.0, 32_767.0 / 32_768.0]);
    assert_eq!(audio.first_timestamp, 100.0);
}

#[test]
fn wav_file_is_not_a_recording() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("speech.xdf");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut wav = hound::WavWriter::create(&path, spec).unwrap();
    wav.write_sample(0i16).unwrap();
    wav.finalize().unwrap();
    let err = load(&path).unwrap_err();
    assert!(
        matches!(err, RecordingError::NotARecording { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("WAV"), "{message}");
    assert!(message.contains("RIFF"), "{message}");
    assert!(
        message.contains("expected an XDF, EDF+ or BDF+ file"),
        "{message}"
    );
}

#[test]
fn random_bytes_are_not_a_recording() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("noise.bin");
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    std::fs::write(&path, &bytes).unwrap();
    let err = load(&path).unwrap_err();
    assert!(
        matches!(err, RecordingError::NotARecording { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("LabRecorder"), "{err}");
    std::fs::write(&path, b"").unwrap();
    let err = load(&path).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
}

#[test]
fn truncated_xdf_names_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.xdf");
    write_xdf(&path, &synthetic_recording(&path)).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.xdf");
    // Cut in the middle of an EEG samples chunk.
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let err = load(&cut).unwrap_err();
    let RecordingError::Truncated { offset, .. } = &err else {
        panic!("expected Truncated, got {err:?}");
    };
    assert!(*offset > 0 && *offset < bytes.len() as u64 / 3);
    assert!(
        err.to_string().contains(&format!("offset {offset}")),
        "{err}"
    );
    // Every prefix of the first kilobyte: a chunk boundary gives a shorter
    // valid file, anything else a Truncated error; never a panic.
    let mut valid = 0;
    for len in 0..1024 {
        std::fs::write(&cut, &bytes[..len]).unwrap();
        match read_xdf(&cut) {
            Ok(_) => valid += 1,
            Err(RecordingError::Truncated { .. } | RecordingError::NotARecording { .. }) => {}
            Err(other) => panic!("prefix of {len} bytes: unexpected {other:?}"),
        }
    }
    assert!(valid <= 5, "only chunk boundaries are valid, got {valid}");
}

#[test]
fn corrupt_and_empty_signal_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.xdf");
    // A chunk with an invalid length-byte count.
    std::fs::write(&path, b"XDF:\x03\x00\x00").unwrap();
    let err = read_xdf(&path).unwrap_err();
    assert!(
        matches!(err, RecordingError::Corrupt { offset: 4, .. }),
        "{err:?}"
    );
    // A samples chunk for a stream that was never declared.
    let mut w = XdfWriter::new(Vec::new()).unwrap();
    w.numeric_samples(9, &eeg_info(1, 10.0), &[0.0], &[1.0f32])
        .unwrap();
    std::fs::write(&path, w.into_inner()).unwrap();
    let err = read_xdf(&path).unwrap_err();
    assert!(matches!(err, RecordingError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("stream id 9"), "{err}");
    // An EEG stream without samples.
    let mut w = XdfWriter::new(Vec::new()).unwrap();
    w.stream_header(1, &eeg_info(4, 250.0)).unwrap();
    std::fs::write(&path, w.into_inner()).unwrap();
    let err = load(&path).unwrap_err();
    assert!(matches!(err, RecordingError::EmptySignal { .. }), "{err:?}");
    assert!(err.to_string().contains("\"amp\""), "{err}");
    // Only a marker stream.
    let mut w = XdfWriter::new(Vec::new()).unwrap();
    let mut markers = eeg_info(1, 0.0);
    markers.stream_type = "Markers".into();
    markers.channel_format = ChannelFormat::String;
    w.stream_header(1, &markers).unwrap();
    w.string_samples(1, &markers, &[1.0], &["go".to_string()])
        .unwrap();
    std::fs::write(&path, w.into_inner()).unwrap();
    let err = load(&path).unwrap_err();
    assert!(
        matches!(err, RecordingError::NoSignalStream { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("type Markers"), "{err}");
}

/// A file whose EEG stream header declares `declared` channels, followed by one
/// samples chunk of 64-channel data.
fn header_declaring(declared: usize) -> Vec<u8> {
    let mut w = XdfWriter::new(Vec::new()).unwrap();
    w.stream_header(1, &eeg_info(declared, 1024.0)).unwrap();
    let data = eeg_info(64, 1024.0);
    w.numeric_samples(1, &data, &[0.0, 1.0 / 1024.0], &[0.5f32; 128])
        .unwrap();
    w.into_inner()
}

#[test]
fn a_header_claiming_a_billion_channels_is_refused_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("billion.xdf");
    std::fs::write(&path, header_declaring(1_000_000_000)).unwrap();
    let err = load(&path).unwrap_err();
    assert!(
        matches!(
            err,
            RecordingError::TooManyChannels {
                declared: 1_000_000_000,
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("stream \"amp\" declares 1000000000 channels")
            && message.contains("at most 100000"),
        "{message}"
    );
    // Beyond u32: still named, never "truncated".
    let xml = "<?xml version=\"1.0\"?><info><name>amp</name><type>EEG</type>\
               <channel_count>99999999999999</channel_count><channel_format>float32</channel_format>\
               <nominal_srate>1024</nominal_srate></info>";
    let mut content = 2u16.to_le_bytes().to_vec();
    content.extend_from_slice(&1u32.to_le_bytes());
    content.extend_from_slice(xml.as_bytes());
    let mut bytes = b"XDF:".to_vec();
    bytes.push(4);
    bytes.extend_from_slice(&(content.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&content);
    std::fs::write(&path, &bytes).unwrap();
    let err = load(&path).unwrap_err();
    assert!(
        err.to_string().contains("declares 99999999999999 channels"),
        "{err}"
    );
}

#[test]
fn a_header_claiming_more_channels_than_the_samples_hold_is_corrupt_not_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wider.xdf");
    std::fs::write(&path, header_declaring(1000)).unwrap();
    let err = load(&path).unwrap_err();
    assert!(matches!(err, RecordingError::Corrupt { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("2 sample(s) of 1000 float32 channel(s)"),
        "{message}"
    );
    assert!(!message.contains("truncated"), "{message}");
}
