//! A minimal client-side signer for tests and the handshake helper: builds SIGN_MODE_DIRECT
//! txs for one account and tracks its sequence.

use ibc_proto::google::protobuf::Any;

use crate::bank::Coin;
use crate::keys::AccountKey;

/// An account able to sign txs on one chain.
#[derive(Clone, Debug)]
pub struct Wallet {
    /// The key.
    pub key: AccountKey,
    /// Bech32 address.
    pub address: String,
    /// Chain id the txs are for.
    pub chain_id: String,
    /// Account number.
    pub account_number: u64,
    /// Next sequence to sign with.
    pub sequence: u64,
}

impl Wallet {
    /// Encodes and signs a TxRaw with `msgs`, `fee`, `gas_limit` and `memo` at the wallet's
    /// current sequence (which it does not advance).
    pub fn sign_tx(
        &self,
        _msgs: Vec<Any>,
        _fee: Vec<Coin>,
        _gas_limit: u64,
        _memo: &str,
    ) -> Vec<u8> {
        todo!()
    }
}
