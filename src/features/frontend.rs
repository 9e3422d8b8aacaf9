//! The streaming feature front-end: common average reference, line-noise
//! notches, high-gamma band-pass, windowed log power, z-scoring with the
//! bundle's statistics and context stacking. One sample in at a time, a frame
//! out every hop; offline and live both call [`FeatureExtractor::push_sample`],
//! so chunking can never change the result.

use super::filters::Cascade;

/// The resolved, validated front-end settings (built from the bundle manifest).
#[derive(Clone, Debug, PartialEq)]
pub struct FrontEndPlan {
    /// Number of EEG channels in each sample.
    pub channels: usize,
    /// Sample rate of the EEG in Hz.
    pub sample_rate: f64,
    /// Subtract the mean over channels from every sample before filtering.
    pub common_average_reference: bool,
    /// Mains frequency to notch out (with harmonics), if any.
    pub line_frequency: Option<f64>,
    /// How many multiples of the line frequency get a notch (1 = the line itself).
    pub notch_harmonics: usize,
    /// Band of the envelope, in Hz.
    pub band: (f64, f64),
    /// Order of each Butterworth half of the band-pass (even).
    pub filter_order: usize,
    /// Length of the power window in seconds.
    pub window_s: f64,
    /// Time between frames in seconds.
    pub hop_s: f64,
    /// Frames of past context stacked behind the current one.
    pub past_frames: usize,
    /// Frames of future context stacked ahead (each adds `stride` hops of delay).
    pub future_frames: usize,
    /// Distance in frames between stacked context frames.
    pub stride: usize,
    /// Per-channel mean of the log power; empty means no normalisation.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation of the log power; empty means none.
    pub std: Vec<f32>,
    /// How the stacked frames are laid out in one decoder input.
    pub layout: InputLayout,
    /// Bipolar derivations (channel indices: the first minus the second),
    /// replacing the channels; empty for none (then `common_average_reference`
    /// applies).
    pub bipolar: Vec<(usize, usize)>,
    /// Bands whose log power is taken besides `band`, in order.
    pub extra_bands: Vec<(f64, f64)>,
    /// Pass the referenced samples through instead: every hop, the last
    /// `window_s` of samples of each derived channel, z-scored with `mean`
    /// and `std`, for decoders that learn their own filters (no notches, no
    /// band-pass, no power; one "stacked frame" per sample of the window).
    pub raw_window: bool,
}

/// How the context frames of one decoder input are laid out: a flat vector
/// newest first (what `neurospeak train` makes), or a sequence window oldest
/// first, as PyTorch exports take it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputLayout {
    /// `[1, frames x channels]`, newest frame first.
    #[default]
    Flat,
    /// `[1, T, C]`: T frames oldest first, each its C channels (a batch-first
    /// recurrent or attention model).
    TimeMajor,
    /// `[1, C, T]`: per channel its T frames, oldest first (a 1-D convolution
    /// over time).
    ChannelMajor,
}

impl InputLayout {
    /// The input's shape without the batch dimension, for `channels` channels
    /// and `frames` stacked frames.
    pub fn shape(self, channels: usize, frames: usize) -> Vec<usize> {
        match self {
            InputLayout::Flat => vec![channels * frames],
            InputLayout::TimeMajor => vec![frames, channels],
            InputLayout::ChannelMajor => vec![channels, frames],
        }
    }

    /// The manifest's name of the layout.
    pub fn name(self) -> &'static str {
        match self {
            InputLayout::Flat => "flat",
            InputLayout::TimeMajor => "time_major",
            InputLayout::ChannelMajor => "channel_major",
        }
    }

    /// Whether this is the flat layout (the default, left out of manifests).
    pub fn is_flat(&self) -> bool {
        *self == InputLayout::Flat
    }
}

/// The quality factor of the line-noise notches (about 1.7 Hz wide at 50 Hz).
pub const NOTCH_Q: f64 = 30.0;
/// Added to the window power before the log, so silence stays finite.
const POWER_FLOOR: f64 = 1e-12;

impl FrontEndPlan {
    /// Frames stacked into one decoder input (the window's samples, for a
    /// raw window).
    pub fn stacked_frames(&self) -> usize {
        if self.raw_window {
            self.window_samples()
        } else {
            self.past_frames + 1 + self.future_frames
        }
    }

    /// Length of one decoder input vector.
    pub fn feature_dim(&self) -> usize {
        self.frame_features() * self.stacked_frames()
    }

