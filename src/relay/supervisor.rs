//! The supervisor of one chain pair: it connects to both chains, starts their event hubs and
//! TxEngines, finds the open channels the filter allows (`discovery`), runs one [`run_worker`]
//! per channel and restarts a failed worker with exponential backoff and jitter. On shutdown it
//! stops the workers, lets in-flight txs confirm for up to `shutdown_grace`, then stops
//! everything.
//!
//! **Start-up never gives up on an unreachable chain.** Until some endpoint of each chain
//! answers `/status`, the supervisor retries with a backoff of 1 s doubling to 30 s, says why on
//! `/health` and in systemd's `STATUS=` (extending the start timeout with
//! `EXTEND_TIMEOUT_USEC=` each time), and exits cleanly if asked to stop meanwhile. An endpoint
//! that answers for another chain id is a fatal error ([`SupervisorError::WrongChain`]).
//!
//! **Discovery follows events.** After the first listing of every channel, the supervisor
//! checks only the channels named by the channel handshake and close events of its event hubs
//! (a new channel is started within a block or two of its last handshake step; a worker whose
//! end closed is told so and clears), retries a failed check after 30 s, and lists everything
//! again every `rescan_interval` and whenever a hub passed over events it could not route.
//!
//! [`run_with`] adds what a managed daemon needs: the telemetry server and sampler when
//! `[telemetry] enabled`, systemd notifications (`READY=1` once the first channel discovery has
//! started the workers, watchdog pings, `STOPPING=1`), and reloads of the pair file, which start
//! and stop single workers: every worker has its own child token, kept in a map by channel.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn, Instrument};

use super::cache::SequenceCache;
use super::channel::{ChannelSpec, Side};
use super::discovery::{Discovery, RETRY_INTERVAL};
use super::reload::{self, ReloadReceiver, ReloadReport};
use super::shard::ChainShard;
use super::worker::{restart_delay, run_worker};
use super::{refresh, report, sampler, ChainHandle, PacketSigner};
use crate::chain::events::EventHub;
use crate::chain::mempool::MempoolView;
use crate::chain::query::{IbcQuerier, QueryError};
use crate::chain::rpc::{RpcClient, RpcError};
use crate::chain::types::{ChannelEvent, ChannelEventKind};
use crate::config::{ChainConfig, Config};
use crate::telemetry::notify::{watchdog_interval, Notifier};
use crate::telemetry::server::TelemetryServer;
use crate::telemetry::state::{ChannelInfo, DaemonState};
use crate::tx::engine::{TxEngine, TxEngineOptions};

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    /// An RPC endpoint could not be set up or reached.
    #[error("chain {chain}: {source}")]
    Rpc {
        /// Chain id.
        chain: String,
        /// Cause.
        source: RpcError,
    },
    /// The node answers for another chain.
    #[error("chain {configured}: the node at {rpc} serves chain {actual:?}, not {configured:?}; fix `id` or the endpoint in the config")]
    WrongChain {
        /// Configured id.
        configured: String,
        /// RPC address.
        rpc: String,
        /// What the node says.
        actual: String,
    },
    /// No endpoint of a chain answers (one-shot commands, which do not wait).
    #[error("{reason}")]
    Unreachable {
        /// Which chains, and each endpoint's error.
        reason: String,
    },
    /// A query failed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The telemetry server cannot listen.
    #[error("telemetry: cannot listen on {addr}: {reason}")]
    Telemetry {
        /// `host:port`.
        addr: String,
        /// Why.
        reason: String,
    },
}

/// Optional parts of [`run_with`]: reloads, systemd notifications, the state to report into.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// Reload requests (SIGHUP in `arke start`).
    pub reload: Option<ReloadReceiver>,
    /// Where to send `READY=1`, `WATCHDOG=1`, `STOPPING=1` (systemd `Type=notify`).
    pub notifier: Option<Notifier>,
    /// The state the telemetry server reports (a fresh one when `None`).
    pub state: Option<Arc<DaemonState>>,
}

