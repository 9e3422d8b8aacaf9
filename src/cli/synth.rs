//! `neurospeak synth`: paired synthetic neural + speech recordings.

use crate::synth::{CorpusConfig, forward::ForwardConfig};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct SynthArgs {
    /// Output directory for rec_NNN.xdf files and participant.json.
    #[arg(long)]
    pub out: PathBuf,
    /// WAV files or directories of 16 kHz speech; without it, flite renders
    /// the project's sentences.
    #[arg(long, num_args = 1..)]
    pub speech: Vec<PathBuf>,
    /// EEG channels.
    #[arg(long, default_value_t = 64)]
    pub channels: usize,
    /// EEG sample rate in Hz.
    #[arg(long, default_value_t = 1024.0)]
    pub rate: f64,
    /// Seed of the simulated participant and of every recording.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Number of recordings.
    #[arg(long, default_value_t = 12)]
    pub recordings: usize,
    /// Index of the first recording (recording i is the same whatever the count).
    #[arg(long, default_value_t = 0)]
    pub first_index: usize,
    /// Utterances per recording.
    #[arg(long, default_value_t = 8)]
    pub utterances: usize,
    /// flite voices, comma-separated.
    #[arg(long, default_value = "slt,awb,rms", value_delimiter = ',')]
    pub voices: Vec<String>,
    /// Noise scale (1 = default difficulty; larger is harder to decode).
    #[arg(long, default_value_t = 1.0)]
    pub noise: f64,
    /// Mains frequency of the simulated lab in Hz.
    #[arg(long, default_value_t = 50.0)]
    pub line_frequency: f64,
}

pub fn run(a: SynthArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.channels >= 1 && a.rate >= 400.0,
        "--channels must be at least 1 and --rate at least 400 Hz (high gamma reaches 170 Hz); found {} channels at {} Hz",
        a.channels,
        a.rate
    );
    let cfg = CorpusConfig {
        seed: a.seed,
        recordings: a.recordings,
        first_index: a.first_index,
        utterances_per_recording: a.utterances,
        voices: a.voices,
        speech: a.speech,
        forward: ForwardConfig {
            channels: a.channels,
            sample_rate: a.rate,
            noise: a.noise,
            line_frequency: a.line_frequency,
            ..ForwardConfig::default()
        },
    };
    let files = crate::synth::generate(&cfg, &a.out, &mut |i, p| {
        eprintln!("synth: recording {i} → {}", p.display());
    })?;
    println!(
        "wrote {} recordings and participant.json to {}",
        files.len(),
        a.out.display()
    );
    Ok(())
}
