//! The packet ledger of one chain: the data of every `send_packet` and `write_acknowledgement`
//! the event hub delivered, or a scan of `block_results` found, kept until the packet needs it
//! no longer. Clearing reads packet data here first, so a node without a tx index (CometBFT's
//! `indexer = "null"`) and packets sent from FinalizeBlock (whose events exist only in
//! `block_results.finalize_block_events`) are served without `tx_search`.
//!
//! # Coverage and the cursor
//!
//! The ledger knows which heights it has seen whole: `covered_from..=covered_to`. The hub extends
//! the top as it delivers; [`PacketLedger::fill`] extends the bottom by scanning `block_results`
//! from a cursor persisted by an earlier run up to the hub's first height. From coverage and the
//! entries still needed it derives [`PacketLedger::cursor`]: a height `C` such that everything a
//! relayed channel may still need lies above `C`, so a restart that scans from `C + 1` loses
//! nothing. Only streams a channel worker [`watch`](PacketLedger::watch)ed in this process hold
//! the cursor back (a stopped worker's still do, so the cursor written at shutdown is right); entries are removed when clearing shows their packet finished
//! ([`PacketLedger::prune`]) or the worker sees it finished ([`PacketLedger::forget`]).
//!
//! # Bounds
//!
//! At most [`MAX_ENTRIES`] entries: beyond that, entries of unwatched streams go first, then the
//! lowest heights, and coverage starts above what was evicted (clearing falls back to
//! `tx_search` / `block_search` for those).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use ibc_proto::ibc::core::channel::v1::Packet;
use tendermint::block::Height;
use tokio::sync::watch;

use super::records::{block_from_results, packet_events};
use crate::chain::rpc::{RpcClient, RpcError};
use crate::chain::types::PacketEvent;

/// Entries kept at most per chain.
pub(crate) const MAX_ENTRIES: usize = 100_000;
/// `block_results` requests in flight at most during a fill (each also takes a permit of the
/// endpoint's semaphore).
pub(crate) const FILL_CONCURRENCY: usize = 8;
/// Attempts per height during a fill before it gives up.
const FILL_ATTEMPTS: u32 = 5;

/// Which event an entry comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// `send_packet`, keyed by the packet's source end (on this chain).
    Send,
    /// `write_acknowledgement`, keyed by the packet's destination end (on this chain).
    WriteAck,
}

/// One `(port, channel)` end on this chain.
pub(crate) type EndKey = (String, String);

/// A packet event's data and where it was seen.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Recorded {
    /// The height of the event.
    pub(crate) height: u64,
    /// The packet.
    pub(crate) packet: Packet,
    /// The acknowledgement (`WriteAck` only; empty for `Send`).
    pub(crate) ack: Vec<u8>,
}

#[derive(Default)]
struct Stream {
    entries: BTreeMap<u64, Recorded>,
    /// A worker relays this stream (or did, in this process).
    watched: bool,
    /// Sequences already reported as having no data source.
    reported: BTreeSet<u64>,
}

#[derive(Default)]
struct State {
    streams: HashMap<(Kind, EndKey), Stream>,
    entries: usize,
    /// Every height in `covered_from..=covered_to` was recorded (nothing covered while
    /// `covered_from > covered_to`).
    covered_from: u64,
    covered_to: u64,
    /// The cursor may not pass this (a fill that gave up).
    hold: Option<u64>,
}

/// The packet ledger of one chain. See the module doc.
pub(crate) struct PacketLedger {
    chain_id: String,
    state: Mutex<State>,
    /// The height after which the hub delivers (0 until known).
    hub_start: watch::Sender<u64>,
    /// False while a fill is announced and not finished.
    filled: watch::Sender<bool>,
}

impl std::fmt::Debug for PacketLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = super::lock(&self.state);
        f.debug_struct("PacketLedger")
            .field("chain_id", &self.chain_id)
            .field("entries", &st.entries)
            .field("covered", &(st.covered_from, st.covered_to))
            .finish()
    }
}

