//! The EEG stream's timestamps, checked and repaired before anything uses
//! them.
//!
//! An amplifier (or the app between it and LSL) can stamp a sample with
//! infinity, NaN, a value years away, or jump its stamps back by seconds.
//! liblsl passes such stamps through untouched, so each one is judged here,
//! on the sender's clock, against the stream before it:
//!
//! - *usable*: finite, and (once liblsl has measured the clock offset)
//!   within [`MAX_AGE_S`] before and [`MAX_AHEAD_S`] after the local clock
//!   when the sample is pulled; and at least half a sample period after the
//!   last stamp, but no further ahead of it than the local clock moved since
//!   (plus [`AHEAD_SLACK_S`]), so gaps of missing samples are real ones;
//! - *a duplicate*: usable, but repeating the last stamp or going back by
//!   less than [`BACKWARD_JITTER_S`]: the sample was already delivered and is
//!   dropped;
//! - otherwise *bad*: the sample is kept and re-stamped one nominal period
//!   after the last stamp, so it neither opens a gap nor counts as missing.
//!
//! Stamps that are bad only because they left the stream's timeline (the
//! sender's clock jumped) but agree with each other take over as the new
//! timeline after [`RESYNC_SAMPLES`] of them, as long as they are usable
//! on their own (before the clock offset is known, any finite stamp is).
//! Every count is a plain number of samples: nothing here can overflow.

/// How far back a stamp may go and still be a repeat (dropped), rather than
/// a bad stamp (repaired).
pub const BACKWARD_JITTER_S: f64 = 0.1;
/// How much further than the local clock a stamp may advance from the last
/// one (samples that arrive in bursts, transport that varies).
pub const AHEAD_SLACK_S: f64 = 1.0;
/// With the clock offset known: the oldest a sample may be by its stamp when
/// it is pulled (the inlet buffers about one second).
pub const MAX_AGE_S: f64 = 5.0;
/// With the clock offset known: how far in the future a stamp may be (the
/// offset's own error is far smaller).
pub const MAX_AHEAD_S: f64 = 1.0;
/// Consecutive samples, one period apart among themselves but off the
/// stream's timeline, that make a new timeline (a jump of the sender's
/// clock costs this many re-stamped samples).
pub const RESYNC_SAMPLES: u32 = 32;

/// What to do with one sample, by its stamp.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// A usable stamp; `missing` samples were never sent before it.
    Good { ts: f64, missing: u64 },
    /// Already delivered (the stamp did not advance): drop the sample.
    Duplicate,
    /// The stamp was unusable and is replaced by `ts`.
    Repaired { ts: f64 },
}

/// The timestamp check of one connection.
#[derive(Clone, Debug)]
pub struct StampCheck {
    period: f64,
    /// The last stamp given out, and the local clock when it was.
    last: Option<(f64, f64)>,
    /// Stamps off the timeline that agree with each other: the newest, and
    /// how many in a row.
    candidate: Option<(f64, u32)>,
}

impl StampCheck {
    /// A check for a stream at `rate_hz` (nominal).
    pub fn new(rate_hz: f64) -> Self {
        Self {
            period: 1.0 / rate_hz,
            last: None,
            candidate: None,
        }
    }

