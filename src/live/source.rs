//! The LSL source: resolving the EEG stream, checking it against the model,
//! and the reader thread that pulls samples into the sample rings, watches
//! timestamps for gaps and duplicates (and replaces unusable ones, see
//! [`super::stamps`]), and reconnects when the stream comes
//! back after it was lost.
//!
//! liblsl handles are not `Send`, so the reader thread resolves and opens its
//! own inlet; the main thread only resolves once to check the stream before
//! the session starts.

use super::pacing::Pacer;
use super::rings::{Counters, SampleMeta};
use super::stamps::{StampCheck, Verdict};
use crossbeam_channel::Receiver;
use ringbuf::HeapProd;
use ringbuf::traits::{Observer, Producer};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// Which stream to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamQuery {
    /// By stream name.
    Name(String),
    /// By content type (e.g. `EEG`).
    Type(String),
    /// By source id.
    SourceId(String),
}

impl StreamQuery {
    /// The LSL property and value this query matches.
    fn prop(&self) -> (&'static str, &str) {
        match self {
            StreamQuery::Name(v) => ("name", v),
            StreamQuery::Type(v) => ("type", v),
            StreamQuery::SourceId(v) => ("source_id", v),
        }
    }
}

impl std::fmt::Display for StreamQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (p, v) = self.prop();
        write!(f, "{p} = {v:?}")
    }
}

/// What the model needs from the stream.
#[derive(Clone, Copy, Debug)]
pub struct Expected {
    pub channels: usize,
    pub rate_hz: f64,
}

/// A resolved stream, in plain data.
#[derive(Clone, Debug)]
pub struct StreamSummary {
    pub name: String,
    pub stream_type: String,
    pub source_id: String,
    pub uid: String,
    pub hostname: String,
    pub channels: usize,
    pub rate_hz: f64,
    pub format: String,
}

impl std::fmt::Display for StreamSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} (type {:?}, source_id {:?}, {} channels of {} at {} Hz, on {})",
            self.name,
            self.stream_type,
            self.source_id,
            self.channels,
            self.format,
            self.rate_hz,
            self.hostname
        )
    }
}

fn summary(info: &lsl::StreamInfo) -> StreamSummary {
    StreamSummary {
        name: info.stream_name(),
        stream_type: info.stream_type(),
        source_id: info.source_id(),
        uid: info.uid(),
        hostname: info.hostname(),
        channels: info.channel_count().max(0) as usize,
        rate_hz: info.nominal_srate(),
        format: format!("{:?}", info.channel_format()).to_lowercase(),
    }
}

/// Errors of the LSL source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// No stream matched the query.
    #[error(
        "no LSL stream with {query} appeared within {timeout_s} s; visible streams:\n{}\n\
         start the amplifier's LSL app or `neurospeak stream-file REC --name NAME`, check the name, \
         and run both with the same --lsl-config/--lsl-local",
        if .visible.is_empty() { "  (none)".to_string() } else {
            .visible.iter().map(|s| format!("  - {s}")).collect::<Vec<_>>().join("\n")
        }
    )]
    NotFound {
        query: StreamQuery,
        timeout_s: f64,
        visible: Vec<StreamSummary>,
    },
    /// The stream does not fit the model.
    #[error(
        "LSL stream {stream} does not fit the model {model}: the model expects {expected_channels} \
         channels of float32 at {expected_rate} Hz but the stream has {found_channels} channels of \
         {found_format} at {found_rate} Hz; pick the stream of the montage the model was trained on \
         (or a model for this stream)"
    )]
    Mismatch {
        stream: String,
        model: String,
        expected_channels: usize,
        expected_rate: f64,
        found_channels: usize,
        found_format: String,
        found_rate: f64,
    },
    /// liblsl failed.
    #[error("liblsl failed while {doing}: {error:?}; check the LSL configuration (--lsl-config)")]
    Lsl {
        doing: &'static str,
        error: lsl::Error,
    },
}

/// Lists every stream visible within `wait_s` seconds.
pub fn visible_streams(wait_s: f64) -> Vec<StreamSummary> {
    lsl::resolve_streams(wait_s)
        .map(|v| v.iter().map(summary).collect())
        .unwrap_or_default()
}

fn fits(s: &StreamSummary, want: Expected) -> bool {
    s.channels == want.channels
        && (s.rate_hz - want.rate_hz).abs() <= 1e-6 * want.rate_hz
        && (s.format == "float32" || s.format == "double64")
}

