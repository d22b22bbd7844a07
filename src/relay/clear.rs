//! Clearing a pair once (`arke clear`): relay everything pending on the pair (or one channel),
//! then stop.
//!
//! [`clear_once`] connects to both chains the way the daemon does (event hubs and TxEngines
//! signing with the relayer keys), scans `block_results` from the daemon's cursors (`cursor`;
//! read, never written) so that packet data needs no `tx_search`, finds the open channels
//! (`discovery`: all those the `[relay] channels` filter allows, or the one asked for, whatever
//! the filter says), and runs rounds of the daemon's clearing until nothing is left:
//!
//! 1. per channel and direction, [`clearing::pending_packets`] (commitments the destination has
//!    not received) and [`clearing::pending_acks`] (acks whose commitment still exists), the
//!    same queries as a worker's clearing round;
//! 2. each job gets the step a worker would give it (`step::step_for`: `MsgRecvPacket` on the
//!    destination, or `MsgTimeout` on the source once expired on the destination; for an ack
//!    `MsgAcknowledgement` on the source), and goes to the TxEngines through `step::submit`;
//!    all of a round's steps go at once and every outcome is awaited;
//! 3. once both chains have a block above the txs just included, the next round finds the
//!    acknowledgements the receives wrote, and retries retryable failures.
//!
//! Clearing stops when a round finds nothing to do (steps that failed for good are not tried
//! again), or after [`MAX_FRUITLESS_ROUNDS`] rounds in a row in which nothing succeeded.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use serde::Serialize;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::cache::CacheKey;
use super::channel::{ChannelSpec, Job, Side};
use super::discovery::{discover, ChannelChoice};
use super::step::{self, Task};
use super::supervisor::{connect, PairKeys, SupervisorError};
use super::{clearing, cursor, ChainHandle};
use crate::chain::query::QueryError;
use crate::chain::types::RelayKind;
use crate::config::{ChannelFilter, Config, HumanDuration};
use crate::tx::engine::Outcome;

/// Rounds in a row without a single successful step after which clearing gives up.
pub(crate) const MAX_FRUITLESS_ROUNDS: u32 = 3;
/// Upper bound on rounds (each round handles up to [`clearing::CLEAR_LIMIT`] per direction).
pub(crate) const MAX_ROUNDS: u32 = 1000;

/// Why clearing could not run (a step that fails is not an error: it is in the report).
#[derive(Debug, thiserror::Error)]
pub enum ClearError {
    /// The chains could not be reached.
    #[error("connecting: {0}")]
    Connect(#[source] SupervisorError),
    /// The channel listing failed.
    #[error("looking for open channels between {a} and {b}: {source}")]
    Discover {
        /// Chain A.
        a: String,
        /// Chain B.
        b: String,
        /// Why.
        source: QueryError,
    },
    /// The channel asked for is not an open channel of the pair.
    #[error("no open channel {channel} between {a} and {b}")]
    NoSuchChannel {
        /// As asked.
        channel: String,
        /// Chain A.
        a: String,
        /// Chain B.
        b: String,
    },
    /// Finding the pending work failed.
    #[error("{chain} {port}/{channel}: {step}: {source}")]
    Query {
        /// The sending chain.
        chain: String,
        /// Its port.
        port: String,
        /// Its channel.
        channel: String,
        /// What was asked.
        step: &'static str,
        /// Why.
        source: QueryError,
    },
    /// A chain made no block above the txs just included.
    #[error("{chain}: waiting for a block above {height}: none within {}", HumanDuration(*limit))]
    NoNewBlock {
        /// The chain.
        chain: String,
        /// The height of the last inclusion.
        height: u64,
        /// How long we waited.
        limit: Duration,
    },
}

/// What [`clear_once`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClearReport {
    /// The channels cleared, `port/channel` on chain a.
    pub channels: Vec<String>,
    /// Packets delivered (`MsgRecvPacket`).
    pub received: usize,
    /// Acknowledgements relayed back (`MsgAcknowledgement`).
    pub acked: usize,
    /// Packets timed out on their source (`MsgTimeout`).
    pub timed_out: usize,
    /// Steps someone else did first.
    pub already_relayed: usize,
    /// Steps that failed: `chain port/channel #seq step: reason`.
    pub failed: Vec<String>,
    /// Rounds run.
    pub rounds: u32,
}