impl PacketLedger {
    pub(crate) fn new(chain_id: &str) -> Self {
        Self {
            chain_id: chain_id.to_string(),
            state: Mutex::new(State {
                covered_from: 1,
                ..State::default()
            }),
            hub_start: watch::channel(0).0,
            filled: watch::channel(true).0,
        }
    }

    /// The hub delivers the heights after `start`.
    pub(super) fn hub_started(&self, start: u64) {
        {
            let mut st = super::lock(&self.state);
            st.covered_from = start + 1;
            st.covered_to = start;
        }
        self.hub_start.send_replace(start.max(1));
    }

    /// The hub delivered `height` with `events`.
    pub(super) fn record_block(&self, height: u64, events: &[PacketEvent]) {
        let mut st = super::lock(&self.state);
        record(&mut st, events);
        if height == st.covered_to + 1 {
            st.covered_to = height;
        }
        evict(&mut st, &self.chain_id);
    }

    /// The hub skipped heights below `lowest` (pruned by the node).
    pub(super) fn skipped_to(&self, lowest: u64) {
        let mut st = super::lock(&self.state);
        st.covered_from = st.covered_from.max(lowest);
        st.covered_to = st.covered_to.max(lowest - 1);
    }

    /// Makes the entries of `(kind, end)` count for the cursor from now on.
    pub(crate) fn watch(&self, kind: Kind, end: EndKey) {
        super::lock(&self.state)
            .streams
            .entry((kind, end))
            .or_default()
            .watched = true;
    }

    /// The recorded entries of `(kind, end)` among `sequences`, and the sequences not recorded.
    pub(crate) fn lookup(
        &self,
        kind: Kind,
        end: &EndKey,
        sequences: &[u64],
    ) -> (Vec<Recorded>, Vec<u64>) {
        let st = super::lock(&self.state);
        let stream = st.streams.get(&(kind, end.clone()));
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for seq in sequences {
            match stream.and_then(|s| s.entries.get(seq)) {
                Some(r) => found.push(r.clone()),
                None => missing.push(*seq),
            }
        }
        (found, missing)
    }

    /// Adds entries found elsewhere (`tx_search`, `block_search`).
    pub(crate) fn insert(&self, kind: Kind, end: &EndKey, found: &[Recorded]) {
        let mut st = super::lock(&self.state);
        let stream = st.streams.entry((kind, end.clone())).or_default();
        let mut added = 0;
        for r in found {
            if stream
                .entries
                .insert(r.packet.sequence, r.clone())
                .is_none()
            {
                added += 1;
            }
        }
        st.entries += added;
        evict(&mut st, &self.chain_id);
    }

    /// Clearing found `pending` still needing data for `(kind, end)` in the chain's state at or
    /// above `seen`: every entry at or below `seen` not in `pending` is finished and dropped.
    pub(crate) fn prune(&self, kind: Kind, end: &EndKey, seen: u64, pending: &BTreeSet<u64>) {
        let mut st = super::lock(&self.state);
        let Some(stream) = st.streams.get_mut(&(kind, end.clone())) else {
            return;
        };
        let before = stream.entries.len();
        stream
            .entries
            .retain(|seq, r| r.height > seen || pending.contains(seq));
        stream.reported.retain(|seq| pending.contains(seq));
        let removed = before - stream.entries.len();
        st.entries -= removed;
    }

    /// The packet `sequence` of `(kind, end)` is finished (seen by a worker).
    pub(crate) fn forget(&self, kind: Kind, end: &EndKey, sequence: u64) {
        let mut st = super::lock(&self.state);
        if let Some(stream) = st.streams.get_mut(&(kind, end.clone())) {
            if stream.entries.remove(&sequence).is_some() {
                st.entries -= 1;
            }
        }
    }

    /// Which of `sequences` were not reported yet as having no data source (and are now).
    pub(crate) fn first_reports(&self, kind: Kind, end: &EndKey, sequences: &[u64]) -> Vec<u64> {
        let mut st = super::lock(&self.state);
        let stream = st.streams.entry((kind, end.clone())).or_default();
        sequences
            .iter()
            .copied()
            .filter(|s| stream.reported.insert(*s))
            .collect()
    }

