//! IBC queries over CometBFT RPC: channel, connection and client state through the gRPC query
//! services (`abci_query` with a protobuf payload), packet commitments and acks with paging,
//! unreceived sequences, proofs (`store/ibc/key`, turned into `MerkleProof` bytes), packet
//! data recovery from `tx_search` in ranges, account number and sequence, and tx simulation.
//!
//! Everything goes over the node's JSON-RPC port: a gRPC method `/pkg.Service/Method` is reached
//! with `abci_query(path = "/pkg.Service/Method", data = request bytes)`, as baseapp routes gRPC
//! paths first. gRPC answers carry no proofs; proofs come from [`IbcQuerier::prove`], whose
//! result at height `H` verifies against the app hash of header `H + 1`.
//!
//! [`packet_from_attributes`] and [`ack_from_attributes`] turn ibc-go packet event attributes
//! (`send_packet`, `recv_packet`, `write_acknowledgement`, …) into a protobuf `Packet`; the event
//! hub uses them too, so packets look the same whether they came from a subscription, from
//! `block_results` or from `tx_search`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ibc_proto::cosmos::auth::v1beta1::{BaseAccount, QueryAccountRequest, QueryAccountResponse};
use ibc_proto::cosmos::base::query::v1beta1::PageRequest;
use ibc_proto::cosmos::staking::v1beta1::{QueryParamsRequest, QueryParamsResponse};
use ibc_proto::cosmos::tx::v1beta1::{SimulateRequest, SimulateResponse};
use ibc_proto::ibc::core::channel::v1::{
    Channel, IdentifiedChannel, Packet, QueryChannelRequest, QueryChannelResponse,
    QueryChannelsRequest, QueryChannelsResponse, QueryNextSequenceReceiveRequest,
    QueryNextSequenceReceiveResponse, QueryPacketAcknowledgementsRequest,
    QueryPacketAcknowledgementsResponse, QueryPacketCommitmentsRequest,
    QueryPacketCommitmentsResponse, QueryUnreceivedAcksRequest, QueryUnreceivedAcksResponse,
    QueryUnreceivedPacketsRequest, QueryUnreceivedPacketsResponse,
};
use ibc_proto::ibc::core::client::v1::{
    Height, QueryClientStateRequest, QueryClientStateResponse, QueryConsensusStateHeightsRequest,
    QueryConsensusStateHeightsResponse, QueryConsensusStateRequest, QueryConsensusStateResponse,
};
use ibc_proto::ibc::core::commitment::v1::MerkleProof;
use ibc_proto::ibc::core::connection::v1::{
    ConnectionEnd, QueryConnectionRequest, QueryConnectionResponse,
};
use ibc_proto::ibc::lightclients::tendermint::v1::{ClientState, ConsensusState};
use prost::{Message, Name};

use super::rpc::{Order, RpcClient, RpcError};

/// Default page size asked of paginated gRPC queries.
const PAGE_LIMIT: u64 = 1000;
/// At most this many sequences go into one `UnreceivedPackets` / `UnreceivedAcks` request.
const SEQUENCES_PER_REQUEST: usize = 1000;
/// At most this many sequences are covered by one `tx_search` range query.
const SEQUENCES_PER_SEARCH: u64 = 500;
/// SDK code of `ErrKeyNotFound`, what a gRPC `NotFound` status becomes in `abci_query`.
const SDK_NOT_FOUND: u32 = 38;
/// The ibc store's proof path on the node.
const IBC_STORE_KEY_PATH: &str = "store/ibc/key";

/// Errors of IBC queries.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The RPC failed.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The chain answered the query with a non-zero code.
    #[error("{chain}: query {path} failed with code {code}: {log}")]
    Abci {
        /// Chain id.
        chain: String,
        /// Query path.
        path: String,
        /// ABCI code.
        code: u32,
        /// Log.
        log: String,
    },
    /// The answer could not be decoded or is missing something.
    #[error("{chain}: {what}")]
    Decode {
        /// Chain id.
        chain: String,
        /// What was wrong.
        what: String,
    },
}

impl QueryError {
    /// Whether retrying later may succeed (transient RPC trouble).
    pub fn is_transient(&self) -> bool {
        match self {
            QueryError::Rpc(e) => e.is_transient(),
            QueryError::Abci { .. } | QueryError::Decode { .. } => false,
        }
    }
}

/// A packet event attribute that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("packet event attribute {key}: {what}")]
pub struct PacketAttributeError {
    /// The attribute key.
    pub key: &'static str,
    /// What is wrong with it.
    pub what: String,
}