    /// The signals the filters run on: the bipolar derivations, or the
    /// (referenced) channels.
    pub fn derived_channels(&self) -> usize {
        if self.bipolar.is_empty() {
            self.channels
        } else {
            self.bipolar.len()
        }
    }

    /// Every band of the envelope, `band` first.
    pub fn bands(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        std::iter::once(self.band).chain(self.extra_bands.iter().copied())
    }

    /// Values per frame: one log power per band and derived channel, band
    /// by band (the first band's channels, then the next band's).
    pub fn frame_features(&self) -> usize {
        if self.raw_window {
            self.derived_channels()
        } else {
            self.derived_channels() * (1 + self.extra_bands.len())
        }
    }

    /// Window length in samples.
    pub fn window_samples(&self) -> usize {
        ((self.window_s * self.sample_rate).round() as usize).max(1)
    }

    /// From the power window's centre (the activity a frame stands for) to
    /// its last sample, when the frame completes: (n − 1) / 2 samples of an
    /// n-sample window, in seconds.
    pub fn window_centre_s(&self) -> f64 {
        (self.window_samples() as f64 - 1.0) / 2.0 / self.sample_rate
    }

    /// The future context the decoder waits for, in seconds.
    pub fn future_context_s(&self) -> f64 {
        (self.future_frames * self.stride) as f64 * self.hop_s
    }

    /// The filters every channel goes through: the line notches, then the
    /// band-pass of the first band.
    pub fn filter_chain(&self) -> Cascade {
        self.filter_chain_for(self.band)
    }

    /// The line notches, then the band-pass of `band`.
    pub fn filter_chain_for(&self, band: (f64, f64)) -> Cascade {
        let mut chain = Cascade::default();
        if let Some(line) = self.line_frequency {
            chain = chain.then(Cascade::line_notches(
                line,
                self.notch_harmonics,
                NOTCH_Q,
                self.sample_rate,
            ));
        }
        chain.then(Cascade::band_pass(
            band.0,
            band.1,
            self.filter_order,
            self.sample_rate,
        ))
    }

    /// The filter chain's delay in seconds, measured on its impulse response:
    /// the centre of its energy, `Σ n·h[n]² / Σ h[n]²` over 4 s. That is the
    /// delay of the power envelope the front-end takes for a broadband
    /// input (the group delay averaged over the band, weighted by the power
    /// the filters pass); the notches inside the band add to it. With
    /// several bands this is the first band's (the one the latency budget
    /// counts; a lower band has more delay).
    pub fn filter_delay_s(&self) -> f64 {
        if self.raw_window {
            return 0.0;
        }
        let mut chain = self.filter_chain();
        let n = (4.0 * self.sample_rate).ceil() as usize;
        let (mut moment, mut energy) = (0.0f64, 0.0f64);
        for i in 0..n {
            let y = chain.process(if i == 0 { 1.0 } else { 0.0 });
            moment += i as f64 * y * y;
            energy += y * y;
        }
        if energy > 0.0 {
            moment / energy / self.sample_rate
        } else {
            0.0
        }
    }

    /// The index (1-based) of the last sample that frame `k` covers.
    fn frame_end(&self, k: u64) -> u64 {
        ((k + 1) as f64 * self.hop_s * self.sample_rate).floor() as u64
    }
}

/// Streaming state of the front-end for one session. Allocates only in
/// [`FeatureExtractor::new`].
pub struct FeatureExtractor {
    plan: FrontEndPlan,
    /// Values per frame ([`FrontEndPlan::frame_features`]).
    features: usize,
    filters: Vec<Cascade>,
    last_finite: Vec<f32>,
    /// Squared band-passed samples of the current window, per channel.
    window: Vec<f32>,
    window_sums: Vec<f64>,
    window_len: usize,
    window_pos: usize,
    window_filled: usize,
    /// Normalised single frames, newest at `history_pos`.
    history: Vec<f32>,
    history_len: usize,
    history_pos: usize,
    frames_seen: u64,
    samples_seen: u64,
    next_frame_end: u64,
    stacked: Vec<f32>,
    nonfinite: u64,
}

