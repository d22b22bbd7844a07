//! Unit tests of the client: decoding CometBFT v0.38 captures and JSON-RPC errors, and, against
//! a local one-route HTTP server, paging, the semaphore's bound and typed timeouts.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use reqwest::Url;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tendermint::block::Height;
use tendermint_rpc::endpoint::{
    abci_info, abci_query, block, block_results, block_search, broadcast, commit, status, tx,
    tx_search,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{decode_response, RpcClient, RpcError};
use crate::chain::fixtures::cometbft_0_38 as capture;

const EP: &str = "http://127.0.0.1:26657/";

fn decode<R: DeserializeOwned>(name: &str, method: &'static str) -> R {
    let body = capture(name);
    match decode_response::<R>(EP, method, &body) {
        Ok(r) => r,
        Err(e) => panic!("{name}: {e}"),
    }
}

#[test]
fn decodes_status_and_abci() {
    let s = decode::<status::Response>("status.json", "status");
    assert_eq!(s.node_info.network.as_str(), "dockerchain");
    assert_eq!(s.sync_info.latest_block_height.value(), 232);
    let info = decode::<abci_info::Response>("abci_info.json", "abci_info");
    assert_eq!(info.response.last_block_height.value(), 198);
    let q = decode::<abci_query::Response>("abci_query_with_existing_key.json", "abci_query");
    assert_eq!(q.response.value, b"value");
    assert_eq!(q.response.height.value(), 254);
    let q = decode::<abci_query::Response>("abci_query_with_non_existent_key.json", "abci_query");
    assert!(q.response.value.is_empty());
}

#[test]
fn decodes_blocks_and_commits() {
    for name in [
        "block_at_height_1.json",
        "block_at_height_10.json",
        "block_by_hash.json",
    ] {
        let b = decode::<block::v0_38::DialectResponse>(name, "block");
        let b: block::Response = b.into();
        assert!(b.block.header.height.value() >= 1, "{name}");
    }
    let c = decode::<commit::Response>("commit_at_height_10.json", "commit");
    assert_eq!(c.signed_header.header.height.value(), 10);
    assert!(c.canonical);
    let r = decode::<block_results::Response>("block_results_at_height_10.json", "block_results");
    assert_eq!(r.height.value(), 10);
    for name in ["block_search.json", "block_search_evidence.json"] {
        let s = decode::<block_search::v0_38::DialectResponse>(name, "block_search");
        let s: block_search::Response = s.into();
        assert!(!s.blocks.is_empty(), "{name}");
    }
}

#[test]
fn decodes_txs() {
    for name in ["tx_search_no_prove.json", "tx_search_with_prove.json"] {
        let s = decode::<tx_search::Response>(name, "tx_search");
        assert_eq!(s.total_count as usize, s.txs.len(), "{name}");
        assert!(!s.txs.is_empty());
        // Each entry is also what `/tx` returns.
        let body = capture(name);
        let v: Value = serde_json::from_slice(&body).unwrap();
        let first = json!({ "jsonrpc": "2.0", "id": 1, "result": v["result"]["txs"][0] });
        decode_response::<tx::Response>(EP, "tx", first.to_string().as_bytes()).unwrap();
    }
    for name in ["broadcast_tx_sync.json", "broadcast_tx_async.json"] {
        let b = decode::<broadcast::tx_sync::Response>(name, "broadcast_tx_sync");
        assert!(b.code.is_ok(), "{name}");
    }
}

#[test]
fn json_rpc_errors_are_typed() {
    for name in ["block_at_height_0.json", "subscribe_malformed.json"] {
        let body = capture(name);
        let err = decode_response::<block::v0_38::DialectResponse>(EP, "block", &body).unwrap_err();
        match &err {
            RpcError::JsonRpc {
                code,
                message,
                data,
                ..
            } => {
                assert_eq!(*code, -32603);
                assert_eq!(message, "Internal error");
                assert!(data.is_some());
            }
            other => panic!("{name}: expected JsonRpc, got {other:?}"),
        }
        let shown = err.to_string();
        assert!(
            shown.starts_with("block on http://127.0.0.1:26657/"),
            "{shown}"
        );
    }
}

#[test]
fn decode_errors_name_the_method() {
    let err = decode_response::<status::Response>(EP, "status", b"{\"result\": {}}").unwrap_err();
    assert!(matches!(
        err,
        RpcError::Decode {
            method: "status",
            ..
        }
    ));
    assert!(err
        .to_string()
        .contains("status on http://127.0.0.1:26657/"));
    let err = decode_response::<status::Response>(EP, "status", b"<html>").unwrap_err();
    assert!(matches!(err, RpcError::Decode { .. }));
    let err = decode_response::<status::Response>(EP, "status", b"{}").unwrap_err();
    assert!(err.to_string().contains("neither"), "{err}");
}

/// A one-route HTTP server: answers every POST with `respond(request_json)` after `delay`,
/// counting the requests in flight at once.
async fn serve(
    delay: Duration,
    respond: impl Fn(&Value) -> Value + Send + Sync + 'static,
) -> (Url, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let current = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let respond = Arc::new(respond);
    let peak2 = peak.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (respond, peak, current) = (respond.clone(), peak2.clone(), current.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let body = loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(i) = text.find("\r\n\r\n") {
                        let len = text[..i]
                            .lines()
                            .find_map(|l| {
                                let l = l.to_ascii_lowercase();
                                l.strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        if buf.len() >= i + 4 + len {
                            break buf[i + 4..i + 4 + len].to_vec();
                        }
                    }
                };
                let now = current.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                current.fetch_sub(1, Ordering::SeqCst);
                let req: Value = serde_json::from_slice(&body).unwrap();
                let out = json!({ "jsonrpc": "2.0", "id": req["id"], "result": respond(&req) })
                    .to_string();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{out}",
                    out.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    (url, peak)
}

fn validator(i: usize) -> Value {
    let mut key = [0u8; 32];
    key[0] = i as u8;
    let pk = tendermint::PublicKey::from_raw_ed25519(&key).unwrap();
    let addr = tendermint::account::Id::from(pk);
    json!({
        "address": addr.to_string(),
        "pub_key": { "type": "tendermint/PubKeyEd25519", "value": base64::engine::general_purpose::STANDARD.encode(key) },
        "voting_power": "10",
        "proposer_priority": "0",
    })
}

#[tokio::test]
async fn validators_fetches_every_page() {
    let (url, _) = serve(Duration::ZERO, |req| {
        assert_eq!(req["method"], "validators");
        assert_eq!(req["params"]["height"], "7");
        let page: usize = req["params"]["page"].as_str().unwrap().parse().unwrap();
        let per: usize = req["params"]["per_page"].as_str().unwrap().parse().unwrap();
        let total = 150;
        let vals: Vec<Value> = ((page - 1) * per..(page * per).min(total)).map(validator).collect();
        json!({ "block_height": "7", "validators": vals, "count": vals.len().to_string(), "total": total.to_string() })
    })
    .await;
    let client = RpcClient::new(url, 4, Duration::from_secs(5)).unwrap();
    let r = client.validators(Height::from(7u32)).await.unwrap();
    assert_eq!(r.validators.len(), 150);
    assert_eq!(r.total, 150);
}

#[tokio::test]
async fn semaphore_bounds_concurrency() {
    let (url, peak) = serve(Duration::from_millis(50), |_| {
        json!({ "response": { "data": "x", "last_block_height": "5", "last_block_app_hash": "AAAA" } })
    })
    .await;
    let client = RpcClient::new(url, 3, Duration::from_secs(5)).unwrap();
    let calls = (0..12).map(|_| {
        let c = client.clone();
        tokio::spawn(async move { c.abci_info().await })
    });
    for h in futures::future::join_all(calls).await {
        assert_eq!(h.unwrap().unwrap().last_block_height.value(), 5);
    }
    let peak = peak.load(Ordering::SeqCst);
    assert!((1..=3).contains(&peak), "peak concurrency {peak}");
    assert_eq!(client.semaphore().available_permits(), 3);
}

#[tokio::test]
async fn timeouts_and_transport_errors_are_typed() {
    let (url, _) = serve(Duration::from_secs(5), |_| json!({})).await;
    let client = RpcClient::new(url, 1, Duration::from_millis(100)).unwrap();
    let err = client.status().await.unwrap_err();
    assert!(
        matches!(
            err,
            RpcError::Timeout {
                method: "status",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());

    // Nothing listens on port 9 of loopback (discard); connecting fails fast.
    let client = RpcClient::new(
        Url::parse("http://127.0.0.1:9/").unwrap(),
        1,
        Duration::from_secs(2),
    )
    .unwrap();
    let err = client.abci_info().await.unwrap_err();
    assert!(
        matches!(
            err,
            RpcError::Transport {
                method: "abci_info",
                ..
            } | RpcError::Timeout { .. }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("abci_info on http://127.0.0.1:9/"),
        "{err}"
    );
}

/// A `/status` result of the capture, for chain `network` at `height`.
fn status_result(network: &str, height: u64) -> Value {
    let body: Value = serde_json::from_slice(&capture("status.json")).unwrap();
    let mut r = body["result"].clone();
    r["node_info"]["network"] = json!(network);
    r["sync_info"]["latest_block_height"] = json!(height.to_string());
    r["sync_info"]["catching_up"] = json!(false);
    r
}

/// A node that can be switched off (it then drops every connection unanswered), answering
/// `/status` for `network` at the height in `height`.
struct FakeNode {
    url: Url,
    up: Arc<std::sync::atomic::AtomicBool>,
    height: Arc<std::sync::atomic::AtomicU64>,
    served: Arc<std::sync::atomic::AtomicUsize>,
}

async fn fake_node(network: &'static str, height: u64) -> FakeNode {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let h = Arc::new(std::sync::atomic::AtomicU64::new(height));
    let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (up2, h2, served2) = (up.clone(), h.clone(), served.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            if !up2.load(Ordering::SeqCst) {
                drop(sock);
                continue;
            }
            let (h, served) = (h2.clone(), served2.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let body = loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(i) = text.find("\r\n\r\n") {
                        let len = text[..i]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        if buf.len() >= i + 4 + len {
                            break buf[i + 4..i + 4 + len].to_vec();
                        }
                    }
                };
                served.fetch_add(1, Ordering::SeqCst);
                let req: Value = serde_json::from_slice(&body).unwrap();
                let result = status_result(network, h.load(Ordering::SeqCst));
                let out =
                    json!({ "jsonrpc": "2.0", "id": req["id"], "result": result }).to_string();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{out}",
                    out.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    FakeNode {
        url,
        up,
        height: h,
        served,
    }
}

fn pair_client(nodes: &[&FakeNode], max_lag: u64) -> RpcClient {
    let addrs: Vec<crate::config::EndpointAddrs> = nodes
        .iter()
        .map(|n| crate::config::EndpointAddrs {
            rpc: n.url.clone(),
            websocket: crate::config::derive_websocket_addr(&n.url).unwrap(),
        })
        .collect();
    RpcClient::build(
        &addrs,
        4,
        Duration::from_secs(2),
        &[],
        "dockerchain".into(),
        Some("dockerchain".into()),
        max_lag,
    )
    .unwrap()
}

fn active(client: &RpcClient) -> usize {
    client.active_websocket().0
}

#[tokio::test]
async fn a_failed_endpoint_fails_over_and_traffic_returns_after_healthy_probes() {
    let preferred = fake_node("dockerchain", 100).await;
    let backup = fake_node("dockerchain", 100).await;
    let client = pair_client(&[&preferred, &backup], 5);
    let mut switches = client.watch_active();
    assert_eq!(active(&client), 0);

    preferred.up.store(false, Ordering::SeqCst);
    // The read is retried on the backup, which becomes active.
    let s = client.status().await.expect("answered by the backup");
    assert_eq!(s.sync_info.latest_block_height.value(), 100);
    assert_eq!(active(&client), 1);
    assert!(switches.has_changed().unwrap());
    switches.mark_unchanged();
    let before = preferred.served.load(Ordering::SeqCst);
    client.status().await.unwrap();
    assert_eq!(preferred.served.load(Ordering::SeqCst), before);
    let statuses = client.endpoint_statuses();
    assert!(
        !statuses[0].usable && statuses[0].problem.is_some(),
        "{statuses:?}"
    );
    assert!(statuses[1].active && statuses[1].usable, "{statuses:?}");

    // Back: one good probe is not enough, RETURN_STREAK are.
    preferred.up.store(true, Ordering::SeqCst);
    client.probe_endpoints().await;
    assert_eq!(active(&client), 1);
    for _ in 1..super::endpoints::RETURN_STREAK {
        client.probe_endpoints().await;
    }
    assert_eq!(active(&client), 0);
    assert!(switches.has_changed().unwrap());

    // A broadcast is not retried elsewhere: its error comes back, the next request goes to
    // the backup.
    preferred.up.store(false, Ordering::SeqCst);
    let err = client.broadcast_tx_sync(b"tx").await.unwrap_err();
    assert!(err.is_endpoint_failure(), "{err}");
    assert_eq!(active(&client), 1);
}

#[tokio::test]
async fn an_endpoint_behind_by_more_than_max_lag_is_left_and_one_for_another_chain_never_used() {
    let preferred = fake_node("dockerchain", 100).await;
    let backup = fake_node("dockerchain", 120).await;
    let client = pair_client(&[&preferred, &backup], 5);
    client.probe_endpoints().await;
    assert_eq!(active(&client), 1, "{:?}", client.endpoint_statuses());
    assert_eq!(
        client.endpoint_statuses()[0].problem.as_deref(),
        Some("lagging")
    );
    // Within max_lag again: returns after RETURN_STREAK probes in a row.
    preferred.height.store(118, Ordering::SeqCst);
    client.probe_endpoints().await;
    assert_eq!(active(&client), 0);

    let other = fake_node("other-chain", 500).await;
    let client = pair_client(&[&preferred, &other], 5);
    let probes = client.probe_endpoints().await;
    assert_eq!(probes[1].answer.as_ref().unwrap().network, "other-chain");
    // Its height does not make the right chain's node look behind.
    assert_eq!(active(&client), 0);
    preferred.up.store(false, Ordering::SeqCst);
    let err = client.status().await.unwrap_err();
    assert!(err.is_endpoint_failure(), "{err}");
    assert_eq!(active(&client), 0, "never moves to a node of another chain");
    assert_eq!(other.served.load(Ordering::SeqCst), 1, "only probed");
}
