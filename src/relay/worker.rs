//! The channel worker: one per open channel, a `JoinSet` of three tasks sharing one
//! cancellation token.
//!
//! - **source**: `send_packet` and `write_acknowledgement` events of this channel from both
//!   chains' event hubs, plus clearing on start and every `clear_interval` blocks (skipped while
//!   the channel is quiet, see `relay::schedule`), turned into jobs for the pump (packets to
//!   deliver or time out) and the sweep (acks to return);
//! - **pump**: for each sent packet, `MsgRecvPacket` on the destination, or `MsgTimeout` on the
//!   source once the packet has expired on the destination;
//! - **sweep**: for each acknowledgement written on the destination, `MsgAcknowledgement` on the
//!   source.
//!
//! A job waits until its source chain has a block above the event's height (the proof is taken
//! at `H` and verified against header `H + 1`), then goes to the right chain's TxEngine
//! (`relay::step` decides the message and the chain; `arke clear` does the same). The
//! sequence cache keeps a packet from being submitted twice; retryable failures come back after
//! a backoff; the first task that fails cancels its siblings and the supervisor restarts the
//! worker. On an ORDERED channel the pump and the sweep go through `relay::ordered`: strictly
//! in sequence order, one run at a time, a failed job holding the later ones.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn, Instrument};

use super::cache::{CacheKey, Claim, Next, SequenceCache};
use super::channel::{ChannelSpec, Job, Side};
use super::ordered::OrderedGate;
use super::schedule::ClearSchedule;
use super::shard::{self, Deferrals};
use super::step::{self, Task};
use super::{clearing, report, ChainHandle};
use crate::chain::events::ledger::Kind;
use crate::chain::types::{PacketEvent, RelayKind};
use crate::tx::engine::Outcome;

/// Why a worker stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WorkerError {
    /// A task ended although nothing asked it to.
    #[error("{task} task ended: {reason}")]
    TaskEnded {
        /// Which task.
        task: &'static str,
        /// Why.
        reason: String,
    },
    /// A task panicked.
    #[error("a task panicked: {0}")]
    Panicked(String),
}

/// Capacity of the pump and sweep queues.
pub(crate) const QUEUE_CAPACITY: usize = 20_000;

/// Runs one channel's worker until `token` is cancelled (Ok) or a task fails (Err).
pub(crate) async fn run_worker(
    spec: Arc<ChannelSpec>,
    cache: Arc<SequenceCache>,
    token: CancellationToken,
) -> Result<(), WorkerError> {
    let stop = token;
    let token = stop.child_token();
    let (pump_tx, pump_rx) = mpsc::channel::<Job>(QUEUE_CAPACITY);
    let (sweep_tx, sweep_rx) = mpsc::channel::<Job>(QUEUE_CAPACITY);
    let span = tracing::info_span!("channel", channel = %spec.name());
    let mut set = JoinSet::new();
    set.spawn(
        source(
            spec.clone(),
            cache.clone(),
            pump_tx.clone(),
            sweep_tx.clone(),
            token.clone(),
        )
        .instrument(span.clone()),
    );
    set.spawn(
        pipeline(
            Task::Pump,
            spec.clone(),
            cache.clone(),
            pump_rx,
            pump_tx,
            token.clone(),
        )
        .instrument(span.clone()),
    );
    set.spawn(
        pipeline(
            Task::Sweep,
            spec.clone(),
            cache.clone(),
            sweep_rx,
            sweep_tx,
            token.clone(),
        )
        .instrument(span),
    );
    let mut result = Ok(());
    while let Some(joined) = set.join_next().await {
        let outcome = match joined {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(WorkerError::Panicked(e.to_string())),
        };
        if let Err(e) = outcome {
            if result.is_ok() && !token.is_cancelled() {
                result = Err(e);
            }
        }
        // The first task to stop takes its siblings with it.
        token.cancel();
    }
    for side in [Side::A, Side::B] {
        let end = spec.end(side);
        let (chain, port, channel) = (&end.chain.config.id, &end.port, &end.channel);
        if stop.is_cancelled() {
            // Stopped for good (reload or shutdown): nothing of this channel is needed.
            cache.forget_channel(chain, port, channel);
        } else {
            // A failed task may have left claims behind; clearing must be able to take them.
            cache.release_in_flight(chain, port, channel);
        }
    }
    result
}

