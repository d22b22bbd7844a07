//! A minimal x/feegrant: `MsgGrantAllowance` with a `BasicAllowance` (a spend limit, or none for
//! unlimited), and what the ante handler does with it when a tx's fee names a granter: the fee
//! is taken from the granter's allowance and then from the granter's balance, as the SDK's
//! `DeductFeeDecorator` does with the feegrant keeper. Grants with an expiration, other
//! allowance types and revocation are not supported.
//!
//! Grants live in the `params` store under `feegrant/{granter}/{grantee}` (the store set stays
//! as it is, so a chain that never grants keeps its app hashes).

use ibc_proto::cosmos::base::v1beta1::Coin as ProtoCoin;
use ibc_proto::google::protobuf::{Any, Timestamp};
use prost::Message;
use tendermint::abci::{Event, EventAttributeIndexExt};

use cosmos::coin::proto_coins;
use cosmos::Coin;

use crate::error::TxError;
use crate::exec::ExecState;

/// Type URL of `MsgGrantAllowance`.
pub const MSG_GRANT_ALLOWANCE: &str = "/cosmos.feegrant.v1beta1.MsgGrantAllowance";
/// Type URL of `BasicAllowance`.
pub const BASIC_ALLOWANCE: &str = "/cosmos.feegrant.v1beta1.BasicAllowance";
/// The store grants live in.
const STORE: &str = "params";

/// `cosmos.feegrant.v1beta1.MsgGrantAllowance`.
#[derive(Clone, PartialEq, Message)]
pub struct MsgGrantAllowance {
    /// Who pays.
    #[prost(string, tag = "1")]
    pub granter: String,
    /// Whose fees are paid.
    #[prost(string, tag = "2")]
    pub grantee: String,
    /// The allowance (a [`BasicAllowance`]).
    #[prost(message, optional, tag = "3")]
    pub allowance: Option<Any>,
}

/// `cosmos.feegrant.v1beta1.BasicAllowance`.
#[derive(Clone, PartialEq, Message)]
pub struct BasicAllowance {
    /// Most the grantee may spend in fees; empty: no limit.
    #[prost(message, repeated, tag = "1")]
    pub spend_limit: Vec<ProtoCoin>,
    /// When the grant ends (unsupported here: must be absent).
    #[prost(message, optional, tag = "2")]
    pub expiration: Option<Timestamp>,
}

fn key(granter: &str, grantee: &str) -> Vec<u8> {
    format!("feegrant/{granter}/{grantee}").into_bytes()
}

fn any(type_url: &str, msg: &impl Message) -> Any {
    Any {
        type_url: type_url.to_string(),
        value: msg.encode_to_vec(),
    }
}

/// A `MsgGrantAllowance` of a `BasicAllowance` with `spend_limit` (empty: unlimited) from
/// `granter` to `grantee` (for tests and tools).
pub fn grant_msg(granter: &str, grantee: &str, spend_limit: &[Coin]) -> Any {
    let allowance = BasicAllowance {
        spend_limit: proto_coins(spend_limit),
        expiration: None,
    };
    any(
        MSG_GRANT_ALLOWANCE,
        &MsgGrantAllowance {
            granter: granter.to_string(),
            grantee: grantee.to_string(),
            allowance: Some(any(BASIC_ALLOWANCE, &allowance)),
        },
    )
}

/// The allowance of `grantee` from `granter`, if any.
pub fn allowance(st: &mut ExecState, granter: &str, grantee: &str) -> Option<BasicAllowance> {
    let raw = st.get(STORE, &key(granter, grantee))?;
    BasicAllowance::decode(raw.as_slice()).ok()
}

/// Executes `MsgGrantAllowance` signed by `signer` (who must be the granter).
pub fn execute_grant(
    st: &mut ExecState,
    msg: &Any,
    signer: &str,
) -> Result<(Vec<Event>, Option<Any>), TxError> {
    let msg = MsgGrantAllowance::decode(msg.value.as_slice()).map_err(TxError::tx_decode)?;
    if msg.granter != signer {
        return Err(TxError::sdk(
            8,
            format!(
                "pubKey does not match signer address {} with signer index: 0: invalid pubkey",
                msg.granter
            ),
        ));
    }
    if cosmos::address::decode_address(&msg.grantee).is_err() {
        return Err(TxError::sdk(
            7,
            format!("invalid grantee address {:?}: invalid address", msg.grantee),
        ));
    }
    if msg.grantee == msg.granter {
        return Err(TxError::invalid_request(
            "cannot self-grant fee authorization",
        ));
    }
    let any = msg
        .allowance
        .ok_or_else(|| TxError::invalid_request("missing allowance"))?;
    if any.type_url != BASIC_ALLOWANCE {
        return Err(TxError::invalid_request(format!(
            "allowance type {} is not supported by the devnet (BasicAllowance only)",
            any.type_url
        )));
    }
    let allowance = BasicAllowance::decode(any.value.as_slice()).map_err(TxError::tx_decode)?;
    if allowance.expiration.is_some() {
        return Err(TxError::invalid_request(
            "expiring allowances are not supported by the devnet",
        ));
    }
    if allowance
        .spend_limit
        .iter()
        .any(|c| c.amount.parse::<u128>().is_err())
    {
        return Err(TxError::sdk(10, "invalid spend limit: invalid coins"));
    }
    if st.get(STORE, &key(&msg.granter, &msg.grantee)).is_some() {
        return Err(TxError::invalid_request("fee allowance already exists"));
    }
    st.set(
        STORE,
        key(&msg.granter, &msg.grantee),
        allowance.encode_to_vec(),
    );
    let event = Event::new(
        "set_feegrant",
        [
            ("granter", msg.granter).index(),
            ("grantee", msg.grantee).index(),
        ],
    );
    let response = Any {
        type_url: "/cosmos.feegrant.v1beta1.MsgGrantAllowanceResponse".to_string(),
        value: Vec::new(),
    };
    Ok((vec![event], Some(response)))
}

fn grant_error(code: u32, granter: &str, grantee: &str, why: &str) -> TxError {
    TxError {
        codespace: "feegrant",
        code,
        log: format!("{granter} does not allow to pay fees for {grantee}: {why}"),
    }
}

/// Spends `fee` from the allowance of `grantee` by `granter`: feegrant 6 without a grant,
/// feegrant 2 beyond its spend limit. A limit spent to zero removes the grant.
pub fn use_grant(
    st: &mut ExecState,
    granter: &str,
    grantee: &str,
    fee: &[Coin],
) -> Result<(), TxError> {
    let Some(mut allowance) = allowance(st, granter, grantee) else {
        return Err(grant_error(
            6,
            granter,
            grantee,
            "allowance does not exist: fee-grant not found",
        ));
    };
    if allowance.spend_limit.is_empty() {
        return Ok(());
    }
    for coin in fee.iter().filter(|c| c.amount > 0) {
        let left = allowance
            .spend_limit
            .iter_mut()
            .find(|l| l.denom == coin.denom)
            .and_then(|l| Some((l.amount.parse::<u128>().ok()?, l)));
        match left {
            Some((have, limit)) if have >= coin.amount => {
                limit.amount = (have - coin.amount).to_string();
            }
            _ => {
                return Err(grant_error(
                    2,
                    granter,
                    grantee,
                    "basic allowance: fee limit exceeded",
                ))
            }
        }
    }
    allowance.spend_limit.retain(|c| c.amount != "0");
    let k = key(granter, grantee);
    if allowance.spend_limit.is_empty() {
        st.delete(STORE, &k);
    } else {
        st.set(STORE, k, allowance.encode_to_vec());
    }
    Ok(())
}
