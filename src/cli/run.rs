//! `neurospeak run`: a live session from an LSL stream to a sound device, a
//! WAV file, or the headless null sink.

use anyhow::Context;
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::cache_args::{CacheArgs, announce};
use super::latency_summary::{fmt_latency, print_sensor_to_sound};
use super::lsl_args::{LslArgs, stop_on_signals};
use crate::bundle::Bundle;
use crate::decoder::{DecoderOptions, init_onnxruntime};
use crate::live::realtime;
use crate::live::session::{
    AudioChoice, DEFAULT_MARGIN_MS, SessionOptions, playout_line, run as run_session,
};
use crate::live::source::StreamQuery;
use crate::report::write_json;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Model bundle directory.
    #[arg(long)]
    pub model: PathBuf,
    /// The LSL stream's name.
    #[arg(long, conflicts_with_all = ["stream_type", "source_id"])]
    pub stream: Option<String>,
    /// The LSL stream's type (the default query is type EEG).
    #[arg(long = "type", conflicts_with = "source_id")]
    pub stream_type: Option<String>,
    /// The LSL stream's source id.
    #[arg(long)]
    pub source_id: Option<String>,
    /// Audio output: `default`, `null` (headless, clock-paced) or a device name.
    #[arg(long, default_value = "default")]
    pub audio: String,
    /// WAV file for the decoded speech.
    #[arg(long)]
    pub wav: Option<PathBuf>,
    /// Also publish the decoded speech as an LSL outlet of this name (type
    /// Audio, 1 float32 channel at the vocoder rate, one chunk per frame).
    #[arg(long, value_name = "NAME")]
    pub lsl_audio: Option<String>,
    /// Stop after this many seconds (default: run until Ctrl-C or SIGTERM).
    #[arg(long, value_name = "S")]
    pub duration: Option<f64>,
    /// JSON report (schema in README.md), written at exit.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// CSV with every frame's stamps.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Cores to pin the worker and the sink thread to, e.g. `0,1`.
    #[arg(long, value_delimiter = ',')]
    pub pin_cores: Vec<usize>,
    /// How long before the sound device takes it a frame's audio should be
    /// ready, in milliseconds: the floor of the adaptive margin (which
    /// starts at 2 ms, grows when a frame comes near missing its block and
    /// shrinks slowly back), or the margin itself with --fixed-margin. The
    /// player plays each frame as early as the margin allows for all but
    /// the latest 1 % of frames, and cuts what comes later than its block
    /// (counted as late frames).
    #[arg(long, default_value_t = DEFAULT_MARGIN_MS)]
    pub margin_ms: f64,
    /// Hold --margin-ms throughout instead of adapting the margin.
    #[arg(long)]
    pub fixed_margin: bool,
    /// Samples per sink block at the vocoder's rate (the sound device is
    /// asked for periods of that length), or `auto`: the largest divisor of
    /// the hop up to 5 ms (80 samples for 10 ms and 5 ms frames at 16 kHz).
    #[arg(long, default_value = "auto", value_parser = parse_block)]
    pub block: BlockArg,
    /// Do not run the decoder on a dummy frame shortly before each frame is
    /// due. The dummy runs keep the decoder's weights in the CPU caches,
    /// which roughly halves the decoder's time per live frame at the cost of
    /// two more decoder runs per frame.
    #[arg(long)]
    pub no_prewarm: bool,
    /// Do not lock memory (mlockall) or ask SCHED_FIFO for the worker, LSL
    /// reader and null-sink threads. Without this flag both are asked and
    /// what the OS refuses is reported (a warning, the report's
    /// `realtime_request`, the summary), never fatal.
    #[arg(long)]
    pub no_realtime: bool,
    /// Seconds to wait for the stream at start.
    #[arg(long, default_value_t = 5.0)]
    pub resolve_timeout: f64,
    /// Seconds between status lines on stderr.
    #[arg(long, default_value_t = 5.0)]
    pub status_every: f64,
    #[command(flatten)]
    pub lsl: LslArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
}

/// `--block`: `auto` or a number of samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockArg(pub Option<usize>);

fn parse_block(s: &str) -> Result<BlockArg, String> {
    if s == "auto" {
        return Ok(BlockArg(None));
    }
    match s.parse::<usize>() {
        Ok(n) if (1..=65_536).contains(&n) => Ok(BlockArg(Some(n))),
        _ => Err(format!(
            "expected `auto` or a number of samples from 1 to 65536, found {s:?}"
        )),
    }
}

