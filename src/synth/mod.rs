//! Paired synthetic neural + speech recordings (`neurospeak synth`).
//!
//! No public paired neural and speech data can be downloaded here, so the
//! project makes its own: real speech (flite's recorded voices rendering the
//! project's [`sentences`], or the user's WAV files) drives a documented
//! [`forward`] model of sEEG/ECoG. Everything is deterministic from the seed.

pub mod forward;
pub mod sentences;
pub mod speech;

use crate::mel::{MelConfig, log_mel_spectrogram};
use crate::recording::{AudioTrack, Marker, Recording, SignalStream, write_xdf};
use forward::{ForwardConfig, Participant};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use speech::{SPEECH_RATE, Utterance};
use std::path::{Path, PathBuf};

/// Settings of a corpus.
#[derive(Clone, Debug)]
pub struct CorpusConfig {
    /// Seed of the participant and of every recording's noise.
    pub seed: u64,
    /// How many recordings to write.
    pub recordings: usize,
    /// Index of the first recording (recording `i` is the same whatever the
    /// count, so a held-out recording can be made later by its index).
    pub first_index: usize,
    /// Utterances per recording.
    pub utterances_per_recording: usize,
    /// flite voices to use when no speech files are given.
    pub voices: Vec<String>,
    /// WAV files or directories of real speech; empty means render with flite.
    pub speech: Vec<PathBuf>,
    pub forward: ForwardConfig,
}

impl Default for CorpusConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            recordings: 12,
            first_index: 0,
            utterances_per_recording: 8,
            voices: vec!["slt".into(), "awb".into(), "rms".into()],
            speech: Vec::new(),
            forward: ForwardConfig::default(),
        }
    }
}

/// Errors while making a corpus.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error(transparent)]
    Speech(#[from] speech::SpeechError),
    #[error(transparent)]
    Recording(#[from] crate::recording::RecordingError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("nothing to make: {0}")]
    Empty(String),
}

/// Where speech comes from: a fixed pool of utterances, or flite on demand.
enum SpeechPool {
    Files(Vec<Utterance>),
    Flite {
        voices: Vec<String>,
        scratch: PathBuf,
    },
}

impl SpeechPool {
    fn pick(&self, rng: &mut ChaCha8Rng) -> Result<Utterance, SynthError> {
        match self {
            SpeechPool::Files(pool) => Ok(pool[rng.random_range(0..pool.len())].clone()),
            SpeechPool::Flite { voices, scratch } => {
                let text = sentences::SENTENCES[rng.random_range(0..sentences::SENTENCES.len())];
                let voice = &voices[rng.random_range(0..voices.len())];
                Ok(Utterance {
                    text: format!("{text} [{voice}]"),
                    samples: speech::render_flite(text, voice, scratch)?,
                })
            }
        }
    }
}

/// The mel analysis used for the forward model and for training targets.
pub fn mel_config() -> MelConfig {
    MelConfig::default()
}

/// Writes `cfg.recordings` XDF files (`rec_NNN.xdf`) and `participant.json`
/// into `out`, calling `progress` after each. Returns the files written.
pub fn generate(
    cfg: &CorpusConfig,
    out: &Path,
    progress: &mut dyn FnMut(usize, &Path),
) -> Result<Vec<PathBuf>, SynthError> {
    if cfg.recordings == 0 || cfg.utterances_per_recording == 0 {
        return Err(SynthError::Empty(
            "--recordings and --utterances must be at least 1".into(),
        ));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SynthError::Io { path, source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let pool = if cfg.speech.is_empty() {
        if cfg.voices.is_empty() {
            return Err(SynthError::Empty("no flite voices given".into()));
        }
        SpeechPool::Flite {
            voices: cfg.voices.clone(),
            scratch: out.to_path_buf(),
        }
    } else {
        SpeechPool::Files(speech::load_wavs(&cfg.speech)?)
    };
    let mel = mel_config();
    let participant = Participant::new(cfg.seed, cfg.forward.clone(), mel.n_mels);
    let summary = serde_json::to_string_pretty(&participant).map_err(std::io::Error::other);
    let participant_path = out.join("participant.json");
    std::fs::write(&participant_path, summary.map_err(io(&participant_path))?)
        .map_err(io(&participant_path))?;

    let mut written = Vec::new();
    for index in cfg.first_index..cfg.first_index + cfg.recordings {
        let rec_seed = cfg.seed.wrapping_mul(1_000_003).wrapping_add(index as u64);
        let mut rng = ChaCha8Rng::seed_from_u64(rec_seed);
        let mut utterances = Vec::with_capacity(cfg.utterances_per_recording);
        for _ in 0..cfg.utterances_per_recording {
            utterances.push(pool.pick(&mut rng)?);
        }
        let path = out.join(format!("rec_{index:03}.xdf"));
        let rec = make_recording(&participant, &utterances, &mel, rec_seed, &mut rng, &path);
        write_xdf(&path, &rec)?;
        progress(index, &path);
        written.push(path);
    }
    Ok(written)
}

/// Lays utterances out on a timeline with pauses, simulates the neural data
/// and returns the paired recording.
pub fn make_recording(
    participant: &Participant,
    utterances: &[Utterance],
    mel: &MelConfig,
    rec_seed: u64,
    rng: &mut ChaCha8Rng,
    path: &Path,
) -> Recording {
    let rate = SPEECH_RATE as usize;
    let mut audio = vec![0.0f32; rate]; // one second of lead-in silence
    let mut markers = Vec::new();
    let t0 = 1000.0 + (rec_seed % 1000) as f64; // a plausible LSL clock value
    for u in utterances {
        markers.push(Marker {
            timestamp: t0 + audio.len() as f64 / rate as f64,
            text: u.text.clone(),
        });
        let peak = u
            .samples
            .iter()
            .fold(0.0f32, |m, v| m.max(v.abs()))
            .max(1e-6);
        audio.extend(u.samples.iter().map(|v| v / peak * 0.8));
        let pause = (rng.random_range(0.4..1.2) * rate as f64) as usize;
        audio.extend(std::iter::repeat_n(0.0, pause));
    }
    // A whole number of 10 ms frames, over a quiet room-noise floor (about
    // -60 dBFS) so pauses are not digital silence.
    audio.truncate(audio.len() / mel.hop_length * mel.hop_length);
    let room = rand_distr::Normal::new(0.0f32, 1e-3).expect("valid normal");
    for v in &mut audio {
        *v += rand_distr::Distribution::sample(&room, rng);
    }
    let log_mel = log_mel_spectrogram(&audio, mel);
    let cfg = &participant.config;
    let samples = participant.simulate(&log_mel, mel.n_mels, rec_seed);
    let n = samples.len() / cfg.channels;
    Recording {
        path: path.to_path_buf(),
        eeg: SignalStream {
            name: "NeuroSpeakSynth".into(),
            stream_type: "EEG".into(),
            source_id: format!("neurospeak-synth-{}", participant.seed),
            channel_labels: (1..=cfg.channels).map(|c| format!("ch{c:02}")).collect(),
            sample_rate: cfg.sample_rate,
            timestamps: (0..n).map(|i| t0 + i as f64 / cfg.sample_rate).collect(),
            samples,
            channel_count: cfg.channels,
        },
        audio: Some(AudioTrack {
            sample_rate: SPEECH_RATE,
            samples: audio,
            first_timestamp: t0,
        }),
        markers,
        empty_streams: Vec::new(),
        clock_resets: 0,
    }
}
