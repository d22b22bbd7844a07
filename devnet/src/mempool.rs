//! The mempool as CometBFT v0.38's list mempool keeps it: txs in arrival order, bounded by a
//! count and a byte total (`mempool.size`, `mempool.max_txs_bytes`) and refused with CometBFT's
//! errors when full, too large or already seen. After every block the included txs leave and the
//! rest are re-checked in order against the new state (`mempool.recheck`); a tx that now fails
//! (a stale sequence, fees it can no longer pay, packets relayed by someone else) is evicted and
//! never executes. Next to it lives the app's check state, the state CheckTx and simulation run
//! on: the committed state plus every tx that passed CheckTx since.

use std::collections::{HashSet, VecDeque};

use crate::store::State;

/// CometBFT's default `mempool.size` (txs).
pub const DEFAULT_MAX_TXS: usize = 5000;
/// CometBFT's default `mempool.max_txs_bytes` (1 GB).
pub const DEFAULT_MAX_TXS_BYTES: u64 = 1_073_741_824;

/// How much the mempool holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MempoolLimits {
    /// Most txs at once (`mempool.size`).
    pub max_txs: usize,
    /// Most bytes of txs at once (`mempool.max_txs_bytes`).
    pub max_txs_bytes: u64,
}

impl Default for MempoolLimits {
    fn default() -> Self {
        Self {
            max_txs: DEFAULT_MAX_TXS,
            max_txs_bytes: DEFAULT_MAX_TXS_BYTES,
        }
    }
}

/// Why a tx was not taken into the mempool at all: CometBFT answers these with a JSON-RPC
/// error (the texts are `mempool/errors.go`'s), not with a CheckTx code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    /// The same tx is already in the mempool or was recently committed.
    #[error("tx already exists in cache")]
    AlreadyInCache,
    /// The mempool holds as many txs or bytes as it may.
    #[error(
        "mempool is full: number of txs {num_txs} (max: {max_txs}), total txs bytes {txs_bytes} (max: {max_txs_bytes})"
    )]
    Full {
        /// Txs held.
        num_txs: usize,
        /// `mempool.size`.
        max_txs: usize,
        /// Bytes held.
        txs_bytes: u64,
        /// `mempool.max_txs_bytes`.
        max_txs_bytes: u64,
    },
    /// The tx is larger than the node takes.
    #[error("Tx too large. Max size is {max}, but got {got}")]
    TooLarge {
        /// Limit.
        max: u64,
        /// Size.
        got: usize,
    },
}

/// One waiting tx.
#[derive(Clone, Debug)]
struct Entry {
    hash: [u8; 32],
    tx: Vec<u8>,
    gas_wanted: u64,
}

/// The waiting txs and the check state.
#[derive(Debug)]
pub struct Mempool {
    limits: MempoolLimits,
    entries: VecDeque<Entry>,
    hashes: HashSet<[u8; 32]>,
    bytes: u64,
    /// Committed state plus the ante effects of every tx that passed CheckTx since.
    pub check_state: State,
}

impl Mempool {
    /// An empty mempool over `check_state`.
    pub fn new(limits: MempoolLimits, check_state: State) -> Self {
        Self {
            limits,
            entries: VecDeque::new(),
            hashes: HashSet::new(),
            bytes: 0,
            check_state,
        }
    }

    /// CometBFT's `isFull`: refuses a tx of `size` bytes when the count or the bytes would go
    /// over the limits.
    pub fn check_room(&self, size: usize) -> Result<(), MempoolError> {
        if self.entries.len() >= self.limits.max_txs
            || self.bytes.saturating_add(size as u64) > self.limits.max_txs_bytes
        {
            return Err(MempoolError::Full {
                num_txs: self.entries.len(),
                max_txs: self.limits.max_txs,
                txs_bytes: self.bytes,
                max_txs_bytes: self.limits.max_txs_bytes,
            });
        }
        Ok(())
    }

    /// Whether the tx with `hash` is waiting.
    pub fn contains(&self, hash: &[u8; 32]) -> bool {
        self.hashes.contains(hash)
    }

