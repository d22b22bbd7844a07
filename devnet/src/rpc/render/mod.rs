//! Pure functions from node data to the JSON a CometBFT v0.38 node writes for each result.
//! tendermint-rs types do the heavy lifting (headers, commits, ids, times); the rewrites here
//! are the places where their serialization differs from a real node, each checked against the
//! real CometBFT v0.38 captures (see `rpc::fixtures`) by the tests in `tests.rs`.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tendermint::abci::types::ExecTxResult;
use tendermint::abci::Event;

use super::query::EventMap;
use super::shape;
use crate::node::{BlockRecord, NodeIdentity, TxRecord};

/// The CometBFT version `status` reports (Hermes picks its compat mode from it).
pub const COMETBFT_VERSION: &str = "0.38.17";
/// Block protocol version of CometBFT v0.38.
pub const BLOCK_PROTOCOL: u64 = 11;
/// P2P protocol version of CometBFT v0.38.
pub const P2P_PROTOCOL: u64 = 8;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Base64, or null for no bytes (Go writes a nil `[]byte` as null).
pub fn b64_or_null(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        Value::Null
    } else {
        Value::String(b64(bytes))
    }
}

fn to_value<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

fn empty_block_id() -> Value {
    json!({"hash": "", "parts": {"hash": "", "total": 0}})
}

/// A header: tendermint-rs writes a missing `last_block_id` (height 1) as null, CometBFT as an
/// empty block id.
pub fn fix_header(header: &mut Value) {
    if let Some(map) = header.as_object_mut() {
        if map.get("last_block_id").is_none_or(Value::is_null) {
            map.insert("last_block_id".into(), empty_block_id());
        }
    }
}

/// A block: header fix, and an empty last commit (height 1) written in full instead of null.
pub fn fix_block(block: &mut Value) {
    if let Some(map) = block.as_object_mut() {
        if let Some(h) = map.get_mut("header") {
            fix_header(h);
        }
        if map.get("last_commit").is_none_or(Value::is_null) {
            map.insert(
                "last_commit".into(),
                json!({"block_id": empty_block_id(), "height": "0", "round": 0, "signatures": []}),
            );
        }
        if map.get("evidence").is_none_or(Value::is_null) {
            map.insert("evidence".into(), json!({"evidence": []}));
        }
        for (outer, inner) in [("data", "txs"), ("evidence", "evidence")] {
            if let Some(o) = map.get_mut(outer).and_then(Value::as_object_mut) {
                if o.get(inner).is_none_or(Value::is_null) {
                    o.insert(inner.into(), json!([]));
                }
            }
        }
    }
}

/// `block.block` as CometBFT writes it.
pub fn block(rec: &BlockRecord) -> Value {
    let mut v = to_value(&rec.block);
    fix_block(&mut v);
    v
}

/// `block.header` as CometBFT writes it.
pub fn header(rec: &BlockRecord) -> Value {
    let mut v = to_value(&rec.block.header);
    fix_header(&mut v);
    v
}

/// The result of `block` and `block_by_hash`, and each entry of `block_search`.
pub fn block_result(rec: &BlockRecord) -> Value {
    json!({"block_id": to_value(&rec.block_id), "block": block(rec)})
}

/// The result of `block_by_hash` / `header_by_hash` when nothing has that hash.
pub fn block_not_found() -> Value {
    json!({"block_id": empty_block_id(), "block": null})
}

/// The result of `commit`.
pub fn commit_result(rec: &BlockRecord, canonical: bool) -> Value {
    json!({
        "signed_header": {"header": header(rec), "commit": to_value(&rec.commit)},
        "canonical": canonical,
    })
}

/// The protobuf size of the block (what `blockchain` reports as `block_size`).
pub fn block_size(rec: &BlockRecord) -> usize {
    use prost::Message;
    let raw: tendermint_proto::v0_38::types::Block = rec.block.clone().into();
    raw.encoded_len()
}

/// One entry of `blockchain.block_metas`.
pub fn block_meta(rec: &BlockRecord) -> Value {
    json!({
        "block_id": to_value(&rec.block_id),
        "block_size": block_size(rec).to_string(),
        "header": header(rec),
        "num_txs": rec.block.data.len().to_string(),
    })
}

/// Events as CometBFT v0.38 writes them (attributes as strings with `index`).
pub fn events(events: &[Event]) -> Value {
    Value::Array(
        events
            .iter()
            .map(|e| {
                let attrs: Vec<Value> = e
                    .attributes
                    .iter()
                    .map(|a| {
                        json!({
                            "key": String::from_utf8_lossy(a.key_bytes()),
                            "value": String::from_utf8_lossy(a.value_bytes()),
                            "index": a.index(),
                        })
                    })
                    .collect();
                json!({"type": e.kind, "attributes": attrs})
            })
            .collect(),
    )
}

