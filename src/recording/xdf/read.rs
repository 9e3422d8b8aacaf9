//! Reading XDF files chunk by chunk, defensively: every read is bounds
//! checked and reports the byte offset where the file stops making sense.

use std::collections::HashMap;
use std::path::Path;

use xmltree::Element;

use super::clock::map_timestamps;
use super::{
    ChannelFormat, ClockOffset, TAG_BOUNDARY, TAG_CLOCK_OFFSET, TAG_FILE_HEADER, TAG_SAMPLES,
    TAG_STREAM_FOOTER, TAG_STREAM_HEADER, XdfFile, XdfStream, XdfValues,
};
use crate::recording::{MAX_CHANNELS, RecordingError};

/// Reads and parses the XDF file at `path`.
///
/// Streams without samples are loaded (and reported by
/// [`XdfFile::empty_stream_names`]) rather than rejected.
pub fn read_xdf(path: &Path) -> Result<XdfFile, RecordingError> {
    let bytes = std::fs::read(path).map_err(|source| RecordingError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    parse_xdf(&bytes, path)
}

/// A bounds-checked reader over a byte slice that knows its absolute offset.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    base: usize,
    path: &'a Path,
    /// Whether this reads inside one chunk, whose declared length was present in full:
    /// running out there means the content disagrees with itself, not a cut file.
    inner: bool,
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8], base: usize, path: &'a Path) -> Self {
        Self {
            bytes,
            pos: 0,
            base,
            path,
            inner: false,
        }
    }

    /// A cursor over the content of one chunk starting at absolute offset `base`.
    fn chunk(bytes: &'a [u8], base: usize, path: &'a Path) -> Self {
        Self {
            inner: true,
            ..Self::new(bytes, base, path)
        }
    }

    fn offset(&self) -> u64 {
        (self.base + self.pos) as u64
    }

    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], RecordingError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end.and_then(|e| self.bytes.get(self.pos..e)) {
            Some(slice) => {
                self.pos += n;
                Ok(slice)
            }
            None if self.inner => Err(self.corrupt(
                self.offset(),
                &format!("{what} ({n} bytes) inside the chunk"),
                format!(
                    "the chunk's declared length ends {} byte(s) later",
                    self.remaining()
                ),
            )),
            None => Err(RecordingError::Truncated {
                path: self.path.to_path_buf(),
                offset: self.offset(),
                expected: format!("{what} ({n} bytes)"),
                available: self.remaining() as u64,
            }),
        }
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], RecordingError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8, RecordingError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, RecordingError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &str) -> Result<u32, RecordingError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn f64(&mut self, what: &str) -> Result<f64, RecordingError> {
        Ok(f64::from_le_bytes(self.array(what)?))
    }

    fn corrupt(&self, offset: u64, expected: &str, found: String) -> RecordingError {
        RecordingError::Corrupt {
            path: self.path.to_path_buf(),
            offset,
            expected: expected.to_string(),
            found,
        }
    }

    /// Reads a variable-length integer: a byte count (1, 4 or 8), then the value.
    fn varlen(&mut self, what: &str) -> Result<u64, RecordingError> {
        let at = self.offset();
        match self.u8(what)? {
            1 => Ok(u64::from(self.u8(what)?)),
            4 => Ok(u64::from(self.u32(what)?)),
            8 => Ok(u64::from_le_bytes(self.array(what)?)),
            n => Err(self.corrupt(
                at,
                &format!("a length-byte count of 1, 4 or 8 for {what}"),
                format!("{n}"),
            )),
        }
    }

    /// Reads a variable-length size and checks it fits in memory.
    fn size(&mut self, what: &str) -> Result<usize, RecordingError> {
        let at = self.offset();
        let value = self.varlen(what)?;
        usize::try_from(value).map_err(|_| self.corrupt(at, what, format!("{value}")))
    }
}

/// What a stream accumulates while its chunks are read.
struct StreamState {
    stream: XdfStream,
    raw_timestamps: Vec<f64>,
    offsets_seen: Vec<usize>,
    numeric: Vec<f64>,
    strings: Vec<String>,
}