    /// Appends a tx that passed CheckTx.
    pub fn push(&mut self, hash: [u8; 32], tx: Vec<u8>, gas_wanted: u64) {
        self.bytes += tx.len() as u64;
        self.hashes.insert(hash);
        self.entries.push_back(Entry {
            hash,
            tx,
            gas_wanted,
        });
    }

    /// Txs waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of the txs waiting.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The first txs, in order, that fit a block of `max_bytes` and `max_gas` (by gas wanted).
    pub fn reap(&self, max_bytes: u64, max_gas: u64) -> Vec<Vec<u8>> {
        let mut bytes = 0u64;
        let mut gas = 0u64;
        let mut txs = Vec::new();
        for e in &self.entries {
            if bytes + e.tx.len() as u64 > max_bytes || gas.saturating_add(e.gas_wanted) > max_gas {
                break;
            }
            bytes += e.tx.len() as u64;
            gas = gas.saturating_add(e.gas_wanted);
            txs.push(e.tx.clone());
        }
        txs
    }

    /// CometBFT's `ReapMaxTxs(max)` as `unconfirmed_txs` calls it: it keeps taking while it holds
    /// at most `max`, so it returns up to `max + 1` txs.
    pub fn first(&self, max: usize) -> Vec<Vec<u8>> {
        self.entries
            .iter()
            .take(max.saturating_add(1))
            .map(|e| e.tx.clone())
            .collect()
    }

    /// After a block committed `state`: drops the `included` txs, resets the check state to
    /// `state` and re-checks the rest in order with `check` (CheckTx on the check state, true
    /// when it passes), evicting those that fail. Returns the hashes evicted.
    pub fn update(
        &mut self,
        included: &HashSet<[u8; 32]>,
        state: State,
        mut check: impl FnMut(&mut State, &[u8]) -> bool,
    ) -> Vec<[u8; 32]> {
        let waiting = std::mem::take(&mut self.entries);
        self.hashes.clear();
        self.bytes = 0;
        self.check_state = state;
        let mut evicted = Vec::new();
        for entry in waiting {
            if included.contains(&entry.hash) {
                continue;
            }
            if check(&mut self.check_state, &entry.tx) {
                self.push(entry.hash, entry.tx, entry.gas_wanted);
            } else {
                evicted.push(entry.hash);
            }
        }
        evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(max_txs: usize, max_txs_bytes: u64) -> Mempool {
        Mempool::new(
            MempoolLimits {
                max_txs,
                max_txs_bytes,
            },
            State::new(),
        )
    }

    #[test]
    fn full_by_count_or_bytes_with_cometbft_text() {
        let mut m = pool(2, 100);
        m.push([1; 32], vec![0; 40], 1);
        assert!(m.check_room(60).is_ok());
        assert_eq!(
            m.check_room(61).unwrap_err().to_string(),
            "mempool is full: number of txs 1 (max: 2), total txs bytes 40 (max: 100)"
        );
        m.push([2; 32], vec![0; 10], 1);
        assert_eq!(
            m.check_room(1).unwrap_err(),
            MempoolError::Full {
                num_txs: 2,
                max_txs: 2,
                txs_bytes: 50,
                max_txs_bytes: 100
            }
        );
    }

    #[test]
    fn update_drops_included_and_evicts_what_fails_recheck() {
        let mut m = pool(10, 1000);
        for i in 1..=4u8 {
            m.push([i; 32], vec![i; 3], 1);
        }
        let included: HashSet<[u8; 32]> = [[1; 32]].into();
        let evicted = m.update(&included, State::new(), |_, tx| tx[0] != 3);
        assert_eq!(evicted, vec![[3; 32]]);
        assert_eq!(m.first(10), vec![vec![2; 3], vec![4; 3]]);
        assert_eq!((m.len(), m.bytes()), (2, 6));
        assert!(m.contains(&[4; 32]) && !m.contains(&[3; 32]) && !m.contains(&[1; 32]));
    }

    #[test]
    fn first_takes_one_more_than_asked_like_cometbft() {
        let mut m = pool(10, 1000);
        for i in 1..=5u8 {
            m.push([i; 32], vec![i], 1);
        }
        assert_eq!(m.first(2).len(), 3);
        assert_eq!(m.first(30).len(), 5);
    }
}
