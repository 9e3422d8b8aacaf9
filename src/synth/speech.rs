//! Speech for the synthetic corpus: sentences rendered by flite with real
//! recorded voices, or WAV recordings the user provides.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Sample rate of all speech in the corpus.
pub const SPEECH_RATE: u32 = 16_000;

/// An utterance: mono 16 kHz samples and what was said.
#[derive(Clone, Debug)]
pub struct Utterance {
    pub text: String,
    pub samples: Vec<f32>,
}

/// Errors while getting speech.
#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    #[error(
        "flite is not installed (needed to render speech for the synthetic corpus); \
         run scripts/setup.sh, or `apt-get install flite`, or pass --speech with 16 kHz WAV files"
    )]
    FliteMissing,
    #[error("flite failed for voice {voice:?}: {message}; check `flite -lv` lists the voice")]
    FliteFailed { voice: String, message: String },
    #[error("{path}: {message}")]
    Wav { path: PathBuf, message: String },
    #[error(
        "{path}: expected 16000 Hz speech, found {found} Hz; resample it first, for example \
         `sox IN.wav -r 16000 OUT.wav`"
    )]
    WrongRate { path: PathBuf, found: u32 },
    #[error(
        "no WAV files found in {0}; pass a directory holding .wav files or the files themselves"
    )]
    NoWavFiles(PathBuf),
}

/// Reads a WAV file as mono f32 at 16 kHz (channels are averaged).
pub fn read_wav(path: &Path) -> Result<Vec<f32>, SpeechError> {
    let wav_err = |message: String| SpeechError::Wav {
        path: path.to_path_buf(),
        message,
    };
    let mut reader = hound::WavReader::open(path)
        .map_err(|e| wav_err(format!("not a readable WAV file: {e}")))?;
    let spec = reader.spec();
    if spec.sample_rate != SPEECH_RATE {
        return Err(SpeechError::WrongRate {
            path: path.to_path_buf(),
            found: spec.sample_rate,
        });
    }
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(|e| wav_err(e.to_string()))?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(|e| wav_err(e.to_string()))?
        }
    };
    let ch = spec.channels.max(1) as usize;
    Ok(interleaved
        .chunks_exact(ch)
        .map(|f| f.iter().sum::<f32>() / ch as f32)
        .collect())
}

/// Loads WAV files given as files or directories (sorted by name).
pub fn load_wavs(inputs: &[PathBuf]) -> Result<Vec<Utterance>, SpeechError> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .map_err(|e| SpeechError::Wav {
                    path: input.clone(),
                    message: e.to_string(),
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("wav")))
                .collect();
            if found.is_empty() {
                return Err(SpeechError::NoWavFiles(input.clone()));
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(input.clone());
        }
    }
    files
        .iter()
        .map(|p| {
            Ok(Utterance {
                text: p
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                samples: read_wav(p)?,
            })
        })
        .collect()
}

/// Renders `text` with flite's `voice` into 16 kHz samples.
pub fn render_flite(text: &str, voice: &str, scratch: &Path) -> Result<Vec<f32>, SpeechError> {
    let out = scratch.join(format!("flite-{voice}-{:016x}.wav", fxhash(text)));
    let status = Command::new("flite")
        .args(["-voice", voice, "-t", text, "-o"])
        .arg(&out)
        .output();
    let output = match status {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SpeechError::FliteMissing);
        }
        Err(e) => {
            return Err(SpeechError::FliteFailed {
                voice: voice.into(),
                message: e.to_string(),
            });
        }
        Ok(o) => o,
    };
    if !output.status.success() || !out.is_file() {
        return Err(SpeechError::FliteFailed {
            voice: voice.into(),
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    let samples = read_wav(&out)?;
    let _ = std::fs::remove_file(&out);
    Ok(samples)
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}