impl FeatureExtractor {
    /// Builds the filters and buffers for `plan`.
    pub fn new(plan: &FrontEndPlan) -> Self {
        let ch = plan.channels;
        let f = plan.frame_features();
        let derived = plan.derived_channels();
        let window_len = plan.window_samples();
        let history_len = if plan.raw_window {
            window_len
        } else {
            (plan.past_frames + plan.future_frames) * plan.stride + 1
        };
        let filters = if plan.raw_window {
            Vec::new()
        } else {
            plan.bands()
                .flat_map(|b| std::iter::repeat_n(plan.filter_chain_for(b), derived))
                .collect()
        };
        Self {
            features: f,
            filters,
            last_finite: vec![0.0; ch],
            window: vec![0.0; f * window_len],
            window_sums: vec![0.0; f],
            window_len,
            window_pos: 0,
            window_filled: 0,
            history: vec![0.0; f * history_len],
            history_len,
            history_pos: 0,
            frames_seen: 0,
            samples_seen: 0,
            next_frame_end: plan.frame_end(0),
            stacked: vec![0.0; plan.feature_dim()],
            nonfinite: 0,
            plan: plan.clone(),
        }
    }

    /// The plan this extractor runs.
    pub fn plan(&self) -> &FrontEndPlan {
        &self.plan
    }

    /// Non-finite input values replaced so far (by the channel's last finite value).
    pub fn nonfinite_samples(&self) -> u64 {
        self.nonfinite
    }

    /// Frames completed so far (including those still waiting for future context).
    pub fn frames_seen(&self) -> u64 {
        self.frames_seen
    }

    /// Feeds one multichannel sample (`channels` values). Returns the stacked,
    /// normalised feature vector when this sample completes a frame and its
    /// context is available.
    pub fn push_sample(&mut self, sample: &[f32]) -> Option<&[f32]> {
        let ch = self.plan.channels;
        debug_assert_eq!(sample.len(), ch);
        let mut mean = 0.0f64;
        for (c, &x) in sample.iter().enumerate().take(ch) {
            let v = if x.is_finite() {
                self.last_finite[c] = x;
                x
            } else {
                self.nonfinite += 1;
                self.last_finite[c]
            };
            mean += v as f64;
        }
        mean /= ch as f64;
        let reference = if self.plan.common_average_reference {
            mean
        } else {
            0.0
        };
        if self.plan.raw_window {
            return self.push_raw(reference);
        }
        let f = self.features;
        let base = self.window_pos * f;
        let recompute = self.window_pos == 0;
        let derived = self.plan.derived_channels();
        for d in 0..derived {
            let v = match self.plan.bipolar.get(d) {
                Some(&(a, b)) => self.last_finite[a] as f64 - self.last_finite[b] as f64,
                None => self.last_finite[d] as f64 - reference,
            };
            for k in (d..f).step_by(derived) {
                let y = self.filters[k].process(v);
                let p = (y * y) as f32;
                let slot = &mut self.window[base + k];
                self.window_sums[k] += p as f64 - *slot as f64;
                *slot = p;
            }
        }
        self.window_pos = (self.window_pos + 1) % self.window_len;
        self.window_filled = (self.window_filled + 1).min(self.window_len);
        if recompute {
            // Once per window, resum exactly so rounding never drifts.
            self.resum_window();
        }
        self.samples_seen += 1;
        if self.samples_seen < self.next_frame_end {
            return None;
        }
        self.frames_seen += 1;
        self.next_frame_end = self.plan.frame_end(self.frames_seen);
        self.store_frame();
        let delay = (self.plan.future_frames * self.plan.stride) as u64;
        if self.frames_seen <= delay {
            return None;
        }
        self.stack(self.frames_seen, self.plan.stride);
        Some(&self.stacked)
    }

    /// [`FeatureExtractor::push_sample`] of a raw window: the sample's
    /// derived values, z-scored, go into the history (one row per sample);
    /// at a frame's end the last window of them is stacked.
    fn push_raw(&mut self, reference: f64) -> Option<&[f32]> {
        let f = self.features;
        self.history_pos = (self.history_pos + 1) % self.history_len;
        let row = self.history_pos * f;
        for d in 0..f {
            let v = match self.plan.bipolar.get(d) {
                Some(&(a, b)) => self.last_finite[a] as f64 - self.last_finite[b] as f64,
                None => self.last_finite[d] as f64 - reference,
            } as f32;
            self.history[row + d] = match (self.plan.mean.get(d), self.plan.std.get(d)) {
                (Some(m), Some(s)) => (v - m) / s,
                _ => v,
            };
        }
        self.samples_seen += 1;
        if self.samples_seen < self.next_frame_end {
            return None;
        }
        self.frames_seen += 1;
        self.next_frame_end = self.plan.frame_end(self.frames_seen);
        self.stack(self.samples_seen, 1);
        Some(&self.stacked)
    }