/// The signing keys of the two chains.
pub struct PairKeys {
    /// Signs on chain A: handshakes, client refreshes, channel closes and a share of the
    /// packets.
    pub a: cosmos::AccountKey,
    /// Signs on chain B.
    pub b: cosmos::AccountKey,
    /// More signers of packet messages on A (`key_names` after the first).
    pub more_a: Vec<cosmos::AccountKey>,
    /// More signers of packet messages on B.
    pub more_b: Vec<cosmos::AccountKey>,
}

impl PairKeys {
    /// One signer per chain.
    pub fn new(a: cosmos::AccountKey, b: cosmos::AccountKey) -> Self {
        Self {
            a,
            b,
            more_a: Vec::new(),
            more_b: Vec::new(),
        }
    }

    /// With more signers of packet messages on each chain.
    pub fn with_more(
        mut self,
        more_a: Vec<cosmos::AccountKey>,
        more_b: Vec<cosmos::AccountKey>,
    ) -> Self {
        self.more_a = more_a;
        self.more_b = more_b;
        self
    }
}

/// Runs the relayer for `config` until `shutdown` is cancelled, then drains and returns.
pub async fn run(
    config: Config,
    keys: PairKeys,
    shutdown: CancellationToken,
) -> Result<(), SupervisorError> {
    run_with(config, keys, shutdown, RunOptions::default()).await
}

