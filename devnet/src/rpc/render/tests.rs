//! Renderings compared with real CometBFT v0.38 captures, field by field.

use super::*;
use crate::rpc::fixtures::capture;
use crate::rpc::shape::missing_paths;
use tendermint_rpc::endpoint as ep;

/// A `BlockRecord` made from a captured block (no txs).
fn record_from(capture_name: &str) -> BlockRecord {
    let c = capture(capture_name);
    let block: tendermint::Block = serde_json::from_value(c["result"]["block"].clone())
        .unwrap_or_else(|e| panic!("{capture_name}: block: {e}"));
    let block_id: tendermint::block::Id = serde_json::from_value(c["result"]["block_id"].clone())
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