    fn resum_window(&mut self) {
        let ch = self.features;
        for c in 0..ch {
            self.window_sums[c] = (0..self.window_len)
                .map(|i| self.window[i * ch + c] as f64)
                .sum();
        }
    }

    fn store_frame(&mut self) {
        let ch = self.features;
        self.history_pos = (self.history_pos + 1) % self.history_len;
        let n = self.window_filled.max(1) as f64;
        let row = &mut self.history[self.history_pos * ch..(self.history_pos + 1) * ch];
        for (c, out) in row.iter_mut().enumerate() {
            let log_power = (self.window_sums[c].max(0.0) / n + POWER_FLOOR).ln() as f32;
            *out = match (self.plan.mean.get(c), self.plan.std.get(c)) {
                (Some(m), Some(s)) => (log_power - m) / s,
                _ => log_power,
            };
        }
    }

    /// Writes the context stack in the plan's layout. Flat: newest first,
    /// future frames first (furthest ahead first), then the centre frame,
    /// then the past, furthest last. A sequence layout holds the same frames
    /// oldest first. Frames from before the start of the stream are zero (the
    /// mean).
    /// `seen` rows of the history hold data (older ones are zero), `stride`
    /// rows apart.
    fn stack(&mut self, seen: u64, stride: usize) {
        let ch = self.features;
        let total = self.plan.stacked_frames();
        for slot in 0..total {
            let age = slot * stride; // how many frames older than the newest
            let src = if (age as u64) < seen {
                let idx = (self.history_pos + self.history_len - age) % self.history_len;
                Some(&self.history[idx * ch..(idx + 1) * ch])
            } else {
                None
            };
            match self.plan.layout {
                InputLayout::Flat | InputLayout::TimeMajor => {
                    let pos = if self.plan.layout == InputLayout::Flat {
                        slot
                    } else {
                        total - 1 - slot
                    };
                    let dst = &mut self.stacked[pos * ch..(pos + 1) * ch];
                    match src {
                        Some(src) => dst.copy_from_slice(src),
                        None => dst.fill(0.0),
                    }
                }
                InputLayout::ChannelMajor => {
                    let pos = total - 1 - slot;
                    for c in 0..ch {
                        self.stacked[c * total + pos] = src.map_or(0.0, |s| s[c]);
                    }
                }
            }
        }
    }

