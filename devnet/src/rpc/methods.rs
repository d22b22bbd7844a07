//! The route table and one handler per CometBFT RPC method (`rpc/core/*.go`), with CometBFT's
//! argument names, defaults, limits and error texts. Websocket-only methods (`subscribe`,
//! `unsubscribe`, `unsubscribe_all`) are listed here but answered by [`super::ws`].

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::index::{page_window, Indexer, DEFAULT_PER_PAGE, MAX_PER_PAGE};
use super::jsonrpc::RpcError;
use super::params::Params;
use super::query::Query;
use super::render;
use crate::node::{ChainEvent, Node};

/// `maxQueryLength` of `rpc/core`.
pub const MAX_QUERY_LENGTH: usize = 512;
/// `timeout_broadcast_tx_commit` default.
pub const DEFAULT_COMMIT_TIMEOUT: Duration = Duration::from_secs(10);
/// `blockchain` returns at most this many metas.
pub const BLOCKCHAIN_LIMIT: u64 = 20;
/// What `tx` and `tx_search` answer on a node with `indexer = "null"` (`rpc/core/tx.go`).
pub const TX_INDEX_DISABLED: &str = "transaction indexing is disabled";
/// What `block_search` answers on a node with `indexer = "null"` (`rpc/core/blocks.go`).
pub const BLOCK_INDEX_DISABLED: &str = "block indexing is disabled";

/// Everything a handler needs.
#[derive(Clone)]
pub struct Ctx {
    /// The node answered from.
    pub node: Node,
    /// The tx / block index.
    pub index: Arc<Indexer>,
    /// How long `broadcast_tx_commit` waits for inclusion.
    pub commit_timeout: Duration,
    /// Server shutdown (ends waits early).
    pub shutdown: CancellationToken,
}

/// Method name → argument names in positional order (`rpc/core/routes.go`).
pub const ROUTES: &[(&str, &[&str])] = &[
    ("subscribe", &["query"]),
    ("unsubscribe", &["query"]),
    ("unsubscribe_all", &[]),
    ("health", &[]),
    ("status", &[]),
    ("net_info", &[]),
    ("blockchain", &["minHeight", "maxHeight"]),
    ("genesis", &[]),
    ("genesis_chunked", &["chunk"]),
    ("block", &["height"]),
    ("block_by_hash", &["hash"]),
    ("block_results", &["height"]),
    ("commit", &["height"]),
    ("header", &["height"]),
    ("header_by_hash", &["hash"]),
    ("tx", &["hash", "prove"]),
    (
        "tx_search",
        &["query", "prove", "page", "per_page", "order_by"],
    ),
    ("block_search", &["query", "page", "per_page", "order_by"]),
    ("validators", &["height", "page", "per_page"]),
    ("consensus_params", &["height"]),
    ("unconfirmed_txs", &["limit"]),
    ("num_unconfirmed_txs", &[]),
    ("broadcast_tx_commit", &["tx"]),
    ("broadcast_tx_sync", &["tx"]),
    ("broadcast_tx_async", &["tx"]),
    ("abci_query", &["path", "data", "height", "prove"]),
    ("abci_info", &[]),
];

/// The argument names of `method`, or `None` when there is no such method.
pub fn arg_names(method: &str) -> Option<&'static [&'static str]> {
    ROUTES.iter().find(|(m, _)| *m == method).map(|(_, a)| *a)
}

/// Methods only served over the websocket.
pub fn is_ws_only(method: &str) -> bool {
    matches!(method, "subscribe" | "unsubscribe" | "unsubscribe_all")
}

fn internal(e: impl std::fmt::Display) -> RpcError {
    RpcError::internal(e)
}

/// CometBFT's `getHeight`: absent → `latest`; must be in `[earliest, latest]`.
pub fn resolve_height(requested: Option<i64>, latest: u64, earliest: u64) -> Result<u64, RpcError> {
    let Some(h) = requested else {
        return Ok(latest);
    };
    if h <= 0 {
        return Err(internal(format!(
            "height must be greater than 0, but got {h}"
        )));
    }
    let h = h.unsigned_abs();
    if h > latest {
        return Err(internal(format!(
            "height {h} must be less than or equal to the current blockchain height {latest}"
        )));
    }
    if h < earliest {
        return Err(internal(format!(
            "height {h} is not available, lowest height is {earliest}"
        )));
    }
    Ok(h)
}

