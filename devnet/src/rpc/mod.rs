//! CometBFT v0.38 JSON-RPC over HTTP (POST and GET with URI params) and `/websocket`, answered
//! from a [`Node`](crate::node::Node).
