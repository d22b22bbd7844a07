//! What one running daemon looks like from outside: its chains, its channel workers (running or
//! waiting to restart, restarts, last error) and their backlogs. The supervisor keeps it up to
//! date; the HTTP server reads it for `/health`, `/state` and `/clear`, and the sampler for the
//! periodic gauges (wallet balance, client expiry, chain height).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use super::metrics::metrics;
use crate::relay::worker::{ChannelSpec, Side};
use crate::relay::ChainHandle;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How long `/health` waits for each chain's `/status`.
pub const HEALTH_RPC_TIMEOUT: Duration = Duration::from_secs(3);

/// A chain of the pair and the address that signs on it.
#[derive(Clone)]
pub struct ChainEntry {
    /// The chain.
    pub handle: Arc<ChainHandle>,
    /// The relayer's account on it.
    pub address: String,
}

/// Whether a worker runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerState {
    /// Its tasks run.
    Running,
    /// It failed and waits for its restart.
    Restarting,
}

impl WorkerState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Restarting => "restarting",
        }
    }
}

/// One channel worker.
#[derive(Clone)]
pub struct WorkerEntry {
    /// The channel.
    pub spec: Arc<ChannelSpec>,
    /// Running or restarting.
    pub state: WorkerState,
    /// Restarts so far.
    pub restarts: u64,
    /// The last failure, kept after the restart.
    pub last_error: Option<String>,
    /// When the state last changed.
    pub since: Instant,
}

/// The shared state of one daemon.
#[derive(Default)]
pub struct DaemonState {
    chains: Mutex<Vec<ChainEntry>>,
    workers: Mutex<BTreeMap<String, WorkerEntry>>,
}

