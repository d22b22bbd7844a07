//! The gRPC query services of IBC core (`ibc.core.{client,connection,channel}.v1.Query`) and
//! ICS-20 (`ibc.applications.transfer.v1.Query`) answered from the store, as ibc-go answers them
//! in gRPC mode: `proof` empty, `proof_height`/`height` the host height, lists paginated over
//! the store keys (so packet sequences come in key order, `1, 10, 11, 2, ...`, like ibc-go).
//! Errors are what the SDK makes of ibc-go's gRPC statuses (NotFound → sdk 38, InvalidArgument
//! → sdk 18).

use std::str::FromStr;

use ibc::core::channel::types::channel::Order;
use ibc::core::client::context::client_state::ClientStateValidation;
use ibc::core::client::context::ClientValidationContext;
use ibc::core::host::types::identifiers::{ChannelId, ClientId, ConnectionId, PortId, Sequence};
use ibc::core::host::types::path::{
    AckPath, ChannelEndPath, ClientConnectionPath, ClientStatePath, CommitmentPath, ConnectionPath,
    ReceiptPath, SeqRecvPath, SeqSendPath,
};
use ibc::core::host::ValidationContext;
use ibc_proto::cosmos::base::query::v1beta1::{PageRequest, PageResponse};
use ibc_proto::google::protobuf::Any;
use ibc_proto::ibc::applications::transfer::v1 as transfer;
use ibc_proto::ibc::core::channel::v1 as chan;
use ibc_proto::ibc::core::client::v1 as client;
use ibc_proto::ibc::core::connection::v1 as conn;
use prost::Message;

use super::context::IbcContext;
use super::keys::{decode_u64, DENOM_TRACE_PREFIX, IBC_STORE, TRANSFER_STORE};
use super::transfer::denom_hash;
use crate::error::TxError;

/// The SDK's default page size.
const DEFAULT_LIMIT: u64 = 100;

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

/// A store entry: key suffix (after the scanned prefix) and value.
type Entry = (Vec<u8>, Vec<u8>);

