//! A live session: the LSL reader, the decoding worker, an audio sink and a
//! file writer, joined by SPSC rings, started together and stopped in order.
//!
//! ```text
//! reader ──samples──► worker (Engine::push_sample) ──audio──► sink (null | cpal)
//!                                                  ├─audio, frames──► writer (WAV, CSV)
//!                                                  └─audio, stamps──► LSL audio outlet
//! ```
//!
//! Everything is built and allocated before the threads start; the worker
//! loop allocates nothing, takes no lock and logs nothing. Control is a
//! closed enum per thread, drained with `try_recv`.

use super::Control;
use super::realtime;
use super::rings::{Counters, FrameStamp, SampleMeta, drop_oldest, ring};
use super::sinks::margin::MarginSummary;
use super::sinks::{Player, PlayerConfig, blocks, lsl_outlet, null, wav};
use super::source::{Expected, Reader, SourceError, StreamQuery, StreamSummary, resolve_checked};
use crate::bundle::Bundle;
use crate::decoder::{DecoderError, DecoderOptions};
use crate::pipeline::latency::{PlaybackHistograms, record};
use crate::pipeline::{Engine, EngineError};
use crate::report::{
    FaultReport, MemoryReport, ModelReport, PlayoutReport, RunReport, SCHEMA, current_rss_mb,
    peak_rss_mb,
};
use crossbeam_channel::{Receiver, Sender, unbounded};
use ringbuf::traits::{Consumer, Observer, Producer};
use ringbuf::{HeapCons, HeapProd};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where the audio is played.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AudioChoice {
    /// The clock-paced headless sink.
    Null,
    /// A sound device: `None` for the default one, or a name.
    Device(Option<String>),
}

/// How to run a session.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    pub query: StreamQuery,
    /// How long to wait for the stream at start.
    pub resolve_timeout: Duration,
    pub audio: AudioChoice,
    pub wav: Option<PathBuf>,
    /// Also publish the decoded audio as an LSL outlet of this name.
    pub lsl_audio: Option<String>,
    /// One line per frame with its stamps.
    pub csv: Option<PathBuf>,
    /// Stop after this long; `None` runs until Ctrl-C / SIGTERM.
    pub duration: Option<Duration>,
    /// Cores for the worker and the sink thread, in that order.
    pub pin_cores: Vec<usize>,
    /// How long before the sink takes it a frame's audio should be ready,
    /// in milliseconds: the floor of the player's adaptive margin, or the
    /// margin itself without `adaptive_margin` (see `sinks::player`).
    pub margin_ms: f64,
    /// Whether the margin grows from near misses and shrinks slowly
    /// (`sinks::margin`).
    pub adaptive_margin: bool,
    /// Samples per sink block (and device period) at the audio rate; `None`
    /// chooses it from the hop (`sinks::blocks`).
    pub block: Option<usize>,
    /// Run the decoder on a dummy frame shortly before each frame is due,
    /// so the real one finds its weights in the caches ([`Engine::prewarm`]).
    pub prewarm: bool,
    /// Lock memory and ask `SCHED_FIFO` for the worker, reader and null-sink
    /// threads ([`realtime`]); refusals are reported, never fatal. Off in the
    /// library's default; `run` asks unless `--no-realtime`.
    pub realtime: bool,
    /// Input backlog beyond which the worker drops the oldest samples, in
    /// milliseconds of signal.
    pub max_backlog_ms: f64,
    /// Interval between status lines; `None` for none.
    pub status_every: Option<Duration>,
    pub decoder: DecoderOptions,
    /// Called once the engine is built and warmed up, before any thread starts:
    /// the command line prints the decoder's graph-cache line here.
    pub on_engine_ready: Option<fn(&Engine)>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            query: StreamQuery::Type("EEG".into()),
            resolve_timeout: Duration::from_secs(5),
            audio: AudioChoice::Null,
            wav: None,
            lsl_audio: None,
            csv: None,
            duration: None,
            pin_cores: Vec::new(),
            margin_ms: DEFAULT_MARGIN_MS,
            adaptive_margin: true,
            block: None,
            prewarm: true,
            realtime: false,
            max_backlog_ms: 500.0,
            status_every: Some(Duration::from_secs(5)),
            decoder: DecoderOptions::default(),
            on_engine_ready: None,
        }
    }
}