pub fn run(a: RunArgs, ort_lib: Option<&Path>) -> anyhow::Result<()> {
    // Before any thread exists and before liblsl is first used.
    a.lsl.install()?;
    let stop = stop_on_signals()?;
    init_onnxruntime(ort_lib)?;
    let bundle = Bundle::load(&a.model)?;
    let query = match (&a.stream, &a.stream_type, &a.source_id) {
        (Some(n), _, _) => StreamQuery::Name(n.clone()),
        (_, _, Some(s)) => StreamQuery::SourceId(s.clone()),
        (_, Some(t), _) => StreamQuery::Type(t.clone()),
        _ => StreamQuery::Type("EEG".into()),
    };
    let audio = match a.audio.as_str() {
        "null" => AudioChoice::Null,
        "default" => AudioChoice::Device(None),
        name => AudioChoice::Device(Some(name.to_string())),
    };
    if let Some(name) = &a.lsl_audio {
        anyhow::ensure!(
            !name.trim().is_empty(),
            "--lsl-audio needs a stream name, found an empty one"
        );
        anyhow::ensure!(
            a.stream.as_deref() != Some(name.as_str()),
            "--lsl-audio {name:?} is also the --stream to decode; give the audio outlet another name"
        );
    }
    if let Some(d) = a.duration {
        anyhow::ensure!(
            d.is_finite() && d > 0.0 && d < 1e9,
            "--duration must be a positive number of seconds, found {d}"
        );
    }
    for (flag, v, max) in [
        ("--resolve-timeout", a.resolve_timeout, 86_400.0),
        ("--status-every", a.status_every, 86_400.0),
        ("--margin-ms", a.margin_ms, 1000.0),
    ] {
        anyhow::ensure!(
            v.is_finite() && (0.0..=max).contains(&v),
            "{flag} must be a number from 0 to {max}, found {v}"
        );
    }
    let options = SessionOptions {
        query,
        resolve_timeout: Duration::from_secs_f64(a.resolve_timeout.max(0.1)),
        audio,
        wav: a.wav.clone(),
        lsl_audio: a.lsl_audio.clone(),
        csv: a.csv.clone(),
        duration: a.duration.map(Duration::from_secs_f64),
        pin_cores: a.pin_cores.clone(),
        margin_ms: a.margin_ms.max(0.0),
        adaptive_margin: !a.fixed_margin,
        block: a.block.0,
        prewarm: !a.no_prewarm,
        realtime: !a.no_realtime,
        status_every: (a.status_every > 0.0).then(|| Duration::from_secs_f64(a.status_every)),
        decoder: DecoderOptions {
            cache_dir: a.cache.dir(),
            ..DecoderOptions::default()
        },
        on_engine_ready: Some(announce),
        ..SessionOptions::default()
    };
    let outcome = run_session(&bundle, &options, stop)?;
    let mut r = outcome.report;
    if let Some(path) = &a.report {
        r.outputs
            .insert("report".to_string(), path.display().to_string());
        write_json(path, &r)
            .with_context(|| format!("cannot write the report {}", path.display()))?;
    }
    println!(
        "model      {} ({})",
        bundle.manifest.name,
        bundle.dir.display()
    );
    println!("stream     {}", outcome.stream);
    println!(
        "frames     {}  ({:.1} s of audio in {:.1} s)",
        r.frames, r.audio_seconds, r.wall_seconds
    );
    print_sensor_to_sound(&r.latency_ms);
    println!("compute    {}", fmt_latency(&r.latency_ms.compute));
    println!(
        "arrival→playback {}",
        fmt_latency(&r.latency_ms.arrival_to_playback)
    );
    println!("transport  {}", fmt_latency(&r.latency_ms.transport));
    println!("algorithmic latency {:.1} ms", r.latency_ms.algorithmic);
    let f = &r.faults;
    println!(
        "faults     gaps {} ({} samples missing), duplicated samples {}, dropped samples {}, \
         dropped frames {}, underruns {}, late frames {}, schedule moves {}, non-finite values {}, \
         reconnects {}, bad timestamps {}, frames left out of the WAV {}, of the CSV {} and of \
         the LSL audio outlet {}",
        f.gaps,
        f.missing_samples,
        f.duplicated_samples,
        f.dropped_samples,
        f.dropped_frames,
        f.underruns,
        f.late_frames,
        f.latency_adjustments,
        f.nonfinite_samples,
        f.reconnects,
        f.bad_timestamps,
        f.wav_dropped_frames,
        f.csv_dropped_frames,
        f.lsl_audio_dropped_frames
    );
    println!(
        "realtime   {}",
        realtime::summary(r.realtime_request.as_deref())
    );
    if let Some(audio) = r.outputs.get("audio") {
        println!("audio      {audio}");
    }
    if let Some(p) = &r.playout {
        println!("{}", playout_line(p));
    }
    if let Some(p) = &a.wav {
        println!("wav        {}", p.display());
    }
    if let (Some(name), Some(s)) = (&a.lsl_audio, &outcome.lsl_audio) {
        println!(
            "lsl audio  {name:?} ({} frames, {:.1} s published)",
            s.frames,
            s.samples as f64 / bundle.manifest.vocoder.sample_rate_hz as f64
        );
    }
    if let Some(p) = &a.csv {
        println!("csv        {}", p.display());
    }
    if let Some(p) = &a.report {
        println!("report     {}", p.display());
    }
    // A session that stopped early has written its files and report (up
    // to the error) and then fails with it.
    match outcome.error {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}
