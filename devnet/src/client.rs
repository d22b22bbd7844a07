//! A minimal client-side signer for tests and the handshake helper: builds SIGN_MODE_DIRECT
//! txs for one account and tracks its sequence.
//!
//! The encoding is what Hermes and cosmjs send: `TxBody{messages, memo}`,
//! `AuthInfo{[SignerInfo{/cosmos.crypto.secp256k1.PubKey, single DIRECT, sequence}],
//! Fee{amount, gas_limit}}`, the signature over `SignDoc{body_bytes, auth_info_bytes, chain_id,
//! account_number}`, all packed in a `TxRaw`. The tx hash is sha256 of the `TxRaw` bytes.

use ibc_proto::cosmos::base::v1beta1::Coin as ProtoCoin;
use ibc_proto::cosmos::tx::signing::v1beta1::SignMode;
use ibc_proto::cosmos::tx::v1beta1::{
    mode_info, AuthInfo, Fee, ModeInfo, SignerInfo, SimulateRequest, TxBody, TxRaw,
};
use ibc_proto::google::protobuf::Any;
use prost::Message;
use sha2::{Digest, Sha256};

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

    /// Encodes and signs a TxRaw with `msgs`, `fee`, `gas_limit` and `memo` at the wallet's
    /// current sequence (which it does not advance).
    pub fn sign_tx(&self, msgs: Vec<Any>, fee: Vec<Coin>, gas_limit: u64, memo: &str) -> Vec<u8> {
        let body_bytes = encode_body(msgs, memo, 0);
        let auth_info_bytes =
            encode_auth_info(&self.key.public_key(), self.sequence, &fee, gas_limit);
        let sign_bytes = crate::tx::sign_doc_bytes(
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
            fee: Some(Fee::default()),
            ..Default::default()
        };
        encode_tx_raw(body_bytes, auth_info.encode_to_vec(), vec![Vec::new()])
    }
}

/// `SimulateRequest{tx_bytes}` bytes for the Simulate query.
pub fn simulate_request(tx_bytes: Vec<u8>) -> Vec<u8> {
    SimulateRequest {
        tx_bytes,
        ..Default::default()
    }
    .encode_to_vec()
}

/// The tx hash CometBFT and the SDK use: sha256 of the raw tx bytes.
pub fn tx_hash(raw: &[u8]) -> [u8; 32] {
    Sha256::digest(raw).into()
}

/// The tx hash as CometBFT prints it: upper-case hex.
pub fn tx_hash_hex(raw: &[u8]) -> String {
    hex::encode_upper(tx_hash(raw))
}

/// Packs a protobuf message as an `Any` with its type URL (`/` + full name).
pub fn to_any<M: prost::Name>(msg: &M) -> Any {
    Any {
        type_url: M::type_url(),
        value: msg.encode_to_vec(),
    }
}

/// Coins as protobuf `Coin`s (amounts as decimal strings).
pub fn proto_coins(coins: &[Coin]) -> Vec<ProtoCoin> {
    coins
        .iter()
        .map(|c| ProtoCoin {
            denom: c.denom.clone(),
            amount: c.amount.to_string(),
        })
        .collect()
}

/// `TxBody{messages, memo, timeout_height}` bytes.
pub fn encode_body(msgs: Vec<Any>, memo: &str, timeout_height: u64) -> Vec<u8> {
    TxBody {
        messages: msgs,
        memo: memo.to_string(),
        timeout_height,
        extension_options: Vec::new(),
        non_critical_extension_options: Vec::new(),
    }
    .encode_to_vec()
}

/// A single-key signer info with `mode`.
pub fn signer_info(pub_key: &[u8], sequence: u64, mode: SignMode) -> SignerInfo {
    SignerInfo {
        public_key: Some(crate::auth::pub_key_any(pub_key)),
        mode_info: Some(ModeInfo {
            sum: Some(mode_info::Sum::Single(mode_info::Single {
                mode: mode as i32,
            })),
        }),
        sequence,
    }
}

/// `AuthInfo{[SignerInfo{secp256k1 pub_key, DIRECT, sequence}], Fee{amount, gas_limit}}` bytes.
pub fn encode_auth_info(pub_key: &[u8], sequence: u64, fee: &[Coin], gas_limit: u64) -> Vec<u8> {
    AuthInfo {
        signer_infos: vec![signer_info(pub_key, sequence, SignMode::Direct)],
        fee: Some(Fee {
            amount: proto_coins(fee),
            gas_limit,
            payer: String::new(),
            granter: String::new(),
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// `TxRaw{body_bytes, auth_info_bytes, signatures}` bytes.
pub fn encode_tx_raw(
    body_bytes: Vec<u8>,
    auth_info_bytes: Vec<u8>,
    signatures: Vec<Vec<u8>>,
) -> Vec<u8> {
    TxRaw {
        body_bytes,
        auth_info_bytes,
        signatures,
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ibc_proto::cosmos::bank::v1beta1::MsgSend;

    #[test]
    fn to_any_uses_the_type_url() {
        let any = to_any(&MsgSend::default());
        assert_eq!(any.type_url, "/cosmos.bank.v1beta1.MsgSend");
    }

    #[test]
    fn tx_hash_is_sha256_of_raw() {
        assert_eq!(
            tx_hash_hex(b""),
            "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
        );
    }

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
        let sign_bytes =
            crate::tx::sign_doc_bytes(&tx_raw.body_bytes, &tx_raw.auth_info_bytes, "c-1", 3);
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
    fn simulate_request_wraps_tx_bytes() {
        let bytes = simulate_request(vec![1, 2, 3]);
        let req = SimulateRequest::decode(bytes.as_slice()).unwrap();
        assert_eq!(req.tx_bytes, vec![1, 2, 3]);
    }
}
