//! A single-node, CometBFT-compatible chain with ibc-rs inside, for testing IBC relayers.
//!
//! The devnet produces real ed25519-signed Tendermint headers, executes real Cosmos SDK
//! protobuf transactions (SIGN_MODE_DIRECT, secp256k1), runs IBC core and ICS-20 transfer through
//! ibc-rs over an IAVL-compatible store, and answers CometBFT's JSON-RPC with the shapes of a
//! v0.38 node. See `ARCHITECTURE.md` at the repository root for the map.
//!
//! Keys, addresses, coins and the tx encoding are the `cosmos` crate's, shared with the relayer.
//! [`harness`] drives a devnet in-process (for `arke demo` and tests); [`testing`] adds the
//! handshake and relay helpers only tests use.

pub mod admin;
pub mod app;
pub mod auth;
pub mod bank;
pub mod error;
pub mod exec;
pub mod faults;
pub mod feegrant;
pub mod feemarket;
pub mod finalize_block;
pub mod harness;
pub mod ibc;
pub mod launch;
pub mod mempool;
pub mod node;
pub mod query_paths;
pub mod requests;
pub mod rpc;
pub mod store;
pub mod testing;
pub mod tls;
pub mod tx;

pub use launch::{Devnet, DevnetConfig, GenesisAccount};
