//! Failover between a chain's RPC endpoints: the ordered list (`rpc_addr`, then
//! `backup_rpc_addrs`), each endpoint's health, and which one is *active*, the one every request
//! and the event websocket use. The rest of the relayer sees one [`super::RpcClient`].
//!
//! # When the active endpoint changes
//!
//! - **On a failed request**: a transport error, a TLS failure, a timeout, or an HTTP 429 / 5xx
//!   without a JSON-RPC answer marks the endpoint down; if it was active, the first usable
//!   endpoint in preference order becomes active. A read is then retried once on each other
//!   endpoint before its error is returned, and the first that answers becomes active if the
//!   active one is down (so with every endpoint down nothing flaps, and the first to come back
//!   takes the traffic); a broadcast is not retried (its caller decides), it only goes to the
//!   new active endpoint next time. A JSON-RPC error is an answer and changes nothing.
//! - **On a probe round** ([`super::RpcClient::watch_endpoints`], every `probe_interval`): every
//!   endpoint's `/status` is asked. An endpoint is *usable* when it answered, serves the
//!   configured chain, is not catching up, and is at most `max_lag` blocks behind the highest
//!   endpoint. An unusable active endpoint is left for the first usable one; a more preferred
//!   endpoint that has answered [`RETURN_STREAK`] probes in a row and is usable takes over again
//!   (so one lucky answer from a flapping node does not move the traffic back).
//!
//! Each endpoint has its own HTTP connection pool and its own semaphore of
//! `max_concurrent_requests` permits, so a slow backup never holds permits of the preferred one.
//! The active index is a `watch` channel: the event hub reconnects its websocket when it moves.

use std::sync::Mutex;

use reqwest::Url;
use tokio::sync::{watch, Semaphore};

use super::RpcError;
use crate::telemetry::metrics::metrics;

/// Consecutive successful probes a more preferred endpoint needs before traffic returns to it.
pub(crate) const RETURN_STREAK: u32 = 2;

/// One endpoint: addresses, its own pool and semaphore, its health.
pub(super) struct Endpoint {
    /// JSON-RPC URL.
    pub(super) rpc: Url,
    /// Websocket URL of the same node.
    pub(super) websocket: Url,
    /// The RPC URL without credentials, for logs, errors and metric labels.
    pub(super) label: String,
    pub(super) http: reqwest::Client,
    /// Permits of this endpoint (`max_concurrent_requests`).
    pub(super) permits: Semaphore,
    health: Mutex<Health>,
}

impl Endpoint {
    pub(super) fn new(rpc: Url, websocket: Url, http: reqwest::Client, permits: usize) -> Self {
        Self {
            label: redact(&rpc),
            rpc,
            websocket,
            http,
            permits: Semaphore::new(permits),
            health: Mutex::new(Health::default()),
        }
    }
}

/// What is known of an endpoint's health.
#[derive(Clone, Debug, Default)]
struct Health {
    /// Its last request or probe failed.
    down: bool,
    /// Successful probes in a row.
    ok_streak: u32,
    /// Latest height from its last answered probe.
    height: Option<u64>,
    /// It said it is catching up.
    catching_up: bool,
    /// The chain it serves, when not the configured one.
    wrong_chain: Option<String>,
    /// Why it last failed.
    last_error: Option<String>,
}

/// One endpoint as `/state` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EndpointStatus {
    /// RPC URL (without credentials).
    pub(crate) rpc: String,
    /// Websocket URL (without credentials).
    pub(crate) websocket: String,
    /// Requests go here now.
    pub(crate) active: bool,
    /// Whether it would be used (answers, right chain, not behind).
    pub(crate) usable: bool,
    /// Latest height it reported.
    pub(crate) height: Option<u64>,
    /// Why it last failed or why it is not used.
    pub(crate) problem: Option<String>,
}

/// What an endpoint's `/status` said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NodeStatus {
    /// The chain it serves (`network`).
    pub(crate) network: String,
    /// Its latest height.
    pub(crate) height: u64,
    /// It is catching up (not at the head of the chain).
    pub(crate) catching_up: bool,
}