/// Builds a `Packet` from the attributes of an ibc-go packet event (`send_packet`,
/// `recv_packet`, `write_acknowledgement`, `acknowledge_packet`, `timeout_packet`), given as
/// `(key, value)` string pairs (CometBFT v0.37+ attributes are plain strings).
///
/// The data comes from `packet_data_hex`, else from the raw `packet_data` string, else is empty
/// (acknowledge and timeout events carry no data). `packet_timeout_height` is `"{rev}-{h}"`.
pub fn packet_from_attributes<K, V>(
    attributes: impl IntoIterator<Item = (K, V)>,
) -> Result<Packet, PacketAttributeError>
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let attrs: BTreeMap<String, String> = attributes
        .into_iter()
        .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string()))
        .collect();
    packet_from_map(&attrs)
}

/// The raw acknowledgement bytes of a `write_acknowledgement` event (`packet_ack_hex`, else the
/// raw `packet_ack` string).
pub fn ack_from_attributes<K, V>(
    attributes: impl IntoIterator<Item = (K, V)>,
) -> Result<Vec<u8>, PacketAttributeError>
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let attrs: BTreeMap<String, String> = attributes
        .into_iter()
        .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string()))
        .collect();
    ack_from_map(&attrs)
}

fn packet_from_map(attrs: &BTreeMap<String, String>) -> Result<Packet, PacketAttributeError> {
    let get = |key: &'static str| {
        attrs.get(key).ok_or(PacketAttributeError {
            key,
            what: "missing".into(),
        })
    };
    let parse_u64 = |key: &'static str| {
        let v = get(key)?;
        v.parse::<u64>().map_err(|e| PacketAttributeError {
            key,
            what: format!("{v:?} is not a u64: {e}"),
        })
    };
    let timeout_height = {
        let key = "packet_timeout_height";
        let v = get(key)?;
        parse_height(v).ok_or_else(|| PacketAttributeError {
            key,
            what: format!("{v:?} is not {{revision}}-{{height}}"),
        })?
    };
    let data = if let Some(hex_data) = attrs.get("packet_data_hex") {
        hex::decode(hex_data).map_err(|e| PacketAttributeError {
            key: "packet_data_hex",
            what: format!("not hex: {e}"),
        })?
    } else if let Some(raw) = attrs.get("packet_data") {
        raw.as_bytes().to_vec()
    } else {
        Vec::new()
    };
    Ok(Packet {
        sequence: parse_u64("packet_sequence")?,
        source_port: get("packet_src_port")?.clone(),
        source_channel: get("packet_src_channel")?.clone(),
        destination_port: get("packet_dst_port")?.clone(),
        destination_channel: get("packet_dst_channel")?.clone(),
        data,
        timeout_height: Some(timeout_height),
        timeout_timestamp: parse_u64("packet_timeout_timestamp")?,
    })
}

fn ack_from_map(attrs: &BTreeMap<String, String>) -> Result<Vec<u8>, PacketAttributeError> {
    if let Some(hex_ack) = attrs.get("packet_ack_hex") {
        hex::decode(hex_ack).map_err(|e| PacketAttributeError {
            key: "packet_ack_hex",
            what: format!("not hex: {e}"),
        })
    } else if let Some(raw) = attrs.get("packet_ack") {
        Ok(raw.as_bytes().to_vec())
    } else {
        Err(PacketAttributeError {
            key: "packet_ack_hex",
            what: "missing".into(),
        })
    }
}

/// Parses an IBC height written `"{revision}-{height}"`.
pub fn parse_height(s: &str) -> Option<Height> {
    let (rev, h) = s.split_once('-')?;
    Some(Height {
        revision_number: rev.parse().ok()?,
        revision_height: h.parse().ok()?,
    })
}

/// The revision number of a chain id as ibc-go parses it: the trailing `-N` (N ≥ 1 without
/// leading zeros, preceded by a character other than `-`), else 0.
pub fn revision_of(chain_id: &str) -> u64 {
    let Some((name, n)) = chain_id.rsplit_once('-') else {
        return 0;
    };
    let well_formed = !name.is_empty()
        && !name.ends_with('-')
        && !n.starts_with('0')
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit());
    if well_formed {
        n.parse().unwrap_or(0)
    } else {
        0
    }
}

