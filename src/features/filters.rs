//! Second-order IIR sections and the designs the front-end needs: Butterworth
//! high- and low-pass cascades (bilinear transform) and notches at the line
//! frequency. All filters are causal, so the same code runs offline and live.

use std::f64::consts::PI;

/// One biquad in transposed direct form II, with f64 state for stability at
/// low normalised frequencies.
#[derive(Clone, Copy, Debug)]
pub struct Biquad {
    b0: f64,
    b1: f64,
    b2: f64,
    a1: f64,
    a2: f64,
    z1: f64,
    z2: f64,
}

impl Biquad {
    fn normalized(b: [f64; 3], a: [f64; 3]) -> Self {
        Self {
            b0: b[0] / a[0],
            b1: b[1] / a[0],
            b2: b[2] / a[0],
            a1: a[1] / a[0],
            a2: a[2] / a[0],
            z1: 0.0,
            z2: 0.0,
        }
    }

    /// A second-order low-pass section with quality factor `q` at `freq` Hz.
    pub fn low_pass(freq: f64, q: f64, rate: f64) -> Self {
        let w = 2.0 * PI * freq / rate;
        let alpha = w.sin() / (2.0 * q);
        let c = w.cos();
        Self::normalized(
            [(1.0 - c) / 2.0, 1.0 - c, (1.0 - c) / 2.0],
            [1.0 + alpha, -2.0 * c, 1.0 - alpha],
        )
    }

    /// A second-order high-pass section with quality factor `q` at `freq` Hz.
    pub fn high_pass(freq: f64, q: f64, rate: f64) -> Self {
        let w = 2.0 * PI * freq / rate;
        let alpha = w.sin() / (2.0 * q);
        let c = w.cos();
        Self::normalized(
            [(1.0 + c) / 2.0, -(1.0 + c), (1.0 + c) / 2.0],
            [1.0 + alpha, -2.0 * c, 1.0 - alpha],
        )
    }

    /// A notch at `freq` Hz whose -3 dB width is `freq / q`.
    pub fn notch(freq: f64, q: f64, rate: f64) -> Self {
        let w = 2.0 * PI * freq / rate;
        let alpha = w.sin() / (2.0 * q);
        let c = w.cos();
        Self::normalized([1.0, -2.0 * c, 1.0], [1.0 + alpha, -2.0 * c, 1.0 - alpha])
    }

    /// Filters one sample.
    #[inline]
    pub fn process(&mut self, x: f64) -> f64 {
        let y = self.b0 * x + self.z1;
        self.z1 = self.b1 * x - self.a1 * y + self.z2;
        self.z2 = self.b2 * x - self.a2 * y;
        y
    }

    /// Clears the state, as if the filter had only ever seen zeros.
    pub fn reset(&mut self) {
        self.z1 = 0.0;
        self.z2 = 0.0;
    }

    /// The magnitude response at `freq` Hz.
    pub fn gain_at(&self, freq: f64, rate: f64) -> f64 {
        let w = 2.0 * PI * freq / rate;
        let (c1, s1, c2, s2) = (w.cos(), w.sin(), (2.0 * w).cos(), (2.0 * w).sin());
        let num = (
            self.b0 + self.b1 * c1 + self.b2 * c2,
            -(self.b1 * s1 + self.b2 * s2),
        );
        let den = (
            1.0 + self.a1 * c1 + self.a2 * c2,
            -(self.a1 * s1 + self.a2 * s2),
        );
        (num.0.hypot(num.1)) / (den.0.hypot(den.1))
    }
}

/// The quality factors of the second-order sections of an even-order
/// Butterworth filter.
fn butterworth_qs(order: usize) -> impl Iterator<Item = f64> {
    (0..order / 2).map(move |k| {
        let theta = PI * (2 * k + 1) as f64 / (2 * order) as f64;
        1.0 / (2.0 * theta.sin())
    })
}

/// A cascade of biquads applied in order.
#[derive(Clone, Debug, Default)]
pub struct Cascade {
    sections: Vec<Biquad>,
}

impl Cascade {
    /// A band-pass made of an `order`-th order Butterworth high-pass at `low`
    /// and low-pass at `high` (`order` even, at least 2).
    pub fn band_pass(low: f64, high: f64, order: usize, rate: f64) -> Self {
        let mut sections: Vec<Biquad> = butterworth_qs(order)
            .map(|q| Biquad::high_pass(low, q, rate))
            .collect();
        sections.extend(butterworth_qs(order).map(|q| Biquad::low_pass(high, q, rate)));
        Self { sections }
    }

    /// Notches at `line` Hz and its harmonics, up to `harmonics` of them and
    /// below 0.45 of the sample rate.
    pub fn line_notches(line: f64, harmonics: usize, q: f64, rate: f64) -> Self {
        let sections = (1..=harmonics)
            .map(|h| line * h as f64)
            .filter(|&f| f < 0.45 * rate)
            .map(|f| Biquad::notch(f, q, rate))
            .collect();
        Self { sections }
    }

    /// Appends the sections of `other` after these.
    pub fn then(mut self, other: Cascade) -> Self {
        self.sections.extend(other.sections);
        self
    }

    /// Filters one sample through every section.
    #[inline]
    pub fn process(&mut self, x: f64) -> f64 {
        self.sections.iter_mut().fold(x, |acc, s| s.process(acc))
    }

    /// Clears every section's state.
    pub fn reset(&mut self) {
        self.sections.iter_mut().for_each(Biquad::reset);
    }

    /// The magnitude response of the whole cascade at `freq` Hz.
    pub fn gain_at(&self, freq: f64, rate: f64) -> f64 {
        self.sections
            .iter()
            .map(|s| s.gain_at(freq, rate))
            .product()
    }

    /// The number of second-order sections.
    pub fn len(&self) -> usize {
        self.sections.len()
    }

    /// Whether the cascade passes its input through unchanged.
    pub fn is_empty(&self) -> bool {
        self.sections.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_pass_passes_the_band_and_stops_the_rest() {
        let f = Cascade::band_pass(70.0, 170.0, 4, 1024.0);
        assert_eq!(f.len(), 4);
        assert!((f.gain_at(110.0, 1024.0) - 1.0).abs() < 0.1);
        assert!(f.gain_at(10.0, 1024.0) < 1e-3);
        assert!(f.gain_at(400.0, 1024.0) < 0.02);
        // -3 dB at the edges, as a Butterworth design promises.
        assert!((f.gain_at(70.0, 1024.0) - 0.707).abs() < 0.08);
        assert!((f.gain_at(170.0, 1024.0) - 0.707).abs() < 0.08);
    }

    #[test]
    fn notches_remove_the_line_and_its_harmonics() {
        let f = Cascade::line_notches(50.0, 3, 30.0, 1024.0);
        assert_eq!(f.len(), 3);
        for h in [50.0, 100.0, 150.0] {
            assert!(f.gain_at(h, 1024.0) < 1e-6, "gain at {h} Hz");
        }
        assert!(f.gain_at(125.0, 1024.0) > 0.95);
    }

    #[test]
    fn time_domain_matches_the_designed_response() {
        let rate = 1024.0;
        let mut f = Cascade::band_pass(70.0, 170.0, 4, rate);
        for (freq, want) in [(120.0, 1.0), (20.0, 0.0)] {
            f.reset();
            let mut peak: f64 = 0.0;
            for n in 0..4096 {
                let y = f.process((2.0 * PI * freq * n as f64 / rate).sin());
                if n > 2048 {
                    peak = peak.max(y.abs());
                }
            }
            assert!((peak - want).abs() < 0.1, "{freq} Hz: peak {peak}");
        }
    }
}