/// Turns hub events and clearing results into pump and sweep jobs.
async fn source(
    spec: Arc<ChannelSpec>,
    cache: Arc<SequenceCache>,
    pump: mpsc::Sender<Job>,
    sweep: mpsc::Sender<Job>,
    token: CancellationToken,
) -> Result<(), WorkerError> {
    let mut events_a = spec.a.chain.hub.subscribe(&spec.a.port, &spec.a.channel);
    let mut events_b = spec.b.chain.hub.subscribe(&spec.b.port, &spec.b.channel);
    // A hub that had to drop this channel's events (its queue was full) says so: clear then.
    let lagged_a = spec.a.chain.hub.lagged(&spec.a.port, &spec.a.channel);
    let lagged_b = spec.b.chain.hub.lagged(&spec.b.port, &spec.b.channel);
    // This channel's packets and acks hold back each chain's cursor until they are finished.
    let end_key = |s: Side| (spec.end(s).port.clone(), spec.end(s).channel.clone());
    let ledger = |s: Side| spec.end(s).chain.hub.ledger();
    for s in [Side::A, Side::B] {
        ledger(s).watch(Kind::Send, end_key(s));
        ledger(s).watch(Kind::WriteAck, end_key(s));
    }
    // A scan from the cursor may still be running: clear again once it is done.
    let mut filled = [Side::A, Side::B].map(|s| ledger(s).filled());
    let mut scan_pending = filled.iter().any(|f| !*f.borrow());
    let mut height_a = spec.a.chain.hub.latest_height();
    // Events the hubs could not route: a quiet channel must look at the chain again.
    let (mut gaps_a, mut gaps_b) = (spec.a.chain.hub.gaps(), spec.b.chain.hub.gaps());
    let mut schedule = ClearSchedule::new(spec.clear_interval, spec.rescan_interval);
    let clear_now = crate::telemetry::clear_trigger(&report::channel_info(&spec));
    // Clears, and tells the schedule what the round found.
    macro_rules! clear_round {
        () => {{
            let quiet = clear(&spec, &cache, &pump, &sweep, &token).await;
            schedule.cleared(*height_a.borrow(), quiet, Instant::now());
            // What the work cleared since the last round may have freed can go back.
            super::memory::settled();
        }};
    }
    // A channel with a CLOSED end has no events to wait for: its work is what clearing finds.
    if spec.clear_on_start || spec.is_closed(Side::A) || spec.is_closed(Side::B) {
        clear_round!();
    }
    loop {
        let (side, event) = tokio::select! {
            _ = token.cancelled() => return Ok(()),
            e = events_a.recv() => match e {
                Some(e) => (Side::A, e),
                None => return Err(WorkerError::TaskEnded { task: "source", reason: "chain A event hub stopped".into() }),
            },
            e = events_b.recv() => match e {
                Some(e) => (Side::B, e),
                None => return Err(WorkerError::TaskEnded { task: "source", reason: "chain B event hub stopped".into() }),
            },
            changed = height_a.changed() => {
                if changed.is_err() {
                    return Err(WorkerError::TaskEnded { task: "source", reason: "chain A event hub stopped".into() });
                }
                let h = *height_a.borrow_and_update();
                if schedule.due(h, Instant::now()) {
                    clear_round!();
                }
                continue;
            }
            _ = clear_now.notified() => {
                info!("clearing requested");
                clear_round!();
                continue;
            }
            _ = async { tokio::select! { _ = lagged_a.notified() => {}, _ = lagged_b.notified() => {} } } => {
                warn!("the event hub dropped events of this channel (queue full); clearing to catch up");
                clear_round!();
                continue;
            }
            Ok(()) = async { tokio::select! { r = gaps_a.changed() => r, r = gaps_b.changed() => r } } => {
                gaps_a.borrow_and_update();
                gaps_b.borrow_and_update();
                debug!("an event hub passed over events it could not route; clearing");
                clear_round!();
                continue;
            }
            _ = async {
                for f in &mut filled {
                    let _ = f.wait_for(|done| *done).await;
                }
            }, if scan_pending => {
                scan_pending = false;
                info!("block_results scan from the cursor done; clearing");
                clear_round!();
                continue;
            }
        };
        schedule.event();
        report::observe_event(&spec, side, &event);
        let src_chain = |s: Side| spec.end(s).chain.config.id.clone();
        match event {
            PacketEvent::Send { height, packet } => {
                let job = Job {
                    from: side,
                    packet,
                    ack: Vec::new(),
                    event_height: height,
                };
                if !send_job(&pump, job, &token).await {
                    return Ok(());
                }
            }
            PacketEvent::WriteAck {
                height,
                packet,
                ack,
            } => {
                // Written on `side`, the packet came from the other side.
                let job = Job {
                    from: side.other(),
                    packet,
                    ack,
                    event_height: height,
                };
                if !send_job(&sweep, job, &token).await {
                    return Ok(());
                }
            }
            PacketEvent::Recv { packet, .. } => {
                // Its data on the sending chain is needed no more.
                ledger(side.other()).forget(Kind::Send, &end_key(side.other()), packet.sequence);
                // Received on `side` by anyone: delivery of a packet from the other side is done.
                cache.mark_done(&step::key(
                    &src_chain(side.other()),
                    &packet,
                    RelayKind::Recv,
                ));
            }
            PacketEvent::Acknowledged { packet, .. } => {
                // The acknowledgement written on the other chain is needed no more.
                ledger(side.other()).forget(
                    Kind::WriteAck,
                    &end_key(side.other()),
                    packet.sequence,
                );
                cache.mark_done(&step::key(&src_chain(side), &packet, RelayKind::Ack));
            }
            PacketEvent::TimedOut { packet, .. } => {
                cache.mark_done(&step::key(&src_chain(side), &packet, RelayKind::Timeout));
            }
        }
    }
}