/// [`run`] with reloads, systemd notifications and a caller-provided state. Starts the
/// telemetry server when `[telemetry] enabled`.
pub async fn run_with(
    mut config: Config,
    keys: PairKeys,
    shutdown: CancellationToken,
    options: RunOptions,
) -> Result<(), SupervisorError> {
    let RunOptions {
        reload: mut reloads,
        notifier,
        state,
    } = options;
    let state = state.unwrap_or_else(DaemonState::new);
    let infra = CancellationToken::new();
    let mut infra_tasks = JoinSet::new();
    let server = if config.telemetry.enabled {
        let t = &config.telemetry;
        let server = TelemetryServer::bind(&t.host, t.port, state.clone())
            .await
            .map_err(|e| SupervisorError::Telemetry {
                addr: format!("{}:{}", t.host, t.port),
                reason: e.to_string(),
            })?;
        Some(server)
    } else {
        None
    };
    let addresses = [
        keys.a.address(&config.chains.a.account_prefix),
        keys.b.address(&config.chains.b.account_prefix),
    ];
    // Served while waiting for the chains, so `/health` can say why the daemon is not ready.
    if let Some(server) = server {
        infra_tasks.spawn(server.serve(infra.clone()));
    }
    if let (Some(n), Some(every)) = (notifier.clone(), watchdog_interval()) {
        let t = infra.clone();
        infra_tasks.spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = t.cancelled() => return,
                    _ = tick.tick() => n.watchdog(),
                }
            }
        });
    }
    let rpcs = match wait_for_chains(&config, &state, notifier.as_ref(), &shutdown).await {
        Ok(Some(rpcs)) => rpcs,
        Ok(None) => {
            info!("stopped while waiting for the chains");
            if let Some(n) = &notifier {
                n.stopping();
            }
            infra.cancel();
            while infra_tasks.join_next().await.is_some() {}
            return Ok(());
        }
        Err(e) => {
            infra.cancel();
            while infra_tasks.join_next().await.is_some() {}
            return Err(e);
        }
    };
    // The engines stop taking work as soon as the drain begins (see below).
    let engines = infra.child_token();
    let (a, b) = start_chains(&config, rpcs, keys, &infra, &engines, &mut infra_tasks);
    super::cursor::start(
        config.relay.state_dir.as_deref(),
        [&a, &b],
        super::cursor::Mode::ReadWrite,
        &infra,
        &mut infra_tasks,
    );
    let [address_a, address_b] = addresses.clone();
    state.add_chain(report::chain_entry(&a, address_a));
    state.add_chain(report::chain_entry(&b, address_b));
    // Keeps the clients of the running workers' channels from expiring (see `refresh`).
    let (relied_on, relied_on_rx) = tokio::sync::watch::channel(refresh::ReliedOn::new());
    infra_tasks.spawn(super::refresh::run(
        config.clone(),
        a.clone(),
        b.clone(),
        addresses,
        relied_on_rx,
        infra.clone(),
    ));
    if config.telemetry.enabled {
        infra_tasks.spawn(sampler::run(
            [a.clone(), b.clone()],
            state.clone(),
            sampler::SAMPLE_INTERVAL,
            infra.clone(),
        ));
    }
    let cache = Arc::new(SequenceCache::new(5, Duration::from_millis(500)));
    let workers_token = shutdown.child_token();
    let mut workers = JoinSet::new();
    let mut running = Running::new();
    let mut pending_reload: Option<(reload::ReloadRequest, ReloadReport)> = None;
    let mut ready = false;
    let mut discovery_failures = 0u32;
    // Channel events of both chains, subscribed before the first listing: a channel opened
    // after it is seen through its event, one opened before by the listing.
    let (mut events_a, mut events_b) = (
        a.hub.subscribe_channel_events(),
        b.hub.subscribe_channel_events(),
    );
    let (mut gaps_a, mut gaps_b) = (a.hub.gaps(), b.hub.gaps());
    let mut discovery = Discovery::default();
    // When every channel is listed again; the first round is at once.
    let mut full_at = Instant::now();
    // Channels (on A) to check, named by channel events; and those whose check failed, with
    // when they are checked again.
    let mut named: BTreeSet<(String, String)> = BTreeSet::new();
    let mut retry: (BTreeSet<(String, String)>, Instant) = (BTreeSet::new(), Instant::now());
    info!(a = %a.config.id, b = %b.config.id, "relayer started");
    loop {
        let mut started = Vec::new();
        let full = Instant::now() >= full_at || pending_reload.is_some();
        let known = |port: &str, channel: &str| {
            running.contains_key(&(port.to_string(), channel.to_string()))
        };
        if full || !named.is_empty() {
            let names: Vec<(String, String)> = std::mem::take(&mut named).into_iter().collect();
            // Discovery stops at SIGTERM: on a chain with many channels a round can take a while.
            let round = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = async {
                    if full {
                        discovery.all(&config, &a, &b, &known).await
                    } else {
                        Ok(discovery.named(&config, &a, &b, &names, &known).await)
                    }
                } => r,
            };
            match round {
                Ok(found) => {
                    if full {
                        full_at = Instant::now() + config.relay.rescan_interval;
                    }
                    for (channel, e) in &found.failed {
                        warn!(channel = %format!("{}/{}", channel.0, channel.1), error = %e, "checking the channel failed; retrying soon");
                    }
                    if let (false, Some((channel, e))) = (ready, found.failed.first()) {
                        // Ready only once every channel could be checked; until then, list
                        // again soon.
                        let delay = startup_backoff(discovery_failures).min(RETRY_INTERVAL);
                        discovery_failures = discovery_failures.saturating_add(1);
                        full_at = Instant::now() + delay;
                        let reason =
                            format!("checking channel {}/{} failed: {e}", channel.0, channel.1);
                        state.set_starting(Some(reason.clone()));
                        if let Some(n) = &notifier {
                            n.waiting(&reason, delay + STARTUP_TIMEOUT_MARGIN);
                        }
                    } else if !found.failed.is_empty() {
                        if retry.0.is_empty() {
                            retry.1 = Instant::now() + RETRY_INTERVAL;
                        }
                        retry.0.extend(found.failed.iter().map(|(c, _)| c.clone()));
                    }
                    for spec in found.specs {
                        let id = (spec.a.port.clone(), spec.a.channel.clone());
                        if let std::collections::hash_map::Entry::Vacant(slot) = running.entry(id) {
                            info!(channel = %spec.name(), counterparty = %format!("{}/{}", spec.b.port, spec.b.channel), ordered = spec.ordered, "starting channel worker");
                            let token = workers_token.child_token();
                            let spec = Arc::new(spec);
                            slot.insert(RunningWorker {
                                token: token.clone(),
                                clients: refresh::clients_of(&spec),
                                spec: spec.clone(),
                            });
                            started.push(spec.name());
                            // Registered before the task runs, so `READY=1` below never
                            // precedes the workers it announces in the state.
                            state.worker_running(&Arc::new(report::channel_info(&spec)));
                            workers.spawn(supervise(spec, cache.clone(), token, state.clone()));
                        }
                    }
                    // Ready once a listing has started the workers of every channel it found.
                    if !ready && full && found.failed.is_empty() {
                        ready = true;
                        state.set_starting(None);
                        if let Some(n) = &notifier {
                            n.ready(&format!("relaying {} channels", running.len()));
                        }
                    }
                }
                Err(e) => {
                    warn!(error = %e, "looking for channels failed; retrying");
                    let delay = if ready {
                        RETRY_INTERVAL
                    } else {
                        // Not ready yet: retry sooner, and say why.
                        let delay = startup_backoff(discovery_failures).min(RETRY_INTERVAL);
                        discovery_failures = discovery_failures.saturating_add(1);
                        let reason = format!("looking for channels failed: {e}");
                        state.set_starting(Some(reason.clone()));
                        if let Some(n) = &notifier {
                            n.waiting(&reason, delay + STARTUP_TIMEOUT_MARGIN);
                        }
                        delay
                    };
                    full_at = Instant::now() + delay;
                }
            }
            publish_relied_on(&relied_on, &running);
            if full {
                if let Some((reply, mut report)) = pending_reload.take() {
                    report.started = started;
                    info!(started = ?report.started, stopped = ?report.stopped, "config reloaded");
                    let _ = reply.send(Ok(report));
                    if let Some(n) = &notifier {
                        n.ready(&format!("relaying {} channels", running.len()));
                    }
                }
            }
        }
        let wake = if retry.0.is_empty() {
            full_at
        } else {
            full_at.min(retry.1)
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep_until(wake) => {
                if !retry.0.is_empty() && Instant::now() >= retry.1 {
                    named.append(&mut retry.0);
                }
            }
            Some(event) = events_a.recv() => on_channel_event(Side::A, event, &config, &running, &mut named),
            Some(event) = events_b.recv() => on_channel_event(Side::B, event, &config, &running, &mut named),
            Ok(()) = async { tokio::select! { r = gaps_a.changed() => r, r = gaps_b.changed() => r } } => {
                gaps_a.borrow_and_update();
                gaps_b.borrow_and_update();
                info!("an event hub passed over events it could not route; listing every channel again");
                full_at = Instant::now();
            }
            Some(_) = workers.join_next(), if !workers.is_empty() => {}
            Some(reply) = async { reloads.as_mut()?.rx.recv().await }, if reloads.is_some() => {
                if let Some(n) = &notifier {
                    n.reloading();
                }
                match reload::prepare(&config) {
                    Ok((next, ignored)) => {
                        for why in &ignored {
                            warn!(file = %config.path.display(), "reload: {why}");
                        }
                        config = next;
                        let mut stopped = Vec::new();
                        running.retain(|(port, channel), worker| {
                            let keep = config.relay.channels.permits(port, channel);
                            if !keep {
                                info!(channel = %format!("{port}/{channel}"), "reload: stopping channel worker");
                                worker.token.cancel();
                                stopped.push(format!("{port}/{channel}"));
                            }
                            keep
                        });
                        // The next discovery starts what the new filter adds, then answers.
                        pending_reload = Some((reply, ReloadReport { started: Vec::new(), stopped, ignored }));
                    }
                    Err(e) => {
                        error!(file = %config.path.display(), error = %e, "reload rejected; keeping the running config");
                        let _ = reply.send(Err(e));
                        if let Some(n) = &notifier {
                            n.ready(&format!("relaying {} channels (reload rejected)", running.len()));
                        }
                    }
                }
            }
        }
        // Whatever else the hubs told meanwhile goes into the same next round.
        for (side, events) in [(Side::A, &mut events_a), (Side::B, &mut events_b)] {
            while let Ok(event) = events.try_recv() {
                on_channel_event(side, event, &config, &running, &mut named);
            }
        }
    }
    if let Some(n) = &notifier {
        n.stopping();
    }
    info!(grace = %crate::config::HumanDuration(config.relay.shutdown_grace), "shutting down: draining in-flight work");
    let drain = async {
        // Nothing new is broadcast from here on; the engines wait only for their broadcast txs,
        // within the grace period, and answer the workers' pending items.
        engines.cancel();
        workers_token.cancel();
        while workers.join_next().await.is_some() {}
        infra.cancel();
        while infra_tasks.join_next().await.is_some() {}
    };
    if tokio::time::timeout(config.relay.shutdown_grace, drain)
        .await
        .is_err()
    {
        warn!("shutdown grace period over; stopping with work in flight (clearing finds it on the next start)");
    }
    infra.cancel();
    workers.abort_all();
    infra_tasks.abort_all();
    info!("relayer stopped");
    Ok(())
}

