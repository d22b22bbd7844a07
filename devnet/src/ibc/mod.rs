//! IBC inside the devnet: ibc-rs core (07-tendermint clients, connections, channels, packets)
//! and ICS-20 transfer, on the `ibc` store with ibc-go's key layout and encodings.

use ibc_proto::google::protobuf::Any;

use crate::error::TxError;
use crate::exec::ExecState;

/// What the host chain knows about itself that IBC handlers need.
pub struct HostInfo<'a> {
    /// Chain id, e.g. `devnet-1` (revision 1).
    pub chain_id: &'a str,
    /// The height of the block being executed (or, for queries, the latest committed height).
    pub height: u64,
    /// The block time, ns since the Unix epoch.
    pub time_ns: u128,
    /// Past headers, for the host's own consensus states.
    pub history: &'a dyn HostHistory,
    /// Maximum expected time per block (for connection delays).
    pub max_expected_time_per_block: std::time::Duration,
}

/// What the host's own consensus state at a height is built from.
#[derive(Clone, Debug)]
pub struct HostConsensus {
    /// Header time, ns since the Unix epoch.
    pub time_ns: u128,
    /// The header's app hash (state after the previous block).
    pub app_hash: Vec<u8>,
    /// The header's next validators hash.
    pub next_validators_hash: Vec<u8>,
}

/// Access to the host chain's past headers.
pub trait HostHistory: Send + Sync {
    /// The consensus data of the host header at `height`, if that block exists.
    fn consensus_at(&self, height: u64) -> Option<HostConsensus>;
}

/// The outcome of one executed IBC or transfer message.
#[derive(Clone, Debug, Default)]
pub struct MsgResult {
    /// ABCI events, ibc-go types and attribute keys, plain strings.
    pub events: Vec<tendermint::abci::Event>,
    /// The message's `Msg...Response`, Any-encoded, for `TxMsgData.msg_responses`.
    pub response: Option<Any>,
}

/// True when `type_url` is a message this module executes.
pub fn handles(_type_url: &str) -> bool {
    todo!()
}

/// For a packet message (recv, ack, timeout, timeout-on-close): whether executing it would be a
/// no-op because the packet was already relayed. `None` for any other message.
pub fn is_redundant(_state: &mut ExecState, _msg: &Any) -> Option<bool> {
    todo!()
}

/// Validates and executes one message signed by `tx_signer` (bech32).
pub fn execute(
    _state: &mut ExecState,
    _host: &HostInfo<'_>,
    _msg: &Any,
    _tx_signer: &str,
) -> Result<MsgResult, TxError> {
    todo!()
}

/// Answers a gRPC query of the `ibc.core.{client,connection,channel}.v1.Query` and
/// `ibc.applications.transfer.v1.Query` services (`path` like
/// `/ibc.core.channel.v1.Query/PacketCommitments`); `None` when the path is not one of them.
pub fn grpc_query(
    _state: &mut ExecState,
    _host: &HostInfo<'_>,
    _path: &str,
    _request: &[u8],
) -> Option<Result<Vec<u8>, TxError>> {
    todo!()
}
