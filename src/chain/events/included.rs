//! The txs of the heights the hub delivered, kept for the most recent ones: their hashes and
//! results (code, log, data, gas). The hub reads every block anyway, so a TxEngine confirms its
//! txs here instead of asking the node about each one: with any number of txs in flight, that
//! costs no request at all while the websocket carries the blocks (a `NewBlock` push holds the
//! tx bytes), and one `/block` per height when the height came from `block_results` (which has
//! no tx bytes, so no hashes).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::records::BlockRecord;

/// Heights kept (the most recent ones delivered); a confirmation looking further back asks
/// the node.
pub(crate) const KEPT_HEIGHTS: usize = 64;

/// One tx's result in its block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncludedTx {
    /// ABCI code, 0 for success.
    pub code: u32,
    /// The module the code belongs to.
    pub codespace: String,
    /// The log (the SDK writes the failing message's index here).
    pub log: String,
    /// The result data (the messages' responses).
    pub data: Vec<u8>,
    /// Gas wanted and used.
    pub gas_wanted: i64,
    /// Gas used.
    pub gas_used: i64,
}

/// The txs of one delivered height.
#[derive(Debug)]
pub struct HeightTxs {
    /// The height.
    pub height: u64,
    /// SHA-256 hashes in block order, `None` when the height came without tx bytes.
    pub hashes: Option<Vec<[u8; 32]>>,
    /// Results in block order.
    pub txs: Vec<IncludedTx>,
}

impl HeightTxs {
    /// Takes the results out of a delivered height (its events were routed already): nothing
    /// is copied.
    pub(super) fn of(block: BlockRecord) -> Self {
        Self {
            height: block.height,
            hashes: block.hashes,
            txs: block
                .txs
                .into_iter()
                .map(|t| IncludedTx {
                    code: t.code,
                    codespace: t.codespace,
                    log: t.log,
                    data: t.data,
                    gas_wanted: t.gas_wanted,
                    gas_used: t.gas_used,
                })
                .collect(),
        }
    }
}

/// The last [`KEPT_HEIGHTS`] delivered heights' txs.
#[derive(Default)]
pub(super) struct RecentTxs {
    heights: Mutex<BTreeMap<u64, Arc<HeightTxs>>>,
}

impl RecentTxs {
    pub(super) fn record(&self, block: BlockRecord) {
        let height = block.height;
        let txs = Arc::new(HeightTxs::of(block));
        let mut heights = super::lock(&self.heights);
        heights.insert(height, txs);
        while heights.len() > KEPT_HEIGHTS {
            heights.pop_first();
        }
    }

    pub(super) fn get(&self, height: u64) -> Option<Arc<HeightTxs>> {
        super::lock(&self.heights).get(&height).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::events::records::TxOutcome;

    #[test]
    fn keeps_the_latest_heights_with_their_results() {
        let recent = RecentTxs::default();
        for height in 1..=(KEPT_HEIGHTS as u64 + 5) {
            recent.record(BlockRecord {
                height,
                hashes: Some(vec![[height as u8; 32]]),
                txs: vec![TxOutcome {
                    code: 3,
                    log: "message index: 0".into(),
                    gas_used: 7,
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
        assert!(recent.get(5).is_none(), "the oldest are forgotten");
        let kept = recent.get(6).expect("kept");
        assert_eq!(kept.hashes.as_deref(), Some(&[[6u8; 32]][..]));
        assert_eq!(
            (
                kept.txs[0].code,
                kept.txs[0].log.as_str(),
                kept.txs[0].gas_used
            ),
            (3, "message index: 0", 7)
        );
    }
}
