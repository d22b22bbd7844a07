//! ICS-20 bytes exactly as ibc-go writes and reads them: packet data (sorted-key JSON, empty
//! memo omitted), acknowledgements, and the `ibc/{HASH}` names of vouchers.

use std::str::FromStr;

use ibc::apps::transfer::types::PrefixedDenom;
use ibc_proto::ibc::applications::transfer::v2::FungibleTokenPacketData;
use sha2::{Digest, Sha256};

use super::transfer_err;
use crate::error::TxError;

/// ibc-go's denom trace hash: UPPERHEX sha256 of the full denom path (`transfer/channel-0/stake`).
pub fn denom_hash(full_path: &str) -> String {
    hex::encode_upper(Sha256::digest(full_path.as_bytes()))
}

/// The bank denom of an ICS-20 denom: the base denom when it has no trace, else
/// `ibc/{denom_hash}`.
pub fn bank_denom(denom: &PrefixedDenom) -> String {
    if denom.trace_path.is_empty() {
        denom.base_denom.to_string()
    } else {
        format!("ibc/{}", denom_hash(&denom.to_string()))
    }
}

/// Go's `json.Marshal` of a string: JSON escaping plus `<`, `>`, `&`, U+2028 and U+2029 as
/// `\uXXXX`.
fn go_json_string(s: &str) -> String {
    let json = serde_json::Value::String(s.to_string()).to_string();
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// ICS-20 packet data bytes exactly as ibc-go writes them: keys sorted, empty memo omitted.
pub fn packet_data_bytes(data: &FungibleTokenPacketData) -> Vec<u8> {
    let mut fields = vec![
        ("amount", &data.amount),
        ("denom", &data.denom),
        ("receiver", &data.receiver),
        ("sender", &data.sender),
    ];
    if !data.memo.is_empty() {
        fields.insert(2, ("memo", &data.memo));
    }
    let body: Vec<String> = fields
        .into_iter()
        .map(|(k, v)| format!("\"{k}\":{}", go_json_string(v)))
        .collect();
    format!("{{{}}}", body.join(",")).into_bytes()
}

/// ibc-go's error acknowledgement for an error with ABCI code `code`.
pub fn ack_error(code: u32) -> Vec<u8> {
    format!(r#"{{"error":"ABCI code: {code}: error handling packet: see events for details"}}"#)
        .into_bytes()
}

/// A parsed acknowledgement: `Ok(result)` or `Err(error text)`.
pub(super) fn parse_ack(raw: &[u8]) -> Result<Result<String, String>, String> {
    let value: serde_json::Value = serde_json::from_slice(raw)
        .map_err(|e| format!("cannot unmarshal ICS-20 transfer packet acknowledgement: {e}"))?;
    if let Some(result) = value.get("result").and_then(|v| v.as_str()) {
        return Ok(Ok(result.to_string()));
    }
    if let Some(error) = value.get("error").and_then(|v| v.as_str()) {
        return Ok(Err(error.to_string()));
    }
    Err("cannot unmarshal ICS-20 transfer packet acknowledgement: no result or error".to_string())
}

/// Packet data parsed and checked like ibc-go's `ValidateBasic`.
pub(super) struct ParsedData {
    pub(super) raw: FungibleTokenPacketData,
    pub(super) denom: PrefixedDenom,
    pub(super) amount: u128,
}

pub(super) fn parse_packet_data(bytes: &[u8]) -> Result<ParsedData, TxError> {
    let raw: FungibleTokenPacketData = serde_json::from_slice(bytes).map_err(|e| {
        transfer_err(
            12,
            format!("cannot unmarshal ICS-20 transfer packet data: {e}: invalid type"),
        )
    })?;
    let amount: u128 = raw.amount.parse().ok().filter(|a| *a > 0).ok_or_else(|| {
        transfer_err(
            5,
            format!(
                "unable to parse transfer amount ({}) into math.Int: invalid amount",
                raw.amount
            ),
        )
    })?;
    if raw.sender.trim().is_empty() {
        return Err(TxError::sdk(
            7,
            "sender address cannot be blank: invalid address",
        ));
    }
    if raw.receiver.trim().is_empty() {
        return Err(TxError::sdk(
            7,
            "receiver address cannot be blank: invalid address",
        ));
    }
    let denom = PrefixedDenom::from_str(&raw.denom).map_err(|e| {
        transfer_err(
            3,
            format!(
                "invalid denom {:?}: {e}: invalid denomination for cross-chain transfer",
                raw.denom
            ),
        )
    })?;
    Ok(ParsedData { raw, denom, amount })
}
