//! The channel worker: one per open channel, a `JoinSet` of three tasks sharing one
//! cancellation token.
//!
//! - **source**: `send_packet` and `write_acknowledgement` events of this channel from both
//!   chains' event hubs, plus clearing on start and every `clear_interval` blocks, turned into
//!   jobs for the pump (packets to deliver or time out) and the sweep (acks to return);
//! - **pump**: for each sent packet, `MsgRecvPacket` on the destination, or `MsgTimeout` on the
//!   source once the packet has expired on the destination;
//! - **sweep**: for each acknowledgement written on the destination, `MsgAcknowledgement` on the
//!   source.
//!
//! A job waits until its source chain has a block above the event's height (the proof is taken
//! at `H` and verified against header `H + 1`), then goes to the right chain's TxEngine. The
//! sequence cache keeps a packet from being submitted twice; retryable failures come back after
//! a backoff; the first task that fails cancels its siblings and the supervisor restarts the
//! worker.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use ibc_proto::ibc::core::channel::v1::Packet;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn, Instrument};

use super::cache::{CacheKey, Next, SequenceCache};
use super::clearing;
use super::ChainHandle;
use crate::chain::types::{PacketEvent, RelayItem, RelayKind};
use crate::tx::engine::Outcome;

/// Which end of the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Chain A of the pair.
    A,
    /// Chain B of the pair.
    B,
}

impl Side {
    /// The other end.
    pub fn other(self) -> Self {
        match self {
            Self::A => Self::B,
            Self::B => Self::A,
        }
    }
}

/// One end of a channel.
#[derive(Clone)]
pub struct ChannelEnd {
    /// The chain.
    pub chain: Arc<ChainHandle>,
    /// Port id on this chain.
    pub port: String,
    /// Channel id on this chain.
    pub channel: String,
    /// The counterparty's client on this chain (what proofs from the other end verify with).
    pub client_id: String,
}

/// A channel the worker relays.
#[derive(Clone)]
pub struct ChannelSpec {
    /// End on chain A.
    pub a: ChannelEnd,
    /// End on chain B.
    pub b: ChannelEnd,
    /// ORDERED channel.
    pub ordered: bool,
    /// Clear every this many blocks of chain A (0 = never).
    pub clear_interval: u64,
    /// Clear when the worker starts.
    pub clear_on_start: bool,
}

impl ChannelSpec {
    /// The end on `side`.
    pub fn end(&self, side: Side) -> &ChannelEnd {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }

    /// A short name for logs: `transfer/channel-0`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.a.port, self.a.channel)
    }
}

/// A unit of work: a packet sent from `from`, with the ack when it is one to return.
#[derive(Clone, Debug)]
pub struct Job {
    /// The side the packet was sent from.
    pub from: Side,
    /// The packet.
    pub packet: Packet,
    /// The acknowledgement (sweep jobs).
    pub ack: Vec<u8>,
    /// Height of the event on the chain the proof comes from (0 when it came from clearing).
    pub event_height: u64,
}

/// Why a worker stopped.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
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
pub const QUEUE_CAPACITY: usize = 20_000;

