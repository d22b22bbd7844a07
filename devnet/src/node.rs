//! The node: block production by the single validator, the block store, the mempool, and the
//! read API the RPC servers answer from.

use std::sync::Arc;
use std::time::Duration;

use tendermint::abci::types::ExecTxResult;
use tendermint::abci::Event;
use tokio::sync::broadcast;

pub use crate::faults::{Faults, RpcFault};

/// One committed block with everything the RPC serves about it.
#[derive(Clone, Debug)]
pub struct BlockRecord {
    /// The block (header, txs, last commit).
    pub block: tendermint::Block,
    /// Its id (hash and part set header).
    pub block_id: tendermint::block::Id,
    /// The validator's commit for this block.
    pub commit: tendermint::block::Commit,
    /// One result per tx, in block order.
    pub tx_results: Vec<ExecTxResult>,
    /// Block-level events (`finalize_block_events`).
    pub finalize_block_events: Vec<Event>,
    /// The app hash after executing this block (what header `height + 1` carries).
    pub app_hash: Vec<u8>,
}

impl BlockRecord {
    /// The block height.
    pub fn height(&self) -> u64 {
        self.block.header.height.value()
    }
}

/// One executed tx.
#[derive(Clone, Debug)]
pub struct TxRecord {
    /// sha256 of the raw tx.
    pub hash: [u8; 32],
    /// Block height.
    pub height: u64,
    /// Index in the block.
    pub index: u32,
    /// Raw TxRaw bytes.
    pub tx: Vec<u8>,
    /// Its result.
    pub result: ExecTxResult,
}

/// What subscribers (websocket, indexer) are told.
#[derive(Clone, Debug)]
pub enum ChainEvent {
    /// A block was committed; its txs follow as `Tx` events.
    NewBlock(Arc<BlockRecord>),
    /// A tx was committed.
    Tx(Arc<TxRecord>),
}

/// Static facts about the node for `status`.
#[derive(Clone, Debug)]
pub struct NodeIdentity {
    /// Hex node id (from the node key).
    pub node_id: String,
    /// Moniker.
    pub moniker: String,
    /// RPC listen address, e.g. `tcp://127.0.0.1:26657`.
    pub rpc_address: String,
}

/// A handle to a running node. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    _inner: Arc<()>,
}

impl Node {
    /// The chain id.
    pub fn chain_id(&self) -> String {
        todo!()
    }

    /// Node id, moniker, addresses.
    pub fn identity(&self) -> NodeIdentity {
        todo!()
    }

    /// The validator (address, public key, power).
    pub fn validator(&self) -> tendermint::validator::Info {
        todo!()
    }

    /// Latest committed height (0 before the first block).
    pub fn latest_height(&self) -> u64 {
        todo!()
    }

    /// Earliest height served (1).
    pub fn earliest_height(&self) -> u64 {
        todo!()
    }

    /// The block at `height`.
    pub fn block(&self, _height: u64) -> Option<Arc<BlockRecord>> {
        todo!()
    }

    /// The block whose hash is `hash`.
    pub fn block_by_hash(&self, _hash: &[u8]) -> Option<Arc<BlockRecord>> {
        todo!()
    }

    /// The validator set at `height`, served up to `latest + 1`.
    pub fn validators(&self, _height: u64) -> Option<tendermint::validator::Set> {
        todo!()
    }

    /// Consensus params (block max bytes and gas, evidence, validator key types).
    pub fn consensus_params(&self) -> tendermint::consensus::Params {
        todo!()
    }

    /// The genesis document.
    pub fn genesis(&self) -> tendermint::Genesis<serde_json::Value> {
        todo!()
    }

    /// `abci_info`.
    pub fn abci_info(&self) -> tendermint::abci::response::Info {
        todo!()
    }

    /// `abci_query`: `store/<name>/key` (raw key, with ProofOps when `prove`) and gRPC method paths
    /// (protobuf request in `data`). `height` 0 means latest.
    pub fn abci_query(
        &self,
        _path: &str,
        _data: &[u8],
        _height: u64,
        _prove: bool,
    ) -> tendermint::abci::response::Query {
        todo!()
    }

    /// Runs CheckTx and, when it passes, adds the tx to the mempool.
    pub fn broadcast_tx(&self, _tx: Vec<u8>) -> tendermint::abci::response::CheckTx {
        todo!()
    }

    /// Txs waiting in the mempool.
    pub fn mempool_size(&self) -> usize {
        todo!()
    }

    /// The committed tx with `hash`.
    pub fn tx(&self, _hash: &[u8]) -> Option<Arc<TxRecord>> {
        todo!()
    }

    /// Every committed tx of block `height`, in order.
    pub fn block_txs(&self, _height: u64) -> Vec<Arc<TxRecord>> {
        todo!()
    }

    /// Subscribes to new blocks and txs from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ChainEvent> {
        todo!()
    }

    /// Fault injection shared with the RPC servers.
    pub fn faults(&self) -> &Faults {
        todo!()
    }

    /// The configured block time.
    pub fn block_time(&self) -> Duration {
        todo!()
    }
}
