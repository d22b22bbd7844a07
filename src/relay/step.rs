//! One relay step of one packet: which message a [`Job`] needs now (`MsgRecvPacket`,
//! `MsgTimeout`, `MsgTimeoutOnClose` or `MsgAcknowledgement`), which chain's TxEngine submits
//! it, and the cache key that names it. The channel workers and the one-shot `arke clear` both go through here, so a
//! packet is handled the same way whether the daemon or the command relays it.

use std::future::Future;

use ibc_proto::ibc::core::channel::v1::{Packet, State};

use super::cache::CacheKey;
use super::channel::{ChannelSpec, Job, Side};
use super::ChainHandle;
use crate::chain::query::QueryError;
use crate::chain::types::{RelayItem, RelayKind};
use crate::tx::engine::Outcome;

/// The two kinds of work on a channel, one queue (and one worker task) each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Task {
    /// Sent packets: `MsgRecvPacket` on the destination, or `MsgTimeout` on the source once the
    /// packet has expired on the destination.
    Pump,
    /// Acknowledgements written on the destination: `MsgAcknowledgement` on the source.
    Sweep,
}

impl Task {
    /// `pump` or `sweep`, for logs and errors.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Pump => "pump",
            Self::Sweep => "sweep",
        }
    }

    /// The side whose chain proves `job` (it must have a block above the event's height first).
    pub(crate) fn proof_side(self, job: &Job) -> Side {
        match self {
            Self::Pump => job.from,
            Self::Sweep => job.from.other(),
        }
    }
}

/// What decides a sent packet's step: the destination chain's revision, its latest height and
/// block time (Unix ns) when known, and whether its channel end is known to be CLOSED.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Destination {
    /// The destination's revision number (from its chain id).
    pub(crate) revision: u64,
    /// Latest height and block time, `None` when the chain did not answer.
    pub(crate) status: Option<(u64, u64)>,
    /// The destination's channel end is CLOSED.
    pub(crate) closed: bool,
}

impl Destination {
    /// The destination of `job` on `spec`, with `status` as last asked.
    pub(crate) fn of(spec: &ChannelSpec, job: &Job, status: Option<(u64, u64)>) -> Self {
        let to = job.from.other();
        Self {
            revision: spec.end(to).chain.query.revision(),
            status,
            closed: spec.is_closed(to),
        }
    }
}

/// The step a `task` job needs given its `destination` (unused by the sweep). A CLOSED
/// destination end means `MsgTimeoutOnClose`; an unknown destination status means trying
/// delivery (a failure is retried).
pub(crate) fn step_for(task: Task, job: &Job, destination: Option<Destination>) -> RelayKind {
    match (task, destination) {
        (Task::Sweep, _) => RelayKind::Ack,
        (Task::Pump, Some(d)) if d.closed => RelayKind::TimeoutOnClose,
        (Task::Pump, Some(d)) => match d.status {
            Some((height, time_ns)) if timed_out(&job.packet, d.revision, height, time_ns) => {
                RelayKind::Timeout
            }
            _ => RelayKind::Recv,
        },
        (Task::Pump, None) => RelayKind::Recv,
    }
}

/// The side whose TxEngine submits `step` for a packet sent from `from`: the destination
/// receives, the source takes acknowledgements and timeouts.
pub(crate) fn submit_side(step: &RelayKind, from: Side) -> Side {
    match step {
        RelayKind::Recv => from.other(),
        RelayKind::Ack | RelayKind::Timeout | RelayKind::TimeoutOnClose => from,
    }
}

/// The latest height and block time (Unix ns) of `chain`, what timeouts are decided with.
pub(crate) async fn chain_status(chain: &ChainHandle) -> Result<(u64, u64), QueryError> {
    chain.query.latest_height_and_time().await
}

/// Whether the channel end on `side` of `spec` is CLOSED on its chain.
pub(crate) async fn end_closed(spec: &ChannelSpec, side: Side) -> Result<bool, QueryError> {
    let end = spec.end(side);
    let channel = end.chain.query.channel(&end.port, &end.channel).await?;
    Ok(channel.is_some_and(|c| c.state == State::Closed as i32))
}

/// The ranking key of `step` of `job` on `spec`: the chain that submits it and the packet's
/// source port, channel and sequence.
pub(crate) fn shard_step<'a>(
    spec: &'a ChannelSpec,
    job: &'a Job,
    step: &'a RelayKind,
) -> super::shard::StepId<'a> {
    super::shard::StepId {
        chain: &spec.end(submit_side(step, job.from)).chain.config.id,
        port: &job.packet.source_port,
        channel: &job.packet.source_channel,
        sequence: job.packet.sequence,
        kind: step,
    }
}

/// The cache key of a relay step.
pub(crate) fn key(src_chain: &str, packet: &Packet, kind: RelayKind) -> CacheKey {
    CacheKey {
        src_chain: src_chain.to_string(),
        port: packet.source_port.clone(),
        channel: packet.source_channel.clone(),
        kind,
        sequence: packet.sequence,
    }
}

