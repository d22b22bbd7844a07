//! Helpers shared by the devnet's integration tests: coins and a raw JSON-RPC call.
//!
//! Each test binary includes this module with `mod support;` and uses what it needs.

#![allow(dead_code)] // not every test binary uses every helper

use cosmos::Coin;

/// `amount` of the devnet's staking denom.
pub fn stake(amount: u128) -> Coin {
    Coin::new("stake", amount)
}

/// A JSON-RPC call over plain HTTP.
pub async fn rpc(url: &str, method: &str, params: serde_json::Value) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        .to_string();
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.expect("read");
    let text = String::from_utf8_lossy(&out).into_owned();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).expect("json-rpc answer")
}
