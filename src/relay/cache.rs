//! The sequence cache: what this process has already done or is doing for each packet, so a
//! packet seen twice (event and clearing, or a restarted worker) is not submitted twice, and a
//! failed one is retried with backoff a bounded number of times. The chain stays the source of
//! truth: the cache only saves fees and RPC calls, and clearing finds whatever it forgets.
//!
//! Two verdicts are therefore kept apart. `Done` is what the chain showed: our tx executed, a
//! NOOP result in a block, or an event of someone else's delivery. `Pending elsewhere` is what
//! CheckTx said with code 22 ("packet messages are redundant"): some tx carrying the same
//! packets exists, but it may only wait in a mempool (another relayer's, or our own after a
//! "lost" verdict) and be evicted later. An event never claims such a step again, clearing does:
//! clearing found it unfinished on chain, and if the other tx still waits, the new one is
//! refused at CheckTx again, which costs no fee.
//!
//! Memory is bounded per channel: every clearing round forgets the settled entries (those whose
//! packet no longer has a commitment on its source), a stopped channel is forgotten, and a
//! channel never holds more than [`MAX_ENTRIES_PER_CHANNEL`] entries (the lowest sequences that
//! are not in flight go first). Entries live in one ordered map per channel, so a prune touches
//! only its channel.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::chain::types::RelayKind;
use crate::config::HumanDuration;
use crate::tx::engine::Outcome;

/// Most entries one channel direction keeps (in flight entries are never dropped for this).
pub(crate) const MAX_ENTRIES_PER_CHANNEL: usize = 100_000;

/// Identifies one relay step of one packet: the chain the packet was sent from, its source port,
/// channel and sequence, and the step.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    /// Chain id of the packet's source chain.
    pub(crate) src_chain: String,
    /// Source port.
    pub(crate) port: String,
    /// Source channel.
    pub(crate) channel: String,
    /// The step.
    pub(crate) kind: RelayKind,
    /// Packet sequence.
    pub(crate) sequence: u64,
}

/// The packets sent over one channel end: (source chain, source port, source channel).
type ChannelKey = (String, String, String);

impl CacheKey {
    fn channel_key(&self) -> ChannelKey {
        (
            self.src_chain.clone(),
            self.port.clone(),
            self.channel.clone(),
        )
    }

    fn step(&self) -> (u64, RelayKind) {
        (self.sequence, self.kind.clone())
    }
}

/// Who asks to claim a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// A chain event just announced the work (or a retry after a failure).
    Event,
    /// Clearing found the work unfinished on chain.
    Clearing,
}

/// The state of one relay step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// Handed to a TxEngine, outcome pending; `attempts` earlier attempts failed.
    InFlight {
        /// Failed attempts before this one.
        attempts: u32,
    },
    /// Confirmed on chain, by us or by another relayer.
    Done,
    /// CheckTx refused our tx as redundant: another tx with these packets exists, perhaps
    /// only in a mempool. Clearing may claim it again.
    PendingElsewhere,
    /// Failed `attempts` times; not retried before `retry_at`.
    Failed {
        /// Failures so far.
        attempts: u32,
        /// Earliest next attempt.
        retry_at: Instant,
    },
}

/// The cache, shared by every worker of a process.
#[derive(Debug)]
pub(crate) struct SequenceCache {
    channels: DashMap<ChannelKey, BTreeMap<(u64, RelayKind), Entry>>,
    /// Per channel, a sequence below which every packet is settled for good (its commitment is
    /// gone), as the last prune learnt: a job for one of them, queued before it settled, is
    /// refused even after its entry was pruned.
    settled_below: DashMap<ChannelKey, u64>,
    max_attempts: u32,
    base_backoff: Duration,
}

/// What to do after an outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Nothing more: the step is done.
    Finished,
    /// Retry after this delay.
    RetryAfter(Duration),
    /// Give up until clearing finds the packet again.
    GiveUp,
}

/// How logs show it: `next=retry in 1.5s`.
impl std::fmt::Display for Next {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Next::Finished => f.write_str("finished"),
            Next::RetryAfter(d) => write!(f, "retry in {}", HumanDuration(*d)),
            Next::GiveUp => f.write_str("left to clearing"),
        }
    }
}

impl SequenceCache {
    /// A cache that retries a failing step up to `max_attempts` times, with exponential backoff
    /// from `base_backoff`.
    pub(crate) fn new(max_attempts: u32, base_backoff: Duration) -> Self {
        Self {
            channels: DashMap::new(),
            settled_below: DashMap::new(),
            max_attempts,
            base_backoff,
        }
    }

