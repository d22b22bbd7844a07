//! The websocket's text frames, parsed into pushes (`NewBlock` and `Tx`): what the websocket
//! task hands to the core. The input comes from the network, so nothing here may panic on odd
//! input; a malformed frame is an error that the caller logs and skips (polling then fetches
//! the height it belonged to).

use base64::Engine as _;
use serde_json::Value;

use super::records::{RawEvent, TxOutcome};
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

pub(super) fn parse_frame(text: &str) -> Result<Frame, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        let message = err.get("message").and_then(Value::as_str).unwrap_or("");
        let data = match err.get("data") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        return Ok(Frame::Error(format!("{message} {data}").trim().to_string()));
    }
    let result = v.get("result").ok_or("neither result nor error")?;
    // Only an event push has an object `data`; other replies (a subscription's `{}`, a
    // `broadcast_tx` answer sent on the same socket, whose `data` is a string) are ignored.
    let Some(data) = result.get("data").filter(|d| d.is_object()) else {
        return Ok(Frame::Ack);
    };
    let kind = data.get("type").and_then(Value::as_str).unwrap_or("");
    let value = data.get("value").ok_or("push without data.value")?;
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

fn parse_events(v: Option<&Value>) -> Result<Vec<RawEvent>, String> {
    let items = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err("events is not an array".into()),
    };
    items
        .iter()
        .map(|e| {
            let kind = e
                .get("type")
                .and_then(Value::as_str)
                .ok_or("event without type")?
                .to_string();
            let attributes = match e.get("attributes") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(attrs)) => plain_packet_attributes(
                    attrs
                        .iter()
                        .map(|a| {
                            let s = |k: &str| {
                                a.get(k).and_then(Value::as_str).unwrap_or("").to_string()
                            };
                            (s("key"), s("value"))
                        })
                        .collect(),
                ),
                Some(_) => return Err("attributes is not an array".to_string()),
            };
            Ok(RawEvent { kind, attributes })
        })
        .collect()
}

fn parse_outcome(v: &Value) -> Result<TxOutcome, String> {
    let code = match v.get("code") {
        None | Some(Value::Null) => 0,
        Some(c) => c
            .as_u64()
            .and_then(|c| u32::try_from(c).ok())
            .ok_or("tx code is not a u32")?,
    };
    let text = |key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_string();
    let gas = |key: &str| {
        json_u64(v.get(key))
            .and_then(|g| i64::try_from(g).ok())
            .unwrap_or(0)
    };
    // `data` is base64; undecodable data is kept empty (the events still count).
    let data = v
        .get("data")
        .and_then(Value::as_str)
        .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
        .unwrap_or_default();
    Ok(TxOutcome {
        code,
        events: parse_events(v.get("events"))?,
        codespace: text("codespace"),
        log: text("log"),
        data,
        gas_wanted: gas("gas_wanted"),
        gas_used: gas("gas_used"),
    })
}

fn parse_tx_push(value: &Value) -> Result<TxPush, String> {
    let txr = value.get("TxResult").ok_or("Tx push without TxResult")?;
    let height = json_u64(txr.get("height")).ok_or("Tx push without height")?;
    let index = match txr.get("index") {
        None | Some(Value::Null) => 0,
        Some(i) => i
            .as_u64()
            .and_then(|i| u32::try_from(i).ok())
            .ok_or("tx index is not a u32")?,
    };
    let result = txr.get("result").unwrap_or(&Value::Null);
    Ok(TxPush {
        height,
        index,
        outcome: parse_outcome(result)?,
    })
}

/// The SHA-256 hashes of a block's base64 txs; `None` if one is not base64 (a confirmation
/// then reads the block from the node instead).
fn tx_hashes(txs: &[Value]) -> Option<Vec<[u8; 32]>> {
    txs.iter()
        .map(|tx| {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(tx.as_str()?)
                .ok()?;
            Some(cosmos::tx_hash(&raw))
        })
        .collect()
}

fn parse_block_push(value: &Value) -> Result<BlockPush, String> {
    let block = value.get("block").ok_or("NewBlock push without block")?;
    let height = json_u64(block.pointer("/header/height")).ok_or("NewBlock without height")?;
    let (tx_count, hashes) = match block.pointer("/data/txs") {
        None | Some(Value::Null) => (0, Some(Vec::new())),
        Some(Value::Array(txs)) => (txs.len(), tx_hashes(txs)),
        Some(_) => return Err("block.data.txs is not an array".into()),
    };
    if let Some(rfb) = value.get("result_finalize_block").filter(|r| !r.is_null()) {
        let tx_results = match rfb.get("tx_results") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(parse_outcome)
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err("tx_results is not an array".into()),
        };
        Ok(BlockPush {
            height,
            tx_count,
            hashes,
            tx_results: Some(tx_results),
            begin: Vec::new(),
            end: parse_events(rfb.get("events"))?,
        })
    } else {
        Ok(BlockPush {
            height,
            tx_count,
            hashes,
            tx_results: None,
            begin: parse_events(value.pointer("/result_begin_block/events"))?,
            end: parse_events(value.pointer("/result_end_block/events"))?,
        })
    }
}
