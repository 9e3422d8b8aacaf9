//! Writing XDF files chunk by chunk.

use std::io::{self, Write};

use super::{
    ChannelFormat, TAG_BOUNDARY, TAG_CLOCK_OFFSET, TAG_FILE_HEADER, TAG_SAMPLES, TAG_STREAM_FOOTER,
    TAG_STREAM_HEADER,
};

/// The 16-byte UUID that marks Boundary chunks (from the XDF specification).
const BOUNDARY_UUID: [u8; 16] = [
    0x43, 0xA5, 0x46, 0xDC, 0xCB, 0xF5, 0x41, 0x0F, 0xB3, 0x0E, 0xD5, 0x46, 0x73, 0x83, 0xCB, 0xE4,
];

/// The header information of a stream to write.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamInfo {
    /// The stream name.
    pub name: String,
    /// The content type, e.g. "EEG", "Audio" or "Markers".
    pub stream_type: String,
    /// The source id (may be empty).
    pub source_id: String,
    /// The number of channels.
    pub channel_count: usize,
    /// The value format of every channel.
    pub channel_format: ChannelFormat,
    /// The nominal rate in Hz; 0 for irregular streams.
    pub nominal_srate: f64,
    /// Channel labels written to `<desc><channels>`; may be empty.
    pub channel_labels: Vec<String>,
}

impl StreamInfo {
    /// Renders the stream header XML.
    pub fn to_xml(&self) -> String {
        let mut xml = String::from("<?xml version=\"1.0\"?><info>");
        push_element(&mut xml, "name", &self.name);
        push_element(&mut xml, "type", &self.stream_type);
        push_element(&mut xml, "channel_count", &self.channel_count.to_string());
        push_element(&mut xml, "nominal_srate", &self.nominal_srate.to_string());
        push_element(&mut xml, "channel_format", self.channel_format.name());
        push_element(&mut xml, "source_id", &self.source_id);
        push_element(&mut xml, "created_at", "0");
        if self.channel_labels.is_empty() {
            xml.push_str("<desc/>");
        } else {
            xml.push_str("<desc><channels>");
            for label in &self.channel_labels {
                xml.push_str("<channel>");
                push_element(&mut xml, "label", label);
                push_element(&mut xml, "type", &self.stream_type);
                xml.push_str("</channel>");
            }
            xml.push_str("</channels></desc>");
        }
        xml.push_str("</info>");
        xml
    }
}

/// Appends `<name>escaped text</name>`.
fn push_element(xml: &mut String, name: &str, text: &str) {
    xml.push('<');
    xml.push_str(name);
    xml.push('>');
    for c in text.chars() {
        match c {
            '&' => xml.push_str("&amp;"),
            '<' => xml.push_str("&lt;"),
            '>' => xml.push_str("&gt;"),
            '"' => xml.push_str("&quot;"),
            '\'' => xml.push_str("&apos;"),
            _ => xml.push(c),
        }
    }
    xml.push_str("</");
    xml.push_str(name);
    xml.push('>');
}

/// Writes an XDF file chunk by chunk to any byte sink.
///
/// The caller is responsible for writing a StreamHeader before the other
/// chunks of a stream, as the format requires.
#[derive(Debug)]
pub struct XdfWriter<W: Write> {
    out: W,
}

