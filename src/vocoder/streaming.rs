//! Real-time iterative spectrogram inversion with look-ahead (RTISI-LA).
//!
//! With `R = win_length / hop_length` frames overlapping each hop and `L`
//! look-ahead frames, the vocoder keeps the `L + 1` newest frames "active"
//! and a reconstruction buffer of `(L + R) * hop` samples starting at the
//! first sample of the oldest active frame. When frame `k` arrives:
//!
//! 1. Its target magnitude comes from the log-mel frame; its initial phase
//!    is that of the current partial reconstruction under its window (the
//!    overlapping tails of earlier frames), as in RTISI.
//! 2. `iterations` times, every active frame, oldest first, is re-projected:
//!    the reconstruction under its window is analysed, the magnitude replaced
//!    by the target, the result resynthesised and swapped in for the frame's
//!    previous contribution (a Griffin-Lim step restricted to the buffer).
//! 3. The oldest active frame (`k - L`) is frozen, which completes the hop
//!    that starts the buffer (covered only by frames `k-L-R+1 ..= k-L`); that
//!    hop is emitted and the buffer shifts by one hop.
//!
//! So the output lags the original audio by `(L + R - 1) * hop` samples:
//! `L` hops of look-ahead plus `R - 1` hops because a hop of audio is only
//! complete once the last of the `R` frames covering it is known.

use super::frame_codec::FrameCodec;
use super::target::TargetMagnitude;
use super::{VocoderConfig, VocoderError};

/// Streaming log-mel vocoder (RTISI-LA); see the module documentation.
pub struct StreamingVocoder {
    sample_rate: u32,
    n_mels: usize,
    hop: usize,
    win: usize,
    n_bins: usize,
    lookahead: usize,
    overlap: usize,
    iterations: usize,
    codec: FrameCodec,
    target: TargetMagnitude,
    /// Reconstruction of `(L + R) * hop` samples; index 0 is the first sample
    /// of the oldest active frame.
    recon: Vec<f32>,
    /// Current windowed contribution of each active frame (`(L + 1) * win`), oldest first.
    contributions: Vec<f32>,
    /// Target magnitude of each active frame (`(L + 1) * n_bins`), oldest first.
    magnitudes: Vec<f32>,
    /// Scratch for one frame's new contribution.
    frame: Vec<f32>,
    /// Frames pushed since creation or the last reset.
    pushed: u64,
}

impl StreamingVocoder {
    /// Validates `cfg` and allocates every buffer and FFT plan.
    pub fn new(cfg: &VocoderConfig) -> Result<Self, VocoderError> {
        cfg.validate()?;
        let mel = &cfg.mel;
        let (hop, win, n_bins) = (mel.hop_length, mel.win_length, mel.n_bins());
        let lookahead = cfg.lookahead_frames;
        let overlap = win / hop;
        Ok(Self {
            sample_rate: mel.sample_rate,
            n_mels: mel.n_mels,
            hop,
            win,
            n_bins,
            lookahead,
            overlap,
            iterations: cfg.iterations,
            codec: FrameCodec::new(mel),
            target: TargetMagnitude::new(mel),
            recon: vec![0.0; (lookahead + overlap) * hop],
            contributions: vec![0.0; (lookahead + 1) * win],
            magnitudes: vec![0.0; (lookahead + 1) * n_bins],
            frame: vec![0.0; win],
            pushed: 0,
        })
    }

    /// Consumes one log-mel frame (`n_mels` values) and writes exactly one
    /// hop of audio into `out`, clipped to `[-1, 1]`; silence while priming.
    ///
    /// Does not allocate, lock or log. Non-finite log-mel values are treated
    /// as the floor.
    ///
    /// # Panics
    /// If `log_mel.len() != n_mels` or `out.len() != hop_length`.
    pub fn push_frame(&mut self, log_mel: &[f32], out: &mut [f32]) {
        assert_eq!(log_mel.len(), self.n_mels, "log-mel frame length");
        assert_eq!(out.len(), self.hop, "output length must be one hop");
        let (hop, win, n_bins, la) = (self.hop, self.win, self.n_bins, self.lookahead);

        // 1. The new frame goes into the last active slot.
        let newest = &mut self.magnitudes[la * n_bins..];
        self.target.compute(log_mel, newest);
        self.pushed += 1;
        self.project(la);

        // 2. Refine every active frame that exists (frames before 0 do not).
        let existing = (self.pushed.min(la as u64 + 1)) as usize;
        for _ in 0..self.iterations {
            for slot in la + 1 - existing..=la {
                self.project(slot);
            }
        }

        // 3. Emit the completed hop (block k - L - R + 1, silence if negative).
        let primed = self.pushed >= (la + self.overlap) as u64;
        for (o, &x) in out.iter_mut().zip(&self.recon[..hop]) {
            *o = if primed && x.is_finite() {
                x.clamp(-1.0, 1.0)
            } else {
                0.0
            };
        }
        let recon_len = self.recon.len();
        self.recon.copy_within(hop.., 0);
        self.recon[recon_len - hop..].fill(0.0);
        let contrib_len = self.contributions.len();
        self.contributions.copy_within(win.., 0);
        self.contributions[contrib_len - win..].fill(0.0);
        let mag_len = self.magnitudes.len();
        self.magnitudes.copy_within(n_bins.., 0);
        self.magnitudes[mag_len - n_bins..].fill(0.0);
    }

    /// Re-projects active frame `slot` onto its target magnitude and swaps
    /// its contribution in the reconstruction. A new frame has no
    /// contribution yet, so its phase comes from the partial reconstruction.
    fn project(&mut self, slot: usize) {
        let (hop, win, n_bins) = (self.hop, self.win, self.n_bins);
        let span = slot * hop..slot * hop + win;
        self.codec.analyze(&self.recon[span.clone()]);
        self.codec
            .impose_magnitude(&self.magnitudes[slot * n_bins..(slot + 1) * n_bins]);
        self.codec.synthesize(&mut self.frame, true);
        let old = &mut self.contributions[slot * win..(slot + 1) * win];
        for ((r, o), n) in self.recon[span]
            .iter_mut()
            .zip(old.iter_mut())
            .zip(&self.frame)
        {
            *r += *n - *o;
            *o = *n;
        }
    }

    /// Output delay in samples: output sample `n` corresponds to original
    /// audio sample `n - latency_samples()`. Equals
    /// `(lookahead_frames + win_length / hop_length - 1) * hop_length`.
    pub fn latency_samples(&self) -> usize {
        (self.lookahead + self.overlap - 1) * self.hop
    }

    /// [`Self::latency_samples`] in seconds: look-ahead plus the
    /// `win_length - hop_length` overlap-add delay.
    pub fn algorithmic_latency_s(&self) -> f64 {
        self.latency_samples() as f64 / f64::from(self.sample_rate)
    }

    /// Frame hop in samples (the length of every output block).
    pub fn hop_length(&self) -> usize {
        self.hop
    }

    /// Returns to the state right after [`Self::new`].
    pub fn reset(&mut self) {
        self.recon.fill(0.0);
        self.contributions.fill(0.0);
        self.magnitudes.fill(0.0);
        self.frame.fill(0.0);
        self.pushed = 0;
    }
}
