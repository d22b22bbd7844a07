//! The websocket task: one connection to CometBFT's `/websocket` with the `NewBlock` and `Tx`
//! subscriptions, each push parsed (a large one on the blocking pool) and forwarded to the core;
//! once a `NewBlock` push shows that blocks carry their tx results (CometBFT v0.38), the `Tx`
//! subscription is ended, as its pushes would only repeat them. Any failure ends the connection;
//! the task tells the core (which polls meanwhile), counts a reconnect and retries after an
//! exponential backoff with jitter. It holds no delivery state, so losing it costs only RPC calls.
//!
//! It always connects to the websocket of the RPC client's *active* endpoint (`ws://` or
//! `wss://`, with the chain's TLS trust), and when failover makes another endpoint active it
//! ends the session and connects to the new one at once: the core fills the heights in between
//! from `block_results`, as after any reconnect. Such a switch is not counted as a reconnect.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rand::Rng;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::Connector;
use tokio_util::sync::CancellationToken;

use super::pushes::{parse_frame, Frame, Push};
use super::{EventHubOptions, Shared};
use crate::chain::rpc::RpcClient;

/// JSON-RPC id of the `tm.event='Tx'` subscription.
const TX_SUBSCRIPTION_ID: u64 = 1;
/// The query of the `Tx` subscription.
const TX_QUERY: &str = "tm.event='Tx'";
/// JSON-RPC id of the `tm.event='NewBlock'` subscription.
const BLOCK_SUBSCRIPTION_ID: u64 = 2;

/// Largest websocket message read from the node. A CometBFT v0.38 `NewBlock` push carries the
/// whole block (its txs in base64) and every tx result with all its events: a block of a few
/// txs of 1,000 transfers each is tens of MiB, past tungstenite's defaults (64 MiB a message,
/// 16 MiB a frame). A refused push ends the connection, so every such block would cost a
/// reconnect with backoff and a `block_results` fetch. The hub reads one message at a time
/// per chain, so this also bounds what one push can make it hold.
pub(super) const MAX_PUSH_MESSAGE_BYTES: usize = 256 << 20;
/// Largest single frame: a node may send a whole push as one frame.
pub(super) const MAX_PUSH_FRAME_BYTES: usize = MAX_PUSH_MESSAGE_BYTES;

/// Frames up to this size are parsed on the websocket task; larger ones (a block of thousands
/// of transfers is megabytes of JSON, about a second of parsing in a debug build) on the
/// blocking pool, so that no runtime worker is held while other channels' tasks wait. One
/// frame at a time per chain: the task awaits each parse before it reads the next frame.
const PARSE_INLINE_MAX_BYTES: usize = 256 << 10;

/// The websocket limits of the event connection (see [`MAX_PUSH_MESSAGE_BYTES`]).
fn ws_config() -> WebSocketConfig {
    WebSocketConfig {
        max_message_size: Some(MAX_PUSH_MESSAGE_BYTES),
        max_frame_size: Some(MAX_PUSH_FRAME_BYTES),
        ..WebSocketConfig::default()
    }
}

pub(super) struct WsTask {
    /// Whose active endpoint's websocket to use.
    pub(super) rpc: RpcClient,
    pub(super) shared: Arc<Shared>,
    pub(super) pushes: mpsc::Sender<Push>,
    pub(super) shutdown: CancellationToken,
    pub(super) options: EventHubOptions,
}

/// Why a websocket session ended.
enum SessionEnd {
    Shutdown,
    /// Another endpoint became active: reconnect to it now.
    Switched,
    /// Failed; `healthy` when it delivered at least one push (resets the backoff).
    Failed {
        reason: String,
        healthy: bool,
    },
}