    /// Runs the front-end over a whole recording (interleaved samples) and
    /// returns every feature vector, frame-major.
    pub fn run_batch(plan: &FrontEndPlan, samples: &[f32]) -> Vec<f32> {
        let mut fx = FeatureExtractor::new(plan);
        let mut out = Vec::new();
        for s in samples.chunks_exact(plan.channels) {
            if let Some(f) = fx.push_sample(s) {
                out.extend_from_slice(f);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn plan(channels: usize) -> FrontEndPlan {
        FrontEndPlan {
            channels,
            sample_rate: 1024.0,
            common_average_reference: true,
            line_frequency: Some(50.0),
            notch_harmonics: 3,
            band: (70.0, 170.0),
            filter_order: 4,
            window_s: 0.05,
            hop_s: 0.01,
            past_frames: 3,
            future_frames: 0,
            stride: 2,
            mean: vec![],
            std: vec![],
            layout: InputLayout::Flat,
            bipolar: vec![],
            extra_bands: vec![],
            raw_window: false,
        }
    }

    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect()
    }

    #[test]
    fn frames_come_every_ten_milliseconds_at_a_fractional_hop() {
        let p = plan(2);
        let x = noise(2 * 1024 * 3, 1);
        let out = FeatureExtractor::run_batch(&p, &x);
        // 3 s at 100 frames per second.
        assert_eq!(out.len() / p.feature_dim(), 300);
    }

    #[test]
    fn high_gamma_power_tracks_amplitude_and_ignores_low_frequencies() {
        let mut p = plan(1);
        p.common_average_reference = false;
        p.past_frames = 0;
        let rate = p.sample_rate;
        let tone = |f: f64, a: f64| -> Vec<f32> {
            (0..2048)
                .map(|n| (a * (2.0 * std::f64::consts::PI * f * n as f64 / rate).sin()) as f32)
                .collect()
        };
        let last = |x: &[f32]| *FeatureExtractor::run_batch(&p, x).last().unwrap();
        let (g1, g2, low, line) = (
            last(&tone(110.0, 1.0)),
            last(&tone(110.0, 2.0)),
            last(&tone(10.0, 10.0)),
            last(&tone(100.0, 10.0)),
        );
        // Doubling amplitude adds ln 4 to log power.
        assert!((g2 - g1 - 4f32.ln()).abs() < 0.05, "{g1} {g2}");
        assert!(low < g1 - 8.0, "10 Hz leaks: {low} vs {g1}");
        assert!(
            line < g1 - 4.0,
            "the 100 Hz line harmonic leaks: {line} vs {g1}"
        );
    }

    #[test]
    fn common_average_reference_removes_shared_signal() {
        let mut p = plan(4);
        p.past_frames = 0;
        let shared = noise(2048, 7);
        let x: Vec<f32> = shared.iter().flat_map(|&v| [v; 4]).collect();
        let out = FeatureExtractor::run_batch(&p, &x);
        assert!(out.iter().all(|&v| v < -20.0), "shared signal survived CAR");
    }

    #[test]
    fn nonfinite_samples_are_replaced_and_counted() {
        let p = plan(2);
        let mut x = noise(2 * 2048, 3);
        x[100] = f32::NAN;
        x[501] = f32::INFINITY;
        let mut fx = FeatureExtractor::new(&p);
        let mut frames = 0;
        for s in x.chunks_exact(2) {
            if let Some(f) = fx.push_sample(s) {
                assert!(f.iter().all(|v| v.is_finite()));
                frames += 1;
            }
        }
        assert_eq!(fx.nonfinite_samples(), 2);
        assert_eq!(frames, 200);
    }

    #[test]
    fn context_stacks_newest_first_with_zero_padding() {
        let mut p = plan(1);
        p.common_average_reference = false;
        p.past_frames = 2;
        p.stride = 1;
        let x = noise(1024, 5);
        let single = {
            let mut q = p.clone();
            q.past_frames = 0;
            FeatureExtractor::run_batch(&q, &x)
        };
        let stacked = FeatureExtractor::run_batch(&p, &x);
        assert_eq!(stacked[0..3], [single[0], 0.0, 0.0]);
        assert_eq!(stacked[3..6], [single[1], single[0], 0.0]);
        assert_eq!(stacked[30..33], [single[10], single[9], single[8]]);
    }

    #[test]
    fn sequence_layouts_hold_the_flat_stack_oldest_first() {
        let mut p = plan(3);
        p.past_frames = 2;
        p.stride = 1;
        let x = noise(3 * 2048, 5);
        let flat = FeatureExtractor::run_batch(&p, &x);
        let (ch, t) = (3, 3);
        for layout in [InputLayout::TimeMajor, InputLayout::ChannelMajor] {
            let q = FrontEndPlan {
                layout,
                ..p.clone()
            };
            let seq = FeatureExtractor::run_batch(&q, &x);
            assert_eq!(seq.len(), flat.len());
            for (f, s) in flat.chunks_exact(ch * t).zip(seq.chunks_exact(ch * t)) {
                for slot in 0..t {
                    for c in 0..ch {
                        let oldest_first = t - 1 - slot;
                        let at = match layout {
                            InputLayout::TimeMajor => oldest_first * ch + c,
                            _ => c * t + oldest_first,
                        };
                        assert_eq!(s[at], f[slot * ch + c], "{layout:?} slot {slot} ch {c}");
                    }
                }
            }
        }
        assert_eq!(InputLayout::ChannelMajor.shape(3, 5), [3, 5]);
        assert_eq!(InputLayout::TimeMajor.shape(3, 5), [5, 3]);
    }

    #[test]
    fn future_context_delays_output_by_its_frames() {
        let mut p = plan(1);
        p.common_average_reference = false;
        p.past_frames = 1;
        p.future_frames = 1;
        p.stride = 2;
        let x = noise(1024, 9);
        let out = FeatureExtractor::run_batch(&p, &x);
        let n = out.len() / 3;
        assert_eq!(n, 100 - 2);
        // One future frame, two hops apart.
        assert!((p.future_context_s() - 0.02).abs() < 1e-12);
    }

    #[test]
    fn normalisation_uses_the_bundle_statistics() {
        let mut p = plan(1);
        p.common_average_reference = false;
        p.past_frames = 0;
        let x = noise(2048, 11);
        let raw = FeatureExtractor::run_batch(&p, &x);
        p.mean = vec![2.0];
        p.std = vec![4.0];
        let norm = FeatureExtractor::run_batch(&p, &x);
        for (r, n) in raw.iter().zip(&norm) {
            assert!(((r - 2.0) / 4.0 - n).abs() < 1e-6);
        }
    }
}
