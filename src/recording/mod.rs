//! Reading and writing EEG recordings.
//!
//! [`load`] reads XDF (LabRecorder), EDF+ and BDF+ files, deciding the format
//! from the first bytes, and returns a [`Recording`]: the EEG signal, the
//! paired speech audio if any, and the markers. [`write_xdf`] writes a
//! recording back as XDF. The chunk-level XDF code lives in [`xdf`].

mod audio;
mod edf;
mod error;
pub mod xdf;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use error::RecordingError;
pub use xdf::{XdfFile, XdfStream, read_xdf};

use xdf::{ChannelFormat, StreamInfo, XdfValues, XdfWriter};

/// The most channels (XDF) or signals (EDF/BDF) a recording may declare.
pub const MAX_CHANNELS: usize = 100_000;

/// An EEG recording with its optional paired speech and markers.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    /// The file the recording was loaded from (or is meant to be written to).
    pub path: PathBuf,
    /// The EEG signal.
    pub eeg: SignalStream,
    /// Paired speech: an XDF stream of type "Audio", or `REC.wav` next to `REC.xdf`.
    pub audio: Option<AudioTrack>,
    /// Event markers, in file order.
    pub markers: Vec<Marker>,
    /// Names of the streams in the file that hold no samples.
    pub empty_streams: Vec<String>,
    /// Clock resets detected while mapping timestamps (summed over all streams of the file).
    pub clock_resets: usize,
}

/// A multi-channel signal with one timestamp per sample.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalStream {
    /// The stream name.
    pub name: String,
    /// The content type, e.g. "EEG".
    pub stream_type: String,
    /// The source id (may be empty).
    pub source_id: String,
    /// One label per channel (may be empty when the file has none).
    pub channel_labels: Vec<String>,
    /// The nominal sample rate in Hz.
    pub sample_rate: f64,
    /// Values interleaved sample-major: `samples[i * channel_count + c]`.
    pub samples: Vec<f32>,
    /// One timestamp per sample in seconds, clock-offset corrected.
    pub timestamps: Vec<f64>,
    /// The number of channels.
    pub channel_count: usize,
}

impl SignalStream {
    /// Returns the number of samples per channel.
    pub fn len(&self) -> usize {
        self.samples
            .len()
            .checked_div(self.channel_count)
            .unwrap_or(0)
    }

    /// Returns true when the stream holds no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns the duration in seconds: samples divided by the nominal rate.
    pub fn duration_s(&self) -> f64 {
        if self.sample_rate > 0.0 {
            self.len() as f64 / self.sample_rate
        } else {
            match (self.timestamps.first(), self.timestamps.last()) {
                (Some(first), Some(last)) => last - first,
                _ => 0.0,
            }
        }
    }

    /// Returns the values of sample `i`, one per channel.
    ///
    /// Panics when `i >= self.len()`, like slice indexing.
    pub fn sample(&self, i: usize) -> &[f32] {
        &self.samples[i * self.channel_count..(i + 1) * self.channel_count]
    }
}

/// Mono speech audio paired with a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioTrack {
    /// Samples per second.
    pub sample_rate: u32,
    /// Mono samples in [-1, 1].
    pub samples: Vec<f32>,
    /// The time of the first sample, on the same clock as the EEG timestamps.
    pub first_timestamp: f64,
}

/// An event marker.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// When the event happened, on the same clock as the EEG timestamps.
    pub timestamp: f64,
    /// The marker text.
    pub text: String,
}

/// Loads the recording at `path`, choosing the reader from the file's first bytes.
///
/// XDF files start with `XDF:`, EDF files with `0` and seven spaces, BDF
/// files with byte 0xFF followed by `BIOSEMI`. Audio comes from an XDF
/// stream of type "Audio" or else from a WAV file with the same stem.
pub fn load(path: &Path) -> Result<Recording, RecordingError> {
    let bytes = std::fs::read(path).map_err(|source| RecordingError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    let mut recording = parse(&bytes, path)?;
    if recording.audio.is_none() {
        let wav = path.with_extension("wav");
        if wav != path && wav.is_file() {
            let first = recording.eeg.timestamps.first().copied().unwrap_or(0.0);
            recording.audio = Some(audio::read_wav(&wav, first)?);
        }
    }
    Ok(recording)
}

/// Parses the bytes of a recording (XDF, EDF+ or BDF+, chosen from the first bytes);
/// `path` only names the file in errors. Unlike [`load`], no WAV file is paired.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Recording, RecordingError> {
    let recording = if bytes.starts_with(b"XDF:") {
        from_xdf(path, xdf::parse_xdf(bytes, path)?)?
    } else if bytes.starts_with(b"0       ") || bytes.starts_with(b"\xFFBIOSEMI") {
        let content = edf::parse_edf(bytes, path, bytes.first() == Some(&0xFF))?;
        Recording {
            path: path.to_path_buf(),
            eeg: content.eeg,
            audio: None,
            markers: content.markers,
            empty_streams: Vec::new(),
            clock_resets: 0,
        }
    } else {
        return Err(RecordingError::NotARecording {
            path: path.to_path_buf(),
            found: format!("a file starting with {}", describe_bytes(bytes)),
        });
    };
    if recording.eeg.is_empty() {
        return Err(RecordingError::EmptySignal {
            path: path.to_path_buf(),
            stream: recording.eeg.name,
        });
    }
    Ok(recording)
}

