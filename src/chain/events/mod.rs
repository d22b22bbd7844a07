//! The event hub of one chain: one websocket connection to CometBFT's `/websocket` with two
//! subscriptions (`tm.event='NewBlock'` and `tm.event='Tx'`), demultiplexed to per-channel
//! receivers, with a polling fallback over `block_results` that fills every height gap after a
//! dropped subscription or a restart, so no packet event is missed and none is seen twice. The
//! websocket is that of the RPC client's active endpoint (`ws://` or `wss://` with the chain's TLS
//! trust) and moves with it when the client fails over.
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
//! The hub never waits on a subscriber: one channel's burst must not hold back the events of
//! every other channel, the latest-height watch or the clearing it drives. An event for a full
//! queue is dropped for that subscriber (counted in [`EventHub::dropped_events`], logged once
//! per height and channel) and the channel's [`EventHub::lagged`] signal fires, so its worker
//! catches up from chain state by clearing at once. Receivers that were dropped are forgotten.
//!
//! [`EventHub::subscribe_channel_events`] hands out the channel handshake and close events
//! that open or close an end (discovery starts and marks workers from them), with the same
//! never-waiting rule. [`EventHub::gaps`] counts the times delivery passed over events it could
//! not route (pruned or set-aside heights, malformed packet events, a full channel-event
//! queue): whoever relies on events alone looks at the chain again when it moves.
//!
//! A height whose `block_results` keeps failing (too large for the timeout, undecodable) while
//! the next height can be fetched is not retried for ever in front of the others: after
//! `SKIP_AFTER_FAILURES` attempts it is set aside, the hub moves on, and the set-aside height is
//! fetched again in the background with a growing delay; its events are delivered when that
//! succeeds (meanwhile clearing, which reads the chain, finds its packets).
//!
//! # Where the parts live
//!
//! This module holds the handle ([`EventHub`]), its options and the state its two tasks share.
//! `websocket` is the websocket task and `pushes` parses what it reads; `delivery` is the core
//! task (completeness, gap filling, in-order delivery, demultiplexing); `records` is what a
//! height holds and the packet events extracted from it, the same whichever source it came from.
//! `ledger` keeps the data of the packets the hub delivered (and that a scan from a persisted
//! cursor found) for clearing; [`EventHub::ledger`] reaches it. `included` keeps the tx hashes
//! and results of the most recent heights, which TxEngines confirm their txs from
//! ([`EventHub::included`]).

mod delivery;
#[cfg(test)]
mod hub_tests;
mod included;
pub(crate) mod ledger;
mod pushes;
mod records;
#[cfg(test)]
mod tests;
mod websocket;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::rpc::RpcClient;
use super::types::{ChannelEvent, PacketEvent};
use delivery::Core;
pub use included::{HeightTxs, IncludedTx};
use websocket::WsTask;

/// Pushes queued from the websocket task to the core.
const PUSH_QUEUE: usize = 1_024;
/// Capacity of each [`EventHub::subscribe_channel_events`] queue.
const CHANNEL_EVENT_QUEUE: usize = 1_024;

/// Tunables of an [`EventHub`]; [`Default`] gives production values.
#[derive(Clone, Debug)]
pub(crate) struct EventHubOptions {
    /// Capacity of each subscriber's queue.
    pub(crate) queue_capacity: usize,
    /// How often the latest height is polled while the websocket is down or silent, and how
    /// often failed fetches are retried.
    pub(crate) poll_interval: Duration,
    /// How long an incomplete height waits for its remaining pushes before it is fetched.
    pub(crate) ws_grace: Duration,
    /// A websocket silent this long is considered broken (reconnect, and poll meanwhile).
    pub(crate) stall_timeout: Duration,
    /// Bound on connecting and subscribing.
    pub(crate) connect_timeout: Duration,
    /// First reconnect delay.
    pub(crate) backoff_min: Duration,
    /// Reconnect delay cap.
    pub(crate) backoff_max: Duration,
    /// Subscribe over the websocket (on by default); off, every height comes from polling.
    pub(crate) use_websocket: bool,
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
            use_websocket: true,
        }
    }
}

type ChannelKey = (String, String);

struct Shared {
    chain_id: String,
    subscribers: Mutex<HashMap<ChannelKey, Vec<mpsc::Sender<PacketEvent>>>>,
    latest: watch::Sender<u64>,
    /// Per channel end, fired when an event for it was dropped (see [`EventHub::lagged`]).
    lagged: Mutex<HashMap<ChannelKey, Arc<Notify>>>,
    /// Receivers of the channel handshake and close events (see
    /// [`EventHub::subscribe_channel_events`]).
    channel_subscribers: Mutex<Vec<mpsc::Sender<ChannelEvent>>>,
    /// Counts the times delivery passed over events it could not route (see [`EventHub::gaps`]).
    gaps: watch::Sender<u64>,
    reconnects: AtomicU64,
    dropped: AtomicU64,
    /// Times the core task panicked and was started again.
    core_restarts: AtomicU64,
    /// Test fault: the core panics at its next turn.
    #[cfg(test)]
    crash_core: std::sync::atomic::AtomicBool,
    queue_capacity: usize,
    ledger: ledger::PacketLedger,
    /// The txs of the most recent delivered heights, for confirmations.
    recent: included::RecentTxs,
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
    /// Starts the hub of `chain_id` with default [`EventHubOptions`]. See the module doc. The
    /// websocket is that of `rpc`'s active endpoint, and follows it when failover moves it.
    pub fn spawn(
        rpc: RpcClient,
        chain_id: impl Into<String>,
        start_height: Option<u64>,
        shutdown: CancellationToken,
    ) -> EventHub {
        Self::spawn_with(
            rpc,
            chain_id,
            start_height,
            shutdown,
            EventHubOptions::default(),
        )
    }

