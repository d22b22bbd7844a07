//! The fee market (`--fee-market`, off by default): an EIP-1559 base gas price that is part of
//! consensus state, moved after every block by how much gas the block used, and enforced by
//! CheckTx. It answers the two base-fee queries relayers know: the Cosmos Hub feemarket module's
//! `/feemarket.feemarket.v1.Query/GasPrice` and Osmosis's
//! `/osmosis.txfees.v1beta1.Query/GetEipBaseFee`.
//!
//! The rule is the feemarket module's plain EIP-1559 one (window of one block, fixed learning
//! rate), with a cap as Osmosis has:
//!
//! ```text
//! used   = min(gas used by the block's txs, max_block_utilization)
//! target = max_block_utilization × target_utilization
//! next   = clamp(price × (1 + learning_rate × (used − target) / target), floor, cap)
//! ```
//!
//! so a full block raises the price by the learning rate (12.5 % by default), an empty one lowers
//! it by as much, and a block at the target leaves it. All arithmetic is in 18-decimal fixed
//! point ([`Dec`], like the SDK's `LegacyDec`), never floats, so replaying the blocks gives the
//! same prices and app hashes. The price lives in the `params` store (written only when the fee
//! market is on, so the app hash of a chain without it does not change).

use std::fmt;
use std::str::FromStr;

use ibc_proto::cosmos::base::v1beta1::DecCoin;
use prost::Message;

use cosmos::coin::coins_string;

use crate::error::TxError;
use crate::store::State;
use crate::tx::Tx;

/// The feemarket module's gas price query (request [`GasPriceRequest`]).
pub const GAS_PRICE_PATH: &str = "/feemarket.feemarket.v1.Query/GasPrice";
/// Osmosis's EIP-1559 base fee query (request [`QueryEipBaseFeeRequest`]).
pub const EIP_BASE_FEE_PATH: &str = "/osmosis.txfees.v1beta1.Query/GetEipBaseFee";
/// The store that holds the base gas price.
pub const STORE: &str = "params";
/// Key of the base gas price (a [`Dec`] in its integer form, as text).
pub const BASE_GAS_PRICE_KEY: &[u8] = b"feemarket/base_gas_price";

/// Scale of [`Dec`]: 10^18.
const ONE: u128 = 1_000_000_000_000_000_000;

/// A non-negative decimal with 18 decimal places, held as an integer count of 10^-18 (the SDK's
/// `LegacyDec`). Its protobuf form, as gogoproto writes a `LegacyDec` field, is that integer as
/// text (`1.5` travels as `1500000000000000000`); [`fmt::Display`] gives the decimal form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dec(u128);

impl Dec {
    /// Zero.
    pub const ZERO: Dec = Dec(0);

    /// The decimal `atto × 10^-18`.
    pub const fn from_atto(atto: u128) -> Self {
        Self(atto)
    }

    /// The integer count of 10^-18.
    pub const fn atto(self) -> u128 {
        self.0
    }

    /// The wire form of a `LegacyDec` field: the integer count of 10^-18 as text.
    pub fn to_proto_string(self) -> String {
        self.0.to_string()
    }

    /// `ceil(self × gas)`: the fee a tx with gas limit `gas` pays at this price.
    pub fn fee_for(self, gas: u64) -> u128 {
        self.0.saturating_mul(u128::from(gas)).div_ceil(ONE)
    }

    fn mul(self, other: Dec) -> Option<Dec> {
        Some(Dec(self.0.checked_mul(other.0)? / ONE))
    }
}

impl fmt::Display for Dec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:018}", self.0 / ONE, self.0 % ONE)
    }
}

/// A decimal that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid decimal {0:?}: expected digits with at most 18 decimal places")]
pub struct ParseDecError(String);

impl FromStr for Dec {
    type Err = ParseDecError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || ParseDecError(text.to_string());
        let (int_part, frac_part) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int_part.is_empty() || !digits(int_part) || !digits(frac_part) || frac_part.len() > 18 {
            return Err(bad());
        }
        let int: u128 = int_part.parse().map_err(|_| bad())?;
        let frac: u128 = if frac_part.is_empty() {
            0
        } else {
            let scale = 10u128.pow(18 - frac_part.len() as u32);
            frac_part.parse::<u128>().map_err(|_| bad())? * scale
        };
        int.checked_mul(ONE)
            .and_then(|i| i.checked_add(frac))
            .map(Dec)
            .ok_or_else(bad)
    }
}