/// The cache key of `step` of `job` on `spec`.
pub(crate) fn job_key(spec: &ChannelSpec, job: &Job, step: RelayKind) -> CacheKey {
    key(&spec.end(job.from).chain.config.id, &job.packet, step)
}

/// Hands `step` of `job` to the TxEngine of the chain that submits it; the returned future
/// resolves to the outcome once the engine knows it.
pub(crate) async fn submit(
    spec: &ChannelSpec,
    job: &Job,
    step: RelayKind,
) -> impl Future<Output = Outcome> + Send + 'static {
    submit_by(spec, job, step, None).await
}

/// [`submit`] through packet signer `signer` of the submitting chain (the one
/// [`super::shard`] ranked), or the one `ChainHandle::engine_for` picks when `None`.
pub(crate) async fn submit_by(
    spec: &ChannelSpec,
    job: &Job,
    step: RelayKind,
    signer: Option<usize>,
) -> impl Future<Output = Outcome> + Send + 'static {
    let on = spec.end(submit_side(&step, job.from));
    let event_height = match step {
        RelayKind::Recv | RelayKind::Ack => job.event_height,
        RelayKind::Timeout | RelayKind::TimeoutOnClose => 0,
    };
    let item = RelayItem {
        kind: step,
        packet: job.packet.clone(),
        ack: job.ack.clone(),
        ordered: spec.ordered,
        event_height,
    };
    let engine = match signer.and_then(|i| on.chain.packet_signers.get(i)) {
        Some(s) => &s.engine,
        None => on
            .chain
            .engine_for(&on.port, &on.channel, job.packet.sequence, spec.ordered),
    };
    let rx = engine.submit(&on.client_id, item).await;
    async move {
        rx.await.unwrap_or(Outcome::Failed {
            reason: "tx engine stopped before reporting".into(),
            retryable: true,
        })
    }
}

/// Whether `packet` can no longer be received on a destination of revision `revision` at
/// `height` / `time_ns`: the proof of non-receipt at the latest height then proves the
/// timeout. Heights compare as IBC compares them, revision number first: a timeout height of
/// an earlier revision has passed, one of a later revision has not. A timeout height of height
/// 0 is none (ibc-rs takes no other zero height; ibc-go refuses to send one that has passed).
pub(crate) fn timed_out(packet: &Packet, revision: u64, height: u64, time_ns: u64) -> bool {
    let by_height = packet
        .timeout_height
        .as_ref()
        .filter(|h| h.revision_height > 0)
        .is_some_and(|h| (revision, height) >= (h.revision_number, h.revision_height));
    let by_time = packet.timeout_timestamp > 0 && time_ns >= packet.timeout_timestamp;
    by_height || by_time
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
        assert!(!timed_out(&packet(10, 0), 1, 9, 0));
        assert!(timed_out(&packet(10, 0), 1, 10, 0));
        assert!(!timed_out(&packet(0, 0), 1, 1_000_000, u64::MAX));
        assert!(timed_out(&packet(0, 500), 1, 1, 500));
        assert!(!timed_out(&packet(0, 500), 1, 1, 499));
    }

    #[test]
    fn timeout_heights_compare_revisions_first() {
        // Timeout at revision 1 height 10: a chain at revision 2 is past it at any height...
        assert!(timed_out(&packet(10, 0), 2, 1, 0));
        // ...and a chain still at revision 0 has not reached it, however high.
        assert!(!timed_out(&packet(10, 0), 0, 1_000, 0));
        // The same revision compares heights.
        assert!(timed_out(&packet(10, 0), 1, 11, 0));
    }

    #[test]
    fn steps_by_task_and_destination() {
        let job = Job {
            from: Side::A,
            packet: packet(10, 0),
            ack: Vec::new(),
            event_height: 0,
        };
        let at = |status, closed| {
            Some(Destination {
                revision: 1,
                status,
                closed,
            })
        };
        assert_eq!(step_for(Task::Sweep, &job, None), RelayKind::Ack);
        assert_eq!(step_for(Task::Pump, &job, None), RelayKind::Recv);
        assert_eq!(step_for(Task::Pump, &job, at(None, false)), RelayKind::Recv);
        assert_eq!(
            step_for(Task::Pump, &job, at(Some((9, 0)), false)),
            RelayKind::Recv
        );
        assert_eq!(
            step_for(Task::Pump, &job, at(Some((10, 0)), false)),
            RelayKind::Timeout
        );
        assert_eq!(
            step_for(Task::Pump, &job, at(None, true)),
            RelayKind::TimeoutOnClose
        );
        assert_eq!(
            step_for(Task::Pump, &job, at(Some((10, 0)), true)),
            RelayKind::TimeoutOnClose
        );
        assert_eq!(submit_side(&RelayKind::TimeoutOnClose, Side::A), Side::A);
        assert_eq!(submit_side(&RelayKind::Recv, Side::A), Side::B);
        assert_eq!(submit_side(&RelayKind::Ack, Side::A), Side::A);
        assert_eq!(submit_side(&RelayKind::Timeout, Side::B), Side::B);
        assert_eq!(Task::Pump.proof_side(&job), Side::A);
        assert_eq!(Task::Sweep.proof_side(&job), Side::B);
    }
}
