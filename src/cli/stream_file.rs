//! `neurospeak stream-file`: a recording served as a live LSL outlet.

use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

use super::lsl_args::{LslArgs, stop_on_signals};
use crate::live::stream_file::{StreamFileOptions, serve, source_id};

#[derive(Args, Debug)]
pub struct StreamFileArgs {
    /// Recording to serve (XDF, EDF+ or BDF+).
    pub recording: PathBuf,
    /// Start again at the end, until stopped.
    #[arg(long = "loop")]
    pub looping: bool,
    /// The stream's name.
    #[arg(long, default_value = "NeuroSpeak-EEG")]
    pub name: String,
    /// Hold the clock until an inlet connects, so it receives the first sample.
    #[arg(long)]
    pub wait_for_consumer: bool,
    /// Pace as a factor of real time; above 1 it overloads the consumer on
    /// purpose (timestamps stay nominal, so they run ahead of the clock).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Milliseconds between chunks. Amplifiers push small chunks (1 ms is
    /// common); every chunk waits in the outlet for the one sample that
    /// ends it, so longer chunks add up to their length to every arrival.
    #[arg(long, default_value_t = 10.0)]
    pub chunk_ms: f64,
    /// Serve from a SCHED_FIFO thread (refusal is reported, never fatal), so
    /// the chunks keep their clock as an amplifier's do on its own hardware;
    /// for latency benchmarks on a machine that also runs the session.
    #[arg(long)]
    pub realtime: bool,
    #[command(flatten)]
    pub lsl: LslArgs,
}

pub fn run(a: StreamFileArgs) -> anyhow::Result<()> {
    a.lsl.install()?;
    let stop = stop_on_signals()?;
    anyhow::ensure!(
        a.speed.is_finite() && a.speed > 0.0,
        "--speed must be a positive factor of real time (1 = real time), found {}",
        a.speed
    );
    anyhow::ensure!(
        a.chunk_ms.is_finite() && (0.1..=1000.0).contains(&a.chunk_ms),
        "--chunk-ms must be between 0.1 and 1000 milliseconds, found {}",
        a.chunk_ms
    );
    let rec = crate::recording::load(&a.recording)?;
    let options = StreamFileOptions {
        name: a.name.clone(),
        looping: a.looping,
        wait_for_consumer: a.wait_for_consumer,
        chunk_interval: Duration::from_secs_f64(a.chunk_ms / 1e3),
        speed: a.speed,
    };
    eprintln!(
        "stream-file: serving {} as LSL stream {:?} (type EEG, source_id {:?}, {} channels at {} Hz, {:.1} s, chunks every {} ms{})",
        a.recording.display(),
        a.name,
        source_id(&a.name),
        rec.eeg.channel_count,
        rec.eeg.sample_rate,
        rec.eeg.duration_s(),
        a.chunk_ms,
        if a.looping { ", looping" } else { "" }
    );
    if a.speed != 1.0 {
        eprintln!(
            "stream-file: pacing at {}x real time; timestamps stay nominal",
            a.speed
        );
    }
    if a.realtime {
        let grant = crate::live::realtime::set_fifo_current(
            "stream-file",
            crate::live::realtime::SOURCE_PRIORITY,
        );
        eprintln!("stream-file: real-time: {grant}");
    }
    if a.wait_for_consumer {
        eprintln!("stream-file: waiting for a consumer");
    }
    let out = serve(&rec, &options, &stop, &mut || {
        eprintln!("stream-file: streaming")
    })?;
    eprintln!(
        "stream-file: sent {} samples ({:.1} s)",
        out.samples, out.seconds
    );
    Ok(())
}