/// Builds a recording from a parsed XDF file.
fn from_xdf(path: &Path, file: XdfFile) -> Result<Recording, RecordingError> {
    let eeg_index = select_signal(&file.streams).ok_or_else(|| RecordingError::NoSignalStream {
        path: path.to_path_buf(),
        streams: if file.streams.is_empty() {
            "no streams at all".into()
        } else {
            file.streams
                .iter()
                .map(XdfStream::describe)
                .collect::<Vec<_>>()
                .join(", ")
        },
    })?;
    let source = &file.streams[eeg_index];
    let values: &[f64] = match &source.values {
        XdfValues::Numeric(values) => values,
        // select_signal only picks numeric streams.
        XdfValues::Strings(_) => &[],
    };
    let eeg = SignalStream {
        name: source.name.clone(),
        stream_type: source.stream_type.clone(),
        source_id: source.source_id.clone(),
        channel_labels: source.channel_labels.clone(),
        sample_rate: source.nominal_srate,
        samples: values.iter().map(|&v| v as f32).collect(),
        timestamps: source.timestamps.clone(),
        channel_count: source.channel_count,
    };
    let audio = match file.streams.iter().find(|s| is_audio(s) && !s.is_empty()) {
        Some(stream) => Some(audio::from_xdf_stream(path, stream)?),
        None => None,
    };
    let markers = file
        .streams
        .iter()
        .filter(|s| s.channel_format == ChannelFormat::String)
        .flat_map(|s| match &s.values {
            XdfValues::Strings(texts) => texts
                .chunks(s.channel_count)
                .zip(&s.timestamps)
                .map(|(text, &timestamp)| Marker {
                    timestamp,
                    text: text.join(" "),
                })
                .collect::<Vec<_>>(),
            XdfValues::Numeric(_) => Vec::new(),
        })
        .collect();
    Ok(Recording {
        path: path.to_path_buf(),
        eeg,
        audio,
        markers,
        empty_streams: file.empty_stream_names(),
        clock_resets: file.clock_resets(),
    })
}

fn is_audio(stream: &XdfStream) -> bool {
    stream.stream_type.eq_ignore_ascii_case("audio")
        && stream.channel_format != ChannelFormat::String
}

/// Picks the EEG stream: type "EEG" with the most channels, else the
/// regular numeric non-audio stream with the most channels. Among equals a
/// stream with samples wins over an empty one, then the earlier one.
fn select_signal(streams: &[XdfStream]) -> Option<usize> {
    let best = |keep: &dyn Fn(&XdfStream) -> bool| {
        streams
            .iter()
            .enumerate()
            .filter(|(_, s)| s.channel_format != ChannelFormat::String && keep(s))
            .max_by_key(|(i, s)| (s.channel_count, !s.is_empty(), std::cmp::Reverse(*i)))
            .map(|(i, _)| i)
    };
    best(&|s| s.stream_type.eq_ignore_ascii_case("eeg"))
        .or_else(|| best(&|s| s.nominal_srate > 0.0 && !is_audio(s)))
}