/// The fee market's parameters (fixed at genesis).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeeMarketParams {
    /// The floor, and the price at genesis. Default 0.005, the Cosmos Hub's minimum base gas
    /// price.
    pub min_base_gas_price: Dec,
    /// The cap. Default 10, Osmosis's maximum base fee.
    pub max_base_gas_price: Dec,
    /// Most the price moves in one block, as a share of it. Default 0.125, the feemarket module's
    /// (and Ethereum's).
    pub learning_rate: Dec,
    /// The gas at which a block counts as full (more counts as full). Default 30 000 000, the
    /// feemarket module's.
    pub max_block_utilization: u64,
    /// The target as a share of `max_block_utilization`, in (0, 1]. Default 0.5, the feemarket
    /// module's.
    pub target_utilization: Dec,
}

impl Default for FeeMarketParams {
    fn default() -> Self {
        Self {
            min_base_gas_price: Dec(5_000_000_000_000_000),
            max_base_gas_price: Dec(10 * ONE),
            learning_rate: Dec(ONE / 8),
            max_block_utilization: 30_000_000,
            target_utilization: Dec(ONE / 2),
        }
    }
}

impl FeeMarketParams {
    /// Checks that the parameters make a market: a floor above zero and not above the cap, a
    /// learning rate in (0, 1], a target share in (0, 1] of a positive maximum.
    pub fn validate(&self) -> Result<(), String> {
        if self.min_base_gas_price == Dec::ZERO {
            return Err("fee market: the minimum base gas price must be above zero".into());
        }
        if self.max_base_gas_price < self.min_base_gas_price {
            return Err(format!(
                "fee market: the maximum base gas price {} is below the minimum {}",
                self.max_base_gas_price, self.min_base_gas_price
            ));
        }
        if self.learning_rate == Dec::ZERO || self.learning_rate > Dec(ONE) {
            return Err("fee market: the learning rate must be in (0, 1]".into());
        }
        if self.target_utilization == Dec::ZERO || self.target_utilization > Dec(ONE) {
            return Err("fee market: the target utilization must be in (0, 1]".into());
        }
        if self.target_gas() == 0 {
            return Err("fee market: the target block gas must be above zero".into());
        }
        Ok(())
    }

    /// The target gas per block: `max_block_utilization × target_utilization`.
    pub fn target_gas(&self) -> u64 {
        let target = u128::from(self.max_block_utilization) * self.target_utilization.0 / ONE;
        u64::try_from(target).unwrap_or(u64::MAX)
    }

    /// The price after a block that used `block_gas` at `price` (see the module docs).
    pub fn next_price(&self, price: Dec, block_gas: u64) -> Dec {
        let used = u128::from(block_gas.min(self.max_block_utilization));
        let target = u128::from(self.target_gas().max(1));
        // price × learning_rate × |used − target| / target, rounded down.
        let step = price
            .mul(self.learning_rate)
            .and_then(|d| d.0.checked_mul(used.abs_diff(target)))
            .map(|d| d / target);
        let next = match step {
            Some(step) if used >= target => Dec(price.0.saturating_add(step)),
            Some(step) => Dec(price.0.saturating_sub(step)),
            // Out of range: the price is far above any cap.
            None => self.max_base_gas_price,
        };
        next.clamp(self.min_base_gas_price, self.max_base_gas_price)
    }
}

/// The base gas price in `state`: the floor until the first write.
pub fn base_gas_price(state: &State, params: &FeeMarketParams) -> Dec {
    state
        .tree(STORE)
        .get(BASE_GAS_PRICE_KEY)
        .and_then(|raw| std::str::from_utf8(raw).ok()?.parse::<u128>().ok())
        .map_or(params.min_base_gas_price, Dec)
}

/// Stores the base gas price in `state`.
pub fn set_base_gas_price(state: &mut State, price: Dec) {
    state.tree_mut(STORE).set(
        BASE_GAS_PRICE_KEY.to_vec(),
        price.to_proto_string().into_bytes(),
    );
}

/// Moves the price in `state` after a block that used `block_gas`.
pub fn end_block(state: &mut State, params: &FeeMarketParams, block_gas: u64) {
    let next = params.next_price(base_gas_price(state, params), block_gas);
    set_base_gas_price(state, next);
}

/// The feemarket ante check: the tx's fee in `denom` must cover `price × gas limit`, else sdk 13
/// worded like the SDK's minimum-gas-price check.
pub fn check_fee(tx: &Tx, price: Dec, denom: &str) -> Result<(), TxError> {
    let required = price.fee_for(tx.gas_limit);
    let got = tx
        .fee
        .iter()
        .filter(|c| c.denom == denom)
        .map(|c| c.amount)
        .fold(0u128, u128::saturating_add);
    if got == 0 || got < required {
        return Err(TxError::insufficient_fee(
            &coins_string(&tx.fee),
            &format!("{required}{denom}"),
        ));
    }
    Ok(())
}

