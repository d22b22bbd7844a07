//! When a channel worker clears periodically: every `clear_interval` blocks of chain A, but not
//! on a channel that is quiet, so an idle daemon's clearing costs what is unfinished, not a few
//! queries per channel per interval.
//!
//! A channel is *quiet* after a clearing round that completed in both directions and found no
//! packet commitment open on either end (so no packet to deliver or time out and no
//! acknowledgement to return), as long as no packet event of the channel has arrived since. A
//! quiet channel skips its periodic rounds; any packet event (`send_packet`,
//! `write_acknowledgement`, `recv_packet`, `acknowledge_packet`, `timeout_packet` on either
//! end, whoever caused it) ends the quiet, and the next interval clears again.
//!
//! Work can only appear on a channel through a commitment written by `send_packet`, which the
//! event hub delivers. What the hub cannot deliver is covered by other triggers, each of which
//! makes the worker clear at once whatever this schedule says:
//!
//! - the hub dropped events of this channel on a full queue: its `lagged` signal;
//! - the hub passed over events it could not route (heights pruned by the node before they were
//!   fetched, a height set aside because its `block_results` keeps failing, a malformed packet
//!   event whose channel is unknown): its chain-wide `gaps` counter;
//! - the daemon was down: clearing on start, and again after the scan from the cursor;
//! - an operator asks (`POST /clear`).
//!
//! What is left, and what the safety net is for: an event the hub delivers but the relayer does
//! not recognise as a packet event of this channel (a chain emitting packet events under other
//! names or encodings), or a bug. A quiet channel is therefore still cleared once per
//! `rescan_interval` (default 30 min), each channel at its own jittered time so a thousand quiet
//! channels do not all query at the same block. Such a miss is found within that interval
//! instead of within `clear_interval` blocks.

use std::time::Duration;

use tokio::time::Instant;

/// The periodic clearing schedule of one channel worker.
#[derive(Debug)]
pub(crate) struct ClearSchedule {
    /// Clear every this many blocks of chain A (0: never periodically).
    interval: u64,
    /// How often a quiet channel is cleared anyway.
    rescan: Duration,
    /// Height of chain A at the last round (or the last skipped one).
    last: u64,
    /// When the channel is quiet, when it is cleared anyway; `None` while it is not quiet.
    quiet_until: Option<Instant>,
}

impl ClearSchedule {
    /// A schedule clearing every `interval` blocks (0: never), a quiet channel every `rescan`.
    /// Nothing is known about the channel yet: it is not quiet.
    pub(crate) fn new(interval: u64, rescan: Duration) -> Self {
        Self {
            interval,
            rescan,
            last: 0,
            quiet_until: None,
        }
    }

    /// A packet event of the channel arrived: it is no longer quiet.
    pub(crate) fn event(&mut self) {
        self.quiet_until = None;
    }

    /// Whether chain A's new height `height` calls for a periodic round. A quiet channel's
    /// interval passes without one until its rescan is due.
    pub(crate) fn due(&mut self, height: u64, now: Instant) -> bool {
        if self.interval == 0 || height < self.last.saturating_add(self.interval) {
            return false;
        }
        match self.quiet_until {
            Some(until) if now < until => {
                self.last = height;
                false
            }
            _ => true,
        }
    }

    /// A round (periodic or not) ended at chain A's height `height`; `quiet` when it completed
    /// in both directions and found no commitment open on either end.
    pub(crate) fn cleared(&mut self, height: u64, quiet: bool, now: Instant) {
        self.last = height;
        self.quiet_until = quiet.then(|| now + jittered(self.rescan, rand::random::<f64>()));
    }

    /// Whether the channel is quiet (its periodic rounds are skipped).
    #[cfg(test)]
    pub(crate) fn is_quiet(&self) -> bool {
        self.quiet_until.is_some()
    }
}

/// `every` spread over 75% to 125% of itself by `r` in [0, 1).
fn jittered(every: Duration, r: f64) -> Duration {
    every.mul_f64(0.75 + 0.5 * r.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESCAN: Duration = Duration::from_secs(600);

    #[test]
    fn a_channel_is_cleared_every_interval_until_a_round_finds_it_quiet() {
        let now = Instant::now();
        let mut s = ClearSchedule::new(10, RESCAN);
        assert!(!s.due(5, now));
        assert!(s.due(10, now));
        s.cleared(10, false, now);
        assert!(!s.due(19, now));
        assert!(s.due(20, now));
        s.cleared(20, true, now);
        assert!(s.is_quiet());
        // Quiet: the intervals pass without a round.
        assert!(!s.due(30, now));
        assert!(!s.due(40, now + Duration::from_secs(60)));
        // A packet event ends the quiet: the next interval clears.
        s.event();
        assert!(!s.due(45, now));
        assert!(s.due(50, now));
    }

    #[test]
    fn a_quiet_channel_is_still_cleared_once_per_rescan() {
        let now = Instant::now();
        let mut s = ClearSchedule::new(10, RESCAN);
        s.cleared(10, true, now);
        assert!(!s.due(20, now + RESCAN.mul_f64(0.7)));
        assert!(s.due(30, now + RESCAN.mul_f64(1.3)));
    }

    #[test]
    fn no_interval_means_no_periodic_round() {
        let now = Instant::now();
        let mut s = ClearSchedule::new(0, RESCAN);
        assert!(!s.due(1_000, now + RESCAN * 2));
    }

    #[test]
    fn rescans_spread_over_half_the_interval() {
        assert_eq!(jittered(RESCAN, 0.0), RESCAN.mul_f64(0.75));
        assert_eq!(jittered(RESCAN, 0.5), RESCAN);
        assert!(jittered(RESCAN, 0.999) < RESCAN.mul_f64(1.25));
    }
}
