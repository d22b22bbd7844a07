//! What the relay layer tells telemetry. Telemetry knows no relay types, so this is where a
//! channel, an event, a clearing result or a relay outcome becomes plain values: a
//! [`ChannelInfo`] for the daemon state, [`PacketLabels`] and numbers for the metric families,
//! and a [`ChainProbe`] that answers `/health` and `/state` for a chain.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::cache::CacheKey;
use super::channel::{ChannelEnd, ChannelSpec, Job, Side};
use super::ChainHandle;
use crate::chain::types::{PacketEvent, RelayKind};
use crate::telemetry::metrics::{metrics, Clock, PacketLabels};
use crate::telemetry::state::{
    ChainEntry, ChainProbe, ChannelInfo, EndInfo, EndpointInfo, ShardInfo,
};
use crate::tx::engine::Outcome;

impl ChainProbe for ChainHandle {
    fn check_status(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.query
                .rpc()
                .status()
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }

    fn latest_height(&self) -> u64 {
        *self.hub.latest_height().borrow()
    }

    fn websocket_reconnects(&self) -> u64 {
        self.hub.reconnects()
    }

    fn sharding(&self) -> Option<ShardInfo> {
        let height = *self.hub.latest_height().borrow();
        Some(self.shard.as_ref()?.snapshot(height))
    }

    fn endpoints(&self) -> Vec<EndpointInfo> {
        self.query
            .rpc()
            .endpoint_statuses()
            .into_iter()
            .map(|e| EndpointInfo {
                rpc: e.rpc,
                websocket: e.websocket,
                active: e.active,
                usable: e.usable,
                height: e.height,
                problem: e.problem,
            })
            .collect()
    }
}

/// `chain` as the daemon state lists it, signing with `address`.
pub(crate) fn chain_entry(chain: &Arc<ChainHandle>, address: String) -> ChainEntry {
    ChainEntry {
        id: chain.config.id.clone(),
        rpc_addr: chain.config.rpc_addr.to_string(),
        address,
        probe: chain.clone(),
    }
}

fn end_info(end: &ChannelEnd) -> EndInfo {
    EndInfo {
        chain: end.chain.config.id.clone(),
        port: end.port.clone(),
        channel: end.channel.clone(),
        client: end.client_id.clone(),
    }
}

/// `spec` as the daemon state lists it.
pub(crate) fn channel_info(spec: &ChannelSpec) -> ChannelInfo {
    ChannelInfo {
        name: spec.name(),
        ordered: spec.ordered,
        a: end_info(&spec.a),
        b: end_info(&spec.b),
    }
}

/// The labels of packets sent from `from` over `spec`.
pub(crate) fn packet_labels(spec: &ChannelSpec, from: Side) -> PacketLabels {
    let src = spec.end(from);
    let dst = spec.end(from.other());
    PacketLabels {
        chain: src.chain.config.id.clone(),
        counterparty: dst.chain.config.id.clone(),
        port: src.port.clone(),
        channel: src.channel.clone(),
    }
}

/// A worker saw `event` on `side`'s chain.
pub(crate) fn observe_event(spec: &ChannelSpec, side: Side, event: &PacketEvent) {
    let (from, name, clock) = match event {
        PacketEvent::Send { .. } => (side, "send_packet", Some(Clock::Send)),
        PacketEvent::WriteAck { .. } => {
            (side.other(), "write_acknowledgement", Some(Clock::WriteAck))
        }
        PacketEvent::Recv { .. } => (side.other(), "recv_packet", None),
        PacketEvent::Acknowledged { .. } => (side, "acknowledge_packet", None),
        PacketEvent::TimedOut { .. } => (side, "timeout_packet", None),
    };
    let labels = packet_labels(spec, from);
    metrics().packets_observed.inc(&labels.with(name));
    if let Some(clock) = clock {
        let p = event.packet();
        metrics().start_clock(
            &labels.chain,
            &p.source_port,
            &p.source_channel,
            p.sequence,
            clock,
        );
    }
}

/// A clearing round found `jobs` sent from `from`: `kind` is `packet` (still unreceived) or
/// `ack` (acknowledgements not relayed back).
fn cleared(spec: &ChannelSpec, from: Side, kind: &str, jobs: &[Job]) {
    let labels = packet_labels(spec, from);
    let labels = labels.with(kind);
    metrics().packets_cleared.inc_by(&labels, jobs.len() as u64);
    let sequences: Vec<u64> = jobs.iter().map(|j| j.packet.sequence).collect();
    metrics().set_backlog(&labels, &sequences);
}

/// A clearing round found `jobs`: packets sent from `from` not received on the other end.
pub(crate) fn cleared_packets(spec: &ChannelSpec, from: Side, jobs: &[Job]) {
    cleared(spec, from, "packet", jobs);
}

/// A clearing round found `jobs`: acknowledgements of packets sent from `from` not relayed back.
pub(crate) fn cleared_acks(spec: &ChannelSpec, from: Side, jobs: &[Job]) {
    cleared(spec, from, "ack", jobs);
}

/// Clearing found `count` more items sent from `from` (`kind` is `packet` or `ack`) whose data
/// no source can provide; each is counted once.
pub(crate) fn data_unavailable(spec: &ChannelSpec, from: Side, kind: &str, count: usize) {
    let labels = packet_labels(spec, from);
    metrics()
        .packet_data_unavailable
        .inc_by(&labels.with(kind), count as u64);
}

/// The persisted cursor of `chain` is now `height`.
pub(crate) fn cursor_stored(chain: &str, height: u64) {
    metrics().cursor_height.set(&[chain], height as f64);
}

/// The outcome of a relay step of `job` (cache key `key`) came back.
pub(crate) fn relay_outcome(spec: &ChannelSpec, key: &CacheKey, job: &Job, outcome: &Outcome) {
    let m = metrics();
    let labels = packet_labels(spec, job.from);
    let step = key.kind.to_string();
    let p = &job.packet;
    let stop = |clock| {
        m.stop_clock(
            &labels.chain,
            &p.source_port,
            &p.source_channel,
            p.sequence,
            clock,
        )
    };
    match outcome {
        Outcome::Done { .. } => match key.kind {
            RelayKind::Recv => {
                m.packets_relayed.inc(&labels.values());
                if let Some(d) = stop(Clock::Send) {
                    m.packet_recv_latency.observe_duration(&labels.values(), d);
                }
            }
            RelayKind::Ack => {
                m.packets_acked.inc(&labels.values());
                if let Some(d) = stop(Clock::WriteAck) {
                    m.packet_ack_latency.observe_duration(&labels.values(), d);
                }
            }
            RelayKind::Timeout | RelayKind::TimeoutOnClose => {
                m.packets_timed_out.inc(&labels.values());
                let _ = stop(Clock::Send);
            }
        },
        Outcome::Redundant | Outcome::RedundantInMempool => {
            m.packets_redundant.inc(&labels.with(&step));
            let _ = stop(if key.kind == RelayKind::Ack {
                Clock::WriteAck
            } else {
                Clock::Send
            });
        }
        Outcome::Failed { .. } => m.packet_failures.inc(&labels.with(&step)),
    }
}
