//! Paired speech audio: from an XDF "Audio" stream or a WAV file.

use std::path::Path;

use super::xdf::{XdfStream, XdfValues};
use super::{AudioTrack, RecordingError};

/// Converts an XDF audio stream (first channel) to a mono track in [-1, 1].
///
/// Integer formats are divided by their full scale; float formats are kept.
pub(crate) fn from_xdf_stream(
    path: &Path,
    stream: &XdfStream,
) -> Result<AudioTrack, RecordingError> {
    let rate = stream.nominal_srate.round();
    if !(rate >= 1.0 && rate <= f64::from(u32::MAX)) {
        return Err(RecordingError::Audio {
            path: path.to_path_buf(),
            detail: format!(
                "expected the Audio stream \"{}\" to have a nominal rate of at least 1 Hz, found {}; \
                 record audio through an LSL outlet with a fixed sample rate",
                stream.name, stream.nominal_srate
            ),
        });
    }
    let XdfValues::Numeric(values) = &stream.values else {
        return Err(RecordingError::Audio {
            path: path.to_path_buf(),
            detail: format!(
                "expected numeric audio in stream \"{}\", found strings",
                stream.name
            ),
        });
    };
    let scale = stream.channel_format.full_scale();
    Ok(AudioTrack {
        sample_rate: rate as u32,
        samples: values
            .iter()
            .step_by(stream.channel_count.max(1))
            .map(|&v| (v / scale) as f32)
            .collect(),
        first_timestamp: stream.timestamps.first().copied().unwrap_or(0.0),
    })
}

/// Reads the first channel of a WAV file as a mono track starting at `first_timestamp`.
pub(crate) fn read_wav(path: &Path, first_timestamp: f64) -> Result<AudioTrack, RecordingError> {
    let error = |e: hound::Error| RecordingError::Audio {
        path: path.to_path_buf(),
        detail: format!(
            "expected a readable PCM or float WAV file, found: {e}; re-export the speech as 16-bit PCM WAV"
        ),
    };
    let reader = hound::WavReader::open(path).map_err(error)?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .into_samples::<f32>()
            .step_by(channels)
            .collect::<Result<_, _>>()
            .map_err(error)?,
        hound::SampleFormat::Int => {
            let scale = 2f64.powi(i32::from(spec.bits_per_sample.clamp(1, 32)) - 1);
            reader
                .into_samples::<i32>()
                .step_by(channels)
                .map(|s| s.map(|v| (f64::from(v) / scale) as f32))
                .collect::<Result<_, _>>()
                .map_err(error)?
        }
    };
    Ok(AudioTrack {
        sample_rate: spec.sample_rate,
        samples,
        first_timestamp,
    })
}
