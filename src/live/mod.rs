//! Live sessions over Lab Streaming Layer: choosing the liblsl configuration
//! ([`lsl_config`]), the LSL [`source`] and its reader thread, which checks
//! and repairs the stream's timestamps ([`stamps`]), the [`rings`]
//! between threads, the audio [`sinks`], the [`session`] that runs them, and
//! [`stream_file`], which serves a recording as a live stream. The reader's
//! idle sleeps follow the stream's schedule ([`pacing`]); [`realtime`] locks
//! memory and asks `SCHED_FIFO` for the hot threads.
//!
//! Only this module names `lsl`; only [`sinks::cpal`] names `cpal`.

pub mod lsl_config;
pub mod pacing;
pub mod realtime;
pub mod rings;
#[cfg(feature = "lsl")]
pub mod session;
pub mod sinks;
#[cfg(feature = "lsl")]
pub mod source;
pub mod stamps;
#[cfg(feature = "lsl")]
pub mod stream_file;

/// Control messages for every session thread: a closed set, drained between
/// frames (or blocks) with `try_recv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Finish (drain what must be kept, close files) and return.
    Stop,
}

impl Control {
    /// Whether a thread should stop: it was told to, or whoever controls it
    /// is gone (a disconnected channel means stop, so no thread outlives the
    /// session that started it).
    pub fn should_stop(control: &crossbeam_channel::Receiver<Control>) -> bool {
        matches!(
            control.try_recv(),
            Ok(Control::Stop) | Err(crossbeam_channel::TryRecvError::Disconnected)
        )
    }
}
