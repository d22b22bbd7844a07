//! What one running daemon looks like from outside: its chains, its channel workers (running or
//! waiting to restart, restarts, last error) and their backlogs. The supervisor keeps it up to
//! date with plain descriptions ([`ChainEntry`], [`ChannelInfo`]); the HTTP server reads it for
//! `/health`, `/state` and `/clear`. Live readings of a chain (does its RPC answer, its latest
//! height) come through the [`ChainProbe`] the supervisor hands over with the chain.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::metrics::{metrics, PacketLabels};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How long `/health` waits for each chain's `/status`.
pub(crate) const HEALTH_RPC_TIMEOUT: Duration = Duration::from_secs(3);

/// Live readings of one chain, asked when `/health` or `/state` is served. Whoever connects to
/// the chain implements it; telemetry knows nothing else about chains.
pub(crate) trait ChainProbe: Send + Sync {
    /// Asks the chain's RPC for its status: `Err` says why it did not answer.
    fn check_status(&self) -> BoxFuture<'_, Result<(), String>>;
    /// The latest height the daemon has seen.
    fn latest_height(&self) -> u64;
    /// Event websocket sessions lost so far.
    fn websocket_reconnects(&self) -> u64;
    /// The chain's RPC endpoints in order of preference, and which one is active.
    fn endpoints(&self) -> Vec<EndpointInfo>;
    /// The sharding of packet steps with peers on this chain, when peers are configured.
    fn sharding(&self) -> Option<ShardInfo> {
        None
    }
}

/// A chain's sharding with `[relay] peers`, as `/state` shows it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ShardInfo {
    /// This instance's signers.
    pub(crate) own: Vec<String>,
    /// The other instances' signers.
    pub(crate) peers: Vec<String>,
    /// Peers left out of the ranking: they missed a step in their turn.
    pub(crate) silent: Vec<String>,
    /// Blocks per rank a backup waits.
    pub(crate) backup_delay: u64,
    /// Packet steps ranked so far.
    pub(crate) ranked: u64,
    /// The fraction of them this instance was ranked first for.
    pub(crate) share: f64,
    /// The fraction expected with the live signers.
    pub(crate) expected_share: f64,
}

/// One RPC endpoint of a chain, as `/state` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EndpointInfo {
    /// RPC URL (without credentials).
    pub(crate) rpc: String,
    /// Websocket URL (without credentials).
    pub(crate) websocket: String,
    /// Requests and the event websocket go here now.
    pub(crate) active: bool,
    /// It answers, serves the chain and is not behind.
    pub(crate) usable: bool,
    /// The latest height it reported.
    pub(crate) height: Option<u64>,
    /// Why it is not usable, or its last error.
    pub(crate) problem: Option<String>,
}

/// A chain of the pair and the address that signs on it.
#[derive(Clone)]
pub(crate) struct ChainEntry {
    /// Chain id.
    pub(crate) id: String,
    /// Its RPC address.
    pub(crate) rpc_addr: String,
    /// The relayer's account on it.
    pub(crate) address: String,
    /// Live readings.
    pub(crate) probe: Arc<dyn ChainProbe>,
}

/// One end of a relayed channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EndInfo {
    /// Chain id.
    pub(crate) chain: String,
    /// Port id on that chain.
    pub(crate) port: String,
    /// Channel id on that chain.
    pub(crate) channel: String,
    /// The counterparty's client on that chain.
    pub(crate) client: String,
}

impl EndInfo {
    /// The labels of packets sent from this end to `to`.
    pub(crate) fn labels_to(&self, to: &EndInfo) -> PacketLabels {
        PacketLabels {
            chain: self.chain.clone(),
            counterparty: to.chain.clone(),
            port: self.port.clone(),
            channel: self.channel.clone(),
        }
    }
}

/// A relayed channel: its two ends, on chain A and chain B of the pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ChannelInfo {
    /// `port/channel` on chain A, what workers are known by.
    pub(crate) name: String,
    /// ORDERED channel.
    pub(crate) ordered: bool,
    /// The end on chain A.
    pub(crate) a: EndInfo,
    /// The end on chain B.
    pub(crate) b: EndInfo,
}

