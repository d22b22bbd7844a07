//! The event hub of one chain: one websocket connection to CometBFT's `/websocket` with two
//! subscriptions (`tm.event='NewBlock'` and `tm.event='Tx'`), demultiplexed to per-channel
//! receivers, with a polling fallback over `block_results` that fills every height gap after a
//! dropped subscription or a restart, so no packet event is missed and none is seen twice.
//!
//! # Shape
//!
//! [`EventHub::spawn`] starts two tasks on one [`TaskTracker`], both ending when the shutdown
//! token is cancelled:
//!
//! - the **websocket task** connects, subscribes, parses every push into a block or tx record
//!   and forwards it over a bounded queue to the core. Any failure (connect error, close, read
//!   stall, a JSON-RPC error such as CometBFT's `subscription was canceled (reason: …)`, or a gap
//!   between consecutive `NewBlock` heights) ends the connection; the task tells the core,
//!   counts a reconnect and retries after an exponential backoff with jitter (100 ms doubling to
//!   a 5 s cap, each delay drawn from its upper half). A malformed push is logged and skipped;
//!   the height it belonged to is then fetched by polling instead.
//! - the **core task** owns the delivery state: the highest height fully delivered and, per
//!   undelivered height, what the websocket has told about it. It delivers heights strictly in
//!   order, each exactly once, only when `height == last_delivered + 1`.
//!
//! # When a height is delivered, and from where
//!
//! A height `H` is delivered from the websocket only when it is known to be *complete*: the
//! `NewBlock` push for `H` has arrived (it carries the block's tx count) and either
//! - it carries all tx results itself (CometBFT v0.38 puts `result_finalize_block.tx_results`
//!   and the block-level `finalize_block_events` in `NewBlock`), or
//! - a `Tx` push has arrived for every tx index of the block (v0.37, whose `NewBlock` carries
//!   no tx results; its `begin_block`/`end_block` events come from the `NewBlock` push).
//!
//! Otherwise `H` is fetched with `/block_results?height=H`, which always holds the whole height:
//! immediately when the websocket is down or told nothing about `H` although a later height is
//! known, and after a short grace (`ws_grace`) when pushes for `H` are still incomplete (the two
//! subscriptions are separate streams in CometBFT, so a block's `Tx` pushes may arrive before or
//! after its `NewBlock`). Both sources go through the same extraction, so an event looks the
//! same whichever way it came: events of txs with code 0 in tx order, then block-level events
//! (`begin_block`, `end_block`, `finalize_block`). No height is ever half-delivered.
//!
//! The trade-off: completeness is judged by counting txs, so a healthy websocket costs no RPC
//! calls at all, at the price of a slightly more involved state machine than "every push is a
//! signal, fetch `block_results` for every height" (which costs one RPC call per block). Any
//! doubt about a height falls back to that simple path.
//!
//! While the websocket is down (or has not pushed anything for `stall_timeout`), the core polls
//! the latest height with `/status` every `poll_interval` and fetches the new heights, so events
//! keep flowing even if the websocket never comes back. A failed `block_results` fetch is
//! retried on the next tick. When a node has pruned a height (`… lowest height is N`), the hub
//! logs a warning and skips to `N`; clearing recovers what those heights held.
//!
//! # Start height
//!
//! With `start_height = Some(s)` the hub first delivers every height from `s` to the latest
//! (restart catch-up), then continues live. With `None` it starts after the latest height at
//! spawn time (it asks `/status`, retrying until it answers); heights up to that one count as
//! delivered.
//!
//! # Demultiplexing and back-pressure
//!
//! [`EventHub::subscribe`] returns a bounded receiver (`queue_capacity`, 10 000 by default) for
//! one `(port, channel)` end on this chain. `Send`, `Acknowledged` and `TimedOut` events go to
//! the subscribers of the packet's source end; `WriteAck` and `Recv` to those of its destination
//! end. A subscriber only sees heights delivered after it subscribed.
//!
//! Delivery uses `send().await`, so a slow consumer slows the hub down (the hub then reads the
//! websocket slower; if the node drops it as a slow client, polling fills in). To keep one stuck
//! consumer from stalling every other channel forever, each send is bounded by `send_timeout`
//! (30 s by default): on expiry the event is dropped for that subscriber with an error log and
//! counted in [`EventHub::dropped_events`]; packet clearing, which reads the chain, recovers it.
//! Receivers that were dropped are forgotten.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use ibc_proto::ibc::core::channel::v1::Packet;
use rand::Rng;
use serde_json::{json, Value};
use tendermint::block::Height;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::query::{ack_from_attributes, packet_from_attributes};
use super::rpc::{RpcClient, RpcError};
use super::types::PacketEvent;

