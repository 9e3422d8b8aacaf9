//! Chunk-level XDF reading and writing.
//!
//! XDF (Extensible Data Format) files start with the magic bytes `XDF:` and
//! continue with chunks: a length-byte count (1, 4 or 8), the chunk length,
//! a 16-bit tag and the content. [`read_xdf`] loads every stream, including
//! empty ones, and maps timestamps through the ClockOffset measurements;
//! [`XdfWriter`] writes chunks one at a time.

mod clock;
mod read;
mod write;

pub use clock::{ClockMapping, map_timestamps};
pub use read::{parse_xdf, read_xdf};
pub use write::{StreamInfo, XdfWriter};

/// The tag of the FileHeader chunk.
pub const TAG_FILE_HEADER: u16 = 1;
/// The tag of a StreamHeader chunk.
pub const TAG_STREAM_HEADER: u16 = 2;
/// The tag of a Samples chunk.
pub const TAG_SAMPLES: u16 = 3;
/// The tag of a ClockOffset chunk.
pub const TAG_CLOCK_OFFSET: u16 = 4;
/// The tag of a Boundary chunk.
pub const TAG_BOUNDARY: u16 = 5;
/// The tag of a StreamFooter chunk.
pub const TAG_STREAM_FOOTER: u16 = 6;

/// The value format of every channel of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelFormat {
    /// 32-bit IEEE float.
    Float32,
    /// 64-bit IEEE float.
    Double64,
    /// Signed 8-bit integer.
    Int8,
    /// Signed 16-bit integer.
    Int16,
    /// Signed 32-bit integer.
    Int32,
    /// Signed 64-bit integer.
    Int64,
    /// Variable-length UTF-8 string.
    String,
}

impl ChannelFormat {
    /// Parses the `channel_format` text of a stream header.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "float32" => Some(Self::Float32),
            "double64" => Some(Self::Double64),
            "int8" => Some(Self::Int8),
            "int16" => Some(Self::Int16),
            "int32" => Some(Self::Int32),
            "int64" => Some(Self::Int64),
            "string" => Some(Self::String),
            _ => None,
        }
    }

    /// Returns the name used in stream headers.
    pub fn name(self) -> &'static str {
        match self {
            Self::Float32 => "float32",
            Self::Double64 => "double64",
            Self::Int8 => "int8",
            Self::Int16 => "int16",
            Self::Int32 => "int32",
            Self::Int64 => "int64",
            Self::String => "string",
        }
    }

    /// Returns the size of one value in bytes, or `None` for strings.
    pub fn value_size(self) -> Option<usize> {
        match self {
            Self::Int8 => Some(1),
            Self::Int16 => Some(2),
            Self::Float32 | Self::Int32 => Some(4),
            Self::Double64 | Self::Int64 => Some(8),
            Self::String => None,
        }
    }

    /// Returns the full-scale value of an integer format (for audio scaling to [-1, 1]).
    pub fn full_scale(self) -> f64 {
        match self {
            Self::Int8 => 128.0,
            Self::Int16 => 32_768.0,
            Self::Int32 => 2_147_483_648.0,
            Self::Int64 => 9_223_372_036_854_775_808.0,
            Self::Float32 | Self::Double64 | Self::String => 1.0,
        }
    }
}

/// The sample values of one stream, interleaved sample-major.
#[derive(Debug, Clone, PartialEq)]
pub enum XdfValues {
    /// Numeric values of any numeric format, widened to `f64`.
    Numeric(Vec<f64>),
    /// String values.
    Strings(Vec<String>),
}

/// One clock offset measurement of a stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockOffset {
    /// When the measurement was taken (stream's clock), seconds.
    pub collection_time: f64,
    /// The offset to add to the stream's clock to reach the recorder's clock, seconds.
    pub offset: f64,
}

/// One stream of an XDF file with its header information and data.
#[derive(Debug, Clone, PartialEq)]
pub struct XdfStream {
    /// The stream id used in the chunks.
    pub id: u32,
    /// The stream name (`<name>`).
    pub name: String,
    /// The content type (`<type>`), e.g. "EEG".
    pub stream_type: String,
    /// The source id (`<source_id>`), empty when absent.
    pub source_id: String,
    /// The number of channels.
    pub channel_count: usize,
    /// The value format of every channel.
    pub channel_format: ChannelFormat,
    /// The nominal sample rate in Hz; 0 for irregular streams.
    pub nominal_srate: f64,
    /// Channel labels from `<desc><channels><channel><label>`, empty when absent.
    pub channel_labels: Vec<String>,
    /// The sample values, interleaved sample-major.
    pub values: XdfValues,
    /// One timestamp per sample, seconds, after clock offset correction.
    pub timestamps: Vec<f64>,
    /// The clock offset measurements of the stream, in file order.
    pub clock_offsets: Vec<ClockOffset>,
    /// The number of clock resets detected in the clock offsets.
    pub clock_resets: usize,
    /// The stream header XML as found in the file.
    pub header_xml: String,
    /// The stream footer XML, if the file has one.
    pub footer_xml: Option<String>,
}

