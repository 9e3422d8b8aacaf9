//! The player's margin, grown from near misses and shrunk slowly.
//!
//! A frame's *spare* is how long before the block holding its first sample
//! was taken its audio was ready (negative: it came after, a late frame).
//! The schedule holds the margin for all but a few frames of a window, so a
//! frame whose spare falls below half the margin (a *near miss*) or below
//! zero (a miss) met a delay of about `margin − spare` beyond the usual. The
//! margin then grows at once to cover that delay again with the floor
//! (`--margin-ms`) to spare: `margin − spare + floor`. A delay that would
//! need more than [`MAX_MARGIN_S`] is an outage (the machine or the stream
//! stalled for tens of milliseconds), not jitter: covering it would add
//! that much latency to every frame for minutes, so it grows nothing and
//! stays counted as the underrun it is. Every window without a near miss
//! the margin shrinks by [`DECAY_PER_S`] per second of audio in the
//! window, down to the floor. A
//! session starts at [`START_MARGIN_S`] (or the floor, when that is more),
//! so the stalls of its first minute meet a margin that has not yet learned
//! them. With adaptation off the margin is the floor throughout.

/// The margin a session starts with (seconds), unless the floor is higher.
pub const START_MARGIN_S: f64 = 0.002;
/// The margin never grows beyond this (seconds); a delay that would need
/// more is an outage and grows nothing.
pub const MAX_MARGIN_S: f64 = 0.010;
/// How fast the margin shrinks when no frame came near missing (seconds of
/// margin per second of audio): 1 ms in 2 s, so that a stall's raise is
/// gone within seconds (a margin held high for a minute after every stall
/// was most of the low-latency bundle's sensor-to-sound p99).
pub const DECAY_PER_S: f64 = 0.000_5;
/// A frame ready with less than this fraction of the margin to spare is a
/// near miss.
pub const NEAR: f64 = 0.5;

/// The margin's state; see the module documentation.
#[derive(Clone, Copy, Debug)]
pub struct AdaptiveMargin {
    floor_s: f64,
    start_s: f64,
    current_s: f64,
    peak_s: f64,
    adaptive: bool,
    raises: u64,
    near_in_window: bool,
}

/// What the margin did over a session, for the report.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MarginSummary {
    pub adaptive: bool,
    pub floor_s: f64,
    pub start_s: f64,
    pub final_s: f64,
    pub peak_s: f64,
    /// Times a near miss or a miss grew it.
    pub raises: u64,
}

impl AdaptiveMargin {
    /// A margin that never falls below `floor_s`; fixed at it unless
    /// `adaptive`.
    pub fn new(floor_s: f64, adaptive: bool) -> Self {
        let floor_s = floor_s.max(0.0);
        let start_s = if adaptive {
            floor_s.max(START_MARGIN_S).min(MAX_MARGIN_S.max(floor_s))
        } else {
            floor_s
        };
        Self {
            floor_s,
            start_s,
            current_s: start_s,
            peak_s: start_s,
            adaptive,
            raises: 0,
            near_in_window: false,
        }
    }

    /// The margin to hold now, in seconds.
    #[inline]
    pub fn current_s(&self) -> f64 {
        self.current_s
    }

    /// Notes a frame's spare (seconds; negative when it came after its
    /// block was taken). Returns true when the margin grew.
    #[inline]
    pub fn observe(&mut self, spare_s: f64) -> bool {
        if !self.adaptive || spare_s >= NEAR * self.current_s {
            return false;
        }
        self.near_in_window = true;
        let want = self.current_s - spare_s + self.floor_s;
        if want <= self.current_s || want > MAX_MARGIN_S.max(self.floor_s) {
            return false;
        }
        self.current_s = want;
        self.peak_s = self.peak_s.max(want);
        self.raises += 1;
        true
    }

    /// Ends a window of `audio_s` seconds of audio: the margin shrinks when
    /// no frame of it came near missing.
    #[inline]
    pub fn end_window(&mut self, audio_s: f64) {
        if self.adaptive && !self.near_in_window {
            self.current_s = (self.current_s - DECAY_PER_S * audio_s).max(self.floor_s);
        }
        self.near_in_window = false;
    }

    /// The session's margin so far.
    pub fn summary(&self) -> MarginSummary {
        MarginSummary {
            adaptive: self.adaptive,
            floor_s: self.floor_s,
            start_s: self.start_s,
            final_s: self.current_s,
            peak_s: self.peak_s,
            raises: self.raises,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_near_miss_grows_the_margin_and_quiet_windows_shrink_it_to_the_floor() {
        let mut m = AdaptiveMargin::new(0.0005, true);
        assert_eq!(m.current_s(), START_MARGIN_S);
        // Frames with the margin to spare change nothing.
        assert!(!m.observe(0.002));
        assert!(!m.observe(0.0015));
        // Ready 0.2 ms before its block: a delay of 1.8 ms beyond the usual.
        assert!(m.observe(0.0002));
        assert!((m.current_s() - (0.002 - 0.0002 + 0.0005)).abs() < 1e-12);
        // A window with that near miss in it does not shrink.
        m.end_window(4.0);
        assert!((m.current_s() - 0.0023).abs() < 1e-12);
        // Quiet windows shrink it by the second of audio, never below the floor.
        m.end_window(1.0);
        assert!((m.current_s() - (0.0023 - DECAY_PER_S)).abs() < 1e-12);
        for _ in 0..100 {
            m.end_window(4.0);
        }
        assert_eq!(m.current_s(), 0.0005);
        let s = m.summary();
        assert_eq!(s.raises, 1);
        assert!((s.peak_s - 0.0023).abs() < 1e-12);
    }

    #[test]
    fn a_miss_grows_it_by_how_late_the_frame_was_but_an_outage_grows_nothing() {
        let mut m = AdaptiveMargin::new(0.0005, true);
        // 3 ms after its block was taken.
        assert!(m.observe(-0.003));
        assert!((m.current_s() - (0.002 + 0.003 + 0.0005)).abs() < 1e-12);
        // 50 ms after: the stream or the machine stalled; no margin worth
        // its price covers that.
        assert!(!m.observe(-0.05));
        assert!((m.current_s() - 0.0055).abs() < 1e-12);
        // Up to the cap it still learns.
        assert!(m.observe(0.0055 + 0.0005 - MAX_MARGIN_S));
        assert!((m.current_s() - MAX_MARGIN_S).abs() < 1e-12);
        assert_eq!(m.summary().raises, 2);
    }

    #[test]
    fn without_adaptation_the_margin_is_the_floor_throughout() {
        let mut m = AdaptiveMargin::new(0.0005, false);
        assert!(!m.observe(-0.01));
        m.end_window(4.0);
        assert_eq!(m.current_s(), 0.0005);
        assert_eq!(m.summary().raises, 0);
    }
}