async fn send_job(queue: &mpsc::Sender<Job>, job: Job, token: &CancellationToken) -> bool {
    tokio::select! {
        _ = token.cancelled() => false,
        r = queue.send(job) => r.is_ok(),
    }
}

/// Runs clearing in both directions and queues what it finds. True when the channel is quiet:
/// both directions were cleared and no commitment is open on either end.
async fn clear(
    spec: &ChannelSpec,
    cache: &SequenceCache,
    pump: &mpsc::Sender<Job>,
    sweep: &mpsc::Sender<Job>,
    token: &CancellationToken,
) -> bool {
    let mut quiet = true;
    for from in [Side::A, Side::B] {
        let open = match clearing::pending_packets(spec, from).await {
            Ok(found) => {
                // A packet without a commitment is finished: forget it.
                let src = spec.end(from);
                cache.prune_settled(&src.chain.config.id, &src.port, &src.channel, &found.open);
                let jobs = found.jobs;
                report::cleared_packets(spec, from, &jobs);
                if !jobs.is_empty() {
                    info!(count = jobs.len(), from = ?from, "clearing: unreceived packets");
                }
                for job in jobs {
                    if !send_job(pump, job, token).await {
                        return false;
                    }
                }
                quiet &= found.open.is_empty();
                found.open
            }
            Err(e) => {
                // The acks are looked for among the same commitments: both wait for the next round.
                warn!(error = %e, "clearing failed; will retry at the next interval");
                quiet = false;
                continue;
            }
        };
        match clearing::pending_acks(spec, from, &open).await {
            Ok(jobs) => {
                report::cleared_acks(spec, from, &jobs);
                if !jobs.is_empty() {
                    info!(count = jobs.len(), from = ?from, "clearing: unrelayed acknowledgements");
                }
                for job in jobs {
                    if !send_job(sweep, job, token).await {
                        return false;
                    }
                }
            }
            Err(e) => {
                warn!(error = %e, "clearing acks failed; will retry at the next interval");
                quiet = false;
            }
        }
    }
    quiet
}

/// A relay step handed to a TxEngine: resolves to the job, its cache key and the outcome.
type InFlight = Pin<Box<dyn Future<Output = (Job, CacheKey, Outcome)> + Send>>;

