//! Clearing: finding unfinished work from chain state alone, so nothing is lost across restarts,
//! dropped events or crashes. Packets: commitments on the source minus receipts on the
//! destination. Acknowledgements: acks written on the destination whose commitment still exists
//! on the source.
//!
//! Packet data and acks come from the chain's packet ledger (what its event hub delivered, and
//! what a scan of `block_results` from the persisted cursor found: see `relay::cursor`), then,
//! for what it does not hold, from range `tx_search`es, then from `block_search` (block-level
//! events such as FinalizeBlock's), never one query per sequence. A packet none of them can
//! provide is reported once, by sequence (warning and `arke_packet_data_unavailable_total`),
//! and looked for again at every round.
//!
//! The workers' clearing rounds and `arke clear` turn what [`pending_packets`] and
//! [`pending_acks`] find into jobs; [`pending_on`] counts the same sequences, without limit or
//! packet data, for `arke query pending`.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Serialize;

use super::channel::{ChannelSpec, Job, Side};
use super::{report, ChainHandle};
use crate::chain::events::ledger::{EndKey, Kind, Recorded};
use crate::chain::query::{IbcQuerier, QueryError, Search};

/// At most this many sequences per direction and kind per clearing round; the rest is picked up
/// by the next round.
pub(crate) const CLEAR_LIMIT: usize = 1000;

/// How long a lookup waits for the event hub to deliver the chain's latest height before it
/// decides the ledger cannot have a packet.
const HUB_CATCH_UP: Duration = Duration::from_secs(10);

/// What [`recover`] found for some sequences.
struct Recovery {
    found: Vec<Recorded>,
    /// Sequences that no source can provide (none is listed while that cannot be known yet: a
    /// scan from the cursor still running, or the hub behind the chain).
    unavailable: Vec<u64>,
}

/// The data of `sequences` of `(kind, end)` on `chain`: from its ledger, then `tx_search`, then
/// `block_search`. A source the node does not offer (no index) is skipped; any other failure is
/// an error (the round is retried).
async fn recover(
    chain: &ChainHandle,
    kind: Kind,
    end: &EndKey,
    sequences: &[u64],
) -> Result<Recovery, QueryError> {
    let ledger = chain.hub.ledger();
    let (mut found, mut missing) = ledger.lookup(kind, end, sequences);
    if missing.is_empty() {
        return Ok(Recovery {
            found,
            unavailable: missing,
        });
    }
    // The commitments were read at the chain's latest state, which the hub may not have
    // delivered yet: let it catch up before looking elsewhere.
    let latest = chain.query.latest_height().await?;
    let mut delivered = chain.hub.latest_height();
    let caught_up = tokio::time::timeout(HUB_CATCH_UP, delivered.wait_for(|h| *h >= latest))
        .await
        .is_ok_and(|r| r.is_ok());
    let (more, still) = ledger.lookup(kind, end, &missing);
    found.extend(more);
    missing = still;
    for source in [Search::Txs, Search::Blocks] {
        if missing.is_empty() {
            break;
        }
        let (port, channel) = (&end.0, &end.1);
        let result = match kind {
            Kind::Send => {
                chain
                    .query
                    .find_sent_packets(source, port, channel, &missing)
                    .await
            }
            Kind::WriteAck => {
                chain
                    .query
                    .find_written_acks(source, port, channel, &missing)
                    .await
            }
        };
        match result {
            Ok(more) => {
                ledger.insert(kind, end, &more);
                let got: BTreeSet<u64> = more.iter().map(|r| r.packet.sequence).collect();
                missing.retain(|s| !got.contains(s));
                found.extend(more);
            }
            Err(e) if e.search_unsupported() => {
                tracing::debug!(chain = %chain.config.id, ?source, error = %e, "the node offers no such search");
            }
            Err(e) => return Err(e),
        }
    }
    found.sort_by_key(|r| r.packet.sequence);
    let knowable = caught_up && *ledger.filled().borrow();
    Ok(Recovery {
        found,
        unavailable: if knowable { missing } else { Vec::new() },
    })
}

