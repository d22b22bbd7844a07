//! `RpcClient`: typed CometBFT JSON-RPC over HTTP(S) to one chain, through an ordered list of
//! endpoints with failover, each endpoint gated by its own semaphore.
//!
//! Every request takes a permit from its endpoint's `tokio::sync::Semaphore` (sized by
//! `max_concurrent_requests`) before it is sent, so channels sharing a node back-pressure each
//! other instead of tripping its rate limit. The permit is held for the whole exchange. Waiting for
//! a permit is back-pressure and is not timed; the HTTP exchange itself (connect, send, read the
//! body) is bounded by `rpc_timeout`.
//!
//! Results are decoded with `tendermint-rpc` 0.40's response types inside the JSON-RPC 2.0
//! envelope, in the CometBFT v0.37/v0.38 shapes (blocks use the v0.38 dialect). Request params
//! follow CometBFT's JSON rules: 64-bit integers as strings, `abci_query.data` as hex, tx bytes and
//! tx hashes as base64. Errors ([`RpcError`]) name the endpoint and the method, and tell transport
//! failures, TLS failures, timeouts, JSON-RPC errors and undecodable responses apart.
//!
//! This module holds the client itself (endpoints, timeout, one exchange); `endpoints` is the
//! failover (health, the active endpoint, probing), `tls` the trust roots shared by HTTP and the
//! websocket, `methods` has one typed function per CometBFT method, `envelope` decodes the
//! JSON-RPC 2.0 envelope and `error` is [`RpcError`].

mod endpoints;
mod envelope;
mod error;
mod methods;
#[cfg(test)]
mod tests;
pub(crate) mod tls;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Url;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::{ChainConfig, EndpointAddrs};
use endpoints::{Endpoint, Endpoints};

pub(crate) use endpoints::{redact, EndpointStatus, NodeStatus, Probe};
pub(crate) use envelope::decode_response;
pub(crate) use error::{number_after, RpcError};
pub(crate) use methods::Order;

struct Inner {
    endpoints: Endpoints,
    /// The TLS configuration every endpoint's HTTP client and websocket use.
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
    next_id: AtomicU64,
}

/// A CometBFT JSON-RPC client for one chain. Cheap to clone; clones share the endpoints, their
/// semaphores and which one is active.
#[derive(Clone)]
pub struct RpcClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = &self.inner.endpoints;
        f.debug_struct("RpcClient")
            .field(
                "endpoints",
                &e.list.iter().map(|x| x.label.as_str()).collect::<Vec<_>>(),
            )
            .field("active", &e.active())
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}

/// Whether a failed request is retried on the chain's other endpoints.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Failover {
    /// Reads: retried on each other endpoint once.
    Retry,
    /// Broadcasts: sent to the active endpoint only.
    Once,
}

impl RpcClient {
    /// A client for the single endpoint `endpoint` (websocket derived from it, system trust
    /// roots) with a semaphore of `max_concurrent_requests` permits.
    pub fn new(
        endpoint: Url,
        max_concurrent_requests: usize,
        timeout: Duration,
    ) -> Result<Self, RpcError> {
        let websocket = crate::config::derive_websocket_addr(&endpoint).map_err(|reason| {
            RpcError::InvalidEndpoint {
                endpoint: endpoints::redact(&endpoint),
                reason,
            }
        })?;
        Self::build(
            &[EndpointAddrs {
                rpc: endpoint,
                websocket,
            }],
            max_concurrent_requests,
            timeout,
            &[],
            String::new(),
            None,
            u64::MAX,
        )
    }

    /// A client for a configured chain: `rpc_addr` then `backup_rpc_addrs`, each with its own
    /// semaphore, trusting the system's roots and the chain's `ca_file`; every endpoint must
    /// serve the chain's id.
    pub fn from_config(chain: &ChainConfig) -> Result<Self, RpcError> {
        let extra = chain
            .endpoints
            .ca_file
            .as_ref()
            .map(|c| c.certs())
            .unwrap_or_default();
        Self::build(
            &chain.all_endpoints(),
            chain.max_concurrent_requests,
            chain.rpc_timeout,
            extra,
            chain.id.clone(),
            Some(chain.id.clone()),
            chain.endpoints.max_lag,
        )
    }

