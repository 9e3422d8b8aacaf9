//! Log-mel spectrogram analysis: configuration, mel filterbank, batch and
//! streaming analysers.
//!
//! Conventions (shared with the decoder and the vocoder):
//!
//! * Audio is 16 kHz mono `f32` in `[-1, 1]`.
//! * Frame `k` uses a CAUSAL window: it covers audio samples
//!   `[(k+1)*hop - win_length, (k+1)*hop)`, with zeros before sample 0, so it
//!   describes the audio ending at `(k+1)*hop`.
//! * The window is a periodic Hann window of `win_length` samples, zero-padded
//!   at the end to `n_fft`. The power spectrum is the unnormalised `|X[b]|^2`
//!   of the windowed frame (no division by the window length).
//! * Mel bands are triangles on the HTK mel scale
//!   (`mel = 2595 * log10(1 + f / 700)`), with peak weight 1 and no area
//!   normalisation. HTK was chosen over Slaney because it is a single smooth
//!   formula, which keeps band edges simple to reason about at the low end.
//! * Log-mel is the natural log of the band power, floored:
//!   `ln(max(power, log_floor))`.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};
use serde::{Deserialize, Serialize};

/// An invalid [`MelConfig`]: names the field, what is wrong with it, and how to fix it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid MelConfig.{field}: {problem}; fix: {fix}")]
pub struct MelError {
    /// The offending field.
    pub field: &'static str,
    /// What is wrong with its value.
    pub problem: String,
    /// How to fix it.
    pub fix: &'static str,
}

impl MelError {
    fn new(field: &'static str, problem: String, fix: &'static str) -> Self {
        Self {
            field,
            problem,
            fix,
        }
    }
}

/// Parameters of the log-mel analysis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MelConfig {
    /// Audio sample rate in Hz.
    pub sample_rate: u32,
    /// FFT length in samples; at least `win_length`.
    pub n_fft: usize,
    /// Analysis window (periodic Hann) length in samples.
    pub win_length: usize,
    /// Frame hop in samples.
    pub hop_length: usize,
    /// Number of mel bands.
    pub n_mels: usize,
    /// Lower edge of the lowest mel band in Hz.
    pub f_min: f32,
    /// Upper edge of the highest mel band in Hz.
    pub f_max: f32,
    /// Power floor applied before the logarithm.
    pub log_floor: f32,
}

impl Default for MelConfig {
    /// 16 kHz, 40 ms Hann window, 10 ms hop, 40 HTK mel bands over 80–7600 Hz.
    ///
    /// The floor `1e-6` is roughly the band power of 16-bit quantisation
    /// noise with this (unnormalised) power spectrum: white noise of variance
    /// `(2^-15)^2 / 12` gives about `2.4e-7` per FFT bin and a few bins per
    /// band. So digital silence maps to `ln(1e-6) ≈ -13.8`, and anything
    /// audible in a 16-bit recording stays above the floor.
    fn default() -> Self {
        Self {
            sample_rate: 16_000,
            n_fft: 640,
            win_length: 640,
            hop_length: 160,
            n_mels: 40,
            f_min: 80.0,
            f_max: 7600.0,
            log_floor: 1e-6,
        }
    }
}