impl<W: Write> XdfWriter<W> {
    /// Writes the magic bytes and the FileHeader chunk.
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(b"XDF:")?;
        let mut writer = Self { out };
        let header = b"<?xml version=\"1.0\"?><info><version>1.0</version></info>";
        writer.chunk(TAG_FILE_HEADER, header)?;
        Ok(writer)
    }

    /// Writes one chunk: length bytes, length, tag and content.
    pub fn chunk(&mut self, tag: u16, content: &[u8]) -> io::Result<()> {
        let mut head = Vec::with_capacity(11);
        push_varlen(&mut head, content.len() as u64 + 2);
        head.extend_from_slice(&tag.to_le_bytes());
        self.out.write_all(&head)?;
        self.out.write_all(content)
    }

    /// Writes the StreamHeader chunk of stream `id`.
    pub fn stream_header(&mut self, id: u32, info: &StreamInfo) -> io::Result<()> {
        let mut content = id.to_le_bytes().to_vec();
        content.extend_from_slice(info.to_xml().as_bytes());
        self.chunk(TAG_STREAM_HEADER, &content)
    }

    /// Writes one Samples chunk of numeric values (interleaved, sample-major).
    ///
    /// A timestamp is stored only when it differs from the previous one plus
    /// `1 / nominal_srate` (what a reader deduces), so timestamps round-trip
    /// exactly. Integer formats round and saturate.
    pub fn numeric_samples<T: Copy + Into<f64>>(
        &mut self,
        id: u32,
        info: &StreamInfo,
        timestamps: &[f64],
        values: &[T],
    ) -> io::Result<()> {
        let channels = info.channel_count;
        if channels == 0 || values.len() != timestamps.len() * channels {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "expected {} values for {} samples of {} channels, got {}",
                    timestamps.len() * channels,
                    timestamps.len(),
                    channels,
                    values.len()
                ),
            ));
        }
        let value_size = info.channel_format.value_size().unwrap_or(8);
        let mut content = Vec::with_capacity(16 + timestamps.len() * (9 + channels * value_size));
        content.extend_from_slice(&id.to_le_bytes());
        push_varlen(&mut content, timestamps.len() as u64);
        for (i, (&t, sample)) in timestamps.iter().zip(values.chunks(channels)).enumerate() {
            push_timestamp(
                &mut content,
                t,
                i.checked_sub(1).map(|p| timestamps[p]),
                info,
            );
            for &v in sample {
                push_number(&mut content, v.into(), info.channel_format);
            }
        }
        self.chunk(TAG_SAMPLES, &content)
    }

    /// Writes one Samples chunk of a string stream (one value per channel per sample).
    pub fn string_samples(
        &mut self,
        id: u32,
        info: &StreamInfo,
        timestamps: &[f64],
        values: &[String],
    ) -> io::Result<()> {
        let channels = info.channel_count.max(1);
        let mut content = id.to_le_bytes().to_vec();
        push_varlen(&mut content, timestamps.len() as u64);
        for (i, (&t, sample)) in timestamps.iter().zip(values.chunks(channels)).enumerate() {
            push_timestamp(
                &mut content,
                t,
                i.checked_sub(1).map(|p| timestamps[p]),
                info,
            );
            for v in sample {
                push_varlen(&mut content, v.len() as u64);
                content.extend_from_slice(v.as_bytes());
            }
        }
        self.chunk(TAG_SAMPLES, &content)
    }

    /// Writes a ClockOffset chunk for stream `id`.
    pub fn clock_offset(&mut self, id: u32, collection_time: f64, offset: f64) -> io::Result<()> {
        let mut content = id.to_le_bytes().to_vec();
        content.extend_from_slice(&collection_time.to_le_bytes());
        content.extend_from_slice(&offset.to_le_bytes());
        self.chunk(TAG_CLOCK_OFFSET, &content)
    }

    /// Writes a Boundary chunk.
    pub fn boundary(&mut self) -> io::Result<()> {
        self.chunk(TAG_BOUNDARY, &BOUNDARY_UUID)
    }

    /// Writes the StreamFooter chunk of stream `id`.
    pub fn stream_footer(&mut self, id: u32, timestamps: &[f64]) -> io::Result<()> {
        let first = timestamps.first().copied().unwrap_or(0.0);
        let last = timestamps.last().copied().unwrap_or(0.0);
        let xml = format!(
            "<?xml version=\"1.0\"?><info><first_timestamp>{first}</first_timestamp>\
             <last_timestamp>{last}</last_timestamp><sample_count>{}</sample_count>\
             <clock_offsets/></info>",
            timestamps.len()
        );
        let mut content = id.to_le_bytes().to_vec();
        content.extend_from_slice(xml.as_bytes());
        self.chunk(TAG_STREAM_FOOTER, &content)
    }

    /// Returns the underlying sink.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Appends a variable-length integer with the smallest byte count (1, 4 or 8).
fn push_varlen(out: &mut Vec<u8>, value: u64) {
    if let Ok(v) = u8::try_from(value) {
        out.push(1);
        out.push(v);
    } else if let Ok(v) = u32::try_from(value) {
        out.push(4);
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        out.push(8);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

/// Appends a sample timestamp, or the 0 marker when a reader deduces the same value.
fn push_timestamp(out: &mut Vec<u8>, t: f64, previous: Option<f64>, info: &StreamInfo) {
    let deduced = previous
        .filter(|_| info.nominal_srate > 0.0)
        .map(|p| p + 1.0 / info.nominal_srate);
    if deduced.is_some_and(|d| d.to_bits() == t.to_bits()) {
        out.push(0);
    } else {
        out.push(8);
        out.extend_from_slice(&t.to_le_bytes());
    }
}

/// Appends one value in the stream's format.
fn push_number(out: &mut Vec<u8>, v: f64, format: ChannelFormat) {
    match format {
        ChannelFormat::Float32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
        ChannelFormat::Double64 => out.extend_from_slice(&v.to_le_bytes()),
        ChannelFormat::Int8 => out.extend_from_slice(&(v.round() as i8).to_le_bytes()),
        ChannelFormat::Int16 => out.extend_from_slice(&(v.round() as i16).to_le_bytes()),
        ChannelFormat::Int32 => out.extend_from_slice(&(v.round() as i32).to_le_bytes()),
        ChannelFormat::Int64 => out.extend_from_slice(&(v.round() as i64).to_le_bytes()),
        ChannelFormat::String => {
            let text = v.to_string();
            push_varlen(out, text.len() as u64);
            out.extend_from_slice(text.as_bytes());
        }
    }
}
