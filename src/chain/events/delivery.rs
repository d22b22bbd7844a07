//! The core task: the hub's delivery state. It collects what the websocket told about each
//! undelivered height, judges when a height is complete, fetches `/block_results` for the others
//! (and for every height while the websocket is down or silent), delivers heights strictly in
//! order, each exactly once (a height that cannot be fetched is set aside and delivered late),
//! and routes each packet event to the subscribers of its `(port, channel)` end without ever
//! waiting for one.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use ibc_proto::ibc::core::channel::v1::Packet;
use tendermint::block::Height;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::ledger::pruned_lowest;
use super::pushes::{BlockPush, Push};
use super::records::{
    block_from_results, channel_events, packet_events_counted, BlockRecord, TxOutcome,
};
use super::websocket::backoff;
use super::{lock, ChannelKey, EventHubOptions, Shared};
use crate::chain::rpc::RpcClient;
use crate::chain::types::PacketEvent;

/// Undelivered heights remembered from the websocket at most (the highest are forgotten first;
/// they are fetched by polling later).
const MAX_PENDING_HEIGHTS: usize = 2_000;

/// Failed fetches of one height, while the next height can be fetched, before it is set aside.
const SKIP_AFTER_FAILURES: u32 = 5;

/// Heights set aside at most (beyond, the oldest are given up to clearing).
const MAX_SET_ASIDE: usize = 1_024;

/// Heights with up to this many events are routed on the core's task; larger ones (a block of
/// thousands of transfers takes a noticeable part of a second to extract, record and hand out)
/// on the blocking pool, so the runtime's workers keep serving the channels' tasks. Heights
/// are still routed one at a time, in order.
const ROUTE_INLINE_MAX_EVENTS: usize = 2_000;

/// First and longest delay between background fetches of a set-aside height.
const SET_ASIDE_RETRY: (std::time::Duration, std::time::Duration) = (
    std::time::Duration::from_secs(5),
    std::time::Duration::from_secs(300),
);

/// A height that could not be fetched, retried in the background.
pub(super) struct SetAside {
    attempts: u32,
    next_try: Instant,
}

/// What fetching one height gave.
enum Fetched {
    Record(BlockRecord),
    /// The node pruned it (and the heights below its lowest); delivery moved on.
    Pruned,
    Failed,
}

/// What the websocket told about one undelivered height.
pub(super) struct HeightInProgress {
    pub(super) block: Option<BlockPush>,
    pub(super) txs: BTreeMap<u32, TxOutcome>,
    /// When the height was first heard of.
    since: Instant,
}

impl HeightInProgress {
    pub(super) fn new() -> Self {
        Self {
            block: None,
            txs: BTreeMap::new(),
            since: Instant::now(),
        }
    }

    /// The whole height, when the pushes are known to hold all of it, taken out of `self` (a
    /// block of thousands of transfers is megabytes of events: they move, they are not copied).
    pub(super) fn complete(&mut self) -> Option<BlockRecord> {
        let block = self.block.as_mut()?;
        let txs = match &mut block.tx_results {
            Some(results) if results.len() == block.tx_count => std::mem::take(results),
            _ if self.txs.len() == block.tx_count
                && self.txs.keys().copied().eq(0..block.tx_count as u32) =>
            {
                std::mem::take(&mut self.txs).into_values().collect()
            }
            _ => return None,
        };
        let block = self.block.take()?;
        Some(BlockRecord {
            height: block.height,
            hashes: block.hashes,
            begin: block.begin,
            txs,
            end: block.end,
        })
    }
}

pub(super) struct Core {
    pub(super) rpc: RpcClient,
    pub(super) shared: Arc<Shared>,
    pub(super) options: EventHubOptions,
    /// Highest height fully delivered.
    pub(super) last_delivered: u64,
    /// Highest height known to exist.
    pub(super) target: u64,
    pub(super) connected: bool,
    /// When the websocket last pushed something.
    pub(super) last_push: Instant,
    pub(super) pending: BTreeMap<u64, HeightInProgress>,
    /// The next height and how many times in a row fetching it failed.
    pub(super) failing: Option<(u64, u32)>,
    /// Heights delivery moved past without their events; fetched again in the background.
    pub(super) set_aside: BTreeMap<u64, SetAside>,
}

