//! `RpcClient`: typed CometBFT JSON-RPC over HTTP, gated by a per-endpoint semaphore.
//!
//! Every request takes a permit from the endpoint's `tokio::sync::Semaphore` (sized by
//! `max_concurrent_requests`) before it is sent, so channels sharing a node back-pressure each
//! other instead of tripping its rate limit. The permit is held for the whole exchange. Waiting for
//! a permit is back-pressure and is not timed; the HTTP exchange itself (connect, send, read the
//! body) is bounded by `rpc_timeout`.
//!
//! Results are decoded with `tendermint-rpc` 0.40's response types inside the JSON-RPC 2.0
//! envelope, in the CometBFT v0.37/v0.38 shapes (blocks use the v0.38 dialect). Request params
//! follow CometBFT's JSON rules: 64-bit integers as strings, `abci_query.data` as hex, tx bytes and
//! tx hashes as base64. Errors ([`RpcError`]) name the endpoint and the method, and tell transport
//! failures, timeouts, JSON-RPC errors and undecodable responses apart.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::Url;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use tendermint::block::Height;
use tendermint::Hash;
use tendermint_rpc::endpoint::{
    abci_info, abci_query, block, block_results, block_search, broadcast, commit, status, tx,
    tx_search, validators,
};
use tokio::sync::Semaphore;

use crate::config::ChainConfig;

/// `per_page` used when fetching every page (CometBFT's maximum).
pub const MAX_PER_PAGE: u8 = 100;

/// Result order of `tx_search` / `block_search`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Oldest first.
    Ascending,
    /// Newest first.
    Descending,
}

impl Order {
    fn as_str(self) -> &'static str {
        match self {
            Order::Ascending => "asc",
            Order::Descending => "desc",
        }
    }
}

/// What went wrong with an RPC call. Every variant names the endpoint and the method.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// Connection or protocol failure below JSON-RPC.
    #[error("{method} on {endpoint}: transport error: {source}")]
    Transport {
        /// The endpoint URL.
        endpoint: String,
        /// The JSON-RPC method.
        method: &'static str,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// A non-success HTTP status without a JSON-RPC body.
    #[error("{method} on {endpoint}: HTTP {status}: {body}")]
    Http {
        /// The endpoint URL.
        endpoint: String,
        /// The JSON-RPC method.
        method: &'static str,
        /// The HTTP status code.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// No complete answer within `rpc_timeout`.
    #[error("{method} on {endpoint}: no answer within {timeout:?}")]
    Timeout {
        /// The endpoint URL.
        endpoint: String,
        /// The JSON-RPC method.
        method: &'static str,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// The node answered with a JSON-RPC error object.
    #[error("{method} on {endpoint}: JSON-RPC error {code}: {message}{}", data.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    JsonRpc {
        /// The endpoint URL.
        endpoint: String,
        /// The JSON-RPC method.
        method: &'static str,
        /// JSON-RPC error code (-32603 internal error, -32602 invalid params, …).
        code: i64,
        /// JSON-RPC error message.
        message: String,
        /// CometBFT's detail string (the handler's error), if any.
        data: Option<String>,
    },
    /// The answer could not be decoded into the expected type.
    #[error("{method} on {endpoint}: cannot decode response: {reason}")]
    Decode {
        /// The endpoint URL.
        endpoint: String,
        /// The JSON-RPC method.
        method: &'static str,
        /// The decoder's message.
        reason: String,
    },
    /// The client's semaphore was closed (the client is shutting down).
    #[error("{method} on {endpoint}: client is shut down")]
    Closed {
        /// The endpoint URL.
        endpoint: String,
        /// The JSON-RPC method.
        method: &'static str,
    },
    /// The endpoint itself is unusable.
    #[error("invalid RPC endpoint {endpoint}: {reason}")]
    InvalidEndpoint {
        /// The endpoint URL.
        endpoint: String,
        /// Why.
        reason: String,
    },
}

impl RpcError {
    /// Whether retrying the same request later may succeed (transport trouble, timeouts, 5xx,
    /// 429, internal errors), as opposed to a request the node will always refuse.
    pub fn is_transient(&self) -> bool {
        match self {
            RpcError::Transport { .. } | RpcError::Timeout { .. } => true,
            RpcError::Http { status, .. } => *status == 429 || *status >= 500,
            RpcError::JsonRpc { code, .. } => *code == -32603,
            RpcError::Decode { .. }
            | RpcError::Closed { .. }
            | RpcError::InvalidEndpoint { .. } => false,
        }
    }

    /// A short name of the variant, the `kind` label of `arke_rpc_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            RpcError::Transport { .. } => "transport",
            RpcError::Http { .. } => "http",
            RpcError::Timeout { .. } => "timeout",
            RpcError::JsonRpc { .. } => "jsonrpc",
            RpcError::Decode { .. } => "decode",
            RpcError::Closed { .. } => "closed",
            RpcError::InvalidEndpoint { .. } => "invalid_endpoint",
        }
    }

    /// The JSON-RPC method of the failed call, if any.
    pub fn method(&self) -> Option<&'static str> {
        match self {
            RpcError::Transport { method, .. }
            | RpcError::Http { method, .. }
            | RpcError::Timeout { method, .. }
            | RpcError::JsonRpc { method, .. }
            | RpcError::Decode { method, .. }
            | RpcError::Closed { method, .. } => Some(method),
            RpcError::InvalidEndpoint { .. } => None,
        }
    }
}