/// An `ExecTxResult` with every field (`tx`, `tx_search`, `block_results`, `broadcast_tx_commit`).
pub fn exec_tx_result(r: &ExecTxResult) -> Value {
    json!({
        "code": r.code.value(),
        "data": b64_or_null(&r.data),
        "log": r.log,
        "info": r.info,
        "gas_wanted": r.gas_wanted.to_string(),
        "gas_used": r.gas_used.to_string(),
        "events": events(&r.events),
        "codespace": r.codespace,
    })
}

/// An `ExecTxResult` with Go's `omitempty` applied (pushed `Tx` events, `result_finalize_block`).
pub fn exec_tx_result_compact(r: &ExecTxResult) -> Value {
    let mut v = exec_tx_result(r);
    shape::exec_tx_result_compact(&mut v);
    shape::omit_empty(&mut v, &["events"]);
    v
}

/// The `check_tx` of `broadcast_tx_commit` (v0.38 `ResponseCheckTx`: no sender/priority).
pub fn check_tx(r: &tendermint::abci::response::CheckTx) -> Value {
    json!({
        "code": r.code.value(),
        "data": b64_or_null(&r.data),
        "log": r.log,
        "info": r.info,
        "gas_wanted": r.gas_wanted.to_string(),
        "gas_used": r.gas_used.to_string(),
        "events": events(&r.events),
        "codespace": r.codespace,
    })
}

/// The result of `broadcast_tx_sync` / `broadcast_tx_async`.
pub fn broadcast_result(r: &tendermint::abci::response::CheckTx, hash: &[u8]) -> Value {
    json!({
        "code": r.code.value(),
        "data": hex::encode_upper(&r.data),
        "log": r.log,
        "codespace": r.codespace,
        "hash": hex::encode_upper(hash),
    })
}

/// The Merkle proof of `txs[index]` in the block's data hash, as `tx?prove=true` writes it.
pub fn tx_proof(txs: &[Vec<u8>], index: usize) -> Option<Value> {
    let leaves: Vec<[u8; 32]> = txs.iter().map(|t| Sha256::digest(t).into()).collect();
    let tx = txs.get(index)?;
    let (root, leaf, aunts) = merkle_proof(&leaves, index)?;
    Some(json!({
        "root_hash": hex::encode_upper(root),
        "data": b64(tx),
        "proof": {
            "total": txs.len().to_string(),
            "index": index.to_string(),
            "leaf_hash": b64(&leaf),
            "aunts": aunts.iter().map(|a| b64(a)).collect::<Vec<_>>(),
        },
    }))
}

fn leaf_hash(item: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(item);
    h.finalize().into()
}