/// A running channel worker.
struct RunningWorker {
    /// Stops it.
    token: CancellationToken,
    /// The clients it relies on.
    clients: [(Side, String); 2],
    /// Its channel (shared with the worker: a close event marks an end closed in it).
    spec: Arc<ChannelSpec>,
}

/// The running workers by channel (port, channel on A).
type Running = HashMap<(String, String), RunningWorker>;

/// A channel event of chain `side`: a running worker whose end closed is told so and clears (its
/// pending packets time out on close); a channel without a worker is checked by the next round
/// (`named`, by its ids on A).
fn on_channel_event(
    side: Side,
    event: ChannelEvent,
    config: &Config,
    running: &Running,
    named: &mut BTreeSet<(String, String)>,
) {
    let on_a = match side {
        Side::A => (event.port.clone(), event.channel.clone()),
        Side::B => (
            event.counterparty_port.clone(),
            event.counterparty_channel.clone(),
        ),
    };
    if on_a.1.is_empty() || !config.relay.channels.permits(&on_a.0, &on_a.1) {
        return;
    }
    let Some(worker) = running.get(&on_a) else {
        debug!(port = %on_a.0, channel = %on_a.1, kind = ?event.kind, height = event.height, "channel event; checking the channel");
        named.insert(on_a);
        return;
    };
    let end = worker.spec.end(side);
    // On B, the event's end must be the worker's (a channel to a third chain may name the
    // same channel id on its counterparty).
    if end.port != event.port || end.channel != event.channel {
        named.insert(on_a);
        return;
    }
    if event.kind == ChannelEventKind::Closed && !worker.spec.is_closed(side) {
        info!(chain = %end.chain.config.id, port = %end.port, channel = %end.channel, height = event.height, "the channel end was closed: its pending packets time out on close");
        worker.spec.set_closed(side);
        crate::telemetry::clear_trigger(&report::channel_info(&worker.spec)).notify_one();
    }
}

