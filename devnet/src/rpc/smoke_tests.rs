//! End-to-end smoke tests: a devnet with this RPC in front, driven by tendermint-rs's own
//! HTTP and websocket clients (every typed call must decode) and by raw requests.

use std::time::Duration;

use futures::StreamExt;
use tendermint_rpc::{Client, HttpClient, SubscriptionClient, WebSocketClient};

use crate::launch::{Devnet, DevnetConfig};

async fn start() -> Devnet {
    let devnet = Devnet::start(DevnetConfig::for_tests("smoke-1"))
        .await
        .expect("devnet starts");
    let client = HttpClient::new(devnet.rpc_url().as_str()).expect("client");
    for _ in 0..100 {
        if client
            .status()
            .await
            .is_ok_and(|s| s.sync_info.latest_block_height.value() >= 3)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    devnet
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tendermint_rs_http_client_decodes_every_method() {
    let devnet = start().await;
    let c = HttpClient::new(devnet.rpc_url().as_str()).expect("client");
    let status = c.status().await.expect("status");
    assert_eq!(status.node_info.network.as_str(), "smoke-1");
    let h = status.sync_info.latest_block_height;
    c.health().await.expect("health");
    c.abci_info().await.expect("abci_info");
    c.net_info().await.expect("net_info");
    let block = c.block(h).await.expect("block");
    c.block_by_hash(block.block_id.hash)
        .await
        .expect("block_by_hash");
    c.latest_block().await.expect("latest_block");
    c.block_results(h).await.expect("block_results");
    c.commit(h).await.expect("commit");
    c.header(h).await.expect("header");
    c.header_by_hash(block.block_id.hash)
        .await
        .expect("header_by_hash");
    c.blockchain(tendermint::block::Height::from(1u32), h)
        .await
        .expect("blockchain");
    c.genesis::<serde_json::Value>().await.expect("genesis");
    c.consensus_params(h).await.expect("consensus_params");
    let next = tendermint::block::Height::try_from(h.value() + 1).expect("height");
    let vals = c
        .validators(next, tendermint_rpc::Paging::Default)
        .await
        .expect("validators at latest+1");
    assert_eq!(vals.validators.len(), 1);
    c.abci_query(
        Some("store/ibc/key".into()),
        b"nothing".to_vec(),
        None,
        true,
    )
    .await
    .expect("abci_query");
    let found = c
        .block_search(
            tendermint_rpc::query::Query::gte("block.height", 1_i64),
            1,
            10,
            tendermint_rpc::Order::Ascending,
        )
        .await
        .expect("block_search");
    assert!(found.total_count >= 3);
    let txs = c
        .tx_search(
            tendermint_rpc::query::Query::eq("tx.height", 1_i64),
            false,
            1,
            10,
            tendermint_rpc::Order::Ascending,
        )
        .await
        .expect("tx_search");
    assert_eq!(txs.total_count, 0);
    let err = c.block(tendermint::block::Height::from(999_999u32)).await;
    assert!(err.is_err());
    let bad = c
        .broadcast_tx_sync(b"not a tx".to_vec())
        .await
        .expect("sync");
    assert!(bad.code.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_subscription_gets_new_blocks_and_drops_on_fault() {
    let devnet = start().await;
    let (client, driver) = WebSocketClient::new(devnet.websocket_url().as_str())
        .await
        .expect("ws");
    let driver = tokio::spawn(driver.run());
    let mut sub = client
        .subscribe(tendermint_rpc::query::EventType::NewBlock.into())
        .await
        .expect("subscribe");
    let ev = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("an event in time")
        .expect("stream open")
        .expect("event decodes");
    assert!(matches!(
        ev.data,
        tendermint_rpc::event::EventData::NewBlock { .. }
    ));
    devnet.node().faults().drop_websockets();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(item) = sub.next().await {
            if item.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "subscription must end after a websocket drop"
    );
    client.close().ok();
    driver.abort();
}

/// One raw HTTP/1.1 exchange: (status code, body).
async fn raw(base: &str, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.expect("read");
    let text = String::from_utf8_lossy(&out).into_owned();
    let code = text[9..12].parse().unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (
        code,
        serde_json::from_str(body).unwrap_or(serde_json::Value::String(body.into())),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uri_post_batch_and_fault_shapes() {
    let devnet = start().await;
    let url = devnet.rpc_url();
    let (code, v) = raw(&url, "GET", "/block?height=1", "").await;
    assert_eq!(code, 200);
    assert_eq!(v["id"], -1);
    assert_eq!(v["result"]["block"]["header"]["height"], "1");
    let (code, v) = raw(&url, "GET", "/block?height=999999", "").await;
    assert_eq!(code, 500);
    assert_eq!(v["error"]["code"], -32603);
    let (_, v) = raw(
        &url,
        "GET",
        "/abci_query?path=%22store/ibc/key%22&data=0x01&prove=true",
        "",
    )
    .await;
    assert!(v["result"]["response"].get("proofOps").is_some(), "{v}");
    let (code, _) = raw(&url, "GET", "/", "").await;
    assert_eq!(code, 200);
    let (code, v) = raw(&url, "GET", "/subscribe?query=%22tm.event='Tx'%22", "").await;
    assert_eq!((code, v["error"]["code"].clone()), (404, (-32601).into()));
    let batch = r#"[{"jsonrpc":"2.0","id":1,"method":"health"},{"jsonrpc":"2.0","id":"b","method":"block","params":{"height":"1"}},{"jsonrpc":"2.0","id":3,"method":"nope"},{"jsonrpc":"2.0","id":4,"method":"validators","params":["1","1",5]}]"#;
    let (code, v) = raw(&url, "POST", "/", batch).await;
    assert_eq!(code, 200);
    assert_eq!(v[0]["result"], serde_json::json!({}));
    assert_eq!(v[1]["id"], "b");
    assert_eq!(v[2]["error"]["message"], "Method not found");
    assert_eq!(v[3]["result"]["count"], "1");
    let (_, v) = raw(
        &url,
        "POST",
        "/",
        r#"{"jsonrpc":"2.0","id":5,"method":"block","params":{"height":"abc"}}"#,
    )
    .await;
    assert_eq!(v["error"]["code"], -32602);
    devnet.node().faults().fail_rpc_for(Duration::from_secs(5));
    let (code, v) = raw(
        &url,
        "POST",
        "/",
        r#"{"jsonrpc":"2.0","id":6,"method":"status"}"#,
    )
    .await;
    assert_eq!((code, v["id"].clone()), (503, 6.into()));
    devnet.node().faults().heal_rpc();
    let (code, _) = raw(&url, "GET", "/status", "").await;
    assert_eq!(code, 200);
}
