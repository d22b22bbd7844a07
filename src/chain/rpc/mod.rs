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
//!
//! This module holds the client itself (endpoint, semaphore, timeout, one exchange); `methods`
//! has one typed function per CometBFT method, `envelope` decodes the JSON-RPC 2.0 envelope and
//! `error` is [`RpcError`].

mod envelope;
mod error;
mod methods;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Url;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::config::ChainConfig;

pub(crate) use envelope::decode_response;
pub(crate) use error::RpcError;
pub(crate) use methods::Order;

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
    pub(crate) fn with_semaphore(
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
    pub(crate) fn endpoint(&self) -> &Url {
        &self.inner.endpoint
    }

    #[cfg(test)]
    /// The endpoint's semaphore (to share it, or to observe it).
    pub(crate) fn semaphore(&self) -> &Arc<Semaphore> {
        &self.inner.permits
    }

    /// Sends one JSON-RPC request and decodes its result as `R`.
    pub(crate) async fn call<R: DeserializeOwned>(
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
}