/// Tells client refresh which clients the running workers rely on (when that changed).
fn publish_relied_on(relied_on: &tokio::sync::watch::Sender<refresh::ReliedOn>, running: &Running) {
    let clients: refresh::ReliedOn = running
        .values()
        .flat_map(|w| w.clients.iter().cloned())
        .collect();
    relied_on.send_if_modified(|current| {
        let changed = *current != clients;
        *current = clients;
        changed
    });
}

/// Runs one worker, restarting it after failures until `token` is cancelled.
async fn supervise(
    spec: Arc<ChannelSpec>,
    cache: Arc<SequenceCache>,
    token: CancellationToken,
    state: Arc<DaemonState>,
) {
    let mut failures = 0u32;
    let span = tracing::info_span!("worker", channel = %spec.name());
    let info = Arc::new(report::channel_info(&spec));
    let _stopped = StopGuard(&state, &info);
    async {
        loop {
            let started = tokio::time::Instant::now();
            state.worker_running(&info);
            match run_worker(spec.clone(), cache.clone(), token.clone()).await {
                Ok(()) if token.is_cancelled() => return,
                Ok(()) => {
                    warn!("worker stopped on its own; restarting");
                    state.worker_failed(&info, "stopped on its own".into());
                }
                Err(e) => {
                    error!(error = %e, "worker failed; restarting");
                    state.worker_failed(&info, e.to_string());
                }
            }
            if started.elapsed() > Duration::from_secs(300) {
                failures = 0;
            }
            let delay = restart_delay(failures);
            failures = failures.saturating_add(1);
            tokio::select! {
                _ = token.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }
    .instrument(span)
    .await
}

/// Takes a worker out of the daemon state when its supervision ends (even by abort).
struct StopGuard<'a>(&'a DaemonState, &'a ChannelInfo);

impl Drop for StopGuard<'_> {
    fn drop(&mut self) {
        self.0.worker_stopped(self.1);
    }
}

/// First delay of the start-up retries, doubled per attempt up to [`STARTUP_BACKOFF_MAX`].
const STARTUP_BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Cap of the start-up retry delay.
const STARTUP_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Added to the next retry delay in `EXTEND_TIMEOUT_USEC=`, for the probe itself.
const STARTUP_TIMEOUT_MARGIN: Duration = Duration::from_secs(60);

/// The delay before start-up retry `attempt` (from 0): 1 s doubling to 30 s.
fn startup_backoff(attempt: u32) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX);
    STARTUP_BACKOFF_MIN
        .saturating_mul(factor)
        .min(STARTUP_BACKOFF_MAX)
}

