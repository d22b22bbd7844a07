//! The multistore: named module stores committed under one root (the app hash), with proofs of
//! a store's root inside it (`ics23:simple`, Tendermint simple Merkle map like the SDK's
//! CommitInfo).

use std::collections::BTreeMap;

use super::Tree;

/// The module stores of the devnet, in the order they are created at genesis.
pub const STORE_NAMES: &[&str] = &["acc", "bank", "ibc", "transfer", "params"];

/// One version of the whole state. `Clone` is O(number of stores).
#[derive(Clone, Debug, Default)]
pub struct State {
    trees: BTreeMap<String, Tree>,
}

/// One proof operation as CometBFT returns it in `abci_query`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofOp {
    /// `ics23:iavl` or `ics23:simple`.
    pub field_type: String,
    /// The key proven (the store key, or the store name for the multistore op).
    pub key: Vec<u8>,
    /// A protobuf-encoded `cosmos.ics23.v1.CommitmentProof`.
    pub data: Vec<u8>,
}

/// The result of a raw store query.
#[derive(Clone, Debug, Default)]
pub struct StoreQuery {
    /// The value, when the key exists.
    pub value: Option<Vec<u8>>,
    /// `[iavl op, simple op]` when a proof was asked for.
    pub proof_ops: Vec<ProofOp>,
}

impl State {
    /// An empty state with every store in [`STORE_NAMES`].
    pub fn new() -> Self {
        todo!()
    }

    /// The named store. Panics on an unknown name (store names are compile-time constants).
    pub fn tree(&self, _store: &str) -> &Tree {
        todo!()
    }

    /// The named store, mutably.
    pub fn tree_mut(&mut self, _store: &str) -> &mut Tree {
        todo!()
    }

    /// Stamps every store with the version (height) being executed.
    pub fn set_version(&mut self, _version: u64) {
        todo!()
    }

    /// The multistore root: the app hash.
    pub fn app_hash(&self) -> [u8; 32] {
        todo!()
    }

    /// Reads `key` in `store`, with proof ops when `prove`. `None` when the store is unknown.
    pub fn query(&self, _store: &str, _key: &[u8], _prove: bool) -> Option<StoreQuery> {
        todo!()
    }
}

#[allow(dead_code)]
fn _unused(_: BTreeMap<String, Tree>) {}