impl Core {
    /// A core that has delivered nothing yet.
    pub(super) fn new(rpc: RpcClient, shared: Arc<Shared>, options: EventHubOptions) -> Self {
        Self {
            rpc,
            shared,
            options,
            last_delivered: 0,
            target: 0,
            connected: false,
            last_push: Instant::now(),
            pending: BTreeMap::new(),
            failing: None,
            set_aside: BTreeMap::new(),
        }
    }

    /// Runs cores until `shutdown`, starting a fresh one (resuming after the last height
    /// delivered) when one panics: a dead core would leave every subscriber waiting for ever,
    /// since the hub's senders stay alive.
    pub(super) async fn supervise(
        rpc: RpcClient,
        shared: Arc<Shared>,
        options: EventHubOptions,
        mut pushes: mpsc::Receiver<Push>,
        start_height: Option<u64>,
        shutdown: CancellationToken,
    ) {
        use futures::FutureExt;
        let mut start = start_height;
        let mut restarts = 0u32;
        loop {
            let core = Core::new(rpc.clone(), shared.clone(), options.clone());
            let run = std::panic::AssertUnwindSafe(core.run(&mut pushes, start, shutdown.clone()));
            if run.catch_unwind().await.is_ok() {
                return;
            }
            restarts = restarts.saturating_add(1);
            shared.core_restarts.fetch_add(1, Ordering::Relaxed);
            let resume = *shared.latest.borrow() + 1;
            tracing::error!(chain = %shared.chain_id, restarts, resume, "event hub core panicked; restarting it after the last height delivered");
            start = Some(resume);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff(restarts, options.backoff_min, options.backoff_max)) => {}
            }
        }
    }

    async fn run(
        mut self,
        pushes: &mut mpsc::Receiver<Push>,
        start_height: Option<u64>,
        shutdown: CancellationToken,
    ) {
        let start = tokio::select! {
            _ = shutdown.cancelled() => return,
            s = self.starting_point(start_height) => s,
        };
        self.last_delivered = start;
        self.target = start;
        self.shared.ledger.hub_started(start);
        self.shared.latest.send_replace(start);
        let mut tick = tokio::time::interval(self.options.poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Catch up first when asked to.
        let mut poll_now = start_height.is_some();
        // Without a websocket task (or once it ended) the hub lives on polling alone.
        let mut pushes_open = true;
        loop {
            #[cfg(test)]
            if self.shared.crash_core.swap(false, Ordering::Relaxed) {
                panic!("event hub core crashed on request (test fault)");
            }
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
                push = pushes.recv(), if pushes_open => match push {
                    Some(p) => self.on_push(p),
                    None => pushes_open = false,
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
                    tracing::warn!(chain = %self.shared.chain_id, error = %e, delay = %crate::config::HumanDuration(delay), "event hub cannot learn the latest height; retrying");
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
        let entry = self
            .pending
            .entry(height)
            .or_insert_with(HeightInProgress::new);
        match push {
            Push::Block(b) => entry.block = Some(b),
            Push::Tx(t) => {
                entry.txs.insert(t.index, t.outcome);
            }
            Push::Connected | Push::Disconnected => {}
        }
    }

    /// Delivers every height it can, in order (and set-aside heights that can be had now).
    async fn advance(&mut self) {
        self.retry_set_aside().await;
        loop {
            let next = self.last_delivered + 1;
            let record = match self.pending.get_mut(&next) {
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
                    Fetched::Record(r) => {
                        self.failing = None;
                        r
                    }
                    Fetched::Pruned => return,
                    Fetched::Failed => match self.after_failure(next).await {
                        Some(r) => r,
                        None => return,
                    },
                },
            };
            self.deliver(record).await;
        }
    }

    /// Counts a failed fetch of `height`. After [`SKIP_AFTER_FAILURES`] in a row, when the next
    /// height can be fetched (so the node works and only this height is the trouble), sets
    /// `height` aside and returns the next one to deliver in its place.
    async fn after_failure(&mut self, height: u64) -> Option<BlockRecord> {
        let failures = match self.failing {
            Some((h, n)) if h == height => n + 1,
            _ => 1,
        };
        self.failing = Some((height, failures));
        if failures < SKIP_AFTER_FAILURES || height >= self.target {
            return None;
        }
        let Fetched::Record(next) = self.fetch(height + 1).await else {
            return None;
        };
        tracing::error!(chain = %self.shared.chain_id, height, failures, "block_results of this height keeps failing while later heights answer; moving on without it (fetched again in the background; clearing finds its packets meanwhile)");
        self.failing = None;
        self.set_aside.insert(
            height,
            SetAside {
                attempts: 0,
                next_try: Instant::now() + SET_ASIDE_RETRY.0,
            },
        );
        while self.set_aside.len() > MAX_SET_ASIDE {
            if let Some((given_up, _)) = self.set_aside.pop_first() {
                tracing::warn!(chain = %self.shared.chain_id, height = given_up, "too many heights set aside; giving this one up to clearing");
            }
        }
        // Delivery moves past `height`: its events come late, if at all.
        self.last_delivered = height;
        self.gap();
        Some(next)
    }

    /// Fetches the set-aside heights whose retry is due; delivers the events of those that
    /// answer now (late, out of order: subscribers act on packets, not on heights).
    async fn retry_set_aside(&mut self) {
        let now = Instant::now();
        let due: Vec<u64> = self
            .set_aside
            .iter()
            .filter(|(_, s)| s.next_try <= now)
            .map(|(h, _)| *h)
            .collect();
        for height in due {
            match self.fetch(height).await {
                Fetched::Record(record) => {
                    self.set_aside.remove(&height);
                    tracing::info!(chain = %self.shared.chain_id, height, "set-aside height fetched; delivering its events late");
                    self.shared.route_events(&record);
                }
                Fetched::Pruned => {
                    self.set_aside.remove(&height);
                }
                Fetched::Failed => {
                    if let Some(s) = self.set_aside.get_mut(&height) {
                        s.attempts = s.attempts.saturating_add(1);
                        let delay = SET_ASIDE_RETRY
                            .0
                            .saturating_mul(1u32 << s.attempts.min(8))
                            .min(SET_ASIDE_RETRY.1);
                        s.next_try = Instant::now() + delay;
                    }
                }
            }
        }
    }

    /// `block_results` of `height` (a failure is logged and retried next tick).
    async fn fetch(&mut self, height: u64) -> Fetched {
        let Ok(h) = Height::try_from(height) else {
            return Fetched::Failed;
        };
        match self.rpc.block_results(Some(h)).await {
            Ok(r) if r.height.value() == height => {
                tracing::trace!(chain = %self.shared.chain_id, height, "height fetched from block_results");
                Fetched::Record(block_from_results(&r))
            }
            Ok(r) => {
                tracing::warn!(chain = %self.shared.chain_id, height, got = r.height.value(), "block_results answered for another height");
                Fetched::Failed
            }
            Err(e) => {
                if let Some(lowest) = pruned_lowest(&e).filter(|l| *l > height) {
                    tracing::warn!(chain = %self.shared.chain_id, height, lowest, "heights pruned by the node; skipping them (clearing recovers their packets)");
                    self.last_delivered = lowest - 1;
                    self.shared.ledger.skipped_to(lowest);
                    self.gap();
                    self.shared.latest.send_replace(self.last_delivered);
                    self.pending.retain(|h, _| *h >= lowest);
                    self.set_aside.retain(|h, _| *h >= lowest);
                    return Fetched::Pruned;
                }
                tracing::warn!(chain = %self.shared.chain_id, height, error = %e, "fetching block_results failed; retrying");
                Fetched::Failed
            }
        }
    }

    async fn deliver(&mut self, block: BlockRecord) {
        let height = block.height;
        self.pending.remove(&height);
        let block = if block.event_count() <= ROUTE_INLINE_MAX_EVENTS {
            self.shared.route_events(&block);
            block
        } else {
            let shared = self.shared.clone();
            let routed = tokio::task::spawn_blocking(move || {
                shared.route_events(&block);
                block
            });
            match routed.await {
                Ok(block) => block,
                // A panic stays a panic of the core (its supervisor restarts it).
                Err(e) => match e.try_into_panic() {
                    Ok(panic) => std::panic::resume_unwind(panic),
                    Err(_) => return, // the runtime is shutting down
                },
            }
        };
        // Before the height is announced, so a confirmation woken by it finds its txs; the
        // results move there, the events were routed.
        self.shared.recent.record(block);
        self.last_delivered = height;
        self.target = self.target.max(height);
        self.shared.latest.send_replace(height);
    }

    /// Delivery passed over events it could not route (see `EventHub::gaps`).
    fn gap(&self) {
        self.shared.gap();
    }
}

impl Shared {
    /// Records `block`'s packet events in the ledger and hands each to the subscribers of its
    /// end, never waiting: a full queue loses the event (the subscriber is told to clear).
    fn route_events(&self, block: &BlockRecord) {
        let height = block.height;
        let (events, malformed) = packet_events_counted(&self.chain_id, block);
        // Recorded before anyone is told, so clearing finds what a slow subscriber dropped.
        self.ledger.record_block(height, &events);
        if malformed > 0 {
            self.gap();
        }
        self.route_channel_events(block);
        let mut lagging: Vec<ChannelKey> = Vec::new();
        for event in events {
            let key = route(&event);
            let senders: Vec<mpsc::Sender<PacketEvent>> = match lock(&self.subscribers).get(&key) {
                Some(s) => s.clone(),
                None => continue,
            };
            for sender in senders {
                match sender.try_send(event.clone()) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Closed(_)) => self.forget(&key, &sender),
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                        if !lagging.contains(&key) {
                            tracing::warn!(chain = %self.chain_id, height, port = %key.0, channel = %key.1, "subscriber queue full; dropping this channel's events of the height (its worker clears to catch up)");
                            lagging.push(key.clone());
                        }
                    }
                }
            }
        }
        for key in lagging {
            if let Some(n) = lock(&self.lagged).get(&key) {
                n.notify_one();
            }
        }
    }

    /// Hands `block`'s channel events to their subscribers, never waiting (a full queue moves
    /// the gap counter instead).
    fn route_channel_events(&self, block: &BlockRecord) {
        let events = channel_events(block);
        if events.is_empty() {
            return;
        }
        let mut subs = lock(&self.channel_subscribers);
        let mut lost = false;
        subs.retain(|tx| {
            for event in &events {
                match tx.try_send(event.clone()) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Closed(_)) => return false,
                    Err(mpsc::error::TrySendError::Full(_)) => lost = true,
                }
            }
            true
        });
        drop(subs);
        if lost {
            tracing::warn!(chain = %self.chain_id, height = block.height, "channel event queue full; dropping channel events (discovery rescans)");
            self.gap();
        }
    }

    /// Delivery passed over events it could not route (see `EventHub::gaps`).
    fn gap(&self) {
        self.gaps.send_modify(|n| *n += 1);
    }

    fn forget(&self, key: &ChannelKey, sender: &mpsc::Sender<PacketEvent>) {
        let mut subs = lock(&self.subscribers);
        if let Some(list) = subs.get_mut(key) {
            list.retain(|s| !s.same_channel(sender));
            if list.is_empty() {
                subs.remove(key);
            }
        }
    }
}

/// The `(port, channel)` end on this chain an event is routed by.
pub(super) fn route(event: &PacketEvent) -> ChannelKey {
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
