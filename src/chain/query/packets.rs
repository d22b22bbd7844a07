//! Packet data recovery: the packets sent (and the acknowledgements written) with given
//! sequences, read back from their `send_packet` / `write_acknowledgement` events, a few range
//! queries over contiguous sequences rather than one per sequence: with `tx_search` for events of
//! txs, with `block_search` then `block_results` for block-level events (FinalizeBlock). Clearing
//! asks these only for what the packet ledger of the event hub does not hold.
//!
//! A node run with `indexer = "null"` refuses both searches ([`QueryError::search_unsupported`]);
//! a pruning node has no `block_results` below its lowest height. Both are answers, not
//! failures: what they cannot give is left out of the result.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use ibc_proto::ibc::core::channel::v1::Packet;
use serde::Deserialize;
use serde_json::json;

use super::attributes::{
    ack_from_map, packet_from_map, plain_packet_attributes, PacketAttributeError,
};
use super::{IbcQuerier, QueryError};
use crate::chain::events::ledger::{pruned_lowest, Recorded};
use crate::chain::rpc::{Order, RpcError};

/// At most this many sequences are covered by one range query.
const SEQUENCES_PER_SEARCH: u64 = 500;
/// `per_page` of `block_search` (CometBFT's maximum).
const PER_PAGE: u8 = 100;
/// `block_results` requests in flight at most for the heights a `block_search` found.
const BLOCK_FETCH_CONCURRENCY: usize = 4;

/// Where packet events are searched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Search {
    /// `tx_search`: events of txs.
    Txs,
    /// `block_search`, then `block_results` of each height found: block-level events
    /// (`finalize_block_events`, v0.37's begin / end block events).
    Blocks,
}

impl QueryError {
    /// Whether the node cannot answer this kind of query at all: its tx and block indexes are
    /// off (`transaction indexing is disabled`, `block indexing is disabled`).
    pub(crate) fn search_unsupported(&self) -> bool {
        match self {
            QueryError::Rpc(RpcError::JsonRpc { message, data, .. }) => {
                let text = format!("{message} {}", data.as_deref().unwrap_or(""));
                text.contains("indexing is disabled")
            }
            _ => false,
        }
    }
}

/// One `block_search` answer, as far as heights go.
#[derive(Deserialize)]
struct BlockSearch {
    blocks: Vec<FoundBlock>,
    #[serde(deserialize_with = "decimal")]
    total_count: u64,
}

#[derive(Deserialize)]
struct FoundBlock {
    block: FoundBlockInner,
}

#[derive(Deserialize)]
struct FoundBlockInner {
    header: FoundHeader,
}

#[derive(Deserialize)]
struct FoundHeader {
    #[serde(deserialize_with = "decimal")]
    height: u64,
}

/// A CometBFT 64-bit integer: a decimal string (or a JSON number).
fn decimal<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => s.parse().map_err(serde::de::Error::custom),
        serde_json::Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| serde::de::Error::custom("not a u64")),
        other => Err(serde::de::Error::custom(format!("not an integer: {other}"))),
    }
}

/// The events of interest of one height or tx, as key → value maps.
type EventMaps = Vec<(u64, BTreeMap<String, String>)>;

fn event_maps<'e>(
    height: u64,
    kind: &str,
    events: impl Iterator<Item = &'e tendermint::abci::Event>,
) -> EventMaps {
    events
        .filter(|e| e.kind == kind)
        .map(|e| {
            let pairs = cosmos::events::attribute_pairs(e)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            (height, plain_packet_attributes(pairs).into_iter().collect())
        })
        .collect()
}

impl IbcQuerier {
    /// The `event_kind` events of every tx matching `query` (txs with code 0 only), with the
    /// tx's height.
    async fn tx_events(&self, query: &str, event_kind: &str) -> Result<EventMaps, QueryError> {
        let txs = self
            .rpc
            .tx_search_all(query, Order::Ascending, usize::MAX)
            .await?;
        Ok(txs
            .iter()
            .filter(|tx| tx.tx_result.code.is_ok())
            .flat_map(|tx| event_maps(tx.height.value(), event_kind, tx.tx_result.events.iter()))
            .collect())
    }

    /// Every height `block_search` finds for `query`, ascending.
    async fn block_heights(&self, query: &str) -> Result<Vec<u64>, QueryError> {
        let mut heights = Vec::new();
        let mut page: u32 = 1;
        loop {
            let params = json!({
                "query": query,
                "page": page.to_string(),
                "per_page": PER_PAGE.to_string(),
                "order_by": "asc",
            });
            let r: BlockSearch = self.rpc.call("block_search", params).await?;
            let got = r.blocks.len();
            heights.extend(r.blocks.iter().map(|b| b.block.header.height));
            if got == 0 || heights.len() as u64 >= r.total_count {
                break;
            }
            page += 1;
        }
        heights.sort_unstable();
        heights.dedup();
        Ok(heights)
    }

    /// The block-level `event_kind` events of the heights `block_search` finds for `query`
    /// (heights the node pruned are left out).
    async fn block_events(&self, query: &str, event_kind: &str) -> Result<EventMaps, QueryError> {
        let heights = self.block_heights(query).await?;
        let mut fetched = futures::stream::iter(heights)
            .map(|h| async move {
                let height = tendermint::block::Height::try_from(h)
                    .map_err(|e| self.decode_error(format!("height {h}: {e}")))?;
                match self.rpc.block_results(Some(height)).await {
                    Ok(r) => Ok(Some(r)),
                    Err(e) if pruned_lowest(&e).is_some() => Ok(None),
                    Err(e) => Err(QueryError::from(e)),
                }
            })
            .buffered(BLOCK_FETCH_CONCURRENCY);
        let mut out = Vec::new();
        while let Some(r) = fetched.next().await {
            let Some(r) = r? else { continue };
            let h = r.height.value();
            let events = r
                .begin_block_events
                .iter()
                .flatten()
                .chain(r.end_block_events.iter().flatten())
                .chain(r.finalize_block_events.iter());
            out.extend(event_maps(h, event_kind, events));
        }
        Ok(out)
    }

