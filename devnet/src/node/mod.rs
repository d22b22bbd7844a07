//! The node: block production, the block store, the mempool, and the read API the RPC servers
//! answer from.
//!
//! The validators of the schedule in `validators.rs` (one ed25519 validator unless configured
//! otherwise) sign every block. Block `h` is executed on the state after `h - 1`;
//! its header carries the app hash of that earlier state (CometBFT's rule), so a proof queried at
//! height `h` verifies against header `h + 1`. Header `h + 1`'s time is the commit time of block
//! `h`, as with CometBFT's BFT time. With a data dir, every committed block is appended to
//! `blocks.jsonl` and re-executed on start, so a stopped node resumes where it was.
//!
//! Making blocks (execution, signing the commit, appending to the data dir, the header
//! hashes) is in `produce.rs`, who signs at each height in `validators.rs`, replaying the data dir on start in `replay.rs`; this file holds
//! the node's state, start-up and the read API.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::Duration;

use prost::Message;
use sha2::{Digest, Sha256};
use tendermint::abci::types::ExecTxResult;
use tendermint::abci::Event;
use tendermint::block::{self, Commit, Header};
use tendermint::{Block, Time};
use tokio::sync::{broadcast, watch};

use crate::app::App;
use crate::ibc::{HostConsensus, HostHistory, HostInfo};
use crate::mempool::Mempool;
use crate::query_paths::QueryEnv;
use crate::store::{State, VersionedStore};

pub use crate::faults::{Faults, RpcFault};
pub use crate::mempool::{MempoolError, MempoolLimits};

mod produce;
mod replay;
mod validators;

pub use validators::{ValidatorParams, MAX_VALIDATORS};

/// One committed block with everything the RPC serves about it.
#[derive(Clone, Debug)]
pub struct BlockRecord {
    /// The block (header, txs, last commit).
    pub block: tendermint::Block,
    /// Its id (hash and part set header).
    pub block_id: tendermint::block::Id,
    /// The validators' commit for this block.
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

/// Node settings fixed at start.
#[derive(Clone, Debug)]
pub struct NodeParams {
    /// Chain id.
    pub chain_id: String,
    /// Target block interval.
    pub block_time: Duration,
    /// Maximum block size in bytes (sum of tx sizes).
    pub max_block_bytes: u64,
    /// Maximum total `gas_wanted` per block.
    pub max_block_gas: u64,
    /// Moniker.
    pub moniker: String,
    /// Where blocks are persisted, if anywhere.
    pub data_dir: Option<PathBuf>,
    /// How much the mempool holds.
    pub mempool: MempoolLimits,
    /// Whether `tx`, `tx_search` and `block_search` are served (CometBFT's `indexer = "kv"`;
    /// off is `indexer = "null"`).
    pub tx_index: bool,
    /// Serve only the latest this many blocks over RPC (0 = all), as a node pruning with
    /// `min-retain-blocks` does; the node keeps every block for its own replay.
    pub retain_blocks: u64,
    /// An ICS-20 transfer sent from FinalizeBlock every N blocks.
    pub finalize_block_transfer: Option<crate::finalize_block::PeriodicTransfer>,
    /// How many validators sign each block and how often the set changes.
    pub validators: ValidatorParams,
    /// Test switch: ICS-20 channel ends may be closed with `MsgChannelCloseInit`.
    pub allow_channel_close: bool,
}

/// The persistent identity and genesis of a chain (kept in `node.json` in the data dir).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct NodeKeys {
    /// Validator ed25519 secret key bytes (32).
    pub validator_key: Vec<u8>,
    /// Node ed25519 secret key bytes (32).
    pub node_key: Vec<u8>,
    /// Genesis time.
    pub genesis_time: Time,
}

impl NodeKeys {
    /// Fresh random keys with genesis now.
    pub fn generate() -> Self {
        let rng = rand::rngs::OsRng;
        Self {
            validator_key: ed25519_consensus::SigningKey::new(rng).to_bytes().to_vec(),
            node_key: ed25519_consensus::SigningKey::new(rng).to_bytes().to_vec(),
            genesis_time: Time::now(),
        }
    }
}

struct Chain {
    blocks: Vec<Arc<BlockRecord>>,
    block_txs: Vec<Vec<Arc<TxRecord>>>,
    by_hash: HashMap<Vec<u8>, u64>,
    txs: HashMap<[u8; 32], Arc<TxRecord>>,
    store: VersionedStore,
    genesis_app_hash: Vec<u8>,
}

