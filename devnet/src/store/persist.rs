//! Committed versions of the state, one per height, kept in memory.
//!
//! Nothing here touches the disk: the node persists blocks and rebuilds the state on restart by
//! replaying them from genesis. Versions share structure (see [`super::Tree`]), so keeping every
//! height costs only the nodes each block rewrote; [`VersionedStore::prune_below`] drops old ones.

use std::collections::BTreeMap;
use std::io;

use super::State;

/// Every committed version of the state.
#[derive(Debug)]
pub struct VersionedStore {
    /// Height → state after that block; 0 is genesis. Never empty.
    versions: BTreeMap<u64, State>,
}

impl VersionedStore {
    /// An in-memory store that starts at `genesis` (version 0, before block 1).
    pub fn in_memory(genesis: State) -> Self {
        Self {
            versions: BTreeMap::from([(0, genesis)]),
        }
    }

    /// Records the state after executing block `height` and returns its app hash.
    ///
    /// Fails with `InvalidInput` unless `height` is above the latest committed height.
    pub fn commit(&mut self, height: u64, state: State) -> io::Result<[u8; 32]> {
        let (latest, _) = self.latest();
        if height <= latest {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("commit at height {height}, but height {latest} is already committed"),
            ));
        }
        let app_hash = state.app_hash();
        self.versions.insert(height, state);
        Ok(app_hash)
    }

    /// The state after block `height` (0 = genesis), if kept.
    pub fn at(&self, height: u64) -> Option<&State> {
        self.versions.get(&height)
    }

    /// The latest committed height and its state.
    pub fn latest(&self) -> (u64, &State) {
        let (height, state) = self
            .versions
            .last_key_value()
            .expect("the store always keeps at least its latest version");
        (*height, state)
    }

    /// The oldest height still kept.
    pub fn earliest(&self) -> u64 {
        self.versions
            .first_key_value()
            .map(|(h, _)| *h)
            .expect("the store always keeps at least its latest version")
    }

    /// Drops every version below `height`, always keeping the latest one.
    pub fn prune_below(&mut self, height: u64) {
        let (latest, _) = self.latest();
        let keep_from = height.min(latest);
        self.versions = self.versions.split_off(&keep_from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_version_and_prunes() {
        let genesis = State::new();
        let genesis_hash = genesis.app_hash();
        let mut store = VersionedStore::in_memory(genesis);
        assert_eq!(store.latest().0, 0);

        let mut state = store.latest().1.clone();
        let mut hashes = vec![genesis_hash];
        for h in 1..=5u64 {
            state.set_version(h);
            state
                .tree_mut("bank")
                .set(b"height".to_vec(), h.to_be_bytes().to_vec());
            let hash = store.commit(h, state.clone()).expect("increasing height");
            assert_eq!(hash, state.app_hash());
            hashes.push(hash);
        }
        assert!(store.commit(5, state.clone()).is_err());
        assert!(store.commit(3, state.clone()).is_err());

        for (h, hash) in hashes.iter().enumerate() {
            let kept = store.at(h as u64).expect("kept");
            assert_eq!(kept.app_hash(), *hash);
        }
        assert_eq!(
            store
                .at(2)
                .map(|s| s.tree("bank").get(b"height").map(<[u8]>::to_vec)),
            Some(Some(2u64.to_be_bytes().to_vec()))
        );
        assert_eq!(store.latest().0, 5);

        store.prune_below(3);
        assert_eq!(store.earliest(), 3);
        assert!(store.at(2).is_none());
        assert_eq!(store.at(3).map(State::app_hash), Some(hashes[3]));

        store.prune_below(100);
        assert_eq!(store.earliest(), 5);
        assert_eq!(store.latest().0, 5);
    }
}