impl ChannelInfo {
    /// The worker metric labels: those of packets sent from chain A's end.
    fn worker_labels(&self) -> PacketLabels {
        self.a.labels_to(&self.b)
    }
}

/// Whether a worker runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WorkerState {
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
    pub(crate) channel: Arc<ChannelInfo>,
    /// Running or restarting.
    pub(crate) state: WorkerState,
    /// Restarts so far.
    pub restarts: u64,
    /// The last failure, kept after the restart.
    pub(crate) last_error: Option<String>,
    /// When the state last changed.
    pub since: Instant,
}

/// The shared state of one daemon.
#[derive(Default)]
pub struct DaemonState {
    chains: Mutex<Vec<ChainEntry>>,
    workers: Mutex<BTreeMap<String, WorkerEntry>>,
    /// Why the daemon is not relaying yet (waiting for its chains, or for the first channel
    /// discovery); `None` once it runs.
    starting: Mutex<Option<String>>,
}

impl std::fmt::Debug for DaemonState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaemonState")
            .field("workers", &lock(&self.workers).keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl DaemonState {
    /// An empty state.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The daemon is still starting, for `reason` (`None`: it runs).
    pub(crate) fn set_starting(&self, reason: Option<String>) {
        *lock(&self.starting) = reason;
    }

    /// Why the daemon is still starting, if it is.
    pub(crate) fn starting(&self) -> Option<String> {
        lock(&self.starting).clone()
    }

    /// Adds a chain.
    pub(crate) fn add_chain(&self, chain: ChainEntry) {
        lock(&self.chains).push(chain);
    }

    /// The chains.
    pub(crate) fn chains(&self) -> Vec<ChainEntry> {
        lock(&self.chains).clone()
    }

    /// The worker of `channel` runs (again).
    pub(crate) fn worker_running(&self, channel: &Arc<ChannelInfo>) {
        let labels = channel.worker_labels();
        metrics().worker_up.set(&labels.values(), 1.0);
        let mut workers = lock(&self.workers);
        let entry = workers
            .entry(channel.name.clone())
            .or_insert_with(|| WorkerEntry {
                channel: channel.clone(),
                state: WorkerState::Running,
                restarts: 0,
                last_error: None,
                since: Instant::now(),
            });
        entry.state = WorkerState::Running;
        entry.since = Instant::now();
    }

    /// The worker of `channel` failed (or stopped on its own) and will restart.
    pub(crate) fn worker_failed(&self, channel: &ChannelInfo, error: String) {
        let labels = channel.worker_labels();
        metrics().worker_up.set(&labels.values(), 0.0);
        metrics().worker_restarts.inc(&labels.values());
        let mut workers = lock(&self.workers);
        if let Some(entry) = workers.get_mut(&channel.name) {
            entry.state = WorkerState::Restarting;
            entry.restarts += 1;
            entry.last_error = Some(error);
            entry.since = Instant::now();
        }
    }

    /// The worker of `channel` stopped for good (shutdown, or the filter dropped its channel).
    pub(crate) fn worker_stopped(&self, channel: &ChannelInfo) {
        let labels = channel.worker_labels();
        metrics().worker_up.remove(&labels.values());
        lock(&self.workers).remove(&channel.name);
    }

    /// The workers, by channel name (`port/channel` on chain A).
    pub fn workers(&self) -> BTreeMap<String, WorkerEntry> {
        lock(&self.workers).clone()
    }

    /// The channels of the workers whose channel (on either end) is `channel`, and port `port`
    /// if given.
    pub(crate) fn find_workers(&self, channel: &str, port: Option<&str>) -> Vec<Arc<ChannelInfo>> {
        lock(&self.workers)
            .values()
            .filter(|w| {
                [&w.channel.a, &w.channel.b]
                    .iter()
                    .any(|end| end.channel == channel && port.is_none_or(|p| end.port == p))
            })
            .map(|w| w.channel.clone())
            .collect()
    }

    /// Asks every chain's `/status` (each within [`HEALTH_RPC_TIMEOUT`]) and sets
    /// `arke_chain_up` from the answers: the one check behind `/health` and the sampler.
    pub(crate) async fn check_chains(&self) -> Vec<(ChainEntry, Result<(), String>)> {
        let chains = self.chains();
        let checks = futures::future::join_all(chains.iter().map(|c| async move {
            match tokio::time::timeout(HEALTH_RPC_TIMEOUT, c.probe.check_status()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(format!(
                    "no answer within {}",
                    crate::config::HumanDuration(HEALTH_RPC_TIMEOUT)
                )),
            }
        }))
        .await;
        for (c, check) in chains.iter().zip(&checks) {
            metrics()
                .chain_up
                .set(&[c.id.as_str()], if check.is_ok() { 1.0 } else { 0.0 });
        }
        chains.into_iter().zip(checks).collect()
    }

    /// Whether the daemon is healthy: every chain answers `/status` (within
    /// [`HEALTH_RPC_TIMEOUT`]) and every worker runs. The JSON body says why not.
    pub(crate) async fn health(&self) -> (bool, Value) {
        let mut reasons = Vec::new();
        let starting = self.starting();
        if let Some(why) = &starting {
            reasons.push(why.clone());
        }
        let mut chain_json = serde_json::Map::new();
        for (c, check) in self.check_chains().await {
            let id = c.id.clone();
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
        let status = match (ok, &starting) {
            (true, _) => "ok",
            (false, Some(_)) => "starting",
            (false, None) => "unavailable",
        };
        let body = json!({
            "status": status,
            "reasons": reasons,
            "chains": chain_json,
            "workers": worker_json,
        });
        (ok, body)
    }

    /// `/state`: chains, workers, channels, backlogs and last errors.
    pub(crate) fn snapshot(&self) -> Value {
        let chains: Vec<Value> = self
            .chains()
            .iter()
            .map(|c| {
                let endpoints = c.probe.endpoints();
                let active = endpoints.iter().find(|e| e.active).map(|e| e.rpc.clone());
                let endpoints: Vec<Value> = endpoints
                    .into_iter()
                    .map(|e| {
                        json!({
                            "rpc_addr": e.rpc,
                            "websocket_addr": e.websocket,
                            "active": e.active,
                            "usable": e.usable,
                            "height": e.height,
                            "problem": e.problem,
                        })
                    })
                    .collect();
                json!({
                    "id": c.id,
                    "rpc_addr": c.rpc_addr,
                    "active_rpc_addr": active,
                    "endpoints": endpoints,
                    "address": c.address,
                    "latest_height": c.probe.latest_height(),
                    "websocket_reconnects": c.probe.websocket_reconnects(),
                    "sharding": c.probe.sharding().map(|s| json!({
                        "own": s.own,
                        "peers": s.peers,
                        "silent": s.silent,
                        "backup_delay": s.backup_delay,
                        "ranked": s.ranked,
                        "share": s.share,
                        "expected_share": s.expected_share,
                    })),
                })
            })
            .collect();
        let workers: Vec<Value> = self
            .workers()
            .into_iter()
            .map(|(name, w)| {
                let c = &w.channel;
                let mut backlog = Vec::new();
                for (end, dst) in [(&c.a, &c.b), (&c.b, &c.a)] {
                    for (kind, b) in metrics().backlogs_of(&end.chain, &end.port, &end.channel) {
                        backlog.push(json!({
                            "from": end.chain,
                            "to": dst.chain,
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
                    "ordered": c.ordered,
                    "a": { "chain": c.a.chain, "port": c.a.port, "channel": c.a.channel, "client": c.a.client },
                    "b": { "chain": c.b.chain, "port": c.b.port, "channel": c.b.channel, "client": c.b.client },
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
