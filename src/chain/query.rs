//! IBC queries over CometBFT RPC: channel, connection and client state through the gRPC query
//! services (`abci_query` with a protobuf payload), packet commitments and acks with paging,
//! unreceived sequences, proofs (`store/ibc/key`, turned into `MerkleProof` bytes), packet
//! data recovery from `tx_search` in ranges, account number and sequence, and tx simulation.

use ibc_proto::ibc::core::channel::v1::{Channel, IdentifiedChannel, Packet};
use ibc_proto::ibc::core::connection::v1::ConnectionEnd;
use ibc_proto::ibc::lightclients::tendermint::v1::ClientState;

use super::rpc::{RpcClient, RpcError};

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

/// IBC queries against one chain.
#[derive(Clone, Debug)]
pub struct IbcQuerier {
    rpc: RpcClient,
    chain_id: String,
}

impl IbcQuerier {
    /// Queries `chain_id` through `rpc`.
    pub fn new(rpc: RpcClient, chain_id: String) -> Self {
        Self { rpc, chain_id }
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
        todo!()
    }

    /// The latest block height.
    pub async fn latest_height(&self) -> Result<u64, QueryError> {
        todo!()
    }

    /// A channel end (`None` when it does not exist).
    pub async fn channel(
        &self,
        _port: &str,
        _channel: &str,
    ) -> Result<Option<Channel>, QueryError> {
        todo!()
    }

    /// Every channel on the chain (all pages).
    pub async fn channels(&self) -> Result<Vec<IdentifiedChannel>, QueryError> {
        todo!()
    }

    /// A connection end.
    pub async fn connection(
        &self,
        _connection_id: &str,
    ) -> Result<Option<ConnectionEnd>, QueryError> {
        todo!()
    }

    /// A Tendermint client state (`None` when absent).
    pub async fn client_state(&self, _client_id: &str) -> Result<Option<ClientState>, QueryError> {
        todo!()
    }

    /// Sequences with a packet commitment on `port/channel` (all pages, ascending).
    pub async fn packet_commitments(
        &self,
        _port: &str,
        _channel: &str,
    ) -> Result<Vec<u64>, QueryError> {
        todo!()
    }

    /// Of `sequences` (sent on the counterparty), those not yet received on `port/channel` here.
    pub async fn unreceived_packets(
        &self,
        _port: &str,
        _channel: &str,
        _sequences: &[u64],
    ) -> Result<Vec<u64>, QueryError> {
        todo!()
    }

    /// Sequences with an acknowledgement written on `port/channel` (all pages, ascending).
    pub async fn packet_acknowledgements(
        &self,
        _port: &str,
        _channel: &str,
    ) -> Result<Vec<u64>, QueryError> {
        todo!()
    }

    /// Of `sequences` (acked on the counterparty), those whose commitment still exists here.
    pub async fn unreceived_acks(
        &self,
        _port: &str,
        _channel: &str,
        _sequences: &[u64],
    ) -> Result<Vec<u64>, QueryError> {
        todo!()
    }

    /// The packets sent on `port/channel` with these sequences, recovered from `send_packet`
    /// events via `tx_search` (a few range queries, not one per sequence).
    pub async fn sent_packets(
        &self,
        _port: &str,
        _channel: &str,
        _sequences: &[u64],
    ) -> Result<Vec<(u64, Packet)>, QueryError> {
        todo!()
    }

    /// The packets received on `port/channel` (destination side) with these sequences and their
    /// acknowledgements, from `write_acknowledgement` events.
    pub async fn written_acks(
        &self,
        _port: &str,
        _channel: &str,
        _sequences: &[u64],
    ) -> Result<Vec<(u64, Packet, Vec<u8>)>, QueryError> {
        todo!()
    }

    /// `store/ibc/key` at `height` with proof: the value (empty when absent) and the proof as
    /// `MerkleProof` protobuf bytes, which verify against the app hash of header `height + 1`.
    pub async fn prove(&self, _path: &str, _height: u64) -> Result<(Vec<u8>, Vec<u8>), QueryError> {
        todo!()
    }

    /// Account number and sequence of `address`.
    pub async fn account(&self, _address: &str) -> Result<(u64, u64), QueryError> {
        todo!()
    }

    /// Gas used by simulating `tx_bytes`.
    pub async fn simulate(&self, _tx_bytes: Vec<u8>) -> Result<u64, QueryError> {
        todo!()
    }

    /// The unbonding period from staking Params (for default trusting periods).
    pub async fn unbonding_period(&self) -> Result<std::time::Duration, QueryError> {
        todo!()
    }
}