    fn build(
        addrs: &[EndpointAddrs],
        max_concurrent_requests: usize,
        timeout: Duration,
        extra_roots: &[rustls::pki_types::CertificateDer<'static>],
        chain: String,
        expected_chain: Option<String>,
        max_lag: u64,
    ) -> Result<Self, RpcError> {
        let first = addrs.first().map(|a| endpoints::redact(&a.rpc));
        let invalid =
            |endpoint: String, reason: String| RpcError::InvalidEndpoint { endpoint, reason };
        let Some(first) = first else {
            return Err(invalid(String::new(), "no endpoint given".into()));
        };
        if max_concurrent_requests == 0 {
            return Err(invalid(
                first,
                "max_concurrent_requests must be at least 1".into(),
            ));
        }
        let tls =
            tls::client_config(extra_roots).map_err(|reason| invalid(first.clone(), reason))?;
        let mut list = Vec::with_capacity(addrs.len());
        for a in addrs {
            let label = endpoints::redact(&a.rpc);
            if !matches!(a.rpc.scheme(), "http" | "https") {
                return Err(invalid(
                    label,
                    format!("scheme {:?} is not http or https", a.rpc.scheme()),
                ));
            }
            let http = reqwest::Client::builder()
                .use_preconfigured_tls((*tls).clone())
                .connect_timeout(timeout)
                .timeout(timeout)
                .build()
                .map_err(|e| invalid(label.clone(), format!("cannot build HTTP client: {e}")))?;
            list.push(Endpoint::new(
                a.rpc.clone(),
                a.websocket.clone(),
                http,
                max_concurrent_requests,
            ));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                endpoints: Endpoints::new(list, chain, expected_chain, max_lag),
                tls,
                timeout,
                next_id: AtomicU64::new(1),
            }),
        })
    }

    /// The active endpoint's RPC URL (without credentials), for messages.
    pub(crate) fn endpoint(&self) -> String {
        let e = &self.inner.endpoints;
        e.list[e.active()].label.clone()
    }

    /// The active endpoint's websocket URL, and its index (see [`RpcClient::watch_active`]).
    pub(crate) fn active_websocket(&self) -> (usize, Url) {
        let e = &self.inner.endpoints;
        let i = e.active();
        (i, e.list[i].websocket.clone())
    }

    /// Changes whenever another endpoint becomes active.
    pub(crate) fn watch_active(&self) -> watch::Receiver<usize> {
        self.inner.endpoints.watch_active()
    }

    /// The TLS configuration of this chain's connections (for the websocket).
    pub(crate) fn tls_config(&self) -> Arc<rustls::ClientConfig> {
        self.inner.tls.clone()
    }

    /// Every endpoint: active, usable, height, last problem.
    pub(crate) fn endpoint_statuses(&self) -> Vec<EndpointStatus> {
        self.inner.endpoints.statuses()
    }

    /// Asks every endpoint's `/status` at once, records the answers and moves the active
    /// endpoint if another should serve (see `endpoints`). Returns what each said.
    pub(crate) async fn probe_endpoints(&self) -> Vec<Probe> {
        let e = &self.inner.endpoints;
        let probes = futures::future::join_all((0..e.list.len()).map(|i| async move {
            let answer = self
                .call_on::<tendermint_rpc::endpoint::status::Response>(i, "status", json!({}))
                .await
                .map(|s| NodeStatus {
                    network: s.node_info.network.to_string(),
                    height: s.sync_info.latest_block_height.value(),
                    catching_up: s.sync_info.catching_up,
                });
            Probe {
                endpoint: e.list[i].label.clone(),
                answer,
            }
        }))
        .await;
        e.record_probes(&probes);
        probes
    }

    /// Probes the endpoints every `interval` until `shutdown` (health, heights, returning to
    /// the preferred endpoint). Does nothing for a single endpoint, whose failures need no
    /// decision.
    pub(crate) async fn watch_endpoints(self, interval: Duration, shutdown: CancellationToken) {
        if self.inner.endpoints.list.len() < 2 {
            return;
        }
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.probe_endpoints() => {}
            }
        }
    }

    #[cfg(test)]
    /// The active endpoint's semaphore (to observe it).
    pub(crate) fn semaphore(&self) -> &tokio::sync::Semaphore {
        let e = &self.inner.endpoints;
        &e.list[e.active()].permits
    }

    /// Sends one JSON-RPC request to the active endpoint and decodes its result as `R`; on an
    /// endpoint failure it is retried on the chain's other endpoints (see `endpoints`).
    pub(crate) async fn call<R: DeserializeOwned>(
        &self,
        method: &'static str,
        params: Value,
    ) -> Result<R, RpcError> {
        self.call_with(method, params, Failover::Retry).await
    }

    /// [`RpcClient::call`] without retrying elsewhere (for broadcasts).
    pub(crate) async fn call_once<R: DeserializeOwned>(
        &self,
        method: &'static str,
        params: Value,
    ) -> Result<R, RpcError> {
        self.call_with(method, params, Failover::Once).await
    }

    async fn call_with<R: DeserializeOwned>(
        &self,
        method: &'static str,
        params: Value,
        failover: Failover,
    ) -> Result<R, RpcError> {
        let e = &self.inner.endpoints;
        let mut tried = vec![false; e.list.len()];
        let mut i = e.active();
        loop {
            tried[i] = true;
            match self.call_on(i, method, params.clone()).await {
                Err(err) if err.is_endpoint_failure() => {
                    e.failed(i, &err);
                    let next = match failover {
                        Failover::Retry => e.next_untried(&tried),
                        Failover::Once => None,
                    };
                    match next {
                        Some(j) => {
                            tracing::debug!(chain = %e.chain, method, error = %err, to = %e.list[j].label, "retrying on another RPC endpoint");
                            i = j;
                        }
                        None => return Err(err),
                    }
                }
                other => {
                    if !matches!(other, Err(RpcError::Closed { .. })) {
                        e.succeeded(i);
                    }
                    return other;
                }
            }
        }
    }

    /// One request to endpoint `i`: its permit, its metrics, one exchange.
    async fn call_on<R: DeserializeOwned>(
        &self,
        i: usize,
        method: &'static str,
        params: Value,
    ) -> Result<R, RpcError> {
        let ep = &self.inner.endpoints.list[i];
        let endpoint = ep.label.as_str();
        let metrics = crate::telemetry::metrics::metrics();
        let waiting = Instant::now();
        // Held for the whole exchange: at most `max_concurrent_requests` per endpoint.
        let permit = ep.permits.acquire().await;
        metrics
            .rpc_semaphore_wait
            .observe_duration(&[endpoint], waiting.elapsed());
        metrics.rpc_requests.inc(&[endpoint, method]);
        let result = match permit {
            Ok(_permit) => self.exchange(ep, method, params).await,
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

    /// One JSON-RPC exchange with `ep`, the permit already held.
    async fn exchange<R: DeserializeOwned>(
        &self,
        ep: &Endpoint,
        method: &'static str,
        params: Value,
    ) -> Result<R, RpcError> {
        let inner = &*self.inner;
        let endpoint = ep.label.as_str();
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
            } else if tls::is_tls_failure(&source) {
                RpcError::Tls {
                    endpoint: endpoint.to_string(),
                    method,
                    reason: tls::error_chain(&source.without_url()),
                }
            } else {
                RpcError::Transport {
                    endpoint: endpoint.to_string(),
                    method,
                    detail: tls::error_chain(&source.without_url()),
                }
            }
        };
        let exchange = async {
            let response = ep
                .http
                .post(ep.rpc.clone())
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
