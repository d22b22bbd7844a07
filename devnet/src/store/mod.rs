//! The devnet's provable state: IAVL-compatible Merkle trees, one per module store, committed
//! together under a multistore root that is the chain's app hash.
//!
//! The trees are persistent (structurally shared): cloning a [`Tree`] or a [`State`] is O(1), so
//! every committed height keeps its own version for historical queries and proofs, and a failed
//! transaction is rolled back by dropping its working copy.
//!
//! Proof format matches a Cosmos SDK chain: `abci_query` on `store/<name>/key` with `prove=true`
//! returns two ProofOps, `ics23:iavl` (the key in its module store, existence or non-existence)
//! then `ics23:simple` (the module store root inside the multistore), so a counterparty client
//! with the default Cosmos SDK proof specs (`[IavlSpec, TendermintSpec]`) verifies them.

mod iavl;
mod multistore;
mod persist;

pub use iavl::Tree;
pub use multistore::{ProofOp, State, StoreQuery, PROOF_OP_IAVL, PROOF_OP_SIMPLE, STORE_NAMES};
pub use persist::VersionedStore;
