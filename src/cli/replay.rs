//! `neurospeak replay`: a recording through the live engine, into a WAV file
//! and a report.

use anyhow::Context;
use clap::Args;
use std::path::{Path, PathBuf};

use super::cache_args::{CacheArgs, announce};
use crate::bundle::Bundle;
use crate::decoder::{DecoderOptions, init_onnxruntime};
use crate::pipeline::{ReplayOptions, replay};
use crate::report::{LatencyStats, write_json};

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// Model bundle directory.
    #[arg(long)]
    pub model: PathBuf,
    /// Recording to decode (XDF, EDF+ or BDF+).
    #[arg(long)]
    pub input: PathBuf,
    /// WAV file for the decoded speech.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Pace the recording by its clock, as a live stream would arrive.
    #[arg(long)]
    pub realtime: bool,
    /// JSON report (schema in README.md).
    #[arg(long)]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub cache: CacheArgs,
}

fn fmt_latency(s: &Option<LatencyStats>) -> String {
    s.map_or("n/a".into(), |s| {
        format!(
            "p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            s.p50, s.p99, s.max
        )
    })
}

pub fn run(a: ReplayArgs, ort_lib: Option<&Path>) -> anyhow::Result<()> {
    init_onnxruntime(ort_lib)?;
    let bundle = Bundle::load(&a.model)?;
    let rec = crate::recording::load(&a.input)?;
    let options = ReplayOptions {
        realtime: a.realtime,
        wav: a.out.clone(),
        decoder: DecoderOptions {
            cache_dir: a.cache.dir(),
            ..DecoderOptions::default()
        },
        on_engine_ready: Some(announce),
        ..ReplayOptions::default()
    };
    let outcome = replay(&bundle, &rec, &options, &mut |f| {
        if a.realtime {
            eprint!("\rreplay: {:5.1} %", f * 100.0);
        }
    })?;
    if a.realtime {
        eprintln!();
    }
    let r = &outcome.report;
    if let Some(path) = &a.report {
        write_json(path, r)
            .with_context(|| format!("cannot write the report {}", path.display()))?;
    }
    println!(
        "model      {} ({})",
        bundle.manifest.name,
        bundle.dir.display()
    );
    println!(
        "recording  {} ({:.1} s, {} channels)",
        a.input.display(),
        rec.eeg.duration_s(),
        rec.eeg.channel_count
    );
    println!(
        "frames     {}  ({:.1} s of audio)",
        r.frames, r.audio_seconds
    );
    println!("speed      {:.1}× real time", r.realtime_factor);
    println!("compute    {}", fmt_latency(&r.latency_ms.compute));
    println!("decoder    {}", fmt_latency(&r.latency_ms.decoder));
    println!("algorithmic latency {:.1} ms", r.latency_ms.algorithmic);
    match &r.accuracy {
        Some(acc) => println!(
            "accuracy   Pearson r {:.3}, MCD {:.2} dB over {} frames ({})",
            acc.pearson_r, acc.mcd_db, acc.frames_compared, acc.compared_against
        ),
        None => println!("accuracy   n/a (the recording has no paired speech)"),
    }
    if r.faults.nonfinite_samples > 0 {
        println!(
            "faults     {} non-finite samples replaced",
            r.faults.nonfinite_samples
        );
    }
    if let Some(p) = &a.out {
        println!("wav        {}", p.display());
    }
    if let Some(p) = &a.report {
        println!("report     {}", p.display());
    }
    Ok(())
}
