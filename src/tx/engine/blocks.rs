//! Confirmation from blocks. An engine given its chain's event hub looks its txs up in the
//! heights the hub delivers ([`EventHub::included`]: tx hashes and results), woken by each new
//! height, so N txs in flight cost no request while the websocket carries the blocks, and one
//! `/block` per height when the hub read a height from `block_results` (no tx bytes there).
//! A height the hub does not hold (set aside, or older than it keeps) is read from the node, as
//! below. A hub whose height has not moved for [`HUB_STALE`] is not relied on: the engine asks
//! the node as if it had none, until the hub moves again.
//!
//! Without a hub, the engine polls `/tx` by hash, and on nodes without a tx index (CometBFT's
//! `indexer = "null"`), where `/tx` answers "transaction indexing is disabled", it remembers that
//! ([`BlockSource::indexless`]) and reads the blocks after each broadcast: each height's `/block`
//! (tx bytes, hashed with SHA-256) and, for a height holding one of the engine's txs, its
//! `block_results` (the tx's code, log, gas and events, at the tx's index). Both are fetched once
//! per height, whatever the number of txs waiting for it, and kept for the last
//! [`CACHED_HEIGHTS`] heights; the latest height comes from one shared `/status`, at most once
//! per poll interval. So N txs in flight cost about two requests per block, not N.
//!
//! The checks a waiting tx makes about once a block (has the account's sequence passed it?) are
//! shared too: one account query per engine per poll window ([`BlockSource::committed`]), and
//! at most [`MOOT_CHECKS_PER_WINDOW`] "is every item on chain already" checks per window.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;
use tendermint::abci::types::ExecTxResult;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::chain::events::EventHub;
use crate::chain::query::{IbcQuerier, QueryError};
use crate::chain::rpc::{RpcClient, RpcError};

/// Heights whose block and results are kept (the most recent ones).
pub(super) const CACHED_HEIGHTS: usize = 64;

/// A hub whose delivered height has not moved for this long is not relied on for
/// confirmations (its websocket and polling may both be failing).
pub(super) const HUB_STALE: Duration = Duration::from_secs(15);

/// "Is every item already on chain" checks of waiting txs, at most, per engine and window
/// (the window is the account query's, about a block).
pub(super) const MOOT_CHECKS_PER_WINDOW: u32 = 4;

/// A tx found in a block.
#[derive(Debug)]
pub(super) struct Inclusion {
    pub(super) height: u64,
    pub(super) result: ExecTxResult,
}

impl From<tendermint_rpc::endpoint::tx::Response> for Inclusion {
    fn from(tx: tendermint_rpc::endpoint::tx::Response) -> Self {
        Self {
            height: tx.height.value(),
            result: tx.tx_result,
        }
    }
}

/// Why a block lookup failed (the confirmation task tries again at its next poll).
#[derive(Debug, thiserror::Error)]
pub(super) enum ScanError {
    #[error(transparent)]
    Rpc(#[from] RpcError),
    #[error("block {height}: tx {index} is not base64: {reason}")]
    BadTx {
        height: u64,
        index: usize,
        reason: String,
    },
    #[error("height {0} is out of range")]
    BadHeight(u64),
    #[error("block_results {height}: no result for tx {index} ({results} results)")]
    MissingResult {
        height: u64,
        index: usize,
        results: usize,
    },
}

/// Whether `err` is the node saying it keeps no tx index (a JSON-RPC internal error,
/// "transaction indexing is disabled").
pub(super) fn index_disabled(err: &RpcError) -> bool {
    match err {
        RpcError::JsonRpc {
            code,
            message,
            data,
            ..
        } => {
            *code == -32603
                && (message.contains(TX_INDEX_DISABLED)
                    || data
                        .as_deref()
                        .is_some_and(|d| d.contains(TX_INDEX_DISABLED)))
        }
        _ => false,
    }
}

/// CometBFT's answer to `/tx` and `/tx_search` without a tx index.
const TX_INDEX_DISABLED: &str = "transaction indexing is disabled";

const UNKNOWN: u8 = 0;
const INDEXED: u8 = 1;
const INDEXLESS: u8 = 2;

/// What one engine knows about its chain's blocks, shared by its confirmation tasks.
pub(super) struct BlockSource {
    /// The chain's event hub, when the engine has one.
    hub: Option<EventHub>,
    /// The hub's delivered height when it was last seen to move, and when.
    hub_moved: Mutex<(u64, Instant)>,
    /// The account's committed sequence; one query at a time.
    committed: Fresh<u64>,
    /// The current moot-check window's start and the checks made in it.
    moot_window: Mutex<(Instant, u32)>,
    /// Whether `/tx` works: unknown until its first answer.
    index: AtomicU8,
    /// The latest height seen; one `/status` at a time.
    latest: Fresh<u64>,
    /// The recent heights looked at, at most [`CACHED_HEIGHTS`].
    heights: Mutex<BTreeMap<u64, Arc<Height>>>,
}

/// A value read from the node and reused while it is younger than the asker's maximum age.
/// One read at a time: the lock is held across the read, so askers that arrive meanwhile share
/// its answer instead of each sending a request.
struct Fresh<T>(tokio::sync::Mutex<Option<(Instant, T)>>);

impl<T> Default for Fresh<T> {
    fn default() -> Self {
        Self(tokio::sync::Mutex::new(None))
    }
}

impl<T: Copy> Fresh<T> {
    /// The value, read again with `read` when the last one is `max_age` old or older.
    async fn get<E, F, Fut>(&self, max_age: Duration, read: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let mut seen = self.0.lock().await;
        if let Some((at, value)) = *seen {
            if at.elapsed() < max_age {
                return Ok(value);
            }
        }
        let value = read().await?;
        *seen = Some((Instant::now(), value));
        Ok(value)
    }

