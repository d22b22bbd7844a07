//! Light-client headers: a Tendermint `Header` for `MsgUpdateClient` from `/commit` and
//! `/validators` (the target's signed header and validator set, the trusted validators from
//! trusted height + 1, proposer set), and the client and consensus states for `MsgCreateClient`.

use ibc_proto::google::protobuf::Any;

use super::query::{IbcQuerier, QueryError};

/// A `/ibc.lightclients.tendermint.v1.Header` Any for target height `target`, trusted `trusted`.
pub async fn update_header(
    _chain: &IbcQuerier,
    _target: u64,
    _trusted: u64,
) -> Result<Any, QueryError> {
    todo!()
}