/// Reports the sequences of `unavailable` not reported before.
fn report_unavailable(
    spec: &ChannelSpec,
    from: Side,
    holder: &ChainHandle,
    kind: Kind,
    end: &EndKey,
    unavailable: &[u64],
) {
    let first = holder.hub.ledger().first_reports(kind, end, unavailable);
    if first.is_empty() {
        return;
    }
    let what = match kind {
        Kind::Send => "packet",
        Kind::WriteAck => "ack",
    };
    for sequence in &first {
        tracing::warn!(
            chain = %holder.config.id,
            port = %end.0,
            channel = %end.1,
            sequence,
            kind = what,
            covered_from = holder.hub.ledger().covered_from(),
            "no source has this packet's data (not in the blocks scanned since the cursor, \
             and tx_search / block_search cannot find it); it cannot be relayed"
        );
    }
    report::data_unavailable(spec, from, what, first.len());
}

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
///
/// Only the source's open commitments (`open`, read by the same round's packet clearing) are
/// asked about, so the cost follows what is unfinished, not every acknowledgement the channel
/// ever wrote.
async fn unrelayed_acks(
    src: EndQuery<'_>,
    dst: EndQuery<'_>,
    open: &[u64],
) -> Result<Vec<u64>, QueryError> {
    if open.is_empty() {
        return Ok(Vec::new());
    }
    let acked = dst
        .query
        .acknowledgements_among(dst.port, dst.channel, open)
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
    let holder = &spec.end(from).chain;
    let end: EndKey = (src.port.to_string(), src.channel.to_string());
    // Heights up to here are delivered: their packets are in the state the queries read.
    let seen = *holder.hub.latest_height().borrow();
    let (mut unreceived, open) = unreceived(src, EndQuery::of(spec, from.other())).await?;
    let pending: BTreeSet<u64> = unreceived.iter().copied().collect();
    holder.hub.ledger().prune(Kind::Send, &end, seen, &pending);
    unreceived.truncate(CLEAR_LIMIT);
    if unreceived.is_empty() {
        return Ok(UnreceivedPackets {
            jobs: Vec::new(),
            open,
        });
    }
    let recovery = recover(holder, Kind::Send, &end, &unreceived).await?;
    report_unavailable(spec, from, holder, Kind::Send, &end, &recovery.unavailable);
    let jobs = recovery
        .found
        .into_iter()
        .map(|r| Job {
            from,
            packet: r.packet,
            ack: Vec::new(),
            event_height: 0,
        })
        .collect();
    Ok(UnreceivedPackets { jobs, open })
}

/// Acknowledgements written on the other end for packets sent from `from`, not yet relayed back.
///
/// `open` are the sequences still committed on `from`, as [`pending_packets`] of the same
/// round found them ([`UnreceivedPackets::open`]).
pub(crate) async fn pending_acks(
    spec: &ChannelSpec,
    from: Side,
    open: &[u64],
) -> Result<Vec<Job>, QueryError> {
    let dst = EndQuery::of(spec, from.other());
    let holder = &spec.end(from.other()).chain;
    let end: EndKey = (dst.port.to_string(), dst.channel.to_string());
    let seen = *holder.hub.latest_height().borrow();
    let mut unrelayed = unrelayed_acks(EndQuery::of(spec, from), dst, open).await?;
    let pending: BTreeSet<u64> = unrelayed.iter().copied().collect();
    holder
        .hub
        .ledger()
        .prune(Kind::WriteAck, &end, seen, &pending);
    unrelayed.truncate(CLEAR_LIMIT);
    if unrelayed.is_empty() {
        return Ok(Vec::new());
    }
    let recovery = recover(holder, Kind::WriteAck, &end, &unrelayed).await?;
    report_unavailable(
        spec,
        from,
        holder,
        Kind::WriteAck,
        &end,
        &recovery.unavailable,
    );
    Ok(recovery
        .found
        .into_iter()
        .map(|r| Job {
            from,
            packet: r.packet,
            ack: r.ack,
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
    let (unreceived_packets, open) = unreceived(src, dst).await?;
    let unreceived_acks = unrelayed_acks(src, dst, &open).await?;
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