/// Splits sequences into sorted, deduplicated, contiguous ranges `(lo, hi)` covering at most
/// `max_len` sequences each.
fn contiguous_ranges(sequences: &[u64], max_len: u64) -> Vec<(u64, u64)> {
    let sorted: BTreeSet<u64> = sequences.iter().copied().collect();
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for s in sorted {
        match ranges.last_mut() {
            Some((lo, hi)) if s == *hi + 1 && s - *lo < max_len => *hi = s,
            _ => ranges.push((s, s)),
        }
    }
    ranges
}

fn timestamp_nanos(t: tendermint::Time) -> u64 {
    u64::try_from(t.unix_timestamp_nanos()).unwrap_or(0)
}

/// IBC queries against one chain.
#[derive(Clone, Debug)]
pub struct IbcQuerier {
    rpc: RpcClient,
    chain_id: String,
    page_limit: u64,
}

impl IbcQuerier {
    /// Queries `chain_id` through `rpc`.
    pub fn new(rpc: RpcClient, chain_id: String) -> Self {
        Self {
            rpc,
            chain_id,
            page_limit: PAGE_LIMIT,
        }
    }

    /// The same querier asking for `limit` items per page of paginated queries (at least 1).
    pub fn with_page_limit(mut self, limit: u64) -> Self {
        self.page_limit = limit.max(1);
        self
    }

    /// The RPC client.
    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    /// The chain id.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// The revision number parsed from the chain id (`devnet-1` → 1).
    pub fn revision(&self) -> u64 {
        revision_of(&self.chain_id)
    }

    /// The IBC height of block `height` on this chain.
    pub fn ibc_height(&self, height: u64) -> Height {
        Height {
            revision_number: self.revision(),
            revision_height: height,
        }
    }

    pub(crate) fn decode_error(&self, what: impl Into<String>) -> QueryError {
        QueryError::Decode {
            chain: self.chain_id.clone(),
            what: what.into(),
        }
    }

    /// The latest block height.
    pub async fn latest_height(&self) -> Result<u64, QueryError> {
        Ok(self.latest_height_and_time().await?.0)
    }

    /// The latest block height and its block time in Unix nanoseconds (what packet timeout
    /// timestamps are compared with).
    pub async fn latest_height_and_time(&self) -> Result<(u64, u64), QueryError> {
        let status = self.rpc.status().await?;
        let network = status.node_info.network.as_str();
        if network != self.chain_id {
            return Err(self.decode_error(format!(
                "node at {} serves chain {network:?}, not {:?}",
                self.rpc.endpoint(),
                self.chain_id
            )));
        }
        let info = status.sync_info;
        Ok((
            info.latest_block_height.value(),
            timestamp_nanos(info.latest_block_time),
        ))
    }

    /// The latest block time in Unix nanoseconds.
    pub async fn latest_block_time(&self) -> Result<u64, QueryError> {
        Ok(self.latest_height_and_time().await?.1)
    }

    /// The header of block `height` (from `/commit`), checked to be of this chain and height.
    pub async fn header(&self, height: u64) -> Result<tendermint::block::Header, QueryError> {
        Ok(self.signed_header(height).await?.header)
    }

    /// The signed header (header and commit) of block `height`, checked to be of this chain and
    /// height.
    pub async fn signed_header(
        &self,
        height: u64,
    ) -> Result<tendermint::block::signed_header::SignedHeader, QueryError> {
        let h = tendermint::block::Height::try_from(height)
            .map_err(|e| self.decode_error(format!("height {height} is invalid: {e}")))?;
        let commit = self.rpc.commit(Some(h)).await?;
        let sh = commit.signed_header;
        if sh.header.chain_id.as_str() != self.chain_id {
            return Err(self.decode_error(format!(
                "header at {height} is of chain {:?}",
                sh.header.chain_id.as_str()
            )));
        }
        if sh.header.height.value() != height || sh.commit.height.value() != height {
            return Err(self.decode_error(format!(
                "asked for the signed header at {height}, got header {} commit {}",
                sh.header.height, sh.commit.height
            )));
        }
        Ok(sh)
    }

    /// The block time of `height` in Unix nanoseconds.
    pub async fn block_time(&self, height: u64) -> Result<u64, QueryError> {
        Ok(timestamp_nanos(self.header(height).await?.time))
    }

