//! Cosmos SDK transactions: decoding `TxRaw` bytes, and the ante handler (memo, tx size gas,
//! gas limit, fee and minimum gas price, fee deduction, public key, signature gas, sequence,
//! SIGN_MODE_DIRECT signature over chain id and account number, sequence increment).
//!
//! Decoding follows the SDK 0.50 tx decoder: the raw bytes must follow ADR-027 (TxRaw fields in
//! ascending order, minimal length prefixes), unknown fields are rejected (in `TxBody` only
//! critical ones, i.e. field numbers without bit 10 set), all with sdk code 2. It also applies
//! the stateless checks of baseapp and the SDK's `ValidateBasic` (at least one message, a fee,
//! signatures), and the devnet's own limits, each with the error a relayer can act on: one
//! signer per tx, secp256k1 keys only, SIGN_MODE_DIRECT only (SIGN_MODE_UNSPECIFIED is
//! accepted for simulation, which is what cosmjs sends there), the signer info must carry the
//! public key (the signer address is derived from it; cosmjs and Hermes always include it).
//!
//! The ante handler runs the SDK 0.50 decorators in their order, with their errors and gas
//! (`exec::cost`), except that it does not read the auth params from the store (they are the
//! SDK defaults, constants here) and reads and writes the signer account once each.
//! Timeout height needs the block height, which the ante handler does not get: callers check
//! it with [`check_timeout_height`].

use ibc_proto::cosmos::base::abci::v1beta1::TxMsgData;
use ibc_proto::cosmos::crypto::secp256k1::PubKey;
use ibc_proto::cosmos::tx::signing::v1beta1::SignMode;
use ibc_proto::cosmos::tx::v1beta1::{mode_info, AuthInfo, TxBody, TxRaw};
use ibc_proto::google::protobuf::Any;
use prost::Message;

use cosmos::address::{address_bytes_of, address_of, decode_address};
use cosmos::coin::{coins_string, valid_denom};
use cosmos::keys::{self, SECP256K1_PUB_KEY_TYPE_URL};
use cosmos::tx::sign_doc_bytes;
use cosmos::Coin;

use crate::auth::{self, MAX_MEMO_CHARACTERS};
use crate::error::TxError;
use crate::exec::{cost, ExecState};

/// The SDK's `MaxGasWanted` (`1<<63 - 1`): larger gas limits are rejected.
pub const MAX_GAS_WANTED: u64 = i64::MAX as u64;

/// Type URL of an ed25519 public key (rejected like the SDK's default signature gas consumer).
const ED25519_PUB_KEY_TYPE_URL: &str = "/cosmos.crypto.ed25519.PubKey";

/// Bytes the SDK charges (per byte) in simulation for a signature not yet filled in: the legacy
/// amino `StdSignature{secp256k1 pubkey, 64-byte signature}` (106 bytes) plus 6.
const SIMULATED_SIGNATURE_BYTES: u64 = 112;

/// How a tx is being run: the checks differ slightly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Mempool admission (CheckTx).
    Check,
    /// Block execution.
    Deliver,
    /// `Simulate`: no signature check, no fee check.
    Simulate,
}

/// A decoded transaction.
#[derive(Clone, Debug)]
pub struct Tx {
    /// The messages, in order.
    pub messages: Vec<Any>,
    /// Memo.
    pub memo: String,
    /// Timeout height (0 = none).
    pub timeout_height: u64,
    /// Gas limit (`gas_wanted`).
    pub gas_limit: u64,
    /// Fee amount.
    pub fee: Vec<Coin>,
    /// Signer public keys (compressed secp256k1) from the signer infos; empty keys when absent.
    pub signer_pub_keys: Vec<Option<Vec<u8>>>,
    /// Signer sequences from the signer infos.
    pub signer_sequences: Vec<u64>,
    /// Sign modes from the signer infos (`SignMode` as i32: 1 = DIRECT, 0 = UNSPECIFIED, the
    /// latter only acceptable in simulation).
    pub sign_modes: Vec<i32>,
    /// The raw body bytes, auth info bytes and signatures (for verification).
    pub body_bytes: Vec<u8>,
    /// Auth info bytes.
    pub auth_info_bytes: Vec<u8>,
    /// Signatures, one per signer.
    pub signatures: Vec<Vec<u8>>,
    /// Size of the raw tx in bytes.
    pub size: usize,
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

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

fn sign_mode_name(mode: i32) -> String {
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
    if !fee_info.granter.is_empty() {
        return Err(TxError::invalid_request("fee grants are not enabled"));
    }
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
        signer_pub_keys,
        signer_sequences,
        sign_modes,
        body_bytes: tx_raw.body_bytes,
        auth_info_bytes: tx_raw.auth_info_bytes,
        signatures: tx_raw.signatures,
        size: raw.len(),
    })
}