    /// The height a restart may scan from the one after, or `None` while it is not known (the
    /// hub has not started, a fill is running, or nothing is watched).
    pub(crate) fn cursor(&self) -> Option<u64> {
        if !*self.filled.borrow() || *self.hub_start.borrow() == 0 {
            return None;
        }
        let st = super::lock(&self.state);
        let watched: Vec<&Stream> = st.streams.values().filter(|s| s.watched).collect();
        if watched.is_empty() || st.covered_from > st.covered_to + 1 {
            return None;
        }
        let floor = st.covered_from - 1;
        let needed = watched
            .iter()
            .flat_map(|s| s.entries.values())
            .map(|r| r.height.saturating_sub(1))
            .min()
            .unwrap_or(u64::MAX);
        let mut cursor = needed.min(st.covered_to).max(floor);
        if let Some(hold) = st.hold {
            cursor = cursor.min(hold);
        }
        Some(cursor)
    }

    /// The lowest height covered (every height from there to the hub's latest was recorded).
    pub(crate) fn covered_from(&self) -> u64 {
        super::lock(&self.state).covered_from
    }

    /// Announces a [`fill`](Self::fill) (or [`fill_skipped`](Self::fill_skipped)) to come:
    /// until it ends, [`cursor`](Self::cursor) is unknown and [`filled`](Self::filled) false.
    pub(crate) fn expect_fill(&self) {
        self.filled.send_replace(false);
    }

    /// The announced fill will not run.
    pub(crate) fn fill_skipped(&self) {
        self.filled.send_replace(true);
    }

    /// Whether no fill is running.
    pub(crate) fn filled(&self) -> watch::Receiver<bool> {
        self.filled.subscribe()
    }

    /// The height after which the hub delivers, once known.
    pub(crate) async fn hub_start(&self) -> u64 {
        let mut rx = self.hub_start.subscribe();
        let start = match rx.wait_for(|s| *s > 0).await {
            Ok(s) => *s,
            // The sender lives as long as `self`.
            Err(_) => 0,
        };
        start
    }

    /// Scans `block_results` from `from` up to the height after which the hub delivers, at most
    /// [`FILL_CONCURRENCY`] requests at a time, and records what it finds; coverage then starts
    /// at `from` (or at the node's lowest height, when it pruned below). Ends the announced fill.
    pub(crate) async fn fill(&self, rpc: &RpcClient, from: u64) {
        struct Done<'a>(&'a PacketLedger);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.filled.send_replace(true);
            }
        }
        let _done = Done(self);
        let to = self.hub_start().await;
        let mut next = from.max(1);
        if next > to {
            return;
        }
        tracing::info!(chain = %self.chain_id, from = next, to, "scanning block_results for packets missed since the cursor");
        let started = tokio::time::Instant::now();
        let mut lowest_seen = next;
        'scan: while next <= to {
            let chunk_end = (next + 255).min(to);
            let mut fetched = futures::stream::iter(next..=chunk_end)
                .map(|h| fetch_with_retries(rpc, h))
                .buffered(FILL_CONCURRENCY);
            while let Some((h, result)) = fetched.next().await {
                match result {
                    Ok(r) => {
                        let block = block_from_results(&r);
                        let events = packet_events(&self.chain_id, &block);
                        let mut st = super::lock(&self.state);
                        record(&mut st, &events);
                        evict(&mut st, &self.chain_id);
                    }
                    Err(e) => {
                        if let Some(lowest) = pruned_lowest(&e).filter(|l| *l > h) {
                            tracing::warn!(chain = %self.chain_id, from = h, lowest, "the node pruned heights the cursor covers; packets sent there need tx_search or block_search");
                            next = lowest;
                            lowest_seen = lowest_seen.max(lowest);
                            continue 'scan;
                        }
                        tracing::error!(chain = %self.chain_id, height = h, error = %e, "scanning block_results failed; the cursor stays where it was until the next start");
                        super::lock(&self.state).hold = Some(from.saturating_sub(1));
                        return;
                    }
                }
            }
            next = chunk_end + 1;
        }
        let mut st = super::lock(&self.state);
        // Eviction or a hole during the scan may have raised the bottom; never lower it past them.
        if st.covered_from == to + 1 {
            st.covered_from = lowest_seen;
        }
        drop(st);
        tracing::info!(chain = %self.chain_id, from = lowest_seen, to, elapsed = ?started.elapsed(), "block_results scan done");
    }
}