/// JSON-RPC id of the `tm.event='Tx'` subscription.
const TX_SUBSCRIPTION_ID: u64 = 1;
/// JSON-RPC id of the `tm.event='NewBlock'` subscription.
const BLOCK_SUBSCRIPTION_ID: u64 = 2;
/// Undelivered heights remembered from the websocket at most (the highest are forgotten first;
/// they are fetched by polling later).
const MAX_PENDING_HEIGHTS: usize = 2_000;
/// Pushes queued from the websocket task to the core.
const PUSH_QUEUE: usize = 1_024;

/// Tunables of an [`EventHub`]; [`Default`] gives production values.
#[derive(Clone, Debug)]
pub struct EventHubOptions {
    /// Capacity of each subscriber's queue.
    pub queue_capacity: usize,
    /// How often the latest height is polled while the websocket is down or silent, and how
    /// often failed fetches are retried.
    pub poll_interval: Duration,
    /// How long an incomplete height waits for its remaining pushes before it is fetched.
    pub ws_grace: Duration,
    /// A websocket silent this long is considered broken (reconnect, and poll meanwhile).
    pub stall_timeout: Duration,
    /// Bound on connecting and subscribing.
    pub connect_timeout: Duration,
    /// First reconnect delay.
    pub backoff_min: Duration,
    /// Reconnect delay cap.
    pub backoff_max: Duration,
    /// Bound on one send to a full subscriber queue before the event is dropped for it.
    pub send_timeout: Duration,
}

impl Default for EventHubOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 10_000,
            poll_interval: Duration::from_millis(500),
            ws_grace: Duration::from_secs(1),
            stall_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            send_timeout: Duration::from_secs(30),
        }
    }
}

type ChannelKey = (String, String);

struct Shared {
    chain_id: String,
    subscribers: Mutex<HashMap<ChannelKey, Vec<mpsc::Sender<PacketEvent>>>>,
    latest: watch::Sender<u64>,
    reconnects: AtomicU64,
    dropped: AtomicU64,
    queue_capacity: usize,
}

/// The event source of one chain. Cheap to clone; clones share the tasks and subscribers.
#[derive(Clone)]
pub struct EventHub {
    shared: Arc<Shared>,
    tasks: TaskTracker,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHub")
            .field("chain_id", &self.shared.chain_id)
            .field("latest_height", &*self.shared.latest.borrow())
            .field("reconnects", &self.reconnects())
            .finish()
    }
}

impl EventHub {
    /// Starts the hub of `chain_id` with default [`EventHubOptions`]. See the module doc.
    pub fn spawn(
        rpc: RpcClient,
        websocket_url: impl Into<String>,
        chain_id: impl Into<String>,
        start_height: Option<u64>,
        shutdown: CancellationToken,
    ) -> EventHub {
        Self::spawn_with(
            rpc,
            websocket_url,
            chain_id,
            start_height,
            shutdown,
            EventHubOptions::default(),
        )
    }

    /// Starts the hub of `chain_id` with `options`. Its tasks end when `shutdown` is cancelled.
    pub fn spawn_with(
        rpc: RpcClient,
        websocket_url: impl Into<String>,
        chain_id: impl Into<String>,
        start_height: Option<u64>,
        shutdown: CancellationToken,
        options: EventHubOptions,
    ) -> EventHub {
        let shared = Arc::new(Shared {
            chain_id: chain_id.into(),
            subscribers: Mutex::new(HashMap::new()),
            latest: watch::channel(0).0,
            reconnects: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            queue_capacity: options.queue_capacity.max(1),
        });
        let (push_tx, push_rx) = mpsc::channel(PUSH_QUEUE);
        let tasks = TaskTracker::new();
        let ws = WsTask {
            url: websocket_url.into(),
            shared: shared.clone(),
            pushes: push_tx,
            shutdown: shutdown.clone(),
            options: options.clone(),
        };
        tasks.spawn(ws.run());
        let core = Core {
            rpc,
            shared: shared.clone(),
            options,
            last_delivered: 0,
            target: 0,
            connected: false,
            last_push: Instant::now(),
            pending: BTreeMap::new(),
        };
        tasks.spawn(core.run(push_rx, start_height, shutdown));
        tasks.close();
        EventHub { shared, tasks }
    }

