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
    #[command(flatten)]
    pub lsl: LslArgs,
}

pub fn run(a: StreamFileArgs) -> anyhow::Result<()> {
    a.lsl.install()?;
    let stop = stop_on_signals()?;
    let rec = crate::recording::load(&a.recording)?;
    let options = StreamFileOptions {
        name: a.name.clone(),
        looping: a.looping,
        wait_for_consumer: a.wait_for_consumer,
        chunk_interval: Duration::from_millis(10),
    };
    eprintln!(
        "stream-file: serving {} as LSL stream {:?} (type EEG, source_id {:?}, {} channels at {} Hz, {:.1} s{})",
        a.recording.display(),
        a.name,
        source_id(&a.name),
        rec.eeg.channel_count,
        rec.eeg.sample_rate,
        rec.eeg.duration_s(),
        if a.looping { ", looping" } else { "" }
    );
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
