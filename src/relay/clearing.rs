//! Clearing: finding unfinished work from chain state alone, so nothing is lost across restarts,
//! dropped events or crashes. Packets: commitments on the source minus receipts on the
//! destination. Acknowledgements: acks written on the destination whose commitment still exists
//! on the source. Packet data and acks are recovered with range `tx_search`es, never one query
//! per sequence.
//!
//! The workers' clearing rounds and `arke clear` turn what [`pending_packets`] and
//! [`pending_acks`] find into jobs; [`pending_on`] counts the same sequences, without limit or
//! packet data, for `arke query pending`.

use serde::Serialize;

use super::channel::{ChannelSpec, Job, Side};
use crate::chain::query::{IbcQuerier, QueryError};

/// At most this many sequences per direction and kind per clearing round; the rest is picked up
/// by the next round.
pub(crate) const CLEAR_LIMIT: usize = 1000;

/// One end of a channel, as far as queries go.
#[derive(Clone, Copy)]
struct EndQuery<'a> {
    query: &'a IbcQuerier,
    port: &'a str,
    channel: &'a str,
}

impl<'a> EndQuery<'a> {
    fn of(spec: &'a ChannelSpec, side: Side) -> Self {
        let end = spec.end(side);
        Self {
            query: &end.chain.query,
            port: &end.port,
            channel: &end.channel,
        }
    }
}

/// Packets committed on `src` and not received on `dst` (ascending), and every sequence still
/// committed on `src` (ascending).
async fn unreceived(
    src: EndQuery<'_>,
    dst: EndQuery<'_>,
) -> Result<(Vec<u64>, Vec<u64>), QueryError> {
    let mut committed = src.query.packet_commitments(src.port, src.channel).await?;
    committed.sort_unstable();
    if committed.is_empty() {
        return Ok((Vec::new(), committed));
    }
    let mut unreceived = dst
        .query
        .unreceived_packets(dst.port, dst.channel, &committed)
        .await?;
    unreceived.sort_unstable();
    Ok((unreceived, committed))
}

/// Acknowledgements written on `dst` for packets sent from `src` whose commitment still exists
/// on `src` (ascending).
async fn unrelayed_acks(src: EndQuery<'_>, dst: EndQuery<'_>) -> Result<Vec<u64>, QueryError> {
    let acked = dst
        .query
        .packet_acknowledgements(dst.port, dst.channel)
        .await?;
    if acked.is_empty() {
        return Ok(Vec::new());
    }
    let mut unrelayed = src
        .query
        .unreceived_acks(src.port, src.channel, &acked)
        .await?;
    unrelayed.sort_unstable();
    Ok(unrelayed)
}

/// What a clearing round found for packets sent from one end.
#[derive(Debug, Default)]
pub(crate) struct UnreceivedPackets {
    /// Packets not yet received on the other end.
    pub(crate) jobs: Vec<Job>,
    /// The sequences whose commitment still exists on the source (ascending); every other
    /// packet is finished for good (acknowledged or timed out).
    pub(crate) open: Vec<u64>,
}

/// Packets sent from `from` and not yet received on the other end.
pub(crate) async fn pending_packets(
    spec: &ChannelSpec,
    from: Side,
) -> Result<UnreceivedPackets, QueryError> {
    let src = EndQuery::of(spec, from);
    let (mut unreceived, open) = unreceived(src, EndQuery::of(spec, from.other())).await?;
    unreceived.truncate(CLEAR_LIMIT);
    if unreceived.is_empty() {
        return Ok(UnreceivedPackets {
            jobs: Vec::new(),
            open,
        });
    }
    let packets = src
        .query
        .sent_packets(src.port, src.channel, &unreceived)
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
    Ok(UnreceivedPackets { jobs, open })
}

/// Acknowledgements written on the other end for packets sent from `from`, not yet relayed back.
pub(crate) async fn pending_acks(spec: &ChannelSpec, from: Side) -> Result<Vec<Job>, QueryError> {
    let dst = EndQuery::of(spec, from.other());
    let mut unrelayed = unrelayed_acks(EndQuery::of(spec, from), dst).await?;
    unrelayed.truncate(CLEAR_LIMIT);
    if unrelayed.is_empty() {
        return Ok(Vec::new());
    }
    let acks = dst
        .query
        .written_acks(dst.port, dst.channel, &unrelayed)
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

/// What is pending in one direction of a channel.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Direction {
    /// Sending chain.
    pub(crate) src_chain: String,
    /// Port on the sending chain.
    pub(crate) src_port: String,
    /// Channel on the sending chain.
    pub(crate) src_channel: String,
    /// Receiving chain.
    pub(crate) dst_chain: String,
    /// Packets committed on the source and not received on the destination.
    pub unreceived_packets: Vec<u64>,
    /// Acknowledgements written on the destination and not yet relayed to the source.
    pub unreceived_acks: Vec<u64>,
}

/// What is pending on one channel, both ways.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChannelPending {
    /// Packets sent on chain a (and their acks).
    pub a_to_b: Direction,
    /// Packets sent on chain b (and their acks).
    pub(crate) b_to_a: Direction,
}

impl ChannelPending {
    /// Total unreceived packets and unrelayed acks.
    pub fn total(&self) -> usize {
        [&self.a_to_b, &self.b_to_a]
            .iter()
            .map(|d| d.unreceived_packets.len() + d.unreceived_acks.len())
            .sum()
    }
}

async fn direction(src: EndQuery<'_>, dst: EndQuery<'_>) -> Result<Direction, QueryError> {
    let (unreceived_packets, _) = unreceived(src, dst).await?;
    let unreceived_acks = unrelayed_acks(src, dst).await?;
    Ok(Direction {
        src_chain: src.query.chain_id().to_string(),
        src_port: src.port.to_string(),
        src_channel: src.channel.to_string(),
        dst_chain: dst.query.chain_id().to_string(),
        unreceived_packets,
        unreceived_acks,
    })
}

/// Unreceived packets and unrelayed acks both ways on the channel `port_a/channel_a` (on `a`)
/// ↔ `port_b/channel_b` (on `b`).
pub async fn pending_on(
    a: &IbcQuerier,
    b: &IbcQuerier,
    port_a: &str,
    channel_a: &str,
    port_b: &str,
    channel_b: &str,
) -> Result<ChannelPending, QueryError> {
    let end_a = EndQuery {
        query: a,
        port: port_a,
        channel: channel_a,
    };
    let end_b = EndQuery {
        query: b,
        port: port_b,
        channel: channel_b,
    };
    Ok(ChannelPending {
        a_to_b: direction(end_a, end_b).await?,
        b_to_a: direction(end_b, end_a).await?,
    })
}