/// The pump ([`Task::Pump`]: deliver or time out sent packets) or the sweep ([`Task::Sweep`]:
/// return acknowledgements).
async fn pipeline(
    task: Task,
    spec: Arc<ChannelSpec>,
    cache: Arc<SequenceCache>,
    mut queue: mpsc::Receiver<Job>,
    requeue: mpsc::Sender<Job>,
    token: CancellationToken,
) -> Result<(), WorkerError> {
    let mut waiting: Vec<Job> = Vec::new();
    let mut in_flight: FuturesUnordered<InFlight> = FuturesUnordered::new();
    let mut height_a = spec.a.chain.hub.latest_height();
    let mut height_b = spec.b.chain.hub.latest_height();
    let mut retries: JoinSet<()> = JoinSet::new();
    // ORDERED channels: jobs wait in the gate and go in sequence order, one run at a time.
    let mut gate = spec.ordered.then(OrderedGate::default);
    // Steps a peer ranked ahead should relay first (`relay::shard`): looked at on new heights.
    let mut deferrals = Deferrals::default();
    loop {
        let wake = gate.as_ref().and_then(OrderedGate::next_wake);
        // New heights matter only to jobs waiting for their proof height or their backup turn:
        // an idle pump or sweep does not wake at every block (with a thousand channels, that
        // is thousands of wake-ups a block for nothing). The current heights are read below
        // whatever woke the task.
        let watch_heights = !waiting.is_empty()
            || deferrals.len() > 0
            || gate.as_ref().is_some_and(|g| !g.holds_nothing());
        tokio::select! {
            _ = token.cancelled() => {
                // Let what was handed to the engines finish; the engines bound it by the
                // shutdown grace period.
                while let Some((job, key, outcome)) = in_flight.next().await {
                    record(&spec, &cache, &key, &job, &outcome);
                }
                retries.abort_all();
                return Ok(());
            }
            job = queue.recv() => match job {
                Some(job) => match gate.as_mut() {
                    Some(gate) => gate.push(job, Instant::now()),
                    None => waiting.push(job),
                },
                None => return Err(WorkerError::TaskEnded { task: task.name(), reason: "queue closed".into() }),
            },
            Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                finished(&spec, &cache, done, gate.as_mut(), &requeue, &mut retries).await;
                continue;
            }
            r = height_a.changed(), if watch_heights => if r.is_err() {
                return Err(WorkerError::TaskEnded { task: task.name(), reason: "chain A event hub stopped".into() });
            },
            r = height_b.changed(), if watch_heights => if r.is_err() {
                return Err(WorkerError::TaskEnded { task: task.name(), reason: "chain B event hub stopped".into() });
            },
            Some(_) = retries.join_next(), if !retries.is_empty() => continue,
            _ = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {}
        }
        // Drain whatever else is queued, then submit every job whose proof height exists.
        while let Ok(job) = queue.try_recv() {
            match gate.as_mut() {
                Some(gate) => gate.push(job, Instant::now()),
                None => waiting.push(job),
            }
        }
        let tops = [*height_a.borrow_and_update(), *height_b.borrow_and_update()];
        let provable = |job: &Job| {
            let top = tops[task.proof_side(job).index()];
            job.event_height == 0 || top > job.event_height
        };
        if deferrals.len() > 0 {
            for fut in release_deferred(&spec, &cache, &mut deferrals, tops).await {
                in_flight.push(fut);
            }
        }
        let ready: Vec<Job> = match gate.as_mut() {
            Some(gate) => gate.release(Instant::now(), provable),
            None => {
                let ready;
                (ready, waiting) = std::mem::take(&mut waiting).into_iter().partition(provable);
                ready
            }
        };
        if ready.is_empty() {
            continue;
        }
        let mut statuses: [Option<(u64, u64)>; 2] = [None, None];
        for job in ready {
            // Handing a long list to the engines waits on their queues: take the outcomes that
            // came back meanwhile, so they are recorded now and not after the whole list (an
            // ORDERED channel's run is short and its gate counts its runs: it waits).
            while gate.is_none() {
                let Some(Some(done)) = in_flight.next().now_or_never() else {
                    break;
                };
                finished(&spec, &cache, done, None, &requeue, &mut retries).await;
            }
            let from = job.from;
            if let Some(fut) = route(
                task,
                &spec,
                &cache,
                job,
                &mut statuses,
                (&mut deferrals, tops),
            )
            .await
            {
                if let Some(gate) = gate.as_mut() {
                    gate.started(from);
                }
                in_flight.push(fut);
            }
        }
    }
}

