//! The bank side of ICS-20: escrow accounts per channel, minting and burning vouchers, their
//! denom traces in the `transfer` store, and ibc-rs's token-transfer contexts over `bank.rs`.

use ibc::apps::transfer::context::{TokenTransferExecutionContext, TokenTransferValidationContext};
use ibc::apps::transfer::types::{Memo, PrefixedCoin, PrefixedDenom};
use ibc::core::host::types::error::HostError;
use ibc::core::host::types::identifiers::{ChannelId, PortId};
use ibc::core::primitives::Signer;
use ibc_proto::ibc::applications::transfer::v1::DenomTrace;
use prost::Message;
use sha2::{Digest, Sha256};

use super::packet::{bank_denom, denom_hash};
use super::{transfer_err, VERSION};
use crate::bank;
use crate::error::TxError;
use crate::ibc::context::IbcContext;
use crate::ibc::keys::{denom_trace_key, TRANSFER_STORE};
use cosmos::Coin;

/// The escrow address of `port/channel`, as ibc-go's `GetEscrowAddress`: the first 20 bytes of
/// `sha256("ics20-1" || 0x00 || "{port}/{channel}")`, bech32 with `prefix`.
pub fn escrow_address(prefix: &str, port: &str, channel: &str) -> Result<String, TxError> {
    let mut hasher = Sha256::new();
    hasher.update(VERSION.as_bytes());
    hasher.update([0u8]);
    hasher.update(format!("{port}/{channel}").as_bytes());
    let hash = hasher.finalize();
    let hrp = bech32::Hrp::parse(prefix)
        .map_err(|e| TxError::sdk(7, format!("invalid bech32 prefix {prefix:?}: {e}")))?;
    bech32::encode::<bech32::Bech32>(hrp, &hash[..20])
        .map_err(|e| TxError::sdk(7, format!("cannot encode escrow address: {e}")))
}

/// An `ibc::apps::transfer` error for the ibc-rs context traits.
fn host_err(e: TxError) -> HostError {
    HostError::Other { description: e.log }
}

impl IbcContext<'_> {
    /// The escrow address of `port/channel` on this chain.
    pub fn escrow(&self, port: &PortId, channel: &ChannelId) -> Result<String, TxError> {
        escrow_address(&self.shared.bech32_prefix, port.as_str(), channel.as_str())
    }

    /// Checks a local account address (bech32 with this chain's prefix).
    pub(super) fn local_account(&self, address: &str) -> Result<String, TxError> {
        let (hrp, data) = bech32::decode(address).map_err(|e| {
            TxError::sdk(
                7,
                format!("failed to decode address {address:?}: {e}: invalid address"),
            )
        })?;
        if hrp.as_str() != self.shared.bech32_prefix || data.is_empty() {
            return Err(TxError::sdk(
                7,
                format!(
                    "invalid Bech32 prefix; expected {}, got {}: invalid address",
                    self.shared.bech32_prefix,
                    hrp.as_str()
                ),
            ));
        }
        Ok(address.to_string())
    }

    fn bank_coin(coin: &PrefixedCoin) -> Result<Coin, TxError> {
        let amount: u128 = coin.amount.to_string().parse().map_err(|_| {
            transfer_err(
                5,
                format!(
                    "amount {} does not fit in 128 bits: invalid amount",
                    coin.amount
                ),
            )
        })?;
        Ok(Coin::new(bank_denom(&coin.denom), amount))
    }

    pub(super) fn spendable(&self, address: &str, coin: &Coin) -> Result<(), TxError> {
        let have = self.with_exec(|st| bank::balance(st, address, &coin.denom));
        if have < coin.amount {
            return Err(TxError::insufficient_funds(format!(
                "spendable balance {} is smaller than {coin}",
                Coin::new(coin.denom.clone(), have)
            )));
        }
        Ok(())
    }

    /// Stores the trace of a traced denom in the `transfer` store (first time only).
    fn store_denom_trace(&self, denom: &PrefixedDenom) {
        if denom.trace_path.is_empty() {
            return;
        }
        let key = denom_trace_key(&denom_hash(&denom.to_string()));
        if self.get_in(TRANSFER_STORE, &key).is_none() {
            let trace = DenomTrace {
                path: denom.trace_path.to_string(),
                base_denom: denom.base_denom.to_string(),
            };
            self.set_in(TRANSFER_STORE, key, trace.encode_to_vec());
        }
    }

    /// The denom trace of `ibc/{hash}` (or `{hash}`), if known.
    pub fn denom_trace(&self, hash_or_denom: &str) -> Option<DenomTrace> {
        let hash = hash_or_denom
            .strip_prefix("ibc/")
            .unwrap_or(hash_or_denom)
            .to_ascii_uppercase();
        let raw = self.get_in(TRANSFER_STORE, &denom_trace_key(&hash))?;
        DenomTrace::decode(raw.as_slice()).ok()
    }

    pub(super) fn escrow_tokens(
        &self,
        from: &str,
        port: &PortId,
        chan: &ChannelId,
        coin: &PrefixedCoin,
    ) -> Result<(), TxError> {
        let escrow = self.escrow(port, chan)?;
        let coin = Self::bank_coin(coin)?;
        self.with_exec(|st| bank::send(st, from, &escrow, &coin))
    }

    pub(super) fn unescrow_tokens(
        &self,
        to: &str,
        port: &PortId,
        chan: &ChannelId,
        coin: &PrefixedCoin,
    ) -> Result<(), TxError> {
        let escrow = self.escrow(port, chan)?;
        let coin = Self::bank_coin(coin)?;
        self.with_exec(|st| bank::send(st, &escrow, to, &coin))
    }

    pub(super) fn mint_tokens(&self, to: &str, coin: &PrefixedCoin) -> Result<(), TxError> {
        self.store_denom_trace(&coin.denom);
        let coin = Self::bank_coin(coin)?;
        self.with_exec(|st| bank::mint(st, to, &coin))
    }

    pub(super) fn burn_tokens(&self, from: &str, coin: &PrefixedCoin) -> Result<(), TxError> {
        let coin = Self::bank_coin(coin)?;
        self.with_exec(|st| bank::burn(st, from, &coin))
    }
}

