//! Log-mel to audio: a real-time streaming vocoder and an offline reference.
//!
//! * [`StreamingVocoder`] inverts one log-mel frame at a time with
//!   real-time iterative spectrogram inversion with look-ahead (RTISI-LA,
//!   Zhu, Beauregard & Wyse 2007). All buffers and FFT plans are made in
//!   [`StreamingVocoder::new`]; [`StreamingVocoder::push_frame`] does not
//!   allocate, lock or log.
//! * [`griffin_lim`] inverts a whole spectrogram offline with fast
//!   Griffin-Lim (Perraudin, Balazs & Søndergaard 2013), as a quality reference.
//!
//! Both turn log-mel into a magnitude spectrum the same way: `exp`, the
//! non-negative pseudo-inverse of [`crate::mel::MelFilterbank`], then `sqrt`.
//! Non-finite log-mel values are treated as the floor.

mod frame_codec;
mod griffin_lim;
mod streaming;
mod target;

pub use griffin_lim::griffin_lim;
pub use streaming::StreamingVocoder;

use serde::{Deserialize, Serialize};

use crate::mel::{MelConfig, MelError};

/// An invalid [`VocoderConfig`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VocoderError {
    /// The mel analysis settings are invalid.
    #[error(transparent)]
    Mel(#[from] MelError),
    /// A vocoder-specific field is invalid; names the field and the fix.
    #[error("invalid VocoderConfig.{field}: {problem}; fix: {fix}")]
    Invalid {
        /// The offending field.
        field: &'static str,
        /// What is wrong with its value.
        problem: String,
        /// How to fix it.
        fix: &'static str,
    },
}

/// Settings of the streaming vocoder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VocoderConfig {
    /// The analysis the log-mel frames came from.
    pub mel: MelConfig,
    /// Frames after the current one that are waited for before a frame's
    /// phase is frozen; each adds one hop of latency.
    pub lookahead_frames: usize,
    /// Phase-update passes over the look-ahead buffer per pushed frame; each
    /// frame is therefore updated `iterations * (lookahead_frames + 1)` times.
    pub iterations: usize,
}

impl Default for VocoderConfig {
    /// Default mel settings, 3 frames of look-ahead, 2 passes per frame.
    fn default() -> Self {
        Self {
            mel: MelConfig::default(),
            lookahead_frames: 3,
            iterations: 2,
        }
    }
}

impl VocoderConfig {
    /// Checks the mel settings and the vocoder's extra requirements.
    pub fn validate(&self) -> Result<(), VocoderError> {
        self.mel.validate()?;
        let (win, hop) = (self.mel.win_length, self.mel.hop_length);
        if !win.is_multiple_of(hop) || win < 2 * hop {
            return Err(VocoderError::Invalid {
                field: "mel.win_length",
                problem: format!("{win} is not a multiple of hop_length {hop} of at least 2"),
                fix: "use win_length = r * hop_length with r >= 2 (overlap-add needs it)",
            });
        }
        if self.lookahead_frames > 64 {
            return Err(VocoderError::Invalid {
                field: "lookahead_frames",
                problem: format!("{} frames is more than 64", self.lookahead_frames),
                fix: "use a few frames (3 is the default); each adds one hop of latency",
            });
        }
        if self.iterations > 64 {
            return Err(VocoderError::Invalid {
                field: "iterations",
                problem: format!("{} passes per frame is more than 64", self.iterations),
                fix: "use a few passes (2 is the default); cost grows linearly",
            });
        }
        Ok(())
    }
}
