//! The tx and block indexes behind `tx_search` and `block_search`: every committed tx with its
//! flattened event map (plus `tx.hash`, `tx.height`), every block with its `finalize_block_events`
//! (plus `block.height`), and an inverted `key → value → entries` map that narrows `=` queries.
//!
//! Filled by [`Indexer::run`] from the node's event stream; it first scans the stored blocks
//! `1..=latest` (the node may have restarted on stored blocks) and rescans whatever it missed
//! when the stream lags. All CometBFT event attributes are indexed, as a Cosmos SDK chain with the
//! default `index-events = []` does.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::query::{EventMap, Query};
use super::render;
use crate::node::{BlockRecord, ChainEvent, Node, TxRecord};

/// Default `per_page` (`rpc/core/env.go`).
pub const DEFAULT_PER_PAGE: i64 = 30;
/// Maximum `per_page`.
pub const MAX_PER_PAGE: i64 = 100;

#[derive(Default)]
struct Terms(HashMap<String, HashMap<String, Vec<usize>>>);

impl Terms {
    fn add(&mut self, events: &EventMap, entry: usize) {
        for (key, values) in events {
            let by_value = self.0.entry(key.clone()).or_default();
            for v in values {
                let list = by_value.entry(v.clone()).or_default();
                if list.last() != Some(&entry) {
                    list.push(entry);
                }
            }
        }
    }

    /// Entries that may match: the smallest posting list among the `=` conditions, or `None`
    /// when the query has no string equality (scan everything).
    fn candidates(&self, q: &Query) -> Option<Vec<usize>> {
        q.string_equalities()
            .map(|(k, v)| {
                self.0
                    .get(k)
                    .and_then(|m| m.get(v))
                    .cloned()
                    .unwrap_or_default()
            })
            .min_by_key(Vec::len)
    }
}

struct IndexedTx {
    rec: Arc<TxRecord>,
    events: EventMap,
}

#[derive(Default)]
struct State {
    height: u64,
    txs: Vec<IndexedTx>,
    tx_terms: Terms,
    blocks: Vec<(u64, EventMap)>,
    block_terms: Terms,
}

/// The tx and block index. Cheap to share behind an `Arc`.
#[derive(Default)]
pub struct Indexer {
    state: RwLock<State>,
}

/// The txs of a block as `TxRecord`s, built from the block itself.
pub fn block_tx_records(rec: &BlockRecord) -> Vec<TxRecord> {
    rec.block
        .data
        .iter()
        .enumerate()
        .map(|(i, tx)| TxRecord {
            hash: Sha256::digest(tx).into(),
            height: rec.height(),
            index: u32::try_from(i).unwrap_or(u32::MAX),
            tx: tx.clone(),
            result: rec.tx_results.get(i).cloned().unwrap_or_default(),
        })
        .collect()
}

impl Indexer {
    /// The highest block indexed.
    pub fn height(&self) -> u64 {
        self.read().height
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Indexes one block and its txs; blocks at or below the indexed height are ignored.
    pub fn index_block(&self, rec: &BlockRecord) {
        let txs = block_tx_records(rec);
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        let height = rec.height();
        if height <= st.height {
            return;
        }
        for tx in txs {
            let events = render::tx_event_map(&tx);
            let entry = st.txs.len();
            st.tx_terms.add(&events, entry);
            st.txs.push(IndexedTx {
                rec: Arc::new(tx),
                events,
            });
        }
        let mut events = render::new_block_event_map(rec);
        events.insert("block.height".into(), vec![height.to_string()]);
        let entry = st.blocks.len();
        st.block_terms.add(&events, entry);
        st.blocks.push((height, events));
        st.height = height;
    }

    /// Indexes the stored blocks above the indexed height up to the node's latest.
    pub fn catch_up(&self, node: &Node) {
        let latest = node.latest_height();
        // From the first block, even when the RPC serves fewer: CometBFT v0.38 does not prune
        // its tx and block indexes with the blocks.
        let mut h = self.height() + 1;
        while h <= latest {
            if let Some(rec) = node.block(h) {
                self.index_block(&rec);
            }
            h += 1;
        }
    }

    /// Txs matching `q`, in commit order (height, index).
    pub fn search_txs(&self, q: &Query) -> Vec<Arc<TxRecord>> {
        let st = self.read();
        let matches = |i: &usize| st.txs.get(*i).filter(|t| q.matches(&t.events));
        match st.tx_terms.candidates(q) {
            Some(c) => c
                .iter()
                .filter_map(matches)
                .map(|t| t.rec.clone())
                .collect(),
            None => st
                .txs
                .iter()
                .filter(|t| q.matches(&t.events))
                .map(|t| t.rec.clone())
                .collect(),
        }
    }

    /// Heights of the blocks matching `q`, ascending.
    pub fn search_blocks(&self, q: &Query) -> Vec<u64> {
        let st = self.read();
        let pick = |(h, ev): &(u64, EventMap)| q.matches(ev).then_some(*h);
        match st.block_terms.candidates(q) {
            Some(c) => c
                .iter()
                .filter_map(|i| st.blocks.get(*i))
                .filter_map(pick)
                .collect(),
            None => st.blocks.iter().filter_map(pick).collect(),
        }
    }

    /// Keeps the index current until `shutdown`: scans stored blocks, then follows new blocks.
    pub async fn run(self: Arc<Self>, node: Node, shutdown: CancellationToken) {
        if !node.tx_index_enabled() {
            return; // `indexer = "null"`: nothing is indexed.
        }
        let mut events = node.subscribe();
        self.catch_up(&node);
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => return,
                next = events.recv() => next,
            };
            match next {
                Ok(ChainEvent::NewBlock(rec)) => {
                    if rec.height() > self.height() + 1 {
                        self.catch_up(&node);
                    }
                    self.index_block(&rec);
                }
                Ok(ChainEvent::Tx(_)) => {}
                Err(RecvError::Lagged(_)) => self.catch_up(&node),
                Err(RecvError::Closed) => return,
            }
        }
    }
}

