//! `arke clear`: relay everything pending on a pair (or one channel) once, then exit.
//!
//! [`clear_once`] is the library entry: it connects to both chains the way the daemon does
//! (event hubs and TxEngines signing with the relayer keys), finds the open channels (all those
//! the `[relay] channels` filter allows, or the one asked for, whatever the filter says), and
//! runs rounds of the daemon's clearing until nothing is left:
//!
//! 1. per channel and direction, [`clearing::pending_packets`] (commitments the destination has
//!    not received) and [`clearing::pending_acks`] (acks whose commitment still exists);
//! 2. each pending packet becomes a `MsgRecvPacket` on the destination, or a `MsgTimeout` on the
//!    source when it has expired on the destination ([`worker::timed_out`], the daemon's
//!    decision); each ack a `MsgAcknowledgement` on the source; all go to the TxEngines at once
//!    and every outcome is awaited;
//! 3. once both chains have a block above the txs just included, the next round finds the
//!    acknowledgements the receives wrote, and retries retryable failures.
//!
//! Clearing stops when a round finds nothing to do (steps that failed for good are not tried
//! again), or after [`MAX_FRUITLESS_ROUNDS`] rounds in a row in which nothing succeeded. The
//! command prints a progress bar on a terminal (plain lines otherwise) and a summary, and exits
//! non-zero when any step failed.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::Args;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use serde::Serialize;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::create::block_on;
use super::{CliError, ConfigArg};
use crate::chain::types::{RelayItem, RelayKind};
use crate::config::{ChannelFilter, Config};
use crate::relay::cache::CacheKey;
use crate::relay::clearing;
use crate::relay::supervisor::{connect, discover, PairKeys};
use crate::relay::worker::{self, ChannelSpec, Job, Side};
use crate::relay::ChainHandle;
use crate::tx::engine::Outcome;
use crate::tx::keys::KeyStore;

/// Rounds in a row without a single successful step after which clearing gives up.
pub const MAX_FRUITLESS_ROUNDS: u32 = 3;
/// Upper bound on rounds (each round handles up to [`clearing::CLEAR_LIMIT`] per direction).
pub const MAX_ROUNDS: u32 = 1000;

/// `arke clear --config FILE [--channel C]`.
#[derive(Debug, Args)]
pub struct ClearArgs {
    /// The chain pair.
    #[command(flatten)]
    pub config: ConfigArg,
    /// Only this channel (its id on chain a, or `b:channel-N` for an id on chain b).
    #[arg(long)]
    pub channel: Option<String>,
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

fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::Failed(e.to_string())
}

