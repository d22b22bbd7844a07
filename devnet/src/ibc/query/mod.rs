//! The gRPC query services of IBC core (`ibc.core.{client,connection,channel}.v1.Query`) and
//! ICS-20 (`ibc.applications.transfer.v1.Query`) answered from the store, as ibc-go answers them
//! in gRPC mode: `proof` empty, `proof_height`/`height` the host height, lists paginated over
//! the store keys (so packet sequences come in key order, `1, 10, 11, 2, ...`, like ibc-go).
//! Errors are what the SDK makes of ibc-go's gRPC statuses (NotFound → sdk 38, InvalidArgument
//! → sdk 18).
//!
//! One file per service: `clients`, `connections`, `channels` (channel ends), `packets`
//! (commitments, receipts, acknowledgements, sequences) and `denoms` (ICS-20); `page` is the
//! SDK's pagination over store keys.

mod channels;
mod clients;
mod connections;
mod denoms;
mod packets;
mod page;

use std::str::FromStr;

use ibc::core::host::types::identifiers::{ChannelId, ClientId, ConnectionId, PortId};
use ibc_proto::ibc::core::client::v1 as client;
use ibc_proto::ibc::core::connection::v1 as conn;
use prost::Message;

use super::context::IbcContext;
use crate::error::TxError;

fn not_found(desc: impl std::fmt::Display) -> TxError {
    TxError::sdk(
        38,
        format!("rpc error: code = NotFound desc = {desc}: key not found"),
    )
}

fn invalid_argument(desc: impl std::fmt::Display) -> TxError {
    TxError::sdk(
        18,
        format!("rpc error: code = InvalidArgument desc = {desc}: invalid request"),
    )
}

fn decode<T: Message + Default>(request: &[u8]) -> Result<T, TxError> {
    T::decode(request).map_err(|e| invalid_argument(format!("cannot decode request: {e}")))
}

fn client_id(s: &str) -> Result<ClientId, TxError> {
    ClientId::from_str(s).map_err(|e| invalid_argument(format!("invalid client id {s:?}: {e}")))
}

fn connection_id(s: &str) -> Result<ConnectionId, TxError> {
    ConnectionId::from_str(s)
        .map_err(|e| invalid_argument(format!("invalid connection id {s:?}: {e}")))
}

fn port_channel(port: &str, channel: &str) -> Result<(PortId, ChannelId), TxError> {
    let p = PortId::from_str(port)
        .map_err(|e| invalid_argument(format!("invalid port id {port:?}: {e}")))?;
    let c = ChannelId::from_str(channel)
        .map_err(|e| invalid_argument(format!("invalid channel id {channel:?}: {e}")))?;
    Ok((p, c))
}

fn suffix_str(k: &[u8]) -> &str {
    std::str::from_utf8(k).unwrap_or_default()
}

/// Answers one query; `None` when `path` is not an IBC or transfer query.
pub fn answer(
    ctx: &IbcContext<'_>,
    path: &str,
    request: &[u8],
) -> Option<Result<Vec<u8>, TxError>> {
    let height = client::Height {
        revision_number: ctx.shared.revision,
        revision_height: ctx.shared.host.height,
    };
    let q = Queries { ctx, height };
    let method = path.rsplit_once('/').map(|(_, m)| m)?;
    let out = match path.rsplit_once('/')?.0 {
        "/ibc.core.client.v1.Query" => match method {
            "ClientState" => q.client_state(request),
            "ClientStates" => q.client_states(request),
            "ConsensusState" => q.consensus_state(request),
            "ConsensusStates" => q.consensus_states(request),
            "ConsensusStateHeights" => q.consensus_state_heights(request),
            "ClientStatus" => q.client_status(request),
            _ => return None,
        },
        "/ibc.core.connection.v1.Query" => match method {
            "Connection" => q.connection(request),
            "Connections" => q.connections(request),
            "ClientConnections" => q.client_connections(request),
            "ConnectionClientState" => q.connection_client_state(request),
            "ConnectionParams" => Ok(conn::QueryConnectionParamsResponse {
                params: Some(conn::Params {
                    max_expected_time_per_block: u64::try_from(
                        ctx.shared.host.max_expected_time_per_block.as_nanos(),
                    )
                    .unwrap_or(u64::MAX),
                }),
            }
            .encode_to_vec()),
            _ => return None,
        },
        "/ibc.core.channel.v1.Query" => match method {
            "Channel" => q.channel(request),
            "Channels" => q.channels(request),
            "ConnectionChannels" => q.connection_channels(request),
            "ChannelClientState" => q.channel_client_state(request),
            "PacketCommitment" => q.packet_commitment(request),
            "PacketCommitments" => q.packet_commitments(request),
            "PacketReceipt" => q.packet_receipt(request),
            "PacketAcknowledgement" => q.packet_acknowledgement(request),
            "PacketAcknowledgements" => q.packet_acknowledgements(request),
            "UnreceivedPackets" => q.unreceived_packets(request),
            "UnreceivedAcks" => q.unreceived_acks(request),
            "NextSequenceReceive" => q.next_sequence_receive(request),
            "NextSequenceSend" => q.next_sequence_send(request),
            _ => return None,
        },
        "/ibc.applications.transfer.v1.Query" => match method {
            "DenomTrace" => q.denom_trace(request),
            "DenomTraces" => q.denom_traces(request),
            "DenomHash" => q.denom_hash(request),
            _ => return None,
        },
        _ => return None,
    };
    Some(out)
}

struct Queries<'c, 'a> {
    ctx: &'c IbcContext<'a>,
    height: client::Height,
}