// ---------------------------------------------------------------------------------------------
// Ante handler
// ---------------------------------------------------------------------------------------------

/// Parameters of the ante handler.
#[derive(Clone, Debug)]
pub struct AnteParams {
    /// Minimum gas price: fee per unit of gas, in `denom`. 0 = free.
    pub min_gas_price: f64,
    /// Fee denom.
    pub fee_denom: String,
    /// Bech32 prefix of addresses.
    pub bech32_prefix: String,
    /// Address that collects fees.
    pub fee_collector: String,
}

/// `ceil(price × gas)` computed in decimal like the SDK's `LegacyDec` (18 decimal places), so
/// that e.g. 0.025 × 200000 is exactly 5000. `price` is taken at its shortest decimal form.
pub fn required_fee(price: f64, gas: u64) -> u128 {
    if price.is_nan() || price <= 0.0 || gas == 0 {
        return 0;
    }
    let text = format!("{price}");
    let (int_part, frac_part) = text.split_once('.').unwrap_or((text.as_str(), ""));
    let frac_part = &frac_part[..frac_part.len().min(18)];
    let scale = 10u128.pow(frac_part.len() as u32);
    let digits = format!("{int_part}{frac_part}");
    let exact = digits.parse::<u128>().ok().and_then(|numerator| {
        let product = numerator.checked_mul(u128::from(gas))?;
        Some(product.div_ceil(scale))
    });
    exact.unwrap_or_else(|| (price * gas as f64).ceil() as u128)
}

/// Checks the SDK's `Coins.Validate`: positive amounts, valid denoms, sorted, no duplicates.
fn validate_coins(coins: &[Coin]) -> bool {
    coins.iter().all(|c| c.amount > 0 && valid_denom(&c.denom))
        && coins.windows(2).all(|w| w[0].denom < w[1].denom)
}

/// The SDK's `TxTimeoutHeightDecorator`: a tx with a timeout height below the block being
/// built is rejected (sdk 30).
pub fn check_timeout_height(tx: &Tx, block_height: u64) -> Result<(), TxError> {
    if tx.timeout_height > 0 && block_height > tx.timeout_height {
        return Err(TxError::sdk(
            30,
            format!(
                "block height: {block_height}, timeout height: {}: tx timeout height",
                tx.timeout_height
            ),
        ));
    }
    Ok(())
}