    /// Runs a gRPC query through `abci_query` at the latest height. `Ok(None)` when the chain
    /// answers NotFound.
    async fn grpc_opt<Req: Message, Resp: Message + Default>(
        &self,
        path: &str,
        request: &Req,
    ) -> Result<Option<Resp>, QueryError> {
        let q = self
            .rpc
            .abci_query(path, &request.encode_to_vec(), None, false)
            .await?;
        let code = q.code.value();
        if code == SDK_NOT_FOUND {
            return Ok(None);
        }
        if code != 0 {
            return Err(QueryError::Abci {
                chain: self.chain_id.clone(),
                path: path.to_string(),
                code,
                log: q.log,
            });
        }
        Resp::decode(q.value.as_slice())
            .map(Some)
            .map_err(|e| self.decode_error(format!("cannot decode the answer to {path}: {e}")))
    }

    /// Runs a gRPC query; NotFound is an error.
    async fn grpc<Req: Message, Resp: Message + Default>(
        &self,
        path: &str,
        request: &Req,
    ) -> Result<Resp, QueryError> {
        self.grpc_opt(path, request)
            .await?
            .ok_or_else(|| QueryError::Abci {
                chain: self.chain_id.clone(),
                path: path.to_string(),
                code: SDK_NOT_FOUND,
                log: "not found".into(),
            })
    }

    /// Runs a paginated gRPC query to the end: `make` builds the request for a page, `split`
    /// returns a page's items and its `next_key`.
    async fn grpc_all<Req, Resp, T>(
        &self,
        path: &str,
        make: impl Fn(PageRequest) -> Req,
        split: impl Fn(Resp) -> (Vec<T>, Vec<u8>),
    ) -> Result<Vec<T>, QueryError>
    where
        Req: Message,
        Resp: Message + Default,
    {
        let mut all = Vec::new();
        let mut key = Vec::new();
        loop {
            let page = PageRequest {
                key: key.clone(),
                limit: self.page_limit,
                ..Default::default()
            };
            let resp: Resp = self.grpc(path, &make(page)).await?;
            let (items, next_key) = split(resp);
            all.extend(items);
            if next_key.is_empty() {
                return Ok(all);
            }
            if next_key == key {
                return Err(self.decode_error(format!(
                    "{path}: pagination does not advance (next_key {})",
                    hex::encode(&next_key)
                )));
            }
            key = next_key;
        }
    }

    /// A channel end (`None` when it does not exist).
    pub async fn channel(&self, port: &str, channel: &str) -> Result<Option<Channel>, QueryError> {
        let req = QueryChannelRequest {
            port_id: port.to_string(),
            channel_id: channel.to_string(),
        };
        let resp: Option<QueryChannelResponse> = self
            .grpc_opt("/ibc.core.channel.v1.Query/Channel", &req)
            .await?;
        Ok(resp.and_then(|r| r.channel))
    }

    /// Every channel on the chain (all pages).
    pub async fn channels(&self) -> Result<Vec<IdentifiedChannel>, QueryError> {
        self.grpc_all(
            "/ibc.core.channel.v1.Query/Channels",
            |page| QueryChannelsRequest {
                pagination: Some(page),
            },
            |r: QueryChannelsResponse| {
                (
                    r.channels,
                    r.pagination.map(|p| p.next_key).unwrap_or_default(),
                )
            },
        )
        .await
    }

    /// A connection end.
    pub async fn connection(
        &self,
        connection_id: &str,
    ) -> Result<Option<ConnectionEnd>, QueryError> {
        let req = QueryConnectionRequest {
            connection_id: connection_id.to_string(),
        };
        let resp: Option<QueryConnectionResponse> = self
            .grpc_opt("/ibc.core.connection.v1.Query/Connection", &req)
            .await?;
        Ok(resp.and_then(|r| r.connection))
    }

    /// A Tendermint client state (`None` when absent).
    pub async fn client_state(&self, client_id: &str) -> Result<Option<ClientState>, QueryError> {
        let req = QueryClientStateRequest {
            client_id: client_id.to_string(),
        };
        let resp: Option<QueryClientStateResponse> = self
            .grpc_opt("/ibc.core.client.v1.Query/ClientState", &req)
            .await?;
        let Some(any) = resp.and_then(|r| r.client_state) else {
            return Ok(None);
        };
        if any.type_url != ClientState::type_url() {
            return Err(self.decode_error(format!(
                "client {client_id} is a {}, not a Tendermint client",
                any.type_url
            )));
        }
        ClientState::decode(any.value.as_slice())
            .map(Some)
            .map_err(|e| self.decode_error(format!("client state of {client_id}: {e}")))
    }