impl Chain {
    fn latest_height(&self) -> u64 {
        self.blocks.len() as u64
    }
}

/// Host history over the chain's committed headers plus the header being executed.
struct History<'a> {
    chain: &'a Chain,
    current: Option<(u64, HostConsensus)>,
}

impl HostHistory for History<'_> {
    fn consensus_at(&self, height: u64) -> Option<HostConsensus> {
        if let Some((h, c)) = &self.current {
            if *h == height {
                return Some(c.clone());
            }
        }
        let index = usize::try_from(height.checked_sub(1)?).ok()?;
        let header = &self.chain.blocks.get(index)?.block.header;
        Some(host_consensus(header))
    }
}

fn host_consensus(header: &Header) -> HostConsensus {
    HostConsensus {
        time_ns: time_ns(header.time),
        app_hash: header.app_hash.as_bytes().to_vec(),
        next_validators_hash: header.next_validators_hash.as_bytes().to_vec(),
    }
}

fn time_ns(t: Time) -> u128 {
    u128::try_from(t.unix_timestamp_nanos()).unwrap_or_default()
}

struct Inner {
    params: NodeParams,
    tm_chain_id: tendermint::chain::Id,
    app: App,
    keys: NodeKeys,
    validators: validators::Schedule,
    node_id: String,
    rpc_address: RwLock<String>,
    genesis_accounts: serde_json::Value,
    chain: RwLock<Chain>,
    mempool: Mutex<Mempool>,
    /// Held while a block is made, so two blocks never race for one height.
    producing: Mutex<()>,
    events: broadcast::Sender<ChainEvent>,
    faults: Faults,
    requests: crate::requests::RequestLog,
    paused: watch::Sender<bool>,
    blocks_file: Mutex<Option<File>>,
    /// Transfers scheduled for the next block's FinalizeBlock.
    block_transfers: Mutex<Vec<crate::finalize_block::BlockTransfer>>,
}

/// A handle to a running node. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

