//! Decoding `TxRaw` bytes into a [`Tx`]: the ADR-027 wire checks, unknown-field rejection,
//! and the stateless checks of baseapp, `ValidateBasic` and the devnet's own limits.

use ibc_proto::cosmos::crypto::secp256k1::PubKey;
use ibc_proto::cosmos::tx::signing::v1beta1::SignMode;
use ibc_proto::cosmos::tx::v1beta1::{mode_info, AuthInfo, TxBody, TxRaw};
use prost::Message;

use cosmos::address::{address_bytes_of, decode_address};
use cosmos::keys::{self, SECP256K1_PUB_KEY_TYPE_URL};
use cosmos::Coin;

use crate::error::TxError;

use super::{Tx, MAX_GAS_WANTED};

/// Type URL of an ed25519 public key (rejected like the SDK's default signature gas consumer).
const ED25519_PUB_KEY_TYPE_URL: &str = "/cosmos.crypto.ed25519.PubKey";

/// Fields a protobuf message may carry: number and, for nested messages that must be checked
/// too, their schema.
struct Schema {
    name: &'static str,
    fields: &'static [(u32, Option<&'static Schema>)],
}

const COIN: Schema = Schema {
    name: "cosmos.base.v1beta1.Coin",
    fields: &[(1, None), (2, None)],
};
const ANY: Schema = Schema {
    name: "google.protobuf.Any",
    fields: &[(1, None), (2, None)],
};
const SINGLE: Schema = Schema {
    name: "cosmos.tx.v1beta1.ModeInfo.Single",
    fields: &[(1, None)],
};
const MODE_INFO: Schema = Schema {
    name: "cosmos.tx.v1beta1.ModeInfo",
    fields: &[(1, Some(&SINGLE)), (2, None)],
};
const SIGNER_INFO: Schema = Schema {
    name: "cosmos.tx.v1beta1.SignerInfo",
    fields: &[(1, Some(&ANY)), (2, Some(&MODE_INFO)), (3, None)],
};
const FEE: Schema = Schema {
    name: "cosmos.tx.v1beta1.Fee",
    fields: &[(1, Some(&COIN)), (2, None), (3, None), (4, None)],
};
const TIP: Schema = Schema {
    name: "cosmos.tx.v1beta1.Tip",
    fields: &[(1, Some(&COIN)), (2, None)],
};
const AUTH_INFO: Schema = Schema {
    name: "cosmos.tx.v1beta1.AuthInfo",
    fields: &[(1, Some(&SIGNER_INFO)), (2, Some(&FEE)), (3, Some(&TIP))],
};
const TX_BODY: Schema = Schema {
    name: "cosmos.tx.v1beta1.TxBody",
    fields: &[(1, None), (2, None), (3, None), (1023, None), (2047, None)],
};
const PUB_KEY: Schema = Schema {
    name: "cosmos.crypto.secp256k1.PubKey",
    fields: &[(1, None)],
};

/// One field of an encoded protobuf message.
struct Field<'a> {
    number: u64,
    wire_type: u8,
    /// The payload of a length-delimited field (empty for other wire types).
    bytes: &'a [u8],
}

/// Splits `buf` into its fields. With `adr027`, also enforces what ADR-027 requires of a
/// `TxRaw`: length-delimited fields only, in ascending order, with minimal length prefixes.
fn split_fields(mut buf: &[u8], adr027: bool) -> Result<Vec<Field<'_>>, String> {
    let mut fields = Vec::new();
    let mut previous = 0u64;
    while !buf.is_empty() {
        let key = prost::encoding::decode_varint(&mut buf).map_err(|e| e.to_string())?;
        let number = key >> 3;
        let wire_type = (key & 7) as u8;
        if number == 0 || number > u64::from(u32::MAX >> 3) {
            return Err(format!("invalid field number {number}"));
        }
        if adr027 {
            if wire_type != 2 {
                return Err(format!("expected 2 wire type, got {wire_type}"));
            }
            if number < previous {
                return Err(format!(
                    "txRaw must follow ADR-027, got tagNum {number} after tagNum {previous}"
                ));
            }
            previous = number;
        }
        let bytes: &[u8] = match wire_type {
            0 => {
                prost::encoding::decode_varint(&mut buf).map_err(|e| e.to_string())?;
                &[]
            }
            1 | 5 => {
                let width = if wire_type == 1 { 8 } else { 4 };
                if buf.len() < width {
                    return Err("unexpected end of input".to_string());
                }
                buf = &buf[width..];
                &[]
            }
            2 => {
                let before = buf.len();
                let len = prost::encoding::decode_varint(&mut buf).map_err(|e| e.to_string())?;
                let prefix_len = before - buf.len();
                if adr027 && prefix_len != prost::encoding::encoded_len_varint(len) {
                    return Err(format!(
                        "length prefix varint for tagNum {number} is not as short as possible"
                    ));
                }
                let len = usize::try_from(len)
                    .ok()
                    .filter(|len| *len <= buf.len())
                    .ok_or_else(|| "unexpected end of input".to_string())?;
                let (payload, rest) = buf.split_at(len);
                buf = rest;
                payload
            }
            other => return Err(format!("unsupported wire type {other}")),
        };
        fields.push(Field {
            number,
            wire_type,
            bytes,
        });
    }
    Ok(fields)
}

