//! IBC inside the devnet: ibc-rs core (07-tendermint clients, connections, channels, packets)
//! and ICS-20 transfer, on the `ibc` store with ibc-go's key layout and encodings.
//!
//! - [`keys`]: store paths and value encodings (ibc-go's).
//! - [`context`]: the ibc-rs host context over the working state.
//! - [`transfer`]: ICS-20 (bank side, `MsgTransfer`, module callbacks).
//! - [`events`]: ibc-rs events → ibc-go-shaped ABCI events.
//! - [`errors`]: ibc-rs errors → ibc-go codespaces and codes.
//! - [`query`]: the gRPC query services.
//!
//! A message executes on a copy of the caller's [`ExecState`]; the copy replaces the caller's
//! state only when the message succeeds (gas is kept either way).

mod context;
mod errors;
mod events;
mod keys;
mod query;
mod redundancy;
pub mod transfer;

use cosmos::to_any;
use ibc::core::entrypoint::dispatch;
use ibc::core::handler::types::msgs::MsgEnvelope;
use ibc::core::host::types::identifiers::PortId;
use ibc::core::host::types::path::ChannelEndPath;
use ibc::core::host::ValidationContext;
use ibc::core::router::module::Module;
use ibc::core::router::router::Router;
use ibc::core::router::types::module::ModuleId;
use ibc_proto::google::protobuf::Any;
use ibc_proto::ibc::applications::transfer::v1::{MsgTransfer, MsgTransferResponse};
use ibc_proto::ibc::core::channel::v1 as chan;
use ibc_proto::ibc::core::client::v1 as client;
use ibc_proto::ibc::core::connection::v1 as conn;
use prost::Message;

use self::context::{IbcContext, Shared};
use self::transfer::TransferModule;
use crate::error::TxError;
use crate::exec::ExecState;

pub use self::keys::{decode_u64, encode_u64, revision_of_chain_id};
pub use self::redundancy::{is_redundant, record_pending};
pub use self::transfer::{bank_denom, denom_hash, escrow_address, packet_data_bytes, ACK_SUCCESS};

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
    /// Test switch: the ICS-20 module accepts `MsgChannelCloseInit` (ibc-go's refuses it), so
    /// tests can close a channel end ([`crate::DevnetConfig::allow_channel_close`]).
    pub allow_channel_close: bool,
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

/// `MsgTransfer`'s type URL.
pub const MSG_TRANSFER: &str = "/ibc.applications.transfer.v1.MsgTransfer";
const MSG_RECV_PACKET: &str = "/ibc.core.channel.v1.MsgRecvPacket";
const MSG_ACKNOWLEDGEMENT: &str = "/ibc.core.channel.v1.MsgAcknowledgement";
const MSG_TIMEOUT: &str = "/ibc.core.channel.v1.MsgTimeout";
const MSG_TIMEOUT_ON_CLOSE: &str = "/ibc.core.channel.v1.MsgTimeoutOnClose";

/// `MsgUpdateClient`, which CheckTx also applies (to the check state).
pub const MSG_UPDATE_CLIENT: &str = "/ibc.core.client.v1.MsgUpdateClient";

/// Every message type this module executes.
pub const MESSAGE_TYPES: &[&str] = &[
    "/ibc.core.client.v1.MsgCreateClient",
    "/ibc.core.client.v1.MsgUpdateClient",
    "/ibc.core.client.v1.MsgUpgradeClient",
    "/ibc.core.client.v1.MsgSubmitMisbehaviour",
    "/ibc.core.connection.v1.MsgConnectionOpenInit",
    "/ibc.core.connection.v1.MsgConnectionOpenTry",
    "/ibc.core.connection.v1.MsgConnectionOpenAck",
    "/ibc.core.connection.v1.MsgConnectionOpenConfirm",
    "/ibc.core.channel.v1.MsgChannelOpenInit",
    "/ibc.core.channel.v1.MsgChannelOpenTry",
    "/ibc.core.channel.v1.MsgChannelOpenAck",
    "/ibc.core.channel.v1.MsgChannelOpenConfirm",
    "/ibc.core.channel.v1.MsgChannelCloseInit",
    "/ibc.core.channel.v1.MsgChannelCloseConfirm",
    MSG_RECV_PACKET,
    MSG_ACKNOWLEDGEMENT,
    MSG_TIMEOUT,
    MSG_TIMEOUT_ON_CLOSE,
    MSG_TRANSFER,
];

/// True when `type_url` is a message this module executes.
pub fn handles(type_url: &str) -> bool {
    MESSAGE_TYPES.contains(&type_url)
}

/// `ResponseResultType`.
const RESULT_NOOP: i32 = 1;
const RESULT_SUCCESS: i32 = 2;

