//! Transactions: signing keys ([`keys`]), tx signing and fees ([`sign`]), packet messages built
//! from proofs ([`packet`]), and the [`engine::TxEngine`] (batching, account sequence,
//! broadcast, confirmation).

pub mod engine;
pub mod keys;
pub(crate) mod packet;
pub(crate) mod sign;