    /// Searches `source` for the `event_kind` events over `ranges`, keeping the items `extract`
    /// makes of them, keyed by sequence (the first occurrence winning).
    async fn search_packet_events<T>(
        &self,
        source: Search,
        ranges: Vec<(u64, u64)>,
        make_query: impl Fn(u64, u64) -> String,
        event_kind: &str,
        wanted: &BTreeSet<u64>,
        extract: impl Fn(&BTreeMap<String, String>) -> Result<Option<(u64, T)>, QueryError>,
    ) -> Result<BTreeMap<u64, (u64, T)>, QueryError> {
        let mut found: BTreeMap<u64, (u64, T)> = BTreeMap::new();
        for (lo, hi) in ranges {
            let query = make_query(lo, hi);
            let events = match source {
                Search::Txs => self.tx_events(&query, event_kind).await?,
                Search::Blocks => self.block_events(&query, event_kind).await?,
            };
            for (height, attrs) in events {
                if let Some((seq, item)) = extract(&attrs)? {
                    if wanted.contains(&seq) {
                        found.entry(seq).or_insert((height, item));
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
        Ok(self
            .find_sent_packets(Search::Txs, port, channel, sequences)
            .await?
            .into_iter()
            .map(|r| (r.packet.sequence, r.packet))
            .collect())
    }

    /// The packets sent on `port/channel` with these sequences, found in `source`, with the
    /// heights of their events. Sequences not found are left out; ascending by sequence.
    pub(crate) async fn find_sent_packets(
        &self,
        source: Search,
        port: &str,
        channel: &str,
        sequences: &[u64],
    ) -> Result<Vec<Recorded>, QueryError> {
        let wanted: BTreeSet<u64> = sequences.iter().copied().collect();
        let ranges = contiguous_ranges(sequences, SEQUENCES_PER_SEARCH);
        let found = self
            .search_packet_events(
                source,
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
        Ok(found
            .into_values()
            .map(|(height, packet)| Recorded {
                height,
                packet,
                ack: Vec::new(),
            })
            .collect())
    }

    /// The packets received on `port/channel` (destination side) with these sequences and their
    /// acknowledgements, from `write_acknowledgement` events via `tx_search`. Sequences not found
    /// are left out; the result is in ascending order of sequence.
    pub async fn written_acks(
        &self,
        port: &str,
        channel: &str,
        sequences: &[u64],
    ) -> Result<Vec<(u64, Packet, Vec<u8>)>, QueryError> {
        Ok(self
            .find_written_acks(Search::Txs, port, channel, sequences)
            .await?
            .into_iter()
            .map(|r| (r.packet.sequence, r.packet, r.ack))
            .collect())
    }

    /// The acknowledgements written on `port/channel` (destination side) for these sequences,
    /// found in `source`, with the heights of their events. Ascending by sequence.
    pub(crate) async fn find_written_acks(
        &self,
        source: Search,
        port: &str,
        channel: &str,
        sequences: &[u64],
    ) -> Result<Vec<Recorded>, QueryError> {
        let wanted: BTreeSet<u64> = sequences.iter().copied().collect();
        let ranges = contiguous_ranges(sequences, SEQUENCES_PER_SEARCH);
        let found = self
            .search_packet_events(
                source,
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
            .into_values()
            .map(|(height, (packet, ack))| Recorded {
                height,
                packet,
                ack,
            })
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

    /// Every `tx_search` and `block_search` capture the tendermint-rpc package ships decodes as
    /// packet data recovery decodes it.
    #[test]
    fn decodes_every_shipped_search_capture() {
        use crate::chain::rpc::decode_response;
        let files = crate::chain::fixtures::captures(&["tx_search", "block_search"]);
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (network, name, body) in &files {
            let what = format!("{network}/{name}");
            let items = if name.starts_with("tx_search") {
                let r: tendermint_rpc::endpoint::tx_search::Response =
                    decode_response("http://capture.invalid/", "tx_search", body)
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                assert!(!r.txs.is_empty(), "{what}");
                let kinds: BTreeSet<&str> = r
                    .txs
                    .iter()
                    .flat_map(|t| t.tx_result.events.iter().map(|e| e.kind.as_str()))
                    .collect();
                let events: usize = kinds
                    .iter()
                    .map(|kind| {
                        r.txs
                            .iter()
                            .flat_map(|t| {
                                event_maps(t.height.value(), kind, t.tx_result.events.iter())
                            })
                            .count()
                    })
                    .sum();
                assert!(events > 0, "{what}: no events");
                events
            } else {
                let r: BlockSearch =
                    decode_response("http://capture.invalid/", "block_search", body)
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                assert!(!r.blocks.is_empty(), "{what}");
                assert!(r.total_count >= r.blocks.len() as u64, "{what}");
                assert!(r.blocks.iter().all(|b| b.block.header.height > 0), "{what}");
                r.blocks.len()
            };
            *seen.entry(network.clone()).or_default() += items;
        }
        for network in [
            "kvstore_fixtures/v0_34",
            "kvstore_fixtures/v0_37",
            "kvstore_fixtures/v0_38",
        ] {
            assert!(
                seen.get(network).copied().unwrap_or(0) > 0,
                "{network}: {seen:?}"
            );
        }
    }

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
