//! The sink's block size, chosen from the bundle's hop.
//!
//! A frame must be ready when the block holding its first sample is taken,
//! so the playout schedule can hear a frame no sooner than at the first
//! block boundary after it is ready with the margin: up to one block of
//! waiting, half a block on average. When the block divides the hop, every
//! frame starts at the same place in its block, so one schedule fits them
//! all (8 ms blocks against 10 ms frames start frames at four phases, and
//! the schedule must fit the worst). When it is short, the wait is short,
//! but the null sink counts an underrun for a wake-up one block late, and a
//! sound device's buffer (two periods through cpal's ALSA host) is two
//! blocks. The automatic block is the largest divisor of the hop no longer
//! than [`AUTO_MAX_S`] (80 samples, 5 ms, for the demo's 10 ms and the
//! low-latency bundle's 5 ms hops at 16 kHz); a hop without such a divisor
//! of at least [`AUTO_MIN_S`] plays in blocks of [`AUTO_MAX_S`].

/// The automatic block is at most this long (seconds).
pub const AUTO_MAX_S: f64 = 0.005;
/// ... and a divisor of the hop shorter than this is not used (seconds).
pub const AUTO_MIN_S: f64 = 0.001;
/// How many times the cpal sink doubles a period the device refuses.
pub const MAX_DOUBLINGS: u32 = 4;

/// The automatic block for frames of `hop` samples at `rate` Hz.
pub fn auto_block(hop: usize, rate: u32) -> usize {
    let hop = hop.max(1);
    let most = ((AUTO_MAX_S * f64::from(rate)).floor() as usize).max(1);
    let least = (AUTO_MIN_S * f64::from(rate)).ceil() as usize;
    match (1..=most.min(hop)).rev().find(|d| hop.is_multiple_of(*d)) {
        Some(d) if d >= least => d,
        _ => most,
    }
}

/// The block of a session: `requested`, or the automatic one.
pub fn block_for(requested: Option<usize>, hop: usize, rate: u32) -> usize {
    requested.map_or_else(|| auto_block(hop, rate), |b| b.max(1))
}

/// Whether frames of `hop` samples all start at one place in blocks of
/// `block` samples.
pub fn divides_hop(block: usize, hop: usize) -> bool {
    block > 0 && hop.is_multiple_of(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_automatic_block_divides_the_hop_and_is_at_most_5_ms() {
        // The demo's 10 ms hop and the low-latency bundle's 5 ms one.
        assert_eq!(auto_block(160, 16_000), 80);
        assert_eq!(auto_block(80, 16_000), 80);
        // 2 ms hops play a frame a block; 15 ms hops in 5 ms blocks.
        assert_eq!(auto_block(32, 16_000), 32);
        assert_eq!(auto_block(240, 16_000), 80);
        // 12.5 ms at 16 kHz: 200 samples, largest divisor up to 80 is 50.
        assert_eq!(auto_block(200, 16_000), 50);
        // 441 samples at 44.1 kHz: 147 (3.3 ms) divides it.
        assert_eq!(auto_block(441, 44_100), 147);
        for (hop, rate) in [(160, 16_000), (80, 16_000), (480, 48_000), (200, 16_000)] {
            assert!(divides_hop(auto_block(hop, rate), hop), "{hop} at {rate}");
        }
    }

    #[test]
    fn a_hop_without_a_usable_divisor_plays_in_5_ms_blocks() {
        // 163 is prime: its only divisors are 1 and itself.
        assert_eq!(auto_block(163, 16_000), 80);
        assert!(!divides_hop(80, 163));
    }

    #[test]
    fn a_requested_block_is_kept() {
        assert_eq!(block_for(Some(128), 160, 16_000), 128);
        assert_eq!(block_for(None, 160, 16_000), 80);
        assert_eq!(block_for(Some(0), 160, 16_000), 1);
    }
}
