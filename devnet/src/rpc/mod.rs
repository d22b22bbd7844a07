//! CometBFT v0.38 JSON-RPC over HTTP (POST and GET with URI params) and `/websocket`, answered
//! from a [`Node`](crate::node::Node), plus a gRPC endpoint that routes every query method to
//! `abci_query` as a Cosmos SDK node does.
//!
//! Code map:
//! - [`server`]: axum router, fault injection, [`serve`] (owns the indexer and websocket tasks);
//! - [`ws`]: one websocket connection, subscriptions, slow-client handling;
//! - [`methods`]: route table and one handler per method with CometBFT's errors;
//! - [`render`]: node data → the JSON a v0.38 node writes (tendermint-rs types plus rewrites);
//! - [`params`], [`jsonrpc`]: request decoding and the response envelope;
//! - [`query`], [`index`]: event query language, tx / block index for `tx_search` / `block_search`;
//! - [`shape`]: JSON key-path helpers to compare responses with real captures;
//! - `fixtures` (for tests, here and in the relayer's): the real CometBFT v0.38 captures the `tendermint-rpc` package ships;
//! - [`grpc`]: [`serve_grpc`], any gRPC method → `abci_query(path, bytes)`.
//!
//! Integration-test notes (a running node): start `serve` on `127.0.0.1:0`, then (1) drive it
//! with `tendermint_rpc::HttpClient` (status, block, commit, validators, abci_query, tx_search,
//! broadcast_tx_sync) — every typed call must decode; (2) POST raw JSON and compare with
//! `shape::missing_paths(capture["result"], ours["result"])` for the captures of `fixtures`;
//! (3) subscribe with `tendermint_rpc::WebSocketClient` to `tm.event='Tx'` and
//! `tm.event='NewBlock'`, broadcast a tx, and expect both pushes; (4) `faults().drop_websockets()`
//! must end the subscription stream; (5) `fail_rpc_for` makes POST answer HTTP 503;
//! (6) `tx_search` with `tx.height=N` and `send_packet.packet_sequence='1'`.

pub mod grpc;
pub mod index;
pub mod jsonrpc;
pub mod methods;
pub mod params;
pub mod query;
pub mod render;
pub mod server;
pub mod shape;
pub mod ws;

pub mod fixtures;
#[cfg(test)]
mod smoke_tests;

pub use grpc::serve_grpc;
pub use server::serve;