/// Describes the first bytes of a file for error messages, with a guess at its type.
pub(crate) fn describe_bytes(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "nothing (the file is empty)".into();
    }
    let shown: String = bytes
        .iter()
        .take(8)
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                (b as char).to_string()
            } else {
                format!("\\x{b:02X}")
            }
        })
        .collect();
    let guess = [
        (&b"RIFF"[..], "a WAV file"),
        (b"fLaC", "a FLAC file"),
        (b"OggS", "an Ogg file"),
        (b"ID3", "an MP3 file"),
        (b"\x89PNG", "a PNG image"),
        (b"PK\x03\x04", "a ZIP archive"),
        (b"\x1F\x8B", "a gzip archive"),
        (b"%PDF", "a PDF document"),
        (b"\x93NUMPY", "a NumPy array"),
        (b"\x89HDF", "an HDF5/MAT file"),
        (b"MATLAB", "a MATLAB file"),
        (b"{", "a JSON document"),
        (b"<?xml", "an XML document"),
    ]
    .iter()
    .find(|(magic, _)| bytes.starts_with(magic))
    .map(|(_, name)| format!(" (looks like {name})"))
    .unwrap_or_default();
    format!("bytes '{shown}'{guess}")
}

/// Writes `rec` as an XDF file at `path`, atomically.
///
/// EEG goes to a float32 stream of type "EEG" with channel labels, audio to
/// a 1-channel float32 stream of type "Audio", markers to a string stream of
/// type "Markers". The file is written to a temporary file in the same
/// directory and renamed onto `path`, so a crash never leaves a partial file.
pub fn write_xdf(path: &Path, rec: &Recording) -> Result<(), RecordingError> {
    let eeg = &rec.eeg;
    let invalid = |detail: String| RecordingError::InvalidRecording {
        path: path.to_path_buf(),
        detail,
    };
    if eeg.channel_count == 0 || eeg.samples.len() != eeg.timestamps.len() * eeg.channel_count {
        return Err(invalid(format!(
            "expected {} EEG values ({} timestamps x {} channels) with at least one channel, found {}; \
             keep samples, timestamps and channel_count consistent",
            eeg.timestamps.len() * eeg.channel_count,
            eeg.timestamps.len(),
            eeg.channel_count,
            eeg.samples.len()
        )));
    }
    if !eeg.channel_labels.is_empty() && eeg.channel_labels.len() != eeg.channel_count {
        return Err(invalid(format!(
            "expected {} channel labels (or none), found {}",
            eeg.channel_count,
            eeg.channel_labels.len()
        )));
    }
    if rec.audio.as_ref().is_some_and(|a| a.sample_rate == 0) {
        return Err(invalid(
            "expected an audio sample rate above 0 Hz, found 0; set AudioTrack::sample_rate".into(),
        ));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| invalid("expected a file path, found a path without a file name".into()))?;
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| RecordingError::Io {
            action,
            path,
            source,
        }
    };
    let result = (|| {
        let file = std::fs::File::create(&temp).map_err(io("create", &temp))?;
        let mut out = std::io::BufWriter::new(file);
        write_streams(&mut out, rec).map_err(io("write", &temp))?;
        let file = out
            .into_inner()
            .map_err(|e| io("write", &temp)(e.into_error()))?;
        file.sync_all().map_err(io("flush", &temp))?;
        std::fs::rename(&temp, path).map_err(io("rename a temporary file onto", path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// How often, in seconds of stream time, a written stream carries a
/// ClockOffset chunk, as LabRecorder writes them.
const CLOCK_OFFSET_EVERY_S: f64 = 5.0;

/// ClockOffset chunks for stream `id` over the span of its `stamps` (none
/// when it has no samples): offset 0, since every stream of a recording we
/// write is already on one clock. Readers that synchronize clocks (pyxdf)
/// then find the measurements they expect.
fn zero_clock_offsets<W: Write>(
    writer: &mut XdfWriter<W>,
    id: u32,
    stamps: &[f64],
) -> std::io::Result<()> {
    let (Some(&first), Some(&last)) = (stamps.first(), stamps.last()) else {
        return Ok(());
    };
    let mut t = first;
    while t < last {
        writer.clock_offset(id, t, 0.0)?;
        t += CLOCK_OFFSET_EVERY_S;
    }
    writer.clock_offset(id, last, 0.0)
}

/// Writes the chunks of every stream of `rec`.
fn write_streams<W: Write>(out: W, rec: &Recording) -> std::io::Result<()> {
    const CHUNK: usize = 1024;
    let mut writer = XdfWriter::new(out)?;
    let eeg = &rec.eeg;
    let eeg_info = StreamInfo {
        name: eeg.name.clone(),
        stream_type: "EEG".into(),
        source_id: eeg.source_id.clone(),
        channel_count: eeg.channel_count,
        channel_format: ChannelFormat::Float32,
        nominal_srate: eeg.sample_rate,
        channel_labels: eeg.channel_labels.clone(),
    };
    writer.stream_header(1, &eeg_info)?;
    let audio_info = rec.audio.as_ref().map(|a| StreamInfo {
        name: format!("{} audio", eeg.name),
        stream_type: "Audio".into(),
        source_id: String::new(),
        channel_count: 1,
        channel_format: ChannelFormat::Float32,
        nominal_srate: f64::from(a.sample_rate),
        channel_labels: vec!["audio".into()],
    });
    let marker_info = StreamInfo {
        name: format!("{} markers", eeg.name),
        stream_type: "Markers".into(),
        source_id: String::new(),
        channel_count: 1,
        channel_format: ChannelFormat::String,
        nominal_srate: 0.0,
        channel_labels: Vec::new(),
    };
    if let Some(info) = &audio_info {
        writer.stream_header(2, info)?;
    }
    if !rec.markers.is_empty() {
        writer.stream_header(3, &marker_info)?;
    }
    let channels = eeg.channel_count;
    for (t, v) in eeg
        .timestamps
        .chunks(CHUNK)
        .zip(eeg.samples.chunks(CHUNK * channels))
    {
        writer.numeric_samples(1, &eeg_info, t, v)?;
    }
    zero_clock_offsets(&mut writer, 1, &eeg.timestamps)?;
    writer.stream_footer(1, &eeg.timestamps)?;
    if let (Some(audio), Some(info)) = (&rec.audio, &audio_info) {
        let step = 1.0 / f64::from(audio.sample_rate);
        let mut stamps = Vec::with_capacity(audio.samples.len());
        let mut t = audio.first_timestamp;
        for _ in 0..audio.samples.len() {
            stamps.push(t);
            t += step;
        }
        for (t, v) in stamps
            .chunks(CHUNK * 16)
            .zip(audio.samples.chunks(CHUNK * 16))
        {
            writer.numeric_samples(2, info, t, v)?;
        }
        zero_clock_offsets(&mut writer, 2, &stamps)?;
        writer.stream_footer(2, &stamps)?;
    }
    let stamps: Vec<f64> = rec.markers.iter().map(|m| m.timestamp).collect();
    let texts: Vec<String> = rec.markers.iter().map(|m| m.text.clone()).collect();
    if !stamps.is_empty() {
        writer.string_samples(3, &marker_info, &stamps, &texts)?;
        zero_clock_offsets(&mut writer, 3, &stamps)?;
        writer.stream_footer(3, &stamps)?;
    }
    writer.into_inner().flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_bytes_guesses_common_formats() {
        assert_eq!(
            describe_bytes(b"RIFF\x24\x00\x00\x00WAVE"),
            "bytes 'RIFF$\\x00\\x00\\x00' (looks like a WAV file)"
        );
        assert_eq!(describe_bytes(b"ab"), "bytes 'ab'");
        assert!(describe_bytes(b"").contains("empty"));
    }

    #[test]
    fn signal_stream_accessors() {
        let s = SignalStream {
            name: "x".into(),
            stream_type: "EEG".into(),
            source_id: String::new(),
            channel_labels: Vec::new(),
            sample_rate: 2.0,
            samples: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            timestamps: vec![0.0, 0.5, 1.0],
            channel_count: 2,
        };
        assert_eq!(s.len(), 3);
        assert!(!s.is_empty());
        assert_eq!(s.duration_s(), 1.5);
        assert_eq!(s.sample(2), [5.0, 6.0]);
    }

    #[test]
    fn int16_audio_stream_is_scaled_to_unit_range() {
        let stream = XdfStream {
            id: 1,
            name: "mic".into(),
            stream_type: "Audio".into(),
            source_id: String::new(),
            channel_count: 2,
            channel_format: ChannelFormat::Int16,
            nominal_srate: 8000.0,
            channel_labels: Vec::new(),
            values: XdfValues::Numeric(vec![16384.0, 1.0, -32768.0, 1.0]),
            timestamps: vec![3.0, 3.000125],
            clock_offsets: Vec::new(),
            clock_resets: 0,
            header_xml: String::new(),
            footer_xml: None,
        };
        let track = audio::from_xdf_stream(Path::new("a.xdf"), &stream).unwrap();
        assert_eq!(track.sample_rate, 8000);
        assert_eq!(track.samples, [0.5, -1.0]);
        assert_eq!(track.first_timestamp, 3.0);
    }
}
