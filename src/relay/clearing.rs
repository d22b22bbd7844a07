//! Clearing: finding unfinished work from chain state alone, so nothing is lost across restarts,
//! dropped events or crashes. Packets: commitments on the source minus receipts on the
//! destination. Acknowledgements: acks written on the destination whose commitment still exists
//! on the source. Packet data and acks are recovered with range `tx_search`es, never one query
//! per sequence.

use super::worker::{ChannelSpec, Job, Side};
use crate::chain::query::QueryError;

/// At most this many sequences per direction and kind per clearing round; the rest is picked up
/// by the next round.
pub const CLEAR_LIMIT: usize = 1000;

/// What a clearing round found for packets sent from one end.
#[derive(Debug, Default)]
pub struct PendingPackets {
    /// Packets not yet received on the other end.
    pub jobs: Vec<Job>,
    /// The lowest sequence whose commitment still exists on the source; every packet below it
    /// is finished for good (acknowledged or timed out). `None` when no commitment is left.
    pub lowest_open: Option<u64>,
}

/// Packets sent from `from` and not yet received on the other end.
pub async fn pending_packets(spec: &ChannelSpec, from: Side) -> Result<PendingPackets, QueryError> {
    let src = spec.end(from);
    let dst = spec.end(from.other());
    let committed = src
        .chain
        .query
        .packet_commitments(&src.port, &src.channel)
        .await?;
    let lowest_open = committed.iter().min().copied();
    if committed.is_empty() {
        return Ok(PendingPackets::default());
    }
    let mut unreceived = dst
        .chain
        .query
        .unreceived_packets(&dst.port, &dst.channel, &committed)
        .await?;
    unreceived.sort_unstable();
    unreceived.truncate(CLEAR_LIMIT);
    if unreceived.is_empty() {
        return Ok(PendingPackets {
            jobs: Vec::new(),
            lowest_open,
        });
    }
    let packets = src
        .chain
        .query
        .sent_packets(&src.port, &src.channel, &unreceived)
        .await?;
    let jobs = packets
        .into_iter()
        .map(|(_, packet)| Job {
            from,
            packet,
            ack: Vec::new(),
            event_height: 0,
        })
        .collect();
    Ok(PendingPackets { jobs, lowest_open })
}

/// Acknowledgements written on the other end for packets sent from `from`, not yet relayed back.
pub async fn pending_acks(spec: &ChannelSpec, from: Side) -> Result<Vec<Job>, QueryError> {
    let src = spec.end(from);
    let dst = spec.end(from.other());
    let acked = dst
        .chain
        .query
        .packet_acknowledgements(&dst.port, &dst.channel)
        .await?;
    if acked.is_empty() {
        return Ok(Vec::new());
    }
    let mut unrelayed = src
        .chain
        .query
        .unreceived_acks(&src.port, &src.channel, &acked)
        .await?;
    unrelayed.sort_unstable();
    unrelayed.truncate(CLEAR_LIMIT);
    if unrelayed.is_empty() {
        return Ok(Vec::new());
    }
    let acks = dst
        .chain
        .query
        .written_acks(&dst.port, &dst.channel, &unrelayed)
        .await?;
    Ok(acks
        .into_iter()
        .map(|(_, packet, ack)| Job {
            from,
            packet,
            ack,
            event_height: 0,
        })
        .collect())
}
