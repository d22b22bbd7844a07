//! The sequence cache: what this process has already done or is doing for each packet, so a
//! packet seen twice (event and clearing, or a restarted worker) is not submitted twice, and a
//! failed one is retried with backoff a bounded number of times. The chain stays the source of
//! truth: the cache only saves fees and RPC calls, and clearing finds whatever it forgets.

use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::chain::types::RelayKind;
use crate::config::HumanDuration;
use crate::tx::engine::Outcome;

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
    map: DashMap<CacheKey, Entry>,
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
            map: DashMap::new(),
            max_attempts,
            base_backoff,
        }
    }

    /// Claims `key` for a submission now. False when it is in flight, done, or backing off.
    pub(crate) fn try_claim(&self, key: &CacheKey) -> bool {
        let mut claimed = false;
        self.map
            .entry(key.clone())
            .and_modify(|e| {
                if let Entry::Failed { retry_at, attempts } = e {
                    if Instant::now() >= *retry_at {
                        *e = Entry::InFlight {
                            attempts: *attempts,
                        };
                        claimed = true;
                    }
                }
            })
            .or_insert_with(|| {
                claimed = true;
                Entry::InFlight { attempts: 0 }
            });
        claimed
    }

    /// Marks `key` done (for example when a chain event shows another relayer did it).
    pub(crate) fn mark_done(&self, key: &CacheKey) {
        self.map.insert(key.clone(), Entry::Done);
    }

    #[cfg(test)]
    /// The state of `key`.
    pub(crate) fn get(&self, key: &CacheKey) -> Option<Entry> {
        self.map.get(key).map(|e| e.clone())
    }

    /// Records the outcome of a submission and says what to do next.
    pub(crate) fn record(&self, key: &CacheKey, outcome: &Outcome) -> Next {
        match outcome {
            Outcome::Done { .. } | Outcome::Redundant => {
                self.map.insert(key.clone(), Entry::Done);
                Next::Finished
            }
            Outcome::Failed { retryable, .. } => {
                let attempts = match self.map.get(key).map(|e| e.clone()) {
                    Some(Entry::Failed { attempts, .. } | Entry::InFlight { attempts }) => {
                        attempts + 1
                    }
                    _ => 1,
                };
                let delay = self
                    .base_backoff
                    .saturating_mul(1u32 << attempts.min(10))
                    .min(Duration::from_secs(60));
                self.map.insert(
                    key.clone(),
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
        self.map.len()
    }

    /// Drops finished entries of a channel below `sequence` (called after clearing shows the
    /// chain is past them), bounding memory on long runs.
    pub(crate) fn prune_done(&self, src_chain: &str, port: &str, channel: &str, below: u64) {
        self.map.retain(|k, v| {
            !(matches!(v, Entry::Done)
                && k.src_chain == src_chain
                && k.port == port
                && k.channel == channel
                && k.sequence < below)
        });
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

    #[test]
    fn in_flight_is_not_claimed_twice() {
        let cache = SequenceCache::new(3, Duration::from_millis(1));
        assert!(cache.try_claim(&key(1)));
        assert!(!cache.try_claim(&key(1)));
        assert!(cache.try_claim(&key(2)));
    }

    #[test]
    fn done_and_redundant_finish() {
        let cache = SequenceCache::new(3, Duration::from_millis(1));
        assert!(cache.try_claim(&key(1)));
        assert_eq!(cache.record(&key(1), &Outcome::Redundant), Next::Finished);
        assert!(!cache.try_claim(&key(1)));
        assert_eq!(cache.get(&key(1)), Some(Entry::Done));
    }

    #[test]
    fn failures_back_off_then_give_up() {
        let cache = SequenceCache::new(2, Duration::ZERO);
        let failed = Outcome::Failed {
            reason: "x".into(),
            retryable: true,
        };
        assert!(cache.try_claim(&key(1)));
        assert!(matches!(
            cache.record(&key(1), &failed),
            Next::RetryAfter(_)
        ));
        assert!(cache.try_claim(&key(1)), "zero backoff: claimable again");
        assert_eq!(cache.record(&key(1), &failed), Next::GiveUp);
        let fatal = Outcome::Failed {
            reason: "x".into(),
            retryable: false,
        };
        assert!(cache.try_claim(&key(2)));
        assert_eq!(cache.record(&key(2), &fatal), Next::GiveUp);
    }

    #[test]
    fn prune_keeps_pending_entries() {
        let cache = SequenceCache::new(3, Duration::from_millis(1));
        for s in 1..=4 {
            assert!(cache.try_claim(&key(s)));
        }
        cache.record(&key(1), &Outcome::Redundant);
        cache.record(&key(2), &Outcome::Redundant);
        cache.prune_done("a-1", "transfer", "channel-0", 10);
        assert_eq!(cache.len(), 2);
    }
}
