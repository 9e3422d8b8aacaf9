//! One frame's trip through the STFT: window, FFT, magnitude projection,
//! inverse FFT, synthesis window. Plans and buffers are made once.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use crate::mel::{MelConfig, hann_window};

/// Magnitudes below this are treated as zero when taking a phase.
const TINY: f32 = 1e-20;

/// Reusable FFT plans, windows and buffers for single frames.
pub(crate) struct FrameCodec {
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
    /// Analysis window (periodic Hann, `win_length`).
    window: Vec<f32>,
    /// Synthesis window for steady-state overlap-add: `window[n] / Σ_r window[n + r*hop]^2`.
    synthesis: Vec<f32>,
    time: Vec<f32>,
    /// The current spectrum (`n_bins`).
    pub(crate) spectrum: Vec<Complex<f32>>,
    scratch_forward: Vec<Complex<f32>>,
    scratch_inverse: Vec<Complex<f32>>,
}

impl FrameCodec {
    pub(crate) fn new(cfg: &MelConfig) -> Self {
        let mut planner = RealFftPlanner::<f32>::new();
        let forward = planner.plan_fft_forward(cfg.n_fft);
        let inverse = planner.plan_fft_inverse(cfg.n_fft);
        let window = hann_window(cfg.win_length);
        let hop = cfg.hop_length;
        let synthesis = (0..window.len())
            .map(|n| {
                let phase = n % hop;
                let norm: f32 = window.iter().skip(phase).step_by(hop).map(|w| w * w).sum();
                if norm > 0.0 { window[n] / norm } else { 0.0 }
            })
            .collect();
        Self {
            time: forward.make_input_vec(),
            spectrum: forward.make_output_vec(),
            scratch_forward: forward.make_scratch_vec(),
            scratch_inverse: inverse.make_scratch_vec(),
            forward,
            inverse,
            window,
            synthesis,
        }
    }

    /// The analysis window.
    pub(crate) fn window(&self) -> &[f32] {
        &self.window
    }

    /// Windows `segment` (`win_length` samples) and transforms it into `self.spectrum`.
    pub(crate) fn analyze(&mut self, segment: &[f32]) {
        let win = self.window.len();
        for ((t, x), w) in self.time.iter_mut().zip(segment).zip(&self.window) {
            *t = x * w;
        }
        self.time[win..].fill(0.0);
        self.forward
            .process_with_scratch(
                &mut self.time,
                &mut self.spectrum,
                &mut self.scratch_forward,
            )
            .expect("FFT buffers are sized by the plan");
    }

    /// Replaces the magnitude of `self.spectrum` by `target`, keeping the
    /// phase (zero phase where the current magnitude vanishes).
    pub(crate) fn impose_magnitude(&mut self, target: &[f32]) {
        for (c, &m) in self.spectrum.iter_mut().zip(target) {
            let norm = c.norm();
            *c = if norm > TINY {
                *c * (m / norm)
            } else {
                Complex::new(m, 0.0)
            };
        }
    }

    /// Inverse-transforms `self.spectrum` and writes the first `win_length`
    /// samples, multiplied by the synthesis window (`steady_state`) or the
    /// analysis window (otherwise), into `out`. Destroys `self.spectrum`.
    pub(crate) fn synthesize(&mut self, out: &mut [f32], steady_state: bool) {
        let last = self.spectrum.len() - 1;
        self.spectrum[0].im = 0.0;
        if self.time.len().is_multiple_of(2) {
            self.spectrum[last].im = 0.0;
        }
        self.inverse
            .process_with_scratch(
                &mut self.spectrum,
                &mut self.time,
                &mut self.scratch_inverse,
            )
            .expect("FFT buffers are sized by the plan");
        let scale = 1.0 / self.time.len() as f32;
        let window = if steady_state {
            &self.synthesis
        } else {
            &self.window
        };
        for ((o, t), w) in out.iter_mut().zip(&self.time).zip(window) {
            *o = t * w * scale;
        }
    }
}