/// The response of a packet message with `result`; `None` for other messages.
fn packet_response(type_url: &str, result: i32) -> Option<Any> {
    match type_url {
        MSG_RECV_PACKET => Some(to_any(&chan::MsgRecvPacketResponse { result })),
        MSG_ACKNOWLEDGEMENT => Some(to_any(&chan::MsgAcknowledgementResponse { result })),
        MSG_TIMEOUT => Some(to_any(&chan::MsgTimeoutResponse { result })),
        MSG_TIMEOUT_ON_CLOSE => Some(to_any(&chan::MsgTimeoutOnCloseResponse { result })),
        _ => None,
    }
}

/// The `NOOP` response of a redundant packet message (what ibc-go returns in DeliverTx).
pub fn noop_response(type_url: &str) -> Option<Any> {
    packet_response(type_url, RESULT_NOOP)
}

/// The router: the transfer module bound to port `transfer`.
struct IbcRouter<'a> {
    transfer: TransferModule<'a>,
}

impl Router for IbcRouter<'_> {
    fn get_route(&self, module_id: &ModuleId) -> Option<&dyn Module> {
        transfer::is_transfer_port(&module_id.to_string()).then_some(&self.transfer as &dyn Module)
    }

    fn get_route_mut(&mut self, module_id: &ModuleId) -> Option<&mut dyn Module> {
        if transfer::is_transfer_port(&module_id.to_string()) {
            Some(&mut self.transfer)
        } else {
            None
        }
    }

    fn lookup_module(&self, port_id: &PortId) -> Option<ModuleId> {
        transfer::is_transfer_port(port_id.as_str()).then(|| ModuleId::new(port_id.to_string()))
    }
}

#[allow(deprecated)] // MsgSubmitMisbehaviour::signer
fn envelope_signer(envelope: &MsgEnvelope) -> &str {
    use ibc::core::channel::types::msgs::{ChannelMsg, PacketMsg};
    use ibc::core::client::types::msgs::ClientMsg;
    use ibc::core::connection::types::msgs::ConnectionMsg;
    let signer = match envelope {
        MsgEnvelope::Client(m) => match m {
            ClientMsg::CreateClient(m) => &m.signer,
            ClientMsg::UpdateClient(m) => &m.signer,
            ClientMsg::Misbehaviour(m) => &m.signer,
            ClientMsg::UpgradeClient(m) => &m.signer,
            ClientMsg::RecoverClient(m) => &m.signer,
        },
        MsgEnvelope::Connection(m) => match m {
            ConnectionMsg::OpenInit(m) => &m.signer,
            ConnectionMsg::OpenTry(m) => &m.signer,
            ConnectionMsg::OpenAck(m) => &m.signer,
            ConnectionMsg::OpenConfirm(m) => &m.signer,
        },
        MsgEnvelope::Channel(m) => match m {
            ChannelMsg::OpenInit(m) => &m.signer,
            ChannelMsg::OpenTry(m) => &m.signer,
            ChannelMsg::OpenAck(m) => &m.signer,
            ChannelMsg::OpenConfirm(m) => &m.signer,
            ChannelMsg::CloseInit(m) => &m.signer,
            ChannelMsg::CloseConfirm(m) => &m.signer,
        },
        MsgEnvelope::Packet(m) => match m {
            PacketMsg::Recv(m) => &m.signer,
            PacketMsg::Ack(m) => &m.signer,
            PacketMsg::Timeout(m) => &m.signer,
            PacketMsg::TimeoutOnClose(m) => &m.signer,
        },
    };
    signer.as_ref()
}

/// The response of a successfully executed core message. Channel-opening messages report the
/// id the handler assigned (`channel-{counter before}`) and the negotiated version.
fn core_response(
    ctx: &IbcContext<'_>,
    type_url: &str,
    new_channel: Option<(PortId, u64)>,
) -> Option<Any> {
    if let Some(response) = packet_response(type_url, RESULT_SUCCESS) {
        return Some(response);
    }
    let channel = || {
        let (port, counter) = new_channel.clone()?;
        let id = ibc::core::host::types::identifiers::ChannelId::new(counter);
        let end = ctx.channel_end(&ChannelEndPath::new(&port, &id)).ok()?;
        Some((id.to_string(), end.version().to_string()))
    };
    Some(match type_url.rsplit('.').next().unwrap_or_default() {
        "MsgCreateClient" => to_any(&client::MsgCreateClientResponse {}),
        "MsgUpdateClient" => to_any(&client::MsgUpdateClientResponse {}),
        "MsgUpgradeClient" => to_any(&client::MsgUpgradeClientResponse {}),
        "MsgSubmitMisbehaviour" => to_any(&client::MsgSubmitMisbehaviourResponse {}),
        "MsgConnectionOpenInit" => to_any(&conn::MsgConnectionOpenInitResponse {}),
        "MsgConnectionOpenTry" => to_any(&conn::MsgConnectionOpenTryResponse {}),
        "MsgConnectionOpenAck" => to_any(&conn::MsgConnectionOpenAckResponse {}),
        "MsgConnectionOpenConfirm" => to_any(&conn::MsgConnectionOpenConfirmResponse {}),
        "MsgChannelOpenInit" => {
            let (channel_id, version) = channel().unwrap_or_default();
            to_any(&chan::MsgChannelOpenInitResponse {
                channel_id,
                version,
            })
        }
        "MsgChannelOpenTry" => {
            let (channel_id, version) = channel().unwrap_or_default();
            to_any(&chan::MsgChannelOpenTryResponse {
                version,
                channel_id,
            })
        }
        "MsgChannelOpenAck" => to_any(&chan::MsgChannelOpenAckResponse {}),
        "MsgChannelOpenConfirm" => to_any(&chan::MsgChannelOpenConfirmResponse {}),
        "MsgChannelCloseInit" => to_any(&chan::MsgChannelCloseInitResponse {}),
        "MsgChannelCloseConfirm" => to_any(&chan::MsgChannelCloseConfirmResponse {}),
        _ => return None,
    })
}