/// CometBFT's `filterMinMax` for `blockchain`.
pub fn filter_min_max(
    base: u64,
    height: u64,
    min: i64,
    max: i64,
    limit: u64,
) -> Result<(u64, u64), RpcError> {
    if min < 0 || max < 0 {
        return Err(internal("heights must be non-negative"));
    }
    let mut min = if min == 0 { 1 } else { min.unsigned_abs() };
    let mut max = if max == 0 { height } else { max.unsigned_abs() };
    max = max.min(height);
    min = min.max(base);
    min = min.max((max + 1).saturating_sub(limit));
    if min > max {
        return Err(internal(format!(
            "min height {min} can't be greater than max height {max}"
        )));
    }
    Ok((min, max))
}

/// Answers one non-websocket method.
pub async fn call(ctx: &Ctx, method: &str, p: &Params) -> Result<Value, RpcError> {
    let node = &ctx.node;
    let path = match method {
        "abci_query" => p.string("path").ok().flatten(),
        _ => None,
    };
    node.requests().record(method, path.as_deref());
    match method {
        "health" => Ok(json!({})),
        "status" => Ok(status(node)),
        "net_info" => Ok(render::net_info()),
        "abci_info" => Ok(render::abci_info(&node.abci_info())),
        "abci_query" => {
            let path = p.string("path")?.unwrap_or_default();
            let data = p.hex_bytes("data")?.unwrap_or_default();
            let height = p.int("height")?.unwrap_or(0);
            let prove = p.boolean("prove")?.unwrap_or(false);
            let height = u64::try_from(height)
                .map_err(|_| internal(format!("height must be non-negative, got {height}")))?;
            // Queries (proofs, Simulate) are CPU work: keep them off the async workers.
            let n = node.clone();
            let res =
                tokio::task::spawn_blocking(move || n.abci_query(&path, &data, height, prove))
                    .await
                    .map_err(|e| internal(format!("query task failed: {e}")))?;
            Ok(render::abci_query(&res))
        }
        "block" => {
            let h = resolve_height(
                p.int("height")?,
                node.latest_height(),
                node.earliest_height(),
            )?;
            Ok(node
                .block(h)
                .map_or_else(render::block_not_found, |r| render::block_result(&r)))
        }
        "block_by_hash" => {
            let hash = p.hash("hash")?.unwrap_or_default();
            Ok(retained_by_hash(node, &hash)
                .map_or_else(render::block_not_found, |r| render::block_result(&r)))
        }
        "header" => {
            let h = resolve_height(
                p.int("height")?,
                node.latest_height(),
                node.earliest_height(),
            )?;
            Ok(json!({"header": node.block(h).map(|r| render::header(&r))}))
        }
        "header_by_hash" => {
            let hash = p.hash("hash")?.unwrap_or_default();
            Ok(json!({"header": retained_by_hash(node, &hash).map(|r| render::header(&r))}))
        }
        "block_results" => {
            let h = resolve_height(
                p.int("height")?,
                node.latest_height(),
                node.earliest_height(),
            )?;
            if node
                .faults()
                .failing_block_results()
                .is_some_and(|(f, _)| f == h)
            {
                return Err(internal(format!(
                    "block results of height {h} could not be served (fault)"
                )));
            }
            node.block(h)
                .map(|r| render::block_results(&r))
                .ok_or_else(|| internal(format!("could not find results for height #{h}")))
        }
        "commit" => {
            let latest = node.latest_height();
            let h = resolve_height(p.int("height")?, latest, node.earliest_height())?;
            node.block(h)
                .map(|r| render::commit_result(&r, h < latest))
                .ok_or_else(|| internal(format!("could not find commit for height #{h}")))
        }
        "blockchain" => {
            let latest = node.latest_height();
            let min = p.int("minHeight")?.unwrap_or(0);
            let max = p.int("maxHeight")?.unwrap_or(0);
            let (min, max) =
                filter_min_max(node.earliest_height(), latest, min, max, BLOCKCHAIN_LIMIT)?;
            let metas: Vec<Value> = (min..=max)
                .rev()
                .filter_map(|h| node.block(h))
                .map(|r| render::block_meta(&r))
                .collect();
            Ok(json!({"last_height": latest.to_string(), "block_metas": metas}))
        }
        "validators" => {
            let latest = node.latest_height();
            let h = resolve_height(p.int("height")?, latest + 1, node.earliest_height())?;
            let set = node
                .validators(h)
                .ok_or_else(|| internal(format!("could not find validator set for height #{h}")))?;
            let all = set.validators();
            let (skip, take) =
                page_window(all.len(), p.int("page")?, p.int("per_page")?).map_err(internal)?;
            Ok(render::validators_result(
                h,
                &all[skip..skip + take],
                all.len(),
            ))
        }
        "genesis" => Ok(render::genesis(&node.genesis())),
        "genesis_chunked" => {
            let chunk = p.int("chunk")?.unwrap_or(0);
            let doc = render::genesis(&node.genesis());
            let bytes = serde_json::to_vec(&doc["genesis"]).map_err(internal)?;
            if chunk != 0 {
                return Err(internal(format!("there are 1 chunks, {chunk} is invalid")));
            }
            Ok(json!({
                "chunk": "0",
                "total": "1",
                "data": base64::engine::general_purpose::STANDARD.encode(bytes),
            }))
        }
        "consensus_params" => {
            let h = resolve_height(
                p.int("height")?,
                node.latest_height(),
                node.earliest_height(),
            )?;
            Ok(json!({
                "block_height": h.to_string(),
                "consensus_params": render::consensus_params(&node.consensus_params()),
            }))
        }
        "unconfirmed_txs" => {
            // `limit` is read as `per_page` is (`validatePerPage`).
            let limit = match p.int("limit")? {
                Some(l) if l >= 1 => l.min(MAX_PER_PAGE),
                _ => DEFAULT_PER_PAGE,
            };
            let (txs, total, bytes) = node.unconfirmed_txs(usize::try_from(limit).unwrap_or(0));
            Ok(render::unconfirmed_txs(&txs, total, bytes))
        }
        "num_unconfirmed_txs" => Ok(render::num_unconfirmed_txs(
            node.mempool_size(),
            node.mempool_bytes(),
        )),
        "tx" => {
            if !node.tx_index_enabled() {
                return Err(internal(TX_INDEX_DISABLED));
            }
            let hash = p.hash("hash")?.unwrap_or_default();
            let prove = p.boolean("prove")?.unwrap_or(false);
            let rec = node
                .tx(&hash)
                .ok_or_else(|| internal(format!("tx ({}) not found", hex::encode_upper(&hash))))?;
            let proof = if prove {
                tx_proof(node, rec.height, rec.index)
            } else {
                None
            };
            Ok(render::tx_result(&rec, proof))
        }
        "tx_search" => tx_search(ctx, p),
        "block_search" => block_search(ctx, p),
        "broadcast_tx_async" | "broadcast_tx_sync" => {
            let tx = p.bytes("tx")?.unwrap_or_default();
            let hash: [u8; 32] = Sha256::digest(&tx).into();
            node.faults().broadcast_gate().await;
            // CheckTx verifies a signature and waits for the mempool lock: off the async workers.
            let n = node.clone();
            let check = tokio::task::spawn_blocking(move || n.try_broadcast_tx(tx))
                .await
                .map_err(|e| internal(format!("CheckTx task failed: {e}")))?
                .map_err(internal)?;
            if method == "broadcast_tx_async" {
                let zero = tendermint::abci::response::CheckTx::default();
                return Ok(render::broadcast_result(&zero, &hash));
            }
            Ok(render::broadcast_result(&check, &hash))
        }
        "broadcast_tx_commit" => broadcast_tx_commit(ctx, p).await,
        _ => Err(RpcError::method_not_found()),
    }
}