/// Runs one channel's worker until `token` is cancelled (Ok) or a task fails (Err).
pub async fn run_worker(
    spec: Arc<ChannelSpec>,
    cache: Arc<SequenceCache>,
    token: CancellationToken,
) -> Result<(), WorkerError> {
    let token = token.child_token();
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
            "pump",
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
            "sweep",
            spec.clone(),
            cache,
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
    let mut height_a = spec.a.chain.hub.latest_height();
    let mut last_clear = 0u64;
    let clear_now = crate::telemetry::clear_trigger(&spec);
    if spec.clear_on_start {
        clear(&spec, &cache, &pump, &sweep, &token).await;
        last_clear = *height_a.borrow();
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
                if spec.clear_interval > 0 && h >= last_clear + spec.clear_interval {
                    last_clear = h;
                    clear(&spec, &cache, &pump, &sweep, &token).await;
                }
                continue;
            }
            _ = clear_now.notified() => {
                info!("clearing requested");
                clear(&spec, &cache, &pump, &sweep, &token).await;
                continue;
            }
        };
        crate::telemetry::observe_event(&spec, side, &event);
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
                // Received on `side` by anyone: delivery of a packet from the other side is done.
                cache.mark_done(&key(&src_chain(side.other()), &packet, RelayKind::Recv));
            }
            PacketEvent::Acknowledged { packet, .. } => {
                cache.mark_done(&key(&src_chain(side), &packet, RelayKind::Ack));
            }
            PacketEvent::TimedOut { packet, .. } => {
                cache.mark_done(&key(&src_chain(side), &packet, RelayKind::Timeout));
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

/// Runs clearing in both directions and queues what it finds.
async fn clear(
    spec: &ChannelSpec,
    cache: &SequenceCache,
    pump: &mpsc::Sender<Job>,
    sweep: &mpsc::Sender<Job>,
    token: &CancellationToken,
) {
    for from in [Side::A, Side::B] {
        match clearing::pending_packets(spec, from).await {
            Ok(found) => {
                // Everything below the lowest open commitment is finished: forget it.
                let src = spec.end(from);
                cache.prune_done(
                    &src.chain.config.id,
                    &src.port,
                    &src.channel,
                    found.lowest_open.unwrap_or(u64::MAX),
                );
                let jobs = found.jobs;
                crate::telemetry::cleared(spec, from, false, &jobs);
                if !jobs.is_empty() {
                    info!(count = jobs.len(), from = ?from, "clearing: unreceived packets");
                }
                for job in jobs {
                    if !send_job(pump, job, token).await {
                        return;
                    }
                }
            }
            Err(e) => warn!(error = %e, "clearing packets failed; will retry at the next interval"),
        }
        match clearing::pending_acks(spec, from).await {
            Ok(jobs) => {
                crate::telemetry::cleared(spec, from, true, &jobs);
                if !jobs.is_empty() {
                    info!(count = jobs.len(), from = ?from, "clearing: unrelayed acknowledgements");
                }
                for job in jobs {
                    if !send_job(sweep, job, token).await {
                        return;
                    }
                }
            }
            Err(e) => warn!(error = %e, "clearing acks failed; will retry at the next interval"),
        }
    }
}

/// The cache key of a relay step.
pub fn key(src_chain: &str, packet: &Packet, kind: RelayKind) -> CacheKey {
    CacheKey {
        src_chain: src_chain.to_string(),
        port: packet.source_port.clone(),
        channel: packet.source_channel.clone(),
        kind,
        sequence: packet.sequence,
    }
}

/// The chain a job's proof comes from, and the height that chain must pass before proving.
fn proof_chain(kind: &str, job: &Job) -> Side {
    if kind == "pump" {
        job.from
    } else {
        job.from.other()
    }
}

type Pending =
    std::pin::Pin<Box<dyn std::future::Future<Output = (Job, CacheKey, Outcome)> + Send>>;

/// The pump (`kind = "pump"`: deliver or time out sent packets) or the sweep (`kind = "sweep"`:
/// return acknowledgements).
async fn pipeline(
    kind: &'static str,
    spec: Arc<ChannelSpec>,
    cache: Arc<SequenceCache>,
    mut queue: mpsc::Receiver<Job>,
    requeue: mpsc::Sender<Job>,
    token: CancellationToken,
) -> Result<(), WorkerError> {
    let mut waiting: Vec<Job> = Vec::new();
    let mut pending: FuturesUnordered<Pending> = FuturesUnordered::new();
    let mut height_a = spec.a.chain.hub.latest_height();
    let mut height_b = spec.b.chain.hub.latest_height();
    let mut retries: JoinSet<()> = JoinSet::new();
    loop {
        tokio::select! {
            _ = token.cancelled() => {
                // Let what was handed to the engines finish; the engines bound it by the
                // shutdown grace period.
                while let Some((job, key, outcome)) = pending.next().await {
                    record(&spec, &cache, &key, &job, &outcome);
                }
                retries.abort_all();
                return Ok(());
            }
            job = queue.recv() => match job {
                Some(job) => waiting.push(job),
                None => return Err(WorkerError::TaskEnded { task: kind, reason: "queue closed".into() }),
            },
            Some((job, key, outcome)) = pending.next(), if !pending.is_empty() => {
                if let Next::RetryAfter(delay) = record(&spec, &cache, &key, &job, &outcome) {
                    let requeue = requeue.clone();
                    let retry = Job { event_height: 0, ..job };
                    retries.spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = requeue.send(retry).await;
                    });
                }
                continue;
            }
            r = height_a.changed() => if r.is_err() {
                return Err(WorkerError::TaskEnded { task: kind, reason: "chain A event hub stopped".into() });
            },
            r = height_b.changed() => if r.is_err() {
                return Err(WorkerError::TaskEnded { task: kind, reason: "chain B event hub stopped".into() });
            },
            Some(_) = retries.join_next(), if !retries.is_empty() => continue,
        }
        // Drain whatever else is queued, then submit every job whose proof height exists.
        while let Ok(job) = queue.try_recv() {
            waiting.push(job);
        }
        let tops = [*height_a.borrow_and_update(), *height_b.borrow_and_update()];
        let ready: Vec<Job>;
        (ready, waiting) = waiting.into_iter().partition(|job| {
            let side = proof_chain(kind, job);
            let top = tops[usize::from(side == Side::B)];
            job.event_height == 0 || top > job.event_height
        });
        if ready.is_empty() {
            continue;
        }
        let mut status_cache: [Option<(u64, u128)>; 2] = [None, None];
        for job in ready {
            match route(kind, &spec, &cache, job, &mut status_cache).await {
                Routed::Submitted(fut) => pending.push(fut),
                Routed::Skipped => {}
            }
        }
    }
}

