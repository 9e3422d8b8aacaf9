//! A small EDF/EDF+ and BDF/BDF+ reader.
//!
//! edf-rs 0.2 reads these formats, but it unwraps on short reads and its
//! errors carry no byte offsets, so this module reads the (simple) format
//! itself with bounds-checked slicing.

use std::path::Path;

use super::{MAX_CHANNELS, Marker, RecordingError, SignalStream};

/// Size of the fixed part of the header, and of each signal's header part.
const BLOCK: usize = 256;

/// What `read_edf` produces.
pub(crate) struct EdfContent {
    /// The ordinary signals as one stream.
    pub eeg: SignalStream,
    /// Annotations from "EDF Annotations"/"BDF Annotations" signals.
    pub markers: Vec<Marker>,
}

/// The header of one signal.
struct SignalHeader {
    label: String,
    physical_min: f64,
    physical_max: f64,
    digital_min: f64,
    digital_max: f64,
    samples_per_record: usize,
    annotations: bool,
}

impl SignalHeader {
    fn gain(&self) -> f64 {
        (self.physical_max - self.physical_min) / (self.digital_max - self.digital_min)
    }
}

fn truncated(path: &Path, offset: usize, expected: String, len: usize) -> RecordingError {
    RecordingError::Truncated {
        path: path.to_path_buf(),
        offset: offset as u64,
        expected,
        available: len.saturating_sub(offset) as u64,
    }
}

fn corrupt(path: &Path, offset: usize, expected: &str, found: String) -> RecordingError {
    RecordingError::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        expected: expected.to_string(),
        found,
    }
}

/// Returns the ASCII field at `offset..offset + len`, trimmed.
fn field(
    bytes: &[u8],
    path: &Path,
    offset: usize,
    len: usize,
    what: &str,
) -> Result<String, RecordingError> {
    bytes
        .get(offset..offset + len)
        .map(|b| String::from_utf8_lossy(b).trim().to_string())
        .ok_or_else(|| {
            truncated(
                path,
                offset,
                format!("the header field {what} ({len} bytes)"),
                bytes.len(),
            )
        })
}

fn number<T: std::str::FromStr>(
    bytes: &[u8],
    path: &Path,
    offset: usize,
    len: usize,
    what: &str,
) -> Result<T, RecordingError> {
    let text = field(bytes, path, offset, len, what)?;
    text.parse::<T>().map_err(|_| {
        corrupt(
            path,
            offset,
            &format!("a number in the header field {what}"),
            format!("'{text}'"),
        )
    })
}