fn status(node: &Node) -> Value {
    let identity = node.identity();
    let validator = node.validator();
    let latest = node.block(node.latest_height());
    let earliest = node.block(node.earliest_height());
    let app_version = latest.as_ref().map_or(0, |r| r.block.header.version.app);
    let mut status = render::status(&render::StatusInput {
        identity: &identity,
        chain_id: &node.chain_id(),
        app_version,
        validator: &validator,
        latest: latest.as_deref(),
        earliest: earliest.as_deref(),
    });
    if !node.tx_index_enabled() {
        // `makeNodeInfo`: "off" with the null indexer.
        status["node_info"]["other"]["tx_index"] = json!("off");
    }
    status
}

/// The block with `hash` unless pruned from what the RPC serves (CometBFT's block store no
/// longer has it and answers as for an unknown hash).
fn retained_by_hash(node: &Node, hash: &[u8]) -> Option<Arc<crate::node::BlockRecord>> {
    node.block_by_hash(hash)
        .filter(|r| r.height() >= node.earliest_height())
}

/// The block at `height` unless pruned from what the RPC serves.
fn retained_block(node: &Node, height: u64) -> Option<Arc<crate::node::BlockRecord>> {
    node.block(height)
        .filter(|_| height >= node.earliest_height())
}

fn tx_proof(node: &Node, height: u64, index: u32) -> Option<Value> {
    // A pruned block has no proof to give (CometBFT's `LoadBlock` finds nothing).
    let block = retained_block(node, height)?;
    render::tx_proof(block.block.data.as_slice(), usize::try_from(index).ok()?)
}