impl MelConfig {
    /// Number of FFT bins of the one-sided spectrum (`n_fft / 2 + 1`).
    pub fn n_bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// Checks every field; the error names the field and the fix.
    pub fn validate(&self) -> Result<(), MelError> {
        if self.sample_rate == 0 {
            return Err(MelError::new(
                "sample_rate",
                "is 0".into(),
                "set the audio sample rate in Hz (16000 for NeuroSpeak)",
            ));
        }
        if self.hop_length == 0 {
            return Err(MelError::new(
                "hop_length",
                "is 0".into(),
                "set the frame hop in samples (160 = 10 ms at 16 kHz)",
            ));
        }
        if self.win_length < self.hop_length {
            return Err(MelError::new(
                "win_length",
                format!(
                    "{} is shorter than hop_length {}",
                    self.win_length, self.hop_length
                ),
                "make win_length at least hop_length so every sample is analysed",
            ));
        }
        if self.n_fft < self.win_length {
            return Err(MelError::new(
                "n_fft",
                format!(
                    "{} is shorter than win_length {}",
                    self.n_fft, self.win_length
                ),
                "make n_fft at least win_length",
            ));
        }
        if self.n_mels == 0 {
            return Err(MelError::new(
                "n_mels",
                "is 0".into(),
                "use at least one mel band (40 is the default)",
            ));
        }
        let nyquist = self.sample_rate as f32 / 2.0;
        if !(self.f_min.is_finite() && self.f_min >= 0.0) {
            return Err(MelError::new(
                "f_min",
                format!("{} is negative or not finite", self.f_min),
                "use a finite lower band edge of 0 Hz or more",
            ));
        }
        if !(self.f_max.is_finite() && self.f_max > self.f_min && self.f_max <= nyquist) {
            return Err(MelError::new(
                "f_max",
                format!(
                    "{} is not in (f_min {}, Nyquist {}]",
                    self.f_max, self.f_min, nyquist
                ),
                "choose f_max above f_min and at most sample_rate / 2",
            ));
        }
        if !(self.log_floor.is_finite() && self.log_floor > 0.0) {
            return Err(MelError::new(
                "log_floor",
                format!("{} is not a positive finite number", self.log_floor),
                "use a small positive power floor such as 1e-6",
            ));
        }
        let fb = MelFilterbank::new(self);
        if let Some(m) = (0..fb.n_mels()).find(|&m| fb.bands[m].weights.is_empty()) {
            return Err(MelError::new(
                "n_mels",
                format!(
                    "mel band {m} contains no FFT bin ({} bands over {}–{} Hz with n_fft {})",
                    self.n_mels, self.f_min, self.f_max, self.n_fft
                ),
                "reduce n_mels, widen f_min..f_max, or increase n_fft",
            ));
        }
        Ok(())
    }
}

/// Converts a frequency in Hz to the HTK mel scale.
pub fn hz_to_mel(hz: f32) -> f32 {
    2595.0 * (1.0 + hz / 700.0).log10()
}

/// Converts an HTK mel value back to Hz.
pub fn mel_to_hz(mel: f32) -> f32 {
    700.0 * (10f32.powf(mel / 2595.0) - 1.0)
}

/// Returns a periodic Hann window of `len` samples (`0.5 - 0.5 cos(2πn/len)`).
pub fn hann_window(len: usize) -> Vec<f32> {
    (0..len)
        .map(|n| {
            let phase = 2.0 * std::f64::consts::PI * n as f64 / len as f64;
            (0.5 - 0.5 * phase.cos()) as f32
        })
        .collect()
}

/// One row of a sparse band matrix: weights for the bins `start..start + weights.len()`.
#[derive(Clone, Debug)]
struct SparseRow {
    start: usize,
    weights: Vec<f32>,
}

/// Triangular mel filterbank with a non-negative pseudo-inverse.
///
/// The forward matrix `W` (n_mels × n_bins) sums power spectrum bins into
/// bands. The pseudo-inverse spreads band power back over the bins: band
/// `m` gets a per-bin density `d_m = mel[m] / Σ_b W[m,b]`, and bin `b` gets
/// `Σ_m W[m,b] d_m / Σ_m W[m,b]`, i.e. the densities linearly interpolated
/// (in mel frequency) between band centres, held constant out to `f_min` and
/// `f_max`, and zero outside them. It is not the Moore–Penrose inverse (which
/// can go negative); for a spectrum that is smooth on the scale of the bands
/// it reproduces the spectrum closely, and it is never negative.
#[derive(Clone, Debug)]
pub struct MelFilterbank {
    n_bins: usize,
    bands: Vec<SparseRow>,
    inverse: Vec<SparseRow>,
    centers_hz: Vec<f32>,
}

impl MelFilterbank {
    /// Builds the filterbank for `cfg`. Call [`MelConfig::validate`] first:
    /// an invalid config gives empty bands rather than a panic.
    pub fn new(cfg: &MelConfig) -> Self {
        let n_bins = cfg.n_bins();
        let n_mels = cfg.n_mels;
        let mel_lo = hz_to_mel(cfg.f_min);
        let mel_hi = hz_to_mel(cfg.f_max);
        let edges: Vec<f32> = (0..n_mels + 2)
            .map(|i| mel_to_hz(mel_lo + (mel_hi - mel_lo) * i as f32 / (n_mels + 1) as f32))
            .collect();
        let bin_hz = cfg.sample_rate as f32 / cfg.n_fft.max(1) as f32;
        let mut bands = Vec::with_capacity(n_mels);
        for m in 0..n_mels {
            let (lo, c, hi) = (edges[m], edges[m + 1], edges[m + 2]);
            let mut start = None;
            let mut weights = Vec::new();
            for b in 0..n_bins {
                let f = b as f32 * bin_hz;
                let w = ((f - lo) / (c - lo)).min((hi - f) / (hi - c));
                if w > 0.0 {
                    start.get_or_insert(b);
                    weights.push(w.min(1.0));
                } else if start.is_some() {
                    break;
                }
            }
            bands.push(SparseRow {
                start: start.unwrap_or(0),
                weights,
            });
        }
        let mut column_sum = vec![0.0f32; n_bins];
        for band in &bands {
            for (i, w) in band.weights.iter().enumerate() {
                column_sum[band.start + i] += w;
            }
        }
        let inverse = bands
            .iter()
            .map(|band| {
                let row_sum: f32 = band.weights.iter().sum();
                let weights = band
                    .weights
                    .iter()
                    .enumerate()
                    .map(|(i, w)| w / (row_sum * column_sum[band.start + i]))
                    .collect();
                SparseRow {
                    start: band.start,
                    weights,
                }
            })
            .collect();
        Self {
            n_bins,
            bands,
            inverse,
            centers_hz: edges[1..=n_mels].to_vec(),
        }
    }

