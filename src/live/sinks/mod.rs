//! Audio sinks: where decoded audio goes. Every sink that plays audio pulls
//! blocks through a [`Player`], which never blocks: it pops what the ring
//! holds, fills the rest with silence and counts an underrun, keeps the
//! playout schedule (see [`player`]) with its adaptive margin ([`margin`])
//! in blocks chosen from the hop ([`blocks`]), and times the playback of
//! each frame's first sample for the arrival-to-playback and sensor-to-sound
//! latency. The WAV writer and the LSL audio outlet take every decoded frame
//! from rings of their own, on threads of their own.

pub mod blocks;
#[cfg(feature = "lsl")]
pub mod lsl_outlet;
pub mod margin;
pub mod null;
pub mod pacer;
pub mod phases;
pub mod player;
pub mod wav;

#[cfg(feature = "audio")]
pub mod cpal;

pub use player::{Player, PlayerConfig};
