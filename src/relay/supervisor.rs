//! The supervisor of one chain pair: it connects to both chains, starts their event hubs and
//! TxEngines, finds the open channels the filter allows, runs one [`run_worker`] per channel and
//! restarts a failed worker with exponential backoff and jitter. On shutdown it stops the
//! workers, lets in-flight txs confirm for up to `shutdown_grace`, then stops everything.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn, Instrument};

use super::cache::SequenceCache;
use super::worker::{restart_delay, run_worker, ChannelEnd, ChannelSpec};
use super::ChainHandle;
use crate::chain::events::EventHub;
use crate::chain::query::{IbcQuerier, QueryError};
use crate::chain::rpc::{RpcClient, RpcError};
use crate::config::{ChainConfig, Config};
use crate::tx::engine::TxEngine;

/// How often the supervisor looks for newly opened channels.
pub const RESCAN_INTERVAL: Duration = Duration::from_secs(30);

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
}

/// The signing keys of the two chains.
pub struct PairKeys {
    /// Signs on chain A.
    pub a: devnet::keys::AccountKey,
    /// Signs on chain B.
    pub b: devnet::keys::AccountKey,
}

/// Runs the relayer for `config` until `shutdown` is cancelled, then drains and returns.
pub async fn run(
    config: Config,
    keys: PairKeys,
    shutdown: CancellationToken,
) -> Result<(), SupervisorError> {
    let infra = CancellationToken::new();
    let mut infra_tasks = JoinSet::new();
    let (a, b) = connect(&config, keys, &infra, &mut infra_tasks).await?;
    let cache = Arc::new(SequenceCache::new(5, Duration::from_millis(500)));
    let workers_token = shutdown.child_token();
    let mut workers = JoinSet::new();
    let mut running: HashSet<(String, String)> = HashSet::new();
    info!(a = %a.config.id, b = %b.config.id, "relayer started");
    loop {
        match discover(&config, &a, &b).await {
            Ok(specs) => {
                for spec in specs {
                    let id = (spec.a.port.clone(), spec.a.channel.clone());
                    if running.insert(id) {
                        info!(channel = %spec.name(), counterparty = %format!("{}/{}", spec.b.port, spec.b.channel), ordered = spec.ordered, "starting channel worker");
                        workers.spawn(supervise(
                            Arc::new(spec),
                            cache.clone(),
                            workers_token.clone(),
                        ));
                    }
                }
            }
            Err(e) => warn!(error = %e, "looking for channels failed; retrying"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(RESCAN_INTERVAL) => {}
            Some(_) = workers.join_next(), if !workers.is_empty() => {}
        }
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
async fn supervise(spec: Arc<ChannelSpec>, cache: Arc<SequenceCache>, token: CancellationToken) {
    let mut failures = 0u32;
    let span = tracing::info_span!("worker", channel = %spec.name());
    async move {
        loop {
            let started = tokio::time::Instant::now();
            match run_worker(spec.clone(), cache.clone(), token.clone()).await {
                Ok(()) if token.is_cancelled() => return,
                Ok(()) => warn!("worker stopped on its own; restarting"),
                Err(e) => error!(error = %e, "worker failed; restarting"),
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

async fn connect(
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

/// The open channels between A and B that the filter allows.
pub async fn discover(
    config: &Config,
    a: &Arc<ChainHandle>,
    b: &Arc<ChainHandle>,
) -> Result<Vec<ChannelSpec>, QueryError> {
    use ibc_proto::ibc::core::channel::v1::{Order, State};
    let mut specs = Vec::new();
    for ch in a.query.channels().await? {
        if ch.state != State::Open as i32
            || !config.relay.channels.permits(&ch.port_id, &ch.channel_id)
        {
            continue;
        }
        let Some(cp) = ch.counterparty.clone() else {
            continue;
        };
        let Some(conn_id) = ch.connection_hops.first() else {
            continue;
        };
        let Some(conn_a) = a.query.connection(conn_id).await? else {
            continue;
        };
        let Some(conn_cp) = conn_a.counterparty.clone() else {
            continue;
        };
        // The counterparty channel must exist on B and point back at us.
        let Some(ch_b) = b.query.channel(&cp.port_id, &cp.channel_id).await? else {
            continue;
        };
        let back = ch_b.counterparty.clone().unwrap_or_default();
        if back.channel_id != ch.channel_id || ch_b.state != State::Open as i32 {
            continue;
        }
        // The connection's client must be a client of chain B.
        match a.query.client_state(&conn_a.client_id).await? {
            Some(cs) if cs.chain_id == b.config.id => {}
            _ => continue,
        }
        specs.push(ChannelSpec {
            a: ChannelEnd {
                chain: a.clone(),
                port: ch.port_id.clone(),
                channel: ch.channel_id.clone(),
                client_id: conn_a.client_id.clone(),
            },
            b: ChannelEnd {
                chain: b.clone(),
                port: cp.port_id.clone(),
                channel: cp.channel_id.clone(),
                client_id: conn_cp.client_id.clone(),
            },
            ordered: ch.ordering == Order::Ordered as i32,
            clear_interval: config.relay.clear_interval,
            clear_on_start: config.relay.clear_on_start,
        });
    }
    Ok(specs)
}