/// The result of probing one endpoint's `/status`.
pub(crate) struct Probe {
    /// Its RPC URL (without credentials).
    pub(crate) endpoint: String,
    /// What it said, or why it did not answer.
    pub(crate) answer: Result<NodeStatus, RpcError>,
}

/// The endpoints of one chain and the active one.
pub(super) struct Endpoints {
    pub(super) list: Vec<Endpoint>,
    active: watch::Sender<usize>,
    /// Chain id for labels and logs (empty when the client was made without a config).
    pub(super) chain: String,
    /// The chain every endpoint must serve, when known.
    expected_chain: Option<String>,
    max_lag: u64,
}

impl Endpoints {
    pub(super) fn new(
        list: Vec<Endpoint>,
        chain: String,
        expected_chain: Option<String>,
        max_lag: u64,
    ) -> Self {
        let e = Self {
            list,
            active: watch::channel(0).0,
            chain,
            expected_chain,
            max_lag,
        };
        e.publish_active(0);
        e
    }

    pub(super) fn active(&self) -> usize {
        *self.active.borrow()
    }

    pub(super) fn watch_active(&self) -> watch::Receiver<usize> {
        self.active.subscribe()
    }

    fn health(&self, i: usize) -> Health {
        lock(&self.list[i].health).clone()
    }

    /// The highest height among endpoints that answer for the right chain.
    fn best_height(&self, all: &[Health]) -> Option<u64> {
        all.iter()
            .filter(|h| !h.down && h.wrong_chain.is_none())
            .filter_map(|h| h.height)
            .max()
    }