fn parse_search_query(p: &Params) -> Result<Query, RpcError> {
    let q = p.string("query")?.unwrap_or_default();
    if q.len() > MAX_QUERY_LENGTH {
        return Err(internal("maximum query length exceeded"));
    }
    Query::parse(&q).map_err(internal)
}

fn order_desc(p: &Params, default_desc: bool) -> Result<bool, RpcError> {
    match p.string("order_by")?.as_deref() {
        None | Some("") => Ok(default_desc),
        Some("asc") => Ok(false),
        Some("desc") => Ok(true),
        Some(_) => Err(internal(
            "expected order_by to be either `asc` or `desc` or empty",
        )),
    }
}

fn tx_search(ctx: &Ctx, p: &Params) -> Result<Value, RpcError> {
    if !ctx.node.tx_index_enabled() {
        return Err(internal(TX_INDEX_DISABLED));
    }
    let q = parse_search_query(p)?;
    let prove = p.boolean("prove")?.unwrap_or(false);
    let desc = order_desc(p, false)?;
    let mut found = ctx.index.search_txs(&q);
    found.sort_by_key(|t| (t.height, t.index));
    if desc {
        found.reverse();
    }
    let (skip, take) =
        page_window(found.len(), p.int("page")?, p.int("per_page")?).map_err(internal)?;
    let txs: Vec<Value> = found
        .iter()
        .skip(skip)
        .take(take)
        .map(|t| {
            let proof = if prove {
                tx_proof(&ctx.node, t.height, t.index)
            } else {
                None
            };
            render::tx_result(t, proof)
        })
        .collect();
    Ok(json!({"txs": txs, "total_count": found.len().to_string()}))
}

fn block_search(ctx: &Ctx, p: &Params) -> Result<Value, RpcError> {
    if !ctx.node.tx_index_enabled() {
        return Err(internal(BLOCK_INDEX_DISABLED));
    }
    let q = parse_search_query(p)?;
    let desc = order_desc(p, true)?;
    let mut heights = ctx.index.search_blocks(&q);
    heights.sort_unstable();
    if desc {
        heights.reverse();
    }
    let (skip, take) =
        page_window(heights.len(), p.int("page")?, p.int("per_page")?).map_err(internal)?;
    let blocks: Vec<Value> = heights
        .iter()
        .skip(skip)
        .take(take)
        .filter_map(|h| retained_block(&ctx.node, *h))
        .map(|r| render::block_result(&r))
        .collect();
    Ok(json!({"blocks": blocks, "total_count": heights.len().to_string()}))
}