    /// The latest height of client `client_id` (an error when the client does not exist).
    pub async fn client_latest_height(&self, client_id: &str) -> Result<Height, QueryError> {
        let cs = self
            .client_state(client_id)
            .await?
            .ok_or_else(|| self.decode_error(format!("client {client_id} does not exist")))?;
        cs.latest_height
            .ok_or_else(|| self.decode_error(format!("client {client_id} has no latest height")))
    }

    /// The Tendermint consensus state of `client_id` at `height` (`None` when absent).
    pub async fn consensus_state(
        &self,
        client_id: &str,
        height: Height,
    ) -> Result<Option<ConsensusState>, QueryError> {
        let req = QueryConsensusStateRequest {
            client_id: client_id.to_string(),
            revision_number: height.revision_number,
            revision_height: height.revision_height,
            latest_height: false,
        };
        let resp: Option<QueryConsensusStateResponse> = self
            .grpc_opt("/ibc.core.client.v1.Query/ConsensusState", &req)
            .await?;
        let Some(any) = resp.and_then(|r| r.consensus_state) else {
            return Ok(None);
        };
        if any.type_url != ConsensusState::type_url() {
            return Err(self.decode_error(format!(
                "consensus state of {client_id} is a {}, not a Tendermint one",
                any.type_url
            )));
        }
        ConsensusState::decode(any.value.as_slice())
            .map(Some)
            .map_err(|e| self.decode_error(format!("consensus state of {client_id}: {e}")))
    }

    /// The heights of every consensus state of `client_id` (all pages, ascending).
    pub async fn consensus_state_heights(
        &self,
        client_id: &str,
    ) -> Result<Vec<Height>, QueryError> {
        let mut heights = self
            .grpc_all(
                "/ibc.core.client.v1.Query/ConsensusStateHeights",
                |page| QueryConsensusStateHeightsRequest {
                    client_id: client_id.to_string(),
                    pagination: Some(page),
                },
                |r: QueryConsensusStateHeightsResponse| {
                    (
                        r.consensus_state_heights,
                        r.pagination.map(|p| p.next_key).unwrap_or_default(),
                    )
                },
            )
            .await?;
        heights.sort_by_key(|h| (h.revision_number, h.revision_height));
        heights.dedup();
        Ok(heights)
    }

    /// Sequences with a packet commitment on `port/channel` (all pages, ascending).
    pub async fn packet_commitments(
        &self,
        port: &str,
        channel: &str,
    ) -> Result<Vec<u64>, QueryError> {
        let seqs = self
            .grpc_all(
                "/ibc.core.channel.v1.Query/PacketCommitments",
                |page| QueryPacketCommitmentsRequest {
                    port_id: port.to_string(),
                    channel_id: channel.to_string(),
                    pagination: Some(page),
                },
                |r: QueryPacketCommitmentsResponse| {
                    (
                        r.commitments.into_iter().map(|c| c.sequence).collect(),
                        r.pagination.map(|p| p.next_key).unwrap_or_default(),
                    )
                },
            )
            .await?;
        Ok(sorted_unique(seqs))
    }

    /// Of `sequences` (sent on the counterparty), those not yet received on `port/channel` here.
    pub async fn unreceived_packets(
        &self,
        port: &str,
        channel: &str,
        sequences: &[u64],
    ) -> Result<Vec<u64>, QueryError> {
        in_chunks(sequences, |chunk| async move {
            let req = QueryUnreceivedPacketsRequest {
                port_id: port.to_string(),
                channel_id: channel.to_string(),
                packet_commitment_sequences: chunk,
            };
            let resp: QueryUnreceivedPacketsResponse = self
                .grpc("/ibc.core.channel.v1.Query/UnreceivedPackets", &req)
                .await?;
            Ok(resp.sequences)
        })
        .await
    }

    /// Sequences with an acknowledgement written on `port/channel` (all pages, ascending).
    pub async fn packet_acknowledgements(
        &self,
        port: &str,
        channel: &str,
    ) -> Result<Vec<u64>, QueryError> {
        let seqs = self
            .grpc_all(
                "/ibc.core.channel.v1.Query/PacketAcknowledgements",
                |page| QueryPacketAcknowledgementsRequest {
                    port_id: port.to_string(),
                    channel_id: channel.to_string(),
                    pagination: Some(page),
                    packet_commitment_sequences: Vec::new(),
                },
                |r: QueryPacketAcknowledgementsResponse| {
                    (
                        r.acknowledgements.into_iter().map(|a| a.sequence).collect(),
                        r.pagination.map(|p| p.next_key).unwrap_or_default(),
                    )
                },
            )
            .await?;
        Ok(sorted_unique(seqs))
    }

