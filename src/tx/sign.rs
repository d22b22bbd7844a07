//! Signing and fees for one account: a [`TxSigner`] holds the key, the account number and the
//! locally tracked sequence, and turns messages into signed SIGN_MODE_DIRECT `TxRaw` bytes.
//!
//! The encoding itself (`TxBody`, `AuthInfo`, `SignDoc`, `TxRaw`) is `cosmos::Wallet`'s, the same
//! bytes Hermes and cosmjs produce, and the devnet decodes and verifies them with the same crate,
//! so the relayer and the devnet cannot drift apart.
//! This module adds what a relayer needs around it: the fee from a gas amount and a gas price
//! (paid from a fee grant when the chain has a `fee_granter`), the memo (`memo_prefix` then
//! ours), the gas limit from a simulation, the size of the tx envelope, and parsing the
//! "expected N" of an account sequence mismatch. The key is never formatted: `AccountKey`'s `Debug` is redacted and
//! nothing here logs it.

use cosmos::tx::Fee;
use cosmos::{AccountKey, Coin, Wallet};
use ibc_proto::google::protobuf::Any;

use crate::config::GasPrice;

/// Memo put on every tx the relayer signs (after the chain's `memo_prefix`, if any).
pub(crate) const MEMO: &str = concat!("arke ", env!("CARGO_PKG_VERSION"));

/// Signs txs for one account on one chain, tracking its sequence.
#[derive(Clone, Debug)]
pub(crate) struct TxSigner {
    wallet: Wallet,
    /// `memo_prefix` followed by [`MEMO`].
    memo: String,
    /// Whose fee grant pays the fees.
    fee_granter: Option<String>,
}

impl TxSigner {
    /// A signer for `key` on `chain_id`, its address with `account_prefix`; the account number
    /// and sequence start at 0 until [`TxSigner::set_account`] is called.
    pub(crate) fn new(key: AccountKey, account_prefix: &str, chain_id: &str) -> Self {
        Self {
            wallet: Wallet::new(key, account_prefix, chain_id, 0, 0),
            memo: MEMO.to_string(),
            fee_granter: None,
        }
    }

    /// The same signer putting `memo_prefix` in front of its memo and paying fees from
    /// `fee_granter`'s grant.
    pub(crate) fn with_fee_options(
        mut self,
        fee_granter: Option<String>,
        memo_prefix: Option<&str>,
    ) -> Self {
        self.fee_granter = fee_granter;
        self.memo = match memo_prefix {
            Some(prefix) => format!("{prefix} {MEMO}"),
            None => MEMO.to_string(),
        };
        self
    }

    /// The memo of every tx.
    #[cfg(test)]
    pub(crate) fn memo(&self) -> &str {
        &self.memo
    }

    /// The bech32 address (the `signer` of every message).
    pub(crate) fn address(&self) -> &str {
        &self.wallet.address
    }

    /// The next sequence to sign with.
    pub(crate) fn sequence(&self) -> u64 {
        self.wallet.sequence
    }

    /// The account number (read by the tests).
    #[cfg(test)]
    pub(crate) fn account_number(&self) -> u64 {
        self.wallet.account_number
    }

    /// Sets account number and sequence (from an account query).
    pub(crate) fn set_account(&mut self, account_number: u64, sequence: u64) {
        self.wallet.account_number = account_number;
        self.set_sequence(sequence);
    }

    /// Sets the next sequence (from "expected N").
    pub(crate) fn set_sequence(&mut self, sequence: u64) {
        self.wallet.sequence = sequence;
        crate::telemetry::metrics::metrics().signer_sequence.set(
            &[&self.wallet.chain_id, &self.wallet.address],
            sequence as f64,
        );
    }

    /// Advances the sequence after a tx passed CheckTx.
    pub(crate) fn advance(&mut self) {
        self.set_sequence(self.wallet.sequence.saturating_add(1));
    }

    /// A signed `TxRaw` with `msgs`, `gas_limit` and a fee of `fee` at the current sequence.
    pub(crate) fn sign(&self, msgs: Vec<Any>, gas_limit: u64, fee: Option<Coin>) -> Vec<u8> {
        self.wallet
            .sign_with_fee(msgs, &self.fee(gas_limit, fee), &self.memo)
    }

    fn fee(&self, gas_limit: u64, fee: Option<Coin>) -> Fee {
        let fee = Fee::new(fee.into_iter().collect(), gas_limit);
        match &self.fee_granter {
            Some(granter) => fee.with_granter(granter.clone()),
            None => fee,
        }
    }

    /// A signed `TxRaw` at `sequence` instead of the tracked one (for simulation).
    pub(crate) fn sign_at(
        &self,
        sequence: u64,
        msgs: Vec<Any>,
        gas_limit: u64,
        fee: Option<Coin>,
    ) -> Vec<u8> {
        let mut wallet = self.wallet.clone();
        wallet.sequence = sequence;
        wallet.sign_with_fee(msgs, &self.fee(gas_limit, fee), &self.memo)
    }

