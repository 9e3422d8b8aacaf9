//! The LSL audio outlet (`run --lsl-audio NAME`): a thread that publishes the
//! decoded speech as an LSL stream, so LabRecorder (or any LSL consumer)
//! can record it beside the EEG.
//!
//! The stream: type `Audio`, one float32 channel (label `decoded_speech`) at
//! the vocoder's sample rate, one chunk per decoded frame (one hop of audio),
//! `desc/neurospeak` naming the model, the EEG stream it was decoded from and
//! the algorithmic latency.
//!
//! The worker only calls [`Feed::push`]: the frame's audio into one SPSC
//! ring, then one [`Stamp`] into another; nothing is allocated, locked or
//! logged. liblsl handles are not `Send`, so [`start`] creates the outlet on
//! the outlet's own thread and waits for it before the session starts: a
//! liblsl error is returned then, not after the session.
//!
//! Timestamps: the last sample of frame k's chunk carries the LSL timestamp
//! (on this machine's clock, after `time_correction`) of the newest EEG
//! sample frame k needed; the samples before it are spaced at the nominal
//! rate. The decoded speech thus sits on the EEG stream's timeline (within one
//! EEG sample period), late by the session's algorithmic latency.

use crate::live::Control;
use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use ringbuf::traits::{Consumer, Observer, Producer};
use ringbuf::{HeapCons, HeapProd};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::live::rings::ring;

/// How often the outlet thread looks for decoded audio (a frame is 10 ms).
const POLL: Duration = Duration::from_millis(2);

/// Seconds of audio the ring between the worker and the outlet holds.
const RING_SECONDS: usize = 4;

/// What the outlet publishes, and what its description says.
#[derive(Clone, Debug)]
pub struct OutletConfig {
    /// The stream's name.
    pub name: String,
    /// Audio samples per second (the vocoder's rate).
    pub rate: u32,
    /// Audio samples per decoded frame.
    pub hop: usize,
    /// The model's name, for the description.
    pub model: String,
    /// The EEG stream decoded, for the description.
    pub source: String,
    /// The session's algorithmic latency, for the description.
    pub algorithmic_latency_ms: f64,
}

/// The source id of the audio outlet published under `name`.
pub fn source_id(name: &str) -> String {
    format!("neurospeak-run-audio:{name}")
}

/// Errors of the LSL audio outlet.
#[derive(Debug, thiserror::Error)]
pub enum OutletError {
    #[error(
        "liblsl failed while {doing} for the audio outlet {name:?}: {error:?}; check the LSL \
         configuration (--lsl-config / --lsl-local)"
    )]
    Lsl {
        name: String,
        doing: &'static str,
        error: lsl::Error,
    },
    #[error(
        "the LSL audio outlet thread panicked; this is a bug, please report it with the command line"
    )]
    Panicked,
}

/// Where frame k's audio came from in time: the arrival of the newest EEG
/// sample it needed, and that sample's transport delay.
#[derive(Clone, Copy, Debug)]
pub struct Stamp {
    /// When the reader took the sample from the inlet.
    pub arrival: Instant,
    /// Arrival − the sample's LSL timestamp on the local clock, in seconds.
    pub transport_s: f32,
    /// Audio samples of the frame.
    pub len: u32,
}

/// The worker's side: the producer halves of the outlet's rings.
pub struct Feed {
    audio: HeapProd<f32>,
    stamps: HeapProd<Stamp>,
}

impl Feed {
    /// Queues one frame's audio for the outlet. Returns false, pushing
    /// nothing, when the rings cannot take the whole frame. Allocates
    /// nothing, locks nothing, logs nothing.
    #[inline]
    pub fn push(&mut self, audio: &[f32], arrival: Instant, transport_s: f32) -> bool {
        if self.audio.vacant_len() < audio.len() || self.stamps.is_full() {
            return false;
        }
        // Values first, then the stamp: the outlet never sees a stamp
        // without its audio.
        self.audio.push_slice(audio);
        let _ = self.stamps.try_push(Stamp {
            arrival,
            transport_s,
            len: audio.len() as u32,
        });
        true
    }
}

/// What the outlet published.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutletStats {
    pub frames: u64,
    pub samples: u64,
}

/// The running outlet thread.
pub struct OutletThread {
    handle: JoinHandle<Result<OutletStats, OutletError>>,
    control: Sender<Control>,
}

impl OutletThread {
    /// The control channel: [`Control::Stop`] makes the thread publish what
    /// the ring still holds and close the outlet.
    pub fn control(&self) -> Sender<Control> {
        self.control.clone()
    }

    /// True once the thread has ended (before [`Control::Stop`]: it failed).
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Waits for the thread (after [`Control::Stop`]).
    pub fn join(self) -> Result<OutletStats, OutletError> {
        self.handle.join().map_err(|_| OutletError::Panicked)?
    }
}

/// Creates the rings and the outlet thread, which opens the LSL outlet and
/// then waits at `barrier` with the session's other threads. Returns once the
/// outlet exists (it is then visible to LSL consumers), or with liblsl's
/// error, in which case the thread has ended and never reaches `barrier`.
pub fn start(
    config: OutletConfig,
    barrier: Arc<Barrier>,
) -> Result<(Feed, OutletThread), OutletError> {
    let rate = config.rate as usize;
    let hop = config.hop.max(1);
    let (audio_p, audio_c) = ring::<f32>(RING_SECONDS * rate);
    let (stamps_p, stamps_c) = ring::<Stamp>(RING_SECONDS * rate / hop + 1);
    let (ready_tx, ready_rx) = bounded(1);
    let (control_tx, control_rx) = unbounded();
    let handle = std::thread::Builder::new()
        .name("ns-lsl-audio".to_string())
        .spawn(move || {
            let outlet = match open(&config) {
                Ok(o) => {
                    let _ = ready_tx.send(Ok(()));
                    o
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return Ok(OutletStats::default());
                }
            };
            barrier.wait();
            publish(&config, &outlet, audio_c, stamps_c, control_rx)
        })
        .expect("the OS can start a thread");
    match ready_rx.recv() {
        Ok(Ok(())) => Ok((
            Feed {
                audio: audio_p,
                stamps: stamps_p,
            },
            OutletThread {
                handle,
                control: control_tx,
            },
        )),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => {
            let _ = handle.join();
            Err(OutletError::Panicked)
        }
    }
}