/// Parses an EDF(+) or BDF(+) file held in `bytes`; `bdf` selects 24-bit samples.
pub(crate) fn parse_edf(
    bytes: &[u8],
    path: &Path,
    bdf: bool,
) -> Result<EdfContent, RecordingError> {
    let header_bytes: usize = number(bytes, path, 184, 8, "'number of header bytes'")?;
    let declared_records: i64 = number(bytes, path, 236, 8, "'number of data records'")?;
    let record_duration: f64 = number(bytes, path, 244, 8, "'duration of a data record'")?;
    let signal_count: usize = number(bytes, path, 252, 4, "'number of signals'")?;
    if signal_count > MAX_CHANNELS {
        return Err(RecordingError::TooManyChannels {
            path: path.to_path_buf(),
            stream: field(bytes, path, 88, 80, "'local recording identification'")?,
            declared: signal_count as u64,
            limit: MAX_CHANNELS,
        });
    }
    if signal_count == 0 || header_bytes != BLOCK * (signal_count + 1) {
        return Err(corrupt(
            path,
            184,
            &format!(
                "a header of 256 * (1 + signals) bytes with 1 to 100000 signals (signals: {signal_count})"
            ),
            format!("{header_bytes} header bytes"),
        ));
    }
    if !(record_duration.is_finite() && record_duration > 0.0) {
        return Err(corrupt(
            path,
            244,
            "a positive data record duration in seconds",
            format!("{record_duration}"),
        ));
    }
    let signals = signal_headers(bytes, path, signal_count, bdf)?;
    let sample_size = if bdf { 3 } else { 2 };
    let record_size = signals
        .iter()
        .try_fold(0usize, |total, s| {
            s.samples_per_record
                .checked_mul(sample_size)
                .and_then(|n| total.checked_add(n))
        })
        .ok_or_else(|| {
            corrupt(
                path,
                BLOCK,
                "a data record size that fits in memory",
                "sample counts whose total overflows".into(),
            )
        })?;
    if record_size == 0 {
        return Err(corrupt(
            path,
            BLOCK,
            "signals with at least one sample per data record",
            "0".into(),
        ));
    }
    let data_len = bytes.len().saturating_sub(header_bytes);
    let records = if declared_records < 0 {
        data_len / record_size
    } else {
        declared_records as usize
    };
    let needed = records
        .checked_mul(record_size)
        .and_then(|n| n.checked_add(header_bytes));
    if needed.is_none_or(|n| n > bytes.len()) {
        let complete = data_len / record_size;
        return Err(truncated(
            path,
            header_bytes + complete * record_size,
            format!(
                "data record {} of {records} ({record_size} bytes each)",
                complete + 1
            ),
            bytes.len(),
        ));
    }

    let ordinary: Vec<&SignalHeader> = signals.iter().filter(|s| !s.annotations).collect();
    let Some(first) = ordinary.first() else {
        return Err(RecordingError::NoSignalStream {
            path: path.to_path_buf(),
            streams: "only annotation signals".into(),
        });
    };
    let per_record = first.samples_per_record;
    if ordinary.iter().any(|s| s.samples_per_record != per_record) {
        let details = ordinary
            .iter()
            .map(|s| {
                format!(
                    "'{}' at {} Hz",
                    s.label,
                    s.samples_per_record as f64 / record_duration
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        return Err(RecordingError::MixedSampleRates {
            path: path.to_path_buf(),
            details,
        });
    }

    let channels = ordinary.len();
    let sample_rate = per_record as f64 / record_duration;
    if !sample_rate.is_finite() {
        return Err(corrupt(
            path,
            244,
            "a data record duration giving a finite sample rate",
            format!("{per_record} samples in {record_duration} s"),
        ));
    }
    let mut samples = vec![0f32; records * per_record * channels];
    let mut timestamps = Vec::with_capacity(records * per_record);
    let mut markers = Vec::new();
    let mut origin: Option<f64> = None;
    for r in 0..records {
        let record_start = header_bytes + r * record_size;
        let mut offset = record_start;
        let mut channel = 0;
        let mut record_time = r as f64 * record_duration;
        let mut record_markers = Vec::new();
        for s in &signals {
            let len = s.samples_per_record * sample_size;
            let data = bytes.get(offset..offset + len).ok_or_else(|| {
                truncated(
                    path,
                    offset,
                    format!("samples of '{}'", s.label),
                    bytes.len(),
                )
            })?;
            if s.annotations {
                let (keeping, list) = parse_annotations(data);
                if let Some(t) = keeping {
                    record_time = t;
                }
                record_markers.extend(list);
            } else {
                let gain = s.gain();
                for (k, raw) in data.chunks_exact(sample_size).enumerate() {
                    let digital = if bdf {
                        f64::from(i32::from_le_bytes([0, raw[0], raw[1], raw[2]]) >> 8)
                    } else {
                        f64::from(i16::from_le_bytes([raw[0], raw[1]]))
                    };
                    let physical = s.physical_min + (digital - s.digital_min) * gain;
                    samples[(r * per_record + k) * channels + channel] = physical as f32;
                }
                channel += 1;
            }
            offset += len;
        }
        let t0 = *origin.get_or_insert(record_time);
        timestamps.extend((0..per_record).map(|k| record_time - t0 + k as f64 / sample_rate));
        markers.extend(record_markers.into_iter().map(|m: Marker| Marker {
            timestamp: m.timestamp - t0,
            text: m.text,
        }));
    }

    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(EdfContent {
        eeg: SignalStream {
            name,
            stream_type: "EEG".into(),
            source_id: field(bytes, path, 88, 80, "'local recording identification'")?,
            channel_labels: ordinary.iter().map(|s| s.label.clone()).collect(),
            sample_rate,
            samples,
            timestamps,
            channel_count: channels,
        },
        markers,
    })
}

/// Reads the per-signal header fields (stored field by field for all signals).
fn signal_headers(
    bytes: &[u8],
    path: &Path,
    n: usize,
    bdf: bool,
) -> Result<Vec<SignalHeader>, RecordingError> {
    // Field widths in header order: label, transducer, dimension, physical
    // min/max, digital min/max, prefiltering, samples per record, reserved.
    let widths = [16usize, 80, 8, 8, 8, 8, 8, 80, 8, 32];
    let mut starts = [0usize; 10];
    let mut at = BLOCK;
    for (start, width) in starts.iter_mut().zip(widths) {
        *start = at;
        at += width * n;
    }
    let annotation_label = if bdf {
        "BDF Annotations"
    } else {
        "EDF Annotations"
    };
    (0..n)
        .map(|i| {
            let label = field(bytes, path, starts[0] + 16 * i, 16, "'label'")?;
            let s = SignalHeader {
                annotations: label == annotation_label || label == "EDF Annotations",
                physical_min: number(bytes, path, starts[3] + 8 * i, 8, "'physical minimum'")?,
                physical_max: number(bytes, path, starts[4] + 8 * i, 8, "'physical maximum'")?,
                digital_min: number(bytes, path, starts[5] + 8 * i, 8, "'digital minimum'")?,
                digital_max: number(bytes, path, starts[6] + 8 * i, 8, "'digital maximum'")?,
                samples_per_record: number(
                    bytes,
                    path,
                    starts[8] + 8 * i,
                    8,
                    "'number of samples'",
                )?,
                label,
            };
            let limits = [s.physical_min, s.physical_max, s.digital_min, s.digital_max];
            if !s.annotations && limits.iter().any(|v| !v.is_finite()) {
                return Err(corrupt(
                    path,
                    starts[3] + 8 * i,
                    &format!(
                        "finite physical and digital minimum and maximum for signal '{}'",
                        s.label
                    ),
                    format!(
                        "physical {} to {}, digital {} to {}",
                        s.physical_min, s.physical_max, s.digital_min, s.digital_max
                    ),
                ));
            }
            // The physical range may be inverted (max below min), but not empty: the
            // gain would be 0 and every sample the same value.
            if !s.annotations && s.physical_max == s.physical_min {
                return Err(corrupt(
                    path,
                    starts[3] + 8 * i,
                    &format!(
                        "a physical maximum different from the physical minimum for signal '{}' \
                         (they scale the digital values; equal limits make every sample {})",
                        s.label, s.physical_min
                    ),
                    format!("minimum {} and maximum {}", s.physical_min, s.physical_max),
                ));
            }
            if !s.annotations && s.digital_max <= s.digital_min {
                return Err(corrupt(
                    path,
                    starts[5] + 8 * i,
                    &format!(
                        "digital maximum above digital minimum for signal '{}'",
                        s.label
                    ),
                    format!("minimum {} and maximum {}", s.digital_min, s.digital_max),
                ));
            }
            Ok(s)
        })
        .collect()
}

/// Parses the TALs of one annotation signal in one record.
///
/// Returns the time-keeping onset (the first TAL's onset, if any) and the
/// non-empty annotations as markers.
fn parse_annotations(data: &[u8]) -> (Option<f64>, Vec<Marker>) {
    let mut keeping = None;
    let mut markers = Vec::new();
    for tal in data.split(|&b| b == 0).filter(|t| !t.is_empty()) {
        let mut parts = tal.split(|&b| b == 0x14);
        let Some(timing) = parts.next() else { continue };
        let onset_text = timing.split(|&b| b == 0x15).next().unwrap_or_default();
        let Ok(onset) = String::from_utf8_lossy(onset_text).trim().parse::<f64>() else {
            continue;
        };
        if keeping.is_none() {
            keeping = Some(onset);
        }
        for text in parts.filter(|t| !t.is_empty()) {
            markers.push(Marker {
                timestamp: onset,
                text: String::from_utf8_lossy(text).into_owned(),
            });
        }
    }
    (keeping, markers)
}