    /// Bytes a signed tx takes beyond its messages' encodings: the size of an empty tx signed
    /// with the largest fee, plus room for the body's length prefixes.
    pub(crate) fn envelope_size(&self, max_gas: u64, price: &GasPrice) -> usize {
        self.sign(Vec::new(), max_gas, fee_for(max_gas, price))
            .len()
            + 16
    }
}

/// The fee for `gas` at `price`: `ceil(gas × price)` in the price's denom, or no coin when the
/// amount is zero.
pub(crate) fn fee_for(gas: u64, price: &GasPrice) -> Option<Coin> {
    let amount = (gas as f64 * price.price).ceil();
    if !amount.is_finite() || amount <= 0.0 {
        return None;
    }
    Some(Coin::new(price.denom.clone(), amount as u128))
}

/// The gas limit for a simulation that used `gas_used`: `ceil(gas_used × multiplier)`.
pub(crate) fn gas_limit_for(gas_used: u64, multiplier: f64) -> u64 {
    let gas = (gas_used as f64 * multiplier.max(1.0)).ceil();
    if gas.is_finite() && gas < u64::MAX as f64 {
        gas as u64
    } else {
        u64::MAX
    }
}

/// The `N` of "account sequence mismatch, expected N, got G" (sdk code 32), also inside a
/// longer error text.
pub(crate) fn expected_sequence(log: &str) -> Option<u64> {
    let from = log.find("sequence mismatch").unwrap_or(0);
    crate::chain::rpc::number_after(&log[from..], "expected")
}

/// The size of `msg` inside a `TxBody.messages` field (tag, length prefix, bytes).
pub(crate) fn message_size(msg: &Any) -> usize {
    use prost::Message;
    let len = msg.encoded_len();
    1 + prost::encoding::encoded_len_varint(len as u64) + len
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(p: f64) -> GasPrice {
        GasPrice {
            price: p,
            denom: "stake".into(),
        }
    }

    #[test]
    fn fees_round_up() {
        assert_eq!(
            fee_for(100_000, &price(0.025)),
            Some(Coin::new("stake", 2500))
        );
        assert_eq!(fee_for(3, &price(0.5)), Some(Coin::new("stake", 2)));
        assert_eq!(fee_for(100, &price(0.0)), None);
        assert_eq!(gas_limit_for(1000, 1.1), 1100);
        assert_eq!(gas_limit_for(1001, 1.5), 1502);
        assert_eq!(gas_limit_for(1000, 0.5), 1000);
    }

    #[test]
    fn parses_expected_sequence() {
        let log = "account sequence mismatch, expected 17, got 12: incorrect account sequence";
        assert_eq!(expected_sequence(log), Some(17));
        assert_eq!(expected_sequence("expected  3"), Some(3));
        let wrapped = "query failed (expected success) with code 32: account sequence mismatch, expected 9, got 8";
        assert_eq!(expected_sequence(wrapped), Some(9));
        assert_eq!(expected_sequence("no number here"), None);
        assert_eq!(expected_sequence("expected x"), None);
    }

    #[test]
    fn signs_with_tracked_sequence() {
        let mut s = TxSigner::new(AccountKey::random(), "cosmos", "c-1");
        s.set_account(4, 7);
        s.advance();
        assert_eq!((s.account_number(), s.sequence()), (4, 8));
        assert!(s.address().starts_with("cosmos1"));
        let raw = s.sign(Vec::new(), 1000, fee_for(1000, &price(1.0)));
        assert!(raw.len() < s.envelope_size(1000, &price(1.0)));
        let other = s.sign_at(2, Vec::new(), 1000, None);
        assert_ne!(raw, other);
        assert_eq!(s.sequence(), 8);
    }

    #[test]
    fn granter_and_memo_prefix_are_signed() {
        use ibc_proto::cosmos::tx::v1beta1::{AuthInfo, TxBody, TxRaw};
        use prost::Message;
        let decode = |raw: &[u8]| {
            let tx = TxRaw::decode(raw).unwrap();
            let body = TxBody::decode(tx.body_bytes.as_slice()).unwrap();
            let auth = AuthInfo::decode(tx.auth_info_bytes.as_slice()).unwrap();
            (body.memo, auth.fee.unwrap().granter)
        };
        let plain = TxSigner::new(AccountKey::random(), "cosmos", "c-1");
        let (memo, granter) = decode(&plain.sign(Vec::new(), 10, None));
        assert_eq!((memo.as_str(), granter.as_str()), (MEMO, ""));
        let s = plain.with_fee_options(Some("cosmos1granter".into()), Some("ops"));
        let (memo, granter) = decode(&s.sign(Vec::new(), 10, None));
        assert_eq!(memo, format!("ops {MEMO}"));
        assert_eq!(granter, "cosmos1granter");
        let (memo, granter) = decode(&s.sign_at(3, Vec::new(), 10, None));
        assert_eq!(
            (memo.as_str(), granter.as_str()),
            (s.memo(), "cosmos1granter")
        );
    }
}