/// Progress of [`clear_once`], for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// A round starts with `items` steps to submit.
    Round {
        /// 1-based round number.
        round: u32,
        /// Steps in this round.
        items: usize,
    },
    /// `done` of the round's `total` steps have an outcome.
    Step {
        /// Finished steps.
        done: usize,
        /// Steps in the round.
        total: usize,
    },
}

/// One step to submit in a round.
struct Planned {
    spec: usize,
    job: Job,
    kind: RelayKind,
}

/// Relays everything pending between the pair of `config` once (only `channel` when given: its
/// id on chain a, or `b:channel-N`), signing with `keys`, and reports what happened. `progress`
/// is told about each round and each outcome.
pub async fn clear_once(
    config: &Config,
    keys: PairKeys,
    channel: Option<&str>,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<ClearReport, ClearError> {
    let mut config = config.clone();
    if channel.is_some() {
        // An explicitly named channel is cleared whatever the daemon's filter says.
        config.relay.channels = ChannelFilter::default();
    }
    let infra = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let (a, b) = connect(&config, keys, &infra, &mut tasks)
        .await
        .map_err(ClearError::Connect)?;
    // The daemon's cursors tell which blocks hold what it has not finished; read, never written.
    cursor::start(
        config.relay.state_dir.as_deref(),
        [&a, &b],
        cursor::Mode::ReadOnly,
        &infra,
        &mut tasks,
    );
    for chain in [&a, &b] {
        let _ = chain.hub.ledger().filled().wait_for(|done| *done).await;
    }
    let result = clear_pair(&config, &a, &b, channel, progress).await;
    infra.cancel();
    let drained = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(10), drained)
        .await
        .is_err()
    {
        tasks.abort_all();
    }
    result
}