/// The JSON-RPC 2.0 response envelope.
#[derive(Deserialize)]
struct Envelope<R> {
    result: Option<R>,
    error: Option<ErrorObject>,
}

#[derive(Deserialize)]
struct ErrorObject {
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    data: Option<Value>,
}

/// Decodes a JSON-RPC response body into `R`.
pub(crate) fn decode_response<R: DeserializeOwned>(
    endpoint: &str,
    method: &'static str,
    body: &[u8],
) -> Result<R, RpcError> {
    let decode = |reason: String| RpcError::Decode {
        endpoint: endpoint.to_string(),
        method,
        reason,
    };
    let envelope: Envelope<R> = serde_json::from_slice(body).map_err(|e| decode(e.to_string()))?;
    if let Some(err) = envelope.error {
        return Err(RpcError::JsonRpc {
            endpoint: endpoint.to_string(),
            method,
            code: err.code,
            message: err.message,
            data: err.data.and_then(|d| match d {
                Value::Null => None,
                Value::String(s) if s.is_empty() => None,
                Value::String(s) => Some(s),
                other => Some(other.to_string()),
            }),
        });
    }
    envelope
        .result
        .ok_or_else(|| decode("envelope has neither `result` nor `error`".into()))
}

struct Inner {
    endpoint: Url,
    endpoint_str: String,
    http: reqwest::Client,
    permits: Arc<Semaphore>,
    timeout: Duration,
    next_id: AtomicU64,
}

/// A CometBFT JSON-RPC client for one endpoint. Cheap to clone; clones share the semaphore.
#[derive(Clone)]
pub struct RpcClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcClient")
            .field("endpoint", &self.inner.endpoint_str)
            .field("timeout", &self.inner.timeout)
            .field("available_permits", &self.inner.permits.available_permits())
            .finish()
    }
}

impl RpcClient {
    /// A client for `endpoint` with its own semaphore of `max_concurrent_requests` permits.
    pub fn new(
        endpoint: Url,
        max_concurrent_requests: usize,
        timeout: Duration,
    ) -> Result<Self, RpcError> {
        if max_concurrent_requests == 0 {
            return Err(RpcError::InvalidEndpoint {
                endpoint: endpoint.to_string(),
                reason: "max_concurrent_requests must be at least 1".into(),
            });
        }
        Self::with_semaphore(
            endpoint,
            Arc::new(Semaphore::new(max_concurrent_requests)),
            timeout,
        )
    }

