//! Talking to one chain: the CometBFT RPC client today; the event hub, IBC queries and proofs,
//! and light-client headers as they land.

pub mod rpc;
