//! The chain's current base gas price, for fees that follow a fee market: the feemarket
//! module's `/feemarket.feemarket.v1.Query/GasPrice` (the Cosmos Hub) or Osmosis's
//! `/osmosis.txfees.v1beta1.Query/GetEipBaseFee`, both gRPC methods reached through
//! `abci_query`. Their prices are `LegacyDec`s, which travel as the integer count of 10^-18.

use ibc_proto::cosmos::base::v1beta1::DecCoin;
use prost::Message;

use super::{IbcQuerier, QueryError};

/// The feemarket module's gas price query.
pub(crate) const FEEMARKET_GAS_PRICE: &str = "/feemarket.feemarket.v1.Query/GasPrice";
/// Osmosis's EIP-1559 base fee query.
pub(crate) const OSMOSIS_EIP_BASE_FEE: &str = "/osmosis.txfees.v1beta1.Query/GetEipBaseFee";

/// `feemarket.feemarket.v1.GasPriceRequest`.
#[derive(Clone, PartialEq, Message)]
struct GasPriceRequest {
    #[prost(string, tag = "1")]
    denom: String,
}

/// `feemarket.feemarket.v1.GasPriceResponse`.
#[derive(Clone, PartialEq, Message)]
struct GasPriceResponse {
    #[prost(message, optional, tag = "1")]
    price: Option<DecCoin>,
}

/// `osmosis.txfees.v1beta1.QueryEipBaseFeeRequest`.
#[derive(Clone, PartialEq, Message)]
struct QueryEipBaseFeeRequest {}

/// `osmosis.txfees.v1beta1.QueryEipBaseFeeResponse`.
#[derive(Clone, PartialEq, Message)]
struct QueryEipBaseFeeResponse {
    #[prost(string, tag = "1")]
    base_fee: String,
}

/// Which query answers a chain's base gas price.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PriceSource {
    /// The feemarket module (Cosmos Hub).
    FeeMarket,
    /// Osmosis's txfees module.
    OsmosisEip,
}

/// A base gas price read from the chain.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct BasePrice {
    /// Price per unit of gas, in the fee denom.
    pub(crate) price: f64,
    /// The height of the state it was read from.
    pub(crate) height: u64,
    /// The query that answered.
    pub(crate) source: PriceSource,
}

/// A `LegacyDec` as it travels in protobuf (`"1500000000000000000"` is 1.5); a decimal with a
/// point is taken as written.
pub(crate) fn parse_legacy_dec(text: &str) -> Option<f64> {
    let t = text.trim();
    if t.is_empty() || t.starts_with('-') {
        return None;
    }
    let value = if t.contains('.') {
        t.parse::<f64>().ok()?
    } else {
        let atto: u128 = t.parse().ok()?;
        atto as f64 / 1e18
    };
    value.is_finite().then_some(value)
}

impl IbcQuerier {
    /// The chain's base gas price in `denom`, from `source`, or when `None` from the first of
    /// the two queries the chain answers.
    pub(crate) async fn base_gas_price(
        &self,
        denom: &str,
        source: Option<PriceSource>,
    ) -> Result<BasePrice, QueryError> {
        match source {
            Some(s) => self.base_gas_price_from(denom, s).await,
            None => match self
                .base_gas_price_from(denom, PriceSource::FeeMarket)
                .await
            {
                Ok(p) => Ok(p),
                Err(first) => self
                    .base_gas_price_from(denom, PriceSource::OsmosisEip)
                    .await
                    .map_err(|_| first),
            },
        }
    }

    async fn base_gas_price_from(
        &self,
        denom: &str,
        source: PriceSource,
    ) -> Result<BasePrice, QueryError> {
        let (path, data) = match source {
            PriceSource::FeeMarket => (
                FEEMARKET_GAS_PRICE,
                GasPriceRequest {
                    denom: denom.to_string(),
                }
                .encode_to_vec(),
            ),
            PriceSource::OsmosisEip => (
                OSMOSIS_EIP_BASE_FEE,
                QueryEipBaseFeeRequest {}.encode_to_vec(),
            ),
        };
        let q = self.rpc().abci_query(path, &data, None, false).await?;
        if q.code.value() != 0 {
            return Err(QueryError::Abci {
                chain: self.chain_id().to_string(),
                path: path.to_string(),
                code: q.code.value(),
                log: q.log,
            });
        }
        let text = match source {
            PriceSource::FeeMarket => {
                let resp = GasPriceResponse::decode(q.value.as_slice())
                    .map_err(|e| self.decode_error(format!("{path}: {e}")))?;
                let coin = resp
                    .price
                    .ok_or_else(|| self.decode_error(format!("{path}: no price")))?;
                if coin.denom != denom {
                    return Err(self.decode_error(format!(
                        "{path}: price in {:?}, asked for {denom:?}",
                        coin.denom
                    )));
                }
                coin.amount
            }
            PriceSource::OsmosisEip => {
                QueryEipBaseFeeResponse::decode(q.value.as_slice())
                    .map_err(|e| self.decode_error(format!("{path}: {e}")))?
                    .base_fee
            }
        };
        let price = parse_legacy_dec(&text)
            .ok_or_else(|| self.decode_error(format!("{path}: bad price {text:?}")))?;
        Ok(BasePrice {
            price,
            height: q.height.value(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_decs() {
        assert_eq!(parse_legacy_dec("1500000000000000000"), Some(1.5));
        assert_eq!(parse_legacy_dec("5000000000000000"), Some(0.005));
        assert_eq!(parse_legacy_dec("0.0025"), Some(0.0025));
        for bad in ["", "-1", "x", "1e400"] {
            assert_eq!(parse_legacy_dec(bad), None, "{bad}");
        }
    }
}