/// Resolves the stream and checks it against the model before a session
/// starts.
pub fn resolve_checked(
    query: &StreamQuery,
    want: Expected,
    model: &str,
    timeout: Duration,
) -> Result<StreamSummary, SourceError> {
    let (prop, value) = query.prop();
    let found = lsl::resolve_byprop(prop, value, 1, timeout.as_secs_f64()).map_err(|error| {
        SourceError::Lsl {
            doing: "resolving streams",
            error,
        }
    })?;
    let Some(info) = found.first() else {
        return Err(SourceError::NotFound {
            query: query.clone(),
            timeout_s: timeout.as_secs_f64(),
            visible: visible_streams(1.0),
        });
    };
    let s = summary(info);
    if !fits(&s, want) {
        return Err(SourceError::Mismatch {
            stream: s.name.clone(),
            model: model.to_string(),
            expected_channels: want.channels,
            expected_rate: want.rate_hz,
            found_channels: s.channels,
            found_format: s.format.clone(),
            found_rate: s.rate_hz,
        });
    }
    Ok(s)
}

pub use crate::live::Control;

/// Everything the reader thread owns.
pub struct Reader {
    pub query: StreamQuery,
    pub expected: Expected,
    pub meta: HeapProd<SampleMeta>,
    pub data: HeapProd<f32>,
    pub counters: Arc<Counters>,
    pub control: Receiver<Control>,
    /// The worker, woken after each chunk.
    pub worker: Thread,
}

/// How long without data before the reader checks that the stream still exists.
const STALL: Duration = Duration::from_millis(200);
/// How long one resolve attempt waits (it returns as soon as the stream
/// answers). liblsl sends its unicast query wave about 0.5 s after the first
/// (multi)cast wave; with the loopback configuration the first wave goes to
/// 127.0.0.1, where only the outlet that bound the port last answers it, so
/// an EEG outlet older than another outlet on the machine (such as
/// `run --lsl-audio`'s own) answers only the unicast wave.
const RESOLVE_WAIT_S: f64 = 1.0;
/// While the stream is missing, attempts alternate: short ones find an
/// outlet that has just (re)started — the newest, which answers the first
/// wave — within a few hundred milliseconds; every third waits for the
/// unicast wave, for an older outlet.
const RECONNECT_WAITS_S: [f64; 3] = [0.2, 0.2, RESOLVE_WAIT_S];
/// How often the clock offset is refreshed.
const CORRECTION_EVERY: Duration = Duration::from_secs(5);
/// How often to look for the first clock offset after connecting.
const CORRECTION_PENDING: Duration = Duration::from_millis(50);

struct Connection {
    inlet: lsl::StreamInlet,
    uid: String,
    /// The remote clock's offset from ours, once liblsl has measured it.
    correction: Option<f64>,
    stamps: StampCheck,
    last_data: Instant,
    last_check: Instant,
    last_correction: Instant,
}

