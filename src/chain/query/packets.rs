//! Packet data recovery: the packets sent (and the acknowledgements written) with given
//! sequences, read back from their `send_packet` / `write_acknowledgement` events with
//! `tx_search`, a few range queries over contiguous sequences rather than one per sequence.

use std::collections::{BTreeMap, BTreeSet};

use ibc_proto::ibc::core::channel::v1::Packet;

use super::attributes::{ack_from_map, packet_from_map, PacketAttributeError};
use super::{IbcQuerier, QueryError};
use crate::chain::rpc::Order;

/// At most this many sequences are covered by one `tx_search` range query.
const SEQUENCES_PER_SEARCH: u64 = 500;

impl IbcQuerier {
    /// Every tx matching `query` whose events of kind `event_kind` (filtered by `keep`) yield
    /// an item; items are keyed by sequence, the first occurrence winning.
    async fn search_packet_events<T>(
        &self,
        ranges: Vec<(u64, u64)>,
        make_query: impl Fn(u64, u64) -> String,
        event_kind: &str,
        wanted: &BTreeSet<u64>,
        extract: impl Fn(&BTreeMap<String, String>) -> Result<Option<(u64, T)>, QueryError>,
    ) -> Result<BTreeMap<u64, T>, QueryError> {
        let mut found: BTreeMap<u64, T> = BTreeMap::new();
        for (lo, hi) in ranges {
            let query = make_query(lo, hi);
            let txs = self
                .rpc
                .tx_search_all(&query, Order::Ascending, usize::MAX)
                .await?;
            for tx in txs {
                if tx.tx_result.code.is_err() {
                    continue;
                }
                for event in tx.tx_result.events.iter().filter(|e| e.kind == event_kind) {
                    let attrs = cosmos::events::attributes(event);
                    if let Some((seq, item)) = extract(&attrs)? {
                        if wanted.contains(&seq) {
                            found.entry(seq).or_insert(item);
                        }
                    }
                }
            }
        }
        Ok(found)
    }

    /// The packets sent on `port/channel` with these sequences, recovered from `send_packet`
    /// events via `tx_search` (a few range queries, not one per sequence). Sequences not found
    /// are left out; the result is in ascending order of sequence.
    pub async fn sent_packets(
        &self,
        port: &str,
        channel: &str,
        sequences: &[u64],
    ) -> Result<Vec<(u64, Packet)>, QueryError> {
        let wanted: BTreeSet<u64> = sequences.iter().copied().collect();
        let ranges = contiguous_ranges(sequences, SEQUENCES_PER_SEARCH);
        let found = self
            .search_packet_events(
                ranges,
                |lo, hi| {
                    format!(
                        "send_packet.packet_src_port='{port}' AND send_packet.packet_src_channel='{channel}' AND send_packet.packet_sequence>={lo} AND send_packet.packet_sequence<={hi}"
                    )
                },
                "send_packet",
                &wanted,
                |attrs| {
                    if attrs.get("packet_src_port").map(String::as_str) != Some(port)
                        || attrs.get("packet_src_channel").map(String::as_str) != Some(channel)
                    {
                        return Ok(None);
                    }
                    let packet = packet_from_map(attrs).map_err(|e| {
                        self.decode_error(format!("send_packet on {port}/{channel}: {e}"))
                    })?;
                    Ok(Some((packet.sequence, packet)))
                },
            )
            .await?;
        Ok(found.into_iter().collect())
    }

    /// The packets received on `port/channel` (destination side) with these sequences and their
    /// acknowledgements, from `write_acknowledgement` events. Sequences not found are left out;
    /// the result is in ascending order of sequence.
    pub async fn written_acks(
        &self,
        port: &str,
        channel: &str,
        sequences: &[u64],
    ) -> Result<Vec<(u64, Packet, Vec<u8>)>, QueryError> {
        let wanted: BTreeSet<u64> = sequences.iter().copied().collect();
        let ranges = contiguous_ranges(sequences, SEQUENCES_PER_SEARCH);
        let found = self
            .search_packet_events(
                ranges,
                |lo, hi| {
                    format!(
                        "write_acknowledgement.packet_dst_port='{port}' AND write_acknowledgement.packet_dst_channel='{channel}' AND write_acknowledgement.packet_sequence>={lo} AND write_acknowledgement.packet_sequence<={hi}"
                    )
                },
                "write_acknowledgement",
                &wanted,
                |attrs| {
                    if attrs.get("packet_dst_port").map(String::as_str) != Some(port)
                        || attrs.get("packet_dst_channel").map(String::as_str) != Some(channel)
                    {
                        return Ok(None);
                    }
                    let bad = |e: PacketAttributeError| {
                        self.decode_error(format!("write_acknowledgement on {port}/{channel}: {e}"))
                    };
                    let packet = packet_from_map(attrs).map_err(bad)?;
                    let ack = ack_from_map(attrs).map_err(bad)?;
                    Ok(Some((packet.sequence, (packet, ack))))
                },
            )
            .await?;
        Ok(found
            .into_iter()
            .map(|(seq, (packet, ack))| (seq, packet, ack))
            .collect())
    }
}

/// Splits sequences into sorted, deduplicated, contiguous ranges `(lo, hi)` covering at most
/// `max_len` sequences each.
fn contiguous_ranges(sequences: &[u64], max_len: u64) -> Vec<(u64, u64)> {
    let sorted: BTreeSet<u64> = sequences.iter().copied().collect();
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for s in sorted {
        match ranges.last_mut() {
            Some((lo, hi)) if s == *hi + 1 && s - *lo < max_len => *hi = s,
            _ => ranges.push((s, s)),
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_contiguous_and_bounded() {
        assert_eq!(
            contiguous_ranges(&[7, 1, 2, 3, 5, 9, 8, 3], 100),
            vec![(1, 3), (5, 5), (7, 9)]
        );
        assert_eq!(
            contiguous_ranges(&[1, 2, 3, 4, 5], 2),
            vec![(1, 2), (3, 4), (5, 5)]
        );
        assert!(contiguous_ranges(&[], 10).is_empty());
    }
}