    /// Number of mel bands.
    pub fn n_mels(&self) -> usize {
        self.bands.len()
    }

    /// Number of linear FFT bins (`n_fft / 2 + 1`).
    pub fn n_bins(&self) -> usize {
        self.n_bins
    }

    /// Centre frequency of band `m` in Hz.
    pub fn center_hz(&self, m: usize) -> f32 {
        self.centers_hz[m]
    }

    /// Weights of band `m` as `(first_bin, weights)`; all other bins weigh 0.
    pub fn band_weights(&self, m: usize) -> (usize, &[f32]) {
        (self.bands[m].start, &self.bands[m].weights)
    }

    /// Sums a power spectrum (`n_bins` values) into `mel_out` (`n_mels` values).
    ///
    /// # Panics
    /// If the slice lengths do not match the filterbank.
    pub fn apply(&self, power: &[f32], mel_out: &mut [f32]) {
        assert_eq!(power.len(), self.n_bins, "power spectrum length");
        assert_eq!(mel_out.len(), self.bands.len(), "mel output length");
        for (out, band) in mel_out.iter_mut().zip(&self.bands) {
            let bins = &power[band.start..band.start + band.weights.len()];
            *out = bins.iter().zip(&band.weights).map(|(p, w)| p * w).sum();
        }
    }

    /// Maps mel band power (`n_mels` values) to a non-negative linear power
    /// spectrum (`n_bins` values); see the type documentation.
    ///
    /// # Panics
    /// If the slice lengths do not match the filterbank.
    pub fn pseudo_inverse(&self, mel_power: &[f32], power_out: &mut [f32]) {
        assert_eq!(mel_power.len(), self.bands.len(), "mel power length");
        assert_eq!(power_out.len(), self.n_bins, "power spectrum length");
        power_out.fill(0.0);
        for (p, row) in mel_power.iter().zip(&self.inverse) {
            let p = p.max(0.0);
            let bins = &mut power_out[row.start..row.start + row.weights.len()];
            for (out, w) in bins.iter_mut().zip(&row.weights) {
                *out += w * p;
            }
        }
    }
}

/// The per-frame work shared by the batch and streaming analysers:
/// window, FFT, power, filterbank, log.
struct FrameAnalysis {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    input: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    power: Vec<f32>,
    filterbank: MelFilterbank,
    log_floor: f32,
}

impl FrameAnalysis {
    fn new(cfg: &MelConfig) -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(cfg.n_fft);
        Self {
            window: hann_window(cfg.win_length),
            input: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            power: vec![0.0; cfg.n_bins()],
            filterbank: MelFilterbank::new(cfg),
            log_floor: cfg.log_floor,
            fft,
        }
    }

    /// Analyses one frame given as `older` followed by `newer` (together
    /// `win_length` samples, oldest first), writing `n_mels` log-mel values.
    fn run(&mut self, older: &[f32], newer: &[f32], out: &mut [f32]) {
        let split = older.len();
        let win = self.window.len();
        debug_assert_eq!(split + newer.len(), win);
        for (i, (x, w)) in older.iter().zip(&self.window[..split]).enumerate() {
            self.input[i] = x * w;
        }
        for (i, (x, w)) in newer.iter().zip(&self.window[split..]).enumerate() {
            self.input[split + i] = x * w;
        }
        self.input[win..].fill(0.0);
        self.fft
            .process_with_scratch(&mut self.input, &mut self.spectrum, &mut self.scratch)
            .expect("FFT buffers are sized by the plan");
        for (p, c) in self.power.iter_mut().zip(&self.spectrum) {
            *p = c.norm_sqr();
        }
        self.filterbank.apply(&self.power, out);
        for v in out.iter_mut() {
            *v = v.max(self.log_floor).ln();
        }
    }
}