async fn broadcast_tx_commit(ctx: &Ctx, p: &Params) -> Result<Value, RpcError> {
    let node = &ctx.node;
    let tx = p.bytes("tx")?.unwrap_or_default();
    let hash: [u8; 32] = Sha256::digest(&tx).into();
    // Subscribe before broadcasting so the inclusion cannot be missed.
    let mut events = node.subscribe();
    let n = node.clone();
    let check = tokio::task::spawn_blocking(move || n.try_broadcast_tx(tx))
        .await
        .map_err(|e| internal(format!("CheckTx task failed: {e}")))?
        .map_err(|e| internal(format!("error on broadcastTxCommit: {e}")))?;
    let answer = |tx_result: Value, height: u64| {
        json!({
            "check_tx": render::check_tx(&check),
            "tx_result": tx_result,
            "hash": hex::encode_upper(hash),
            "height": height.to_string(),
        })
    };
    if check.code.is_err() {
        let empty = tendermint::abci::types::ExecTxResult::default();
        return Ok(answer(render::exec_tx_result(&empty), 0));
    }
    let deadline = tokio::time::sleep(ctx.commit_timeout);
    tokio::pin!(deadline);
    loop {
        if let Some(rec) = node.tx(&hash) {
            return Ok(answer(render::exec_tx_result(&rec.result), rec.height));
        }
        let next = tokio::select! {
            _ = &mut deadline => {
                return Err(internal("timed out waiting for tx to be included in a block"));
            }
            _ = ctx.shutdown.cancelled() => {
                return Err(internal("txSub was canceled (reason: CometBFT exited)"));
            }
            next = events.recv() => next,
        };
        match next {
            Ok(ChainEvent::Tx(rec)) if rec.hash == hash => {
                return Ok(answer(render::exec_tx_result(&rec.result), rec.height));
            }
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => {
                return Err(internal("txSub was canceled (reason: CometBFT exited)"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heights_resolve_with_cometbft_errors() {
        assert_eq!(resolve_height(None, 12, 1), Ok(12));
        assert_eq!(resolve_height(Some(5), 12, 1), Ok(5));
        assert_eq!(
            resolve_height(Some(999), 12, 1).unwrap_err().data,
            "height 999 must be less than or equal to the current blockchain height 12"
        );
        assert_eq!(
            resolve_height(Some(0), 12, 1).unwrap_err().data,
            "height must be greater than 0, but got 0"
        );
        assert_eq!(
            resolve_height(Some(2), 12, 3).unwrap_err().data,
            "height 2 is not available, lowest height is 3"
        );
        assert_eq!(resolve_height(Some(999), 12, 1).unwrap_err().code, -32603);
    }

    #[test]
    fn blockchain_window() {
        assert_eq!(filter_min_max(1, 100, 0, 0, 20), Ok((81, 100)));
        assert_eq!(filter_min_max(1, 100, 1, 10, 20), Ok((1, 10)));
        assert_eq!(filter_min_max(1, 5, 1, 10, 20), Ok((1, 5)));
        assert!(filter_min_max(1, 100, -1, 10, 20).is_err());
        assert_eq!(
            filter_min_max(1, 5, 9, 10, 20).unwrap_err().data,
            "min height 9 can't be greater than max height 5"
        );
        assert!(filter_min_max(1, 0, 0, 0, 20).is_err());
    }

    #[test]
    fn every_route_has_unique_name() {
        let mut names: Vec<_> = ROUTES.iter().map(|(m, _)| *m).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ROUTES.len());
        assert_eq!(
            arg_names("abci_query"),
            Some(&["path", "data", "height", "prove"][..])
        );
        assert!(arg_names("nope").is_none());
        assert!(is_ws_only("subscribe"));
    }
}
