//! A live session's frames replayed through the player at other sink grid
//! phases (`neurospeak::live::sinks::phases`): how much of a session's
//! arrival-to-playback latency was the draw of where the null sink's blocks fell.
//!
//! Usage: `cargo bench --bench grid_phases -- FRAMES.csv [MARGIN_MS [BLOCK
//! [fixed|adaptive [MODEL]]]]`, with the CSV of `neurospeak run --csv`
//! (`benches/live_session.sh` runs it) of a session on MODEL (default
//! `models/demo`; its vocoder's hop and rate are read from it). MARGIN_MS `-` is
//! `run`'s default; BLOCK is `auto` (the
//! default, as `run`'s) or samples; `fixed` holds the margin, as `run
//! --fixed-margin`.
//! Without a CSV (as under `cargo test`) it prints this usage and exits.

use neurospeak::bundle::Bundle;
use neurospeak::live::session::DEFAULT_MARGIN_MS;
use neurospeak::live::sinks::PlayerConfig;
use neurospeak::live::sinks::blocks::block_for;
use neurospeak::live::sinks::phases::{FrameTimes, sweep};
use std::path::PathBuf;
use std::time::Duration;

/// Grid offsets tried, evenly over one phase step.
const STEPS: usize = 20;
/// The target's limit, for the count of phases under it.
const TARGET_MS: f64 = 10.0;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let Some(path) = args.first() else {
        println!(
            "usage: cargo bench --bench grid_phases -- FRAMES.csv [MARGIN_MS [BLOCK [fixed|adaptive [MODEL]]]]"
        );
        return Ok(());
    };
    let margin_ms: f64 = match args.get(1).filter(|m| *m != "-") {
        Some(m) => m.parse().map_err(|_| {
            anyhow::anyhow!("MARGIN_MS must be a number of milliseconds, found {m:?}")
        })?,
        None => DEFAULT_MARGIN_MS,
    };
    let block = match args.get(2).map(String::as_str) {
        None | Some("auto") => None,
        Some(b) => Some(b.parse::<usize>().map_err(|_| {
            anyhow::anyhow!("BLOCK must be `auto` or a number of samples, found {b:?}")
        })?),
    };
    let adaptive = args.get(3).map(String::as_str) != Some("fixed");
    let frames = read(path)?;
    // The session model's vocoder (frames of its hop at its rate) into the
    // null sink's blocks, as `run` plays them.
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(args.get(4).map_or("models/demo", String::as_str));
    let vocoder = Bundle::load(&model)?.manifest.vocoder;
    let config = PlayerConfig {
        margin: Duration::from_secs_f64(margin_ms / 1000.0),
        adaptive,
        block: block_for(block, vocoder.hop_length, vocoder.sample_rate_hz),
        hop: vocoder.hop_length,
        rate: vocoder.sample_rate_hz,
        fixed: Duration::ZERO,
    };
    let outcomes = sweep(&frames, config, STEPS);
    let ms = |v: u64| v as f64 / 1e6;
    println!("offset   a2p p50    p99    max   underruns  late  moves");
    let mut p99s = Vec::new();
    for o in &outcomes {
        let h = &o.arrival_to_playback;
        let p99 = ms(h.value_at_quantile(0.99));
        p99s.push(p99);
        println!(
            "{:5.2} ms {:7.2} {:6.2} {:6.2} {:9} {:5} {:6}",
            o.offset_ms,
            ms(h.value_at_quantile(0.5)),
            p99,
            ms(h.max()),
            o.underruns,
            o.late_frames,
            o.latency_adjustments
        );
    }
    p99s.sort_by(f64::total_cmp);
    let under = p99s.iter().filter(|&&p| p <= TARGET_MS).count();
    println!(
        "arrival-to-playback p99 over {} grid phases ({} frames, {}-sample blocks, margin {margin_ms} ms{}): min {:.2} / median {:.2} / max {:.2} ms; {under} of {} at or under {TARGET_MS} ms",
        p99s.len(),
        frames.len(),
        config.block,
        if adaptive {
            " floor, adaptive"
        } else {
            " fixed"
        },
        p99s[0],
        p99s[p99s.len() / 2],
        p99s[p99s.len() - 1],
        p99s.len()
    );
    Ok(())
}

/// The arrival and ready (vocoder) stamps of every frame in a `run --csv`.
fn read(path: &str) -> anyhow::Result<Vec<FrameTimes>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("{path}: {e}; pass the CSV written by `run --csv`"))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str| {
        header.iter().position(|h| *h == name).ok_or_else(|| {
            anyhow::anyhow!(
                "{path}: no `{name}` column in {header:?}; pass the CSV written by `run --csv`"
            )
        })
    };
    let (arrival, ready) = (col("arrival_ns")?, col("vocoder_ns")?);
    lines
        .enumerate()
        .map(|(i, line)| {
            let f: Vec<&str> = line.split(',').collect();
            let num = |c: usize| {
                f.get(c).and_then(|v| v.parse::<u64>().ok()).ok_or_else(|| {
                    anyhow::anyhow!("{path} line {}: expected a number of nanoseconds in column {}, found {line:?}", i + 2, c + 1)
                })
            };
            Ok(FrameTimes {
                arrival_ns: num(arrival)?,
                ready_ns: num(ready)?,
            })
        })
        .collect()
}