    /// A client for `endpoint` that shares `permits` with other clients of the same endpoint.
    pub fn with_semaphore(
        endpoint: Url,
        permits: Arc<Semaphore>,
        timeout: Duration,
    ) -> Result<Self, RpcError> {
        let endpoint_str = endpoint.to_string();
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(RpcError::InvalidEndpoint {
                endpoint: endpoint_str,
                reason: format!("scheme {:?} is not http or https", endpoint.scheme()),
            });
        }
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()
            .map_err(|e| RpcError::InvalidEndpoint {
                endpoint: endpoint_str.clone(),
                reason: format!("cannot build HTTP client: {e}"),
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                endpoint,
                endpoint_str,
                http,
                permits,
                timeout,
                next_id: AtomicU64::new(1),
            }),
        })
    }

    /// A client for a configured chain's `rpc_addr`.
    pub fn from_config(chain: &ChainConfig) -> Result<Self, RpcError> {
        Self::new(
            chain.rpc_addr.clone(),
            chain.max_concurrent_requests,
            chain.rpc_timeout,
        )
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> &Url {
        &self.inner.endpoint
    }

    /// The endpoint's semaphore (to share it, or to observe it).
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.inner.permits
    }

    /// Sends one JSON-RPC request and decodes its result as `R`.
    pub async fn call<R: DeserializeOwned>(
        &self,
        method: &'static str,
        params: Value,
    ) -> Result<R, RpcError> {
        let inner = &*self.inner;
        let endpoint = inner.endpoint_str.as_str();
        let metrics = crate::telemetry::metrics::metrics();
        let waiting = Instant::now();
        let permit = inner.permits.acquire().await;
        metrics
            .rpc_semaphore_wait
            .observe_duration(&[endpoint], waiting.elapsed());
        metrics.rpc_requests.inc(&[endpoint, method]);
        let result = match permit {
            Ok(_permit) => self.exchange(method, params).await,
            Err(_) => Err(RpcError::Closed {
                endpoint: endpoint.to_string(),
                method,
            }),
        };
        if let Err(e) = &result {
            metrics.rpc_errors.inc(&[endpoint, method, e.kind()]);
        }
        result
    }

    /// One JSON-RPC exchange, the permit already held.
    async fn exchange<R: DeserializeOwned>(
        &self,
        method: &'static str,
        params: Value,
    ) -> Result<R, RpcError> {
        let inner = &*self.inner;
        let endpoint = inner.endpoint_str.as_str();
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        let request = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let started = Instant::now();
        let transport = |source: reqwest::Error| {
            if source.is_timeout() {
                RpcError::Timeout {
                    endpoint: endpoint.to_string(),
                    method,
                    timeout: inner.timeout,
                }
            } else {
                RpcError::Transport {
                    endpoint: endpoint.to_string(),
                    method,
                    source,
                }
            }
        };
        let exchange = async {
            let response = inner
                .http
                .post(inner.endpoint.clone())
                .json(&request)
                .send()
                .await
                .map_err(transport)?;
            let status = response.status();
            let body = response.bytes().await.map_err(transport)?;
            Ok::<_, RpcError>((status, body))
        };
        let (status, body) = tokio::time::timeout(inner.timeout, exchange)
            .await
            .map_err(|_| RpcError::Timeout {
                endpoint: endpoint.to_string(),
                method,
                timeout: inner.timeout,
            })??;
        crate::telemetry::metrics::metrics()
            .rpc_latency
            .observe_duration(&[endpoint, method], started.elapsed());
        tracing::trace!(
            endpoint,
            method,
            id,
            status = status.as_u16(),
            bytes = body.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "rpc"
        );
        match decode_response(endpoint, method, &body) {
            // A JSON-RPC error is meaningful whatever the HTTP status (CometBFT uses 500 for some).
            Err(RpcError::Decode { .. }) if !status.is_success() => Err(RpcError::Http {
                endpoint: endpoint.to_string(),
                method,
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            }),
            other => other,
        }
    }

    /// `/status`: node info, latest height and time, catching-up flag.
    pub async fn status(&self) -> Result<status::Response, RpcError> {
        self.call("status", json!({})).await
    }

    /// `/abci_info`: the application's last block height and app hash.
    pub async fn abci_info(&self) -> Result<tendermint::abci::response::Info, RpcError> {
        let r: abci_info::Response = self.call("abci_info", json!({})).await?;
        Ok(r.response)
    }

    /// `/abci_query` on `path` with `data`, at `height` (latest when `None`), with a Merkle
    /// proof when `prove`. A non-zero `code` in the answer is returned as-is for the caller.
    pub async fn abci_query(
        &self,
        path: &str,
        data: &[u8],
        height: Option<Height>,
        prove: bool,
    ) -> Result<abci_query::AbciQuery, RpcError> {
        let mut params = json!({ "path": path, "data": hex::encode_upper(data), "prove": prove });
        if let Some(h) = height {
            params["height"] = json!(h.to_string());
        }
        let r: abci_query::Response = self.call("abci_query", params).await?;
        Ok(r.response)
    }

    /// `/block` at `height` (latest when `None`).
    pub async fn block(&self, height: Option<Height>) -> Result<block::Response, RpcError> {
        let r: block::v0_38::DialectResponse = self.call("block", height_params(height)).await?;
        Ok(r.into())
    }

    /// `/block_results` at `height` (latest when `None`).
    pub async fn block_results(
        &self,
        height: Option<Height>,
    ) -> Result<block_results::Response, RpcError> {
        self.call("block_results", height_params(height)).await
    }

    /// `/commit` at `height` (latest when `None`; then `canonical` is false).
    pub async fn commit(&self, height: Option<Height>) -> Result<commit::Response, RpcError> {
        self.call("commit", height_params(height)).await
    }

    /// `/validators` at `height`, every page, in the node's order.
    pub async fn validators(&self, height: Height) -> Result<validators::Response, RpcError> {
        let mut all = Vec::new();
        let mut page: u32 = 1;
        loop {
            let params = json!({
                "height": height.to_string(),
                "page": page.to_string(),
                "per_page": MAX_PER_PAGE.to_string(),
            });
            let r: validators::Response = self.call("validators", params).await?;
            let got = r.validators.len();
            all.extend(r.validators);
            let total = usize::try_from(r.total).unwrap_or(0);
            if got == 0 || all.len() >= total {
                if all.len() < total {
                    return Err(self.decode_error(
                        "validators",
                        format!(
                            "node reported {total} validators but returned {}",
                            all.len()
                        ),
                    ));
                }
                return Ok(validators::Response::new(r.block_height, all, r.total));
            }
            page += 1;
        }
    }

    /// `/tx` by hash.
    pub async fn tx(&self, hash: Hash, prove: bool) -> Result<tx::Response, RpcError> {
        let params = json!({
            "hash": base64::engine::general_purpose::STANDARD.encode(hash.as_bytes()),
            "prove": prove,
        });
        self.call("tx", params).await
    }

    /// One page of `/tx_search` (`page` from 1, `per_page` up to 100).
    pub async fn tx_search(
        &self,
        query: &str,
        prove: bool,
        page: u32,
        per_page: u8,
        order: Order,
    ) -> Result<tx_search::Response, RpcError> {
        let params = json!({
            "query": query,
            "prove": prove,
            "page": page.to_string(),
            "per_page": per_page.to_string(),
            "order_by": order.as_str(),
        });
        self.call("tx_search", params).await
    }

    /// Every `/tx_search` result, page by page, up to `limit` txs.
    pub async fn tx_search_all(
        &self,
        query: &str,
        order: Order,
        limit: usize,
    ) -> Result<Vec<tx::Response>, RpcError> {
        let mut all = Vec::new();
        let mut page = 1;
        while all.len() < limit {
            let r = self
                .tx_search(query, false, page, MAX_PER_PAGE, order)
                .await?;
            let got = r.txs.len();
            all.extend(r.txs);
            if got == 0 || all.len() >= r.total_count as usize {
                break;
            }
            page += 1;
        }
        all.truncate(limit);
        Ok(all)
    }

    /// One page of `/block_search` (`page` from 1, `per_page` up to 100).
    pub async fn block_search(
        &self,
        query: &str,
        page: u32,
        per_page: u8,
        order: Order,
    ) -> Result<block_search::Response, RpcError> {
        let params = json!({
            "query": query,
            "page": page.to_string(),
            "per_page": per_page.to_string(),
            "order_by": order.as_str(),
        });
        let r: block_search::v0_38::DialectResponse = self.call("block_search", params).await?;
        Ok(r.into())
    }

    /// `/broadcast_tx_sync`: submits signed `TxRaw` bytes and returns the CheckTx result.
    pub async fn broadcast_tx_sync(
        &self,
        tx_bytes: &[u8],
    ) -> Result<broadcast::tx_sync::Response, RpcError> {
        let params = json!({ "tx": base64::engine::general_purpose::STANDARD.encode(tx_bytes) });
        self.call("broadcast_tx_sync", params).await
    }

    fn decode_error(&self, method: &'static str, reason: String) -> RpcError {
        RpcError::Decode {
            endpoint: self.inner.endpoint_str.clone(),
            method,
            reason,
        }
    }
}

fn height_params(height: Option<Height>) -> Value {
    match height {
        Some(h) => json!({ "height": h.to_string() }),
        None => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::fixtures::cometbft_0_38 as capture;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
        let q =
            decode::<abci_query::Response>("abci_query_with_non_existent_key.json", "abci_query");
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
        let r =
            decode::<block_results::Response>("block_results_at_height_10.json", "block_results");
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
            let err =
                decode_response::<block::v0_38::DialectResponse>(EP, "block", &body).unwrap_err();
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
        let err =
            decode_response::<status::Response>(EP, "status", b"{\"result\": {}}").unwrap_err();
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
}