/// Rejects fields `schema` does not know, recursively. `allow_non_critical` lets unknown fields
/// whose number has bit 10 set (1024) through at the top level, as the SDK does for `TxBody`.
fn reject_unknown_fields(
    buf: &[u8],
    schema: &Schema,
    allow_non_critical: bool,
) -> Result<(), String> {
    for field in split_fields(buf, false)? {
        let known = schema
            .fields
            .iter()
            .find(|(number, _)| u64::from(*number) == field.number);
        match known {
            None if allow_non_critical && field.number & 1024 != 0 => {}
            None => {
                return Err(format!(
                    "unknown field {}.{} (wire type {})",
                    schema.name, field.number, field.wire_type
                ))
            }
            Some((_, Some(nested))) => {
                if field.wire_type != 2 {
                    return Err(format!(
                        "field {}.{}: expected wire type 2, got {}",
                        schema.name, field.number, field.wire_type
                    ));
                }
                reject_unknown_fields(field.bytes, nested, false)?;
            }
            Some((_, None)) => {}
        }
    }
    Ok(())
}

pub(super) fn sign_mode_name(mode: i32) -> String {
    SignMode::try_from(mode)
        .map(|m| m.as_str_name().to_string())
        .unwrap_or_else(|_| format!("sign mode {mode}"))
}

/// Parses a protobuf coin (amount as a decimal string).
fn parse_coin(coin: &ibc_proto::cosmos::base::v1beta1::Coin) -> Result<Coin, TxError> {
    let amount = coin.amount.parse::<u128>().map_err(|_| {
        TxError::tx_decode(format!(
            "invalid coin amount {:?} for denom {:?}",
            coin.amount, coin.denom
        ))
    })?;
    Ok(Coin {
        denom: coin.denom.clone(),
        amount,
    })
}