    /// Judges the stamp `ts` (sender's clock) of a sample pulled at `now`
    /// (liblsl's local clock), with liblsl's clock offset (sender + offset =
    /// local) when known.
    pub fn check(&mut self, ts: f64, now: f64, offset: Option<f64>) -> Verdict {
        let p = self.period;
        let usable = ts.is_finite()
            && offset.is_none_or(|c| {
                let age = now - (ts + c);
                (-MAX_AHEAD_S..=MAX_AGE_S).contains(&age)
            });
        let Some((last, last_now)) = self.last else {
            // The first sample: its stamp starts the timeline, or, when it is
            // unusable, the local clock does.
            let ts = if usable {
                ts
            } else {
                now - offset.unwrap_or(0.0)
            };
            self.last = Some((ts, now));
            return if usable {
                Verdict::Good { ts, missing: 0 }
            } else {
                Verdict::Repaired { ts }
            };
        };
        if usable {
            let dt = ts - last;
            let elapsed = (now - last_now).max(0.0);
            if dt >= 0.5 * p && dt <= elapsed + AHEAD_SLACK_S {
                self.last = Some((ts, now));
                self.candidate = None;
                // dt is bounded by the local clock here: no overflow.
                let missing = if dt > 1.5 * p {
                    ((dt / p).round() as u64).saturating_sub(1)
                } else {
                    0
                };
                return Verdict::Good { ts, missing };
            }
            if dt < 0.5 * p && dt >= -BACKWARD_JITTER_S {
                return Verdict::Duplicate;
            }
            let run = match self.candidate {
                Some((c, n)) if (0.5 * p..=1.5 * p).contains(&(ts - c)) => n + 1,
                _ => 1,
            };
            if run > RESYNC_SAMPLES {
                self.candidate = None;
                self.last = Some((ts, now));
                return Verdict::Good { ts, missing: 0 };
            }
            self.candidate = Some((ts, run));
        } else {
            self.candidate = None;
        }
        let ts = last + p;
        self.last = Some((ts, now));
        Verdict::Repaired { ts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: f64 = 1024.0;

    /// Feeds `stamps` as if each sample were pulled as it was taken (local
    /// clock = sender's clock + `offset`), and returns the verdicts.
    fn run(stamps: &[f64], offset: Option<f64>) -> Vec<Verdict> {
        let mut c = StampCheck::new(RATE);
        let o = offset.unwrap_or(0.0);
        stamps
            .iter()
            .enumerate()
            .map(|(i, &ts)| c.check(ts, 100.0 + i as f64 / RATE + o + 0.003, offset))
            .collect()
    }

    fn nominal(n: usize) -> Vec<f64> {
        (0..n).map(|i| 100.0 + i as f64 / RATE).collect()
    }

    fn repaired(v: &[Verdict]) -> usize {
        v.iter()
            .filter(|v| matches!(v, Verdict::Repaired { .. }))
            .count()
    }

    #[test]
    fn infinite_nan_and_huge_stamps_are_replaced_by_the_nominal_ones() {
        for offset in [None, Some(-42.0)] {
            let mut s = nominal(400);
            s[100] = f64::INFINITY;
            s[200] = f64::NAN;
            s[300] = 1e30;
            s[301] = f64::NEG_INFINITY;
            let v = run(&s, offset);
            assert_eq!(repaired(&v), 4, "{offset:?}");
            for i in [100, 200, 300, 301] {
                let Verdict::Repaired { ts } = v[i] else {
                    panic!("{i}: {:?}", v[i]);
                };
                assert!((ts - nominal(400)[i]).abs() < 1e-9, "{i}: {ts}");
            }
            assert!(
                v.iter()
                    .all(|v| !matches!(v, Verdict::Good { missing, .. } if *missing > 0)),
                "a bad stamp opened a gap: {offset:?}"
            );
        }
    }

    #[test]
    fn gaps_and_repeats_are_still_told_apart() {
        let mut s = nominal(300);
        s.drain(100..150); // 50 samples never sent
        s.insert(20, s[20]); // one sent twice
        let v = run(&s, Some(0.0));
        assert_eq!(v.iter().filter(|v| **v == Verdict::Duplicate).count(), 1);
        assert!(v.contains(&Verdict::Good {
            ts: 100.0 + 150.0 / RATE,
            missing: 50
        }));
        assert_eq!(repaired(&v), 0);
    }

    #[test]
    fn a_jump_back_is_repaired_and_a_new_timeline_is_taken_only_when_it_is_plausible() {
        let mut s = nominal(2000);
        for t in &mut s[1000..] {
            *t -= 10.0;
        }
        // Clock offset unknown: the jumped stamps agree with each other and
        // become the timeline after RESYNC_SAMPLES.
        let v = run(&s, None);
        assert_eq!(repaired(&v), RESYNC_SAMPLES as usize);
        assert_eq!(
            v[1000 + RESYNC_SAMPLES as usize],
            Verdict::Good {
                ts: s[1000 + RESYNC_SAMPLES as usize],
                missing: 0
            }
        );
        // Clock offset known: 10 s behind the local clock is never usable,
        // so every later sample is re-stamped on the old timeline.
        let v = run(&s, Some(0.0));
        assert_eq!(repaired(&v), 1000);
        let Verdict::Repaired { ts } = v[1999] else {
            panic!("{:?}", v[1999]);
        };
        assert!((ts - nominal(2000)[1999]).abs() < 1e-6, "{ts}");
    }

    #[test]
    fn an_unusable_first_stamp_starts_from_the_local_clock() {
        let mut c = StampCheck::new(RATE);
        assert_eq!(
            c.check(f64::NAN, 50.0, Some(2.0)),
            Verdict::Repaired { ts: 48.0 }
        );
        assert_eq!(
            c.check(48.0 + 1.0 / RATE, 50.001, Some(2.0)),
            Verdict::Good {
                ts: 48.0 + 1.0 / RATE,
                missing: 0
            }
        );
    }
}
