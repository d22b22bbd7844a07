//! The multistore: named module stores committed under one root (the app hash), with proofs of
//! a store's root inside it (`ics23:simple`, Tendermint simple Merkle map like the SDK's
//! CommitInfo).
//!
//! The app hash is the Cosmos SDK `CommitInfo` hash: an RFC 6962 Merkle tree (Tendermint's
//! "simple" tree) over the stores sorted by name, where the leaf of a store is
//! `sha256(0x00 || uvarint(len name) || name || uvarint(32) || sha256(store root))` and an inner
//! node is `sha256(0x01 || left || right)`. Its ICS-23 form verifies under
//! `ics23::tendermint_spec()`.

use std::collections::BTreeMap;

use ics23::commitment_proof::Proof;
use ics23::{CommitmentProof, ExistenceProof, HashOp, InnerOp, LeafOp, LengthOp};
use prost::Message;
use sha2::{Digest, Sha256};

use super::Tree;

/// The module stores of the devnet, in the order they are created at genesis.
pub const STORE_NAMES: &[&str] = &["acc", "bank", "ibc", "transfer", "params"];

/// The `ProofOp` type of the key-in-store proof.
pub const PROOF_OP_IAVL: &str = "ics23:iavl";
/// The `ProofOp` type of the store-in-multistore proof.
pub const PROOF_OP_SIMPLE: &str = "ics23:simple";

/// One version of the whole state. `Clone` is O(number of stores).
#[derive(Clone, Debug)]
pub struct State {
    /// Sorted by name, which is also the order of the app-hash leaves.
    trees: BTreeMap<&'static str, Tree>,
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
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
        Self {
            trees: STORE_NAMES
                .iter()
                .map(|name| (*name, Tree::new()))
                .collect(),
        }
    }

    /// The named store. Panics on an unknown name (store names are compile-time constants).
    pub fn tree(&self, store: &str) -> &Tree {
        self.trees
            .get(store)
            .unwrap_or_else(|| panic!("unknown store {store:?}"))
    }

    /// The named store, mutably.
    pub fn tree_mut(&mut self, store: &str) -> &mut Tree {
        self.trees
            .get_mut(store)
            .unwrap_or_else(|| panic!("unknown store {store:?}"))
    }

    /// The named store, or `None` for a name that is not a store (for names from outside).
    pub fn get_tree(&self, store: &str) -> Option<&Tree> {
        self.trees.get(store)
    }

    /// Stamps every store with the version (height) being executed.
    pub fn set_version(&mut self, version: u64) {
        for tree in self.trees.values_mut() {
            tree.set_version(version);
        }
    }

    /// The multistore root: the app hash.
    pub fn app_hash(&self) -> [u8; 32] {
        let leaves = self.leaf_hashes();
        subtree_root(&leaves)
    }

    /// Reads `key` in `store`, with proof ops when `prove`. `None` when the store is unknown.
    pub fn query(&self, store: &str, key: &[u8], prove: bool) -> Option<StoreQuery> {
        let (index, (name, tree)) = self
            .trees
            .iter()
            .enumerate()
            .find(|(_, (name, _))| **name == store)?;
        let value = tree.get(key).map(<[u8]>::to_vec);
        let proof_ops = if prove {
            let store_proof = CommitmentProof {
                proof: Some(Proof::Exist(self.store_existence_proof(index, name, tree))),
            };
            vec![
                ProofOp {
                    field_type: PROOF_OP_IAVL.to_owned(),
                    key: key.to_vec(),
                    data: tree.prove(key).encode_to_vec(),
                },
                ProofOp {
                    field_type: PROOF_OP_SIMPLE.to_owned(),
                    key: name.as_bytes().to_vec(),
                    data: store_proof.encode_to_vec(),
                },
            ]
        } else {
            Vec::new()
        };
        Some(StoreQuery { value, proof_ops })
    }

    fn leaf_hashes(&self) -> Vec<[u8; 32]> {
        self.trees
            .iter()
            .map(|(name, tree)| leaf_hash(name, &tree.root_hash()))
            .collect()
    }

    /// The ICS-23 proof that store `index` (named `name`) has its current root in the app hash.
    fn store_existence_proof(&self, index: usize, name: &str, tree: &Tree) -> ExistenceProof {
        let leaves = self.leaf_hashes();
        // Collect siblings from the root down, then emit them leaf-up.
        let mut steps = Vec::new();
        let (mut lo, mut hi, i) = (0, leaves.len(), index);
        while hi - lo > 1 {
            let mid = lo + split_point(hi - lo);
            if i < mid {
                let right = subtree_root(&leaves[mid..hi]);
                steps.push(InnerOp {
                    hash: HashOp::Sha256.into(),
                    prefix: vec![0x01],
                    suffix: right.to_vec(),
                });
                hi = mid;
            } else {
                let mut prefix = Vec::with_capacity(33);
                prefix.push(0x01);
                prefix.extend_from_slice(&subtree_root(&leaves[lo..mid]));
                steps.push(InnerOp {
                    hash: HashOp::Sha256.into(),
                    prefix,
                    suffix: Vec::new(),
                });
                lo = mid;
            }
        }
        steps.reverse();
        ExistenceProof {
            key: name.as_bytes().to_vec(),
            value: tree.root_hash().to_vec(),
            leaf: Some(LeafOp {
                hash: HashOp::Sha256.into(),
                prehash_key: HashOp::NoHash.into(),
                prehash_value: HashOp::Sha256.into(),
                length: LengthOp::VarProto.into(),
                prefix: vec![0x00],
            }),
            path: steps,
        }
    }
}