    /// Of `sequences` (acked on the counterparty), those whose commitment still exists here.
    pub async fn unreceived_acks(
        &self,
        port: &str,
        channel: &str,
        sequences: &[u64],
    ) -> Result<Vec<u64>, QueryError> {
        in_chunks(sequences, |chunk| async move {
            let req = QueryUnreceivedAcksRequest {
                port_id: port.to_string(),
                channel_id: channel.to_string(),
                packet_ack_sequences: chunk,
            };
            let resp: QueryUnreceivedAcksResponse = self
                .grpc("/ibc.core.channel.v1.Query/UnreceivedAcks", &req)
                .await?;
            Ok(resp.sequences)
        })
        .await
    }

    /// The next sequence expected on `port/channel` here (what an ordered channel's timeout
    /// proves against).
    pub async fn next_sequence_recv(&self, port: &str, channel: &str) -> Result<u64, QueryError> {
        let req = QueryNextSequenceReceiveRequest {
            port_id: port.to_string(),
            channel_id: channel.to_string(),
        };
        let resp: QueryNextSequenceReceiveResponse = self
            .grpc("/ibc.core.channel.v1.Query/NextSequenceReceive", &req)
            .await?;
        Ok(resp.next_sequence_receive)
    }

    /// Every tx matching `query` whose events of kind `event_kind` (filtered by `keep`) yield
    /// an item; items are keyed by sequence, the first occurrence winning.
    async fn search_packet_events<T>(
        &self,
        ranges: Vec<(u64, u64)>,
        make_query: impl Fn(u64, u64) -> String,
        event_kind: &str,
        wanted: &BTreeSet<u64>,
        extract: impl Fn(&BTreeMap<String, String>) -> Result<Option<(u64, T)>, QueryError>,
    ) -> Result<BTreeMap<u64, T>, QueryError> {
        let mut found: BTreeMap<u64, T> = BTreeMap::new();
        for (lo, hi) in ranges {
            let query = make_query(lo, hi);
            let txs = self
                .rpc
                .tx_search_all(&query, Order::Ascending, usize::MAX)
                .await?;
            for tx in txs {
                if tx.tx_result.code.is_err() {
                    continue;
                }
                for event in tx.tx_result.events.iter().filter(|e| e.kind == event_kind) {
                    let attrs = cosmos::events::attributes(event);
                    if let Some((seq, item)) = extract(&attrs)? {
                        if wanted.contains(&seq) {
                            found.entry(seq).or_insert(item);
                        }
                    }
                }
            }
        }
        Ok(found)
    }

    /// The packets sent on `port/channel` with these sequences, recovered from `send_packet`
    /// events via `tx_search` (a few range queries, not one per sequence). Sequences not found
    /// are left out; the result is in ascending order of sequence.
    pub async fn sent_packets(
        &self,
        port: &str,
        channel: &str,
        sequences: &[u64],
    ) -> Result<Vec<(u64, Packet)>, QueryError> {
        let wanted: BTreeSet<u64> = sequences.iter().copied().collect();
        let ranges = contiguous_ranges(sequences, SEQUENCES_PER_SEARCH);
        let found = self
            .search_packet_events(
                ranges,
                |lo, hi| {
                    format!(
                        "send_packet.packet_src_port='{port}' AND send_packet.packet_src_channel='{channel}' AND send_packet.packet_sequence>={lo} AND send_packet.packet_sequence<={hi}"
                    )
                },
                "send_packet",
                &wanted,
                |attrs| {
                    if attrs.get("packet_src_port").map(String::as_str) != Some(port)
                        || attrs.get("packet_src_channel").map(String::as_str) != Some(channel)
                    {
                        return Ok(None);
                    }
                    let packet = packet_from_map(attrs).map_err(|e| {
                        self.decode_error(format!("send_packet on {port}/{channel}: {e}"))
                    })?;
                    Ok(Some((packet.sequence, packet)))
                },
            )
            .await?;
        Ok(found.into_iter().collect())
    }