/// Runs the ante handler on `state`: charges tx size gas, checks the fee (Check mode only, like
/// the SDK's mempool fee check), verifies the single signer's signature over the SIGN_MODE_DIRECT
/// sign doc for `chain_id` and its account number, checks and increments the sequence, records
/// the public key, deducts the fee. Returns the signer's bech32 address.
///
/// In `Simulate` the signature is not verified (it may be empty, and then the gas of a real one
/// is charged) and the minimum fee is not checked, but a non-zero fee is still deducted, as the
/// SDK does; all effects land on `state`, which a simulation throws away.
pub fn ante(
    state: &mut ExecState,
    tx: &Tx,
    chain_id: &str,
    params: &AnteParams,
    mode: Mode,
) -> Result<String, TxError> {
    let simulate = mode == Mode::Simulate;
    // `decode` guarantees exactly one signer with a public key; checked again for callers that
    // build a `Tx` by hand.
    let (Some(Some(tx_pub_key)), Some(&tx_sequence), Some(signature)) = (
        tx.signer_pub_keys.first(),
        tx.signer_sequences.first(),
        tx.signatures.first(),
    ) else {
        return Err(TxError::unauthorized(
            "the tx needs exactly one signer with a public key",
        ));
    };
    let signer = address_of(tx_pub_key, &params.bech32_prefix);

    // ValidateMemoDecorator.
    let memo_len = tx.memo.len() as u64;
    if memo_len > MAX_MEMO_CHARACTERS {
        return Err(TxError::sdk(
            12,
            format!(
                "maximum number of characters is {MAX_MEMO_CHARACTERS} but received {memo_len} characters: memo too large"
            ),
        ));
    }

    // ConsumeGasForTxSizeDecorator (in simulation, a missing signature costs what a real one
    // would).
    state
        .gas
        .consume(cost::TX_SIZE_PER_BYTE.saturating_mul(tx.size as u64));
    if simulate && signature.is_empty() {
        state
            .gas
            .consume(cost::TX_SIZE_PER_BYTE * SIMULATED_SIGNATURE_BYTES);
    }

    // DeductFeeDecorator.
    if !simulate && tx.gas_limit == 0 {
        return Err(TxError::sdk(
            41,
            "must provide positive gas: invalid gas limit",
        ));
    }
    if mode == Mode::Check && params.min_gas_price > 0.0 {
        let required = required_fee(params.min_gas_price, tx.gas_limit);
        let got = tx
            .fee
            .iter()
            .filter(|c| c.denom == params.fee_denom)
            .map(|c| c.amount)
            .fold(0u128, u128::saturating_add);
        if got == 0 || got < required {
            return Err(TxError::insufficient_fee(
                &coins_string(&tx.fee),
                &format!("{required}{}", params.fee_denom),
            ));
        }
    }
    let Some(mut account) = auth::account(state, &signer) else {
        return Err(TxError::sdk(
            9,
            format!("fee payer address: {signer} does not exist: unknown address"),
        ));
    };
    if tx.fee.iter().any(|c| c.amount > 0) {
        if !validate_coins(&tx.fee) {
            return Err(TxError::sdk(
                13,
                format!(
                    "invalid fee amount: {}: insufficient fee",
                    coins_string(&tx.fee)
                ),
            ));
        }
        for coin in &tx.fee {
            crate::bank::send(state, &signer, &params.fee_collector, coin).map_err(|e| {
                if e.codespace == "sdk" && e.code == 5 {
                    TxError::insufficient_funds(e.log)
                } else {
                    e
                }
            })?;
        }
    }

    // SetPubKeyDecorator: the account keeps the first key it signed with.
    let pub_key = match &account.pub_key {
        Some(stored) => stored.clone(),
        None => {
            account.pub_key = Some(tx_pub_key.clone());
            tx_pub_key.clone()
        }
    };

    // SigGasConsumeDecorator.
    state.gas.consume(cost::SIG_VERIFY_SECP256K1);

    // SigVerificationDecorator.
    if tx_sequence != account.sequence {
        return Err(TxError::wrong_sequence(account.sequence, tx_sequence));
    }
    if !simulate {
        let mode_ok = tx.sign_modes.first() == Some(&(SignMode::Direct as i32));
        let sign_bytes = sign_doc_bytes(
            &tx.body_bytes,
            &tx.auth_info_bytes,
            chain_id,
            account.account_number,
        );
        if !mode_ok || !keys::verify(&pub_key, &sign_bytes, signature) {
            let reason = if mode_ok {
                "unable to verify single signer signature".to_string()
            } else {
                format!(
                    "can't verify sign mode {}",
                    sign_mode_name(tx.sign_modes.first().copied().unwrap_or_default())
                )
            };
            return Err(TxError::unauthorized(format!(
                "signature verification failed; please verify account number ({}) and chain-id ({chain_id}): ({reason})",
                account.account_number
            )));
        }
    }

    // IncrementSequenceDecorator.
    account.sequence = account.sequence.saturating_add(1);
    auth::set_account(state, &account);
    Ok(signer)
}