/// Computes the log-mel spectrogram of `audio`, frame-major
/// (`n_frames * n_mels` values) with `n_frames = audio.len() / hop_length`.
///
/// # Panics
/// If `cfg` is invalid (see [`MelConfig::validate`]).
pub fn log_mel_spectrogram(audio: &[f32], cfg: &MelConfig) -> Vec<f32> {
    if let Err(e) = cfg.validate() {
        panic!("log_mel_spectrogram: {e}");
    }
    let (hop, win, n_mels) = (cfg.hop_length, cfg.win_length, cfg.n_mels);
    let n_frames = audio.len() / hop;
    let mut analysis = FrameAnalysis::new(cfg);
    let mut out = vec![0.0; n_frames * n_mels];
    let zeros = vec![0.0; win];
    for (k, frame_out) in out.chunks_exact_mut(n_mels).enumerate() {
        let end = (k + 1) * hop;
        let start = end.saturating_sub(win);
        let missing = win - (end - start);
        analysis.run(&zeros[..missing], &audio[start..end], frame_out);
    }
    out
}

/// Streaming log-mel analyser: produces exactly the frames of
/// [`log_mel_spectrogram`] from audio pushed in pieces of any size.
pub struct MelAnalyzer {
    analysis: FrameAnalysis,
    /// The last `win_length - hop_length` samples before the current hop, oldest first.
    history: Vec<f32>,
    /// Samples of the hop being filled.
    pending: Vec<f32>,
    filled: usize,
    n_mels: usize,
}

impl MelAnalyzer {
    /// Creates an analyser with zero history (as if preceded by silence).
    ///
    /// # Panics
    /// If `cfg` is invalid (see [`MelConfig::validate`]).
    pub fn new(cfg: &MelConfig) -> Self {
        if let Err(e) = cfg.validate() {
            panic!("MelAnalyzer::new: {e}");
        }
        Self {
            analysis: FrameAnalysis::new(cfg),
            history: vec![0.0; cfg.win_length - cfg.hop_length],
            pending: vec![0.0; cfg.hop_length],
            filled: 0,
            n_mels: cfg.n_mels,
        }
    }

    /// Number of mel bands per frame.
    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// Frame hop in samples.
    pub fn hop_length(&self) -> usize {
        self.pending.len()
    }

    /// Pushes exactly one hop of audio and writes the frame it completes.
    /// Allocation-free.
    ///
    /// # Panics
    /// If samples are pending from [`MelAnalyzer::push`], or on length mismatch.
    pub fn push_hop(&mut self, hop: &[f32], frame_out: &mut [f32]) {
        assert_eq!(self.filled, 0, "push_hop called with a partial hop pending");
        assert_eq!(hop.len(), self.pending.len(), "hop length");
        assert_eq!(frame_out.len(), self.n_mels, "frame length");
        self.analysis.run(&self.history, hop, frame_out);
        self.advance(hop);
    }

    /// Pushes any number of samples and appends every completed frame to
    /// `frames_out` (frame-major). Returns the number of frames appended.
    pub fn push(&mut self, samples: &[f32], frames_out: &mut Vec<f32>) -> usize {
        let hop = self.pending.len();
        let mut produced = 0;
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (hop - self.filled).min(rest.len());
            self.pending[self.filled..self.filled + take].copy_from_slice(&rest[..take]);
            self.filled += take;
            rest = &rest[take..];
            if self.filled == hop {
                let at = frames_out.len();
                frames_out.resize(at + self.n_mels, 0.0);
                let pending = std::mem::take(&mut self.pending);
                self.analysis
                    .run(&self.history, &pending, &mut frames_out[at..]);
                self.advance(&pending);
                self.pending = pending;
                self.filled = 0;
                produced += 1;
            }
        }
        produced
    }

    /// Clears the history and any pending samples.
    pub fn reset(&mut self) {
        self.history.fill(0.0);
        self.pending.fill(0.0);
        self.filled = 0;
    }

    fn advance(&mut self, hop: &[f32]) {
        let keep = self.history.len();
        if keep > hop.len() {
            self.history.copy_within(hop.len().., 0);
            self.history[keep - hop.len()..].copy_from_slice(hop);
        } else {
            self.history.copy_from_slice(&hop[hop.len() - keep..]);
        }
    }
}