/// The slice of `total` results to return: CometBFT's `validatePerPage`, `validatePage` and
/// `validateSkipCount`. Returns `(skip, take)` or the error text.
pub fn page_window(
    total: usize,
    page: Option<i64>,
    per_page: Option<i64>,
) -> Result<(usize, usize), String> {
    let per_page = match per_page {
        None => DEFAULT_PER_PAGE,
        Some(p) if p < 1 => DEFAULT_PER_PAGE,
        Some(p) => p.min(MAX_PER_PAGE),
    };
    let page = match page {
        None => 1,
        Some(p) => {
            let total_i = i64::try_from(total).unwrap_or(i64::MAX);
            let pages = ((total_i - 1) / per_page + 1).max(1);
            if p <= 0 || p > pages {
                return Err(format!(
                    "page should be within [1, {pages}] range, given {p}"
                ));
            }
            p
        }
    };
    let skip = usize::try_from((page - 1) * per_page).unwrap_or(0);
    let per_page = usize::try_from(per_page).unwrap_or(30);
    Ok((skip, per_page.min(total.saturating_sub(skip))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_follows_cometbft() {
        assert_eq!(page_window(0, None, None), Ok((0, 0)));
        assert_eq!(page_window(0, Some(1), None), Ok((0, 0)));
        assert_eq!(page_window(45, None, None), Ok((0, 30)));
        assert_eq!(page_window(45, Some(2), None), Ok((30, 15)));
        assert_eq!(page_window(45, Some(2), Some(0)), Ok((30, 15)));
        assert_eq!(page_window(450, Some(1), Some(1000)), Ok((0, 100)));
        assert_eq!(
            page_window(45, Some(3), None),
            Err("page should be within [1, 2] range, given 3".into())
        );
        assert_eq!(
            page_window(0, Some(0), None),
            Err("page should be within [1, 1] range, given 0".into())
        );
    }

    #[test]
    fn terms_pick_the_smallest_posting_list() {
        let mut t = Terms::default();
        let mut a = EventMap::new();
        a.insert("x.k".into(), vec!["1".into(), "1".into()]);
        a.insert("y.k".into(), vec!["z".into()]);
        t.add(&a, 0);
        let mut b = EventMap::new();
        b.insert("x.k".into(), vec!["1".into()]);
        t.add(&b, 1);
        let q = Query::parse("x.k = '1' AND y.k = 'z'").unwrap();
        assert_eq!(t.candidates(&q), Some(vec![0]));
        let q = Query::parse("x.k = '1'").unwrap();
        assert_eq!(t.candidates(&q), Some(vec![0, 1]));
        assert_eq!(t.candidates(&Query::parse("x.k > 0").unwrap()), None);
        let q = Query::parse("x.k = 'nope'").unwrap();
        assert_eq!(t.candidates(&q), Some(vec![]));
    }
}