/// Runs one message on `ctx`, returning its response.
fn run(ctx: &mut IbcContext<'_>, msg: &Any, tx_signer: &str) -> Result<Option<Any>, TxError> {
    if msg.type_url == MSG_TRANSFER {
        let raw = MsgTransfer::decode(msg.value.as_slice()).map_err(TxError::tx_decode)?;
        let sequence = transfer::send_transfer(ctx, &raw, tx_signer)?;
        return Ok(Some(to_any(&MsgTransferResponse { sequence })));
    }
    if !handles(&msg.type_url) {
        return Err(TxError::sdk(
            6,
            format!(
                "unrecognized message type: {}: unknown request",
                msg.type_url
            ),
        ));
    }
    let envelope = MsgEnvelope::try_from(msg.clone())
        .map_err(|e| TxError::tx_decode(format!("invalid {}: {e}", msg.type_url)))?;
    let signer = envelope_signer(&envelope);
    if signer != tx_signer {
        return Err(errors::signer_mismatch(signer));
    }
    let new_channel = match &envelope {
        MsgEnvelope::Channel(ibc::core::channel::types::msgs::ChannelMsg::OpenInit(m)) => {
            Some(m.port_id_on_a.clone())
        }
        MsgEnvelope::Channel(ibc::core::channel::types::msgs::ChannelMsg::OpenTry(m)) => {
            Some(m.port_id_on_b.clone())
        }
        _ => None,
    }
    .map(|port| ctx.channel_counter().map(|c| (port, c)))
    .transpose()
    .map_err(|e| TxError::sdk(1, format!("{e}: internal")))?;
    let mut router = IbcRouter {
        transfer: TransferModule::new(*ctx),
    };
    dispatch(ctx, &mut router, envelope).map_err(errors::handler_error_to_tx)?;
    Ok(core_response(ctx, &msg.type_url, new_channel))
}

/// The bech32 prefix of an address (`cosmos` when it does not parse).
fn bech32_prefix(address: &str) -> String {
    bech32::decode(address)
        .map(|(hrp, _)| hrp.to_string())
        .unwrap_or_else(|_| "cosmos".to_string())
}

/// Validates and executes one message signed by `tx_signer` (bech32).
pub fn execute(
    state: &mut ExecState,
    host: &HostInfo<'_>,
    msg: &Any,
    tx_signer: &str,
) -> Result<MsgResult, TxError> {
    if is_redundant(state, msg) == Some(true) {
        return Ok(MsgResult {
            events: Vec::new(),
            response: noop_response(&msg.type_url),
        });
    }
    let shared = Shared::new(state.clone(), host, &bech32_prefix(tx_signer));
    let mut ctx = IbcContext::new(&shared);
    let result = run(&mut ctx, msg, tx_signer);
    let Shared { exec, events, .. } = shared;
    let exec = exec.into_inner();
    let outcome = result.and_then(|response| {
        let events = events::to_abci(events.into_inner())?;
        Ok(MsgResult { events, response })
    });
    match outcome {
        Ok(out) => {
            *state = exec;
            Ok(out)
        }
        Err(e) => {
            state.gas = exec.gas;
            Err(e)
        }
    }
}

/// Answers a gRPC query of the `ibc.core.{client,connection,channel}.v1.Query` and
/// `ibc.applications.transfer.v1.Query` services (`path` like
/// `/ibc.core.channel.v1.Query/PacketCommitments`); `None` when the path is not one of them.
pub fn grpc_query(
    state: &mut ExecState,
    host: &HostInfo<'_>,
    path: &str,
    request: &[u8],
) -> Option<Result<Vec<u8>, TxError>> {
    let ours = ["/ibc.core.", "/ibc.applications.transfer.v1.Query/"];
    if !ours.iter().any(|p| path.starts_with(p)) {
        return None;
    }
    let shared = Shared::new(state.clone(), host, "cosmos");
    let ctx = IbcContext::new(&shared);
    let out = query::answer(&ctx, path, request);
    state.gas = shared.exec.into_inner().gas;
    out
}

#[cfg(test)]
mod tests;