fn inner_hash(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

/// (root, leaf hash, aunts from the leaf up).
type MerkleProof = ([u8; 32], [u8; 32], Vec<[u8; 32]>);

/// RFC 6962 tree as CometBFT builds it.
fn merkle_proof(items: &[[u8; 32]], index: usize) -> Option<MerkleProof> {
    match items.len() {
        0 => None,
        1 => {
            let l = leaf_hash(&items[0]);
            (index == 0).then_some((l, l, vec![]))
        }
        n => {
            let k = split_point(n);
            let left_root = merkle_root(&items[..k]);
            let right_root = merkle_root(&items[k..]);
            let root = inner_hash(&left_root, &right_root);
            if index < k {
                let (_, leaf, mut aunts) = merkle_proof(&items[..k], index)?;
                aunts.push(right_root);
                Some((root, leaf, aunts))
            } else {
                let (_, leaf, mut aunts) = merkle_proof(&items[k..], index - k)?;
                aunts.push(left_root);
                Some((root, leaf, aunts))
            }
        }
    }
}

fn merkle_root(items: &[[u8; 32]]) -> [u8; 32] {
    match items.len() {
        0 => Sha256::digest([]).into(),
        1 => leaf_hash(&items[0]),
        n => {
            let k = split_point(n);
            inner_hash(&merkle_root(&items[..k]), &merkle_root(&items[k..]))
        }
    }
}

/// The largest power of two strictly less than `n` (n ≥ 2).
fn split_point(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// One `tx` result (also each entry of `tx_search`).
pub fn tx_result(rec: &TxRecord, proof: Option<Value>) -> Value {
    let mut v = json!({
        "hash": hex::encode_upper(rec.hash),
        "height": rec.height.to_string(),
        "index": rec.index,
        "tx_result": exec_tx_result(&rec.result),
        "tx": b64(&rec.tx),
    });
    if let (Some(p), Some(map)) = (proof, v.as_object_mut()) {
        map.insert("proof".into(), p);
    }
    v
}

/// The result of `block_results`.
pub fn block_results(rec: &BlockRecord) -> Value {
    let txs = if rec.tx_results.is_empty() {
        Value::Null
    } else {
        Value::Array(rec.tx_results.iter().map(exec_tx_result).collect())
    };
    let fbe = if rec.finalize_block_events.is_empty() {
        Value::Null
    } else {
        events(&rec.finalize_block_events)
    };
    json!({
        "height": rec.height().to_string(),
        "txs_results": txs,
        "finalize_block_events": fbe,
        "validator_updates": null,
        "consensus_param_updates": null,
        "app_hash": b64(&rec.app_hash),
    })
}

/// `"{type}.{key}" → [values]`, skipping empty types and keys (`validateAndStringifyEvents`).
pub fn flatten_events(events: &[Event], into: &mut EventMap) {
    for e in events {
        if e.kind.is_empty() {
            continue;
        }
        for a in &e.attributes {
            let key = String::from_utf8_lossy(a.key_bytes());
            if key.is_empty() {
                continue;
            }
            into.entry(format!("{}.{}", e.kind, key))
                .or_default()
                .push(String::from_utf8_lossy(a.value_bytes()).into_owned());
        }
    }
}

/// The event map of a committed tx: its events plus `tm.event`, `tx.hash` and `tx.height`.
pub fn tx_event_map(rec: &TxRecord) -> EventMap {
    let mut m = BTreeMap::new();
    flatten_events(&rec.result.events, &mut m);
    m.insert("tm.event".into(), vec!["Tx".into()]);
    m.insert("tx.hash".into(), vec![hex::encode_upper(rec.hash)]);
    m.insert("tx.height".into(), vec![rec.height.to_string()]);
    m
}

/// The event map of a new block: `finalize_block_events` plus `tm.event`.
pub fn new_block_event_map(rec: &BlockRecord) -> EventMap {
    let mut m = BTreeMap::new();
    flatten_events(&rec.finalize_block_events, &mut m);
    m.insert("tm.event".into(), vec!["NewBlock".into()]);
    m
}

/// `data` of a pushed `Tx` event.
pub fn tx_event_data(rec: &TxRecord) -> Value {
    let mut tx_result = json!({
        "height": rec.height.to_string(),
        "index": rec.index,
        "tx": b64(&rec.tx),
        "result": exec_tx_result_compact(&rec.result),
    });
    shape::omit_empty(&mut tx_result, &["index"]);
    json!({"type": "tendermint/event/Tx", "value": {"TxResult": tx_result}})
}

/// `data` of a pushed `NewBlock` event (v0.38: block, block_id, result_finalize_block).
pub fn new_block_event_data(rec: &BlockRecord) -> Value {
    let mut rfb = json!({
        "events": events(&rec.finalize_block_events),
        "tx_results": rec.tx_results.iter().map(exec_tx_result_compact).collect::<Vec<_>>(),
        "validator_updates": [],
        "app_hash": b64(&rec.app_hash),
    });
    shape::omit_empty(&mut rfb, &["events", "tx_results"]);
    json!({
        "type": "tendermint/event/NewBlock",
        "value": {
            "block": block(rec),
            "block_id": to_value(&rec.block_id),
            "result_finalize_block": rfb,
        },
    })
}

/// The `result` of a pushed event message.
pub fn event_message(query: &str, data: Value, events: &EventMap) -> Value {
    json!({"query": query, "data": data, "events": events})
}

/// A validator as `validators` writes it.
pub fn validator(v: &tendermint::validator::Info) -> Value {
    json!({
        "address": to_value(&v.address),
        "pub_key": to_value(&v.pub_key),
        "voting_power": v.power.value().to_string(),
        "proposer_priority": v.proposer_priority.value().to_string(),
    })
}

/// The result of `validators` for one page.
pub fn validators_result(height: u64, page: &[tendermint::validator::Info], total: usize) -> Value {
    json!({
        "block_height": height.to_string(),
        "validators": page.iter().map(validator).collect::<Vec<_>>(),
        "count": page.len().to_string(),
        "total": total.to_string(),
    })
}

/// Consensus params without tendermint-rs's v0.34 leftover `block.time_iota_ms`.
pub fn consensus_params(p: &tendermint::consensus::Params) -> Value {
    let mut v = to_value(p);
    if let Some(block) = v.get_mut("block") {
        shape::remove_key(block, "time_iota_ms");
    }
    v
}

/// The result of `genesis`.
pub fn genesis(g: &tendermint::Genesis<Value>) -> Value {
    let mut v = to_value(g);
    if let Some(map) = v.as_object_mut() {
        map.insert(
            "consensus_params".into(),
            consensus_params(&g.consensus_params),
        );
        if let Some(Value::Array(vals)) = map.get_mut("validators") {
            for val in vals {
                if val.get("name").is_some_and(Value::is_null) {
                    val["name"] = json!("");
                }
            }
        }
    }
    json!({"genesis": v})
}

/// What `status` needs from the node.
pub struct StatusInput<'a> {
    /// Node id, moniker, rpc address.
    pub identity: &'a NodeIdentity,
    /// Chain id.
    pub chain_id: &'a str,
    /// App version for `protocol_version.app`.
    pub app_version: u64,
    /// The validator.
    pub validator: &'a tendermint::validator::Info,
    /// The latest block, if any.
    pub latest: Option<&'a BlockRecord>,
    /// The earliest block, if any.
    pub earliest: Option<&'a BlockRecord>,
}

fn sync_part(rec: Option<&BlockRecord>) -> (String, String, String, String) {
    match rec {
        Some(r) => (
            hex::encode_upper(r.block_id.hash.as_bytes()),
            hex::encode_upper(r.block.header.app_hash.as_bytes()),
            r.height().to_string(),
            to_value(&r.block.header.time)
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ),
        None => (
            String::new(),
            String::new(),
            "0".into(),
            "1970-01-01T00:00:00Z".into(),
        ),
    }
}

/// The result of `status`.
pub fn status(s: &StatusInput<'_>) -> Value {
    let (lh, la, lheight, ltime) = sync_part(s.latest);
    let (eh, ea, eheight, etime) = sync_part(s.earliest);
    json!({
        "node_info": {
            "protocol_version": {
                "p2p": P2P_PROTOCOL.to_string(),
                "block": BLOCK_PROTOCOL.to_string(),
                "app": s.app_version.to_string(),
            },
            "id": s.identity.node_id,
            "listen_addr": "tcp://0.0.0.0:26656",
            "network": s.chain_id,
            "version": COMETBFT_VERSION,
            "channels": "40202122233038606100",
            "moniker": s.identity.moniker,
            "other": {"tx_index": "on", "rpc_address": s.identity.rpc_address},
        },
        "sync_info": {
            "latest_block_hash": lh,
            "latest_app_hash": la,
            "latest_block_height": lheight,
            "latest_block_time": ltime,
            "earliest_block_hash": eh,
            "earliest_app_hash": ea,
            "earliest_block_height": eheight,
            "earliest_block_time": etime,
            "catching_up": false,
        },
        "validator_info": {
            "address": to_value(&s.validator.address),
            "pub_key": to_value(&s.validator.pub_key),
            "voting_power": s.validator.power.value().to_string(),
        },
    })
}

/// The result of `abci_query`, with the `proofOps` key a v0.38 node writes.
pub fn abci_query(q: &tendermint::abci::response::Query) -> Value {
    let proof = match &q.proof {
        None => Value::Null,
        Some(p) => json!({
            "ops": p.ops.iter().map(|op| json!({
                "type": op.field_type,
                "key": b64(&op.key),
                "data": b64(&op.data),
            })).collect::<Vec<_>>()
        }),
    };
    json!({"response": {
        "code": q.code.value(),
        "log": q.log,
        "info": q.info,
        "index": q.index.to_string(),
        "key": b64_or_null(&q.key),
        "value": b64_or_null(&q.value),
        "proofOps": proof,
        "height": q.height.value().to_string(),
        "codespace": q.codespace,
    }})
}

/// The result of `abci_info`.
pub fn abci_info(info: &tendermint::abci::response::Info) -> Value {
    json!({"response": to_value(info)})
}

/// The result of `unconfirmed_txs` (v0.38 `ResultUnconfirmedTxs`): the txs listed, the
/// mempool's tx count and bytes, the txs in base64.
pub fn unconfirmed_txs(txs: &[Vec<u8>], total: usize, total_bytes: u64) -> Value {
    json!({
        "n_txs": txs.len().to_string(),
        "total": total.to_string(),
        "total_bytes": total_bytes.to_string(),
        "txs": txs.iter().map(|t| b64(t)).collect::<Vec<_>>(),
    })
}

/// The result of `num_unconfirmed_txs`: `ResultUnconfirmedTxs` without txs (`null`).
pub fn num_unconfirmed_txs(total: usize, total_bytes: u64) -> Value {
    json!({
        "n_txs": total.to_string(),
        "total": total.to_string(),
        "total_bytes": total_bytes.to_string(),
        "txs": null,
    })
}

/// The result of `net_info` for a node without peers.
pub fn net_info() -> Value {
    json!({"listening": true, "listeners": ["Listener(@)"], "n_peers": "0", "peers": []})
}

#[cfg(test)]
mod tests;