/// Decodes `TxRaw` bytes; sdk code 2 on malformed input, and the SDK's (or the devnet's) error
/// for a tx it can never accept (no messages, wrong signature count, unsupported key or sign
/// mode).
pub fn decode(raw: &[u8]) -> Result<Tx, TxError> {
    // ADR-027 and no unknown fields in TxRaw.
    for field in split_fields(raw, true).map_err(TxError::tx_decode)? {
        if !(1..=3).contains(&field.number) {
            return Err(TxError::tx_decode(format!(
                "unknown field cosmos.tx.v1beta1.TxRaw.{} (wire type {})",
                field.number, field.wire_type
            )));
        }
    }
    let tx_raw = TxRaw::decode(raw).map_err(TxError::tx_decode)?;

    reject_unknown_fields(&tx_raw.body_bytes, &TX_BODY, true).map_err(TxError::tx_decode)?;
    let body = TxBody::decode(tx_raw.body_bytes.as_slice()).map_err(TxError::tx_decode)?;
    reject_unknown_fields(&tx_raw.auth_info_bytes, &AUTH_INFO, false)
        .map_err(TxError::tx_decode)?;
    let auth_info =
        AuthInfo::decode(tx_raw.auth_info_bytes.as_slice()).map_err(TxError::tx_decode)?;

    // Public keys are unpacked by the decoder: an unknown type is a decode error, a known
    // non-secp256k1 one the error the SDK's signature gas consumer gives.
    let mut signer_pub_keys = Vec::with_capacity(auth_info.signer_infos.len());
    let mut signer_sequences = Vec::with_capacity(auth_info.signer_infos.len());
    let mut sign_modes = Vec::with_capacity(auth_info.signer_infos.len());
    let mut fee = Vec::new();
    let fee_info = auth_info.fee.as_ref();
    if let Some(f) = fee_info {
        for coin in &f.amount {
            fee.push(parse_coin(coin)?);
        }
    }
    for info in &auth_info.signer_infos {
        let pub_key = match &info.public_key {
            None => None,
            Some(any) if any.type_url == SECP256K1_PUB_KEY_TYPE_URL => {
                reject_unknown_fields(&any.value, &PUB_KEY, false).map_err(TxError::tx_decode)?;
                let key = PubKey::decode(any.value.as_slice())
                    .map_err(TxError::tx_decode)?
                    .key;
                keys::validate_pub_key(&key)
                    .map_err(|e| TxError::sdk(8, format!("{e}: invalid pubkey")))?;
                Some(key)
            }
            Some(any) if any.type_url == ED25519_PUB_KEY_TYPE_URL => {
                return Err(TxError::sdk(
                    8,
                    "ED25519 public keys are unsupported: invalid pubkey",
                ))
            }
            Some(any) if any.type_url.starts_with("/cosmos.crypto.") => {
                return Err(TxError::sdk(
                    8,
                    format!(
                        "unrecognized public key type: {} (the devnet verifies secp256k1 keys only): invalid pubkey",
                        any.type_url
                    ),
                ))
            }
            Some(any) => {
                return Err(TxError::tx_decode(format!(
                    "unable to resolve type URL {}",
                    any.type_url
                )))
            }
        };
        let mode = match info.mode_info.as_ref().and_then(|m| m.sum.as_ref()) {
            None => SignMode::Unspecified as i32,
            Some(mode_info::Sum::Single(single)) => single.mode,
            Some(mode_info::Sum::Multi(_)) => {
                return Err(TxError::unauthorized(
                    "multisig signer infos are not supported by the devnet",
                ))
            }
        };
        if mode != SignMode::Direct as i32 && mode != SignMode::Unspecified as i32 {
            return Err(TxError::unauthorized(format!(
                "{} is not supported by the devnet; sign with SIGN_MODE_DIRECT",
                sign_mode_name(mode)
            )));
        }
        signer_pub_keys.push(pub_key);
        signer_sequences.push(info.sequence);
        sign_modes.push(mode);
    }

    // Stateless checks, in the SDK's order: baseapp's message check, then the extension
    // options decorator, then `ValidateBasic`.
    if body.messages.is_empty() {
        return Err(TxError::invalid_request(
            "must contain at least one message",
        ));
    }
    if !body.extension_options.is_empty() {
        return Err(TxError::sdk(31, "unknown extension options"));
    }
    let Some(fee_info) = fee_info else {
        return Err(TxError::invalid_request("missing fee"));
    };
    if fee_info.gas_limit > MAX_GAS_WANTED {
        return Err(TxError::invalid_request(format!(
            "invalid gas supplied; {} > {MAX_GAS_WANTED}",
            fee_info.gas_limit
        )));
    }
    if tx_raw.signatures.is_empty() {
        return Err(TxError::sdk(15, "no signatures supplied"));
    }
    if tx_raw.signatures.len() != 1 {
        return Err(TxError::unauthorized(format!(
            "wrong number of signers; expected 1, got {}",
            tx_raw.signatures.len()
        )));
    }
    if auth_info.signer_infos.len() != 1 {
        return Err(TxError::unauthorized(format!(
            "invalid number of signer;  expected: 1, got {}",
            auth_info.signer_infos.len()
        )));
    }
    // The deprecated `AuthInfo.tip` (removed from the SDK's tx flow in 0.50).
    #[allow(deprecated)]
    let has_tip = auth_info.tip.is_some();
    if has_tip {
        return Err(TxError::invalid_request("tips are not supported"));
    }
    let fee_granter = if fee_info.granter.is_empty() {
        None
    } else if decode_address(&fee_info.granter).is_err() {
        return Err(TxError::sdk(
            7,
            format!(
                "invalid fee granter address {:?}: invalid address",
                fee_info.granter
            ),
        ));
    } else {
        Some(fee_info.granter.clone())
    };
    let signer_key = match signer_pub_keys.first() {
        Some(Some(key)) => key.clone(),
        _ => {
            return Err(TxError::sdk(
                8,
                "the devnet derives the signer from the signer info's public key, which is missing: invalid pubkey",
            ))
        }
    };
    if !fee_info.payer.is_empty() {
        let payer_is_signer = decode_address(&fee_info.payer)
            .map(|(_, bytes)| bytes == address_bytes_of(&signer_key))
            .unwrap_or(false);
        if !payer_is_signer {
            return Err(TxError::unauthorized(format!(
                "fee payer {} is not the tx signer (the devnet supports one signer per tx)",
                fee_info.payer
            )));
        }
    }

    Ok(Tx {
        messages: body.messages,
        memo: body.memo,
        timeout_height: body.timeout_height,
        gas_limit: fee_info.gas_limit,
        fee,
        fee_granter,
        signer_pub_keys,
        signer_sequences,
        sign_modes,
        body_bytes: tx_raw.body_bytes,
        auth_info_bytes: tx_raw.auth_info_bytes,
        signatures: tx_raw.signatures,
        size: raw.len(),
    })
}
