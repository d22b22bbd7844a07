//! Arke: a tokio-native IBC relayer.
//!
//! The library holds everything; `src/main.rs` only calls [`cli::main`]. Code map:
//! - [`config`]: the chain-pair TOML file, its defaults and validation;
//! - [`chain`]: talking to one chain (CometBFT RPC client, …);
//! - [`tx`]: signing keys, and later fees, signing and the `TxEngine`;
//! - [`telemetry`]: Prometheus metrics, the HTTP status server, systemd notifications;
//! - [`handshake`]: client creation, connection and channel handshakes (resumable);
//! - [`cli`]: the command line.

pub mod chain;
pub mod cli;
pub mod config;
#[cfg(feature = "devnet")]
pub mod demo;
pub mod handshake;
pub mod relay;
pub mod telemetry;
pub mod tx;