    /// Sets `key` to `entry`, keeping its channel within [`MAX_ENTRIES_PER_CHANNEL`].
    fn put(&self, key: &CacheKey, entry: Entry) {
        let mut steps = self.channels.entry(key.channel_key()).or_default();
        steps.insert(key.step(), entry);
        if steps.len() > MAX_ENTRIES_PER_CHANNEL {
            let oldest = steps
                .iter()
                .find(|(_, e)| !matches!(e, Entry::InFlight { .. }))
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                steps.remove(&k);
            }
        }
    }

    fn entry(&self, key: &CacheKey) -> Option<Entry> {
        self.channels
            .get(&key.channel_key())
            .and_then(|steps| steps.get(&key.step()).cloned())
    }

    /// Claims `key` for a submission now. False when it is in flight, done or backing off, when
    /// its packet is settled (below the channel's settled sequence), and for an event when
    /// another tx with it is pending elsewhere.
    pub(crate) fn try_claim(&self, key: &CacheKey, by: Claim) -> bool {
        let channel = key.channel_key();
        let settled = self
            .settled_below
            .get(&channel)
            .is_some_and(|below| key.sequence < *below);
        let mut steps = self.channels.entry(channel).or_default();
        let step = key.step();
        let claimed = match steps.get(&step) {
            None if settled => None,
            None => Some(0),
            Some(Entry::Failed { retry_at, attempts }) if Instant::now() >= *retry_at => {
                Some(*attempts)
            }
            Some(Entry::PendingElsewhere) if by == Claim::Clearing => Some(0),
            Some(_) => None,
        };
        match claimed {
            Some(attempts) => {
                steps.insert(step, Entry::InFlight { attempts });
                true
            }
            None => false,
        }
    }

    /// Whether `key` is done or in flight here, or its packet is settled: nothing to wait for.
    pub(crate) fn settled_or_busy(&self, key: &CacheKey) -> bool {
        let channel = key.channel_key();
        if self
            .settled_below
            .get(&channel)
            .is_some_and(|below| key.sequence < *below)
        {
            return true;
        }
        matches!(self.entry(key), Some(Entry::Done | Entry::InFlight { .. }))
    }

    /// Marks `key` done (for example when a chain event shows another relayer did it).
    pub(crate) fn mark_done(&self, key: &CacheKey) {
        self.put(key, Entry::Done);
    }

    #[cfg(test)]
    /// The state of `key`.
    pub(crate) fn get(&self, key: &CacheKey) -> Option<Entry> {
        self.entry(key)
    }

    /// Records the outcome of a submission and says what to do next.
    pub(crate) fn record(&self, key: &CacheKey, outcome: &Outcome) -> Next {
        match outcome {
            Outcome::Done { .. } | Outcome::Redundant => {
                self.put(key, Entry::Done);
                Next::Finished
            }
            Outcome::RedundantInMempool => {
                self.put(key, Entry::PendingElsewhere);
                Next::Finished
            }
            Outcome::Failed { retryable, .. } => {
                let attempts = match self.entry(key) {
                    Some(Entry::Failed { attempts, .. } | Entry::InFlight { attempts }) => {
                        attempts + 1
                    }
                    _ => 1,
                };
                let delay = self
                    .base_backoff
                    .saturating_mul(1u32 << attempts.min(10))
                    .min(Duration::from_secs(60));
                self.put(
                    key,
                    Entry::Failed {
                        attempts,
                        retry_at: Instant::now() + delay,
                    },
                );
                if *retryable && attempts < self.max_attempts {
                    Next::RetryAfter(delay)
                } else {
                    // Clearing will find the packet again; a later claim is allowed once the
                    // backoff has passed.
                    Next::GiveUp
                }
            }
        }
    }

    #[cfg(test)]
    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.channels.iter().map(|c| c.len()).sum()
    }

    /// Forgets the settled steps of packets sent over (`src_chain`, `port`, `channel`): every
    /// entry not in flight whose sequence is not in `open`, the sorted sequences whose
    /// commitment still exists on the source (from a clearing round). A packet without a
    /// commitment was acknowledged or timed out, so nothing about it is left to do; a packet
    /// sent after the round may lose a finished entry, which only an event could have used,
    /// and its event has come already.
    ///
    /// Every sequence below the lowest open one (or, with none open, up to the highest pruned)
    /// was sent and is settled: later claims for them are refused, so a job queued before its
    /// packet settled costs no proof and no tx once its entry is gone.
    pub(crate) fn prune_settled(&self, src_chain: &str, port: &str, channel: &str, open: &[u64]) {
        let key = (src_chain.to_string(), port.to_string(), channel.to_string());
        let mut highest_pruned = None;
        if let Some(mut steps) = self.channels.get_mut(&key) {
            steps.retain(|(sequence, _), entry| {
                let keep =
                    matches!(entry, Entry::InFlight { .. }) || open.binary_search(sequence).is_ok();
                if !keep {
                    highest_pruned = highest_pruned.max(Some(*sequence));
                }
                keep
            });
        }
        let floor = match (open.first(), highest_pruned) {
            (Some(lowest_open), _) => Some(*lowest_open),
            (None, Some(highest)) => Some(highest + 1),
            (None, None) => None,
        };
        if let Some(floor) = floor {
            let mut below = self.settled_below.entry(key).or_insert(0);
            *below = (*below).max(floor);
        }
    }

    /// Forgets every entry of packets sent over (`src_chain`, `port`, `channel`): its worker
    /// stopped for good.
    pub(crate) fn forget_channel(&self, src_chain: &str, port: &str, channel: &str) {
        let key = (src_chain.to_string(), port.to_string(), channel.to_string());
        self.channels.remove(&key);
        self.settled_below.remove(&key);
    }

    /// Turns the in-flight entries of a channel into failures that may be retried at once: the
    /// worker that claimed them died without recording an outcome, and clearing must be able to
    /// claim them again.
    pub(crate) fn release_in_flight(&self, src_chain: &str, port: &str, channel: &str) {
        let key = (src_chain.to_string(), port.to_string(), channel.to_string());
        if let Some(mut steps) = self.channels.get_mut(&key) {
            let now = Instant::now();
            for entry in steps.values_mut() {
                if let Entry::InFlight { attempts } = *entry {
                    *entry = Entry::Failed {
                        attempts,
                        retry_at: now,
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seq: u64) -> CacheKey {
        CacheKey {
            src_chain: "a-1".into(),
            port: "transfer".into(),
            channel: "channel-0".into(),
            kind: RelayKind::Recv,
            sequence: seq,
        }
    }

    fn claim(cache: &SequenceCache, seq: u64) -> bool {
        cache.try_claim(&key(seq), Claim::Event)
    }

    #[test]
    fn in_flight_is_not_claimed_twice() {
        let cache = SequenceCache::new(3, Duration::from_millis(1));
        assert!(claim(&cache, 1));
        assert!(!claim(&cache, 1));
        assert!(!cache.try_claim(&key(1), Claim::Clearing));
        assert!(claim(&cache, 2));
    }

    #[test]
    fn done_and_redundant_finish() {
        let cache = SequenceCache::new(3, Duration::from_millis(1));
        assert!(claim(&cache, 1));
        assert_eq!(cache.record(&key(1), &Outcome::Redundant), Next::Finished);
        assert!(!claim(&cache, 1));
        assert!(!cache.try_claim(&key(1), Claim::Clearing));
        assert_eq!(cache.get(&key(1)), Some(Entry::Done));
    }

    #[test]
    fn redundant_at_check_tx_is_claimed_again_by_clearing_only() {
        let cache = SequenceCache::new(3, Duration::from_millis(1));
        assert!(claim(&cache, 1));
        assert_eq!(
            cache.record(&key(1), &Outcome::RedundantInMempool),
            Next::Finished
        );
        assert_eq!(cache.get(&key(1)), Some(Entry::PendingElsewhere));
        assert!(!claim(&cache, 1), "an event does not resubmit it");
        assert!(cache.try_claim(&key(1), Claim::Clearing));
        assert_eq!(cache.get(&key(1)), Some(Entry::InFlight { attempts: 0 }));
        // A chain event of the delivery settles it for good.
        cache.mark_done(&key(1));
        assert!(!cache.try_claim(&key(1), Claim::Clearing));
    }

    #[test]
    fn failures_back_off_then_give_up() {
        let cache = SequenceCache::new(2, Duration::ZERO);
        let failed = Outcome::Failed {
            reason: "x".into(),
            retryable: true,
        };
        assert!(claim(&cache, 1));
        assert!(matches!(
            cache.record(&key(1), &failed),
            Next::RetryAfter(_)
        ));
        assert!(claim(&cache, 1), "zero backoff: claimable again");
        assert_eq!(cache.record(&key(1), &failed), Next::GiveUp);
        let fatal = Outcome::Failed {
            reason: "x".into(),
            retryable: false,
        };
        assert!(claim(&cache, 2));
        assert_eq!(cache.record(&key(2), &fatal), Next::GiveUp);
    }

    #[test]
    fn prune_keeps_open_and_in_flight_entries_only() {
        let cache = SequenceCache::new(3, Duration::from_secs(60));
        for s in 1..=6 {
            assert!(claim(&cache, s));
        }
        cache.record(&key(1), &Outcome::Redundant);
        cache.record(&key(2), &Outcome::RedundantInMempool);
        cache.record(
            &key(3),
            &Outcome::Failed {
                reason: "x".into(),
                retryable: true,
            },
        );
        cache.record(&key(5), &Outcome::Redundant);
        // Sequence 5 is still open (received, not yet acknowledged); 4 and 6 are in flight.
        // An old open commitment (sequence 0) does not keep 1 to 3 alive.
        cache.prune_settled("a-1", "transfer", "channel-0", &[0, 5]);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&key(5)), Some(Entry::Done));
        assert!(
            cache.get(&key(3)).is_none(),
            "failed entries are pruned too"
        );
        // Other channels are untouched.
        let other = CacheKey {
            channel: "channel-9".into(),
            ..key(1)
        };
        cache.mark_done(&other);
        cache.prune_settled("a-1", "transfer", "channel-0", &[]);
        assert_eq!(cache.get(&other), Some(Entry::Done));
        assert_eq!(
            cache.len(),
            3,
            "4, 6 in flight, and the other channel's entry"
        );
    }

    #[test]
    fn a_settled_packet_is_not_claimed_again_after_its_entry_is_pruned() {
        let cache = SequenceCache::new(3, Duration::from_secs(60));
        for s in 1..=4 {
            assert!(claim(&cache, s));
            cache.record(&key(s), &Outcome::Redundant);
        }
        // 3 is still open; 1, 2 and 4 are settled and pruned.
        cache.prune_settled("a-1", "transfer", "channel-0", &[3]);
        assert_eq!(cache.len(), 1);
        // A stale job (queued before its packet settled) is refused, by an event or by clearing.
        assert!(!claim(&cache, 1));
        assert!(!cache.try_claim(&key(2), Claim::Clearing));
        // 4 is above the lowest open sequence: no proof it is settled, so it may be claimed
        // (the engine then finds it settled on chain).
        assert!(claim(&cache, 4));
        // Nothing open: everything up to the highest pruned is settled.
        cache.record(&key(4), &Outcome::Redundant);
        cache.record(&key(3), &Outcome::Redundant);
        cache.prune_settled("a-1", "transfer", "channel-0", &[]);
        assert!(!claim(&cache, 4));
        assert!(claim(&cache, 5), "a packet sent later is claimed");
        // The floor never moves down, and a stopped channel forgets it.
        cache.prune_settled("a-1", "transfer", "channel-0", &[2]);
        assert!(!claim(&cache, 3));
        cache.forget_channel("a-1", "transfer", "channel-0");
        assert!(claim(&cache, 3));
    }

    #[test]
    fn a_channel_keeps_at_most_the_limit() {
        let cache = SequenceCache::new(3, Duration::from_millis(1));
        assert!(claim(&cache, 0));
        for s in 1..=(MAX_ENTRIES_PER_CHANNEL as u64 + 10) {
            cache.mark_done(&key(s));
        }
        assert_eq!(cache.len(), MAX_ENTRIES_PER_CHANNEL);
        assert_eq!(cache.get(&key(0)), Some(Entry::InFlight { attempts: 0 }));
        assert!(
            cache.get(&key(1)).is_none(),
            "the lowest finished entries went first"
        );
        assert_eq!(
            cache.get(&key(MAX_ENTRIES_PER_CHANNEL as u64 + 10)),
            Some(Entry::Done)
        );
    }

    #[test]
    fn a_dead_worker_releases_its_claims_and_a_stopped_channel_is_forgotten() {
        let cache = SequenceCache::new(3, Duration::from_secs(60));
        assert!(claim(&cache, 1));
        cache.mark_done(&key(2));
        cache.release_in_flight("a-1", "transfer", "channel-0");
        assert!(cache.try_claim(&key(1), Claim::Clearing));
        cache.forget_channel("a-1", "transfer", "channel-0");
        assert_eq!(cache.len(), 0);
    }
}
