//! One relay step of one packet: which message a [`Job`] needs now (`MsgRecvPacket`,
//! `MsgTimeout` or `MsgAcknowledgement`), which chain's TxEngine submits it, and the cache key
//! that names it. The channel workers and the one-shot `arke clear` both go through here, so a
//! packet is handled the same way whether the daemon or the command relays it.

use std::future::Future;

use ibc_proto::ibc::core::channel::v1::Packet;

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

/// The step a `task` job needs, given the destination chain's latest height and block time
/// (Unix ns). An unknown destination status means trying delivery (a failure is retried).
pub(crate) fn step_for(task: Task, job: &Job, destination: Option<(u64, u64)>) -> RelayKind {
    match (task, destination) {
        (Task::Sweep, _) => RelayKind::Ack,
        (Task::Pump, Some((height, time_ns))) if timed_out(&job.packet, height, time_ns) => {
            RelayKind::Timeout
        }
        (Task::Pump, _) => RelayKind::Recv,
    }
}

/// The side whose TxEngine submits `step` for a packet sent from `from`: the destination
/// receives, the source takes acknowledgements and timeouts.
pub(crate) fn submit_side(step: &RelayKind, from: Side) -> Side {
    match step {
        RelayKind::Recv => from.other(),
        RelayKind::Ack | RelayKind::Timeout => from,
    }
}

/// The latest height and block time (Unix ns) of `chain`, what timeouts are decided with.
pub(crate) async fn chain_status(chain: &ChainHandle) -> Result<(u64, u64), QueryError> {
    chain.query.latest_height_and_time().await
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
    let on = spec.end(submit_side(&step, job.from));
    let item = RelayItem {
        kind: step,
        packet: job.packet.clone(),
        ack: job.ack.clone(),
        ordered: spec.ordered,
    };
    let rx = on.chain.engine.submit(&on.client_id, item).await;
    async move {
        rx.await.unwrap_or(Outcome::Failed {
            reason: "tx engine stopped before reporting".into(),
            retryable: true,
        })
    }
}

/// Whether `packet` can no longer be received on a destination at `height` / `time_ns`: the
/// proof of non-receipt at the latest height then proves the timeout.
pub(crate) fn timed_out(packet: &Packet, height: u64, time_ns: u64) -> bool {
    let by_height = packet
        .timeout_height
        .as_ref()
        .map(|h| h.revision_height > 0 && height >= h.revision_height)
        .unwrap_or(false);
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
        assert!(!timed_out(&packet(10, 0), 9, 0));
        assert!(timed_out(&packet(10, 0), 10, 0));
        assert!(!timed_out(&packet(0, 0), 1_000_000, u64::MAX));
        assert!(timed_out(&packet(0, 500), 1, 500));
        assert!(!timed_out(&packet(0, 500), 1, 499));
    }

    #[test]
    fn steps_by_task_and_destination() {
        let job = Job {
            from: Side::A,
            packet: packet(10, 0),
            ack: Vec::new(),
            event_height: 0,
        };
        assert_eq!(step_for(Task::Sweep, &job, None), RelayKind::Ack);
        assert_eq!(step_for(Task::Pump, &job, None), RelayKind::Recv);
        assert_eq!(step_for(Task::Pump, &job, Some((9, 0))), RelayKind::Recv);
        assert_eq!(
            step_for(Task::Pump, &job, Some((10, 0))),
            RelayKind::Timeout
        );
        assert_eq!(submit_side(&RelayKind::Recv, Side::A), Side::B);
        assert_eq!(submit_side(&RelayKind::Ack, Side::A), Side::A);
        assert_eq!(submit_side(&RelayKind::Timeout, Side::B), Side::B);
        assert_eq!(Task::Pump.proof_side(&job), Side::A);
        assert_eq!(Task::Sweep.proof_side(&job), Side::B);
    }
}