    /// A receiver of the packet events whose end on this chain is `(port, channel)`.
    pub fn subscribe(&self, port: &str, channel: &str) -> mpsc::Receiver<PacketEvent> {
        let (tx, rx) = mpsc::channel(self.shared.queue_capacity);
        lock(&self.shared.subscribers)
            .entry((port.to_string(), channel.to_string()))
            .or_default()
            .push(tx);
        rx
    }

    /// The highest height fully delivered (0 until the hub knows where it starts).
    pub fn latest_height(&self) -> watch::Receiver<u64> {
        self.shared.latest.subscribe()
    }

    /// How many times the websocket was lost or could not be (re)established.
    pub fn reconnects(&self) -> u64 {
        self.shared.reconnects.load(Ordering::Relaxed)
    }

    /// Events dropped for a subscriber whose queue stayed full for `send_timeout`.
    pub fn dropped_events(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// The chain id.
    pub fn chain_id(&self) -> &str {
        &self.shared.chain_id
    }

    /// Waits until the hub's tasks have ended (after the shutdown token is cancelled).
    pub async fn stopped(&self) {
        self.tasks.wait().await
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------------
// Records: what a height holds, whichever source it came from.

/// An ABCI event as plain strings.
#[derive(Clone, Debug, PartialEq)]
struct RawEvent {
    kind: String,
    attributes: Vec<(String, String)>,
}

/// One tx's outcome.
#[derive(Clone, Debug, PartialEq)]
struct TxOutcome {
    code: u32,
    events: Vec<RawEvent>,
}

/// Everything of one height the hub extracts from.
#[derive(Clone, Debug, PartialEq, Default)]
struct BlockRecord {
    height: u64,
    /// `begin_block_events` (v0.37).
    begin: Vec<RawEvent>,
    txs: Vec<TxOutcome>,
    /// `end_block_events` (v0.37) then `finalize_block_events` (v0.38).
    end: Vec<RawEvent>,
}

/// A parsed `NewBlock` push.
#[derive(Clone, Debug, PartialEq)]
struct BlockPush {
    height: u64,
    tx_count: usize,
    /// v0.38: the tx results carried by the push itself.
    tx_results: Option<Vec<TxOutcome>>,
    begin: Vec<RawEvent>,
    end: Vec<RawEvent>,
}

/// A parsed `Tx` push.
#[derive(Clone, Debug, PartialEq)]
struct TxPush {
    height: u64,
    index: u32,
    outcome: TxOutcome,
}

/// What the websocket task tells the core.
#[derive(Debug, PartialEq)]
enum Push {
    Connected,
    Disconnected,
    Block(BlockPush),
    Tx(TxPush),
}

/// Extracts the packet events of one height, in order. Malformed packet events are logged and
/// skipped.
fn packet_events(chain_id: &str, block: &BlockRecord) -> Vec<PacketEvent> {
    let height = block.height;
    let tx_events = block
        .txs
        .iter()
        .filter(|tx| tx.code == 0)
        .flat_map(|tx| tx.events.iter());
    block
        .begin
        .iter()
        .chain(tx_events)
        .chain(block.end.iter())
        .filter_map(|event| match packet_event(height, event) {
            Ok(e) => e,
            Err(reason) => {
                tracing::warn!(chain = %chain_id, height, kind = %event.kind, %reason, "skipping malformed packet event");
                None
            }
        })
        .collect()
}

/// The packet event of one ABCI event, `None` when it is not a packet event.
fn packet_event(height: u64, event: &RawEvent) -> Result<Option<PacketEvent>, String> {
    let attrs = || {
        event
            .attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    };
    let packet = || packet_from_attributes(attrs()).map_err(|e| e.to_string());
    Ok(Some(match event.kind.as_str() {
        "send_packet" => PacketEvent::Send {
            height,
            packet: packet()?,
        },
        "write_acknowledgement" => PacketEvent::WriteAck {
            height,
            packet: packet()?,
            ack: ack_from_attributes(attrs()).map_err(|e| e.to_string())?,
        },
        "recv_packet" => PacketEvent::Recv {
            height,
            packet: packet()?,
        },
        "acknowledge_packet" => PacketEvent::Acknowledged {
            height,
            packet: packet()?,
        },
        "timeout_packet" => PacketEvent::TimedOut {
            height,
            packet: packet()?,
        },
        _ => return Ok(None),
    }))
}

/// The `(port, channel)` end on this chain an event is routed by.
fn route(event: &PacketEvent) -> ChannelKey {
    let p: &Packet = event.packet();
    match event {
        PacketEvent::Send { .. }
        | PacketEvent::Acknowledged { .. }
        | PacketEvent::TimedOut { .. } => (p.source_port.clone(), p.source_channel.clone()),
        PacketEvent::WriteAck { .. } | PacketEvent::Recv { .. } => {
            (p.destination_port.clone(), p.destination_channel.clone())
        }
    }
}

fn raw_events_from_abci(events: &[tendermint::abci::Event]) -> Vec<RawEvent> {
    events
        .iter()
        .map(|e| RawEvent {
            kind: e.kind.clone(),
            attributes: cosmos::events::attribute_pairs(e)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
        .collect()
}

fn block_from_results(r: &tendermint_rpc::endpoint::block_results::Response) -> BlockRecord {
    let mut end = raw_events_from_abci(r.end_block_events.as_deref().unwrap_or_default());
    end.extend(raw_events_from_abci(&r.finalize_block_events));
    BlockRecord {
        height: r.height.value(),
        begin: raw_events_from_abci(r.begin_block_events.as_deref().unwrap_or_default()),
        txs: r
            .txs_results
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|t| TxOutcome {
                code: t.code.value(),
                events: raw_events_from_abci(&t.events),
            })
            .collect(),
        end,
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing websocket pushes (serde_json values; nothing here may panic on odd input).

/// What one websocket text frame is.
#[derive(Debug, PartialEq)]
enum Frame {
    /// A subscription answer (`{}`) or another reply we ignore.
    Ack,
    /// A JSON-RPC error (for a subscription: it is gone).
    Error(String),
    /// An event push.
    Push(Push),
}

fn parse_frame(text: &str) -> Result<Frame, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        let message = err.get("message").and_then(Value::as_str).unwrap_or("");
        let data = match err.get("data") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        return Ok(Frame::Error(format!("{message} {data}").trim().to_string()));
    }
    let result = v.get("result").ok_or("neither result nor error")?;
    let Some(data) = result.get("data").filter(|d| !d.is_null()) else {
        return Ok(Frame::Ack);
    };
    let kind = data.get("type").and_then(Value::as_str).unwrap_or("");
    let value = data.get("value").ok_or("push without data.value")?;
    match kind {
        "tendermint/event/Tx" => parse_tx_push(value).map(|t| Frame::Push(Push::Tx(t))),
        "tendermint/event/NewBlock" => parse_block_push(value).map(|b| Frame::Push(Push::Block(b))),
        other => Err(format!("unexpected push type {other:?}")),
    }
}

/// A CometBFT 64-bit integer: a decimal string (or, tolerated, a JSON number).
fn json_u64(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn parse_events(v: Option<&Value>) -> Result<Vec<RawEvent>, String> {
    let items = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err("events is not an array".into()),
    };
    items
        .iter()
        .map(|e| {
            let kind = e
                .get("type")
                .and_then(Value::as_str)
                .ok_or("event without type")?
                .to_string();
            let attributes = match e.get("attributes") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(attrs)) => attrs
                    .iter()
                    .map(|a| {
                        let s =
                            |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                        (s("key"), s("value"))
                    })
                    .collect(),
                Some(_) => return Err("attributes is not an array".to_string()),
            };
            Ok(RawEvent { kind, attributes })
        })
        .collect()
}

fn parse_outcome(v: &Value) -> Result<TxOutcome, String> {
    let code = match v.get("code") {
        None | Some(Value::Null) => 0,
        Some(c) => c
            .as_u64()
            .and_then(|c| u32::try_from(c).ok())
            .ok_or("tx code is not a u32")?,
    };
    Ok(TxOutcome {
        code,
        events: parse_events(v.get("events"))?,
    })
}

fn parse_tx_push(value: &Value) -> Result<TxPush, String> {
    let txr = value.get("TxResult").ok_or("Tx push without TxResult")?;
    let height = json_u64(txr.get("height")).ok_or("Tx push without height")?;
    let index = match txr.get("index") {
        None | Some(Value::Null) => 0,
        Some(i) => i
            .as_u64()
            .and_then(|i| u32::try_from(i).ok())
            .ok_or("tx index is not a u32")?,
    };
    let result = txr.get("result").unwrap_or(&Value::Null);
    Ok(TxPush {
        height,
        index,
        outcome: parse_outcome(result)?,
    })
}

fn parse_block_push(value: &Value) -> Result<BlockPush, String> {
    let block = value.get("block").ok_or("NewBlock push without block")?;
    let height = json_u64(block.pointer("/header/height")).ok_or("NewBlock without height")?;
    let tx_count = match block.pointer("/data/txs") {
        None | Some(Value::Null) => 0,
        Some(Value::Array(txs)) => txs.len(),
        Some(_) => return Err("block.data.txs is not an array".into()),
    };
    if let Some(rfb) = value.get("result_finalize_block").filter(|r| !r.is_null()) {
        let tx_results = match rfb.get("tx_results") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(parse_outcome)
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err("tx_results is not an array".into()),
        };
        Ok(BlockPush {
            height,
            tx_count,
            tx_results: Some(tx_results),
            begin: Vec::new(),
            end: parse_events(rfb.get("events"))?,
        })
    } else {
        Ok(BlockPush {
            height,
            tx_count,
            tx_results: None,
            begin: parse_events(value.pointer("/result_begin_block/events"))?,
            end: parse_events(value.pointer("/result_end_block/events"))?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The websocket task.

struct WsTask {
    url: String,
    shared: Arc<Shared>,
    pushes: mpsc::Sender<Push>,
    shutdown: CancellationToken,
    options: EventHubOptions,
}

/// Why a websocket session ended.
enum SessionEnd {
    Shutdown,
    /// Failed; `healthy` when it delivered at least one push (resets the backoff).
    Failed {
        reason: String,
        healthy: bool,
    },
}

impl WsTask {
    async fn run(self) {
        let chain = self.shared.chain_id.clone();
        let mut attempt: u32 = 0;
        loop {
            let end = tokio::select! {
                _ = self.shutdown.cancelled() => SessionEnd::Shutdown,
                end = self.session() => end,
            };
            let (reason, healthy) = match end {
                SessionEnd::Shutdown => return,
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
            tracing::warn!(chain = %chain, %reason, ?delay, "event websocket lost; polling meanwhile, reconnecting");
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
        let failed = |reason: String, healthy| SessionEnd::Failed { reason, healthy };
        let connect = tokio_tungstenite::connect_async(self.url.as_str());
        let mut ws = match tokio::time::timeout(self.options.connect_timeout, connect).await {
            Err(_) => return failed(format!("connecting to {} timed out", self.url), false),
            Ok(Err(e)) => return failed(format!("connecting to {}: {e}", self.url), false),
            Ok(Ok((ws, _))) => ws,
        };
        for (id, query) in [
            (BLOCK_SUBSCRIPTION_ID, "tm.event='NewBlock'"),
            (TX_SUBSCRIPTION_ID, "tm.event='Tx'"),
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
            let push = match parse_frame(&text) {
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
                _ => None,
            };
            if self.pushes.send(push).await.is_err() {
                return SessionEnd::Shutdown;
            }
            healthy = true;
            if let Some(h) = gap {
                return failed(format!("NewBlock pushes skipped to {h}"), healthy);
            }
        }
    }
}

/// Exponential backoff from `min` doubling to `max`, each delay drawn from its upper half.
fn backoff(attempt: u32, min: Duration, max: Duration) -> Duration {
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

// ---------------------------------------------------------------------------------------------
// The core task.

/// What the websocket told about one undelivered height.
struct Pending {
    block: Option<BlockPush>,
    txs: BTreeMap<u32, TxOutcome>,
    /// When the height was first heard of.
    since: Instant,
}

impl Pending {
    fn new() -> Self {
        Self {
            block: None,
            txs: BTreeMap::new(),
            since: Instant::now(),
        }
    }

    /// The whole height, when the pushes are known to hold all of it.
    fn complete(&self) -> Option<BlockRecord> {
        let block = self.block.as_ref()?;
        let txs = match &block.tx_results {
            Some(results) if results.len() == block.tx_count => results.clone(),
            _ if self.txs.len() == block.tx_count
                && self.txs.keys().copied().eq(0..block.tx_count as u32) =>
            {
                self.txs.values().cloned().collect()
            }
            _ => return None,
        };
        Some(BlockRecord {
            height: block.height,
            begin: block.begin.clone(),
            txs,
            end: block.end.clone(),
        })
    }
}

struct Core {
    rpc: RpcClient,
    shared: Arc<Shared>,
    options: EventHubOptions,
    /// Highest height fully delivered.
    last_delivered: u64,
    /// Highest height known to exist.
    target: u64,
    connected: bool,
    /// When the websocket last pushed something.
    last_push: Instant,
    pending: BTreeMap<u64, Pending>,
}

impl Core {
    async fn run(
        mut self,
        mut pushes: mpsc::Receiver<Push>,
        start_height: Option<u64>,
        shutdown: CancellationToken,
    ) {
        let start = tokio::select! {
            _ = shutdown.cancelled() => return,
            s = self.starting_point(start_height) => s,
        };
        self.last_delivered = start;
        self.target = start;
        self.shared.latest.send_replace(start);
        let mut tick = tokio::time::interval(self.options.poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Catch up first when asked to.
        let mut poll_now = start_height.is_some();
        loop {
            if poll_now {
                poll_now = false;
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = self.poll_latest() => {}
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.advance() => {}
            }
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return,
                push = pushes.recv() => match push {
                    Some(p) => self.on_push(p),
                    None => return,
                },
                _ = tick.tick() => {
                    poll_now = !self.connected
                        || self.last_push.elapsed() >= self.options.stall_timeout;
                }
            }
        }
    }

    /// The height after which delivery starts.
    async fn starting_point(&self, start_height: Option<u64>) -> u64 {
        if let Some(s) = start_height {
            return s.saturating_sub(1);
        }
        let mut attempt = 0;
        loop {
            match self.rpc.status().await {
                Ok(s) => return s.sync_info.latest_block_height.value(),
                Err(e) => {
                    let delay =
                        backoff(attempt, self.options.backoff_min, self.options.backoff_max);
                    attempt += 1;
                    tracing::warn!(chain = %self.shared.chain_id, error = %e, ?delay, "event hub cannot learn the latest height; retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn poll_latest(&mut self) {
        match self.rpc.status().await {
            Ok(s) => {
                let h = s.sync_info.latest_block_height.value();
                self.target = self.target.max(h);
            }
            Err(e) => {
                tracing::debug!(chain = %self.shared.chain_id, error = %e, "polling the latest height failed");
            }
        }
    }

    fn on_push(&mut self, push: Push) {
        self.last_push = Instant::now();
        let height = match &push {
            Push::Connected => {
                self.connected = true;
                return;
            }
            Push::Disconnected => {
                // What an old connection told may be partial; polling fills those heights.
                self.connected = false;
                self.pending.clear();
                return;
            }
            Push::Block(b) => b.height,
            Push::Tx(t) => t.height,
        };
        self.target = self.target.max(height);
        if height <= self.last_delivered {
            return;
        }
        if !self.pending.contains_key(&height) && self.pending.len() >= MAX_PENDING_HEIGHTS {
            // Forget the highest; polling will fetch it.
            match self.pending.keys().next_back().copied() {
                Some(highest) if highest > height => {
                    self.pending.remove(&highest);
                }
                _ => return,
            }
        }
        let entry = self.pending.entry(height).or_insert_with(Pending::new);
        match push {
            Push::Block(b) => entry.block = Some(b),
            Push::Tx(t) => {
                entry.txs.insert(t.index, t.outcome);
            }
            Push::Connected | Push::Disconnected => {}
        }
    }

    /// Delivers every height it can, in order.
    async fn advance(&mut self) {
        loop {
            let next = self.last_delivered + 1;
            let record = match self.pending.get(&next) {
                Some(p) => match p.complete() {
                    Some(r) => {
                        tracing::trace!(chain = %self.shared.chain_id, height = next, "height complete from the websocket");
                        Some(r)
                    }
                    // Wait a little for the rest of the pushes while the websocket is healthy.
                    None if self.connected && p.since.elapsed() < self.options.ws_grace => return,
                    None => None,
                },
                None => None,
            };
            let record = match record {
                Some(r) => r,
                None if next > self.target => return,
                None => match self.fetch(next).await {
                    Some(r) => r,
                    None => return,
                },
            };
            self.deliver(record).await;
        }
    }

    /// `block_results` of `height`; `None` after logging when it failed (retried next tick).
    async fn fetch(&mut self, height: u64) -> Option<BlockRecord> {
        let h = Height::try_from(height).ok()?;
        match self.rpc.block_results(Some(h)).await {
            Ok(r) if r.height.value() == height => {
                tracing::trace!(chain = %self.shared.chain_id, height, "height fetched from block_results");
                Some(block_from_results(&r))
            }
            Ok(r) => {
                tracing::warn!(chain = %self.shared.chain_id, height, got = r.height.value(), "block_results answered for another height");
                None
            }
            Err(e) => {
                if let Some(lowest) = pruned_lowest(&e).filter(|l| *l > height) {
                    tracing::warn!(chain = %self.shared.chain_id, height, lowest, "heights pruned by the node; skipping them (clearing recovers their packets)");
                    self.last_delivered = lowest - 1;
                    self.shared.latest.send_replace(self.last_delivered);
                    self.pending.retain(|h, _| *h >= lowest);
                    return None;
                }
                tracing::warn!(chain = %self.shared.chain_id, height, error = %e, "fetching block_results failed; retrying");
                None
            }
        }
    }

    async fn deliver(&mut self, block: BlockRecord) {
        let height = block.height;
        self.pending.remove(&height);
        for event in packet_events(&self.shared.chain_id, &block) {
            let key = route(&event);
            let senders: Vec<mpsc::Sender<PacketEvent>> =
                match lock(&self.shared.subscribers).get(&key) {
                    Some(s) => s.clone(),
                    None => continue,
                };
            for sender in senders {
                match tokio::time::timeout(self.options.send_timeout, sender.send(event.clone()))
                    .await
                {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => self.forget(&key, &sender),
                    Err(_) => {
                        self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(chain = %self.shared.chain_id, height, port = %key.0, channel = %key.1, sequence = event.packet().sequence, "subscriber queue full for too long; event dropped (clearing recovers it)");
                    }
                }
            }
        }
        self.last_delivered = height;
        self.target = self.target.max(height);
        self.shared.latest.send_replace(height);
    }

    fn forget(&self, key: &ChannelKey, sender: &mpsc::Sender<PacketEvent>) {
        let mut subs = lock(&self.shared.subscribers);
        if let Some(list) = subs.get_mut(key) {
            list.retain(|s| !s.same_channel(sender));
            if list.is_empty() {
                subs.remove(key);
            }
        }
    }
}

/// The lowest available height from CometBFT's "height H is not available, lowest height is N".
fn pruned_lowest(e: &RpcError) -> Option<u64> {
    let text = e.to_string();
    let (_, rest) = text.split_once("lowest height is ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEND: &str = r#"[
        {"key":"packet_data_hex","value":"7b7d","index":true},
        {"key":"packet_timeout_height","value":"0-100"},
        {"key":"packet_timeout_timestamp","value":"0"},
        {"key":"packet_sequence","value":"7"},
        {"key":"packet_src_port","value":"transfer"},
        {"key":"packet_src_channel","value":"channel-0"},
        {"key":"packet_dst_port","value":"transfer"},
        {"key":"packet_dst_channel","value":"channel-1"}]"#;

    fn tx_push(code: u32, index: u32) -> String {
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"result":{{"query":"tm.event='Tx'","data":{{"type":"tendermint/event/Tx",
            "value":{{"TxResult":{{"height":"57","index":{index},"tx":"AA==","result":{{"code":{code},
            "events":[{{"type":"message","attributes":[]}},{{"type":"send_packet","attributes":{SEND}}}]}}}}}}}},"events":{{}}}}}}"#
        )
    }

    #[test]
    fn parses_tx_pushes_and_extracts_packets() {
        let Ok(Frame::Push(Push::Tx(t))) = parse_frame(&tx_push(0, 1)) else {
            panic!("not a tx push");
        };
        assert_eq!((t.height, t.index, t.outcome.code), (57, 1, 0));
        let block = BlockRecord {
            height: 57,
            txs: vec![
                t.outcome.clone(),
                TxOutcome {
                    code: 5,
                    ..t.outcome
                },
            ],
            ..Default::default()
        };
        let events = packet_events("c", &block);
        assert_eq!(events.len(), 1, "failed txs do not count");
        let PacketEvent::Send { height, packet } = &events[0] else {
            panic!("not a send: {events:?}");
        };
        assert_eq!(
            (*height, packet.sequence, packet.data.as_slice()),
            (57, 7, &b"{}"[..])
        );
        assert_eq!(route(&events[0]), ("transfer".into(), "channel-0".into()));
    }

    #[test]
    fn parses_new_block_and_judges_completeness() {
        let text = format!(
            r#"{{"jsonrpc":"2.0","id":2,"result":{{"data":{{"type":"tendermint/event/NewBlock","value":{{
            "block":{{"header":{{"height":"9"}},"data":{{"txs":["AA==","AQ=="]}}}},
            "result_finalize_block":{{"events":[{{"type":"timeout_packet","attributes":{SEND}}}],"tx_results":[{{}},{{"code":3}}]}}}}}}}}}}"#
        );
        let Ok(Frame::Push(Push::Block(b))) = parse_frame(&text) else {
            panic!("not a block push");
        };
        assert_eq!((b.height, b.tx_count), (9, 2));
        let mut p = Pending::new();
        p.block = Some(b.clone());
        let rec = p.complete().expect("v0.38 push is complete");
        assert_eq!(rec.txs[1].code, 3);
        assert!(matches!(
            packet_events("c", &rec)[..],
            [PacketEvent::TimedOut { height: 9, .. }]
        ));
        // Without tx results (v0.37), completeness needs every tx push.
        let mut p = Pending::new();
        p.block = Some(BlockPush {
            tx_results: None,
            ..b
        });
        assert!(p.complete().is_none());
        p.txs.insert(
            1,
            TxOutcome {
                code: 0,
                events: vec![],
            },
        );
        assert!(p.complete().is_none());
        p.txs.insert(
            0,
            TxOutcome {
                code: 0,
                events: vec![],
            },
        );
        assert_eq!(p.complete().map(|r| r.txs.len()), Some(2));
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        for text in [
            "",
            "nope",
            "{}",
            r#"{"result":{"data":{"type":"tendermint/event/Tx"}}}"#,
            r#"{"result":{"data":{"type":"tendermint/event/Tx","value":{"TxResult":{"height":1,"result":{"events":7}}}}}}"#,
            r#"{"result":{"data":{"type":"tendermint/event/NewBlock","value":{"block":{}}}}}"#,
            r#"{"result":{"data":{"type":"x","value":{}}}}"#,
        ] {
            assert!(parse_frame(text).is_err(), "{text}");
        }
        assert_eq!(
            parse_frame(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#),
            Ok(Frame::Ack)
        );
        let canceled = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"Server error","data":"subscription was canceled (reason: client is not pulling messages fast enough)"}}"#;
        assert!(
            matches!(parse_frame(canceled), Ok(Frame::Error(e)) if e.contains("subscription was canceled"))
        );
        // A malformed packet event is skipped, not fatal.
        let block = BlockRecord {
            height: 1,
            end: vec![RawEvent {
                kind: "send_packet".into(),
                attributes: vec![("packet_sequence".into(), "x".into())],
            }],
            ..Default::default()
        };
        assert!(packet_events("c", &block).is_empty());
    }

    #[test]
    fn backoff_grows_to_the_cap_with_jitter() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(5));
        for attempt in 0..40 {
            let d = backoff(attempt, min, max);
            let full = (min * 2u32.saturating_pow(attempt.min(16))).min(max);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }
}