/// Errors of a live session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("the decoder failed during the session: {0}")]
    Decoder(#[from] DecoderError),
    #[error(transparent)]
    Wav(#[from] wav::WavError),
    #[error(transparent)]
    LslAudio(#[from] lsl_outlet::OutletError),
    #[error(
        "{path}: cannot write the frame CSV: {source}; check the directory exists and is writable"
    )]
    Csv {
        path: PathBuf,
        source: std::io::Error,
    },
    #[cfg(feature = "audio")]
    #[error(transparent)]
    Audio(#[from] super::sinks::cpal::AudioError),
    #[error(
        "audio output was requested but this build has no `audio` feature; use --audio null, \
         or rebuild with the default features"
    )]
    NoAudioFeature,
    #[error(
        "a session thread panicked ({0}); this is a bug, please report it with the command line"
    )]
    Panicked(&'static str),
}

/// One decoded frame's stamps, for the CSV.
#[derive(Clone, Copy, Debug)]
struct FrameRecord {
    seq: u64,
    arrival_ns: u64,
    features_ns: u64,
    decoder_ns: u64,
    vocoder_ns: u64,
    transport_ns: i64,
}

/// What a session produced.
pub struct SessionOutcome {
    pub report: RunReport,
    pub stream: StreamSummary,
    /// Samples written to the WAV file.
    pub wav_samples: Option<u64>,
    /// What the LSL audio outlet published.
    pub lsl_audio: Option<lsl_outlet::OutletStats>,
    /// The error that ended the session early, after its threads started;
    /// the report and the files cover the session up to it. The caller
    /// writes the report, then fails with this.
    pub error: Option<SessionError>,
}

/// The floor of the player's margin, in milliseconds (README, *Live
/// sessions*): the adaptive margin starts higher and falls back to it when
/// no frame comes near missing its block.
pub const DEFAULT_MARGIN_MS: f64 = 0.5;

/// How long the worker sleeps at most when no sample is waiting (the reader
/// wakes it sooner when one comes).
const IDLE: Duration = Duration::from_millis(2);
/// How long before a frame is due the decoder is warmed
/// ([`Engine::prewarm`]), in microseconds: first early enough that a frame
/// arriving a little early finds the (slow, cold) run done, then once more
/// (fast, warm) so that the weights are still cached when the frame comes:
/// on a shared machine they are partly evicted within a millisecond.
const PREWARM_LEADS_US: [u64; 2] = [1500, 500];

struct Worker {
    engine: Engine,
    meta: HeapCons<SampleMeta>,
    data: HeapCons<f32>,
    audio: HeapProd<f32>,
    stamps: HeapProd<FrameStamp>,
    wav: Option<HeapProd<f32>>,
    lsl_audio: Option<lsl_outlet::Feed>,
    csv: Option<HeapProd<FrameRecord>>,
    counters: Arc<Counters>,
    control: Receiver<Control>,
    channels: usize,
    max_backlog: usize,
    samples_per_frame: f64,
    /// When to warm the decoder after a frame's arrival, if at all: the
    /// hop less each of [`PREWARM_LEADS_US`].
    warm_after: Option<[Duration; 2]>,
    epoch: Instant,
}