impl Reader {
    /// Opens the inlet (the stream was just resolved: this attempt waits
    /// long enough for any outlet), waits at `start` for the other threads,
    /// then runs until told to stop, so a session starts connected and
    /// connecting is not part of its steady state. Keeps running while the
    /// stream is gone, re-resolving it every few hundred milliseconds.
    pub fn run(mut self, start: &Barrier) {
        let ch = self.expected.channels;
        let mut buf = vec![0.0f32; ch];
        let mut conn = self.connect(RESOLVE_WAIT_S);
        let mut ever_connected = conn.is_some();
        self.counters
            .connected
            .store(ever_connected, Ordering::Relaxed);
        let mut lost_at: Option<Instant> = None;
        // When to look at the inlet again while it is empty (see `pacing`).
        let mut pacer = Pacer::default();
        // After a failed or lost connection, the short attempts come first.
        let mut attempts = 0;
        // Whether the next sample is the first after a reconnect.
        let mut reconnected = false;
        start.wait();
        loop {
            if Control::should_stop(&self.control) {
                break;
            }
            let Some(c) = conn.as_mut() else {
                let wait = RECONNECT_WAITS_S[attempts % RECONNECT_WAITS_S.len()];
                attempts += 1;
                conn = self.connect(wait);
                pacer.reset();
                if conn.is_some() {
                    if ever_connected {
                        reconnected = true;
                        Counters::add(&self.counters.reconnects, 1);
                        let away = lost_at.map_or(0.0, |t| t.elapsed().as_secs_f64());
                        tracing::warn!(
                            "the LSL stream {} is back after {away:.2} s; reconnected",
                            self.query
                        );
                    }
                    ever_connected = true;
                    self.counters.connected.store(true, Ordering::Relaxed);
                }
                continue;
            };
            let mut pulled = 0usize;
            let mut lost = false;
            loop {
                use lsl::Pullable;
                // Never a blocking pull: liblsl waits for data in steps of
                // 1 ms sleeps, which would add up to a millisecond of jitter
                // to every frame's arrival.
                let ts = match c.inlet.pull_sample_buf(&mut buf, 0.0) {
                    Ok(ts) => ts,
                    Err(_) => {
                        lost = true;
                        break;
                    }
                };
                if ts == 0.0 {
                    break;
                }
                let arrival = Instant::now();
                let now = lsl::local_clock();
                // Judged on the sender's clock, so offset updates do not look
                // like gaps; unusable stamps are replaced (see `stamps`).
                let mut missing_before = 0;
                let ts = match c.stamps.check(ts, now, c.correction) {
                    Verdict::Good { ts, missing } => {
                        if missing > 0 {
                            Counters::add(&self.counters.gaps, 1);
                            Counters::add(&self.counters.missing_samples, missing);
                            missing_before = u32::try_from(missing).unwrap_or(u32::MAX);
                        }
                        ts
                    }
                    Verdict::Duplicate => {
                        // Already delivered (or out of order): drop it.
                        Counters::add(&self.counters.duplicates, 1);
                        continue;
                    }
                    Verdict::Repaired { ts } => {
                        Counters::add(&self.counters.bad_timestamps, 1);
                        ts
                    }
                };
                let transport_s = (now - (ts + c.correction.unwrap_or(0.0))) as f32;
                Counters::add(&self.counters.samples_in, 1);
                if self.meta.vacant_len() == 0 || self.data.vacant_len() < ch {
                    Counters::add(&self.counters.dropped_samples, 1);
                    continue;
                }
                self.data.push_slice(&buf);
                let _ = self.meta.try_push(SampleMeta {
                    arrival,
                    transport_s,
                    missing_before,
                    reconnected,
                    corrected: c.correction.is_some(),
                });
                reconnected = false;
                pulled += 1;
                if pulled.is_multiple_of(64) {
                    self.worker.unpark();
                }
            }
            let now = Instant::now();
            if pulled > 0 {
                self.worker.unpark();
                c.last_data = now;
                pacer.chunk(now);
            } else {
                std::thread::sleep(pacer.idle(now));
            }
            let refresh = if c.correction.is_some() {
                CORRECTION_EVERY
            } else {
                CORRECTION_PENDING
            };
            if now.duration_since(c.last_correction) >= refresh {
                if let Ok(t) = c.inlet.time_correction(0.0) {
                    c.correction = Some(t);
                }
                c.last_correction = now;
            }
            if !lost
                && now.duration_since(c.last_data) >= STALL
                && now.duration_since(c.last_check) >= STALL
            {
                c.last_check = now;
                let alive = lsl::resolve_byprop("uid", &c.uid, 1, RESOLVE_WAIT_S)
                    .map(|v| !v.is_empty())
                    .unwrap_or(true);
                lost = !alive;
            }
            if lost {
                tracing::warn!("the LSL stream {} was lost; waiting for it", self.query);
                conn = None;
                lost_at = Some(Instant::now());
                attempts = 0;
                self.counters.connected.store(false, Ordering::Relaxed);
            }
        }
    }

    /// Resolves the stream once and opens an inlet; `None` when it is not
    /// there (yet) or does not fit.
    fn connect(&self, wait_s: f64) -> Option<Connection> {
        let (prop, value) = self.query.prop();
        let found = lsl::resolve_byprop(prop, value, 1, wait_s).ok()?;
        let info = found.iter().find(|i| fits(&summary(i), self.expected))?;
        // About one second of buffer: a real-time reader never wants more.
        let inlet = lsl::StreamInlet::new(info, 1, 0, false).ok()?;
        inlet.open_stream(2.0).ok()?;
        // liblsl measures the clock offset in the background (a few probes,
        // about half a second); waiting for it here would delay every
        // reconnection by as much. Until it is known, transport latency is
        // not recorded.
        let correction = inlet.time_correction(0.0).ok();
        let now = Instant::now();
        tracing::info!("connected to the LSL stream {}", summary(info));
        Some(Connection {
            uid: info.uid(),
            inlet,
            correction,
            stamps: StampCheck::new(self.expected.rate_hz),
            last_data: now,
            last_check: now,
            last_correction: now,
        })
    }
}
