//! Transactions: signing keys today; fees, signing and the `TxEngine` (batching, account
//! sequence, broadcast, confirmation) as they land.

pub mod engine;
pub mod keys;