    /// The last value read, however old.
    async fn last(&self) -> Option<T> {
        self.0.lock().await.map(|(_, value)| value)
    }
}

/// One height: its tx hashes and, once a tx of ours is among them, its results.
#[derive(Default)]
struct Height {
    hashes: OnceCell<Vec<[u8; 32]>>,
    results: OnceCell<Vec<ExecTxResult>>,
}

impl BlockSource {
    pub(super) fn new(hub: Option<EventHub>) -> Arc<Self> {
        Arc::new(Self {
            hub,
            hub_moved: Mutex::new((0, Instant::now())),
            committed: Fresh::default(),
            moot_window: Mutex::new((Instant::now(), 0)),
            index: AtomicU8::new(UNKNOWN),
            latest: Fresh::default(),
            heights: Mutex::new(BTreeMap::new()),
        })
    }

    /// The hub, while it is live: its delivered height moved within [`HUB_STALE`].
    pub(super) fn live_hub(&self) -> Option<&EventHub> {
        let hub = self.hub.as_ref()?;
        let height = *hub.latest_height().borrow();
        let mut moved = self.hub_moved.lock().unwrap_or_else(|e| e.into_inner());
        if height != moved.0 {
            *moved = (height, Instant::now());
        }
        (height > 0 && moved.1.elapsed() < HUB_STALE).then_some(hub)
    }

    /// The hub's delivered height, while it is live.
    pub(super) fn hub_height(&self) -> Option<u64> {
        self.live_hub().map(|hub| *hub.latest_height().borrow())
    }

    /// Waits until the hub has delivered a height above `*seen` (and sets `*seen` to it), or
    /// `max` passed (sleeps `max` without a hub).
    pub(super) async fn next_height(&self, seen: &mut u64, max: Duration) {
        match &self.hub {
            Some(hub) => {
                let mut heights = hub.latest_height();
                let _ = tokio::time::timeout(max, heights.wait_for(|h| *h > *seen)).await;
                *seen = (*seen).max(*heights.borrow());
            }
            None => tokio::time::sleep(max).await,
        }
    }

    /// The committed sequence of `address`, from an account query at most `max_age` old: the
    /// waiting txs of one engine share it.
    pub(super) async fn committed(
        &self,
        host: &IbcQuerier,
        address: &str,
        max_age: Duration,
    ) -> Result<u64, QueryError> {
        self.committed
            .get(max_age, || async {
                let (_, sequence) = host.account(address).await?;
                Ok(sequence)
            })
            .await
    }

    /// Whether a waiting tx may check now that its items are on chain: at most
    /// [`MOOT_CHECKS_PER_WINDOW`] checks per `window` for the whole engine.
    pub(super) fn may_check_moot(&self, window: Duration) -> bool {
        let mut w = self.moot_window.lock().unwrap_or_else(|e| e.into_inner());
        if w.0.elapsed() >= window {
            *w = (Instant::now(), 0);
        }
        if w.1 >= MOOT_CHECKS_PER_WINDOW {
            return false;
        }
        w.1 += 1;
        true
    }

    /// Whether the node answered that it keeps no tx index.
    pub(super) fn indexless(&self) -> bool {
        self.index.load(Ordering::Relaxed) == INDEXLESS
    }

