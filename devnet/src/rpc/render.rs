//! Pure functions from node data to the JSON a CometBFT v0.38 node writes for each result.
//! tendermint-rs types do the heavy lifting (headers, commits, ids, times); the rewrites here
//! are the places where their serialization differs from a real node, each checked against the
//! real CometBFT v0.38 captures (see `rpc::fixtures`) by the tests at the bottom.

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
mod tests {
    use super::*;
    use crate::rpc::fixtures::capture;
    use crate::rpc::shape::missing_paths;
    use tendermint_rpc::endpoint as ep;

    /// A `BlockRecord` made from a captured block (no txs).
    fn record_from(capture_name: &str) -> BlockRecord {
        let c = capture(capture_name);
        let block: tendermint::Block = serde_json::from_value(c["result"]["block"].clone())
            .unwrap_or_else(|e| panic!("{capture_name}: block: {e}"));
        let block_id: tendermint::block::Id =
            serde_json::from_value(c["result"]["block_id"].clone())
                .unwrap_or_else(|e| panic!("{capture_name}: block_id: {e}"));
        let commit = block
            .last_commit
            .clone()
            .unwrap_or_else(|| tendermint::block::Commit {
                height: block.header.height,
                round: Default::default(),
                block_id,
                signatures: vec![],
            });
        BlockRecord {
            block,
            block_id,
            commit,
            tx_results: vec![],
            finalize_block_events: vec![],
            app_hash: vec![6, 0, 0, 0, 0, 0, 0, 0],
        }
    }

    fn assert_covers(capture_name: &str, ours: &Value) {
        let c = capture(capture_name);
        let missing = missing_paths(&c["result"], ours);
        assert!(missing.is_empty(), "{capture_name}: missing {missing:?}");
        let extra = missing_paths(ours, &c["result"]);
        assert!(extra.is_empty(), "{capture_name}: extra {extra:?}");
    }

    #[test]
    fn blocks_match_the_captures_exactly() {
        for name in ["block_at_height_1", "block_at_height_10"] {
            let rec = record_from(name);
            let ours = block_result(&rec);
            assert_covers(name, &ours);
            let c = capture(name);
            assert_eq!(ours, c["result"], "{name} differs");
            // tendermint-rs clients read it back.
            let back: Result<ep::block::Response, _> = serde_json::from_value(ours);
            assert!(back.is_ok(), "{name}: {back:?}");
        }
    }

    #[test]
    fn header_commit_and_meta_shapes() {
        let rec = record_from("block_at_height_10");
        {
            let c = capture("commit_at_height_10");
            let mut rec = rec.clone();
            rec.commit =
                serde_json::from_value(c["result"]["signed_header"]["commit"].clone()).unwrap();
            let commit = commit_result(&rec, true);
            assert_eq!(commit, c["result"]);
            let back = serde_json::from_value::<ep::commit::Response>(commit);
            assert!(back.is_ok(), "{back:?}");
        }
        let meta = block_meta(&rec);
        let c = capture("blockchain_from_1_to_10");
        let capture_meta = &c["result"]["block_metas"][0];
        assert!(missing_paths(capture_meta, &meta).is_empty());
        // The capture's first meta is height 10, the block we loaded.
        assert_eq!(meta["header"], capture_meta["header"]);
        assert_eq!(meta["block_size"], capture_meta["block_size"]);
        let h = header(&rec);
        assert!(serde_json::from_value::<tendermint::block::Header>(h).is_ok());
    }

    #[test]
    fn new_block_event_matches_the_capture() {
        let c = capture("subscribe_newblock_0");
        let block: tendermint::Block =
            serde_json::from_value(c["result"]["data"]["value"]["block"].clone()).unwrap();
        let block_id =
            serde_json::from_value(c["result"]["data"]["value"]["block_id"].clone()).unwrap();
        let rec = BlockRecord {
            commit: block.last_commit.clone().unwrap(),
            block,
            block_id,
            tx_results: vec![],
            finalize_block_events: vec![],
            app_hash: vec![6, 0, 0, 0, 0, 0, 0, 0],
        };
        let ours = event_message(
            "tm.event = 'NewBlock'",
            new_block_event_data(&rec),
            &new_block_event_map(&rec),
        );
        assert_eq!(ours, c["result"]);
    }

    fn app_event(key: &str) -> Event {
        Event::new(
            "app",
            [
                ("creator", "Cosmoshi Netowoko", true),
                ("key", key, true),
                ("index_key", "index is working", true),
                ("noindex_key", "index is working", false),
            ]
            .map(|(k, v, i)| {
                tendermint::abci::EventAttribute::V037(tendermint::abci::v0_37::EventAttribute {
                    key: k.into(),
                    value: v.into(),
                    index: i,
                })
            }),
        )
    }