async fn fetch_with_retries(
    rpc: &RpcClient,
    height: u64,
) -> (
    u64,
    Result<tendermint_rpc::endpoint::block_results::Response, RpcError>,
) {
    let mut attempt = 0;
    loop {
        let result = match Height::try_from(height) {
            Ok(h) => rpc.block_results(Some(h)).await,
            Err(e) => {
                return (
                    height,
                    Err(RpcError::Decode {
                        endpoint: String::new(),
                        method: "block_results",
                        reason: e.to_string(),
                    }),
                )
            }
        };
        attempt += 1;
        match result {
            Err(e) if attempt < FILL_ATTEMPTS && pruned_lowest(&e).is_none() => {
                tokio::time::sleep(Duration::from_millis(200) * 2u32.pow(attempt)).await;
            }
            other => return (height, other),
        }
    }
}

fn record(st: &mut State, events: &[PacketEvent]) {
    for event in events {
        match event {
            PacketEvent::Acknowledged { packet, .. } | PacketEvent::TimedOut { packet, .. } => {
                // The commitment is gone: the packet's data is needed no more.
                let key = (
                    Kind::Send,
                    (packet.source_port.clone(), packet.source_channel.clone()),
                );
                if let Some(stream) = st.streams.get_mut(&key) {
                    if stream.entries.remove(&packet.sequence).is_some() {
                        st.entries -= 1;
                    }
                }
            }
            _ => insert_event(st, event),
        }
    }
}

fn insert_event(st: &mut State, event: &PacketEvent) {
    let (kind, end, height, packet, ack) = match event {
        PacketEvent::Send { height, packet } => (
            Kind::Send,
            (packet.source_port.clone(), packet.source_channel.clone()),
            *height,
            packet,
            Vec::new(),
        ),
        PacketEvent::WriteAck {
            height,
            packet,
            ack,
        } => (
            Kind::WriteAck,
            (
                packet.destination_port.clone(),
                packet.destination_channel.clone(),
            ),
            *height,
            packet,
            ack.clone(),
        ),
        _ => return,
    };
    let stream = st.streams.entry((kind, end)).or_default();
    if let std::collections::btree_map::Entry::Vacant(slot) = stream.entries.entry(packet.sequence)
    {
        slot.insert(Recorded {
            height,
            packet: packet.clone(),
            ack,
        });
        st.entries += 1;
    }
}

fn evict(st: &mut State, chain_id: &str) {
    if st.entries <= MAX_ENTRIES {
        return;
    }
    for stream in st.streams.values_mut().filter(|s| !s.watched) {
        stream.entries.clear();
    }
    st.entries = st.streams.values().map(|s| s.entries.len()).sum();
    if st.entries <= MAX_ENTRIES {
        return;
    }
    // Still too many: drop the lowest tenth by height and cover only above them.
    let mut heights: Vec<u64> = st
        .streams
        .values()
        .flat_map(|s| s.entries.values().map(|r| r.height))
        .collect();
    heights.sort_unstable();
    let cut = heights[heights.len() / 10];
    for stream in st.streams.values_mut() {
        stream.entries.retain(|_, r| r.height > cut);
    }
    st.entries = st.streams.values().map(|s| s.entries.len()).sum();
    st.covered_from = st.covered_from.max(cut + 1);
    tracing::warn!(chain = %chain_id, up_to = cut, kept = st.entries, "packet ledger full; dropped the oldest entries (clearing falls back to tx_search for them)");
}

