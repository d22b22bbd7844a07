//! The admin endpoint: the node's fault switches (pause blocks, RPC errors or slowness, the
//! standing RPC latency, dropping websockets) over plain HTTP, so chaos tests can drive a devnet
//! that runs as another process. It has no authentication, so it is served on loopback only and
//! only when asked for (`DevnetConfig::admin_addr`, `arke devnet --admin-addr`).
//!
//! Every route answers the fault state as JSON (`GET /faults`); a bad request answers 400 with
//! `{"error": "..."}`. Restarting is not offered here: kill the process and start it again on
//! the same data directory.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::faults::RpcFault;
use crate::node::Node;

/// Refuses an address other hosts could reach: the endpoint has no authentication.
pub fn check_loopback(addr: SocketAddr) -> Result<(), String> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "admin_addr {addr} is not a loopback address: the admin endpoint has no \
             authentication, so it listens on 127.0.0.1 or ::1 only"
        ))
    }
}

/// Serves the admin routes for `node` on `listener` until `shutdown`.
pub async fn serve(
    node: Node,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(node))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

fn router(node: Node) -> Router {
    Router::new()
        .route("/faults", get(state))
        .route("/faults/pause", post(pause))
        .route("/faults/resume", post(resume))
        .route("/faults/rpc", post(rpc))
        .route("/faults/latency", post(latency))
        .route("/faults/drop-websockets", post(drop_websockets))
        .route("/faults/block-results", post(block_results))
        .with_state(node)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The fault state as `GET /faults` answers it.
pub fn fault_state(node: &Node) -> Value {
    let faults = node.faults();
    let rpc = match faults.rpc_fault_state() {
        None => json!({ "mode": "none" }),
        Some((RpcFault::Error, left)) => json!({ "mode": "error", "remaining_ms": millis(left) }),
        Some((RpcFault::Slow(delay), left)) => json!({
            "mode": "slow",
            "delay_ms": millis(delay),
            "remaining_ms": millis(left),
        }),
        Some((RpcFault::None, _)) => json!({ "mode": "none" }),
    };
    json!({
        "paused": node.is_paused(),
        "height": node.latest_height(),
        "rpc": rpc,
        "rpc_latency_ms": millis(faults.rpc_latency()),
        "websocket_drops": faults.websocket_drops(),
        "failing_block_results": faults.failing_block_results().map(|(height, left)| json!({
            "height": height,
            "remaining_ms": millis(left),
        })),
    })
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

async fn state(State(node): State<Node>) -> Json<Value> {
    Json(fault_state(&node))
}

async fn pause(State(node): State<Node>) -> Json<Value> {
    node.pause();
    Json(fault_state(&node))
}

async fn resume(State(node): State<Node>) -> Json<Value> {
    node.resume();
    Json(fault_state(&node))
}

async fn drop_websockets(State(node): State<Node>) -> Json<Value> {
    node.faults().drop_websockets();
    Json(fault_state(&node))
}

/// `POST /faults/rpc?mode=error&for=5s`, `?mode=slow&delay=500ms&for=10s`, `?mode=none`.
#[derive(Debug, Deserialize)]
struct RpcParams {
    mode: String,
    #[serde(rename = "for")]
    duration: Option<String>,
    delay: Option<String>,
}

async fn rpc(State(node): State<Node>, Query(p): Query<RpcParams>) -> Response {
    let faults = node.faults();
    let lasting = || -> Result<Duration, String> {
        let text = p
            .duration
            .as_deref()
            .ok_or_else(|| format!("mode={} needs for=DURATION (e.g. for=5s)", p.mode))?;
        parse_duration(text).map_err(|e| format!("for: {e}"))
    };
    match p.mode.as_str() {
        "none" | "heal" => faults.heal_rpc(),
        "error" => match lasting() {
            Ok(d) => faults.fail_rpc_for(d),
            Err(e) => return bad_request(e),
        },
        "slow" => {
            let delay = match p.delay.as_deref().map(parse_duration) {
                Some(Ok(d)) => d,
                Some(Err(e)) => return bad_request(format!("delay: {e}")),
                None => return bad_request("mode=slow needs delay=DURATION".into()),
            };
            match lasting() {
                Ok(d) => faults.slow_rpc_for(delay, d),
                Err(e) => return bad_request(e),
            }
        }
        other => {
            return bad_request(format!(
                "unknown mode {other:?}: expected error, slow or none"
            ))
        }
    }
    Json(fault_state(&node)).into_response()
}

/// `POST /faults/block-results?height=H&for=2m`: `block_results` of height H fails for 2 min.
#[derive(Debug, Deserialize)]
struct BlockResultsParams {
    height: u64,
    #[serde(rename = "for")]
    duration: String,
}

async fn block_results(State(node): State<Node>, Query(p): Query<BlockResultsParams>) -> Response {
    match parse_duration(&p.duration) {
        Ok(d) => {
            node.faults().fail_block_results_at(p.height, d);
            Json(fault_state(&node)).into_response()
        }
        Err(e) => bad_request(format!("for: {e}")),
    }
}

/// `POST /faults/latency?delay=50ms` (`delay=0s` removes it).
#[derive(Debug, Deserialize)]
struct LatencyParams {
    delay: String,
}

async fn latency(State(node): State<Node>, Query(p): Query<LatencyParams>) -> Response {
    match parse_duration(&p.delay) {
        Ok(d) => {
            node.faults().set_rpc_latency(d);
            Json(fault_state(&node)).into_response()
        }
        Err(e) => bad_request(format!("delay: {e}")),
    }
}

/// Parses `250ms`, `5s`, `1.5s` or `2m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?} (expected e.g. 500ms, 5s, 2m)"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => {
            return Err(format!(
                "invalid duration {text:?}: the unit must be ms, s or m"
            ))
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("invalid duration {text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_addresses() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(check_loopback("127.0.0.1:0".parse().unwrap()).is_ok());
        assert!(check_loopback("[::1]:9".parse().unwrap()).is_ok());
        let err = check_loopback("0.0.0.0:9".parse().unwrap()).unwrap_err();
        assert!(err.contains("loopback"), "{err}");
    }
}
