//! Nodes as operators run them: `indexer = "null"` (`tx_index: false`) and block pruning
//! (`retain_blocks`), answering with the texts of CometBFT v0.38's `rpc/core` (`tx.go`,
//! `blocks.go`, `env.go`'s `getHeight`), copied here as literal strings.

mod support;

use std::time::Duration;

use devnet::{Devnet, DevnetConfig};
use serde_json::{json, Value};
use support::rpc;

const WAIT: Duration = Duration::from_secs(30);

/// CometBFT's `RPCInternalError`: code -32603, message "Internal error", the Go error as data.
fn assert_internal_error(answer: &Value, data: &str) {
    assert_eq!(
        answer["error"],
        json!({"code": -32603, "message": "Internal error", "data": data}),
        "{answer}"
    );
}

/// `tx_index` as the gRPC `GetNodeInfo` reports it (what Hermes reads), through `abci_query`.
fn grpc_tx_index(devnet: &Devnet) -> String {
    use ibc_proto::cosmos::base::tendermint::v1beta1::GetNodeInfoResponse;
    use prost::Message;
    let answer = devnet.node().abci_query(
        "/cosmos.base.tendermint.v1beta1.Service/GetNodeInfo",
        &[],
        0,
        false,
    );
    assert_eq!(answer.code.value(), 0, "{}", answer.log);
    let info = GetNodeInfoResponse::decode(answer.value.as_ref()).expect("GetNodeInfoResponse");
    info.default_node_info
        .and_then(|n| n.other)
        .map(|o| o.tx_index)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_indexer_answers_as_cometbft() {
    let mut config = DevnetConfig::for_tests("noindex-1");
    config.block_time = Duration::from_millis(50);
    config.tx_index = false;
    let devnet = Devnet::start(config).await.expect("starts");
    devnet.wait_for_height(2, WAIT).await.unwrap();
    let url = devnet.rpc_url();

    let hash = "A".repeat(64);
    let tx = rpc(&url, "tx", json!({"hash": hash})).await;
    assert_internal_error(&tx, "transaction indexing is disabled");
    let search = rpc(&url, "tx_search", json!({"query": "tx.height > 0"})).await;
    assert_internal_error(&search, "transaction indexing is disabled");
    let blocks = rpc(&url, "block_search", json!({"query": "block.height > 0"})).await;
    assert_internal_error(&blocks, "block indexing is disabled");
    let status = rpc(&url, "status", json!({})).await;
    assert_eq!(status["result"]["node_info"]["other"]["tx_index"], "off");
    assert_eq!(
        grpc_tx_index(&devnet),
        "off",
        "GetNodeInfo agrees with status"
    );
    // Blocks are still served.
    assert!(rpc(&url, "block", json!({"height": "1"})).await["result"]["block"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_node_indexes() {
    let mut config = DevnetConfig::for_tests("index-1");
    config.block_time = Duration::from_millis(50);
    let devnet = Devnet::start(config).await.expect("starts");
    devnet.wait_for_height(2, WAIT).await.unwrap();
    let url = devnet.rpc_url();
    let blocks = rpc(&url, "block_search", json!({"query": "block.height > 0"})).await;
    assert!(blocks["error"].is_null(), "{blocks}");
    let status = rpc(&url, "status", json!({})).await;
    assert_eq!(status["result"]["node_info"]["other"]["tx_index"], "on");
    assert_eq!(grpc_tx_index(&devnet), "on");
    assert_eq!(status["result"]["sync_info"]["earliest_block_height"], "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruned_heights_answer_as_cometbft() {
    const RETAIN: u64 = 3;
    let mut config = DevnetConfig::for_tests("retain-1");
    config.block_time = Duration::from_millis(50);
    config.retain_blocks = RETAIN;
    let devnet = Devnet::start(config).await.expect("starts");
    devnet.wait_for_height(6, WAIT).await.unwrap();
    devnet.pause();
    // Let a block being made land before reading the height.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let node = devnet.node();
    let latest = node.latest_height();
    let lowest = latest - RETAIN + 1;
    assert_eq!(node.earliest_height(), lowest);
    let url = devnet.rpc_url();

    let pruned = lowest - 1;
    let text = format!("height {pruned} is not available, lowest height is {lowest}");
    for method in [
        "block",
        "block_results",
        "commit",
        "header",
        "validators",
        "consensus_params",
    ] {
        let answer = rpc(&url, method, json!({"height": pruned.to_string()})).await;
        assert_internal_error(&answer, &text);
        let ok = rpc(&url, method, json!({"height": lowest.to_string()})).await;
        assert!(ok["error"].is_null(), "{method} at {lowest}: {ok}");
    }
    let status = rpc(&url, "status", json!({})).await;
    let sync = &status["result"]["sync_info"];
    assert_eq!(sync["earliest_block_height"], lowest.to_string());
    assert_eq!(sync["latest_block_height"], latest.to_string());
    let earliest_hash = rpc(&url, "block", json!({"height": lowest.to_string()})).await["result"]
        ["block_id"]["hash"]
        .clone();
    assert_eq!(sync["earliest_block_hash"], earliest_hash);

    // A pruned block's hash is unknown to the block store.
    let old_hash = hex::encode_upper(node.block(1).unwrap().block_id.hash.as_bytes());
    let by_hash = rpc(&url, "block_by_hash", json!({"hash": old_hash})).await;
    assert!(by_hash["result"]["block"].is_null(), "{by_hash}");
    // `blockchain` starts at the store's base.
    let chain = rpc(
        &url,
        "blockchain",
        json!({"minHeight": "1", "maxHeight": "0"}),
    )
    .await;
    let metas = chain["result"]["block_metas"].as_array().unwrap();
    assert_eq!(metas.len() as u64, RETAIN, "{chain}");

    // The retained window moves up as the chain grows.
    devnet.resume();
    devnet.wait_for_height(latest + 2, WAIT).await.unwrap();
    let now = node.latest_height();
    assert_eq!(node.earliest_height(), now - RETAIN + 1);
    let answer = rpc(&url, "block", json!({"height": lowest.to_string()})).await;
    assert!(
        answer["error"]["data"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&format!(
                "height {lowest} is not available, lowest height is "
            )),
        "{answer}"
    );
}