/// The lowest available height from CometBFT's "height H is not available, lowest height is L".
pub(crate) fn pruned_lowest(e: &RpcError) -> Option<u64> {
    crate::chain::rpc::number_after(&e.to_string(), "lowest height is")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u64) -> Packet {
        Packet {
            sequence: seq,
            source_port: "transfer".into(),
            source_channel: "channel-0".into(),
            destination_port: "transfer".into(),
            destination_channel: "channel-1".into(),
            ..Packet::default()
        }
    }

    fn send(height: u64, seq: u64) -> PacketEvent {
        PacketEvent::Send {
            height,
            packet: packet(seq),
        }
    }

    fn end() -> EndKey {
        ("transfer".into(), "channel-0".into())
    }

    #[test]
    fn cursor_follows_coverage_and_needed_entries() {
        let ledger = PacketLedger::new("c");
        assert_eq!(ledger.cursor(), None, "hub not started");
        ledger.hub_started(10);
        assert_eq!(ledger.cursor(), None, "nothing watched");
        ledger.watch(Kind::Send, end());
        assert_eq!(ledger.cursor(), Some(10));
        ledger.record_block(11, &[send(11, 1)]);
        ledger.record_block(12, &[send(12, 2)]);
        ledger.record_block(13, &[]);
        // Both packets may still be needed: a restart must scan from 11.
        assert_eq!(ledger.cursor(), Some(10));
        // Clearing at height 13 finds only 2 pending.
        ledger.prune(Kind::Send, &end(), 13, &BTreeSet::from([2]));
        assert_eq!(ledger.cursor(), Some(11));
        assert_eq!(ledger.lookup(Kind::Send, &end(), &[1, 2]).1, vec![1]);
        // Acknowledged on this chain: finished.
        ledger.record_block(
            14,
            &[PacketEvent::Acknowledged {
                height: 14,
                packet: packet(2),
            }],
        );
        assert_eq!(ledger.cursor(), Some(14));
        // Unwatched streams do not hold the cursor.
        ledger.record_block(
            15,
            &[PacketEvent::Send {
                height: 15,
                packet: Packet {
                    source_channel: "channel-9".into(),
                    ..packet(1)
                },
            }],
        );
        assert_eq!(ledger.cursor(), Some(15));
        // A fill in progress hides the cursor; a hold caps it.
        ledger.expect_fill();
        assert_eq!(ledger.cursor(), None);
        ledger.fill_skipped();
        super::super::lock(&ledger.state).hold = Some(12);
        assert_eq!(ledger.cursor(), Some(12));
    }

    #[test]
    fn reports_once_until_finished() {
        let ledger = PacketLedger::new("c");
        assert_eq!(
            ledger.first_reports(Kind::Send, &end(), &[4, 5]),
            vec![4, 5]
        );
        assert!(ledger.first_reports(Kind::Send, &end(), &[4, 5]).is_empty());
        ledger.prune(Kind::Send, &end(), 100, &BTreeSet::from([5]));
        assert_eq!(ledger.first_reports(Kind::Send, &end(), &[4, 5]), vec![4]);
    }

    #[test]
    fn eviction_drops_unwatched_first_then_the_oldest() {
        let ledger = PacketLedger::new("c");
        ledger.hub_started(0);
        ledger.watch(Kind::Send, end());
        let other: Vec<PacketEvent> = (1..=10)
            .map(|s| PacketEvent::Send {
                height: 1,
                packet: Packet {
                    source_channel: "channel-9".into(),
                    ..packet(s)
                },
            })
            .collect();
        ledger.record_block(1, &other);
        let mine: Vec<PacketEvent> = (1..=MAX_ENTRIES as u64)
            .map(|s| send(2 + s / 1000, s))
            .collect();
        ledger.record_block(2, &mine);
        let st = super::super::lock(&ledger.state);
        assert_eq!(st.entries, MAX_ENTRIES, "unwatched entries went first");
        drop(st);
        ledger.record_block(3, &[send(200, MAX_ENTRIES as u64 + 1)]);
        let st = super::super::lock(&ledger.state);
        assert!(st.entries < MAX_ENTRIES);
        assert!(
            st.covered_from > 2,
            "coverage starts above the evicted heights"
        );
    }

    #[test]
    fn pruned_heights_are_parsed() {
        let e = RpcError::Decode {
            endpoint: "x".into(),
            method: "block_results",
            reason: "height 3 is not available, lowest height is 41".into(),
        };
        assert_eq!(pruned_lowest(&e), Some(41));
    }
}