    /// Records what a `/tx` answer says about the index: "disabled" makes the engine confirm
    /// from blocks from now on; a tx found (or "not found") shows an index. Returns whether the
    /// index is disabled.
    pub(super) fn learn(&self, answer: Result<(), &RpcError>) -> bool {
        let disabled = answer.is_err_and(index_disabled);
        let shows_index = match answer {
            Ok(()) => true,
            Err(RpcError::JsonRpc { message, data, .. }) => {
                message.contains("not found")
                    || data.as_deref().is_some_and(|d| d.contains("not found"))
            }
            Err(_) => false,
        };
        if disabled {
            if self.index.swap(INDEXLESS, Ordering::Relaxed) != INDEXLESS {
                tracing::info!("the node keeps no tx index; confirming txs from blocks");
            }
        } else if shows_index {
            let _ =
                self.index
                    .compare_exchange(UNKNOWN, INDEXED, Ordering::Relaxed, Ordering::Relaxed);
        }
        disabled
    }

    /// Before a broadcast: a height at or below the latest, where a lookup of the tx from blocks
    /// starts (the tx can only be in a later block): the live hub's, or else from `/status`.
    /// `None` when there is no live hub and `/tx` is known to work (nothing is asked), or when
    /// no height is known and `/status` fails.
    pub(super) async fn height_before_broadcast(
        &self,
        rpc: &RpcClient,
        max_age: Duration,
    ) -> Option<u64> {
        if let Some(h) = self.hub_height() {
            return Some(h);
        }
        if self.index.load(Ordering::Relaxed) == INDEXED {
            return None;
        }
        match self.latest(rpc, max_age).await {
            Ok(h) => Some(h),
            Err(_) => self.latest.last().await,
        }
    }

    /// The latest height, from a `/status` at most `max_age` old.
    pub(super) async fn latest(&self, rpc: &RpcClient, max_age: Duration) -> Result<u64, RpcError> {
        self.latest
            .get(max_age, || async {
                let status = rpc.status().await?;
                Ok(status.sync_info.latest_block_height.value())
            })
            .await
    }

    /// Looks for the tx `hash` in the blocks from `*from` to the latest height: the live hub's
    /// delivered height (`use_hub`), or the node's from a `/status` at most `max_age` old;
    /// `*from` advances past the heights without it. Heights the hub holds cost at most a
    /// `/block` (when it has no hashes for them); the others are read from the node.
    pub(super) async fn find(
        &self,
        rpc: &RpcClient,
        hash: &[u8; 32],
        from: &mut u64,
        max_age: Duration,
        use_hub: bool,
    ) -> Result<Option<Inclusion>, ScanError> {
        let hub = if use_hub { self.live_hub() } else { None };
        let latest = match hub {
            Some(hub) => *hub.latest_height().borrow(),
            None => self.latest(rpc, max_age).await?,
        };
        *from = (*from).max(1);
        while *from <= latest {
            let height = *from;
            let entry = self.height(height);
            if let Some(seen) = hub.and_then(|hub| hub.included(height)) {
                let hashes = match &seen.hashes {
                    Some(hashes) => hashes,
                    None => {
                        entry
                            .hashes
                            .get_or_try_init(|| block_hashes(rpc, height))
                            .await?
                    }
                };
                if let Some(index) = hashes.iter().position(|h| h == hash) {
                    let tx = seen.txs.get(index).ok_or(ScanError::MissingResult {
                        height,
                        index,
                        results: seen.txs.len(),
                    })?;
                    return Ok(Some(Inclusion {
                        height,
                        result: exec_result(tx),
                    }));
                }
                *from += 1;
                continue;
            }
            let hashes = entry
                .hashes
                .get_or_try_init(|| block_hashes(rpc, height))
                .await?;
            if let Some(index) = hashes.iter().position(|h| h == hash) {
                let results = entry
                    .results
                    .get_or_try_init(|| tx_results(rpc, height))
                    .await?;
                let result = results
                    .get(index)
                    .cloned()
                    .ok_or(ScanError::MissingResult {
                        height,
                        index,
                        results: results.len(),
                    })?;
                return Ok(Some(Inclusion { height, result }));
            }
            *from += 1;
        }
        Ok(None)
    }

    /// The cache entry of `height`, made if absent; the oldest heights beyond
    /// [`CACHED_HEIGHTS`] are forgotten.
    fn height(&self, height: u64) -> Arc<Height> {
        let mut heights = self.heights.lock().unwrap_or_else(|e| e.into_inner());
        let entry = heights.entry(height).or_default().clone();
        while heights.len() > CACHED_HEIGHTS {
            heights.pop_first();
        }
        entry
    }

