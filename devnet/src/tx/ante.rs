//! The ante handler: the SDK 0.50 decorators (memo, tx size gas, fee with fee grants, public
//! key, signature gas, sequence, signature) run on an [`ExecState`], plus the fee arithmetic and the timeout
//! height check its callers run.

use ibc_proto::cosmos::tx::signing::v1beta1::SignMode;

use cosmos::address::address_of;
use cosmos::coin::{coins_string, valid_denom};
use cosmos::keys;
use cosmos::tx::sign_doc_bytes;
use cosmos::Coin;

use crate::auth::{self, MAX_MEMO_CHARACTERS};
use crate::error::TxError;
use crate::exec::{cost, ExecState};

use super::decode::sign_mode_name;
use super::{Mode, Tx};

/// Bytes the SDK charges (per byte) in simulation for a signature not yet filled in: the legacy
/// amino `StdSignature{secp256k1 pubkey, 64-byte signature}` (106 bytes) plus 6.
pub(super) const SIMULATED_SIGNATURE_BYTES: u64 = 112;

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
    // With a granter (other than the signer), the fee comes out of its allowance and balance.
    let fee_payer = match &tx.fee_granter {
        Some(granter) if *granter != signer => {
            crate::feegrant::use_grant(state, granter, &signer, &tx.fee)?;
            granter.clone()
        }
        _ => signer.clone(),
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
            crate::bank::send(state, &fee_payer, &params.fee_collector, coin).map_err(|e| {
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
