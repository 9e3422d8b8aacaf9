//! `neurospeak replay`: a recording through the live engine, into a WAV file
//! and a report.

use anyhow::Context;
use clap::Args;
use std::path::{Path, PathBuf};

use super::cache_args::{CacheArgs, announce};
use super::latency_summary::{fmt_latency, print_sensor_to_sound};
use crate::bundle::Bundle;
use crate::decoder::{DecoderOptions, init_onnxruntime};
use crate::pipeline::{ReplayOptions, replay};
use crate::report::{AccuracyReport, Figures, write_json};

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

/// One accuracy figure, formatted.
type Figure = dyn Fn(&Figures) -> String;

/// A figure that may be missing (STOI without enough speech), 3 decimals.
fn opt(v: Option<f64>) -> String {
    v.map_or("n/a".to_string(), |v| format!("{v:.3}"))
}

/// The accuracy figures of the decoded output beside the loudness-only
/// baseline and copy synthesis (the ceiling).
pub fn print_accuracy(acc: &AccuracyReport) {
    println!(
        "accuracy   {} frames ({} speech), {:.1} s of audio with the decoded audio {:.0} ms behind; vs {}",
        acc.frames_compared,
        acc.speech_frames,
        acc.audio.seconds_compared,
        acc.audio.delay_ms,
        acc.compared_against
    );
    let rows: [(&str, &Figure); 8] = [
        ("Pearson r (per bin)", &|f| format!("{:.3}", f.pearson_r)),
        ("spectral-shape r", &|f| {
            format!("{:.3}", f.spectral_shape_r)
        }),
        ("MCD c1-13, speech (dB)", &|f| {
            format!("{:.2}", f.mcd_db.speech_frames.c1_13)
        }),
        ("MCD c1-24, speech (dB)", &|f| {
            format!("{:.2}", f.mcd_db.speech_frames.c1_24)
        }),
        ("MCD c1-13, all (dB)", &|f| {
            format!("{:.2}", f.mcd_db.all_frames.c1_13)
        }),
        ("MCD c1-24, all (dB)", &|f| {
            format!("{:.2}", f.mcd_db.all_frames.c1_24)
        }),
        ("STOI", &|f| opt(f.stoi)),
        ("ESTOI", &|f| opt(f.estoi)),
    ];
    println!(
        "           {:<24}{:>9}{:>20}{:>16}",
        "", "decoded", "loudness baseline", "copy synthesis"
    );
    for (label, figure) in rows {
        let (decoded, baseline, copy) = (
            figure(&acc.decoded),
            figure(&acc.loudness_baseline),
            figure(&acc.copy_synthesis),
        );
        println!("           {label:<24}{decoded:>9}{baseline:>20}{copy:>16}");
    }
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
    print_sensor_to_sound(&r.latency_ms);
    println!("speed      {:.1}× real time", r.realtime_factor);
    println!("compute    {}", fmt_latency(&r.latency_ms.compute));
    println!("decoder    {}", fmt_latency(&r.latency_ms.decoder));
    println!("algorithmic latency {:.1} ms", r.latency_ms.algorithmic);
    match &r.accuracy {
        Some(acc) => print_accuracy(acc),
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
