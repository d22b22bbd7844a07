//! The supervisor of one chain pair: it connects to both chains, starts their event hubs and
//! TxEngines, finds the open channels the filter allows (`discovery`), runs one [`run_worker`]
//! per channel and restarts a failed worker with exponential backoff and jitter. On shutdown it
//! stops the workers, lets in-flight txs confirm for up to `shutdown_grace`, then stops
//! everything.
//!
//! [`run_with`] adds what a managed daemon needs: the telemetry server and sampler when
//! `[telemetry] enabled`, systemd notifications (`READY=1` after the first channel discovery,
//! watchdog pings, `STOPPING=1`), and reloads of the pair file, which start and stop single
//! workers: every worker has its own child token, kept in a map by channel.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn, Instrument};

use super::cache::SequenceCache;
use super::channel::ChannelSpec;
use super::discovery::{discover, RESCAN_INTERVAL};
use super::reload::{self, ReloadReceiver, ReloadReport};
use super::worker::{restart_delay, run_worker};
use super::{report, sampler, ChainHandle};
use crate::chain::events::EventHub;
use crate::chain::query::{IbcQuerier, QueryError};
use crate::chain::rpc::{RpcClient, RpcError};
use crate::config::{ChainConfig, Config};
use crate::telemetry::notify::{watchdog_interval, Notifier};
use crate::telemetry::server::TelemetryServer;
use crate::telemetry::state::{ChannelInfo, DaemonState};
use crate::tx::engine::TxEngine;

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
    #[error("chain {configured}: the node at {rpc} serves chain {actual}")]
    WrongChain {
        /// Configured id.
        configured: String,
        /// RPC address.
        rpc: String,
        /// What the node says.
        actual: String,
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
    /// Signs on chain A.
    pub a: cosmos::AccountKey,
    /// Signs on chain B.
    pub b: cosmos::AccountKey,
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
    let (a, b) = connect(&config, keys, &infra, &mut infra_tasks).await?;
    super::cursor::start(
        config.relay.state_dir.as_deref(),
        [&a, &b],
        super::cursor::Mode::ReadWrite,
        &infra,
        &mut infra_tasks,
    );
    let [address_a, address_b] = addresses.clone();
    state.add_chain(report::chain_entry(&a, address_a.clone()));
    state.add_chain(report::chain_entry(&b, address_b.clone()));
    // Keeps the relayed channels' clients from expiring (see `refresh`).
    infra_tasks.spawn(super::refresh::run(
        config.clone(),
        a.clone(),
        b.clone(),
        addresses,
        infra.clone(),
    ));
    if let Some(server) = server {
        infra_tasks.spawn(server.serve(infra.clone()));
        infra_tasks.spawn(sampler::run(
            [(a.clone(), address_a), (b.clone(), address_b)],
            state.clone(),
            sampler::SAMPLE_INTERVAL,
            infra.clone(),
        ));
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
    let cache = Arc::new(SequenceCache::new(5, Duration::from_millis(500)));
    let workers_token = shutdown.child_token();
    let mut workers = JoinSet::new();
    // Channel (port, channel on A) → the token of its worker.
    let mut running: HashMap<(String, String), CancellationToken> = HashMap::new();
    let mut pending_reload: Option<(reload::ReloadRequest, ReloadReport)> = None;
    let mut ready = false;
    info!(a = %a.config.id, b = %b.config.id, "relayer started");
    loop {
        let mut started = Vec::new();
        match discover(&config, &a, &b).await {
            Ok(specs) => {
                for spec in specs {
                    let id = (spec.a.port.clone(), spec.a.channel.clone());
                    if let std::collections::hash_map::Entry::Vacant(slot) = running.entry(id) {
                        info!(channel = %spec.name(), counterparty = %format!("{}/{}", spec.b.port, spec.b.channel), ordered = spec.ordered, "starting channel worker");
                        let token = slot.insert(workers_token.child_token()).clone();
                        started.push(spec.name());
                        // Registered before the task runs, so `READY=1` below never precedes
                        // the workers it announces in the state.
                        state.worker_running(&Arc::new(report::channel_info(&spec)));
                        workers.spawn(supervise(
                            Arc::new(spec),
                            cache.clone(),
                            token,
                            state.clone(),
                        ));
                    }
                }
            }
            Err(e) => warn!(error = %e, "looking for channels failed; retrying"),
        }
        if let Some((reply, mut report)) = pending_reload.take() {
            report.started = started;
            info!(started = ?report.started, stopped = ?report.stopped, "config reloaded");
            let _ = reply.send(Ok(report));
            if let Some(n) = &notifier {
                n.ready(&format!("relaying {} channels", running.len()));
            }
        }
        if !ready {
            ready = true;
            if let Some(n) = &notifier {
                n.ready(&format!("relaying {} channels", running.len()));
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(RESCAN_INTERVAL) => {}
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
                        running.retain(|(port, channel), token| {
                            let keep = config.relay.channels.permits(port, channel);
                            if !keep {
                                info!(channel = %format!("{port}/{channel}"), "reload: stopping channel worker");
                                token.cancel();
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
    }
    if let Some(n) = &notifier {
        n.stopping();
    }
    info!(grace = ?config.relay.shutdown_grace, "shutting down: draining in-flight work");
    let drain = async {
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

/// Connects to both chains (checking their ids) and starts their event hubs and TxEngines,
/// whose tasks go into `tasks` and stop when `infra` is cancelled.
pub(crate) async fn connect(
    config: &Config,
    keys: PairKeys,
    infra: &CancellationToken,
    tasks: &mut JoinSet<()>,
) -> Result<(Arc<ChainHandle>, Arc<ChainHandle>), SupervisorError> {
    let qa = querier(&config.chains.a).await?;
    let qb = querier(&config.chains.b).await?;
    let hub_a = EventHub::spawn(
        qa.rpc().clone(),
        config.chains.a.websocket_addr.to_string(),
        config.chains.a.id.clone(),
        None,
        infra.clone(),
    );
    let hub_b = EventHub::spawn(
        qb.rpc().clone(),
        config.chains.b.websocket_addr.to_string(),
        config.chains.b.id.clone(),
        None,
        infra.clone(),
    );
    let (engine_a, task_a) = TxEngine::spawn(
        &config.chains.a,
        qa.clone(),
        qb.clone(),
        keys.a,
        infra.clone(),
    );
    let (engine_b, task_b) = TxEngine::spawn(
        &config.chains.b,
        qb.clone(),
        qa.clone(),
        keys.b,
        infra.clone(),
    );
    tasks.spawn(async move {
        let _ = task_a.await;
    });
    tasks.spawn(async move {
        let _ = task_b.await;
    });
    Ok((
        Arc::new(ChainHandle {
            config: config.chains.a.clone(),
            query: qa,
            hub: hub_a,
            engine: engine_a,
        }),
        Arc::new(ChainHandle {
            config: config.chains.b.clone(),
            query: qb,
            hub: hub_b,
            engine: engine_b,
        }),
    ))
}

/// An RPC client and querier for `chain`, after checking the node serves that chain.
async fn querier(chain: &ChainConfig) -> Result<IbcQuerier, SupervisorError> {
    let rpc = RpcClient::from_config(chain).map_err(|source| SupervisorError::Rpc {
        chain: chain.id.clone(),
        source,
    })?;
    let status = rpc.status().await.map_err(|source| SupervisorError::Rpc {
        chain: chain.id.clone(),
        source,
    })?;
    let actual = status.node_info.network.to_string();
    if actual != chain.id {
        return Err(SupervisorError::WrongChain {
            configured: chain.id.clone(),
            rpc: chain.rpc_addr.to_string(),
            actual,
        });
    }
    Ok(IbcQuerier::new(rpc, chain.id.clone()))
}
