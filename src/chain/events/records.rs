//! What one height holds, whichever source it came from (the websocket's pushes or
//! `/block_results`), and the packet events extracted from it. Both sources end in the same
//! `BlockRecord` and go through the same extraction, so an event looks the same either way:
//! events of txs with code 0 in tx order, then the block-level events.

use crate::chain::query::{ack_from_attributes, packet_from_attributes, plain_packet_attributes};
use crate::chain::types::{ChannelEvent, ChannelEventKind, PacketEvent};

/// An ABCI event as plain strings.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct RawEvent {
    pub(super) kind: String,
    pub(super) attributes: Vec<(String, String)>,
}

/// One tx's outcome: its code and events, and what a confirmation needs besides (log, data,
/// gas).
#[derive(Clone, Debug, PartialEq, Default)]
pub(super) struct TxOutcome {
    pub(super) code: u32,
    pub(super) events: Vec<RawEvent>,
    pub(super) codespace: String,
    pub(super) log: String,
    pub(super) data: Vec<u8>,
    pub(super) gas_wanted: i64,
    pub(super) gas_used: i64,
}

/// Everything of one height the hub extracts from.
#[derive(Clone, Debug, PartialEq, Default)]
pub(super) struct BlockRecord {
    pub(super) height: u64,
    /// The SHA-256 hashes of the block's txs, in block order, when the source carried the tx
    /// bytes (a `NewBlock` push does; `block_results` does not).
    pub(super) hashes: Option<Vec<[u8; 32]>>,
    /// `begin_block_events` (v0.37).
    pub(super) begin: Vec<RawEvent>,
    pub(super) txs: Vec<TxOutcome>,
    /// `end_block_events` (v0.37) then `finalize_block_events` (v0.38).
    pub(super) end: Vec<RawEvent>,
}

impl BlockRecord {
    /// Events of the height: block-level ones and those of every tx.
    pub(super) fn event_count(&self) -> usize {
        self.begin.len() + self.end.len() + self.txs.iter().map(|t| t.events.len()).sum::<usize>()
    }
}

/// Extracts the packet events of one height, in order. Malformed packet events are logged and
/// skipped.
pub(super) fn packet_events(chain_id: &str, block: &BlockRecord) -> Vec<PacketEvent> {
    packet_events_counted(chain_id, block).0
}

/// Every event of one height in order: those of txs with code 0, between the block-level ones.
fn block_events(block: &BlockRecord) -> impl Iterator<Item = &RawEvent> {
    let tx_events = block
        .txs
        .iter()
        .filter(|tx| tx.code == 0)
        .flat_map(|tx| tx.events.iter());
    block.begin.iter().chain(tx_events).chain(block.end.iter())
}

/// [`packet_events`], and how many malformed packet events were skipped (their channel is
/// unknown, so the hub tells every subscriber of the chain).
pub(super) fn packet_events_counted(
    chain_id: &str,
    block: &BlockRecord,
) -> (Vec<PacketEvent>, usize) {
    let height = block.height;
    let mut malformed = 0;
    let events = block_events(block)
        .filter_map(|event| match packet_event(height, event) {
            Ok(e) => e,
            Err(reason) => {
                tracing::warn!(chain = %chain_id, height, kind = %event.kind, %reason, "skipping malformed packet event");
                malformed += 1;
                None
            }
        })
        .collect();
    (events, malformed)
}

/// The channel handshake and close events of one height that open or close an end, in order.
/// An event without a port or channel id is skipped (the slow rescan finds its channel).
pub(super) fn channel_events(block: &BlockRecord) -> Vec<ChannelEvent> {
    block_events(block)
        .filter_map(|event| {
            let kind = match event.kind.as_str() {
                "channel_open_ack" | "channel_open_confirm" => ChannelEventKind::Opened,
                "channel_close_init" | "channel_close_confirm" => ChannelEventKind::Closed,
                _ => return None,
            };
            let attr = |key: &str| {
                event
                    .attributes
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
            };
            Some(ChannelEvent {
                height: block.height,
                kind,
                port: attr("port_id").filter(|p| !p.is_empty())?,
                channel: attr("channel_id").filter(|c| !c.is_empty())?,
                counterparty_port: attr("counterparty_port_id").unwrap_or_default(),
                counterparty_channel: attr("counterparty_channel_id").unwrap_or_default(),
            })
        })
        .collect()
}

/// The ABCI event types the hub extracts packet events from.
const PACKET_EVENT_KINDS: [&str; 5] = [
    "send_packet",
    "write_acknowledgement",
    "recv_packet",
    "acknowledge_packet",
    "timeout_packet",
];

/// Whether the hub extracts anything from an event of type `kind`.
pub(super) fn is_packet_event(kind: &str) -> bool {
    PACKET_EVENT_KINDS.contains(&kind) || CHANNEL_EVENT_KINDS.contains(&kind)
}

/// The channel events discovery follows ([`channel_events`]); their attributes are kept too.
const CHANNEL_EVENT_KINDS: [&str; 4] = [
    "channel_open_ack",
    "channel_open_confirm",
    "channel_close_init",
    "channel_close_confirm",
];

/// The packet event of one ABCI event, `None` when it is not a packet event.
fn packet_event(height: u64, event: &RawEvent) -> Result<Option<PacketEvent>, String> {
    let attrs = || {
        event
            .attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    };
    let packet = || packet_from_attributes(attrs()).map_err(|e| e.to_string());
    Ok(Some(match event.kind.as_str() {
        "send_packet" => PacketEvent::Send {
            height,
            packet: packet()?,
        },
        "write_acknowledgement" => PacketEvent::WriteAck {
            height,
            packet: packet()?,
            ack: ack_from_attributes(attrs()).map_err(|e| e.to_string())?,
        },
        "recv_packet" => PacketEvent::Recv {
            height,
            packet: packet()?,
        },
        "acknowledge_packet" => PacketEvent::Acknowledged {
            height,
            packet: packet()?,
        },
        "timeout_packet" => PacketEvent::TimedOut {
            height,
            packet: packet()?,
        },
        _ => return Ok(None),
    }))
}

fn raw_events_from_abci(events: &[tendermint::abci::Event]) -> Vec<RawEvent> {
    events
        .iter()
        .map(|e| RawEvent {
            kind: e.kind.clone(),
            attributes: plain_packet_attributes(
                cosmos::events::attribute_pairs(e)
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
        })
        .collect()
}

pub(super) fn block_from_results(
    r: &tendermint_rpc::endpoint::block_results::Response,
) -> BlockRecord {
    let mut end = raw_events_from_abci(r.end_block_events.as_deref().unwrap_or_default());
    end.extend(raw_events_from_abci(&r.finalize_block_events));
    BlockRecord {
        height: r.height.value(),
        begin: raw_events_from_abci(r.begin_block_events.as_deref().unwrap_or_default()),
        txs: r
            .txs_results
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|t| TxOutcome {
                code: t.code.value(),
                events: raw_events_from_abci(&t.events),
                codespace: t.codespace.clone(),
                log: t.log.clone(),
                data: t.data.to_vec(),
                gas_wanted: t.gas_wanted,
                gas_used: t.gas_used,
            })
            .collect(),
        hashes: None,
        end,
    }
}