    /// The packets received on `port/channel` (destination side) with these sequences and their
    /// acknowledgements, from `write_acknowledgement` events. Sequences not found are left out;
    /// the result is in ascending order of sequence.
    pub async fn written_acks(
        &self,
        port: &str,
        channel: &str,
        sequences: &[u64],
    ) -> Result<Vec<(u64, Packet, Vec<u8>)>, QueryError> {
        let wanted: BTreeSet<u64> = sequences.iter().copied().collect();
        let ranges = contiguous_ranges(sequences, SEQUENCES_PER_SEARCH);
        let found = self
            .search_packet_events(
                ranges,
                |lo, hi| {
                    format!(
                        "write_acknowledgement.packet_dst_port='{port}' AND write_acknowledgement.packet_dst_channel='{channel}' AND write_acknowledgement.packet_sequence>={lo} AND write_acknowledgement.packet_sequence<={hi}"
                    )
                },
                "write_acknowledgement",
                &wanted,
                |attrs| {
                    if attrs.get("packet_dst_port").map(String::as_str) != Some(port)
                        || attrs.get("packet_dst_channel").map(String::as_str) != Some(channel)
                    {
                        return Ok(None);
                    }
                    let bad = |e: PacketAttributeError| {
                        self.decode_error(format!("write_acknowledgement on {port}/{channel}: {e}"))
                    };
                    let packet = packet_from_map(attrs).map_err(bad)?;
                    let ack = ack_from_map(attrs).map_err(bad)?;
                    Ok(Some((packet.sequence, (packet, ack))))
                },
            )
            .await?;
        Ok(found
            .into_iter()
            .map(|(seq, (packet, ack))| (seq, packet, ack))
            .collect())
    }