    /// Starts the hub of `chain_id` with `options`. Its tasks end when `shutdown` is cancelled.
    pub(crate) fn spawn_with(
        rpc: RpcClient,
        chain_id: impl Into<String>,
        start_height: Option<u64>,
        shutdown: CancellationToken,
        options: EventHubOptions,
    ) -> EventHub {
        let chain_id: String = chain_id.into();
        let shared = Arc::new(Shared {
            ledger: ledger::PacketLedger::new(&chain_id),
            chain_id,
            subscribers: Mutex::new(HashMap::new()),
            latest: watch::channel(0).0,
            lagged: Mutex::new(HashMap::new()),
            channel_subscribers: Mutex::new(Vec::new()),
            gaps: watch::channel(0).0,
            reconnects: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            core_restarts: AtomicU64::new(0),
            #[cfg(test)]
            crash_core: std::sync::atomic::AtomicBool::new(false),
            queue_capacity: options.queue_capacity.max(1),
            recent: included::RecentTxs::default(),
        });
        let (push_tx, push_rx) = mpsc::channel(PUSH_QUEUE);
        let tasks = TaskTracker::new();
        let ws = WsTask {
            rpc: rpc.clone(),
            shared: shared.clone(),
            pushes: push_tx,
            shutdown: shutdown.clone(),
            options: options.clone(),
        };
        if ws.options.use_websocket {
            tasks.spawn(ws.run());
        }
        tasks.spawn(Core::supervise(
            rpc,
            shared.clone(),
            options,
            push_rx,
            start_height,
            shutdown,
        ));
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

    /// Fires when an event for `(port, channel)` had to be dropped because a subscriber's queue
    /// was full: the subscriber should catch up from chain state (clear).
    pub(crate) fn lagged(&self, port: &str, channel: &str) -> Arc<Notify> {
        lock(&self.shared.lagged)
            .entry((port.to_string(), channel.to_string()))
            .or_default()
            .clone()
    }

    /// A receiver of the channel events of this chain that open or close an end
    /// (`channel_open_ack`, `channel_open_confirm`, `channel_close_init`,
    /// `channel_close_confirm`), of the heights delivered after the call. Never waited on: when
    /// the queue is full the event is dropped and [`EventHub::gaps`] moves.
    pub(crate) fn subscribe_channel_events(&self) -> mpsc::Receiver<ChannelEvent> {
        let (tx, rx) = mpsc::channel(CHANNEL_EVENT_QUEUE);
        lock(&self.shared.channel_subscribers).push(tx);
        rx
    }

    /// A counter that moves each time delivery passed over events without handing them to
    /// their subscribers: heights the node pruned before they were fetched, a height set aside
    /// because its `block_results` keeps failing, a packet event too malformed to route, a
    /// channel event dropped on a full queue. Whoever acts only on events (a channel worker that
    /// skips clearing while its channel is quiet, discovery waiting for handshake events) must
    /// look at the chain again when it moves.
    pub(crate) fn gaps(&self) -> watch::Receiver<u64> {
        self.shared.gaps.subscribe()
    }

    /// The highest height fully delivered (0 until the hub knows where it starts).
    pub fn latest_height(&self) -> watch::Receiver<u64> {
        self.shared.latest.subscribe()
    }

    /// The txs of delivered height `height` (hashes and results), while it is among the
    /// most recent ones: what a TxEngine confirms its txs from (see `included`).
    pub fn included(&self, height: u64) -> Option<Arc<HeightTxs>> {
        self.shared.recent.get(height)
    }

    /// The data of the packets this hub delivered, for clearing (see `ledger`).
    pub(crate) fn ledger(&self) -> &ledger::PacketLedger {
        &self.shared.ledger
    }

    /// Times the hub's core task panicked and was started again (resuming after the last height
    /// it delivered).
    pub fn core_restarts(&self) -> u64 {
        self.shared.core_restarts.load(Ordering::Relaxed)
    }

    /// Test fault: makes the core task panic at its next turn.
    #[cfg(test)]
    pub(crate) fn crash_core(&self) {
        self.shared.crash_core.store(true, Ordering::Relaxed);
    }

    /// Events dropped because a subscriber's queue was full (see the module doc).
    pub fn dropped_events(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// How many times the websocket was lost or could not be (re)established.
    pub fn reconnects(&self) -> u64 {
        self.shared.reconnects.load(Ordering::Relaxed)
    }

    /// Waits until the hub's tasks have ended (after the shutdown token is cancelled).
    pub async fn stopped(&self) {
        self.tasks.wait().await
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