/// RPC clients of both chains (not yet asked anything).
fn pair_clients(config: &Config) -> Result<(RpcClient, RpcClient), SupervisorError> {
    let client = |chain: &ChainConfig| {
        RpcClient::from_config(chain).map_err(|source| SupervisorError::Rpc {
            chain: chain.id.clone(),
            source,
        })
    };
    Ok((client(&config.chains.a)?, client(&config.chains.b)?))
}

/// Probes every endpoint of both chains once: why a chain cannot be used yet (no endpoint
/// answered), one line per such chain; an endpoint serving another chain id is fatal.
async fn probe_pair(
    config: &Config,
    rpcs: &(RpcClient, RpcClient),
) -> Result<Vec<String>, SupervisorError> {
    let probes = futures::future::join(rpcs.0.probe_endpoints(), rpcs.1.probe_endpoints()).await;
    let mut waiting = Vec::new();
    for (chain, probes) in [(&config.chains.a, probes.0), (&config.chains.b, probes.1)] {
        let mut errors = Vec::new();
        let mut answered = false;
        for p in probes {
            match p.answer {
                Ok(s) if s.network != chain.id => {
                    return Err(SupervisorError::WrongChain {
                        configured: chain.id.clone(),
                        rpc: p.endpoint,
                        actual: s.network,
                    })
                }
                Ok(_) => answered = true,
                Err(e) => errors.push(e.to_string()),
            }
        }
        if !answered {
            waiting.push(format!("chain {}: {}", chain.id, errors.join("; ")));
        }
    }
    Ok(waiting)
}