/// `feemarket.feemarket.v1.GasPriceRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct GasPriceRequest {
    /// The denom to price gas in.
    #[prost(string, tag = "1")]
    pub denom: String,
}

/// `feemarket.feemarket.v1.GasPriceResponse`.
#[derive(Clone, PartialEq, Message)]
pub struct GasPriceResponse {
    /// The base gas price (its amount a `LegacyDec` in integer form).
    #[prost(message, optional, tag = "1")]
    pub price: Option<DecCoin>,
}

/// `osmosis.txfees.v1beta1.QueryEipBaseFeeRequest` (empty).
#[derive(Clone, PartialEq, Message)]
pub struct QueryEipBaseFeeRequest {}

/// `osmosis.txfees.v1beta1.QueryEipBaseFeeResponse`.
#[derive(Clone, PartialEq, Message)]
pub struct QueryEipBaseFeeResponse {
    /// The base fee, a `LegacyDec` in integer form.
    #[prost(string, tag = "1")]
    pub base_fee: String,
}

/// Answers the fee market's gRPC paths on `state`; `None` for any other path. A price asked in
/// another denom than the fee denom fails as the feemarket module's default resolver does.
pub fn grpc_query(
    state: &State,
    params: &FeeMarketParams,
    fee_denom: &str,
    path: &str,
    data: &[u8],
) -> Option<Result<Vec<u8>, TxError>> {
    let price = || base_gas_price(state, params);
    match path {
        GAS_PRICE_PATH => Some((|| {
            let request = GasPriceRequest::decode(data).map_err(TxError::invalid_request)?;
            if request.denom != fee_denom {
                return Err(TxError::sdk(1, "error resolving denom"));
            }
            Ok(GasPriceResponse {
                price: Some(DecCoin {
                    denom: request.denom,
                    amount: price().to_proto_string(),
                }),
            }
            .encode_to_vec())
        })()),
        EIP_BASE_FEE_PATH => Some(
            QueryEipBaseFeeRequest::decode(data)
                .map_err(TxError::invalid_request)
                .map(|_| {
                    QueryEipBaseFeeResponse {
                        base_fee: price().to_proto_string(),
                    }
                    .encode_to_vec()
                }),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Dec {
        s.parse().unwrap()
    }

    #[test]
    fn dec_parses_and_prints_like_legacy_dec() {
        assert_eq!(dec("0.005").to_string(), "0.005000000000000000");
        assert_eq!(dec("0.005").to_proto_string(), "5000000000000000");
        assert_eq!(dec("12").atto(), 12 * ONE);
        for bad in ["", ".5", "-1", "1e3", "0.0000000000000000001"] {
            assert!(bad.parse::<Dec>().is_err(), "{bad:?}");
        }
        assert_eq!(dec("0.025").fee_for(200_000), 5000);
        assert_eq!(dec("0.0000001").fee_for(3), 1);
    }

    #[test]
    fn full_blocks_raise_empty_ones_lower_between_floor_and_cap() {
        let p = FeeMarketParams::default();
        assert_eq!(p.target_gas(), 15_000_000);
        let start = dec("1");
        assert_eq!(p.next_price(start, 30_000_000), dec("1.125"));
        assert_eq!(p.next_price(start, u64::MAX), dec("1.125"));
        assert_eq!(p.next_price(start, 0), dec("0.875"));
        assert_eq!(p.next_price(start, 15_000_000), start);
        assert_eq!(p.next_price(start, 22_500_000), dec("1.0625"));
        assert_eq!(p.next_price(p.min_base_gas_price, 0), p.min_base_gas_price);
        assert_eq!(
            p.next_price(p.max_base_gas_price, 30_000_000),
            p.max_base_gas_price
        );
        assert!(p.validate().is_ok());
        let bad = FeeMarketParams {
            min_base_gas_price: Dec::ZERO,
            ..p
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn the_price_lives_in_state_from_the_floor() {
        let p = FeeMarketParams::default();
        let mut state = State::new();
        let before = state.app_hash();
        assert_eq!(base_gas_price(&state, &p), p.min_base_gas_price);
        end_block(&mut state, &p, 30_000_000);
        assert_eq!(base_gas_price(&state, &p), dec("0.005625"));
        assert_ne!(state.app_hash(), before);
    }
}