    /// Why endpoint `i` is not used, or `None` when it is usable.
    fn unusable_reason(&self, all: &[Health], i: usize) -> Option<&'static str> {
        let h = &all[i];
        if h.wrong_chain.is_some() {
            return Some("wrong_chain");
        }
        if h.down {
            return Some("error");
        }
        if h.catching_up {
            return Some("catching_up");
        }
        match (self.best_height(all), h.height) {
            (Some(best), Some(own)) if own.saturating_add(self.max_lag) < best => Some("lagging"),
            _ => None,
        }
    }

    fn all_health(&self) -> Vec<Health> {
        (0..self.list.len()).map(|i| self.health(i)).collect()
    }

    /// The first usable endpoint in preference order.
    fn first_usable(&self, all: &[Health]) -> Option<usize> {
        (0..self.list.len()).find(|&i| self.unusable_reason(all, i).is_none())
    }

    /// A request to endpoint `i` answered (possibly with a JSON-RPC error). When the active
    /// endpoint is down and `i` is another one, `i` becomes active.
    pub(super) fn succeeded(&self, i: usize) {
        {
            let mut h = lock(&self.list[i].health);
            if h.down {
                tracing::info!(chain = %self.chain, endpoint = %self.list[i].label, "RPC endpoint answers again");
            }
            h.down = false;
        }
        let active = self.active();
        if active != i && lock(&self.list[active].health).down {
            self.switch(active, i, "error");
        }
    }

    /// A request to endpoint `i` failed with `error`, an endpoint failure: marks it down and,
    /// when it was active, moves to the first usable endpoint (none known usable: it stays, and
    /// requests still try the others in turn).
    pub(super) fn failed(&self, i: usize, error: &RpcError) {
        {
            let mut h = lock(&self.list[i].health);
            h.down = true;
            h.ok_streak = 0;
            h.last_error = Some(error.to_string());
        }
        if self.list.len() < 2 || self.active() != i {
            return;
        }
        let all = self.all_health();
        if let Some(j) = self.first_usable(&all).filter(|&j| j != i) {
            self.switch(i, j, "error");
        }
    }

    /// The endpoint to try after `tried` (those already tried for this request) failed: the
    /// active one if untried, else the next untried one serving the right chain.
    pub(super) fn next_untried(&self, tried: &[bool]) -> Option<usize> {
        let active = self.active();
        if !tried[active] {
            return Some(active);
        }
        let all = self.all_health();
        (0..self.list.len()).find(|&j| !tried[j] && all[j].wrong_chain.is_none())
    }

    /// Records a probe round and moves the active endpoint if another should serve.
    pub(super) fn record_probes(&self, probes: &[Probe]) {
        for (ep, p) in self.list.iter().zip(probes) {
            let mut h = lock(&ep.health);
            match &p.answer {
                Ok(NodeStatus {
                    network,
                    height,
                    catching_up,
                }) => {
                    let wrong = self.expected_chain.as_ref().is_some_and(|c| c != network);
                    if wrong && h.wrong_chain.is_none() {
                        tracing::error!(chain = %self.chain, endpoint = %ep.label, serves = %network, "RPC endpoint serves another chain; not using it");
                    }
                    h.wrong_chain = wrong.then(|| network.clone());
                    h.down = false;
                    h.ok_streak = h.ok_streak.saturating_add(1);
                    h.height = Some(*height);
                    h.catching_up = *catching_up;
                    metrics()
                        .rpc_endpoint_height
                        .set(&[self.chain.as_str(), ep.label.as_str()], *height as f64);
                }
                Err(e) => {
                    h.down = true;
                    h.ok_streak = 0;
                    h.last_error = Some(e.to_string());
                }
            }
        }
        if self.list.len() < 2 {
            return;
        }
        let all = self.all_health();
        let current = self.active();
        let Some(desired) = self.first_usable(&all) else {
            return;
        };
        if desired == current {
            return;
        }
        match self.unusable_reason(&all, current) {
            Some(reason) => self.switch(current, desired, reason),
            None if desired < current && all[desired].ok_streak >= RETURN_STREAK => {
                self.switch(current, desired, "recovered")
            }
            None => {}
        }
    }

    fn switch(&self, from: usize, to: usize, reason: &'static str) {
        let moved = self.active.send_if_modified(|a| {
            if *a == from {
                *a = to;
                true
            } else {
                false
            }
        });
        if !moved {
            return;
        }
        let (f, t) = (&self.list[from].label, &self.list[to].label);
        if reason == "recovered" {
            tracing::info!(chain = %self.chain, from = %f, to = %t, "RPC endpoint preferred again; switching back");
        } else {
            tracing::warn!(chain = %self.chain, from = %f, to = %t, %reason, "RPC endpoint unusable; switching");
        }
        metrics()
            .rpc_endpoint_switches
            .inc(&[self.chain.as_str(), f.as_str(), t.as_str(), reason]);
        self.publish_active(to);
    }

    fn publish_active(&self, active: usize) {
        for (i, ep) in self.list.iter().enumerate() {
            metrics().rpc_endpoint_active.set(
                &[self.chain.as_str(), ep.label.as_str()],
                if i == active { 1.0 } else { 0.0 },
            );
        }
    }

    /// Every endpoint as `/state` shows it.
    pub(super) fn statuses(&self) -> Vec<EndpointStatus> {
        let all = self.all_health();
        let active = self.active();
        self.list
            .iter()
            .enumerate()
            .map(|(i, ep)| {
                let reason = self.unusable_reason(&all, i);
                let h = &all[i];
                let problem = match reason {
                    None => None,
                    Some("error") => h.last_error.clone(),
                    Some("wrong_chain") => {
                        h.wrong_chain.as_ref().map(|c| format!("serves chain {c}"))
                    }
                    Some(r) => Some(r.replace('_', " ")),
                };
                EndpointStatus {
                    rpc: ep.label.clone(),
                    websocket: redact(&ep.websocket),
                    active: i == active,
                    usable: reason.is_none(),
                    height: h.height,
                    problem,
                }
            })
            .collect()
    }
}

/// `url` without its user name and password (an endpoint's credentials never reach a log).
pub(crate) fn redact(url: &Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