    /// `store/ibc/key` at `height` with proof: the value (empty when absent) and the proof as
    /// `MerkleProof` protobuf bytes, which verify against the app hash of header `height + 1`.
    pub async fn prove(&self, path: &str, height: u64) -> Result<(Vec<u8>, Vec<u8>), QueryError> {
        let h = tendermint::block::Height::try_from(height)
            .map_err(|e| self.decode_error(format!("height {height} is invalid: {e}")))?;
        let q = self
            .rpc
            .abci_query(IBC_STORE_KEY_PATH, path.as_bytes(), Some(h), true)
            .await?;
        let code = q.code.value();
        if code != 0 {
            return Err(QueryError::Abci {
                chain: self.chain_id.clone(),
                path: format!("{IBC_STORE_KEY_PATH} {path} at {height}"),
                code,
                log: q.log,
            });
        }
        if q.height.value() != height {
            return Err(self.decode_error(format!(
                "proof of {path} asked at {height} was made at {}",
                q.height
            )));
        }
        let ops = q
            .proof
            .map(|p| p.ops)
            .filter(|ops| !ops.is_empty())
            .ok_or_else(|| self.decode_error(format!("no proof for {path} at {height}")))?;
        let proofs = ops
            .iter()
            .map(|op| {
                ibc_proto::ics23::CommitmentProof::decode(op.data.as_slice()).map_err(|e| {
                    self.decode_error(format!(
                        "proof op {:?} for {path} at {height} is not a CommitmentProof: {e}",
                        op.field_type
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((q.value, MerkleProof { proofs }.encode_to_vec()))
    }

    /// Account number and sequence of `address`.
    pub async fn account(&self, address: &str) -> Result<(u64, u64), QueryError> {
        let req = QueryAccountRequest {
            address: address.to_string(),
        };
        let resp: QueryAccountResponse = self
            .grpc("/cosmos.auth.v1beta1.Query/Account", &req)
            .await?;
        let any = resp
            .account
            .ok_or_else(|| self.decode_error(format!("no account in the answer for {address}")))?;
        if any.type_url != BaseAccount::type_url() {
            return Err(self.decode_error(format!(
                "account {address} is a {}, not a BaseAccount",
                any.type_url
            )));
        }
        let acc = BaseAccount::decode(any.value.as_slice())
            .map_err(|e| self.decode_error(format!("account {address}: {e}")))?;
        Ok((acc.account_number, acc.sequence))
    }

    /// Gas used by simulating `tx_bytes`.
    pub async fn simulate(&self, tx_bytes: Vec<u8>) -> Result<u64, QueryError> {
        let req = SimulateRequest {
            tx_bytes,
            ..Default::default()
        };
        let resp: SimulateResponse = self
            .grpc("/cosmos.tx.v1beta1.Service/Simulate", &req)
            .await?;
        resp.gas_info
            .map(|g| g.gas_used)
            .ok_or_else(|| self.decode_error("simulation answer has no gas info"))
    }

    /// The unbonding period from staking Params (for default trusting periods).
    pub async fn unbonding_period(&self) -> Result<Duration, QueryError> {
        let resp: QueryParamsResponse = self
            .grpc(
                "/cosmos.staking.v1beta1.Query/Params",
                &QueryParamsRequest {},
            )
            .await?;
        let d = resp
            .params
            .and_then(|p| p.unbonding_time)
            .ok_or_else(|| self.decode_error("staking params have no unbonding time"))?;
        let secs = u64::try_from(d.seconds)
            .map_err(|_| self.decode_error(format!("negative unbonding time {d:?}")))?;
        let nanos = u32::try_from(d.nanos)
            .map_err(|_| self.decode_error(format!("negative unbonding time {d:?}")))?;
        Ok(Duration::new(secs, nanos))
    }
}

/// `seqs` sorted ascending without repeats.
fn sorted_unique(mut seqs: Vec<u64>) -> Vec<u64> {
    seqs.sort_unstable();
    seqs.dedup();
    seqs
}

/// Runs `query` over the distinct `sequences` in requests of at most
/// [`SEQUENCES_PER_REQUEST`], and returns the union of the answers, sorted.
async fn in_chunks<F, Fut>(sequences: &[u64], mut query: F) -> Result<Vec<u64>, QueryError>
where
    F: FnMut(Vec<u64>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<u64>, QueryError>>,
{
    let wanted = sorted_unique(sequences.to_vec());
    let mut out = Vec::new();
    for chunk in wanted.chunks(SEQUENCES_PER_REQUEST) {
        out.extend(query(chunk.to_vec()).await?);
    }
    Ok(sorted_unique(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_follow_ibc_go() {
        assert_eq!(revision_of("devnet-1"), 1);
        assert_eq!(revision_of("cosmoshub-4"), 4);
        assert_eq!(revision_of("osmo-test-12"), 12);
        assert_eq!(revision_of("devnet"), 0);
        assert_eq!(revision_of("devnet-0"), 0);
        assert_eq!(revision_of("devnet-01"), 0);
        assert_eq!(revision_of("devnet--1"), 0);
        assert_eq!(revision_of("-1"), 0);
        assert_eq!(revision_of("devnet-"), 0);
        assert_eq!(revision_of("devnet-1a"), 0);
    }

    #[test]
    fn ranges_are_contiguous_and_bounded() {
        assert_eq!(
            contiguous_ranges(&[7, 1, 2, 3, 5, 9, 8, 3], 100),
            vec![(1, 3), (5, 5), (7, 9)]
        );
        assert_eq!(
            contiguous_ranges(&[1, 2, 3, 4, 5], 2),
            vec![(1, 2), (3, 4), (5, 5)]
        );
        assert!(contiguous_ranges(&[], 10).is_empty());
    }

    #[test]
    fn packets_from_attributes() {
        let attrs = [
            ("packet_data_hex", "7b7d"),
            ("packet_timeout_height", "1-120"),
            ("packet_timeout_timestamp", "1700000000000000000"),
            ("packet_sequence", "42"),
            ("packet_src_port", "transfer"),
            ("packet_src_channel", "channel-0"),
            ("packet_dst_port", "transfer"),
            ("packet_dst_channel", "channel-3"),
            ("packet_ack_hex", "7b22726573756c74223a2241513d3d227d"),
        ];
        let p = packet_from_attributes(attrs).unwrap();
        assert_eq!(p.sequence, 42);
        assert_eq!(p.data, b"{}");
        assert_eq!(
            p.timeout_height,
            Some(Height {
                revision_number: 1,
                revision_height: 120
            })
        );
        assert_eq!(p.timeout_timestamp, 1_700_000_000_000_000_000);
        assert_eq!(p.destination_channel, "channel-3");
        assert_eq!(ack_from_attributes(attrs).unwrap(), br#"{"result":"AQ=="}"#);

        let err = packet_from_attributes(
            attrs
                .iter()
                .copied()
                .filter(|(k, _)| *k != "packet_sequence"),
        )
        .unwrap_err();
        assert_eq!(err.key, "packet_sequence");
        let err = packet_from_attributes(attrs.iter().map(|(k, v)| {
            (
                *k,
                if *k == "packet_timeout_height" {
                    "12"
                } else {
                    v
                },
            )
        }))
        .unwrap_err();
        assert_eq!(err.key, "packet_timeout_height");
        // Acknowledge / timeout events carry no data.
        let no_data = packet_from_attributes(
            attrs
                .iter()
                .copied()
                .filter(|(k, _)| *k != "packet_data_hex"),
        )
        .unwrap();
        assert!(no_data.data.is_empty());
    }
}