impl Worker {
    /// The hot loop. Allocates nothing, locks nothing, logs nothing.
    fn run(mut self, mut sample: Vec<f32>) -> (Engine, Result<(), DecoderError>) {
        let mut pushed: u64 = 0;
        let ns = |t: Instant, epoch: Instant| t.saturating_duration_since(epoch).as_nanos() as u64;
        let mut last_arrival: Option<Instant> = None;
        let mut warmed = 0;
        let result = loop {
            if Control::should_stop(&self.control) {
                break Ok(());
            }
            let backlog = self.meta.occupied_len();
            if backlog > self.max_backlog {
                let n = drop_oldest(
                    &mut self.meta,
                    &mut self.data,
                    self.channels,
                    backlog - self.max_backlog / 2,
                );
                Counters::add(&self.counters.dropped_samples, n as u64);
                self.engine.discontinuity(n as u64, false);
                let frames = (n as f64 / self.samples_per_frame).ceil() as u64;
                Counters::add(&self.counters.dropped_frames, frames);
            }
            let mut any = false;
            let mut failed = None;
            while let Some(m) = self.meta.try_pop() {
                any = true;
                self.data.pop_slice(&mut sample);
                // The reader's stamps are checked, but a transport time is
                // never trusted to fit a Duration.
                let transport = m
                    .corrected
                    .then(|| Duration::try_from_secs_f32(m.transport_s.max(0.0)).ok())
                    .flatten();
                if let Some(d) = transport {
                    record(&mut self.engine.latency_mut().transport, d);
                }
                if m.missing_before > 0 || m.reconnected {
                    self.engine
                        .discontinuity(u64::from(m.missing_before), m.reconnected);
                }
                let frame = match self.engine.push_sample(&sample, m.arrival) {
                    Ok(Some(f)) => f,
                    Ok(None) => continue,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                };
                last_arrival = Some(m.arrival);
                warmed = 0;
                let n = frame.audio.len();
                if self.audio.vacant_len() >= n && self.stamps.vacant_len() > 0 {
                    let _ = self.stamps.try_push(FrameStamp {
                        audio_index: pushed,
                        arrival: m.arrival,
                        ready: frame.stamps.vocoder,
                        transport,
                    });
                    self.audio.push_slice(frame.audio);
                    pushed += n as u64;
                } else {
                    Counters::add(&self.counters.dropped_frames, 1);
                }
                // Whole frames or none: a frame cut short would shift every
                // later sample of the file.
                if let Some(w) = self.wav.as_mut() {
                    if w.vacant_len() >= n {
                        w.push_slice(frame.audio);
                    } else {
                        Counters::add(&self.counters.wav_dropped_frames, 1);
                    }
                }
                if let Some(o) = self.lsl_audio.as_mut()
                    && !o.push(frame.audio, m.arrival, m.transport_s)
                {
                    Counters::add(&self.counters.lsl_audio_dropped_frames, 1);
                }
                if let Some(c) = self.csv.as_mut() {
                    let s = frame.stamps;
                    let record = FrameRecord {
                        seq: frame.seq,
                        arrival_ns: ns(s.arrival, self.epoch),
                        features_ns: ns(s.features, self.epoch),
                        decoder_ns: ns(s.decoder, self.epoch),
                        vocoder_ns: ns(s.vocoder, self.epoch),
                        transport_ns: if m.corrected {
                            (m.transport_s as f64 * 1e9) as i64
                        } else {
                            -1_000_000_000
                        },
                    };
                    if c.try_push(record).is_err() {
                        Counters::add(&self.counters.csv_dropped_frames, 1);
                    }
                }
                let frames = self.engine.frames();
                self.counters.frames.store(frames, Ordering::Relaxed);
                if frames.is_multiple_of(100) {
                    let h = &self.engine.latency().compute;
                    let c = &self.counters;
                    c.compute_p50_ns
                        .store(h.value_at_quantile(0.5), Ordering::Relaxed);
                    c.compute_p99_ns
                        .store(h.value_at_quantile(0.99), Ordering::Relaxed);
                }
            }
            if let Some(e) = failed {
                break Err(e);
            }
            self.counters
                .nonfinite
                .store(self.engine.nonfinite_samples(), Ordering::Relaxed);
            if !any {
                let now = Instant::now();
                let warm_at = match (self.warm_after, last_arrival) {
                    (Some(after), Some(t)) => after.get(warmed).map(|&d| t + d),
                    _ => None,
                };
                match warm_at {
                    Some(at) if now >= at => {
                        warmed += 1;
                        if let Err(e) = self.engine.prewarm() {
                            break Err(e);
                        }
                    }
                    Some(at) => std::thread::park_timeout((at - now).min(IDLE)),
                    None => std::thread::park_timeout(IDLE),
                }
            }
        };
        (self.engine, result)
    }
}