async fn clear_pair(
    config: &Config,
    a: &Arc<ChainHandle>,
    b: &Arc<ChainHandle>,
    channel: Option<&str>,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<ClearReport, ClearError> {
    let (a_id, b_id) = (&config.chains.a.id, &config.chains.b.id);
    let found = discover(config, a, b, &|_, _| false)
        .await
        .map_err(|source| ClearError::Discover {
            a: a_id.clone(),
            b: b_id.clone(),
            source,
        })?;
    // A channel that could not be checked cannot be cleared: say so rather than skip it.
    if let Some((_, source)) = found.failed.into_iter().next() {
        return Err(ClearError::Discover {
            a: a_id.clone(),
            b: b_id.clone(),
            source,
        });
    }
    let mut specs = found.specs;
    if let Some(wanted) = channel {
        let choice = ChannelChoice::parse(wanted, a_id, b_id);
        specs.retain(|s| choice.matches(&s.a.channel, &s.b.channel));
        if specs.is_empty() {
            return Err(ClearError::NoSuchChannel {
                channel: wanted.to_string(),
                a: a_id.clone(),
                b: b_id.clone(),
            });
        }
    }
    let mut report = ClearReport {
        channels: specs.iter().map(ChannelSpec::name).collect(),
        ..ClearReport::default()
    };
    // The last outcome of every step tried, by the daemon's cache key.
    let mut outcomes: HashMap<CacheKey, (String, Outcome)> = HashMap::new();
    let mut fruitless = 0;
    for round in 1..=MAX_ROUNDS {
        let planned = plan_round(&specs, &outcomes).await?;
        if planned.is_empty() {
            break;
        }
        report.rounds = round;
        progress(Progress::Round {
            round,
            items: planned.len(),
        });
        let total = planned.len();
        let mut in_flight = FuturesUnordered::new();
        for Planned { spec, job, kind } in planned {
            let spec = &specs[spec];
            let from = spec.end(job.from);
            let chain = spec.end(step::submit_side(&kind, job.from)).chain.clone();
            let key = step::job_key(spec, &job, kind.clone());
            let label = format!(
                "{} {}/{} #{} {kind}",
                from.chain.config.id, from.port, from.channel, job.packet.sequence
            );
            let outcome = step::submit(spec, &job, kind).await;
            in_flight.push(async move { (key, label, chain, outcome.await) });
        }
        let mut done = 0;
        let mut succeeded = false;
        // Highest inclusion height per chain id: the next round waits for the block above.
        let mut included: HashMap<String, (Arc<ChainHandle>, u64)> = HashMap::new();
        while let Some((key, label, chain, outcome)) = in_flight.next().await {
            done += 1;
            progress(Progress::Step { done, total });
            match &outcome {
                Outcome::Done { height, .. } => {
                    succeeded = true;
                    let entry = included
                        .entry(chain.config.id.clone())
                        .or_insert((chain.clone(), 0));
                    entry.1 = entry.1.max(*height);
                }
                Outcome::Redundant => succeeded = true,
                // Pending in a mempool: the next round looks at the chain again.
                Outcome::RedundantInMempool => {}
                Outcome::Failed { reason, .. } => {
                    tracing::warn!(step = %label, %reason, "clear: step failed");
                }
            }
            outcomes.insert(key, (label, outcome));
        }
        fruitless = if succeeded { 0 } else { fruitless + 1 };
        if fruitless >= MAX_FRUITLESS_ROUNDS {
            break;
        }
        for (chain, height) in included.values() {
            wait_above(chain, *height).await?;
        }
    }
    for (key, (label, outcome)) in outcomes {
        match (outcome, key.kind) {
            (Outcome::Done { .. }, RelayKind::Recv) => report.received += 1,
            (Outcome::Done { .. }, RelayKind::Ack) => report.acked += 1,
            (Outcome::Done { .. }, RelayKind::Timeout | RelayKind::TimeoutOnClose) => {
                report.timed_out += 1
            }
            (Outcome::Redundant | Outcome::RedundantInMempool, _) => report.already_relayed += 1,
            (Outcome::Failed { reason, .. }, _) => report.failed.push(format!("{label}: {reason}")),
        }
    }
    report.failed.sort();
    Ok(report)
}

/// What is pending on every channel, as steps, minus steps that already failed for good.
async fn plan_round(
    specs: &[ChannelSpec],
    outcomes: &HashMap<CacheKey, (String, Outcome)>,
) -> Result<Vec<Planned>, ClearError> {
    let mut planned = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        for from in [Side::A, Side::B] {
            let src = spec.end(from);
            let dst = spec.end(from.other());
            let failed = |step: &'static str| {
                move |source| ClearError::Query {
                    chain: src.chain.config.id.clone(),
                    port: src.port.clone(),
                    channel: src.channel.clone(),
                    step,
                    source,
                }
            };
            let found = clearing::pending_packets(spec, from)
                .await
                .map_err(failed("pending packets"))?;
            let packets = found.jobs;
            if !packets.is_empty() {
                let destination = step::chain_status(&dst.chain)
                    .await
                    .map_err(failed("destination status"))?;
                for job in packets {
                    let to = step::Destination::of(spec, &job, Some(destination));
                    let kind = step::step_for(Task::Pump, &job, Some(to));
                    planned.push(Planned { spec: i, job, kind });
                }
            }
            let acks = clearing::pending_acks(spec, from, &found.open)
                .await
                .map_err(failed("pending acknowledgements"))?;
            for job in acks {
                let kind = step::step_for(Task::Sweep, &job, None);
                planned.push(Planned { spec: i, job, kind });
            }
        }
    }
    planned.retain(|p| {
        let key = step::job_key(&specs[p.spec], &p.job, p.kind.clone());
        !matches!(
            outcomes.get(&key),
            Some((
                _,
                Outcome::Failed {
                    retryable: false,
                    ..
                }
            ))
        )
    });
    Ok(planned)
}

/// Waits until `chain` has a block above `height` (so proofs of what that block wrote verify).
async fn wait_above(chain: &ChainHandle, height: u64) -> Result<(), ClearError> {
    let limit = (chain.config.max_block_time * 3).max(Duration::from_secs(30));
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match chain.query.latest_height().await {
            Ok(h) if h > height => return Ok(()),
            Ok(_) => {}
            Err(e) => tracing::debug!(chain = %chain.config.id, error = %e, "latest height"),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ClearError::NoNewBlock {
                chain: chain.config.id.clone(),
                height,
                limit,
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
