//! How long the LSL reader sleeps when its inlet is empty.
//!
//! The reader never makes a blocking pull (the bundled liblsl waits for data
//! in 1 ms sleeps), so a chunk waits in the inlet until the reader's next
//! look: a fixed 250 µs sleep added up to 250 µs (125 µs on average, plus
//! the OS's wake-up) to every chunk's arrival. Chunks come on the sender's
//! schedule, so the reader learns when the next one is due from the gaps
//! between the last few: from [`LEAD`] before the shortest recent gap after
//! the last chunk until [`LEAD`] after the longest, it looks every [`FINE`]
//! (100 µs); before that window it sleeps in one go up to its opening (at
//! most [`NAP`]), after it (a chunk late, a stream stalled) every [`POLL`].
//! So a chunk inside the window waits at most [`FINE`], one earlier at most
//! [`NAP`], one later at most [`POLL`] as before.
//!
//! The cost is the wake-ups: a regular stream (an amplifier's, pylsl's) has
//! a narrow window and costs about what the old fixed sleep cost; a sender
//! whose chunks leave irregularly (the bundled liblsl 1.13's outlet sends from
//! a loop of 1 ms sleeps, so `stream-file --chunk-ms 1` arrives anywhere in a
//! millisecond) keeps the window open and wakes the reader every 100 µs.
//! [`FINE`] is 100 µs, not 50, for that case: on the 2-core box, with 1 ms
//! chunks from `stream-file`, 50 µs cost the reader about four times the CPU
//! of the old fixed sleep and 100 µs about twice, for the same gain (README,
//! *Live sessions*). Under `SCHED_FIFO` (see `live::realtime`) a sleep ends
//! on time; an ordinary thread's may run up to 50 µs longer (the kernel's
//! default timer slack).

use std::time::{Duration, Instant};

/// The coarse sleep, once a chunk is later than expected.
pub const POLL: Duration = Duration::from_micros(250);
/// The fine sleep, around a chunk's expected arrival.
pub const FINE: Duration = Duration::from_micros(100);
/// The longest sleep before the window around the next chunk opens (a chunk
/// that comes earlier than every recent gap waits up to this long).
pub const NAP: Duration = Duration::from_millis(1);
/// How far before the earliest (and after the latest) expected arrival the
/// fine sleeps start (and stop).
pub const LEAD: Duration = Duration::from_micros(300);
/// Gaps shorter than this are one chunk delivered in parts, or a burst
/// after a stall: not the sender's schedule.
const MIN_GAP: Duration = Duration::from_micros(200);
/// How many recent gaps are kept.
const GAPS: usize = 8;

/// The reader's idle schedule: fed each chunk's arrival, asked how long to
/// sleep. Fixed size; allocates nothing.
#[derive(Clone, Debug, Default)]
pub struct Pacer {
    last: Option<Instant>,
    gaps: [Duration; GAPS],
    known: usize,
    next: usize,
}

impl Pacer {
    /// A chunk (one or more samples) was taken at `now`.
    pub fn chunk(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let gap = now.saturating_duration_since(last);
            if gap < MIN_GAP {
                return;
            }
            self.gaps[self.next] = gap;
            self.next = (self.next + 1) % GAPS;
            self.known = (self.known + 1).min(GAPS);
        }
        self.last = Some(now);
    }

    /// Forgets the schedule (a new connection).
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// How long to sleep at `now`, the inlet being empty.
    pub fn idle(&self, now: Instant) -> Duration {
        let Some(last) = self.last else {
            return POLL;
        };
        let gaps = &self.gaps[..self.known];
        let (Some(&lo), Some(&hi)) = (gaps.iter().min(), gaps.iter().max()) else {
            return POLL;
        };
        let open = last + lo.saturating_sub(LEAD);
        let close = last + hi + LEAD;
        if now < open {
            (open - now).min(NAP)
        } else if now < close {
            FINE
        } else {
            POLL
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// A pacer fed chunks every `gap` from `t0`, `n` of them.
    fn fed(t0: Instant, gap: Duration, n: u32) -> Pacer {
        let mut p = Pacer::default();
        for k in 0..n {
            p.chunk(t0 + gap * k);
        }
        p
    }

    #[test]
    fn without_a_schedule_it_polls_coarsely() {
        let t0 = Instant::now();
        assert_eq!(Pacer::default().idle(t0), POLL);
        assert_eq!(fed(t0, MS, 1).idle(t0 + MS / 2), POLL);
    }

    #[test]
    fn it_looks_finely_only_around_the_next_chunk_of_a_regular_stream() {
        let t0 = Instant::now();
        let p = fed(t0, 10 * MS, 5);
        let last = t0 + 40 * MS;
        // Just after a chunk: long sleeps, never past the window's opening.
        assert_eq!(p.idle(last + MS), NAP);
        let open = last + 10 * MS - LEAD;
        assert_eq!(p.idle(open - NAP / 5), NAP / 5);
        // Around the due time: fine.
        assert_eq!(p.idle(open), FINE);
        assert_eq!(p.idle(last + 10 * MS), FINE);
        assert_eq!(p.idle(last + 10 * MS + LEAD - FINE), FINE);
        // Late beyond the window: coarse again.
        assert_eq!(p.idle(last + 10 * MS + LEAD), POLL);
        assert_eq!(p.idle(last + 50 * MS), POLL);
    }

    #[test]
    fn the_window_spans_the_recent_gaps_and_ignores_split_chunks() {
        let t0 = Instant::now();
        let mut p = Pacer::default();
        // Gaps of 9 and 11 ms, and a chunk split in two parts 20 µs apart.
        p.chunk(t0);
        p.chunk(t0 + 9 * MS);
        p.chunk(t0 + 20 * MS);
        p.chunk(t0 + 20 * MS + Duration::from_micros(20));
        let last = t0 + 20 * MS + Duration::from_micros(20);
        assert_eq!(p.idle(last + 9 * MS - LEAD), FINE);
        assert_eq!(p.idle(last + 11 * MS + LEAD - FINE), FINE);
        assert_eq!(p.idle(last + 11 * MS + LEAD), POLL);
        p.reset();
        assert_eq!(p.idle(last + 9 * MS), POLL);
    }
}