/// Pins the current thread to `core` when one is given.
fn pin(core: Option<usize>) {
    if let Some(id) = core
        && !core_affinity::set_for_current(core_affinity::CoreId { id })
    {
        tracing::warn!("could not pin a session thread to core {id}");
    }
}

fn spawn<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .expect("the OS can start a thread")
}

/// The one-line status.
fn status_line(c: &Counters, elapsed: Duration) -> String {
    let ms = |v: u64| v as f64 / 1e6;
    format!(
        "run {:7.1} s | frames {} | compute p50 {:.3} ms p99 {:.3} ms | underruns {} | gaps {} | \
         duplicates {} | dropped {} | reconnects {} | rss {:.1} MB | {}",
        elapsed.as_secs_f64(),
        Counters::get(&c.frames),
        ms(Counters::get(&c.compute_p50_ns)),
        ms(Counters::get(&c.compute_p99_ns)),
        Counters::get(&c.underruns),
        Counters::get(&c.gaps),
        Counters::get(&c.duplicates),
        Counters::get(&c.dropped_frames),
        Counters::get(&c.reconnects),
        current_rss_mb(),
        if c.connected.load(Ordering::Relaxed) {
            "stream connected"
        } else {
            "STREAM LOST, playing silence"
        }
    )
}

/// Writes frame records as CSV lines until told to stop.
fn csv_writer(
    path: PathBuf,
    mut records: HeapCons<FrameRecord>,
    control: Receiver<Control>,
) -> Result<(), SessionError> {
    let err = |source| SessionError::Csv {
        path: path.clone(),
        source,
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).map_err(err)?);
    writeln!(
        out,
        "seq,arrival_ns,features_ns,decoder_ns,vocoder_ns,compute_ns,transport_ns"
    )
    .map_err(err)?;
    loop {
        let stop = Control::should_stop(&control);
        while let Some(r) = records.try_pop() {
            writeln!(
                out,
                "{},{},{},{},{},{},{}",
                r.seq,
                r.arrival_ns,
                r.features_ns,
                r.decoder_ns,
                r.vocoder_ns,
                r.vocoder_ns.saturating_sub(r.arrival_ns),
                r.transport_ns
            )
            .map_err(err)?;
        }
        if stop {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    out.flush().map_err(err)
}

/// The sink before the threads start: the null sink's player waiting for its
/// thread, or an opened sound device.
enum PendingSink {
    Null(Box<Player>),
    #[cfg(feature = "audio")]
    Device(super::sinks::cpal::DeviceSink),
}

/// The running sink, whatever it is.
enum SinkHandle {
    Null(JoinHandle<Player>, Sender<Control>),
    #[cfg(feature = "audio")]
    Device(super::sinks::cpal::DeviceSink),
}

/// Puts the margin's figures, in milliseconds, into the report.
fn set_margin(r: &mut PlayoutReport, m: MarginSummary) {
    r.margin_adaptive = m.adaptive;
    r.margin_floor_ms = m.floor_s * 1000.0;
    r.margin_start_ms = m.start_s * 1000.0;
    r.margin_final_ms = m.final_s * 1000.0;
    r.margin_peak_ms = m.peak_s * 1000.0;
    r.margin_raises = m.raises;
}

/// The playout buffer in one line, as printed at start and after a session.
pub fn playout_line(r: &PlayoutReport) -> String {
    let period = match (r.device_period_frames, r.device_rate_hz) {
        (Some(f), Some(hz)) => format!(
            ", device period {f} frames at {hz} Hz ({:.2} ms)",
            f64::from(f) * 1000.0 / f64::from(hz)
        ),
        (None, Some(_)) => ", device period: the device's default".into(),
        _ => String::new(),
    };
    let margin = if r.margin_adaptive {
        format!(
            "margin adaptive: floor {:.2} ms, start {:.2}, now {:.2}, peak {:.2} ({} raises)",
            r.margin_floor_ms,
            r.margin_start_ms,
            r.margin_final_ms,
            r.margin_peak_ms,
            r.margin_raises
        )
    } else {
        format!("margin fixed at {:.2} ms", r.margin_floor_ms)
    };
    format!(
        "playout: {} sink, {}-sample blocks ({:.2} ms, {}{}){period}; {margin}",
        r.sink,
        r.block_samples,
        r.block_ms,
        if r.block_auto { "auto" } else { "--block" },
        if r.block_divides_hop {
            format!(", dividing the {}-sample hop", r.hop_samples)
        } else {
            format!(", not dividing the {}-sample hop", r.hop_samples)
        }
    )
}

/// Runs a live session until `duration` passes or `stop` is set (by a signal
/// handler), then writes nothing itself: the caller gets the report.
pub fn run(
    bundle: &Bundle,
    options: &SessionOptions,
    stop: Arc<AtomicBool>,
) -> Result<SessionOutcome, SessionError> {
    let m = &bundle.manifest;
    let expected = Expected {
        channels: m.input.channels,
        rate_hz: m.input.sample_rate_hz,
    };
    let stream = resolve_checked(
        &options.query,
        expected,
        &bundle.dir.display().to_string(),
        options.resolve_timeout,
    )?;
    // Load, optimize (or take the cached graph) and warm up before any thread starts.
    let engine = Engine::build(bundle, &options.decoder)?;
    if let Some(ready) = options.on_engine_ready {
        ready(&engine);
    }
    let sr = m.vocoder.sample_rate_hz;
    let hop = m.vocoder.hop_length;
    let ch = expected.channels;
    let rate = expected.rate_hz;

    // Rings: two seconds of input, one second of audio.
    let in_cap = (2.0 * rate).ceil() as usize;
    let (meta_p, meta_c) = ring::<SampleMeta>(in_cap);
    let (data_p, data_c) = ring::<f32>(in_cap * ch);
    let (audio_p, audio_c) = ring::<f32>(sr as usize);
    let (stamps_p, stamps_c) = ring::<FrameStamp>(sr as usize / hop + 1);
    let (wav_p, wav_c) = ring::<f32>(4 * sr as usize);
    let (csv_p, csv_c) = ring::<FrameRecord>(400);
    let counters = Arc::new(Counters::default());
    let epoch = Instant::now();

    let playback = engine.latency().playback.clone();
    let fixed = engine.fixed_delays().total();
    #[cfg_attr(not(feature = "audio"), allow(unused_mut))]
    let mut block = blocks::block_for(options.block, hop, sr);
    #[cfg_attr(not(feature = "audio"), allow(unused_mut))]
    let mut playout = PlayoutReport {
        sink: "null".into(),
        block_auto: options.block.is_none(),
        hop_samples: hop,
        ..PlayoutReport::default()
    };
    // A sound device opens before any file or thread exists, so a missing one
    // is an error with nothing started or left behind; the period it accepts
    // is the player's block.
    #[cfg(feature = "audio")]
    let device = match &options.audio {
        AudioChoice::Null => None,
        AudioChoice::Device(name) => {
            let d = super::sinks::cpal::OpenDevice::open(name.as_deref(), sr, block)?;
            block = d.block();
            playout.sink = "device".into();
            playout.device_period_frames = d.period_frames();
            playout.device_rate_hz = Some(d.device_rate());
            Some(d)
        }
    };
    #[cfg(not(feature = "audio"))]
    if options.audio != AudioChoice::Null {
        return Err(SessionError::NoAudioFeature);
    }
    playout.block_samples = block;
    playout.block_ms = block as f64 * 1000.0 / f64::from(sr);
    playout.block_divides_hop = blocks::divides_hop(block, hop);
    let player = Player::new(
        audio_c,
        stamps_c,
        PlayerConfig {
            margin: Duration::from_secs_f64(options.margin_ms.max(0.0) / 1000.0),
            adaptive: options.adaptive_margin,
            block,
            hop,
            rate: sr,
            fixed,
        },
        playback,
        counters.clone(),
    );
    set_margin(&mut playout, player.margin());
    eprintln!("{}", playout_line(&playout));
    // The device's callback plays silence until the player has primed.
    #[cfg(feature = "audio")]
    let pending = match device {
        None => PendingSink::Null(Box::new(player)),
        Some(d) => PendingSink::Device(d.start(player, counters.clone())?),
    };
    #[cfg(not(feature = "audio"))]
    let pending = PendingSink::Null(Box::new(player));
    let wav_writer = match &options.wav {
        Some(p) => Some(wav::WavWriter::create(p, sr)?),
        None => None,
    };

    // Everything the session needs is allocated: lock it (and, when that is
    // safe, what comes later), before any session thread exists.
    let mut grants = options.realtime.then(|| vec![realtime::lock_memory()]);

    // Parties: worker, reader, the null sink's thread, the writers, and this thread.
    let threads = 3
        + usize::from(options.audio == AudioChoice::Null)
        + usize::from(wav_writer.is_some())
        + usize::from(options.csv.is_some())
        + usize::from(options.lsl_audio.is_some());
    let barrier = Arc::new(Barrier::new(threads));
    let mut controls: Vec<(&'static str, Sender<Control>)> = Vec::new();

    // The LSL audio outlet before any other thread: liblsl may refuse it.
    let (lsl_feed, lsl_thread) = match &options.lsl_audio {
        Some(name) => {
            let config = lsl_outlet::OutletConfig {
                name: name.clone(),
                rate: sr,
                hop,
                model: m.name.clone(),
                source: stream.to_string(),
                algorithmic_latency_ms: engine.algorithmic_latency_s() * 1000.0,
            };
            let (feed, thread) = match lsl_outlet::start(config, barrier.clone()) {
                Ok(started) => started,
                Err(e) => {
                    // Nothing has started: leave no unfinished file behind.
                    if let Some(w) = wav_writer {
                        w.discard();
                    }
                    return Err(e.into());
                }
            };
            controls.push(("lsl-audio", thread.control()));
            (Some(feed), Some(thread))
        }
        None => (None, None),
    };

    // Worker first: the reader needs its handle to wake it.
    let (wtx, wrx) = unbounded();
    controls.push(("worker", wtx));
    let worker = Worker {
        engine,
        meta: meta_c,
        data: data_c,
        audio: audio_p,
        stamps: stamps_p,
        wav: wav_writer.as_ref().map(|_| wav_p),
        lsl_audio: lsl_feed,
        csv: options.csv.as_ref().map(|_| csv_p),
        counters: counters.clone(),
        control: wrx,
        channels: ch,
        max_backlog: ((options.max_backlog_ms / 1000.0) * rate).ceil() as usize,
        samples_per_frame: rate * m.features.hop_ms / 1000.0,
        warm_after: options.prewarm.then(|| {
            let hop = Duration::from_secs_f64(m.features.hop_ms / 1000.0);
            PREWARM_LEADS_US.map(|us| hop.saturating_sub(Duration::from_micros(us)))
        }),
        epoch,
    };
    let core = options.pin_cores.first().copied();
    let b = barrier.clone();
    let sample = vec![0.0f32; ch];
    let worker_handle = spawn("ns-worker", move || {
        pin(core);
        b.wait();
        worker.run(sample)
    });

    let (rtx, rrx) = unbounded();
    let reader = Reader {
        query: options.query.clone(),
        expected,
        meta: meta_p,
        data: data_p,
        counters: counters.clone(),
        control: rrx,
        worker: worker_handle.thread().clone(),
    };
    let b = barrier.clone();
    let reader_handle = spawn("ns-lsl-reader", move || reader.run(&b));
    if let Some(g) = grants.as_mut() {
        g.push(realtime::set_fifo(
            &worker_handle,
            realtime::WORKER_PRIORITY,
        ));
        g.push(realtime::set_fifo(
            &reader_handle,
            realtime::READER_PRIORITY,
        ));
    }

    let sink_core = options.pin_cores.get(1).copied();
    let sink = match pending {
        PendingSink::Null(player) => {
            let (tx, rx) = unbounded();
            let b = barrier.clone();
            let c = counters.clone();
            let h = spawn("ns-null-sink", move || {
                pin(sink_core);
                b.wait();
                null::run(*player, block, sr, c, rx)
            });
            if let Some(g) = grants.as_mut() {
                g.push(realtime::set_fifo(&h, realtime::SINK_PRIORITY));
            }
            SinkHandle::Null(h, tx)
        }
        #[cfg(feature = "audio")]
        PendingSink::Device(d) => {
            if let Some(g) = grants.as_mut() {
                g.push(realtime::device_callback());
            }
            SinkHandle::Device(d)
        }
    };
    for g in grants.iter().flatten().filter(|g| g.refused.is_some()) {
        tracing::warn!("real time not (fully) granted, the session runs on: {g}");
    }

    let wav_handle = wav_writer.map(|w| {
        let (tx, rx) = unbounded();
        controls.push(("wav", tx));
        let b = barrier.clone();
        spawn("ns-wav-writer", move || {
            b.wait();
            wav::run(w, wav_c, rx)
        })
    });
    let csv_handle = options.csv.clone().map(|path| {
        let (tx, rx) = unbounded();
        controls.push(("csv", tx));
        let b = barrier.clone();
        spawn("ns-csv-writer", move || {
            b.wait();
            csv_writer(path, csv_c, rx)
        })
    });
    // The main thread is the last party; everything starts together.
    barrier.wait();
    let start = Instant::now();
    let mut next_status = options.status_every.map(|d| start + d);
    // One stop path for every way a session ends: the duration, a signal,
    // or a thread that ended on its own (an error: a file that cannot be
    // written, the decoder failing, a panic). Every thread is stopped and
    // joined whatever happened, so the files are finished and the report
    // covers the session; the first error is returned with it.
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let now = Instant::now();
        let failed = worker_handle.is_finished()
            || reader_handle.is_finished()
            || matches!(&sink, SinkHandle::Null(h, _) if h.is_finished())
            || wav_handle.as_ref().is_some_and(JoinHandle::is_finished)
            || csv_handle.as_ref().is_some_and(JoinHandle::is_finished)
            || lsl_thread
                .as_ref()
                .is_some_and(lsl_outlet::OutletThread::is_finished);
        if stop.load(Ordering::Relaxed)
            || options.duration.is_some_and(|d| now - start >= d)
            || failed
        {
            break;
        }
        if let Some(t) = next_status
            && now >= t
        {
            eprintln!("{}", status_line(&counters, now - start));
            next_status = options.status_every.map(|d| t + d);
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let mut error: Option<SessionError> = None;
    let mut keep = |e: SessionError| {
        if error.is_none() {
            error = Some(e);
        }
    };

    // The sink stops first, so the end of the input is not counted as an
    // underrun; then the reader, the worker, and the writers, which drain.
    let audio = match &sink {
        SinkHandle::Null(..) => format!("null: clock-paced, {block}-sample blocks at {sr} Hz"),
        #[cfg(feature = "audio")]
        SinkHandle::Device(s) => format!("device: {}", s.description()),
    };
    let player = match sink {
        SinkHandle::Null(h, tx) => {
            let _ = tx.send(Control::Stop);
            h.join()
                .map_err(|_| SessionError::Panicked("sink"))
                .map(Some)
        }
        #[cfg(feature = "audio")]
        SinkHandle::Device(s) => Ok(s.stop()),
    };
    let player = player.unwrap_or_else(|e| {
        keep(e);
        None
    });
    if let Some(p) = &player {
        set_margin(&mut playout, p.margin());
    }
    let playback = player.map_or_else(PlaybackHistograms::default, Player::into_histograms);
    let _ = rtx.send(Control::Stop);
    if reader_handle.join().is_err() {
        keep(SessionError::Panicked("reader"));
    }
    for (_, tx) in controls.iter().filter(|(n, _)| *n == "worker") {
        let _ = tx.send(Control::Stop);
    }
    worker_handle.thread().unpark();
    let engine = match worker_handle.join() {
        Ok((engine, result)) => {
            if let Err(e) = result {
                keep(e.into());
            }
            Some(engine)
        }
        Err(_) => {
            keep(SessionError::Panicked("worker"));
            None
        }
    };
    for (_, tx) in controls.iter().filter(|(n, _)| *n != "worker") {
        let _ = tx.send(Control::Stop);
    }
    let wav_samples = match wav_handle.map(JoinHandle::join) {
        Some(Ok(Ok(n))) => Some(n),
        Some(Ok(Err(e))) => {
            keep(e.into());
            None
        }
        Some(Err(_)) => {
            keep(SessionError::Panicked("wav writer"));
            None
        }
        None => None,
    };
    match csv_handle.map(JoinHandle::join) {
        Some(Ok(Err(e))) => keep(e),
        Some(Err(_)) => keep(SessionError::Panicked("csv writer")),
        _ => {}
    }
    let lsl_audio = match lsl_thread.map(lsl_outlet::OutletThread::join) {
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            keep(e.into());
            None
        }
        None => None,
    };
    // Without the worker's engine there is nothing to report.
    let Some(mut engine) = engine else {
        return Err(error.unwrap_or(SessionError::Panicked("worker")));
    };
    if options.status_every.is_some() {
        eprintln!("{}", status_line(&counters, start.elapsed()));
    }

    engine.latency_mut().playback = playback;
    let mut outputs = BTreeMap::new();
    outputs.insert("audio".to_string(), audio);
    if let Some(p) = &options.wav {
        outputs.insert("wav".to_string(), p.display().to_string());
    }
    if let Some(p) = &options.csv {
        outputs.insert("csv".to_string(), p.display().to_string());
    }
    if let Some(name) = &options.lsl_audio {
        outputs.insert("lsl_audio".to_string(), format!("lsl: {name}"));
    }
    let c = &counters;
    let samples_in = Counters::get(&c.samples_in);
    let report = RunReport {
        schema: SCHEMA,
        command: "run".to_string(),
        model: ModelReport {
            name: m.name.clone(),
            path: bundle.dir.display().to_string(),
            sha256: bundle.sha256().to_string(),
            graph_cache: Some(engine.graph_cache().clone()),
            state: engine.state_report(),
        },
        input: format!("lsl: {stream}"),
        frames: engine.frames(),
        audio_seconds: (engine.frames() as usize * hop) as f64 / sr as f64,
        wall_seconds: wall,
        realtime_factor: samples_in as f64 / rate / wall.max(1e-9),
        latency_ms: engine.latency().report(engine.fixed_delays()),
        accuracy: None,
        faults: FaultReport {
            gaps: Counters::get(&c.gaps),
            missing_samples: Counters::get(&c.missing_samples),
            duplicated_samples: Counters::get(&c.duplicates),
            dropped_samples: Counters::get(&c.dropped_samples),
            dropped_frames: Counters::get(&c.dropped_frames),
            underruns: Counters::get(&c.underruns),
            late_frames: Counters::get(&c.late_frames),
            latency_adjustments: Counters::get(&c.latency_adjustments),
            nonfinite_samples: engine.nonfinite_samples(),
            reconnects: Counters::get(&c.reconnects),
            bad_timestamps: Counters::get(&c.bad_timestamps),
            wav_dropped_frames: Counters::get(&c.wav_dropped_frames),
            csv_dropped_frames: Counters::get(&c.csv_dropped_frames),
            lsl_audio_dropped_frames: Counters::get(&c.lsl_audio_dropped_frames),
            stopped_by_error: error.as_ref().map(ToString::to_string),
        },
        memory: MemoryReport {
            peak_rss_mb: peak_rss_mb(),
            model_bytes: bundle.model_bytes,
        },
        outputs,
        realtime_request: grants,
        playout: Some(playout),
    };
    Ok(SessionOutcome {
        report,
        stream,
        wav_samples,
        lsl_audio,
        error,
    })
}
