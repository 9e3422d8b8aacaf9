//! Errors returned while reading or writing recordings.

use std::path::PathBuf;

/// Everything that can go wrong while loading or writing a recording.
///
/// Each variant carries enough context for the message to say what was
/// expected, what was found and what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The file could not be opened, read, written or renamed.
    #[error("could not {action} '{path}': {source}; check that the path exists and is accessible")]
    Io {
        /// What we were doing, e.g. "read" or "rename temporary file onto".
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying operating-system error.
        #[source]
        source: std::io::Error,
    },

    /// The file is not a format we can read (decided from its first bytes).
    #[error(
        "'{path}' is not a recording: expected an XDF, EDF+ or BDF+ file, found {found}; \
         pass a recording made by LabRecorder or an EDF/BDF export"
    )]
    NotARecording {
        /// The file involved.
        path: PathBuf,
        /// A description of the first bytes and what they look like.
        found: String,
    },

    /// The file ends in the middle of a structure.
    #[error(
        "'{path}' is truncated: at byte offset {offset} expected {expected}, \
         but only {available} byte(s) remain; the file was probably cut short \
         (crashed recorder or incomplete copy), re-export or re-copy it"
    )]
    Truncated {
        /// The file involved.
        path: PathBuf,
        /// Byte offset where the missing data should start.
        offset: u64,
        /// What was being read there.
        expected: String,
        /// Bytes left in the file from `offset`.
        available: u64,
    },

    /// The file has the right magic bytes but a structure is invalid.
    #[error(
        "'{path}' is corrupt at byte offset {offset}: expected {expected}, found {found}; \
         the file is damaged or was written by a non-conforming tool"
    )]
    Corrupt {
        /// The file involved.
        path: PathBuf,
        /// Byte offset of the offending structure.
        offset: u64,
        /// What a valid file holds there.
        expected: String,
        /// What this file holds there.
        found: String,
    },

    /// A stream header (or EDF/BDF header) declares more channels than any recording has.
    #[error(
        "'{path}': stream \"{stream}\" declares {declared} channels, but at most {limit} are supported \
         (the largest EEG and ECoG systems have a few thousand); the header is damaged or the file is \
         not an EEG recording: re-export it from the recorder"
    )]
    TooManyChannels {
        /// The file involved.
        path: PathBuf,
        /// The stream's name (or the file's, for EDF/BDF).
        stream: String,
        /// The number of channels the header declares.
        declared: u64,
        /// The largest number accepted.
        limit: usize,
    },

    /// No stream in the file can serve as the EEG signal.
    #[error(
        "'{path}' holds no EEG signal: expected a stream of type \"EEG\" or a numeric stream \
         with a nominal rate above 0, found {streams}; record the EEG amplifier's LSL stream"
    )]
    NoSignalStream {
        /// The file involved.
        path: PathBuf,
        /// A description of every stream in the file.
        streams: String,
    },

    /// The selected EEG stream holds no samples.
    #[error(
        "'{path}': EEG stream \"{stream}\" holds no samples; expected at least one, \
         check that the amplifier was streaming while recording"
    )]
    EmptySignal {
        /// The file involved.
        path: PathBuf,
        /// The name of the empty stream.
        stream: String,
    },

    /// EDF/BDF signals do not share one sample rate.
    #[error(
        "'{path}': expected all signals to share one sample rate, found {details}; \
         export the EDF/BDF with a common sample rate (resample first)"
    )]
    MixedSampleRates {
        /// The file involved.
        path: PathBuf,
        /// Which signals have which rates.
        details: String,
    },

    /// The paired audio (XDF stream or WAV file) could not be used.
    #[error("'{path}': unusable audio: {detail}")]
    Audio {
        /// The file holding the audio.
        path: PathBuf,
        /// What is wrong and what to do.
        detail: String,
    },

    /// A recording passed to the writer is internally inconsistent.
    #[error("cannot write '{path}': {detail}")]
    InvalidRecording {
        /// The destination file.
        path: PathBuf,
        /// What is inconsistent and how to fix it.
        detail: String,
    },
}