/// Parses the bytes of an XDF file; `path` only names the file in errors.
pub fn parse_xdf(bytes: &[u8], path: &Path) -> Result<XdfFile, RecordingError> {
    let mut top = Cursor::new(bytes, 0, path);
    let magic = top.take(4.min(bytes.len()), "the magic bytes \"XDF:\"")?;
    if magic != b"XDF:" {
        return Err(RecordingError::NotARecording {
            path: path.to_path_buf(),
            found: format!(
                "a file starting with {}",
                super::super::describe_bytes(bytes)
            ),
        });
    }
    let mut header_xml = String::new();
    let mut order: Vec<u32> = Vec::new();
    let mut states: HashMap<u32, StreamState> = HashMap::new();
    while top.remaining() > 0 {
        let chunk_start = top.offset();
        let length = top.varlen("a chunk length")?;
        let length = usize::try_from(length)
            .ok()
            .filter(|&l| l >= 2)
            .ok_or_else(|| {
                top.corrupt(
                    chunk_start,
                    "a chunk length of at least 2 bytes",
                    format!("{length}"),
                )
            })?;
        let content_start = top.offset() as usize;
        let content = top.take(length, "chunk content (tag and body)")?;
        let mut chunk = Cursor::chunk(content, content_start, path);
        let tag = chunk.u16("a chunk tag")?;
        match tag {
            TAG_FILE_HEADER => header_xml = text(chunk.take(chunk.remaining(), "XML")?),
            TAG_STREAM_HEADER => {
                let id = chunk.u32("a stream id")?;
                let at = chunk.offset();
                let xml = text(chunk.take(chunk.remaining(), "XML")?);
                let stream = parse_stream_header(id, xml, at, &chunk)?;
                if !states.contains_key(&id) {
                    order.push(id);
                }
                states.insert(
                    id,
                    StreamState {
                        stream,
                        raw_timestamps: Vec::new(),
                        offsets_seen: Vec::new(),
                        numeric: Vec::new(),
                        strings: Vec::new(),
                    },
                );
            }
            TAG_SAMPLES => {
                let state = stream_state(&mut chunk, &mut states)?;
                read_samples(&mut chunk, state)?;
            }
            TAG_CLOCK_OFFSET => {
                let state = stream_state(&mut chunk, &mut states)?;
                let collection_time = chunk.f64("a clock offset collection time")?;
                let offset = chunk.f64("a clock offset value")?;
                state.stream.clock_offsets.push(ClockOffset {
                    collection_time,
                    offset,
                });
            }
            TAG_STREAM_FOOTER => {
                let state = stream_state(&mut chunk, &mut states)?;
                state.stream.footer_xml = Some(text(chunk.take(chunk.remaining(), "XML")?));
            }
            // Boundary chunks only help seeking; unknown tags are skipped for
            // forward compatibility.
            TAG_BOUNDARY => {}
            _ => {}
        }
    }
    let streams = order
        .into_iter()
        .filter_map(|id| states.remove(&id))
        .map(finish_stream)
        .collect();
    Ok(XdfFile {
        header_xml,
        streams,
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Reads the stream id of a chunk and finds the stream it refers to.
fn stream_state<'s>(
    chunk: &mut Cursor<'_>,
    states: &'s mut HashMap<u32, StreamState>,
) -> Result<&'s mut StreamState, RecordingError> {
    let at = chunk.offset();
    let id = chunk.u32("a stream id")?;
    let known: Vec<u32> = states.keys().copied().collect();
    states.get_mut(&id).ok_or_else(|| {
        chunk.corrupt(
            at,
            &format!("the id of a stream declared earlier (known ids: {known:?})"),
            format!("stream id {id} without a StreamHeader"),
        )
    })
}

/// Builds an empty stream from its header XML.
fn parse_stream_header(
    id: u32,
    xml: String,
    at: u64,
    chunk: &Cursor<'_>,
) -> Result<XdfStream, RecordingError> {
    // The XML tree is built recursively: a header nested thousands deep would
    // overflow the stack, so the nesting is checked first.
    let depth = xml_depth(&xml);
    if depth > MAX_XML_DEPTH {
        return Err(chunk.corrupt(
            at,
            &format!("stream header XML nested at most {MAX_XML_DEPTH} elements deep"),
            format!("elements nested {depth} deep"),
        ));
    }
    let info = Element::parse(xml.as_bytes())
        .map_err(|e| chunk.corrupt(at, "well-formed stream header XML", format!("{e}")))?;
    let field = |name: &str| -> String {
        info.get_child(name)
            .and_then(|c| c.get_text())
            .map(|t| t.trim().to_string())
            .unwrap_or_default()
    };
    let count_text = field("channel_count");
    let channel_count = count_text.parse::<u64>().ok().filter(|&c| c > 0);
    let channel_count = channel_count.ok_or_else(|| {
        chunk.corrupt(
            at,
            "a positive <channel_count> in the stream header",
            format!("'{count_text}'"),
        )
    })?;
    let channel_count = usize::try_from(channel_count)
        .ok()
        .filter(|&c| c <= MAX_CHANNELS)
        .ok_or_else(|| RecordingError::TooManyChannels {
            path: chunk.path.to_path_buf(),
            stream: field("name"),
            declared: channel_count,
            limit: MAX_CHANNELS,
        })?;
    let format_text = field("channel_format");
    let channel_format = ChannelFormat::parse(&format_text).ok_or_else(|| {
        chunk.corrupt(
            at,
            "a <channel_format> of float32, double64, int8, int16, int32, int64 or string",
            format!("'{format_text}'"),
        )
    })?;
    let srate_text = field("nominal_srate");
    let nominal_srate = if srate_text.is_empty() {
        0.0
    } else {
        srate_text
            .parse::<f64>()
            .ok()
            .filter(|r| r.is_finite() && *r >= 0.0)
            .ok_or_else(|| {
                chunk.corrupt(
                    at,
                    "a non-negative <nominal_srate>",
                    format!("'{srate_text}'"),
                )
            })?
    };
    let channel_labels = info
        .get_child("desc")
        .and_then(|d| d.get_child("channels"))
        .map(|channels| {
            channels
                .children
                .iter()
                .filter_map(|n| n.as_element())
                .filter(|e| e.name == "channel")
                .map(|e| {
                    e.get_child("label")
                        .and_then(|l| l.get_text())
                        .map(|t| t.trim().to_string())
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default();
    let values = if channel_format == ChannelFormat::String {
        XdfValues::Strings(Vec::new())
    } else {
        XdfValues::Numeric(Vec::new())
    };
    Ok(XdfStream {
        id,
        name: field("name"),
        stream_type: field("type"),
        source_id: field("source_id"),
        channel_count,
        channel_format,
        nominal_srate,
        channel_labels,
        values,
        timestamps: Vec::new(),
        clock_offsets: Vec::new(),
        clock_resets: 0,
        header_xml: xml,
        footer_xml: None,
    })
}

/// The deepest element nesting accepted in a stream header (LabRecorder's are 5 deep).
const MAX_XML_DEPTH: usize = 64;

/// The deepest element nesting of `xml`, counted from its tags (start tags open,
/// end tags and `/>` close; declarations, comments and processing instructions do not count).
fn xml_depth(xml: &str) -> usize {
    let bytes = xml.as_bytes();
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'<' {
            match bytes.get(i + 1) {
                Some(b'/') => depth = depth.saturating_sub(1),
                Some(b'?' | b'!') => {}
                _ => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
            }
        } else if bytes[i] == b'>' && i > 0 && bytes[i - 1] == b'/' {
            depth = depth.saturating_sub(1);
        }
        i += 1;
    }
    deepest
}

/// Reads the samples of one Samples chunk into the stream's state.
fn read_samples(chunk: &mut Cursor<'_>, state: &mut StreamState) -> Result<(), RecordingError> {
    let count = chunk.size("a sample count")?;
    let format = state.stream.channel_format;
    let channels = state.stream.channel_count;
    let srate = state.stream.nominal_srate;
    let seen = state.stream.clock_offsets.len();
    // Every sample takes at least its timestamp byte and one value per channel: a
    // count or a channel count the chunk cannot hold is refused before reading.
    let min_value = format.value_size().unwrap_or(2);
    let least = channels
        .checked_mul(min_value)
        .and_then(|v| v.checked_add(1))
        .and_then(|per| per.checked_mul(count));
    if least.is_none_or(|n| n > chunk.remaining()) {
        return Err(chunk.corrupt(
            chunk.offset(),
            &format!(
                "{count} sample(s) of {channels} {} channel(s) (at least {} bytes), as the count and \
                 the stream header's <channel_count> say",
                format.name(),
                least.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string())
            ),
            format!(
                "{} byte(s) left in the chunk of stream {}",
                chunk.remaining(),
                state.stream.id
            ),
        ));
    }
    for _ in 0..count {
        let at = chunk.offset();
        let timestamp = match chunk.u8("a timestamp byte count")? {
            8 => chunk.f64("a sample timestamp")?,
            0 => match state.raw_timestamps.last() {
                Some(&previous) if srate > 0.0 => previous + 1.0 / srate,
                Some(&previous) => previous,
                None => 0.0,
            },
            n => {
                return Err(chunk.corrupt(at, "a timestamp byte count of 0 or 8", format!("{n}")));
            }
        };
        state.raw_timestamps.push(timestamp);
        state.offsets_seen.push(seen);
        for _ in 0..channels {
            match format {
                ChannelFormat::String => {
                    let len = chunk.size("a string length")?;
                    let value = text(chunk.take(len, "string value")?);
                    state.strings.push(value);
                }
                _ => state.numeric.push(read_number(chunk, format)?),
            }
        }
    }
    Ok(())
}

/// Reads one little-endian numeric value.
fn read_number(chunk: &mut Cursor<'_>, format: ChannelFormat) -> Result<f64, RecordingError> {
    const WHAT: &str = "a sample value";
    Ok(match format {
        ChannelFormat::Float32 => f64::from(f32::from_le_bytes(chunk.array(WHAT)?)),
        ChannelFormat::Double64 => f64::from_le_bytes(chunk.array(WHAT)?),
        ChannelFormat::Int8 => f64::from(i8::from_le_bytes(chunk.array(WHAT)?)),
        ChannelFormat::Int16 => f64::from(i16::from_le_bytes(chunk.array(WHAT)?)),
        ChannelFormat::Int32 => f64::from(i32::from_le_bytes(chunk.array(WHAT)?)),
        ChannelFormat::Int64 => i64::from_le_bytes(chunk.array(WHAT)?) as f64,
        ChannelFormat::String => 0.0,
    })
}

/// Applies the clock correction and moves the accumulated data into the stream.
fn finish_stream(state: StreamState) -> XdfStream {
    let mut stream = state.stream;
    let mapping = map_timestamps(
        &state.raw_timestamps,
        &state.offsets_seen,
        &stream.clock_offsets,
    );
    stream.timestamps = mapping.timestamps;
    stream.clock_resets = mapping.resets;
    stream.values = if stream.channel_format == ChannelFormat::String {
        XdfValues::Strings(state.strings)
    } else {
        XdfValues::Numeric(state.numeric)
    };
    stream
}
