//! The websocket's text frames, parsed into pushes (`NewBlock` and `Tx`): what the websocket
//! task hands to the core. The input comes from the network, so nothing here may panic on odd
//! input; a malformed frame is an error that the caller logs and skips (polling then fetches
//! the height it belonged to).
//!
//! A push of a block full of transfers is megabytes of JSON with hundreds of thousands of event
//! attributes, so frames are decoded into typed shapes that borrow from the text and skip what
//! the hub never reads (the `events` index of a `Tx` push, the txs' bytes, hashed only), never into a
//! `serde_json::Value` tree (about 700 bytes per attribute). Only packet and channel events keep their
//! attributes: the hub extracts nothing else, and a height waiting for delivery holds its pushes.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::records::{is_packet_event, RawEvent, TxOutcome};
use crate::chain::query::plain_packet_attributes;

/// A parsed `NewBlock` push.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct BlockPush {
    pub(super) height: u64,
    pub(super) tx_count: usize,
    /// The SHA-256 hashes of the block's txs (`None` when a tx was not valid base64).
    pub(super) hashes: Option<Vec<[u8; 32]>>,
    /// v0.38: the tx results carried by the push itself.
    pub(super) tx_results: Option<Vec<TxOutcome>>,
    pub(super) begin: Vec<RawEvent>,
    pub(super) end: Vec<RawEvent>,
}

/// A parsed `Tx` push.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct TxPush {
    pub(super) height: u64,
    pub(super) index: u32,
    pub(super) outcome: TxOutcome,
}

/// What the websocket task tells the core.
#[derive(Debug, PartialEq)]
pub(super) enum Push {
    Connected,
    Disconnected,
    Block(BlockPush),
    Tx(TxPush),
}

/// What one websocket text frame is.
#[derive(Debug, PartialEq)]
pub(super) enum Frame {
    /// A subscription answer (`{}`) or another reply we ignore.
    Ack,
    /// A JSON-RPC error (for a subscription: it is gone).
    Error(String),
    /// An event push.
    Push(Push),
}

/// A frame as sent: a JSON-RPC reply or an event push.
#[derive(Deserialize)]
struct WireFrame<'a> {
    #[serde(default)]
    error: Option<Value>,
    #[serde(default, borrow)]
    result: Option<WireResult<'a>>,
}

#[derive(Deserialize)]
struct WireResult<'a> {
    #[serde(default, borrow)]
    data: Option<WireData<'a>>,
}

/// `result.data`: an event push when it is an object; anything else (a `broadcast_tx` answer's
/// string) is skipped without being kept.
enum WireData<'a> {
    Push(Box<WirePush<'a>>),
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for WireData<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DataVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for DataVisitor<'a> {
            type Value = WireData<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
                WirePush::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|p| WireData::Push(Box::new(p)))
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(WireData::Other)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(WireData::Other)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(WireData::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(WireData::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(WireData::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(WireData::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(WireData::Other)
            }
        }
        d.deserialize_any(DataVisitor(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct WirePush<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    value: Option<WirePushValue<'a>>,
}

/// The fields of both push types (which one it is, `type` says; it may come after `value`).
#[derive(Deserialize)]
struct WirePushValue<'a> {
    #[serde(rename = "TxResult", default, borrow)]
    tx_result: Option<WireTxResult<'a>>,
    #[serde(default, borrow)]
    block: Option<WireBlock<'a>>,
    #[serde(default, borrow)]
    result_finalize_block: Option<WireFinalize<'a>>,
    #[serde(default, borrow)]
    result_begin_block: Option<WireEvents<'a>>,
    #[serde(default, borrow)]
    result_end_block: Option<WireEvents<'a>>,
}

#[derive(Deserialize)]
struct WireTxResult<'a> {
    #[serde(default)]
    height: Option<Value>,
    #[serde(default)]
    index: Option<Value>,
    #[serde(default, borrow)]
    result: Option<WireOutcome<'a>>,
}

#[derive(Deserialize)]
struct WireOutcome<'a> {
    #[serde(default)]
    code: Option<Value>,
    #[serde(default, borrow)]
    events: Option<Vec<WireEvent<'a>>>,
    /// What a confirmation reads besides (the TxEngine confirms from the hub's heights).
    #[serde(default, borrow)]
    codespace: LenientStr<'a>,
    #[serde(default, borrow)]
    log: LenientStr<'a>,
    /// Base64.
    #[serde(default, borrow)]
    data: LenientStr<'a>,
    #[serde(default)]
    gas_wanted: Option<Value>,
    #[serde(default)]
    gas_used: Option<Value>,
}

#[derive(Deserialize)]
struct WireEvent<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    attributes: Option<Vec<WireAttribute<'a>>>,
}

#[derive(Deserialize)]
struct WireAttribute<'a> {
    #[serde(default, borrow)]
    key: LenientStr<'a>,
    #[serde(default, borrow)]
    value: LenientStr<'a>,
}

/// A string, or `""` for anything else (as the hub always read odd attribute fields).
#[derive(Default)]
struct LenientStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for LenientStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct StrVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for StrVisitor<'a> {
            type Value = LenientStr<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(LenientStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(LenientStr(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(LenientStr(Cow::Owned(v)))
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LenientStr::default())
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LenientStr::default())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(LenientStr::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(LenientStr::default())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(LenientStr::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(LenientStr::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(LenientStr::default())
            }
        }
        d.deserialize_any(StrVisitor(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct WireBlock<'a> {
    #[serde(default)]
    header: Option<WireHeader>,
    #[serde(default, borrow)]
    data: Option<WireBlockData<'a>>,
}

#[derive(Deserialize)]
struct WireHeader {
    #[serde(default)]
    height: Option<Value>,
}

#[derive(Deserialize)]
struct WireBlockData<'a> {
    /// Base64 tx bytes, borrowed from the frame: hashed (for confirmations), not kept.
    #[serde(default, borrow)]
    txs: Option<Vec<Cow<'a, str>>>,
}

#[derive(Deserialize)]
struct WireFinalize<'a> {
    #[serde(default, borrow)]
    tx_results: Option<Vec<WireOutcome<'a>>>,
    #[serde(default, borrow)]
    events: Option<Vec<WireEvent<'a>>>,
}

#[derive(Deserialize)]
struct WireEvents<'a> {
    #[serde(default, borrow)]
    events: Option<Vec<WireEvent<'a>>>,
}