fn record(
    spec: &ChannelSpec,
    cache: &SequenceCache,
    key: &CacheKey,
    job: &Job,
    outcome: &Outcome,
) -> Next {
    crate::telemetry::relay_outcome(spec, key, job, outcome);
    let next = cache.record(key, outcome);
    match outcome {
        Outcome::Done { tx_hash, height } => {
            debug!(sequence = job.packet.sequence, step = %key.kind, %tx_hash, height, "relayed")
        }
        Outcome::Redundant => {
            debug!(sequence = job.packet.sequence, step = %key.kind, "already relayed by someone else")
        }
        Outcome::Failed { reason, .. } => {
            warn!(sequence = job.packet.sequence, step = %key.kind, %reason, next = ?next, "relay failed")
        }
    }
    next
}

enum Routed {
    Submitted(Pending),
    Skipped,
}

/// Decides what a job needs and hands it to the right TxEngine.
async fn route(
    kind: &'static str,
    spec: &ChannelSpec,
    cache: &SequenceCache,
    job: Job,
    status_cache: &mut [Option<(u64, u128)>; 2],
) -> Routed {
    let from = spec.end(job.from);
    let to = spec.end(job.from.other());
    let (step, submit_on, item_kind) = if kind == "sweep" {
        (RelayKind::Ack, from, RelayKind::Ack)
    } else {
        let idx = usize::from(job.from.other() == Side::B);
        if status_cache[idx].is_none() {
            status_cache[idx] = latest_height_and_time(&to.chain).await;
        }
        match status_cache[idx] {
            Some((height, time_ns)) if timed_out(&job.packet, height, time_ns) => {
                (RelayKind::Timeout, from, RelayKind::Timeout)
            }
            Some(_) => (RelayKind::Recv, to, RelayKind::Recv),
            // Destination status unknown: try delivery; a failure is retried.
            None => (RelayKind::Recv, to, RelayKind::Recv),
        }
    };
    let key = key(&from.chain.config.id, &job.packet, step);
    if !cache.try_claim(&key) {
        return Routed::Skipped;
    }
    let item = RelayItem {
        kind: item_kind,
        packet: job.packet.clone(),
        ack: job.ack.clone(),
        ordered: spec.ordered,
    };
    let rx: oneshot::Receiver<Outcome> = submit_on
        .chain
        .engine
        .submit(&submit_on.client_id, item)
        .await;
    Routed::Submitted(Box::pin(async move {
        let outcome = rx.await.unwrap_or(Outcome::Failed {
            reason: "tx engine stopped before reporting".into(),
            retryable: true,
        });
        (job, key, outcome)
    }))
}

/// Latest height and block time (ns) of `chain`.
async fn latest_height_and_time(chain: &ChainHandle) -> Option<(u64, u128)> {
    match chain.query.rpc().status().await {
        Ok(status) => {
            let h = status.sync_info.latest_block_height.value();
            let t =
                u128::try_from(status.sync_info.latest_block_time.unix_timestamp_nanos()).ok()?;
            Some((h, t))
        }
        Err(e) => {
            warn!(chain = %chain.config.id, error = %e, "status query failed");
            None
        }
    }
}

/// Whether `packet` can no longer be received on a destination at `height` / `time_ns`: the
/// proof of non-receipt at the latest height then proves the timeout.
pub fn timed_out(packet: &Packet, height: u64, time_ns: u128) -> bool {
    let by_height = packet
        .timeout_height
        .as_ref()
        .map(|h| h.revision_height > 0 && height >= h.revision_height)
        .unwrap_or(false);
    let by_time = packet.timeout_timestamp > 0 && time_ns >= u128::from(packet.timeout_timestamp);
    by_height || by_time
}

/// How long the supervisor waits before restarting a failed worker, doubling up to a minute,
/// with up to 25% jitter.
pub fn restart_delay(failures: u32) -> Duration {
    let base = Duration::from_millis(500).saturating_mul(1u32 << failures.min(7));
    let base = base.min(Duration::from_secs(60));
    let jitter = rand::random::<f64>() * 0.25;
    base.mul_f64(1.0 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ibc_proto::ibc::core::client::v1::Height;

    fn packet(timeout_h: u64, timeout_ts: u64) -> Packet {
        Packet {
            sequence: 1,
            timeout_height: Some(Height {
                revision_number: 1,
                revision_height: timeout_h,
            }),
            timeout_timestamp: timeout_ts,
            ..Default::default()
        }
    }

    #[test]
    fn timeouts_by_height_and_time() {
        assert!(!timed_out(&packet(10, 0), 9, 0));
        assert!(timed_out(&packet(10, 0), 10, 0));
        assert!(!timed_out(&packet(0, 0), 1_000_000, u128::MAX));
        assert!(timed_out(&packet(0, 500), 1, 500));
        assert!(!timed_out(&packet(0, 500), 1, 499));
    }

    #[test]
    fn restart_delay_grows_and_caps() {
        assert!(restart_delay(0) >= Duration::from_millis(500));
        assert!(restart_delay(3) >= Duration::from_secs(4));
        assert!(restart_delay(30) <= Duration::from_secs(75));
    }
}