    #[cfg(test)]
    fn cached(&self) -> Vec<u64> {
        let heights = self.heights.lock().unwrap_or_else(|e| e.into_inner());
        heights.keys().copied().collect()
    }
}

/// A result the hub saw, in the shape `block_results` and `/tx` give (without events, which a
/// confirmation does not read).
fn exec_result(tx: &crate::chain::events::IncludedTx) -> ExecTxResult {
    ExecTxResult {
        code: tx.code.into(),
        data: tx.data.clone().into(),
        log: tx.log.clone(),
        info: String::new(),
        gas_wanted: tx.gas_wanted,
        gas_used: tx.gas_used,
        events: Vec::new(),
        codespace: tx.codespace.clone(),
    }
}

/// `/block`, as far as its txs go.
#[derive(Deserialize)]
struct BlockAnswer {
    block: BlockTxs,
}

#[derive(Deserialize)]
struct BlockTxs {
    data: BlockData,
}

#[derive(Deserialize)]
struct BlockData {
    /// Base64 tx bytes; CometBFT may write `null` for none.
    #[serde(default)]
    txs: Option<Vec<String>>,
}

/// The SHA-256 hashes of the txs of block `height`, in block order.
async fn block_hashes(rpc: &RpcClient, height: u64) -> Result<Vec<[u8; 32]>, ScanError> {
    let answer: BlockAnswer = rpc
        .call("block", json!({ "height": height.to_string() }))
        .await?;
    answer
        .block
        .data
        .txs
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(index, tx)| {
            base64::engine::general_purpose::STANDARD
                .decode(tx)
                .map(|raw| cosmos::tx_hash(&raw))
                .map_err(|e| ScanError::BadTx {
                    height,
                    index,
                    reason: e.to_string(),
                })
        })
        .collect()
}

/// The results of the txs of block `height`, in block order.
async fn tx_results(rpc: &RpcClient, height: u64) -> Result<Vec<ExecTxResult>, ScanError> {
    let h =
        tendermint::block::Height::try_from(height).map_err(|_| ScanError::BadHeight(height))?;
    let answer = rpc.block_results(Some(h)).await?;
    Ok(answer.txs_results.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_rpc(message: &str, data: Option<&str>) -> RpcError {
        RpcError::JsonRpc {
            endpoint: "http://node".into(),
            method: "tx",
            code: -32603,
            message: message.into(),
            data: data.map(str::to_string),
        }
    }

    #[test]
    fn tells_a_disabled_index_from_a_missing_tx() {
        let disabled = json_rpc("Internal error", Some("transaction indexing is disabled"));
        let missing = json_rpc("Internal error", Some("tx (AB) not found"));
        let other = RpcError::Timeout {
            endpoint: "http://node".into(),
            method: "tx",
            timeout: Duration::from_secs(1),
        };
        assert!(index_disabled(&disabled));
        assert!(!index_disabled(&missing));
        assert!(!index_disabled(&other));
        // Another error code with the same words is not the index answer.
        let wrong_code = RpcError::JsonRpc {
            endpoint: "http://node".into(),
            method: "tx",
            code: -32600,
            message: "transaction indexing is disabled".into(),
            data: None,
        };
        assert!(!index_disabled(&wrong_code));

        let source = BlockSource::new(None);
        assert!(!source.learn(Err(&other)));
        assert!(!source.indexless());
        assert!(!source.learn(Err(&missing)));
        assert_eq!(source.index.load(Ordering::Relaxed), INDEXED);
        assert!(source.learn(Err(&disabled)));
        assert!(source.indexless());
        // Once disabled, stays so.
        assert!(!source.learn(Ok(())));
        assert!(source.indexless());
    }

    #[test]
    fn keeps_the_most_recent_heights() {
        let source = BlockSource::new(None);
        for h in 1..=(CACHED_HEIGHTS as u64 + 10) {
            source.height(h);
        }
        let cached = source.cached();
        assert_eq!(cached.len(), CACHED_HEIGHTS);
        assert_eq!(cached[0], 11);
        // The same entry for the same height.
        assert!(Arc::ptr_eq(&source.height(50), &source.height(50)));
    }

    #[test]
    fn reads_block_txs_even_when_null() {
        let a: BlockAnswer =
            serde_json::from_str(r#"{"block":{"header":{},"data":{"txs":null}}}"#).unwrap();
        assert!(a.block.data.txs.is_none());
        let a: BlockAnswer =
            serde_json::from_str(r#"{"block":{"data":{"txs":["AA==","AQ=="]}}}"#).unwrap();
        assert_eq!(a.block.data.txs.unwrap().len(), 2);
    }
}