/// Handles the outcome of a step that came back: records it, confirms a close after an
/// ordered timeout, notes a closed destination after a failed delivery, and schedules a retry.
async fn finished(
    spec: &Arc<ChannelSpec>,
    cache: &SequenceCache,
    (job, key, outcome): (Job, CacheKey, Outcome),
    gate: Option<&mut OrderedGate>,
    requeue: &mpsc::Sender<Job>,
    retries: &mut JoinSet<()>,
) {
    let next = record(spec, cache, &key, &job, &outcome);
    if matches!(outcome, Outcome::Redundant | Outcome::RedundantInMempool) {
        // Someone else did it: perhaps a peer we took for silent.
        let side = step::submit_side(&key.kind, job.from);
        let chain = &spec.end(side).chain;
        if let Some(shard) = &chain.shard {
            let height = *chain.hub.latest_height().borrow();
            shard.done_elsewhere(&step::shard_step(spec, &job, &key.kind), height);
        }
    }
    if let (true, RelayKind::Timeout, Outcome::Done { height, .. }) =
        (spec.ordered, &key.kind, &outcome)
    {
        // The timeout closed the source's end: confirm the close on the other end.
        let (spec, from, height) = (spec.clone(), job.from, *height);
        retries.spawn(async move { super::close::confirm_close(&spec, from, height).await });
    }
    if key.kind == RelayKind::Recv && matches!(outcome, Outcome::Failed { .. }) {
        // A delivery may fail because the destination end was closed: then the retry times
        // the packet out on close instead.
        note_if_closed(spec, job.from.other()).await;
    }
    if let Some(gate) = gate {
        // The retry holds the later sequences until its backoff has passed.
        gate.finished(job.from);
        if let Next::RetryAfter(delay) = next {
            gate.push(
                Job {
                    event_height: 0,
                    ..job
                },
                Instant::now() + delay,
            );
        }
    } else if let Next::RetryAfter(delay) = next {
        let requeue = requeue.clone();
        let retry = Job {
            event_height: 0,
            ..job
        };
        retries.spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = requeue.send(retry).await;
        });
    }
}

fn record(
    spec: &ChannelSpec,
    cache: &SequenceCache,
    key: &CacheKey,
    job: &Job,
    outcome: &Outcome,
) -> Next {
    report::relay_outcome(spec, key, job, outcome);
    let next = cache.record(key, outcome);
    match outcome {
        Outcome::Done { tx_hash, height } => {
            debug!(sequence = job.packet.sequence, step = %key.kind, %tx_hash, height, "relayed")
        }
        Outcome::Redundant => {
            debug!(sequence = job.packet.sequence, step = %key.kind, "already relayed by someone else")
        }
        Outcome::RedundantInMempool => {
            debug!(sequence = job.packet.sequence, step = %key.kind, "refused as redundant at CheckTx; clearing will look again")
        }
        Outcome::Failed { reason, .. } => {
            warn!(sequence = job.packet.sequence, step = %key.kind, %reason, %next, "relay failed")
        }
    }
    next
}

/// Decides what a job needs and hands it to the right TxEngine, unless the cache says it is
/// done, in flight or backing off, or a peer is ranked ahead of us for it (then it waits in
/// `deferrals` for its turn at the heights `tops`). `statuses` keeps each destination's latest
/// height and time for this batch (asked once, again after a failure).
async fn route(
    task: Task,
    spec: &ChannelSpec,
    cache: &SequenceCache,
    job: Job,
    statuses: &mut [Option<(u64, u64)>; 2],
    (deferrals, tops): (&mut Deferrals, [u64; 2]),
) -> Option<InFlight> {
    let destination = match task {
        Task::Sweep => None,
        Task::Pump => {
            let to = job.from.other();
            // A closed destination needs no status: its packets time out on close.
            if statuses[to.index()].is_none() && !spec.is_closed(to) {
                statuses[to.index()] = chain_status(&spec.end(to).chain).await;
            }
            Some(step::Destination::of(spec, &job, statuses[to.index()]))
        }
    };
    let mut kind = step::step_for(task, &job, destination);
    let key = step::job_key(spec, &job, kind.clone());
    let mut job = job;
    let mut signer = None;
    let side = step::submit_side(&kind, job.from);
    let chain = &spec.end(side).chain;
    if let (false, Some(shard)) = (spec.ordered, &chain.shard) {
        if cache.settled_or_busy(&key) {
            return None;
        }
        let height = tops[side.index()];
        let event_height = match kind {
            RelayKind::Recv | RelayKind::Ack => job.event_height,
            RelayKind::Timeout | RelayKind::TimeoutOnClose => 0,
        };
        let assignment = shard.assign(&step::shard_step(spec, &job, &kind), height, event_height);
        signer = Some(assignment.signer);
        if assignment.rank > 0 {
            let deferred = shard::Deferred {
                job,
                kind,
                side,
                since: height,
                not_before: 0,
                assignment,
            };
            match deferrals.push(deferred) {
                None => {
                    crate::telemetry::metrics::metrics()
                        .steps_deferred
                        .inc(&[shard.chain_id()]);
                    return None;
                }
                // No room to wait: relay it now.
                Some(d) => (job, kind) = (d.job, d.kind),
            }
        }
    }
    // Jobs without an event height come from clearing (or are retries of failures, which the
    // cache treats alike): the chain showed the work unfinished.
    let by = if job.event_height == 0 {
        Claim::Clearing
    } else {
        Claim::Event
    };
    if !cache.try_claim(&key, by) {
        return None;
    }
    let outcome = step::submit_by(spec, &job, kind, signer).await;
    Some(Box::pin(async move { (job, key, outcome.await) }))
}

