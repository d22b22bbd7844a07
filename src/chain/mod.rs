//! Talking to one chain: the CometBFT RPC client today; the event hub, IBC queries and proofs,
//! and light-client headers as they land.

pub mod client_status;
pub mod events;
#[cfg(test)]
mod fixtures;
pub mod light;
pub mod query;
pub mod rpc;
pub mod types;
