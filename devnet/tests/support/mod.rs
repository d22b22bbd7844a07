//! Helpers shared by the devnet's integration tests: coins and bank transfers.
//!
//! Each test binary includes this module with `mod support;` and uses what it needs.

#![allow(dead_code)] // not every test binary uses every helper

use cosmos::{to_any, Coin};
use ibc_proto::cosmos::bank::v1beta1::MsgSend;
use ibc_proto::google::protobuf::Any;

/// `amount` of the devnet's staking denom.
pub fn stake(amount: u128) -> Coin {
    Coin::new("stake", amount)
}

/// A bank send of `amount` stake from `from` to `to`, ready for a tx.
pub fn bank_send(from: &str, to: &str, amount: u128) -> Any {
    to_any(&MsgSend {
        from_address: from.to_string(),
        to_address: to.to_string(),
        amount: vec![ibc_proto::cosmos::base::v1beta1::Coin {
            denom: "stake".into(),
            amount: amount.to_string(),
        }],
    })
}