/// Takes out the deferred steps whose turn has come at `tops`: those done meanwhile (by the
/// cache, else by one query per chain and kind) are settled; the rest are taken over, and the
/// peers ranked ahead for them are marked silent, which re-ranks everything still waiting (so
/// a step whose every peer ahead is now silent goes in the same round).
async fn release_deferred(
    spec: &ChannelSpec,
    cache: &SequenceCache,
    deferrals: &mut Deferrals,
    tops: [u64; 2],
) -> Vec<InFlight> {
    let m = crate::telemetry::metrics::metrics();
    let delay = |side: Side, rank: usize| {
        spec.end(side)
            .chain
            .shard
            .as_ref()
            .map_or(0, |s| s.delay(rank))
    };
    let mut out: Vec<InFlight> = Vec::new();
    // Each round after the first follows newly silent peers: at most one per signer.
    for _ in 0..=crate::config::MAX_PEERS + 1 {
        let due = deferrals.take_due(tops, delay);
        if due.is_empty() {
            break;
        }
        let mut check = Vec::new();
        for d in due {
            let key = step::job_key(spec, &d.job, d.kind.clone());
            let chain = &spec.end(d.side).chain.config.id;
            if cache.settled_or_busy(&key) {
                m.deferred_done_by_peer.inc(&[chain]);
            } else {
                check.push((d, key));
            }
        }
        let open = still_undone(spec, &check).await;
        let mut newly_silent = false;
        for ((d, key), open) in check.into_iter().zip(open) {
            let chain = &spec.end(d.side).chain;
            let Some(shard) = &chain.shard else { continue };
            let height = tops[d.side.index()];
            let id = step::shard_step(spec, &d.job, &d.kind);
            if !open {
                cache.mark_done(&key);
                shard.done_elsewhere(&id, height);
                m.deferred_done_by_peer.inc(&[&chain.config.id]);
                continue;
            }
            if pending_elsewhere(spec, &d).await {
                // A peer's tx carrying it waits in the mempool: the peer is alive. Look again
                // at the next block (included, or evicted and ours to take).
                let mut d = d;
                d.not_before = height + 1;
                if let Some(d) = deferrals.push(d) {
                    dispatch_now(spec, cache, d, key, &mut out).await;
                }
                continue;
            }
            newly_silent |= shard.mark_silent(&d.assignment.ahead, height);
            m.steps_taken_over.inc(&[&chain.config.id]);
            debug!(chain = %chain.config.id, sequence = d.job.packet.sequence, step = %d.kind, rank = d.assignment.rank, since = d.since, height, "undone at our turn: taking over");
            dispatch_now(spec, cache, d, key, &mut out).await;
        }
        if !newly_silent {
            break;
        }
        deferrals.rerank(|d| {
            let shard = spec.end(d.side).chain.shard.as_ref()?;
            Some(shard.rank(
                &step::shard_step(spec, &d.job, &d.kind),
                tops[d.side.index()],
            ))
        });
    }
    out
}

