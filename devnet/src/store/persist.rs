//! Committed versions of the state, one per height, kept in memory and, with a data dir, on disk
//! so a stopped node restarts where it was.

use std::path::Path;

use super::State;

/// Every committed version of the state.
pub struct VersionedStore {
    _p: (),
}

impl VersionedStore {
    /// An in-memory store that starts at `genesis` (version 0, before block 1).
    pub fn in_memory(_genesis: State) -> Self {
        todo!()
    }

    /// Opens the store in `dir`, creating it from `genesis` when the directory holds none.
    pub fn open(_dir: &Path, _genesis: State) -> std::io::Result<Self> {
        todo!()
    }

    /// Records the state after executing block `height` and returns its app hash.
    pub fn commit(&mut self, _height: u64, _state: State) -> std::io::Result<[u8; 32]> {
        todo!()
    }

    /// The state after block `height` (0 = genesis), if kept.
    pub fn at(&self, _height: u64) -> Option<&State> {
        todo!()
    }

    /// The latest committed height and its state.
    pub fn latest(&self) -> (u64, &State) {
        todo!()
    }
}