/// The `TxMsgData{msg_responses}` bytes the SDK puts in a tx result's `data`.
pub fn encode_tx_msg_data(responses: Vec<Any>) -> Vec<u8> {
    TxMsgData {
        msg_responses: responses,
        ..Default::default()
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::GasMeter;
    use crate::store::State;
    use cosmos::address::{encode_address, module_address};
    use cosmos::coin::proto_coins;
    use cosmos::tx::{encode_auth_info, encode_body, encode_tx_raw, Fee};
    use cosmos::{to_any, AccountKey, Wallet, COSMOS_HD_PATH};
    use ibc_proto::cosmos::bank::v1beta1::MsgSend;
    use ibc_proto::cosmos::tx::v1beta1::{ModeInfo, SignerInfo};
    use k256::ecdsa::Signature;

    const CHAIN: &str = "devnet-1";
    const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    fn params(min_gas_price: f64) -> AnteParams {
        AnteParams {
            min_gas_price,
            fee_denom: "stake".into(),
            bech32_prefix: "cosmos".into(),
            fee_collector: module_address("fee_collector", "cosmos"),
        }
    }

    /// A state with an unrelated account (number 0) and the test signer (number 1).
    fn setup() -> (ExecState, Wallet) {
        let mut st = ExecState::new(State::new(), GasMeter::infinite());
        auth::ensure_account(&mut st, &encode_address("cosmos", &[7; 20]));
        let key = AccountKey::from_mnemonic(ABANDON, COSMOS_HD_PATH).unwrap();
        let acc = auth::ensure_account(&mut st, &key.address("cosmos"));
        assert_eq!(acc.account_number, 1);
        let wallet = Wallet::new(key, "cosmos", CHAIN, acc.account_number, 0);
        (st, wallet)
    }

    fn msg(from: &str) -> Any {
        to_any(&MsgSend {
            from_address: from.to_string(),
            to_address: encode_address("cosmos", &[7; 20]),
            amount: proto_coins(&[Coin::new("stake", 1)]),
        })
    }

    fn run(st: &mut ExecState, raw: &[u8], p: &AnteParams, mode: Mode) -> Result<String, TxError> {
        let tx = decode(raw)?;
        ante(st, &tx, CHAIN, p, mode)
    }

    fn signed(wallet: &Wallet, fee: Vec<Coin>, gas: u64) -> Vec<u8> {
        wallet.sign_tx(vec![msg(&wallet.address)], fee, gas, "relayed by arke")
    }

    /// Re-encodes `raw` after `edit` changes its TxRaw.
    fn edit_raw(raw: &[u8], edit: impl FnOnce(&mut TxRaw)) -> Vec<u8> {
        let mut tx_raw = TxRaw::decode(raw).unwrap();
        edit(&mut tx_raw);
        tx_raw.encode_to_vec()
    }

    fn edit_auth_info(raw: &[u8], edit: impl FnOnce(&mut AuthInfo)) -> Vec<u8> {
        edit_raw(raw, |t| {
            let mut info = AuthInfo::decode(t.auth_info_bytes.as_slice()).unwrap();
            edit(&mut info);
            t.auth_info_bytes = info.encode_to_vec();
        })
    }

    #[test]
    fn wallet_tx_passes_ante_and_advances_sequence() {
        let (mut st, mut wallet) = setup();
        let p = params(0.0);
        let raw = wallet.sign_next(vec![msg(&wallet.address)], vec![], 200_000, "");
        let tx = decode(&raw).unwrap();
        assert_eq!(tx.messages.len(), 1);
        assert_eq!(tx.gas_limit, 200_000);
        assert_eq!(tx.signer_sequences, vec![0]);
        assert_eq!(tx.size, raw.len());
        let signer = ante(&mut st, &tx, CHAIN, &p, Mode::Deliver).unwrap();
        assert_eq!(signer, wallet.address);
        assert!(st.gas.used() >= cost::TX_SIZE_PER_BYTE * raw.len() as u64 + 1000);
        let acc = auth::account(&mut st, &signer).unwrap();
        assert_eq!(acc.sequence, 1);
        assert_eq!(acc.pub_key, Some(wallet.key.public_key()));

        // The next tx uses the stored key; a replay of the first is a sequence mismatch.
        let second = wallet.sign_next(vec![msg(&wallet.address)], vec![], 200_000, "");
        assert_eq!(
            run(&mut st, &second, &p, Mode::Check).unwrap(),
            wallet.address
        );
        let err = run(&mut st, &raw, &p, Mode::Deliver).unwrap_err();
        assert_eq!(err.code, 32);
        assert!(err.log.contains("expected 2, got 0"), "{}", err.log);
    }

    #[test]
    fn wrong_sequence_is_code_32() {
        let (mut st, mut wallet) = setup();
        wallet.sequence = 5;
        let err = run(
            &mut st,
            &signed(&wallet, vec![], 100_000),
            &params(0.0),
            Mode::Check,
        )
        .unwrap_err();
        assert_eq!((err.codespace, err.code), ("sdk", 32));
        assert_eq!(
            err.log,
            "account sequence mismatch, expected 0, got 5: incorrect account sequence"
        );
    }

    #[test]
    fn wrong_chain_id_or_account_number_is_code_4() {
        let (mut st, mut wallet) = setup();
        wallet.chain_id = "other-chain".into();
        let err = run(
            &mut st,
            &signed(&wallet, vec![], 100_000),
            &params(0.0),
            Mode::Deliver,
        )
        .unwrap_err();
        assert_eq!((err.codespace, err.code), ("sdk", 4));
        assert_eq!(
            err.log,
            "signature verification failed; please verify account number (1) and chain-id (devnet-1): (unable to verify single signer signature): unauthorized"
        );
        wallet.chain_id = CHAIN.into();
        wallet.account_number = 0;
        let err = run(
            &mut st,
            &signed(&wallet, vec![], 100_000),
            &params(0.0),
            Mode::Check,
        )
        .unwrap_err();
        assert_eq!(err.code, 4);
    }

    #[test]
    fn tampered_body_or_auth_info_is_code_4() {
        let (mut st, wallet) = setup();
        let raw = signed(&wallet, vec![], 100_000);
        let tampered = edit_raw(&raw, |t| {
            let mut body = TxBody::decode(t.body_bytes.as_slice()).unwrap();
            body.memo = "changed".into();
            t.body_bytes = body.encode_to_vec();
        });
        let err = run(&mut st, &tampered, &params(0.0), Mode::Deliver).unwrap_err();
        assert_eq!(err.code, 4);
        let more_gas = edit_auth_info(&raw, |a| {
            if let Some(fee) = a.fee.as_mut() {
                fee.gas_limit += 1;
            }
        });
        let err = run(&mut st, &more_gas, &params(0.0), Mode::Deliver).unwrap_err();
        assert_eq!(err.code, 4);
        // The untouched tx still passes.
        run(&mut st, &raw, &params(0.0), Mode::Deliver).unwrap();
    }

    #[test]
    fn high_s_signature_is_rejected() {
        let (mut st, wallet) = setup();
        let raw = signed(&wallet, vec![], 100_000);
        let high_s = edit_raw(&raw, |t| {
            let sig = Signature::from_slice(&t.signatures[0]).unwrap();
            let (r, s) = sig.split_scalars();
            t.signatures[0] = Signature::from_scalars(r, -*s).unwrap().to_bytes().to_vec();
        });
        let err = run(&mut st, &high_s, &params(0.0), Mode::Deliver).unwrap_err();
        assert_eq!(err.code, 4);
        let short = edit_raw(&raw, |t| t.signatures[0].truncate(63));
        assert_eq!(
            run(&mut st, &short, &params(0.0), Mode::Deliver)
                .unwrap_err()
                .code,
            4
        );
    }

    #[test]
    fn insufficient_fee_is_code_13_in_check_only() {
        let (mut st, wallet) = setup();
        // 0.1 stake per gas × 200 gas = 20stake required.
        let p = params(0.1);
        let raw = signed(&wallet, vec![Coin::new("stake", 10)], 200);
        let err = run(&mut st, &raw, &p, Mode::Check).unwrap_err();
        assert_eq!((err.codespace, err.code), ("sdk", 13));
        assert_eq!(
            err.log,
            "insufficient fees; got: 10stake required: 20stake: insufficient fee"
        );
        let no_fee = signed(&wallet, vec![], 200);
        let err = run(&mut st, &no_fee, &p, Mode::Check).unwrap_err();
        assert_eq!(
            err.log,
            "insufficient fees; got:  required: 20stake: insufficient fee"
        );
        let other_denom = signed(&wallet, vec![Coin::new("uatom", 100)], 200);
        assert_eq!(
            run(&mut st, &other_denom, &p, Mode::Check)
                .unwrap_err()
                .code,
            13
        );
        // DeliverTx does not check the minimum gas price (validators' local setting).
        run(&mut st, &no_fee, &p, Mode::Deliver).unwrap();
    }

    #[test]
    fn fee_is_deducted_to_the_fee_collector() {
        let (mut st, wallet) = setup();
        let p = params(0.01);
        crate::bank::mint(&mut st, &wallet.address, &Coin::new("stake", 5_000)).unwrap();
        let raw = signed(&wallet, vec![Coin::new("stake", 2_000)], 200_000);
        run(&mut st, &raw, &p, Mode::Check).unwrap();
        assert_eq!(
            crate::bank::balance(&mut st, &wallet.address, "stake"),
            3_000
        );
        assert_eq!(
            crate::bank::balance(&mut st, &p.fee_collector, "stake"),
            2_000
        );
        let mut next = wallet.clone();
        next.sequence = 1;
        let too_much = signed(&next, vec![Coin::new("stake", 4_000)], 200_000);
        let err = run(&mut st, &too_much, &p, Mode::Deliver).unwrap_err();
        assert_eq!(err.code, 5);
        assert!(
            err.log
                .ends_with(": insufficient funds: insufficient funds"),
            "{}",
            err.log
        );
    }

    #[test]
    fn unknown_account_is_code_9() {
        let mut st = ExecState::new(State::new(), GasMeter::infinite());
        let wallet = Wallet::new(AccountKey::random(), "cosmos", CHAIN, 0, 0);
        let err = run(
            &mut st,
            &signed(&wallet, vec![], 100_000),
            &params(0.0),
            Mode::Check,
        )
        .unwrap_err();
        assert_eq!((err.codespace, err.code), ("sdk", 9));
        assert_eq!(
            err.log,
            format!(
                "fee payer address: {} does not exist: unknown address",
                wallet.address
            )
        );
    }

    #[test]
    fn simulation_skips_signature_and_fee_checks() {
        let (mut st, wallet) = setup();
        let p = params(1.0);
        let raw = wallet.simulation_tx(vec![msg(&wallet.address)], "");
        let tx = decode(&raw).unwrap();
        assert_eq!(tx.sign_modes, vec![SignMode::Unspecified as i32]);
        let mut sim = st.clone();
        assert_eq!(
            ante(&mut sim, &tx, CHAIN, &p, Mode::Simulate).unwrap(),
            wallet.address
        );
        // The missing signature is charged as if present.
        let expected = cost::TX_SIZE_PER_BYTE * (raw.len() as u64 + SIMULATED_SIGNATURE_BYTES)
            + cost::SIG_VERIFY_SECP256K1;
        assert!(sim.gas.used() >= expected);
        assert_eq!(
            auth::account(&mut sim, &wallet.address).unwrap().sequence,
            1
        );
        // The same unsigned tx is refused outside simulation.
        let err = ante(&mut st, &tx, CHAIN, &params(0.0), Mode::Deliver).unwrap_err();
        assert_eq!(err.code, 41, "{}", err.log);
        let with_gas = edit_auth_info(&raw, |a| {
            a.fee = Some(ibc_proto::cosmos::tx::v1beta1::Fee {
                gas_limit: 1000,
                ..Default::default()
            })
        });
        let err = run(&mut st, &with_gas, &params(0.0), Mode::Deliver).unwrap_err();
        assert_eq!(err.code, 4);
        assert!(err.log.contains("SIGN_MODE_UNSPECIFIED"), "{}", err.log);
        // A signed tx simulates too.
        let mut sim = st.clone();
        run(&mut sim, &signed(&wallet, vec![], 0), &p, Mode::Simulate).unwrap();
    }

    #[test]
    fn garbage_is_code_2() {
        for garbage in [
            &b"hello world"[..],
            &[0xff, 0xff, 0xff][..],
            &[0x0a, 0x05, 0x01][..],
            &[0x0a, 0x02, 0xff, 0xff][..],
        ] {
            let err = decode(garbage).unwrap_err();
            assert_eq!((err.codespace, err.code), ("sdk", 2), "{garbage:?}");
            assert!(err.log.ends_with(": tx parse error"), "{}", err.log);
        }
        let (_, wallet) = setup();
        let raw = signed(&wallet, vec![], 100_000);
        // Fields out of order (ADR-027).
        let tx_raw = TxRaw::decode(raw.as_slice()).unwrap();
        let mut reordered = TxRaw {
            auth_info_bytes: tx_raw.auth_info_bytes.clone(),
            ..Default::default()
        }
        .encode_to_vec();
        reordered.extend(
            TxRaw {
                body_bytes: tx_raw.body_bytes.clone(),
                signatures: tx_raw.signatures.clone(),
                ..Default::default()
            }
            .encode_to_vec(),
        );
        assert_eq!(decode(&reordered).unwrap_err().code, 2);
        // Unknown field in TxRaw.
        let mut extra = raw.clone();
        extra.extend([0x22, 0x01, 0x00]);
        assert_eq!(decode(&extra).unwrap_err().code, 2);
        // A critical unknown field in the body is rejected, a non-critical one is not.
        let critical = edit_raw(&raw, |t| t.body_bytes.extend([0x28, 0x01]));
        assert_eq!(decode(&critical).unwrap_err().code, 2);
        let non_critical = edit_raw(&raw, |t| t.body_bytes.extend([0x80, 0x40, 0x01]));
        decode(&non_critical).unwrap();
        // Unknown field deep in the auth info.
        let deep = edit_raw(&raw, |t| {
            let info = AuthInfo::decode(t.auth_info_bytes.as_slice()).unwrap();
            let mut fee = info.fee.clone().unwrap().encode_to_vec();
            fee.extend([0x28, 0x01]);
            let mut bytes = AuthInfo {
                signer_infos: info.signer_infos.clone(),
                ..Default::default()
            }
            .encode_to_vec();
            bytes.push(0x12);
            bytes.push(fee.len() as u8);
            bytes.extend(fee);
            t.auth_info_bytes = bytes;
        });
        assert_eq!(decode(&deep).unwrap_err().code, 2);
        // A bad coin amount.
        let bad_amount = edit_auth_info(&raw, |a| {
            if let Some(fee) = a.fee.as_mut() {
                fee.amount = vec![ibc_proto::cosmos::base::v1beta1::Coin {
                    denom: "stake".into(),
                    amount: "ten".into(),
                }];
            }
        });
        assert_eq!(decode(&bad_amount).unwrap_err().code, 2);
    }

    #[test]
    fn structurally_unacceptable_txs() {
        let (_, wallet) = setup();
        let raw = signed(&wallet, vec![], 100_000);
        let no_msgs = wallet.sign_tx(vec![], vec![], 100_000, "");
        let err = decode(&no_msgs).unwrap_err();
        assert_eq!(
            (err.code, err.log.as_str()),
            (18, "must contain at least one message: invalid request")
        );
        let no_sigs = edit_raw(&raw, |t| t.signatures.clear());
        assert_eq!(decode(&no_sigs).unwrap_err().code, 15);
        let two_sigs = edit_raw(&raw, |t| t.signatures.push(t.signatures[0].clone()));
        let err = decode(&two_sigs).unwrap_err();
        assert_eq!(err.code, 4);
        assert!(err.log.contains("wrong number of signers"), "{}", err.log);
        let two_signers = edit_auth_info(&raw, |a| {
            let again = a.signer_infos[0].clone();
            a.signer_infos.push(again);
        });
        assert_eq!(decode(&two_signers).unwrap_err().code, 4);
        let ed25519 = edit_auth_info(&raw, |a| {
            a.signer_infos[0].public_key = Some(Any {
                type_url: "/cosmos.crypto.ed25519.PubKey".into(),
                value: vec![0x0a, 0x20].into_iter().chain([1u8; 32]).collect(),
            });
        });
        assert_eq!(decode(&ed25519).unwrap_err().code, 8);
        let unknown_key = edit_auth_info(&raw, |a| {
            a.signer_infos[0].public_key = Some(Any {
                type_url: "/foo.Key".into(),
                value: vec![],
            });
        });
        assert_eq!(decode(&unknown_key).unwrap_err().code, 2);
        let no_key = edit_auth_info(&raw, |a| a.signer_infos[0].public_key = None);
        assert_eq!(decode(&no_key).unwrap_err().code, 8);
        let bad_key = edit_auth_info(&raw, |a| {
            a.signer_infos[0].public_key = Some(keys::pub_key_any(&[2u8; 20]));
        });
        assert_eq!(decode(&bad_key).unwrap_err().code, 8);
        let amino = edit_auth_info(&raw, |a| {
            a.signer_infos[0] = SignerInfo {
                mode_info: Some(ModeInfo {
                    sum: Some(mode_info::Sum::Single(mode_info::Single {
                        mode: SignMode::LegacyAminoJson as i32,
                    })),
                }),
                ..a.signer_infos[0].clone()
            };
        });
        let err = decode(&amino).unwrap_err();
        assert_eq!(err.code, 4);
        assert!(
            err.log.contains("SIGN_MODE_LEGACY_AMINO_JSON"),
            "{}",
            err.log
        );
        let with_ext = edit_raw(&raw, |t| {
            let mut body = TxBody::decode(t.body_bytes.as_slice()).unwrap();
            body.extension_options.push(Any::default());
            t.body_bytes = body.encode_to_vec();
        });
        assert_eq!(decode(&with_ext).unwrap_err().code, 31);
        let granter = edit_auth_info(&raw, |a| {
            if let Some(fee) = a.fee.as_mut() {
                fee.granter = wallet.address.clone();
            }
        });
        assert_eq!(decode(&granter).unwrap_err().code, 18);
        let payer_self = edit_auth_info(&raw, |a| {
            if let Some(fee) = a.fee.as_mut() {
                fee.payer = wallet.address.clone();
            }
        });
        decode(&payer_self).unwrap();
        let payer_other = edit_auth_info(&raw, |a| {
            if let Some(fee) = a.fee.as_mut() {
                fee.payer = encode_address("cosmos", &[7; 20]);
            }
        });
        assert_eq!(decode(&payer_other).unwrap_err().code, 4);
    }

    #[test]
    fn memo_and_gas_limits() {
        let (mut st, wallet) = setup();
        let long = wallet.sign_tx(
            vec![msg(&wallet.address)],
            vec![],
            100_000,
            &"m".repeat(257),
        );
        let err = run(&mut st, &long, &params(0.0), Mode::Check).unwrap_err();
        assert_eq!(err.code, 12);
        assert_eq!(
            err.log,
            "maximum number of characters is 256 but received 257 characters: memo too large"
        );
        let zero_gas = signed(&wallet, vec![], 0);
        let err = run(&mut st, &zero_gas, &params(0.0), Mode::Deliver).unwrap_err();
        assert_eq!(
            (err.code, err.log.as_str()),
            (41, "must provide positive gas: invalid gas limit")
        );
        let huge = signed(&wallet, vec![], u64::MAX);
        assert_eq!(decode(&huge).unwrap_err().code, 18);
    }

    #[test]
    fn cosmjs_signed_tx_is_accepted() {
        // cosmjs proto-signing test vector: the faucet key signs a MsgSend of 1234567ucosm with
        // fee 2000ucosm / 200000 gas on `simd-testing`, account number 1, sequence 0. cosmjs
        // writes default-valued fields explicitly (empty memo, zero timeout), which the SDK
        // accepts and the signature covers.
        let raw = hex::decode("0a97010a90010a1c2f636f736d6f732e62616e6b2e763162657461312e4d736753656e6412700a2d636f736d6f7331706b707472653766646b6c366766727a6c65736a6a766878686c63337234676d6d6b38727336122d636f736d6f7331717970717870713971637273737a673270767871367273307a716733797963356c7a763778751a100a0575636f736d12073132333435363712001800126b0a500a460a1f2f636f736d6f732e63727970746f2e736563703235366b312e5075624b657912230a21034f04181eeba35391b858633a765c4a0c189697b40d216354d50890d350c7029012040a020801180012170a0d0a0575636f736d12043230303010c09a0c1a0022001a40d1bb55b0f3e5f9c260a20c8ccf2cb44f19bafccba84c7fb6e2b77fac401b15c9228c33236a701dd7a7c4a481aa5dedb902c982fe565504c4f4e7f39ccfcd73d6").unwrap();
        let faucet = "cosmos1pkptre7fdkl6gfrzlesjjvhxhlc3r4gmmk8rs6";
        let mut st = ExecState::new(State::new(), GasMeter::infinite());
        auth::ensure_account(&mut st, &encode_address("cosmos", &[7; 20]));
        assert_eq!(auth::ensure_account(&mut st, faucet).account_number, 1);
        crate::bank::mint(&mut st, faucet, &Coin::new("ucosm", 10_000)).unwrap();
        let tx = decode(&raw).unwrap();
        assert_eq!(tx.gas_limit, 200_000);
        assert_eq!(tx.fee, vec![Coin::new("ucosm", 2000)]);
        let p = AnteParams {
            fee_denom: "ucosm".into(),
            ..params(0.0)
        };
        assert_eq!(
            ante(&mut st.clone(), &tx, "simd-testing", &p, Mode::Check).unwrap(),
            faucet
        );
        assert_eq!(
            ante(&mut st, &tx, "simd-testing", &p, Mode::Deliver).unwrap(),
            faucet
        );
        assert_eq!(crate::bank::balance(&mut st, faucet, "ucosm"), 8_000);
    }

    #[test]
    fn timeout_height() {
        let (_, wallet) = setup();
        let raw = encode_tx_raw(
            encode_body(vec![msg(&wallet.address)], "", 10),
            encode_auth_info(&wallet.key.public_key(), 0, &Fee::new(Vec::new(), 1000)),
            vec![vec![0; 64]],
        );
        let tx = decode(&raw).unwrap();
        assert!(check_timeout_height(&tx, 10).is_ok());
        let err = check_timeout_height(&tx, 11).unwrap_err();
        assert_eq!(
            (err.code, err.log.as_str()),
            (
                30,
                "block height: 11, timeout height: 10: tx timeout height"
            )
        );
    }

    #[test]
    fn required_fee_is_decimal_exact() {
        assert_eq!(required_fee(0.025, 200_000), 5_000);
        assert_eq!(required_fee(0.1, 200), 20);
        assert_eq!(required_fee(0.0001, 3), 1);
        assert_eq!(required_fee(1.5, 3), 5);
        assert_eq!(required_fee(0.0, 100), 0);
        assert_eq!(required_fee(2.0, 0), 0);
    }

    #[test]
    fn tx_msg_data_round_trips() {
        let response = Any {
            type_url: "/ibc.core.channel.v1.MsgRecvPacketResponse".into(),
            value: vec![0x08, 0x02],
        };
        let bytes = encode_tx_msg_data(vec![response.clone()]);
        let decoded = TxMsgData::decode(bytes.as_slice()).unwrap();
        assert_eq!(decoded.msg_responses, vec![response]);
        // Field 2 only: the deprecated `data` stays empty.
        assert_eq!(bytes[0], 0x12);
    }
}