pub(super) fn parse_frame(text: &str) -> Result<Frame, String> {
    let frame: WireFrame = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    if let Some(err) = frame.error.filter(|e| !e.is_null()) {
        let message = err.get("message").and_then(Value::as_str).unwrap_or("");
        let data = match err.get("data") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        return Ok(Frame::Error(format!("{message} {data}").trim().to_string()));
    }
    let result = frame.result.ok_or("neither result nor error")?;
    // Only an event push has an object `data`; other replies (a subscription's `{}`, a
    // `broadcast_tx` answer sent on the same socket, whose `data` is a string) are ignored.
    let Some(WireData::Push(data)) = result.data else {
        return Ok(Frame::Ack);
    };
    let data = *data;
    let kind = data.kind.as_deref().unwrap_or("");
    let value = data.value.ok_or("push without data.value")?;
    match kind {
        "tendermint/event/Tx" => parse_tx_push(value).map(|t| Frame::Push(Push::Tx(t))),
        "tendermint/event/NewBlock" => parse_block_push(value).map(|b| Frame::Push(Push::Block(b))),
        other => Err(format!("unexpected push type {other:?}")),
    }
}

/// A CometBFT 64-bit integer: a decimal string (or, tolerated, a JSON number).
fn json_u64(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// The events as the hub keeps them: every event's type, and the attributes of packet and channel events
/// (whatever the encoding, see [`plain_packet_attributes`]).
fn parse_events(events: Option<Vec<WireEvent<'_>>>) -> Result<Vec<RawEvent>, String> {
    events
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            let kind = e.kind.ok_or("event without type")?.into_owned();
            let attributes = if is_packet_event(&kind) {
                plain_packet_attributes(
                    e.attributes
                        .unwrap_or_default()
                        .into_iter()
                        .map(|a| (a.key.0.into_owned(), a.value.0.into_owned()))
                        .collect(),
                )
            } else {
                Vec::new()
            };
            Ok(RawEvent { kind, attributes })
        })
        .collect()
}

fn parse_outcome(v: WireOutcome<'_>) -> Result<TxOutcome, String> {
    let code = match v.code {
        None | Some(Value::Null) => 0,
        Some(c) => c
            .as_u64()
            .and_then(|c| u32::try_from(c).ok())
            .ok_or("tx code is not a u32")?,
    };
    let gas = |g: Option<Value>| {
        json_u64(g.as_ref())
            .and_then(|g| i64::try_from(g).ok())
            .unwrap_or(0)
    };
    // Undecodable data is kept empty (the events still count).
    let data = base64::engine::general_purpose::STANDARD
        .decode(v.data.0.as_bytes())
        .unwrap_or_default();
    Ok(TxOutcome {
        code,
        events: parse_events(v.events)?,
        codespace: v.codespace.0.into_owned(),
        log: v.log.0.into_owned(),
        data,
        gas_wanted: gas(v.gas_wanted),
        gas_used: gas(v.gas_used),
    })
}

fn parse_tx_push(value: WirePushValue<'_>) -> Result<TxPush, String> {
    let txr = value.tx_result.ok_or("Tx push without TxResult")?;
    let height = json_u64(txr.height.as_ref()).ok_or("Tx push without height")?;
    let index = match txr.index {
        None | Some(Value::Null) => 0,
        Some(i) => i
            .as_u64()
            .and_then(|i| u32::try_from(i).ok())
            .ok_or("tx index is not a u32")?,
    };
    let outcome = match txr.result {
        Some(r) => parse_outcome(r)?,
        None => TxOutcome::default(),
    };
    Ok(TxPush {
        height,
        index,
        outcome,
    })
}

/// The SHA-256 hashes of a block's base64 txs; `None` if one is not base64 (a confirmation
/// then reads the block from the node instead).
fn tx_hashes(txs: &[Cow<'_, str>]) -> Option<Vec<[u8; 32]>> {
    txs.iter()
        .map(|tx| {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(tx.as_bytes())
                .ok()?;
            Some(cosmos::tx_hash(&raw))
        })
        .collect()
}

fn parse_block_push(value: WirePushValue<'_>) -> Result<BlockPush, String> {
    let block = value.block.ok_or("NewBlock push without block")?;
    let height =
        json_u64(block.header.and_then(|h| h.height).as_ref()).ok_or("NewBlock without height")?;
    let txs = block.data.and_then(|d| d.txs).unwrap_or_default();
    let tx_count = txs.len();
    let hashes = tx_hashes(&txs);
    if let Some(rfb) = value.result_finalize_block {
        let tx_results = rfb
            .tx_results
            .unwrap_or_default()
            .into_iter()
            .map(parse_outcome)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BlockPush {
            height,
            tx_count,
            hashes,
            tx_results: Some(tx_results),
            begin: Vec::new(),
            end: parse_events(rfb.events)?,
        })
    } else {
        Ok(BlockPush {
            height,
            tx_count,
            hashes,
            tx_results: None,
            begin: parse_events(value.result_begin_block.and_then(|b| b.events))?,
            end: parse_events(value.result_end_block.and_then(|b| b.events))?,
        })
    }
}