/// Errors starting a node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Reading or writing the data dir failed.
    #[error("data dir {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The stored blocks do not reproduce.
    #[error("replaying stored block {height} from {path}: {reason}")]
    Replay {
        /// The file.
        path: PathBuf,
        /// Height.
        height: u64,
        /// What went wrong.
        reason: String,
    },
    /// Bad genesis or keys.
    #[error("genesis: {0}")]
    Genesis(String),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Node {
    /// Creates a node from its genesis; with a data dir, replays the stored blocks first.
    pub fn new(
        params: NodeParams,
        app: App,
        keys: NodeKeys,
        genesis: State,
        genesis_accounts: serde_json::Value,
    ) -> Result<Self, NodeError> {
        let key_bytes: [u8; 32] = keys
            .validator_key
            .as_slice()
            .try_into()
            .map_err(|_| NodeError::Genesis("validator key must be 32 bytes".into()))?;
        params.validators.validate().map_err(NodeError::Genesis)?;
        let validators = validators::Schedule::new(params.validators, key_bytes);
        let node_key_bytes: [u8; 32] = keys
            .node_key
            .as_slice()
            .try_into()
            .map_err(|_| NodeError::Genesis("node key must be 32 bytes".into()))?;
        let node_vk = ed25519_consensus::SigningKey::from(node_key_bytes).verification_key();
        let node_id = hex::encode(&Sha256::digest(node_vk.as_bytes())[..20]);
        let tm_chain_id: tendermint::chain::Id = params.chain_id.parse().map_err(|e| {
            NodeError::Genesis(format!("invalid chain id {:?}: {e}", params.chain_id))
        })?;
        let genesis_app_hash = genesis.app_hash().to_vec();
        let chain = Chain {
            blocks: Vec::new(),
            block_txs: Vec::new(),
            by_hash: HashMap::new(),
            txs: HashMap::new(),
            store: VersionedStore::in_memory(genesis.clone()),
            genesis_app_hash,
        };
        let mempool = Mempool::new(params.mempool, genesis);
        let node = Node {
            inner: Arc::new(Inner {
                params,
                tm_chain_id,
                app,
                keys,
                validators,
                node_id,
                rpc_address: RwLock::new(String::new()),
                genesis_accounts,
                chain: RwLock::new(chain),
                mempool: Mutex::new(mempool),
                producing: Mutex::new(()),
                events: broadcast::channel(4096).0,
                faults: Faults::default(),
                requests: crate::requests::RequestLog::default(),
                paused: watch::channel(false).0,
                blocks_file: Mutex::new(None),
                block_transfers: Mutex::new(Vec::new()),
            }),
        };
        node.replay_and_open()?;
        Ok(node)
    }

    /// The host as of committed height `h`: its block time (genesis time before the first
    /// block), for queries at `h` and, at the latest height, for CheckTx and simulation (the
    /// check state carries the last block's header).
    fn host_at<'a>(&'a self, chain: &'a Chain, history: &'a History<'a>, h: u64) -> HostInfo<'a> {
        HostInfo {
            chain_id: &self.inner.params.chain_id,
            height: h.max(1),
            time_ns: h
                .checked_sub(1)
                .and_then(|i| chain.blocks.get(usize::try_from(i).ok()?))
                .map(|b| time_ns(b.block.header.time))
                .unwrap_or_else(|| time_ns(self.inner.keys.genesis_time)),
            history,
            max_expected_time_per_block: self.inner.params.block_time,
            allow_channel_close: self.inner.params.allow_channel_close,
        }
    }

    fn read_chain(&self) -> RwLockReadGuard<'_, Chain> {
        self.inner.chain.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the address the RPC listens on (for `status`).
    pub fn set_rpc_address(&self, addr: String) {
        *self
            .inner
            .rpc_address
            .write()
            .unwrap_or_else(|e| e.into_inner()) = addr;
    }

    /// The chain id.
    pub fn chain_id(&self) -> String {
        self.inner.params.chain_id.clone()
    }

    /// Node id, moniker, addresses.
    pub fn identity(&self) -> NodeIdentity {
        NodeIdentity {
            node_id: self.inner.node_id.clone(),
            moniker: self.inner.params.moniker.clone(),
            rpc_address: self
                .inner
                .rpc_address
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }

    /// The node's own validator (address, public key, power at the latest height: 0 once a
    /// rotation has replaced it).
    pub fn validator(&self) -> tendermint::validator::Info {
        self.inner.validators.own(self.latest_height().max(1))
    }

    /// The app.
    pub fn app(&self) -> &App {
        &self.inner.app
    }

    /// Latest committed height (0 before the first block).
    pub fn latest_height(&self) -> u64 {
        self.read_chain().latest_height()
    }

    /// Earliest height served: 1, or with `retain_blocks` N the lowest of the latest N blocks
    /// (CometBFT's block store base after pruning).
    pub fn earliest_height(&self) -> u64 {
        match self.inner.params.retain_blocks {
            0 => 1,
            n => (self.latest_height() + 1).saturating_sub(n).max(1),
        }
    }

    /// Whether txs and blocks are indexed (`tx`, `tx_search`, `block_search` answer).
    pub fn tx_index_enabled(&self) -> bool {
        self.inner.params.tx_index
    }

    /// Sends `transfer` from the FinalizeBlock of the next block, after its txs; the block
    /// stores it, so a restart on the data dir replays it.
    pub fn schedule_finalize_block_transfer(&self, transfer: crate::finalize_block::BlockTransfer) {
        lock(&self.inner.block_transfers).push(transfer);
    }

    /// The block at `height`.
    pub fn block(&self, height: u64) -> Option<Arc<BlockRecord>> {
        let index = usize::try_from(height.checked_sub(1)?).ok()?;
        self.read_chain().blocks.get(index).cloned()
    }

    /// The latest block.
    pub fn latest_block(&self) -> Option<Arc<BlockRecord>> {
        self.read_chain().blocks.last().cloned()
    }

    /// The block whose hash is `hash`.
    pub fn block_by_hash(&self, hash: &[u8]) -> Option<Arc<BlockRecord>> {
        let chain = self.read_chain();
        let h = *chain.by_hash.get(hash)?;
        chain.blocks.get(usize::try_from(h - 1).ok()?).cloned()
    }

    /// The validator set at `height`, served up to `latest + 1`.
    pub fn validators(&self, height: u64) -> Option<tendermint::validator::Set> {
        (height >= 1 && height <= self.latest_height() + 1)
            .then(|| self.inner.validators.set(height))
    }

    /// Consensus params (block max bytes and gas, evidence, validator key types).
    pub fn consensus_params(&self) -> tendermint::consensus::Params {
        tendermint::consensus::Params {
            block: tendermint::block::Size {
                max_bytes: self.inner.params.max_block_bytes,
                max_gas: i64::try_from(self.inner.params.max_block_gas).unwrap_or(i64::MAX),
                time_iota_ms: 1000,
            },
            evidence: tendermint::evidence::Params {
                max_age_num_blocks: 100000,
                max_age_duration: tendermint::evidence::Duration(Duration::from_secs(172800)),
                max_bytes: 1048576,
            },
            validator: tendermint::consensus::params::ValidatorParams {
                pub_key_types: vec![tendermint::public_key::Algorithm::Ed25519],
            },
            version: Some(tendermint::consensus::params::VersionParams { app: 0 }),
            abci: Default::default(),
        }
    }

    fn consensus_hash(&self) -> tendermint::Hash {
        #[derive(Clone, PartialEq, prost::Message)]
        struct HashedParams {
            #[prost(int64, tag = "1")]
            block_max_bytes: i64,
            #[prost(int64, tag = "2")]
            block_max_gas: i64,
        }
        let p = self.consensus_params();
        let bytes = HashedParams {
            block_max_bytes: i64::try_from(p.block.max_bytes).unwrap_or(i64::MAX),
            block_max_gas: p.block.max_gas,
        }
        .encode_to_vec();
        tendermint::Hash::Sha256(Sha256::digest(bytes).into())
    }

    /// The genesis document.
    pub fn genesis(&self) -> tendermint::Genesis<serde_json::Value> {
        let app_hash = self.read_chain().genesis_app_hash.clone();
        tendermint::Genesis {
            genesis_time: self.inner.keys.genesis_time,
            chain_id: self.inner.tm_chain_id.clone(),
            initial_height: 1,
            consensus_params: self.consensus_params(),
            validators: self.inner.validators.set(1).validators().clone(),
            app_hash: tendermint::AppHash::try_from(app_hash).unwrap_or_default(),
            app_state: self.inner.genesis_accounts.clone(),
        }
    }

    /// `abci_info`.
    pub fn abci_info(&self) -> tendermint::abci::response::Info {
        let chain = self.read_chain();
        let app_hash = chain
            .blocks
            .last()
            .map(|b| b.app_hash.clone())
            .unwrap_or_else(|| chain.genesis_app_hash.clone());
        tendermint::abci::response::Info {
            data: "devnet".to_string(),
            version: self.inner.app.params().version.clone(),
            app_version: 0,
            last_block_height: block::Height::try_from(chain.latest_height()).unwrap_or_default(),
            last_block_app_hash: tendermint::AppHash::try_from(app_hash).unwrap_or_default(),
        }
    }

    /// `abci_query` with every path form a Cosmos SDK 0.50 node takes (see
    /// [`crate::query_paths`]): gRPC method paths (protobuf request in `data`), `store/<name>/key`
    /// with or without a leading `/` (raw key, with ProofOps when `prove`), `app/simulate`,
    /// `app/version`, `p2p/...`. `height` 0 means latest. Simulation runs on the mempool's check
    /// state.
    pub fn abci_query(
        &self,
        path: &str,
        data: &[u8],
        height: u64,
        prove: bool,
    ) -> tendermint::abci::response::Query {
        // Taken before the chain lock: CheckTx holds the mempool lock while it reads the chain.
        let check_state =
            App::simulates(path).then(|| lock(&self.inner.mempool).check_state.clone());
        let chain = self.read_chain();
        let latest = chain.latest_height();
        let height = if height == 0 { latest } else { height };
        let history = History {
            chain: &chain,
            current: None,
        };
        let host_at = |h: u64| self.host_at(&chain, &history, h);
        let env = QueryEnv {
            height,
            latest,
            state: if height > latest {
                None
            } else {
                chain.store.at(height)
            },
            latest_state: chain.store.latest().1,
            host: host_at(height.min(latest)),
            check_state: check_state.as_ref(),
            check_host: host_at(latest),
        };
        self.inner.app.query(&env, path, data, prove)
    }

    /// Runs CheckTx and, when it passes, adds the tx to the mempool. A full mempool, a tx too
    /// large or one already seen is an error, checked in CometBFT's order (CometBFT answers those
    /// with a JSON-RPC error, not a CheckTx code).
    pub fn try_broadcast_tx(
        &self,
        tx: Vec<u8>,
    ) -> Result<tendermint::abci::response::CheckTx, MempoolError> {
        let hash: [u8; 32] = Sha256::digest(&tx).into();
        let mut mempool = lock(&self.inner.mempool);
        mempool.check_room(tx.len())?;
        if tx.len() as u64 > self.inner.params.max_block_bytes {
            return Err(MempoolError::TooLarge {
                max: self.inner.params.max_block_bytes,
                got: tx.len(),
            });
        }
        let chain = self.read_chain();
        if mempool.contains(&hash) || chain.txs.contains_key(&hash) {
            return Err(MempoolError::AlreadyInCache);
        }
        let history = History {
            chain: &chain,
            current: None,
        };
        let host = self.host_at(&chain, &history, chain.latest_height());
        let out = self
            .inner
            .app
            .check_tx(&mut mempool.check_state, &host, &tx);
        drop(chain);
        let mut response = tendermint::abci::response::CheckTx {
            gas_wanted: i64::try_from(out.gas_wanted).unwrap_or(i64::MAX),
            gas_used: i64::try_from(out.gas_used).unwrap_or(i64::MAX),
            ..Default::default()
        };
        match out.error {
            Some(e) => {
                response.code = e.code.into();
                response.codespace = e.codespace.to_string();
                response.log = e.log;
            }
            None => mempool.push(hash, tx, out.gas_wanted),
        }
        Ok(response)
    }

    /// Runs CheckTx and, when it passes, adds the tx to the mempool; mempool-level refusals come
    /// back as a CheckTx with code 1 and the reason in the log.
    pub fn broadcast_tx(&self, tx: Vec<u8>) -> tendermint::abci::response::CheckTx {
        self.try_broadcast_tx(tx)
            .unwrap_or_else(|e| tendermint::abci::response::CheckTx {
                code: 1.into(),
                log: e.to_string(),
                ..Default::default()
            })
    }

    /// Txs waiting in the mempool.
    pub fn mempool_size(&self) -> usize {
        lock(&self.inner.mempool).len()
    }

    /// Total bytes of the txs waiting in the mempool.
    pub fn mempool_bytes(&self) -> u64 {
        lock(&self.inner.mempool).bytes()
    }

    /// What `unconfirmed_txs` lists: the first txs waiting (CometBFT's `ReapMaxTxs(limit)`, up
    /// to `limit + 1`), with the mempool's tx count and bytes.
    pub fn unconfirmed_txs(&self, limit: usize) -> (Vec<Vec<u8>>, usize, u64) {
        let mempool = lock(&self.inner.mempool);
        (mempool.first(limit), mempool.len(), mempool.bytes())
    }

    /// The committed tx with `hash`.
    pub fn tx(&self, hash: &[u8]) -> Option<Arc<TxRecord>> {
        let key: [u8; 32] = hash.try_into().ok()?;
        self.read_chain().txs.get(&key).cloned()
    }

    /// Every committed tx of block `height`, in order.
    pub fn block_txs(&self, height: u64) -> Vec<Arc<TxRecord>> {
        let Some(index) = height.checked_sub(1).and_then(|i| usize::try_from(i).ok()) else {
            return Vec::new();
        };
        self.read_chain()
            .block_txs
            .get(index)
            .cloned()
            .unwrap_or_default()
    }

    /// Subscribes to new blocks and txs from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ChainEvent> {
        self.inner.events.subscribe()
    }

    /// Fault injection shared with the RPC servers.
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// The RPC requests this node answered (the RPC servers record every call).
    pub fn requests(&self) -> &crate::requests::RequestLog {
        &self.inner.requests
    }

    /// The configured block time.
    pub fn block_time(&self) -> Duration {
        self.inner.params.block_time
    }

    /// Stops producing blocks until [`Node::resume`].
    pub fn pause(&self) {
        self.inner.paused.send_replace(true);
    }

    /// Resumes block production.
    pub fn resume(&self) {
        self.inner.paused.send_replace(false);
    }

    /// Whether block production is paused.
    pub fn is_paused(&self) -> bool {
        *self.inner.paused.borrow()
    }
}

/// What `blocks.jsonl` stores per block; everything else is re-derived by execution.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredBlock {
    block: Block,
    commit: Commit,
    /// The transfers its FinalizeBlock sent (absent in blocks that sent none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    finalize_block_transfers: Vec<crate::finalize_block::BlockTransfer>,
}
