//! `neurospeak benchmark`: time per frame, memory, throughput and accuracy,
//! candidate beside reference, with a table, a JSON report and plots.

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};

use crate::benchmark::{BenchmarkPlan, BenchmarkReport, ModelBenchmark};
use crate::bundle::Bundle;
use crate::decoder::init_onnxruntime;
use crate::report::{LatencyStats, write_json};
use crate::train::corpus::list_recordings;

#[derive(Args, Debug)]
pub struct BenchmarkArgs {
    /// The model bundle to measure (for example OUT/optimized_model).
    #[arg(long)]
    pub model_path: PathBuf,
    /// Directory of recordings to run (XDF, EDF+, BDF+).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The model to compare with; default: the bundle's provenance parent, if it exists.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Largest number of workers in the throughput scaling table.
    #[arg(long, default_value_t = 2)]
    pub num_workers: usize,
    /// Write the JSON report here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write plots (SVG and PNG) into this directory.
    #[arg(long)]
    pub plots: Option<PathBuf>,
    /// Do not pin the measuring threads to cores.
    #[arg(long)]
    pub no_pin: bool,
}

pub fn run(a: BenchmarkArgs, ort_lib: Option<&Path>) -> anyhow::Result<()> {
    init_onnxruntime(ort_lib)?;
    let candidate = Bundle::load(&a.model_path)?;
    let reference_dir = a.reference.clone().or_else(|| {
        candidate
            .manifest
            .provenance
            .parent
            .as_ref()
            .map(PathBuf::from)
            .filter(|p| p.is_dir())
    });
    let reference = reference_dir
        .as_deref()
        .map(Bundle::load)
        .transpose()
        .context("cannot load the reference model")?;
    if let Some(r) = &reference {
        crate::benchmark::check_reference(&candidate, r)?;
    }
    let files = list_recordings(&a.data_dir).map_err(anyhow::Error::msg)?;
    let mut recordings = Vec::with_capacity(files.len());
    for f in &files {
        recordings.push(crate::recording::load(f)?);
    }
    anyhow::ensure!(a.num_workers >= 1, "--num-workers must be at least 1");
    let plan = BenchmarkPlan {
        candidate,
        reference,
        recordings,
        max_workers: a.num_workers,
        pin: !a.no_pin,
        data_dir: a.data_dir.clone(),
    };
    let bar = ProgressBar::new(1);
    bar.set_style(
        ProgressStyle::with_template("{msg:>14} [{bar:40}] {percent:>3}% {elapsed}")
            .expect("valid progress template")
            .progress_chars("=> "),
    );
    let report = crate::benchmark::run(plan, a.plots.as_deref(), &mut |stage, done, total| {
        bar.set_message(stage.to_string());
        bar.set_length(total.max(1));
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    print_table(&report);
    if let Some(path) = &a.json {
        write_json(path, &report).with_context(|| format!("cannot write {}", path.display()))?;
        println!("report: {}", path.display());
    }
    for p in report.plots.iter().filter(|p| p.ends_with(".png")) {
        println!("plot:   {p}");
    }
    Ok(())
}

fn short(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.3}"))
}

fn lat(s: &Option<LatencyStats>, f: fn(&LatencyStats) -> f64) -> String {
    s.as_ref().map_or("n/a".into(), |s| format!("{:.3}", f(s)))
}

fn print_table(r: &BenchmarkReport) {
    let models: Vec<(&str, &ModelBenchmark)> = std::iter::once(("candidate", &r.candidate))
        .chain(r.reference.as_ref().map(|m| ("reference", m)))
        .collect();
    println!(
        "{} recordings, {:.1} s of signal from {}",
        r.recordings, r.signal_seconds, r.data_dir
    );
    print!("{:<34}", "");
    for (name, m) in &models {
        print!("{:>16}", format!("{name}"));
        let _ = m;
    }
    if models.len() == 2 {
        print!("{:>10}", "ratio");
    }
    println!();
    type Row = (
        &'static str,
        fn(&ModelBenchmark) -> String,
        Option<fn(&crate::benchmark::Comparison) -> f64>,
    );
    let rows: Vec<Row> = vec![
        ("model", |m| m.run.model.name.clone(), None),
        (
            "model size (MB)",
            |m| format!("{:.2}", m.run.memory.model_bytes as f64 / 1e6),
            Some(|c| c.size_ratio),
        ),
        (
            "decoder ms/frame p50",
            |m| lat(&m.run.latency_ms.decoder, |s| s.p50),
            Some(|c| c.decoder_speedup_p50),
        ),
        (
            "decoder ms/frame p99",
            |m| lat(&m.run.latency_ms.decoder, |s| s.p99),
            None,
        ),
        (
            "pipeline ms/frame p50",
            |m| lat(&m.run.latency_ms.compute, |s| s.p50),
            Some(|c| c.pipeline_speedup_p50),
        ),
        (
            "pipeline ms/frame p95",
            |m| lat(&m.run.latency_ms.compute, |s| s.p95),
            None,
        ),
        (
            "pipeline ms/frame p99",
            |m| lat(&m.run.latency_ms.compute, |s| s.p99),
            None,
        ),
        (
            "pipeline ms/frame max",
            |m| lat(&m.run.latency_ms.compute, |s| s.max),
            None,
        ),
        (
            "frames/s (1 thread)",
            |m| format!("{:.0}", m.frames_per_second),
            None,
        ),
        (
            "× real time (1 thread)",
            |m| format!("{:.1}", m.run.realtime_factor),
            None,
        ),
        (
            "session memory (MB)",
            |m| format!("{:.1}", m.session_rss_mb),
            None,
        ),
        (
            "decoded vs truth r",
            |m| {
                m.run
                    .accuracy
                    .as_ref()
                    .map_or("n/a".into(), |a| format!("{:.4}", a.decoded.pearson_r))
            },
            None,
        ),
        (
            "spectral-shape r",
            |m| {
                m.run.accuracy.as_ref().map_or("n/a".into(), |a| {
                    format!("{:.4}", a.decoded.spectral_shape_r)
                })
            },
            None,
        ),
        (
            "MCD c1-13, speech (dB)",
            |m| {
                m.run.accuracy.as_ref().map_or("n/a".into(), |a| {
                    format!("{:.2}", a.decoded.mcd_db.speech_frames.c1_13)
                })
            },
            None,
        ),
        (
            "MCD c1-24, speech (dB)",
            |m| {
                m.run.accuracy.as_ref().map_or("n/a".into(), |a| {
                    format!("{:.2}", a.decoded.mcd_db.speech_frames.c1_24)
                })
            },
            None,
        ),
        (
            "STOI / ESTOI",
            |m| {
                m.run.accuracy.as_ref().map_or("n/a".into(), |a| {
                    format!("{} / {}", short(a.decoded.stoi), short(a.decoded.estoi))
                })
            },
            None,
        ),
    ];
    for (label, value, ratio) in rows {
        print!("{label:<34}");
        for (_, m) in &models {
            print!("{:>16}", value(m));
        }
        if let (Some(c), Some(ratio)) = (&r.comparison, ratio) {
            print!("{:>10}", format!("{:.2}", ratio(c)));
        }
        println!();
    }
    for (name, m) in &models {
        let row: Vec<String> = m
            .scaling
            .iter()
            .map(|p| {
                format!(
                    "{} worker{}: {:.1}×",
                    p.workers,
                    if p.workers == 1 { "" } else { "s" },
                    p.realtime_factor
                )
            })
            .collect();
        println!("scaling {name:<10} {}", row.join(", "));
    }
    for (name, m) in std::iter::once(("candidate", &r.candidate))
        .chain(r.reference.as_ref().map(|m| ("reference", m)))
    {
        print!("{name}: ");
        super::latency_summary::print_sensor_to_sound(&m.run.latency_ms);
    }
    if let Some(acc) = r.candidate.run.accuracy.as_ref() {
        for (name, b) in [
            ("loudness-only baseline", &acc.loudness_baseline),
            ("copy synthesis", &acc.copy_synthesis),
        ] {
            println!(
                "{name} vs truth: r {:.4}, spectral-shape r {:.4}, MCD c1-13 speech {:.2} dB, \
                 c1-24 speech {:.2} dB, STOI {}, ESTOI {}",
                b.pearson_r,
                b.spectral_shape_r,
                b.mcd_db.speech_frames.c1_13,
                b.mcd_db.speech_frames.c1_24,
                short(b.stoi),
                short(b.estoi)
            );
        }
    }
    if let Some(c) = &r.comparison {
        println!(
            "candidate vs reference outputs: Pearson r {:.5}, max |error| {:.4}{}",
            c.output_pearson_r,
            c.output_max_abs_error,
            c.pearson_r_delta
                .map_or(String::new(), |d| format!(", Δr vs truth {d:+.4}"))
        );
    }
    println!(
        "peak memory: {:.1} MB (whole process)",
        r.candidate.run.memory.peak_rss_mb
    );
    let w = &r.wer;
    if w.skipped {
        println!("WER skipped: {}", w.reason);
    } else {
        let pct = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{:.1} %", v * 100.0));
        println!(
            "WER over {} utterances ({}): true speech {}, copy synthesis {}, candidate {}, reference {}, \
             loudness baseline {}",
            w.utterances,
            w.recognizer.as_deref().unwrap_or("?"),
            pct(w.truth),
            pct(w.copy_synthesis),
            pct(w.candidate),
            pct(w.reference),
            pct(w.loudness_baseline)
        );
    }
}