/// `sha256(0x00 || uvarint(len name) || name || uvarint(32) || sha256(root))`.
fn leaf_hash(name: &str, root: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    let mut len = Vec::with_capacity(10);
    let mut n = name.len() as u64;
    while n >= 0x80 {
        len.push((n as u8) | 0x80);
        n >>= 7;
    }
    len.push(n as u8);
    hasher.update(&len);
    hasher.update(name.as_bytes());
    hasher.update([32]);
    hasher.update(Sha256::digest(root));
    hasher.finalize().into()
}

/// The largest power of two strictly less than `n` (`n >= 2`).
fn split_point(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// The RFC 6962 root over already-hashed leaves (sha256 of nothing when there are none).
fn subtree_root(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves {
        [] => Sha256::digest([]).into(),
        [leaf] => *leaf,
        _ => {
            let k = split_point(leaves.len());
            let mut hasher = Sha256::new();
            hasher.update([0x01]);
            hasher.update(subtree_root(&leaves[..k]));
            hasher.update(subtree_root(&leaves[k..]));
            hasher.finalize().into()
        }
    }
}

#[cfg(test)]
mod tests {
    use ::ibc::core::commitment_types::merkle::{MerklePath, MerkleProof};
    use ::ibc::core::commitment_types::specs::ProofSpecs;
    use ::ibc::core::host::types::path::PathBytes;
    use ibc_proto::ibc::core::commitment::v1::MerkleRoot;
    use ics23::HostFunctionsManager;

    use super::*;

    fn merkle_proof(ops: &[ProofOp]) -> MerkleProof {
        MerkleProof {
            proofs: ops
                .iter()
                .map(|op| CommitmentProof::decode(op.data.as_slice()).expect("valid proof bytes"))
                .collect(),
        }
    }

    fn path(key: &[u8]) -> MerklePath {
        MerklePath::new(vec![
            PathBytes::from_bytes(b"ibc"),
            PathBytes::from_bytes(key),
        ])
    }

    fn root(state: &State) -> MerkleRoot {
        MerkleRoot {
            hash: state.app_hash().to_vec(),
        }
    }

    fn sample_state() -> State {
        let mut state = State::new();
        state.set_version(3);
        for i in 0..30u32 {
            let key = format!("commitments/ports/transfer/channels/channel-0/sequences/{i}");
            state
                .tree_mut("ibc")
                .set(key.into_bytes(), vec![i as u8; 32]);
        }
        state
            .tree_mut("bank")
            .set(b"balance".to_vec(), b"100".to_vec());
        state
    }

    #[test]
    fn proofs_verify_through_ibc_rs() {
        let state = sample_state();
        let key = b"commitments/ports/transfer/channels/channel-0/sequences/7";
        let q = state.query("ibc", key, true).expect("ibc is a store");
        assert_eq!(q.value, Some(vec![7u8; 32]));
        assert_eq!(q.proof_ops.len(), 2);
        assert_eq!(q.proof_ops[0].field_type, "ics23:iavl");
        assert_eq!(q.proof_ops[0].key, key.to_vec());
        assert_eq!(q.proof_ops[1].field_type, "ics23:simple");
        assert_eq!(q.proof_ops[1].key, b"ibc".to_vec());
        merkle_proof(&q.proof_ops)
            .verify_membership::<HostFunctionsManager>(
                &ProofSpecs::cosmos(),
                root(&state),
                path(key),
                vec![7u8; 32],
                0,
            )
            .expect("membership verifies");
        assert!(merkle_proof(&q.proof_ops)
            .verify_membership::<HostFunctionsManager>(
                &ProofSpecs::cosmos(),
                root(&state),
                path(key),
                vec![8u8; 32],
                0,
            )
            .is_err());

        let absent = b"receipts/ports/transfer/channels/channel-0/sequences/1";
        let q = state.query("ibc", absent, true).expect("ibc is a store");
        assert_eq!(q.value, None);
        merkle_proof(&q.proof_ops)
            .verify_non_membership::<HostFunctionsManager>(
                &ProofSpecs::cosmos(),
                root(&state),
                path(absent),
            )
            .expect("non-membership verifies");
    }

    #[test]
    fn every_store_proves_under_tendermint_spec() {
        let mut state = sample_state();
        state.tree_mut("params").set(b"p".to_vec(), b"1".to_vec());
        let app_hash = state.app_hash().to_vec();
        for name in STORE_NAMES {
            let q = state.query(name, b"p", true).expect("known store");
            let proof =
                CommitmentProof::decode(q.proof_ops[1].data.as_slice()).expect("valid proof");
            assert!(
                ics23::verify_membership::<HostFunctionsManager>(
                    &proof,
                    &ics23::tendermint_spec(),
                    &app_hash,
                    name.as_bytes(),
                    &state.tree(name).root_hash(),
                ),
                "store {name}"
            );
        }
    }

    #[test]
    fn query_without_proof_and_unknown_store() {
        let state = sample_state();
        let q = state.query("bank", b"balance", false).expect("known store");
        assert_eq!(q.value, Some(b"100".to_vec()));
        assert!(q.proof_ops.is_empty());
        assert!(state.query("staking", b"x", true).is_none());
    }

    #[test]
    fn app_hash_follows_rfc6962_shape() {
        let state = State::new();
        let empty: [u8; 32] = Sha256::digest([]).into();
        // Sorted: acc, bank, ibc, params, transfer; split 4 | 1.
        let leaves: Vec<[u8; 32]> = ["acc", "bank", "ibc", "params", "transfer"]
            .iter()
            .map(|n| leaf_hash(n, &empty))
            .collect();
        let node = |a: &[u8; 32], b: &[u8; 32]| -> [u8; 32] {
            let mut h = Sha256::new();
            h.update([1]);
            h.update(a);
            h.update(b);
            h.finalize().into()
        };
        let left = node(&node(&leaves[0], &leaves[1]), &node(&leaves[2], &leaves[3]));
        assert_eq!(state.app_hash(), node(&left, &leaves[4]));
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(8), 4);
        assert_eq!(split_point(9), 8);
    }

    #[test]
    fn state_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<State>();
    }

    #[test]
    fn clone_is_a_snapshot() {
        let mut state = sample_state();
        let snapshot = state.clone();
        let before = snapshot.app_hash();
        state.set_version(4);
        state.tree_mut("ibc").set(b"new".to_vec(), b"v".to_vec());
        assert_ne!(state.app_hash(), before);
        assert_eq!(snapshot.app_hash(), before);
        assert!(snapshot.tree("ibc").get(b"new").is_none());
    }
}
