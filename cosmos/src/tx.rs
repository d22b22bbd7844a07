//! The Cosmos SDK tx encoding, as Hermes and cosmjs produce it: `TxBody{messages, memo,
//! timeout_height}`, `AuthInfo{[SignerInfo{secp256k1 pub_key, single mode, sequence}],
//! Fee{amount, gas_limit, payer, granter}}`, the SIGN_MODE_DIRECT `SignDoc{body_bytes,
//! auth_info_bytes, chain_id, account_number}`, and the `TxRaw` that carries body, auth info and
//! signatures. [`crate::sign::Wallet`] puts them together for one account.
//!
//! Every function returns the protobuf encoding the signature is computed over, so the bytes
//! signed are exactly the bytes sent.

use ibc_proto::cosmos::tx::signing::v1beta1::SignMode;
use ibc_proto::cosmos::tx::v1beta1::{
    mode_info, AuthInfo, Fee as ProtoFee, ModeInfo, SignDoc, SignerInfo, SimulateRequest, TxBody,
    TxRaw,
};
use ibc_proto::google::protobuf::Any;
use prost::Message;

use crate::coin::{proto_coins, Coin};
use crate::keys::pub_key_any;

/// What a tx pays: coins, the gas limit, and optionally who pays and who grants the fee.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fee {
    /// The fee coins.
    pub amount: Vec<Coin>,
    /// The gas limit.
    pub gas_limit: u64,
    /// The account that pays the fee, when not the first signer (it must sign the tx too).
    pub payer: Option<String>,
    /// The account whose fee grant (x/feegrant) pays the fee.
    pub granter: Option<String>,
}

impl Fee {
    /// `amount` for `gas_limit`, paid by the first signer without a grant.
    pub fn new(amount: Vec<Coin>, gas_limit: u64) -> Self {
        Self {
            amount,
            gas_limit,
            payer: None,
            granter: None,
        }
    }

    /// The same fee paid by `payer`.
    pub fn with_payer(mut self, payer: impl Into<String>) -> Self {
        self.payer = Some(payer.into());
        self
    }

    /// The same fee paid from `granter`'s fee grant.
    pub fn with_granter(mut self, granter: impl Into<String>) -> Self {
        self.granter = Some(granter.into());
        self
    }

    /// The protobuf `Fee` (an absent payer or granter is the empty string).
    pub fn to_proto(&self) -> ProtoFee {
        ProtoFee {
            amount: proto_coins(&self.amount),
            gas_limit: self.gas_limit,
            payer: self.payer.clone().unwrap_or_default(),
            granter: self.granter.clone().unwrap_or_default(),
        }
    }
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
        public_key: Some(pub_key_any(pub_key)),
        mode_info: Some(ModeInfo {
            sum: Some(mode_info::Sum::Single(mode_info::Single {
                mode: mode as i32,
            })),
        }),
        sequence,
    }
}

/// `AuthInfo{[SignerInfo{secp256k1 pub_key, DIRECT, sequence}], fee}` bytes.
pub fn encode_auth_info(pub_key: &[u8], sequence: u64, fee: &Fee) -> Vec<u8> {
    AuthInfo {
        signer_infos: vec![signer_info(pub_key, sequence, SignMode::Direct)],
        fee: Some(fee.to_proto()),
        ..Default::default()
    }
    .encode_to_vec()
}

/// The SIGN_MODE_DIRECT sign bytes: `SignDoc{body_bytes, auth_info_bytes, chain_id,
/// account_number}`.
pub fn sign_doc_bytes(
    body_bytes: &[u8],
    auth_info_bytes: &[u8],
    chain_id: &str,
    account_number: u64,
) -> Vec<u8> {
    SignDoc {
        body_bytes: body_bytes.to_vec(),
        auth_info_bytes: auth_info_bytes.to_vec(),
        chain_id: chain_id.to_string(),
        account_number,
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

/// The messages of a signed tx: `TxRaw` → `body_bytes` → `TxBody.messages`, the way a node's
/// mempool or a block holds the tx.
pub fn tx_messages(tx_raw: &[u8]) -> Result<Vec<Any>, prost::DecodeError> {
    let raw = TxRaw::decode(tx_raw)?;
    Ok(TxBody::decode(raw.body_bytes.as_slice())?.messages)
}

/// `SimulateRequest{tx_bytes}` bytes for `/cosmos.tx.v1beta1.Service/Simulate`.
pub fn simulate_request(tx_bytes: Vec<u8>) -> Vec<u8> {
    SimulateRequest {
        tx_bytes,
        ..Default::default()
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulate_request_wraps_tx_bytes() {
        let bytes = simulate_request(vec![1, 2, 3]);
        let req = SimulateRequest::decode(bytes.as_slice()).unwrap();
        assert_eq!(req.tx_bytes, vec![1, 2, 3]);
    }

    #[test]
    fn fee_without_payer_or_granter_encodes_as_before() {
        // The fee as it was always encoded: amount and gas limit, empty payer and granter.
        let coins = vec![Coin::new("stake", 5)];
        let plain = ProtoFee {
            amount: proto_coins(&coins),
            gas_limit: 1234,
            payer: String::new(),
            granter: String::new(),
        };
        let fee = Fee::new(coins, 1234);
        assert_eq!(fee.to_proto(), plain);
        let expected = AuthInfo {
            signer_infos: vec![signer_info(&[2; 33], 9, SignMode::Direct)],
            fee: Some(plain),
            ..Default::default()
        }
        .encode_to_vec();
        assert_eq!(encode_auth_info(&[2; 33], 9, &fee), expected);
    }

    #[test]
    fn fee_payer_and_granter() {
        let fee = Fee::new(vec![], 10)
            .with_payer("cosmos1payer")
            .with_granter("cosmos1granter");
        let auth_info = AuthInfo::decode(encode_auth_info(&[2; 33], 0, &fee).as_slice()).unwrap();
        let proto = auth_info.fee.unwrap();
        assert_eq!(proto.payer, "cosmos1payer");
        assert_eq!(proto.granter, "cosmos1granter");
        assert_eq!(proto.gas_limit, 10);
    }

    #[test]
    fn body_and_raw_round_trip() {
        let body = TxBody::decode(encode_body(vec![Any::default()], "m", 7).as_slice()).unwrap();
        assert_eq!(
            (body.messages.len(), body.memo.as_str(), body.timeout_height),
            (1, "m", 7)
        );
        let raw = TxRaw::decode(encode_tx_raw(vec![1], vec![2], vec![vec![3]]).as_slice()).unwrap();
        assert_eq!(
            (raw.body_bytes, raw.auth_info_bytes, raw.signatures),
            (vec![1], vec![2], vec![vec![3]])
        );
        let doc = SignDoc::decode(sign_doc_bytes(&[1], &[2], "c-1", 4).as_slice()).unwrap();
        assert_eq!((doc.chain_id.as_str(), doc.account_number), ("c-1", 4));
    }

    #[test]
    fn messages_of_a_signed_tx() {
        let msg = Any {
            type_url: "/x.Msg".into(),
            value: vec![7, 8],
        };
        let body = encode_body(vec![msg.clone()], "", 0);
        let raw = encode_tx_raw(body, vec![2], vec![vec![3]]);
        assert_eq!(tx_messages(&raw).unwrap(), vec![msg]);
        assert!(tx_messages(&[0xff, 0xff, 0xff]).is_err());
    }
}
