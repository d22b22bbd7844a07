//! Fault injection for reliability tests: the RPC servers consult [`Faults`] on every request,
//! and websocket connections watch the drop epoch. The standing RPC latency (a node far away)
//! lives here too, so it can be changed while the chain runs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// What the RPC should do with a request right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RpcFault {
    /// Answer normally.
    None,
    /// Answer with an internal error.
    Error,
    /// Wait this long, then answer normally.
    Slow(Duration),
}

/// Shared fault switches.
pub struct Faults {
    mode: Mutex<Option<(RpcFault, Instant)>>,
    ws_epoch: watch::Sender<u64>,
    latency: Mutex<Duration>,
    /// One height whose `block_results` fails, and until when.
    block_results: Mutex<Option<(u64, Instant)>>,
    /// While true, `broadcast_tx_*` requests wait before CheckTx.
    broadcasts_held: watch::Sender<bool>,
    /// Broadcasts waiting for [`Faults::release_broadcasts`].
    broadcasts_waiting: AtomicUsize,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            mode: Mutex::new(None),
            ws_epoch: watch::channel(0).0,
            latency: Mutex::new(Duration::ZERO),
            block_results: Mutex::new(None),
            broadcasts_held: watch::channel(false).0,
            broadcasts_waiting: AtomicUsize::new(0),
        }
    }
}

impl Faults {
    /// The fault to apply to a request arriving now.
    pub fn rpc_fault(&self) -> RpcFault {
        let mut mode = self.mode.lock().unwrap_or_else(|e| e.into_inner());
        match *mode {
            Some((fault, until)) if Instant::now() < until => fault,
            Some(_) => {
                *mode = None;
                RpcFault::None
            }
            None => RpcFault::None,
        }
    }

    /// The fault in force and how long it still lasts (`None` when the RPC answers normally).
    pub fn rpc_fault_state(&self) -> Option<(RpcFault, Duration)> {
        match self.rpc_fault() {
            RpcFault::None => None,
            fault => {
                let mode = self.mode.lock().unwrap_or_else(|e| e.into_inner());
                let left = mode.map_or(Duration::ZERO, |(_, until)| {
                    until.saturating_duration_since(Instant::now())
                });
                Some((fault, left))
            }
        }
    }

    /// Makes the RPC answer errors for `duration`.
    pub fn fail_rpc_for(&self, duration: Duration) {
        *self.mode.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((RpcFault::Error, Instant::now() + duration));
    }

    /// Makes the RPC answer each request after `delay`, for `duration`.
    pub fn slow_rpc_for(&self, delay: Duration, duration: Duration) {
        *self.mode.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((RpcFault::Slow(delay), Instant::now() + duration));
    }

    /// Ends any RPC fault now.
    pub fn heal_rpc(&self) {
        *self.mode.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Delays every RPC, websocket and gRPC answer by `delay` from now on (zero: no delay), as
    /// if the node were far away. Unlike [`Faults::slow_rpc_for`] it does not expire.
    pub fn set_rpc_latency(&self, delay: Duration) {
        *self.latency.lock().unwrap_or_else(|e| e.into_inner()) = delay;
    }

    /// The standing delay of every answer (see [`Faults::set_rpc_latency`]).
    pub fn rpc_latency(&self) -> Duration {
        *self.latency.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `block_results` of `height` (only that height) fail for `duration`, as a height too
    /// large to serve within a client's timeout or one a client cannot decode would.
    pub fn fail_block_results_at(&self, height: u64, duration: Duration) {
        *self.block_results.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((height, Instant::now() + duration));
    }

    /// The height whose `block_results` fails now, if any, and for how much longer.
    pub fn failing_block_results(&self) -> Option<(u64, Duration)> {
        let mut f = self.block_results.lock().unwrap_or_else(|e| e.into_inner());
        match *f {
            Some((height, until)) if Instant::now() < until => {
                Some((height, until.saturating_duration_since(Instant::now())))
            }
            Some(_) => {
                *f = None;
                None
            }
            None => None,
        }
    }

    /// Makes every `broadcast_tx_*` request wait, before its CheckTx, until
    /// [`Faults::release_broadcasts`]: a node whose mempool is slow to take txs. The other
    /// methods answer as usual meanwhile.
    pub fn hold_broadcasts(&self) {
        self.broadcasts_held.send_replace(true);
    }

    /// Lets the held broadcasts (and later ones) go on.
    pub fn release_broadcasts(&self) {
        self.broadcasts_held.send_replace(false);
    }

    /// How many broadcasts are waiting for [`Faults::release_broadcasts`].
    pub fn broadcasts_waiting(&self) -> usize {
        self.broadcasts_waiting.load(Ordering::SeqCst)
    }

    /// Waits while broadcasts are held (at once when they are not).
    pub async fn broadcast_gate(&self) {
        let mut held = self.broadcasts_held.subscribe();
        if !*held.borrow_and_update() {
            return;
        }
        /// Counts one waiting broadcast, also when its request is dropped while it waits.
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.broadcasts_waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.broadcasts_waiting);
        // The sender lives as long as `self`: the wait ends only with a release.
        let _ = held.wait_for(|held| !*held).await;
    }

    /// How many times websockets were dropped so far.
    pub fn websocket_drops(&self) -> u64 {
        *self.ws_epoch.borrow()
    }

    /// Closes every open websocket connection (connections watch [`Faults::ws_epoch`]).
    pub fn drop_websockets(&self) {
        self.ws_epoch.send_modify(|e| *e += 1);
    }

    /// A receiver that changes whenever websockets must be dropped.
    pub fn ws_epoch(&self) -> watch::Receiver<u64> {
        self.ws_epoch.subscribe()
    }
}