impl XdfStream {
    /// Returns the number of samples (per channel).
    pub fn sample_count(&self) -> usize {
        self.timestamps.len()
    }

    /// Returns true when the stream holds no samples.
    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    /// Returns a one-line description such as `"EEG1" (type EEG, 8 ch float32, 512 Hz, 100 samples)`.
    pub fn describe(&self) -> String {
        format!(
            "\"{}\" (type {}, {} ch {}, {} Hz, {} samples)",
            self.name,
            if self.stream_type.is_empty() {
                "<none>"
            } else {
                &self.stream_type
            },
            self.channel_count,
            self.channel_format.name(),
            self.nominal_srate,
            self.sample_count()
        )
    }
}

/// The content of an XDF file.
#[derive(Debug, Clone, PartialEq)]
pub struct XdfFile {
    /// The FileHeader XML.
    pub header_xml: String,
    /// Every stream in the order of its StreamHeader chunk, including empty ones.
    pub streams: Vec<XdfStream>,
}

impl XdfFile {
    /// Returns the names of the streams that hold no samples.
    pub fn empty_stream_names(&self) -> Vec<String> {
        self.streams
            .iter()
            .filter(|s| s.is_empty())
            .map(|s| s.name.clone())
            .collect()
    }

    /// Returns the total number of clock resets over all streams.
    pub fn clock_resets(&self) -> usize {
        self.streams.iter().map(|s| s.clock_resets).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn info(format: ChannelFormat, channels: usize, rate: f64) -> StreamInfo {
        StreamInfo {
            name: "s".into(),
            stream_type: "EEG".into(),
            source_id: String::new(),
            channel_count: channels,
            channel_format: format,
            nominal_srate: rate,
            channel_labels: (0..channels).map(|c| format!("c{c}")).collect(),
        }
    }

    #[test]
    fn every_numeric_format_round_trips() {
        let formats = [
            ChannelFormat::Float32,
            ChannelFormat::Double64,
            ChannelFormat::Int8,
            ChannelFormat::Int16,
            ChannelFormat::Int32,
            ChannelFormat::Int64,
        ];
        let mut w = XdfWriter::new(Vec::new()).unwrap();
        for (id, &format) in formats.iter().enumerate() {
            let i = info(format, 2, 100.0);
            w.stream_header(id as u32, &i).unwrap();
            w.numeric_samples(
                id as u32,
                &i,
                &[1.0, 1.01, 7.0],
                &[1.0, -2.0, 3.0, -4.0, 5.0, 127.0],
            )
            .unwrap();
        }
        let file = parse_xdf(&w.into_inner(), Path::new("mem.xdf")).unwrap();
        for (stream, &format) in file.streams.iter().zip(&formats) {
            assert_eq!(stream.channel_format, format);
            assert_eq!(stream.channel_labels, ["c0", "c1"]);
            assert_eq!(
                stream.values,
                XdfValues::Numeric(vec![1.0, -2.0, 3.0, -4.0, 5.0, 127.0])
            );
            assert_eq!(stream.timestamps, [1.0, 1.0 + 1.0 / 100.0, 7.0]);
        }
    }

    #[test]
    fn deduced_timestamps_are_not_stored() {
        let i = info(ChannelFormat::Int8, 1, 4.0);
        let mut w = XdfWriter::new(Vec::new()).unwrap();
        let stamps = [0.0, 0.25, 0.5, 0.75];
        w.numeric_samples(0, &i, &stamps, &[1.0f32; 4]).unwrap();
        let bytes = w.into_inner();
        // Only the first of the four samples carries 8 timestamp bytes: the
        // content is id (4) + count (2) + 10 + 3 * 2 = 22 bytes, plus the tag.
        let n = bytes.len();
        assert_eq!(bytes[n - 26..n - 22], [1, 24, 3, 0]);
    }

    #[test]
    fn long_strings_use_wider_lengths() {
        let mut i = info(ChannelFormat::String, 1, 0.0);
        i.stream_type = "Markers".into();
        let long = "x".repeat(300);
        let mut w = XdfWriter::new(Vec::new()).unwrap();
        w.stream_header(5, &i).unwrap();
        w.string_samples(5, &i, &[2.0, 1.0], &[long.clone(), "é".into()])
            .unwrap();
        let file = parse_xdf(&w.into_inner(), Path::new("mem.xdf")).unwrap();
        assert_eq!(
            file.streams[0].values,
            XdfValues::Strings(vec![long, "é".into()])
        );
        assert_eq!(file.streams[0].timestamps, [2.0, 1.0]);
    }

    #[test]
    fn escaped_header_fields_round_trip() {
        let mut i = info(ChannelFormat::Float32, 1, 0.5);
        i.name = "a<b>&\"c'".into();
        let mut w = XdfWriter::new(Vec::new()).unwrap();
        w.stream_header(1, &i).unwrap();
        let file = parse_xdf(&w.into_inner(), Path::new("mem.xdf")).unwrap();
        assert_eq!(file.streams[0].name, "a<b>&\"c'");
        assert_eq!(file.streams[0].nominal_srate, 0.5);
        assert_eq!(file.empty_stream_names(), ["a<b>&\"c'"]);
    }
}