/// Describes and opens the outlet.
fn open(config: &OutletConfig) -> Result<lsl::StreamOutlet, OutletError> {
    let err = |doing| {
        let name = config.name.clone();
        move |error| OutletError::Lsl { name, doing, error }
    };
    let mut info = lsl::StreamInfo::new(
        &config.name,
        "Audio",
        1,
        config.rate as f64,
        lsl::ChannelFormat::Float32,
        &source_id(&config.name),
    )
    .map_err(err("describing the stream"))?;
    let mut desc = info.desc();
    let mut channel = desc.append_child("channels").append_child("channel");
    channel.append_child_value("label", "decoded_speech");
    channel.append_child_value("unit", "normalized");
    channel.append_child_value("type", "Audio");
    let mut ns = desc.append_child("neurospeak");
    ns.append_child_value("model", &config.model);
    ns.append_child_value("decoded_from", &config.source);
    ns.append_child_value(
        "algorithmic_latency_ms",
        &format!("{:.3}", config.algorithmic_latency_ms),
    );
    ns.append_child_value(
        "timestamps",
        "the last sample of each frame carries the LSL timestamp of the newest EEG sample the \
         frame needed",
    );
    desc.append_child_value("manufacturer", "NeuroSpeak run");
    // Each push is one chunk (one frame); up to 10 s are buffered for a slow consumer.
    lsl::StreamOutlet::new(&info, 0, 10).map_err(err("creating the outlet"))
}

/// Publishes frames until told to stop, then what the ring still holds.
fn publish(
    config: &OutletConfig,
    outlet: &lsl::StreamOutlet,
    mut audio: HeapCons<f32>,
    mut stamps: HeapCons<Stamp>,
    control: Receiver<Control>,
) -> Result<OutletStats, OutletError> {
    use lsl::ExPushable;
    let err = |error| OutletError::Lsl {
        name: config.name.clone(),
        doing: "pushing audio",
        error,
    };
    // Instants and liblsl's clock are both monotonic: one pair maps between them.
    let (i0, l0) = (Instant::now(), lsl::local_clock());
    let lsl_time = |t: Instant| match t.checked_duration_since(i0) {
        Some(d) => l0 + d.as_secs_f64(),
        None => l0 - i0.duration_since(t).as_secs_f64(),
    };
    let period = 1.0 / config.rate as f64;
    let mut buf = vec![0.0f32; config.hop.max(1)];
    let mut sample = vec![0.0f32; 1];
    let mut stats = OutletStats::default();
    loop {
        let stop = Control::should_stop(&control);
        while let Some(s) = stamps.try_pop() {
            let n = s.len as usize;
            if buf.len() < n {
                buf.resize(n, 0.0);
            }
            let got = audio.pop_slice(&mut buf[..n]);
            if got == 0 {
                continue;
            }
            let transport = if s.transport_s.is_finite() {
                s.transport_s as f64
            } else {
                0.0
            };
            let last = lsl_time(s.arrival) - transport;
            for (i, &v) in buf[..got].iter().enumerate() {
                sample[0] = v;
                let ts = if i == 0 {
                    last - (got - 1) as f64 * period
                } else {
                    lsl::DEDUCED_TIMESTAMP
                };
                outlet
                    .push_sample_ex(&sample, ts, i + 1 == got)
                    .map_err(err)?;
            }
            stats.frames += 1;
            stats.samples += got as u64;
        }
        if stop {
            break;
        }
        std::thread::sleep(POLL);
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(audio: usize, stamps: usize) -> (Feed, HeapCons<f32>, HeapCons<Stamp>) {
        let (ap, ac) = ring::<f32>(audio);
        let (sp, sc) = ring::<Stamp>(stamps);
        (
            Feed {
                audio: ap,
                stamps: sp,
            },
            ac,
            sc,
        )
    }

    #[test]
    fn a_frame_goes_in_whole_with_its_stamp_or_not_at_all() {
        let (mut f, mut audio, mut stamps) = feed(5, 8);
        let t = Instant::now();
        assert!(f.push(&[1.0, 2.0, 3.0], t, 0.25));
        // Two places left for three samples: nothing is pushed.
        assert!(!f.push(&[4.0, 5.0, 6.0], t, 0.0));
        assert_eq!(audio.occupied_len(), 3);
        assert_eq!(stamps.occupied_len(), 1);
        let s = stamps.try_pop().unwrap();
        assert_eq!((s.len, s.transport_s, s.arrival), (3, 0.25, t));
        let mut out = [0.0; 3];
        assert_eq!(audio.pop_slice(&mut out), 3);
        assert_eq!(out, [1.0, 2.0, 3.0]);
    }

    #[test]
    fn a_full_stamp_ring_refuses_the_frame() {
        let (mut f, audio, _stamps) = feed(64, 1);
        let t = Instant::now();
        assert!(f.push(&[0.5; 4], t, 0.0));
        assert!(!f.push(&[0.5; 4], t, 0.0));
        assert_eq!(audio.occupied_len(), 4);
    }
}