/// Claims deferred step `d` and hands it to its engine (into `out`).
async fn dispatch_now(
    spec: &ChannelSpec,
    cache: &SequenceCache,
    d: shard::Deferred,
    key: CacheKey,
    out: &mut Vec<InFlight>,
) {
    if !cache.try_claim(&key, Claim::Clearing) {
        return;
    }
    let outcome = step::submit_by(spec, &d.job, d.kind, Some(d.assignment.signer)).await;
    let job = d.job;
    out.push(Box::pin(async move { (job, key, outcome.await) }));
}

/// Whether another signer's tx in the mempool of the chain that submits `d` carries it (the
/// look is the one the chain's engines share, at most one per block).
async fn pending_elsewhere(spec: &ChannelSpec, d: &shard::Deferred) -> bool {
    let end = spec.end(d.side);
    let Some(view) = &end.chain.mempool else {
        return false;
    };
    let look = view.look().await;
    let receives = d.kind == RelayKind::Recv;
    look.carried_by(receives, &end.port, &end.channel, d.job.packet.sequence)
        .is_some()
}

/// Whether each of `steps` is still undone on chain: a `MsgRecvPacket` while the destination
/// has no receipt, the others while the source keeps the commitment. One query per chain and
/// kind; a failed query counts its steps undone (they are relayed: the chain refuses a
/// duplicate, and the engine's mempool hold keeps it from racing a pending tx).
async fn still_undone(spec: &ChannelSpec, steps: &[(shard::Deferred, CacheKey)]) -> Vec<bool> {
    let mut groups: std::collections::BTreeMap<(usize, bool), Vec<u64>> = Default::default();
    for (d, _) in steps {
        let recv = d.kind == RelayKind::Recv;
        groups
            .entry((d.side.index(), recv))
            .or_default()
            .push(d.job.packet.sequence);
    }
    let mut undone: std::collections::BTreeMap<(usize, bool), Option<Vec<u64>>> =
        Default::default();
    for ((side, recv), seqs) in groups {
        let end = spec.end(if side == 0 { Side::A } else { Side::B });
        let left = if recv {
            end.chain
                .query
                .unreceived_packets(&end.port, &end.channel, &seqs)
                .await
        } else {
            end.chain
                .query
                .unreceived_acks(&end.port, &end.channel, &seqs)
                .await
        };
        let left = match left {
            Ok(left) => Some(left),
            Err(e) => {
                warn!(chain = %end.chain.config.id, error = %e, "could not check deferred steps on chain; relaying them");
                None
            }
        };
        undone.insert((side, recv), left);
    }
    steps
        .iter()
        .map(|(d, _)| {
            let recv = d.kind == RelayKind::Recv;
            match undone.get(&(d.side.index(), recv)) {
                Some(Some(left)) => left.contains(&d.job.packet.sequence),
                _ => true,
            }
        })
        .collect()
}

/// Marks the end on `side` closed when the chain says it is (one query, after a failure).
async fn note_if_closed(spec: &ChannelSpec, side: Side) {
    if spec.is_closed(side) {
        return;
    }
    match step::end_closed(spec, side).await {
        Ok(true) => {
            let end = spec.end(side);
            info!(chain = %end.chain.config.id, port = %end.port, channel = %end.channel, "the channel end is CLOSED: its pending packets time out on close");
            spec.set_closed(side);
        }
        Ok(false) => {}
        Err(e) => debug!(error = %e, "channel end query failed"),
    }
}

/// Latest height and block time (ns) of `chain`, or `None` (logged) when it does not answer.
async fn chain_status(chain: &ChainHandle) -> Option<(u64, u64)> {
    match step::chain_status(chain).await {
        Ok(status) => Some(status),
        Err(e) => {
            warn!(chain = %chain.config.id, error = %e, "status query failed");
            None
        }
    }
}

/// How long the supervisor waits before restarting a failed worker, doubling up to a minute,
/// with up to 25% jitter.
pub(crate) fn restart_delay(failures: u32) -> Duration {
    let base = Duration::from_millis(500).saturating_mul(1u32 << failures.min(7));
    let base = base.min(Duration::from_secs(60));
    let jitter = rand::random::<f64>() * 0.25;
    base.mul_f64(1.0 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_delay_grows_and_caps() {
        assert!(restart_delay(0) >= Duration::from_millis(500));
        assert!(restart_delay(3) >= Duration::from_secs(4));
        assert!(restart_delay(30) <= Duration::from_secs(75));
    }
}