    fn captured_tx() -> TxRecord {
        let tx = b"tx0=value".to_vec();
        let mut second = app_event("value");
        second.attributes[0] =
            tendermint::abci::EventAttribute::V037(tendermint::abci::v0_37::EventAttribute {
                key: "creator".into(),
                value: "Cosmoshi".into(),
                index: true,
            });
        TxRecord {
            hash: Sha256::digest(&tx).into(),
            height: 243,
            index: 0,
            tx,
            result: ExecTxResult {
                events: vec![app_event("tx0"), second],
                ..Default::default()
            },
        }
    }

    #[test]
    fn tx_event_matches_the_capture() {
        let c = capture("subscribe_txs_0");
        let rec = captured_tx();
        let ours = event_message("tm.event = 'Tx'", tx_event_data(&rec), &tx_event_map(&rec));
        assert_eq!(ours, c["result"]);
    }

    #[test]
    fn tx_search_entries_match_the_capture() {
        let c = capture("tx_search_with_prove");
        let first = &c["result"]["txs"][0];
        let tx = b"async-key=value".to_vec();
        let mut second = app_event("value");
        second.attributes[0] =
            tendermint::abci::EventAttribute::V037(tendermint::abci::v0_37::EventAttribute {
                key: "creator".into(),
                value: "Cosmoshi".into(),
                index: true,
            });
        let rec = TxRecord {
            hash: Sha256::digest(&tx).into(),
            height: 223,
            index: 0,
            tx: tx.clone(),
            result: ExecTxResult {
                events: vec![app_event("async-key"), second],
                ..Default::default()
            },
        };
        let ours = tx_result(&rec, tx_proof(&[tx], 0));
        assert_eq!(&ours, first);
        assert!(serde_json::from_value::<ep::tx::Response>(ours).is_ok());
    }

    #[test]
    fn merkle_proofs_verify() {
        let txs: Vec<Vec<u8>> = (0..7u8).map(|i| vec![i; 3]).collect();
        let leaves: Vec<[u8; 32]> = txs.iter().map(|t| Sha256::digest(t).into()).collect();
        let root = merkle_root(&leaves);
        // Same root as tendermint-rs computes for the block data hash.
        let tm_root = tendermint::merkle::simple_hash_from_byte_vectors::<
            tendermint::crypto::default::Sha256,
        >(&leaves.iter().map(|l| l.to_vec()).collect::<Vec<_>>());
        assert_eq!(root, tm_root);
        for i in 0..txs.len() {
            let p = tx_proof(&txs, i).unwrap();
            let parsed: tendermint::tx::Proof = serde_json::from_value(p).unwrap();
            assert_eq!(parsed.root_hash.as_bytes(), root);
            assert_eq!(
                parsed.proof.aunts.len() as u32,
                if i < 4 { 3 } else { 2 + (i < 6) as u32 }
            );
        }
        assert!(tx_proof(&txs, 7).is_none());
    }

    #[test]
    fn small_results_match_captures() {
        assert_covers("net_info", &net_info());
        let q = tendermint::abci::response::Query {
            log: "does not exist".into(),
            key: b"non_existent_key".to_vec().into(),
            height: 200u32.into(),
            ..Default::default()
        };
        let c = capture("abci_query_with_non_existent_key");
        assert_eq!(abci_query(&q), c["result"]);
        let r = tendermint::abci::response::CheckTx::default();
        let hash = [0x9Fu8; 32];
        assert_covers("broadcast_tx_sync", &broadcast_result(&r, &hash));
        let c = capture("consensus_params");
        let p: tendermint::consensus::Params =
            serde_json::from_value(c["result"]["consensus_params"].clone()).unwrap();
        assert_eq!(consensus_params(&p), c["result"]["consensus_params"]);
        let rec = record_from("block_at_height_10");
        let br = block_results(&rec);
        assert!(serde_json::from_value::<ep::block_results::Response>(br.clone()).is_ok());
        assert_covers("block_results_at_height_10", &br);
    }

    #[test]
    fn status_and_validators_read_back_with_tendermint_rs() {
        let c = capture("status");
        let val: tendermint::validator::Info =
            serde_json::from_value(c["result"]["validator_info"].clone()).unwrap();
        let identity = NodeIdentity {
            node_id: "cf4a66aa29e5123abfdfbdf485da6788bb8e46d1".into(),
            moniker: "dockernode".into(),
            rpc_address: "tcp://0.0.0.0:26657".into(),
        };
        let rec = record_from("block_at_height_10");
        let ours = status(&StatusInput {
            identity: &identity,
            chain_id: "dockerchain",
            app_version: 1,
            validator: &val,
            latest: Some(&rec),
            earliest: Some(&rec),
        });
        assert_covers("status", &ours);
        assert!(serde_json::from_value::<ep::status::Response>(ours).is_ok());
        let vr = validators_result(10, std::slice::from_ref(&val), 1);
        let back: ep::validators::Response = serde_json::from_value(vr.clone()).unwrap();
        assert_eq!(back.validators[0].power.value(), 10);
        assert_eq!(vr["count"], "1");
    }
}
