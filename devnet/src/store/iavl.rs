//! A persistent AVL+ tree whose node hashing matches cosmos/iavl, so its ICS-23 proofs verify
//! under `ics23::iavl_spec()`.

use std::sync::Arc;

/// A versioned, persistent IAVL tree. `Clone` is O(1) (shares nodes).
#[derive(Clone, Debug, Default)]
pub struct Tree {
    _root: Option<Arc<()>>,
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the version stamped on nodes written from now on (the height being executed).
    pub fn set_version(&mut self, _version: u64) {
        todo!()
    }

    /// The value at `key`.
    pub fn get(&self, _key: &[u8]) -> Option<&[u8]> {
        todo!()
    }

    /// Inserts or replaces; returns whether the key existed.
    pub fn set(&mut self, _key: Vec<u8>, _value: Vec<u8>) -> bool {
        todo!()
    }

    /// Removes `key`; returns whether it existed.
    pub fn remove(&mut self, _key: &[u8]) -> bool {
        todo!()
    }

    /// Keys and values in ascending key order, starting at the first key `>= start`, while the
    /// key starts with `prefix`.
    pub fn iter_prefix<'a>(
        &'a self,
        _prefix: &'a [u8],
        _start: Option<&'a [u8]>,
    ) -> Box<dyn Iterator<Item = (&'a [u8], &'a [u8])> + 'a> {
        todo!()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        todo!()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The IAVL root hash (sha256 of nothing for an empty tree, as iavl does).
    pub fn root_hash(&self) -> [u8; 32] {
        todo!()
    }

    /// An ICS-23 existence proof if `key` is present, else a non-existence proof.
    pub fn prove(&self, _key: &[u8]) -> ics23::CommitmentProof {
        todo!()
    }
}
