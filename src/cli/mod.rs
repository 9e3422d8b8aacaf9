//! The command line: raw flags parsed by clap, resolved into library calls.
//! Only this layer uses `anyhow`; the library returns typed errors.

mod benchmark;
mod cache_args;
mod import;
mod inspect;
mod latency_summary;
#[cfg(feature = "lsl")]
mod lsl_args;
mod optimize;
mod replay;
#[cfg(feature = "lsl")]
mod run;
#[cfg(feature = "lsl")]
mod stream_file;
mod synth;
mod train;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Real-time EEG-to-speech inference.
#[derive(Parser, Debug)]
#[command(name = "neurospeak", version, about, long_about = None)]
pub struct Cli {
    /// The ONNX Runtime shared library, 1.31.x (default: $ORT_DYLIB_PATH, then next to
    /// the binary, then .local/onnxruntime/ of the project tree, as installed by
    /// scripts/setup.sh; never the current directory).
    #[arg(long, global = true, value_name = "FILE")]
    pub ort_lib: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Decode a recorded EEG file (XDF, EDF+, BDF+) into speech, a WAV file and a report.
    Replay(replay::ReplayArgs),
    /// Make paired synthetic neural + speech recordings.
    Synth(synth::SynthArgs),
    /// Train a decoder on paired recordings and write a model bundle.
    Train(train::TrainArgs),
    /// Measure time per frame, memory, throughput and accuracy, against a reference model.
    Benchmark(benchmark::BenchmarkArgs),
    /// Wrap an exported ONNX decoder (stateless or recurrent) into a model bundle.
    Import(import::ImportArgs),
    /// Quantize a model bundle to INT8 and check it on held-out recordings.
    Optimize(optimize::OptimizeArgs),
    /// Summarise a model bundle or a recording.
    Inspect(inspect::InspectArgs),
    /// Decode a live LSL EEG stream into speech (sound device, WAV, or the null sink).
    #[cfg(feature = "lsl")]
    Run(Box<run::RunArgs>),
    /// Serve a recording's EEG as a live LSL stream, paced by the clock.
    #[cfg(feature = "lsl")]
    StreamFile(stream_file::StreamFileArgs),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Replay(a) => replay::run(a, cli.ort_lib.as_deref()),
        Command::Synth(a) => synth::run(a),
        Command::Train(a) => train::run(a, cli.ort_lib.as_deref()),
        Command::Import(a) => import::run(a, cli.ort_lib.as_deref()),
        Command::Optimize(a) => optimize::run(a, cli.ort_lib.as_deref()),
        Command::Inspect(a) => inspect::run(a),
        Command::Benchmark(a) => benchmark::run(a, cli.ort_lib.as_deref()),
        #[cfg(feature = "lsl")]
        Command::Run(a) => run::run(*a, cli.ort_lib.as_deref()),
        #[cfg(feature = "lsl")]
        Command::StreamFile(a) => stream_file::run(a),
    }
}