impl std::fmt::Debug for DaemonState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaemonState")
            .field("workers", &lock(&self.workers).keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// `[chain, counterparty, port, channel]` of a channel end as packet metric labels (packets
/// sent from `side`).
pub fn packet_labels(spec: &ChannelSpec, side: Side) -> [String; 4] {
    let from = spec.end(side);
    let to = spec.end(side.other());
    [
        from.chain.config.id.clone(),
        to.chain.config.id.clone(),
        from.port.clone(),
        from.channel.clone(),
    ]
}

impl DaemonState {
    /// An empty state.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Adds a chain.
    pub fn add_chain(&self, handle: Arc<ChainHandle>, address: String) {
        lock(&self.chains).push(ChainEntry { handle, address });
    }

    /// The chains.
    pub fn chains(&self) -> Vec<ChainEntry> {
        lock(&self.chains).clone()
    }

    /// The worker of `spec` runs (again).
    pub fn worker_running(&self, spec: &Arc<ChannelSpec>) {
        let labels = packet_labels(spec, Side::A);
        metrics()
            .worker_up
            .set(&labels.each_ref().map(String::as_str), 1.0);
        let mut workers = lock(&self.workers);
        let entry = workers.entry(spec.name()).or_insert_with(|| WorkerEntry {
            spec: spec.clone(),
            state: WorkerState::Running,
            restarts: 0,
            last_error: None,
            since: Instant::now(),
        });
        entry.state = WorkerState::Running;
        entry.since = Instant::now();
    }

    /// The worker of `spec` failed (or stopped on its own) and will restart.
    pub fn worker_failed(&self, spec: &Arc<ChannelSpec>, error: String) {
        let labels = packet_labels(spec, Side::A);
        let labels = labels.each_ref().map(String::as_str);
        metrics().worker_up.set(&labels, 0.0);
        metrics().worker_restarts.inc(&labels);
        let mut workers = lock(&self.workers);
        if let Some(entry) = workers.get_mut(&spec.name()) {
            entry.state = WorkerState::Restarting;
            entry.restarts += 1;
            entry.last_error = Some(error);
            entry.since = Instant::now();
        }
    }

    /// The worker of `spec` stopped for good (shutdown, or the filter dropped its channel).
    pub fn worker_stopped(&self, spec: &ChannelSpec) {
        let labels = packet_labels(spec, Side::A);
        metrics()
            .worker_up
            .remove(&labels.each_ref().map(String::as_str));
        lock(&self.workers).remove(&spec.name());
    }

    /// The workers, by channel name (`port/channel` on chain A).
    pub fn workers(&self) -> BTreeMap<String, WorkerEntry> {
        lock(&self.workers).clone()
    }

    /// The workers whose channel (on either end) is `channel`, and port `port` if given.
    pub fn find_workers(&self, channel: &str, port: Option<&str>) -> Vec<Arc<ChannelSpec>> {
        lock(&self.workers)
            .values()
            .filter(|w| {
                [&w.spec.a, &w.spec.b]
                    .iter()
                    .any(|end| end.channel == channel && port.is_none_or(|p| end.port == p))
            })
            .map(|w| w.spec.clone())
            .collect()
    }

    /// Whether the daemon is healthy: every chain answers `/status` (within
    /// [`HEALTH_RPC_TIMEOUT`]) and every worker runs. The JSON body says why not.
    pub async fn health(&self) -> (bool, Value) {
        let chains = self.chains();
        let checks = futures::future::join_all(chains.iter().map(|c| async move {
            let rpc = c.handle.query.rpc();
            match tokio::time::timeout(HEALTH_RPC_TIMEOUT, rpc.status()).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {HEALTH_RPC_TIMEOUT:?}")),
            }
        }))
        .await;
        let mut reasons = Vec::new();
        let mut chain_json = serde_json::Map::new();
        for (c, check) in chains.iter().zip(checks) {
            let id = c.handle.config.id.clone();
            metrics()
                .chain_up
                .set(&[id.as_str()], if check.is_ok() { 1.0 } else { 0.0 });
            match check {
                Ok(()) => {
                    chain_json.insert(id, json!("ok"));
                }
                Err(e) => {
                    reasons.push(format!("chain {id}: {e}"));
                    chain_json.insert(id, json!(e));
                }
            }
        }
        let mut worker_json = serde_json::Map::new();
        for (name, w) in self.workers() {
            if w.state != WorkerState::Running {
                reasons.push(format!(
                    "worker {name} is {}: {}",
                    w.state.as_str(),
                    w.last_error.as_deref().unwrap_or("unknown error")
                ));
            }
            worker_json.insert(name, json!(w.state.as_str()));
        }
        let ok = reasons.is_empty();
        let body = json!({
            "status": if ok { "ok" } else { "unavailable" },
            "reasons": reasons,
            "chains": chain_json,
            "workers": worker_json,
        });
        (ok, body)
    }

    /// `/state`: chains, workers, channels, backlogs and last errors.
    pub fn snapshot(&self) -> Value {
        let chains: Vec<Value> = self
            .chains()
            .iter()
            .map(|c| {
                let h = &c.handle;
                json!({
                    "id": h.config.id,
                    "rpc_addr": h.config.rpc_addr.as_str(),
                    "address": c.address,
                    "latest_height": *h.hub.latest_height().borrow(),
                    "websocket_reconnects": h.hub.reconnects(),
                })
            })
            .collect();
        let workers: Vec<Value> = self
            .workers()
            .into_iter()
            .map(|(name, w)| {
                let s = &w.spec;
                let mut backlog = Vec::new();
                for side in [Side::A, Side::B] {
                    let end = s.end(side);
                    let dst = s.end(side.other());
                    for (kind, b) in
                        metrics().backlogs_of(&end.chain.config.id, &end.port, &end.channel)
                    {
                        backlog.push(json!({
                            "from": end.chain.config.id,
                            "to": dst.chain.config.id,
                            "kind": kind,
                            "pending": b.pending,
                            "oldest_sequence": b.oldest_sequence,
                            "oldest_age_seconds": b
                                .oldest_since
                                .filter(|_| b.pending > 0)
                                .map_or(0.0, |t| t.elapsed().as_secs_f64()),
                        }));
                    }
                }
                json!({
                    "channel": name,
                    "state": w.state.as_str(),
                    "since_seconds": w.since.elapsed().as_secs_f64(),
                    "restarts": w.restarts,
                    "last_error": w.last_error,
                    "ordered": s.ordered,
                    "a": { "chain": s.a.chain.config.id, "port": s.a.port, "channel": s.a.channel, "client": s.a.client_id },
                    "b": { "chain": s.b.chain.config.id, "port": s.b.port, "channel": s.b.channel, "client": s.b.client_id },
                    "backlog": backlog,
                })
            })
            .collect();
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        json!({ "time": now, "chains": chains, "workers": workers })
    }
}