impl TokenTransferValidationContext for IbcContext<'_> {
    type AccountId = String;

    fn sender_account(&self, sender: &Signer) -> Result<String, HostError> {
        self.local_account(sender.as_ref()).map_err(host_err)
    }

    fn receiver_account(&self, receiver: &Signer) -> Result<String, HostError> {
        self.local_account(receiver.as_ref()).map_err(host_err)
    }

    fn get_port(&self) -> Result<PortId, HostError> {
        Ok(PortId::transfer())
    }

    fn can_send_coins(&self) -> Result<(), HostError> {
        Ok(())
    }

    fn can_receive_coins(&self) -> Result<(), HostError> {
        Ok(())
    }

    fn escrow_coins_validate(
        &self,
        from: &String,
        _port: &PortId,
        _chan: &ChannelId,
        coin: &PrefixedCoin,
        _memo: &Memo,
    ) -> Result<(), HostError> {
        let coin = Self::bank_coin(coin).map_err(host_err)?;
        self.spendable(from, &coin).map_err(host_err)
    }

    fn unescrow_coins_validate(
        &self,
        _to: &String,
        port: &PortId,
        chan: &ChannelId,
        coin: &PrefixedCoin,
    ) -> Result<(), HostError> {
        let escrow = self.escrow(port, chan).map_err(host_err)?;
        let coin = Self::bank_coin(coin).map_err(host_err)?;
        self.spendable(&escrow, &coin).map_err(host_err)
    }

    fn mint_coins_validate(&self, _account: &String, coin: &PrefixedCoin) -> Result<(), HostError> {
        Self::bank_coin(coin).map(|_| ()).map_err(host_err)
    }

    fn burn_coins_validate(
        &self,
        account: &String,
        coin: &PrefixedCoin,
        _memo: &Memo,
    ) -> Result<(), HostError> {
        let coin = Self::bank_coin(coin).map_err(host_err)?;
        self.spendable(account, &coin).map_err(host_err)
    }

    fn denom_hash_string(&self, denom: &PrefixedDenom) -> Option<String> {
        Some(denom_hash(&denom.to_string()))
    }
}

impl TokenTransferExecutionContext for IbcContext<'_> {
    fn escrow_coins_execute(
        &mut self,
        from: &String,
        port: &PortId,
        chan: &ChannelId,
        coin: &PrefixedCoin,
        _memo: &Memo,
    ) -> Result<(), HostError> {
        self.escrow_tokens(from, port, chan, coin).map_err(host_err)
    }

    fn unescrow_coins_execute(
        &mut self,
        to: &String,
        port: &PortId,
        chan: &ChannelId,
        coin: &PrefixedCoin,
    ) -> Result<(), HostError> {
        self.unescrow_tokens(to, port, chan, coin).map_err(host_err)
    }

    fn mint_coins_execute(
        &mut self,
        account: &String,
        coin: &PrefixedCoin,
    ) -> Result<(), HostError> {
        self.mint_tokens(account, coin).map_err(host_err)
    }

    fn burn_coins_execute(
        &mut self,
        account: &String,
        coin: &PrefixedCoin,
        _memo: &Memo,
    ) -> Result<(), HostError> {
        self.burn_tokens(account, coin).map_err(host_err)
    }
}
