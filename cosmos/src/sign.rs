//! SIGN_MODE_DIRECT signing for one account: a [`Wallet`] holds the key, the chain id, the
//! account number and the next sequence, and turns messages into signed `TxRaw` bytes with the
//! encoding of [`crate::tx`] (the same bytes Hermes and cosmjs produce).

use ibc_proto::cosmos::tx::signing::v1beta1::SignMode;
use ibc_proto::cosmos::tx::v1beta1::{AuthInfo, Fee as ProtoFee};
use ibc_proto::google::protobuf::Any;
use prost::Message;

use crate::coin::Coin;
use crate::keys::AccountKey;
use crate::tx::{encode_auth_info, encode_body, encode_tx_raw, sign_doc_bytes, signer_info, Fee};

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
    /// A wallet for `key` on `chain_id`, its address with `prefix`.
    pub fn new(
        key: AccountKey,
        prefix: &str,
        chain_id: &str,
        account_number: u64,
        sequence: u64,
    ) -> Self {
        let address = key.address(prefix);
        Self {
            key,
            address,
            chain_id: chain_id.to_string(),
            account_number,
            sequence,
        }
    }

    /// Encodes and signs a TxRaw with `msgs`, `fee` (paid by this account), `gas_limit` and
    /// `memo` at the wallet's current sequence (which it does not advance).
    pub fn sign_tx(&self, msgs: Vec<Any>, fee: Vec<Coin>, gas_limit: u64, memo: &str) -> Vec<u8> {
        self.sign_with_fee(msgs, &Fee::new(fee, gas_limit), memo)
    }

    /// Encodes and signs a TxRaw with `msgs`, `fee` (which may name a payer or a granter) and
    /// `memo` at the wallet's current sequence (which it does not advance).
    pub fn sign_with_fee(&self, msgs: Vec<Any>, fee: &Fee, memo: &str) -> Vec<u8> {
        let body_bytes = encode_body(msgs, memo, 0);
        let auth_info_bytes = encode_auth_info(&self.key.public_key(), self.sequence, fee);
        let sign_bytes = sign_doc_bytes(
            &body_bytes,
            &auth_info_bytes,
            &self.chain_id,
            self.account_number,
        );
        let signature = self.key.sign(&sign_bytes);
        encode_tx_raw(body_bytes, auth_info_bytes, vec![signature])
    }

    /// [`Wallet::sign_tx`], then advances the sequence (for a tx that will be accepted).
    pub fn sign_next(
        &mut self,
        msgs: Vec<Any>,
        fee: Vec<Coin>,
        gas_limit: u64,
        memo: &str,
    ) -> Vec<u8> {
        let raw = self.sign_tx(msgs, fee, gas_limit, memo);
        self.sequence += 1;
        raw
    }

    /// An unsigned tx for `/cosmos.tx.v1beta1.Service/Simulate`, the way cosmjs builds it: the
    /// public key and sequence, SIGN_MODE_UNSPECIFIED, an empty fee and one empty signature.
    pub fn simulation_tx(&self, msgs: Vec<Any>, memo: &str) -> Vec<u8> {
        let body_bytes = encode_body(msgs, memo, 0);
        let auth_info = AuthInfo {
            signer_infos: vec![signer_info(
                &self.key.public_key(),
                self.sequence,
                SignMode::Unspecified,
            )],
            fee: Some(ProtoFee::default()),
            ..Default::default()
        };
        encode_tx_raw(body_bytes, auth_info.encode_to_vec(), vec![Vec::new()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::any::to_any;
    use ibc_proto::cosmos::bank::v1beta1::MsgSend;
    use ibc_proto::cosmos::tx::v1beta1::{mode_info, TxBody, TxRaw};

    #[test]
    fn signed_tx_has_the_hermes_shape() {
        let wallet = Wallet::new(AccountKey::random(), "cosmos", "c-1", 3, 9);
        let raw = wallet.sign_tx(
            vec![to_any(&MsgSend::default())],
            vec![Coin::new("stake", 5)],
            1234,
            "memo",
        );
        let tx_raw = TxRaw::decode(raw.as_slice()).unwrap();
        assert_eq!(tx_raw.signatures.len(), 1);
        assert_eq!(tx_raw.signatures[0].len(), 64);
        let body = TxBody::decode(tx_raw.body_bytes.as_slice()).unwrap();
        assert_eq!(body.memo, "memo");
        let auth_info = AuthInfo::decode(tx_raw.auth_info_bytes.as_slice()).unwrap();
        let info = &auth_info.signer_infos[0];
        assert_eq!(info.sequence, 9);
        let pk = info.public_key.as_ref().unwrap();
        assert_eq!(pk.type_url, "/cosmos.crypto.secp256k1.PubKey");
        assert_eq!(
            info.mode_info.as_ref().unwrap().sum,
            Some(mode_info::Sum::Single(mode_info::Single { mode: 1 }))
        );
        let fee = auth_info.fee.unwrap();
        assert_eq!((fee.gas_limit, fee.amount[0].amount.as_str()), (1234, "5"));
        assert_eq!((fee.payer.as_str(), fee.granter.as_str()), ("", ""));
        let sign_bytes = sign_doc_bytes(&tx_raw.body_bytes, &tx_raw.auth_info_bytes, "c-1", 3);
        assert!(crate::keys::verify(
            &wallet.key.public_key(),
            &sign_bytes,
            &tx_raw.signatures[0]
        ));
        // sign_tx does not advance; sign_next does.
        let mut w = wallet.clone();
        let _ = w.sign_next(vec![to_any(&MsgSend::default())], vec![], 1, "");
        assert_eq!(w.sequence, 10);
        assert_eq!(wallet.sequence, 9);
    }

    #[test]
    fn sign_tx_is_sign_with_fee_without_payer_or_granter() {
        let wallet = Wallet::new(AccountKey::random(), "cosmos", "c-1", 0, 0);
        let msgs = || vec![to_any(&MsgSend::default())];
        let coins = vec![Coin::new("stake", 1)];
        // RFC 6979 signatures are deterministic, so equal inputs give equal bytes.
        assert_eq!(
            wallet.sign_tx(msgs(), coins.clone(), 99, "m"),
            wallet.sign_with_fee(msgs(), &Fee::new(coins.clone(), 99), "m")
        );
        let granted = wallet.sign_with_fee(msgs(), &Fee::new(coins, 99).with_granter("g"), "m");
        let tx_raw = TxRaw::decode(granted.as_slice()).unwrap();
        let auth_info = AuthInfo::decode(tx_raw.auth_info_bytes.as_slice()).unwrap();
        assert_eq!(auth_info.fee.unwrap().granter, "g");
    }

    #[test]
    fn simulation_tx_is_unsigned() {
        let wallet = Wallet::new(AccountKey::random(), "cosmos", "c-1", 0, 4);
        let tx_raw = TxRaw::decode(wallet.simulation_tx(vec![], "").as_slice()).unwrap();
        assert_eq!(tx_raw.signatures, vec![Vec::<u8>::new()]);
        let auth_info = AuthInfo::decode(tx_raw.auth_info_bytes.as_slice()).unwrap();
        assert_eq!(auth_info.signer_infos[0].sequence, 4);
        assert_eq!(auth_info.fee, Some(ProtoFee::default()));
    }
}
