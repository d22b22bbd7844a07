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
//!
//! # Where the parts live
//!
//! This module holds [`IbcQuerier`], its errors and the chain-id helpers; each part of the
//! querier's API is an `impl IbcQuerier` block in its own file: `grpc` (gRPC over `abci_query`,
//! paging), `headers` (latest height and time, signed headers), `state` (channels, connections,
//! clients and consensus states), `sequences` (commitments, acks, unreceived sequences),
//! `packets` (packet data recovery from `tx_search`), `proofs` (`store/ibc/key` proofs) and
//! `sdk` (account, simulation, staking params), `fees` (the base gas price of a fee market). `attributes` reads packet event attributes.
//! `recent` keeps the signed headers and validator sets of recent heights, shared by every clone
//! of a querier, so a client update's inputs are fetched once per (chain, height).

mod attributes;
pub(crate) mod fees;
mod grpc;
mod headers;
mod packets;
mod proofs;
mod recent;
mod sdk;
mod sequences;
mod state;

use ibc_proto::ibc::core::client::v1::Height;

use super::rpc::{RpcClient, RpcError};

pub use attributes::packet_from_attributes;
pub(crate) use attributes::{ack_from_attributes, plain_packet_attributes};
pub(crate) use packets::Search;

/// Default page size asked of paginated gRPC queries.
const PAGE_LIMIT: u64 = 1000;

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

impl QueryError {}

/// The revision number of a chain id as ibc-go parses it: the trailing `-N` (N ≥ 1 without
/// leading zeros, preceded by a character other than `-`), else 0.
pub(crate) fn revision_of(chain_id: &str) -> u64 {
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

/// IBC queries against one chain.
#[derive(Clone, Debug)]
pub struct IbcQuerier {
    rpc: RpcClient,
    chain_id: String,
    page_limit: u64,
    /// Signed headers and validator sets of recent heights, shared by the clones.
    recent: std::sync::Arc<recent::Recent>,
}

impl IbcQuerier {
    /// Queries `chain_id` through `rpc`.
    pub fn new(rpc: RpcClient, chain_id: String) -> Self {
        Self {
            rpc,
            chain_id,
            page_limit: PAGE_LIMIT,
            recent: Default::default(),
        }
    }

    /// The same querier asking for `limit` items per page of paginated queries (at least 1).
    pub fn with_page_limit(mut self, limit: u64) -> Self {
        self.page_limit = limit.max(1);
        self
    }

    /// The RPC client.
    pub(crate) fn rpc(&self) -> &RpcClient {
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
}