impl WsTask {
    pub(super) async fn run(self) {
        let chain = self.shared.chain_id.clone();
        let mut attempt: u32 = 0;
        loop {
            let end = tokio::select! {
                _ = self.shutdown.cancelled() => SessionEnd::Shutdown,
                end = self.session() => end,
            };
            let (reason, healthy) = match end {
                SessionEnd::Shutdown => return,
                SessionEnd::Switched => {
                    let url = crate::chain::rpc::redact(&self.rpc.active_websocket().1);
                    tracing::info!(chain = %chain, %url, "RPC endpoint switched; moving the event websocket");
                    attempt = 0;
                    if self.pushes.send(Push::Disconnected).await.is_err() {
                        return;
                    }
                    continue;
                }
                SessionEnd::Failed { reason, healthy } => (reason, healthy),
            };
            if healthy {
                attempt = 0;
            }
            self.shared.reconnects.fetch_add(1, Ordering::Relaxed);
            crate::telemetry::metrics::metrics()
                .websocket_reconnects
                .inc(&[chain.as_str()]);
            let delay = backoff(attempt, self.options.backoff_min, self.options.backoff_max);
            attempt = attempt.saturating_add(1);
            tracing::warn!(chain = %chain, %reason, delay = %crate::config::HumanDuration(delay), "event websocket lost; polling meanwhile, reconnecting");
            if self.pushes.send(Push::Disconnected).await.is_err() {
                return;
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    async fn session(&self) -> SessionEnd {
        let mut switched = self.rpc.watch_active();
        let (index, url) = self.rpc.active_websocket();
        switched.mark_unchanged();
        let switch = async move {
            // Ends when another endpoint than `index` is active (never when the client is gone).
            while switched.changed().await.is_ok() {
                if *switched.borrow_and_update() != index {
                    return;
                }
            }
            std::future::pending::<()>().await
        };
        tokio::select! {
            _ = switch => SessionEnd::Switched,
            end = self.session_on(&url) => end,
        }
    }

    async fn session_on(&self, url: &reqwest::Url) -> SessionEnd {
        let failed = |reason: String, healthy| SessionEnd::Failed { reason, healthy };
        let connector = Connector::Rustls(self.rpc.tls_config());
        let connect = tokio_tungstenite::connect_async_tls_with_config(
            url.as_str(),
            Some(ws_config()),
            false,
            Some(connector),
        );
        // Credentials in the URL never reach a log.
        let shown = crate::chain::rpc::redact(url);
        let mut ws = match tokio::time::timeout(self.options.connect_timeout, connect).await {
            Err(_) => return failed(format!("connecting to {shown} timed out"), false),
            Ok(Err(e)) => return failed(format!("connecting to {shown}: {}", ws_error(&e)), false),
            Ok(Ok((ws, _))) => ws,
        };
        for (id, query) in [
            (BLOCK_SUBSCRIPTION_ID, "tm.event='NewBlock'"),
            (TX_SUBSCRIPTION_ID, TX_QUERY),
        ] {
            let req = json!({"jsonrpc": "2.0", "id": id, "method": "subscribe", "params": {"query": query}});
            let send = ws.send(Message::Text(req.to_string()));
            match tokio::time::timeout(self.options.connect_timeout, send).await {
                Err(_) => return failed("subscribe timed out".into(), false),
                Ok(Err(e)) => return failed(format!("subscribe: {e}"), false),
                Ok(Ok(())) => {}
            }
        }
        if self.pushes.send(Push::Connected).await.is_err() {
            return SessionEnd::Shutdown;
        }
        let chain = &self.shared.chain_id;
        let mut healthy = false;
        let mut last_block: Option<u64> = None;
        // A CometBFT v0.38 `NewBlock` push carries every tx result: the `Tx` pushes would repeat
        // them (each tx's events parsed twice), so the first such push ends that subscription.
        let mut tx_pushes_wanted = true;
        loop {
            let frame = match tokio::time::timeout(self.options.stall_timeout, ws.next()).await {
                Err(_) => return failed("no push within the stall timeout".into(), healthy),
                Ok(None) => return failed("connection closed".into(), healthy),
                Ok(Some(Err(e))) => return failed(format!("read: {e}"), healthy),
                Ok(Some(Ok(m))) => m,
            };
            let text = match frame {
                Message::Text(t) => t,
                Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
                Message::Close(c) => return failed(format!("closed by node: {c:?}"), healthy),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            let parsed = if text.len() <= PARSE_INLINE_MAX_BYTES {
                parse_frame(&text)
            } else {
                tokio::task::spawn_blocking(move || parse_frame(&text))
                    .await
                    .unwrap_or_else(|e| Err(format!("parsing the frame failed: {e}")))
            };
            let push = match parsed {
                Ok(Frame::Ack) => continue,
                Ok(Frame::Error(e)) => return failed(format!("node error: {e}"), healthy),
                Ok(Frame::Push(p)) => p,
                Err(reason) => {
                    tracing::warn!(chain = %chain, %reason, "skipping malformed websocket push");
                    continue;
                }
            };
            let gap = match &push {
                Push::Block(b) => {
                    let gap = last_block.is_some_and(|l| b.height > l + 1);
                    last_block = Some(b.height);
                    gap.then_some(b.height)
                }
                // Results the block pushes carry already.
                Push::Tx(_) if !tx_pushes_wanted => continue,
                _ => None,
            };
            let results_in_blocks = matches!(&push, Push::Block(b) if b.tx_results.is_some());
            if self.pushes.send(push).await.is_err() {
                return SessionEnd::Shutdown;
            }
            healthy = true;
            if results_in_blocks && tx_pushes_wanted {
                tx_pushes_wanted = false;
                let req = json!({"jsonrpc": "2.0", "id": TX_SUBSCRIPTION_ID, "method": "unsubscribe", "params": {"query": TX_QUERY}});
                match tokio::time::timeout(
                    self.options.connect_timeout,
                    ws.send(Message::Text(req.to_string())),
                )
                .await
                {
                    Err(_) => return failed("unsubscribe timed out".into(), healthy),
                    Ok(Err(e)) => return failed(format!("unsubscribe: {e}"), healthy),
                    Ok(Ok(())) => {
                        tracing::debug!(chain = %chain, "block pushes carry tx results; Tx subscription ended")
                    }
                }
            }
            if let Some(h) = gap {
                return failed(format!("NewBlock pushes skipped to {h}"), healthy);
            }
        }
    }
}

/// A websocket error with its causes, and the `ca_file` hint for a TLS failure.
fn ws_error(e: &tokio_tungstenite::tungstenite::Error) -> String {
    use crate::chain::rpc::tls;
    let text = tls::error_chain(e);
    if tls::is_tls_failure(e) {
        format!("TLS handshake failed: {text} ({})", tls::TLS_HINT)
    } else {
        text
    }
}

/// Exponential backoff from `min` doubling to `max`, each delay drawn from its upper half.
pub(super) fn backoff(attempt: u32, min: Duration, max: Duration) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX);
    let full = min.saturating_mul(factor).min(max);
    let half = full / 2;
    let jitter_ns = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    let jitter = if jitter_ns == 0 {
        0
    } else {
        rand::thread_rng().gen_range(0..=jitter_ns)
    };
    half + Duration::from_nanos(jitter)
}