/// One step to submit in a round.
struct Step {
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
) -> Result<ClearReport, CliError> {
    let mut config = config.clone();
    if channel.is_some() {
        // An explicitly named channel is cleared whatever the daemon's filter says.
        config.relay.channels = ChannelFilter::default();
    }
    let infra = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let (a, b) = connect(&config, keys, &infra, &mut tasks)
        .await
        .map_err(|e| failed(format!("connecting: {e}")))?;
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
    a: &std::sync::Arc<ChainHandle>,
    b: &std::sync::Arc<ChainHandle>,
    channel: Option<&str>,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<ClearReport, CliError> {
    let (a_id, b_id) = (&config.chains.a.id, &config.chains.b.id);
    let mut specs = discover(config, a, b).await.map_err(|e| {
        failed(format!(
            "looking for open channels between {a_id} and {b_id}: {e}"
        ))
    })?;
    if let Some(wanted) = channel {
        let (on_b, id) = match wanted.split_once(':') {
            Some((side, id)) if side == "b" || side == b_id.as_str() => (true, id),
            Some((side, id)) if side == "a" || side == a_id.as_str() => (false, id),
            _ => (false, wanted),
        };
        specs.retain(|s| {
            if on_b {
                s.b.channel == id
            } else {
                s.a.channel == id
            }
        });
        if specs.is_empty() {
            return Err(failed(format!(
                "no open channel {wanted} between {a_id} and {b_id}"
            )));
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
        let steps = find_steps(&specs, &outcomes).await?;
        if steps.is_empty() {
            break;
        }
        report.rounds = round;
        progress(Progress::Round {
            round,
            items: steps.len(),
        });
        let total = steps.len();
        let mut pending = FuturesUnordered::new();
        for step in steps {
            let spec = &specs[step.spec];
            let from = spec.end(step.job.from);
            let submit_on = match step.kind {
                RelayKind::Recv => spec.end(step.job.from.other()),
                RelayKind::Ack | RelayKind::Timeout => from,
            };
            let key = worker::key(&from.chain.config.id, &step.job.packet, step.kind.clone());
            let label = format!(
                "{} {}/{} #{} {}",
                from.chain.config.id, from.port, from.channel, step.job.packet.sequence, step.kind
            );
            let item = RelayItem {
                kind: step.kind,
                packet: step.job.packet,
                ack: step.job.ack,
                ordered: spec.ordered,
            };
            let rx = submit_on
                .chain
                .engine
                .submit(&submit_on.client_id, item)
                .await;
            let chain = submit_on.chain.clone();
            pending.push(async move {
                let outcome = rx.await.unwrap_or(Outcome::Failed {
                    reason: "tx engine stopped before reporting".into(),
                    retryable: true,
                });
                (key, label, chain, outcome)
            });
        }
        let mut done = 0;
        let mut succeeded = false;
        // Highest inclusion height per chain id: the next round waits for the block above.
        let mut included: HashMap<String, (std::sync::Arc<ChainHandle>, u64)> = HashMap::new();
        while let Some((key, label, chain, outcome)) = pending.next().await {
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
            (Outcome::Done { .. }, RelayKind::Timeout) => report.timed_out += 1,
            (Outcome::Redundant, _) => report.already_relayed += 1,
            (Outcome::Failed { reason, .. }, _) => report.failed.push(format!("{label}: {reason}")),
        }
    }
    report.failed.sort();
    Ok(report)
}

/// What is pending on every channel, minus steps that already failed for good.
async fn find_steps(
    specs: &[ChannelSpec],
    outcomes: &HashMap<CacheKey, (String, Outcome)>,
) -> Result<Vec<Step>, CliError> {
    let mut steps = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        for from in [Side::A, Side::B] {
            let src = spec.end(from);
            let dst = spec.end(from.other());
            let what = |step: &str, e: &dyn std::fmt::Display| {
                failed(format!(
                    "{} {}/{}: {step}: {e}",
                    src.chain.config.id, src.port, src.channel
                ))
            };
            let packets = clearing::pending_packets(spec, from)
                .await
                .map_err(|e| what("pending packets", &e))?
                .jobs;
            if !packets.is_empty() {
                let (height, time_ns) = dst
                    .chain
                    .query
                    .latest_height_and_time()
                    .await
                    .map_err(|e| what("destination status", &e))?;
                for job in packets {
                    let kind = if worker::timed_out(&job.packet, height, u128::from(time_ns)) {
                        RelayKind::Timeout
                    } else {
                        RelayKind::Recv
                    };
                    steps.push(Step { spec: i, job, kind });
                }
            }
            let acks = clearing::pending_acks(spec, from)
                .await
                .map_err(|e| what("pending acknowledgements", &e))?;
            steps.extend(acks.into_iter().map(|job| Step {
                spec: i,
                job,
                kind: RelayKind::Ack,
            }));
        }
    }
    steps.retain(|s| {
        let src = &specs[s.spec].end(s.job.from).chain.config.id;
        let key = worker::key(src, &s.job.packet, s.kind.clone());
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
    Ok(steps)
}

/// Waits until `chain` has a block above `height` (so proofs of what that block wrote verify).
async fn wait_above(chain: &ChainHandle, height: u64) -> Result<(), CliError> {
    let limit = (chain.config.max_block_time * 3).max(Duration::from_secs(30));
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match chain.query.latest_height().await {
            Ok(h) if h > height => return Ok(()),
            Ok(_) => {}
            Err(e) => tracing::debug!(chain = %chain.config.id, error = %e, "latest height"),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(failed(format!(
                "{}: waiting for a block above {height}: none within {limit:?}",
                chain.config.id
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Renders [`Progress`] on stderr: a `\r[####----] n/m` bar on a terminal, plain lines (at
/// each round and every tenth of it) otherwise.
struct ProgressPrinter {
    terminal: bool,
    round: u32,
    last_tenth: usize,
}

impl ProgressPrinter {
    fn show(&mut self, p: Progress) {
        let mut err = std::io::stderr().lock();
        match p {
            Progress::Round { round, items } => {
                self.round = round;
                self.last_tenth = 0;
                if self.terminal {
                    let _ = write!(err, "round {round}: ");
                } else {
                    let _ = writeln!(err, "round {round}: {items} steps to relay");
                }
            }
            Progress::Step { done, total } if self.terminal => {
                const WIDTH: usize = 30;
                let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
                let _ = write!(
                    err,
                    "\rround {}: [{}{}] {done}/{total}",
                    self.round,
                    "#".repeat(filled),
                    "-".repeat(WIDTH - filled)
                );
                if done == total {
                    let _ = writeln!(err);
                }
                let _ = err.flush();
            }
            Progress::Step { done, total } => {
                let tenth = (done * 10).checked_div(total).unwrap_or(10);
                if tenth > self.last_tenth || done == total {
                    self.last_tenth = tenth;
                    let _ = writeln!(err, "round {}: {done}/{total} done", self.round);
                }
            }
        }
    }
}

/// Runs `arke clear`.
pub fn run(args: ClearArgs) -> Result<(), CliError> {
    let config = Config::load(&args.config.config)?;
    let key_a = KeyStore::new(&config.chains.a.key_store_folder).load(&config.chains.a.key_name)?;
    let key_b = KeyStore::new(&config.chains.b.key_store_folder).load(&config.chains.b.key_name)?;
    let keys = PairKeys {
        a: key_a.account_key().clone(),
        b: key_b.account_key().clone(),
    };
    let mut printer = ProgressPrinter {
        terminal: std::io::stderr().is_terminal(),
        round: 0,
        last_tenth: 0,
    };
    let report = block_on(async {
        clear_once(&config, keys, args.channel.as_deref(), &mut |p| {
            printer.show(p)
        })
        .await
    })??;
    if report.channels.is_empty() {
        println!(
            "no open channels between {} and {}",
            config.chains.a.id, config.chains.b.id
        );
        return Ok(());
    }
    println!("cleared {}", report.channels.join(", "));
    println!(
        "received {}, acknowledged {}, timed out {}, already relayed {}, failed {}",
        report.received,
        report.acked,
        report.timed_out,
        report.already_relayed,
        report.failed.len()
    );
    for f in &report.failed {
        println!("failed: {f}");
    }
    if report.failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Partial(format!(
            "{} relay steps failed",
            report.failed.len()
        )))
    }
}
