//! Talking to one chain: the CometBFT RPC client (`rpc`), the event hub (`events`), IBC queries
//! and proofs (`query`), light-client headers (`light`), client status (`client_status`) and
//! what other signers' txs waiting in the mempool carry (`mempool`).
//!
//! The chain layer knows no workers: nothing here imports `relay`, `tx`, `handshake` or `cli`,
//! only `config` and the `telemetry` leaf.

pub mod client_status;
pub mod events;
#[cfg(test)]
mod fixtures;
pub mod light;
pub mod mempool;
pub mod query;
pub mod rpc;
pub mod types;