/// A paginated scan of `prefix` in `store`: items whose key suffix (after `prefix`) satisfies
/// `keep`, with the SDK's `key`/`offset`/`limit`/`count_total`/`reverse` semantics; `next_key` is
/// the suffix of the first item not returned.
fn paginate(
    ctx: &IbcContext<'_>,
    store: &str,
    prefix: &[u8],
    page: Option<&PageRequest>,
    keep: impl Fn(&[u8], &[u8]) -> bool,
) -> (Vec<Entry>, PageResponse) {
    let default = PageRequest::default();
    let page = page.unwrap_or(&default);
    let limit = usize::try_from(if page.limit == 0 {
        DEFAULT_LIMIT
    } else {
        page.limit
    })
    .unwrap_or(usize::MAX);
    let exec = ctx.shared.exec.borrow();
    let tree = exec.state.tree(store);
    let scan = |start: Option<&[u8]>, skip: usize, take: usize| {
        let mut out = Vec::new();
        let mut skipped = 0usize;
        for (k, v) in tree.iter_prefix(prefix, start) {
            let suffix = k.get(prefix.len()..).unwrap_or_default();
            if !keep(suffix, v) {
                continue;
            }
            if skipped < skip {
                skipped += 1;
                continue;
            }
            if out.len() >= take {
                break;
            }
            out.push((suffix.to_vec(), v.to_vec()));
        }
        out
    };
    let total = if page.count_total && page.key.is_empty() {
        scan(None, 0, usize::MAX).len() as u64
    } else {
        0
    };
    let offset = usize::try_from(page.offset).unwrap_or(usize::MAX);
    let mut items: Vec<Entry> = if page.reverse {
        let mut all = scan(None, 0, usize::MAX);
        all.reverse();
        let start = if page.key.is_empty() {
            offset.min(all.len())
        } else {
            all.iter()
                .position(|(k, _)| k.as_slice() <= page.key.as_slice())
                .unwrap_or(all.len())
        };
        all.into_iter()
            .skip(start)
            .take(limit.saturating_add(1))
            .collect()
    } else if page.key.is_empty() {
        scan(None, offset, limit.saturating_add(1))
    } else {
        let start = [prefix, page.key.as_slice()].concat();
        scan(Some(&start), 0, limit.saturating_add(1))
    };
    let next_key = if items.len() > limit {
        items.truncate(limit.saturating_add(1));
        items.pop().map(|(k, _)| k).unwrap_or_default()
    } else {
        Vec::new()
    };
    (items, PageResponse { next_key, total })
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

impl Queries<'_, '_> {
    fn raw_client_state(&self, id: &ClientId) -> Result<Any, TxError> {
        let raw = self
            .ctx
            .get(&ClientStatePath::new(id.clone()).to_string())
            .ok_or_else(|| not_found(format!("{id}: light client not found")))?;
        Any::decode(raw.as_slice()).map_err(|e| not_found(format!("{id}: {e}")))
    }

    fn identified_client(&self, id: &ClientId) -> Result<client::IdentifiedClientState, TxError> {
        Ok(client::IdentifiedClientState {
            client_id: id.to_string(),
            client_state: Some(self.raw_client_state(id)?),
        })
    }

    fn raw_connection(&self, id: &str) -> Result<conn::ConnectionEnd, TxError> {
        let cid = connection_id(id)?;
        let raw = self
            .ctx
            .get(&ConnectionPath::new(&cid).to_string())
            .ok_or_else(|| not_found(format!("{id}: connection not found")))?;
        conn::ConnectionEnd::decode(raw.as_slice()).map_err(|e| not_found(format!("{id}: {e}")))
    }

    fn raw_channel(&self, port: &PortId, channel: &ChannelId) -> Result<chan::Channel, TxError> {
        let raw = self
            .ctx
            .get(&ChannelEndPath::new(port, channel).to_string())
            .ok_or_else(|| {
                not_found(format!(
                    "port-id: {port}, channel-id {channel}: channel not found"
                ))
            })?;
        chan::Channel::decode(raw.as_slice()).map_err(|e| not_found(format!("{channel}: {e}")))
    }

    fn client_state(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: client::QueryClientStateRequest = decode(request)?;
        let id = client_id(&req.client_id)?;
        Ok(client::QueryClientStateResponse {
            client_state: Some(self.raw_client_state(&id)?),
            proof: Vec::new(),
            proof_height: Some(self.height),
        }
        .encode_to_vec())
    }

    fn client_states(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: client::QueryClientStatesRequest = decode(request)?;
        let (items, pagination) = paginate(
            self.ctx,
            IBC_STORE,
            b"clients/",
            req.pagination.as_ref(),
            |k, _| {
                suffix_str(k).ends_with("/clientState") && suffix_str(k).matches('/').count() == 1
            },
        );
        let client_states = items
            .into_iter()
            .filter_map(|(k, v)| {
                let id = suffix_str(&k).strip_suffix("/clientState")?.to_string();
                Some(client::IdentifiedClientState {
                    client_id: id,
                    client_state: Any::decode(v.as_slice()).ok(),
                })
            })
            .collect();
        Ok(client::QueryClientStatesResponse {
            client_states,
            pagination: Some(pagination),
        }
        .encode_to_vec())
    }

    fn consensus_state(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: client::QueryConsensusStateRequest = decode(request)?;
        let id = client_id(&req.client_id)?;
        let (rev, h) = if req.latest_height {
            let cs = self
                .ctx
                .client_state(&id)
                .map_err(|e| not_found(format!("{id}: {e}: light client not found")))?;
            let latest = cs.inner().latest_height;
            (latest.revision_number(), latest.revision_height())
        } else {
            if req.revision_height == 0 {
                return Err(invalid_argument("consensus state height cannot be 0"));
            }
            (req.revision_number, req.revision_height)
        };
        let key = format!("clients/{id}/consensusStates/{rev}-{h}");
        let raw = self.ctx.get(&key).ok_or_else(|| {
            not_found(format!(
                "client-id: {id}, height: {rev}-{h}: consensus state not found"
            ))
        })?;
        Ok(client::QueryConsensusStateResponse {
            consensus_state: Any::decode(raw.as_slice()).ok(),
            proof: Vec::new(),
            proof_height: Some(self.height),
        }
        .encode_to_vec())
    }

    fn consensus_pages(
        &self,
        id: &ClientId,
        page: Option<&PageRequest>,
    ) -> (Vec<(client::Height, Vec<u8>)>, PageResponse) {
        let prefix = format!("clients/{id}/consensusStates/");
        let (items, pagination) = paginate(self.ctx, IBC_STORE, prefix.as_bytes(), page, |k, _| {
            !k.contains(&b'/')
        });
        let heights = items
            .into_iter()
            .filter_map(|(k, v)| {
                let (rev, h) = suffix_str(&k).split_once('-')?;
                Some((
                    client::Height {
                        revision_number: rev.parse().ok()?,
                        revision_height: h.parse().ok()?,
                    },
                    v,
                ))
            })
            .collect();
        (heights, pagination)
    }

    fn consensus_states(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: client::QueryConsensusStatesRequest = decode(request)?;
        let id = client_id(&req.client_id)?;
        let (items, pagination) = self.consensus_pages(&id, req.pagination.as_ref());
        Ok(client::QueryConsensusStatesResponse {
            consensus_states: items
                .into_iter()
                .map(|(height, v)| client::ConsensusStateWithHeight {
                    height: Some(height),
                    consensus_state: Any::decode(v.as_slice()).ok(),
                })
                .collect(),
            pagination: Some(pagination),
        }
        .encode_to_vec())
    }

    fn consensus_state_heights(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: client::QueryConsensusStateHeightsRequest = decode(request)?;
        let id = client_id(&req.client_id)?;
        let (items, pagination) = self.consensus_pages(&id, req.pagination.as_ref());
        Ok(client::QueryConsensusStateHeightsResponse {
            consensus_state_heights: items.into_iter().map(|(h, _)| h).collect(),
            pagination: Some(pagination),
        }
        .encode_to_vec())
    }

    fn client_status(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: client::QueryClientStatusRequest = decode(request)?;
        let id = client_id(&req.client_id)?;
        let cs = self
            .ctx
            .client_state(&id)
            .map_err(|e| not_found(format!("{id}: {e}: light client not found")))?;
        let status = cs
            .status(self.ctx, &id)
            .map_err(|e| not_found(format!("{id}: {e}")))?;
        Ok(client::QueryClientStatusResponse {
            status: status.to_string(),
        }
        .encode_to_vec())
    }

    fn connection(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: conn::QueryConnectionRequest = decode(request)?;
        Ok(conn::QueryConnectionResponse {
            connection: Some(self.raw_connection(&req.connection_id)?),
            proof: Vec::new(),
            proof_height: Some(self.height),
        }
        .encode_to_vec())
    }

    fn connections(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: conn::QueryConnectionsRequest = decode(request)?;
        let (items, pagination) = paginate(
            self.ctx,
            IBC_STORE,
            b"connections/",
            req.pagination.as_ref(),
            |k, _| !k.contains(&b'/'),
        );
        let connections = items
            .into_iter()
            .filter_map(|(k, v)| {
                let c = conn::ConnectionEnd::decode(v.as_slice()).ok()?;
                Some(conn::IdentifiedConnection {
                    id: suffix_str(&k).to_string(),
                    client_id: c.client_id,
                    versions: c.versions,
                    state: c.state,
                    counterparty: c.counterparty,
                    delay_period: c.delay_period,
                })
            })
            .collect();
        Ok(conn::QueryConnectionsResponse {
            connections,
            pagination: Some(pagination),
            height: Some(self.height),
        }
        .encode_to_vec())
    }

    fn client_connections(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: conn::QueryClientConnectionsRequest = decode(request)?;
        let id = client_id(&req.client_id)?;
        let raw = self
            .ctx
            .get(&ClientConnectionPath::new(id.clone()).to_string())
            .ok_or_else(|| not_found(format!("{id}: light client connection paths not found")))?;
        let paths = conn::ClientPaths::decode(raw.as_slice())
            .map_err(|e| not_found(format!("{id}: {e}")))?;
        Ok(conn::QueryClientConnectionsResponse {
            connection_paths: paths.paths,
            proof: Vec::new(),
            proof_height: Some(self.height),
        }
        .encode_to_vec())
    }

    fn connection_client_state(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: conn::QueryConnectionClientStateRequest = decode(request)?;
        let c = self.raw_connection(&req.connection_id)?;
        Ok(conn::QueryConnectionClientStateResponse {
            identified_client_state: Some(self.identified_client(&client_id(&c.client_id)?)?),
            proof: Vec::new(),
            proof_height: Some(self.height),
        }
        .encode_to_vec())
    }

    fn channel(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryChannelRequest = decode(request)?;
        let (p, c) = port_channel(&req.port_id, &req.channel_id)?;
        Ok(chan::QueryChannelResponse {
            channel: Some(self.raw_channel(&p, &c)?),
            proof: Vec::new(),
            proof_height: Some(self.height),
        }
        .encode_to_vec())
    }

    fn channel_pages(
        &self,
        page: Option<&PageRequest>,
        connection: Option<&str>,
    ) -> (Vec<chan::IdentifiedChannel>, PageResponse) {
        let keep = |k: &[u8], v: &[u8]| {
            let Some((_, rest)) = suffix_str(k).split_once("/channels/") else {
                return false;
            };
            if rest.contains('/') {
                return false;
            }
            match connection {
                None => true,
                Some(conn) => chan::Channel::decode(v)
                    .map(|c| c.connection_hops.first().map(String::as_str) == Some(conn))
                    .unwrap_or(false),
            }
        };
        let (items, pagination) = paginate(self.ctx, IBC_STORE, b"channelEnds/ports/", page, keep);
        let channels = items
            .into_iter()
            .filter_map(|(k, v)| {
                let (port, channel) = suffix_str(&k).split_once("/channels/")?;
                let c = chan::Channel::decode(v.as_slice()).ok()?;
                Some(chan::IdentifiedChannel {
                    state: c.state,
                    ordering: c.ordering,
                    counterparty: c.counterparty,
                    connection_hops: c.connection_hops,
                    version: c.version,
                    port_id: port.to_string(),
                    channel_id: channel.to_string(),
                    upgrade_sequence: c.upgrade_sequence,
                })
            })
            .collect();
        (channels, pagination)
    }

    fn channels(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryChannelsRequest = decode(request)?;
        let (channels, pagination) = self.channel_pages(req.pagination.as_ref(), None);
        Ok(chan::QueryChannelsResponse {
            channels,
            pagination: Some(pagination),
            height: Some(self.height),
        }
        .encode_to_vec())
    }

    fn connection_channels(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryConnectionChannelsRequest = decode(request)?;
        connection_id(&req.connection)?;
        let (channels, pagination) =
            self.channel_pages(req.pagination.as_ref(), Some(&req.connection));
        Ok(chan::QueryConnectionChannelsResponse {
            channels,
            pagination: Some(pagination),
            height: Some(self.height),
        }
        .encode_to_vec())
    }

    fn channel_client_state(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryChannelClientStateRequest = decode(request)?;
        let (p, c) = port_channel(&req.port_id, &req.channel_id)?;
        let channel = self.raw_channel(&p, &c)?;
        let hop = channel
            .connection_hops
            .first()
            .ok_or_else(|| not_found(format!("{c}: channel has no connection hops")))?;
        let connection = self.raw_connection(hop)?;
        Ok(chan::QueryChannelClientStateResponse {
            identified_client_state: Some(
                self.identified_client(&client_id(&connection.client_id)?)?,
            ),
            proof: Vec::new(),
            proof_height: Some(self.height),
        }
        .encode_to_vec())
    }

    fn packet_key<F>(
        &self,
        port: &str,
        channel: &str,
        sequence: u64,
        path: F,
    ) -> Result<String, TxError>
    where
        F: Fn(&PortId, &ChannelId, Sequence) -> String,
    {
        let (p, c) = port_channel(port, channel)?;
        if sequence == 0 {
            return Err(invalid_argument("packet sequence cannot be 0"));
        }
        Ok(path(&p, &c, Sequence::from(sequence)))
    }

    fn packet_commitment(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryPacketCommitmentRequest = decode(request)?;
        let key = self.packet_key(&req.port_id, &req.channel_id, req.sequence, |p, c, s| {
            CommitmentPath::new(p, c, s).to_string()
        })?;
        let commitment = self
            .ctx
            .get(&key)
            .ok_or_else(|| not_found("packet commitment hash not found"))?;
        Ok(chan::QueryPacketCommitmentResponse {
            commitment,
            proof: Vec::new(),
            proof_height: Some(self.height),
        }
        .encode_to_vec())
    }

    fn packet_states(
        &self,
        prefix_path: &str,
        port: &str,
        channel: &str,
        page: Option<&PageRequest>,
    ) -> Result<(Vec<chan::PacketState>, PageResponse), TxError> {
        let (p, c) = port_channel(port, channel)?;
        let prefix = format!("{prefix_path}/ports/{p}/channels/{c}/sequences/");
        let (items, pagination) = paginate(self.ctx, IBC_STORE, prefix.as_bytes(), page, |k, _| {
            suffix_str(k).parse::<u64>().is_ok()
        });
        let states = items
            .into_iter()
            .filter_map(|(k, v)| {
                Some(chan::PacketState {
                    port_id: p.to_string(),
                    channel_id: c.to_string(),
                    sequence: suffix_str(&k).parse().ok()?,
                    data: v,
                })
            })
            .collect();
        Ok((states, pagination))
    }

    fn packet_commitments(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryPacketCommitmentsRequest = decode(request)?;
        let (commitments, pagination) = self.packet_states(
            "commitments",
            &req.port_id,
            &req.channel_id,
            req.pagination.as_ref(),
        )?;
        Ok(chan::QueryPacketCommitmentsResponse {
            commitments,
            pagination: Some(pagination),
            height: Some(self.height),
        }
        .encode_to_vec())
    }

    fn packet_receipt(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryPacketReceiptRequest = decode(request)?;
        let key = self.packet_key(&req.port_id, &req.channel_id, req.sequence, |p, c, s| {
            ReceiptPath::new(p, c, s).to_string()
        })?;
        Ok(chan::QueryPacketReceiptResponse {
            received: self.ctx.get(&key).is_some(),
            proof: Vec::new(),
            proof_height: Some(self.height),
        }
        .encode_to_vec())
    }

    fn packet_acknowledgement(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryPacketAcknowledgementRequest = decode(request)?;
        let key = self.packet_key(&req.port_id, &req.channel_id, req.sequence, |p, c, s| {
            AckPath::new(p, c, s).to_string()
        })?;
        let acknowledgement = self
            .ctx
            .get(&key)
            .ok_or_else(|| not_found("packet acknowledgement hash not found"))?;
        Ok(chan::QueryPacketAcknowledgementResponse {
            acknowledgement,
            proof: Vec::new(),
            proof_height: Some(self.height),
        }
        .encode_to_vec())
    }

    fn packet_acknowledgements(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryPacketAcknowledgementsRequest = decode(request)?;
        if req.packet_commitment_sequences.is_empty() {
            let (acknowledgements, pagination) = self.packet_states(
                "acks",
                &req.port_id,
                &req.channel_id,
                req.pagination.as_ref(),
            )?;
            return Ok(chan::QueryPacketAcknowledgementsResponse {
                acknowledgements,
                pagination: Some(pagination),
                height: Some(self.height),
            }
            .encode_to_vec());
        }
        let (p, c) = port_channel(&req.port_id, &req.channel_id)?;
        let acknowledgements = req
            .packet_commitment_sequences
            .iter()
            .filter_map(|&seq| {
                let data = self
                    .ctx
                    .get(&AckPath::new(&p, &c, Sequence::from(seq)).to_string())?;
                Some(chan::PacketState {
                    port_id: p.to_string(),
                    channel_id: c.to_string(),
                    sequence: seq,
                    data,
                })
            })
            .collect();
        Ok(chan::QueryPacketAcknowledgementsResponse {
            acknowledgements,
            pagination: None,
            height: Some(self.height),
        }
        .encode_to_vec())
    }

    fn unreceived_packets(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryUnreceivedPacketsRequest = decode(request)?;
        let (p, c) = port_channel(&req.port_id, &req.channel_id)?;
        let channel = self
            .ctx
            .channel_end(&ChannelEndPath::new(&p, &c))
            .map_err(|e| {
                not_found(format!(
                    "port-id: {p}, channel-id {c}: {e}: channel not found"
                ))
            })?;
        if req.packet_commitment_sequences.contains(&0) {
            return Err(invalid_argument("packet sequence 0 cannot be 0"));
        }
        let sequences = match channel.ordering {
            Order::Ordered => {
                let next = self
                    .ctx
                    .get_next_sequence_recv(&SeqRecvPath::new(&p, &c))
                    .map_err(|e| not_found(format!("{e}: sequence receive not found")))?
                    .value();
                req.packet_commitment_sequences
                    .into_iter()
                    .filter(|s| *s >= next)
                    .collect()
            }
            _ => req
                .packet_commitment_sequences
                .into_iter()
                .filter(|&s| {
                    self.ctx
                        .get(&ReceiptPath::new(&p, &c, Sequence::from(s)).to_string())
                        .is_none()
                })
                .collect(),
        };
        Ok(chan::QueryUnreceivedPacketsResponse {
            sequences,
            height: Some(self.height),
        }
        .encode_to_vec())
    }

    fn unreceived_acks(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryUnreceivedAcksRequest = decode(request)?;
        let (p, c) = port_channel(&req.port_id, &req.channel_id)?;
        if req.packet_ack_sequences.contains(&0) {
            return Err(invalid_argument("packet sequence 0 cannot be 0"));
        }
        let sequences = req
            .packet_ack_sequences
            .into_iter()
            .filter(|&s| {
                self.ctx
                    .get(&CommitmentPath::new(&p, &c, Sequence::from(s)).to_string())
                    .is_some()
            })
            .collect();
        Ok(chan::QueryUnreceivedAcksResponse {
            sequences,
            height: Some(self.height),
        }
        .encode_to_vec())
    }

    fn next_sequence(&self, key: String, what: &str) -> Result<u64, TxError> {
        let raw = self
            .ctx
            .get(&key)
            .ok_or_else(|| not_found(format!("{key}: {what} not found")))?;
        decode_u64(&raw).ok_or_else(|| not_found(format!("{key}: corrupt {what}")))
    }

    fn next_sequence_receive(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryNextSequenceReceiveRequest = decode(request)?;
        let (p, c) = port_channel(&req.port_id, &req.channel_id)?;
        Ok(chan::QueryNextSequenceReceiveResponse {
            next_sequence_receive: self
                .next_sequence(SeqRecvPath::new(&p, &c).to_string(), "sequence receive")?,
            proof: Vec::new(),
            proof_height: Some(self.height),
        }
        .encode_to_vec())
    }

    fn next_sequence_send(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryNextSequenceSendRequest = decode(request)?;
        let (p, c) = port_channel(&req.port_id, &req.channel_id)?;
        Ok(chan::QueryNextSequenceSendResponse {
            next_sequence_send: self
                .next_sequence(SeqSendPath::new(&p, &c).to_string(), "sequence send")?,
            proof: Vec::new(),
            proof_height: Some(self.height),
        }
        .encode_to_vec())
    }

    fn denom_trace(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: transfer::QueryDenomTraceRequest = decode(request)?;
        let hash = req.hash.strip_prefix("ibc/").unwrap_or(&req.hash);
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid_argument(format!(
                "invalid denom trace hash: {}",
                req.hash
            )));
        }
        let trace = self
            .ctx
            .denom_trace(hash)
            .ok_or_else(|| not_found(format!("{}: denomination trace not found", req.hash)))?;
        Ok(transfer::QueryDenomTraceResponse {
            denom_trace: Some(trace),
        }
        .encode_to_vec())
    }

    fn denom_traces(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: transfer::QueryDenomTracesRequest = decode(request)?;
        let (items, pagination) = paginate(
            self.ctx,
            TRANSFER_STORE,
            DENOM_TRACE_PREFIX,
            req.pagination.as_ref(),
            |_, _| true,
        );
        Ok(transfer::QueryDenomTracesResponse {
            denom_traces: items
                .into_iter()
                .filter_map(|(_, v)| transfer::DenomTrace::decode(v.as_slice()).ok())
                .collect(),
            pagination: Some(pagination),
        }
        .encode_to_vec())
    }

    fn denom_hash(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: transfer::QueryDenomHashRequest = decode(request)?;
        let trace = req
            .trace
            .strip_prefix("ibc/")
            .map_or(req.trace.as_str(), |_| "");
        if trace.is_empty() {
            return Err(invalid_argument(format!(
                "invalid denom trace: {}",
                req.trace
            )));
        }
        let hash = denom_hash(trace);
        if self.ctx.denom_trace(&hash).is_none() {
            return Err(not_found(format!(
                "{}: denomination trace not found",
                req.trace
            )));
        }
        Ok(transfer::QueryDenomHashResponse { hash }.encode_to_vec())
    }
}