/// RPC clients of both chains once some endpoint of each answers `/status` for the configured
/// chain id, retried with backoff until then; `None` when `shutdown` comes first. An endpoint
/// serving another chain is fatal.
async fn wait_for_chains(
    config: &Config,
    state: &DaemonState,
    notifier: Option<&Notifier>,
    shutdown: &CancellationToken,
) -> Result<Option<(RpcClient, RpcClient)>, SupervisorError> {
    // The system's trust roots are files: read them off the async threads.
    let _ = tokio::task::spawn_blocking(crate::chain::rpc::tls::preload_roots).await;
    let rpcs = pair_clients(config)?;
    let mut attempt = 0u32;
    loop {
        let waiting = tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            w = probe_pair(config, &rpcs) => w?,
        };
        if waiting.is_empty() {
            if attempt > 0 {
                info!("both chains answer; starting");
            }
            return Ok(Some(rpcs));
        }
        let delay = startup_backoff(attempt);
        attempt = attempt.saturating_add(1);
        let reason = format!("waiting for chains: {}", waiting.join("; "));
        warn!(retry_in = ?delay, "{reason}");
        state.set_starting(Some(reason.clone()));
        if let Some(n) = notifier {
            n.waiting(&reason, delay + STARTUP_TIMEOUT_MARGIN);
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Connects to both chains once, failing when one cannot be reached or serves another chain
/// (for one-shot commands, which should not wait), then starts them as [`start_chains`] does.
pub(crate) async fn connect(
    config: &Config,
    keys: PairKeys,
    infra: &CancellationToken,
    tasks: &mut JoinSet<()>,
) -> Result<(Arc<ChainHandle>, Arc<ChainHandle>), SupervisorError> {
    let rpcs = pair_clients(config)?;
    let waiting = probe_pair(config, &rpcs).await?;
    if !waiting.is_empty() {
        return Err(SupervisorError::Unreachable {
            reason: waiting.join("; "),
        });
    }
    Ok(start_chains(config, rpcs, keys, infra, infra, tasks))
}

/// Starts both chains' event hubs, TxEngines and endpoint probes on the connected `rpcs`; their
/// tasks go into `tasks` and stop when `infra` is cancelled (the engines already when `engines`
/// is).
fn start_chains(
    config: &Config,
    rpcs: (RpcClient, RpcClient),
    keys: PairKeys,
    infra: &CancellationToken,
    engines: &CancellationToken,
    tasks: &mut JoinSet<()>,
) -> (Arc<ChainHandle>, Arc<ChainHandle>) {
    let (ra, rb) = rpcs;
    for (rpc, chain) in [(&ra, &config.chains.a), (&rb, &config.chains.b)] {
        tasks.spawn(
            rpc.clone()
                .watch_endpoints(chain.endpoints.probe_interval, infra.clone()),
        );
    }
    let qa = IbcQuerier::new(ra, config.chains.a.id.clone());
    let qb = IbcQuerier::new(rb, config.chains.b.id.clone());
    let hub_a = EventHub::spawn(
        qa.rpc().clone(),
        config.chains.a.id.clone(),
        None,
        infra.clone(),
    );
    let hub_b = EventHub::spawn(
        qb.rpc().clone(),
        config.chains.b.id.clone(),
        None,
        infra.clone(),
    );
    let options =
        |hub: &EventHub, mempool: &MempoolView, shard: &Option<Arc<ChainShard>>| TxEngineOptions {
            blocks_from: Some(hub.clone()),
            mempool: Some(mempool.clone()),
            update_carriers: shard
                .clone()
                .map(|s| s as Arc<dyn crate::tx::engine::UpdateCarriers>),
            ..TxEngineOptions::within_grace(config.relay.shutdown_grace)
        };
    let mut chain = |chain: &ChainConfig,
                     query: IbcQuerier,
                     counterparty: &IbcQuerier,
                     hub: EventHub,
                     keys: Vec<cosmos::AccountKey>,
                     peers: &[String]| {
        // One mempool view per chain, shared by its signers' engines, blind to their txs.
        let mempool = MempoolView::new(
            query.rpc().clone(),
            chain.id.clone(),
            keys.iter().map(|key| key.address(&chain.account_prefix)),
            hub.latest_height(),
        );
        // Sharding with the peers (also telling the engines who carries a client update).
        let shard = ChainShard::new(
            &chain.id,
            keys.iter()
                .map(|key| key.address(&chain.account_prefix))
                .collect(),
            peers,
            config.relay.backup_delay,
        )
        .map(Arc::new);
        let packet_signers: Vec<PacketSigner> = keys
            .into_iter()
            .map(|key| {
                let address = key.address(&chain.account_prefix);
                let (engine, task) = TxEngine::spawn_with(
                    chain,
                    query.clone(),
                    counterparty.clone(),
                    key,
                    engines.clone(),
                    options(&hub, &mempool, &shard),
                );
                tasks.spawn(async move {
                    let _ = task.await;
                });
                PacketSigner { engine, address }
            })
            .collect();
        let first = &packet_signers[0];
        if let Some(shard) = &shard {
            info!(chain = %chain.id, peers = ?shard.snapshot(0).peers, backup_delay = config.relay.backup_delay, "sharding packet steps with peers");
        }
        Arc::new(ChainHandle {
            shard,
            mempool: Some(mempool),
            config: chain.clone(),
            query,
            hub,
            engine: first.engine.clone(),
            signer: first.address.clone(),
            packet_signers,
        })
    };
    let PairKeys {
        a,
        b,
        more_a,
        more_b,
    } = keys;
    let handle_a = chain(
        &config.chains.a,
        qa.clone(),
        &qb,
        hub_a,
        std::iter::once(a).chain(more_a).collect(),
        &config.relay.peers[0],
    );
    let handle_b = chain(
        &config.chains.b,
        qb,
        &qa,
        hub_b,
        std::iter::once(b).chain(more_b).collect(),
        &config.relay.peers[1],
    );
    (handle_a, handle_b)
}
