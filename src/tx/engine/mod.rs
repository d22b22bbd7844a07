//! The TxEngine of one chain and signer: workers hand it relay items and get each outcome back on
//! a oneshot. It batches items into txs bounded by `max_msg_num`, `max_tx_size` and `max_gas`,
//! proves them all at one height on the counterparty and puts one `MsgUpdateClient` in front,
//! estimates gas with Simulate, tracks the account sequence locally (recovering it from
//! "expected N" on code 32), broadcasts with `broadcast_tx_sync` and confirms inclusion
//! asynchronously.
//!
//! # Shape
//!
//! [`TxEngine`] is a cheap handle around the engine's [`intake`]: one bounded queue per *lane*
//! (one channel's work on this chain, and one lane for `submit_msgs` sets), at most
//! [`intake::LANE_CAPACITY`] requests each; a full lane is back-pressure on that channel's
//! callers only, and a lane disappears with its last request. One task, the *submitter*, runs
//! the engine as a pipeline of two halves joined by a short queue of cut txs
//! ([`submitter::PLANS_AHEAD`]): the *builder* does steps 1-3 for the next batch while the
//! *broadcaster*, which alone owns the signer and its sequence (nothing about the sequence is
//! shared or locked), does steps 4-5 for the current one. At most `max_txs_in_flight` broadcast
//! txs wait for their block at once:
//!
//! 1. the builder waits for a first request, then gathers more for `batch_window` or until
//!    `max_msg_num − 1` items (room for the client update), taking them one per lane in turn:
//!    a quiet channel's item goes into the next batch whatever a busy channel has queued;
//! 2. relay items are grouped by client id. For a group it takes `H` = counterparty latest
//!    height − 1 (so header `H + 1` exists), reads this chain's client state (trusted height
//!    `T`), proves every item at `H` and builds its message with proof height `H + 1`;
//! 3. the group is cut into txs of at most `max_msg_num` messages and `max_tx_size` bytes, each
//!    with room for a `MsgUpdateClient` to `H + 1` (trusting `T`) when `T < H + 1`. Only the
//!    first tx for a (client, `H + 1`) carries it: once that tx passed CheckTx, the node's check
//!    state holds the consensus state, and this signer's later txs execute after it, so they go
//!    without; a carrier that fails or is lost is forgotten and the next tx carries the update
//!    again ([`updates`]);
//! 4. gas is `simulate × gas_multiplier`; a tx whose estimate exceeds `max_gas` is split in two
//!    (each half with the update) until it fits; a single item still above `max_gas` is not
//!    broadcast (it would fail and pay). A simulation answered with a sequence mismatch
//!    resynchronises the sequence and simulates again; one the chain refused is split or not
//!    sent; other failures use `default_gas`; all are counted by cause ([`gas`]). The fee is
//!    `ceil(gas × price)`, the price fixed or following the chain's fee market ([`price`]);
//! 5. the broadcaster signs the tx at the local sequence and broadcast with `broadcast_tx_sync`. Code 0
//!    advances the sequence and hands the tx to a confirmation task; code 32 sets the sequence
//!    from "expected N" (or re-queries the account) and re-signs, a few times; code 22 "packet
//!    messages are redundant" makes every item of the tx [`Outcome::RedundantInMempool`]
//!    without advancing the sequence (a tx still pending elsewhere also causes it, so it is not
//!    final); code 13 (insufficient fee) with a dynamic price re-reads the price and re-signs
//!    when it changed; anything else fails the tx's items.
//!
//! Confirmation tasks look for their tx in each height the chain's event hub delivers (its tx
//! hashes and results, no request: [`blocks`]) until `confirm_timeout`; without a live hub they
//! poll `/tx` by hash every `confirm_poll` (on a node without a tx index, the blocks since the
//! broadcast instead, each fetched once for all of them). They live in a `JoinSet` of the
//! broadcaster, so it signs the next tx while earlier txs confirm (sequence n + 1 is signed
//! while n waits in the mempool). An
//! executed tx gives [`Outcome::Done`] to each item, or [`Outcome::Redundant`] to an item whose
//! message response is NOOP (another relayer's tx got there first in the same or an earlier
//! block). A tx can also vanish after passing CheckTx: the mempool re-checks its txs after each
//! block and evicts those that became redundant (and, behind them, those whose sequence no longer
//! fits). About once a block a waiting task therefore asks whether the account's committed
//! sequence has passed the tx's (one query per engine and block, shared by its waiting txs;
//! then the tx is lost) and, after a few blocks, whether every
//! item's effect is already on chain (then the tx is moot). Items of a lost tx whose effect is on
//! chain anyway are `Redundant`; the others fail, retryable.
//!
//! A tx that fails in its block has paid its fee (counted in `arke_fees_wasted_total`). Its
//! confirmation blames the message the SDK names ("message index: N"): that item fails, not
//! retryable (clearing finds it again and the relay step decides afresh), and the task hands
//! the others back to the submitter, which sends them again at once without it, without an
//! outcome (no failed attempt is charged to them). A failing lead (the client update) fails
//! every item, retryable; a log without an index splits the plan in halves
//! ([`plan::TxPlan::blame`]).
//!
//! Before a batch is proved, an engine given its chain's mempool view holds back the items that
//! another signer's tx waiting in the mempool already carries ([`hold`]): they wait, without an
//! outcome, and are looked at again at the next block; they are `Redundant` once their effect is
//! on chain, and are submitted when that tx left the mempool without it (evicted or failed).
//!
//! An item whose commitment or acknowledgement is absent at `H` is not failed at once: the event
//! that produced it may be in block `H + 1`. It waits in the submitter for the counterparty to advance
//! and is proved again; after `defer_blocks` more blocks without it, a `Recv` is `Redundant` (the
//! commitment is gone: the packet was acknowledged or timed out) and an `Ack` fails.
//!
//! # Shutdown
//!
//! When the token is cancelled (SIGTERM) intake stops at once: nothing is signed or broadcast
//! from then on, neither queued requests nor deferred items nor plans of a batch already cut
//! (the check comes before every signature), nor the retry of a failed tx's other items; all of
//! them get a retryable [`Outcome::Failed`] ("tx engine stopped"), and clearing finds them
//! after the restart. The submitter then waits only for the txs already broadcast, for at most
//! the options' `shutdown_grace` (the daemon's grace minus a margin) rather than
//! `confirm_timeout`: when it is over, the confirmations still waiting give up and their items
//! fail, retryable. The same happens when every handle is dropped.
//!
//! # Layout
//!
//! This module holds the handle, its requests and [`Outcome`]; [`intake`] holds the lanes; the
//! task lives in [`submitter`]
//! (its two halves, their loops and shutdown), [`batch`] (grouping, proving, cutting into txs), [`gas`]
//! (simulation and splitting), [`price`] (the gas price), [`broadcast`] (signing, broadcast,
//! sequence and fee recovery) and
//! [`confirm`] (following a tx to its block), [`blocks`] (finding it there without a tx index),
//! [`hold`] (holding back what another signer's pending tx carries);
//! [`plan`] is one tx's messages and waiters; [`updates`] which client updates earlier txs carry.

mod batch;
mod blocks;
mod broadcast;
#[cfg(test)]
mod carrier_tests;
mod carriers;
mod confirm;
#[cfg(test)]
mod confirmation_tests;
mod gas;
mod hold;
mod intake;
mod plan;
mod price;
mod submitter;
#[cfg(test)]
mod supervision_tests;
#[cfg(test)]
mod tests;
mod updates;

use std::sync::Arc;
use std::time::Duration;

use ibc_proto::google::protobuf::Any;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{info_span, Instrument};

use crate::chain::query::IbcQuerier;
use crate::chain::types::RelayItem;
use crate::config::ChainConfig;

use super::sign::TxSigner;
pub use carriers::UpdateCarriers;
use intake::{Intake, Lane, Producer};
use submitter::Submitter;

/// What became of a submitted item or message set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Included in a block with code 0 and executed.
    Done {
        /// Upper-case hex tx hash.
        tx_hash: String,
        /// Block height.
        height: u64,
    },
    /// Another relayer got there first, as the chain shows: a NOOP result in an executed tx, or
    /// the effect already on chain. Counts as done.
    Redundant,
    /// CheckTx refused the tx with code 22 "packet messages are redundant": another tx with
    /// these packets exists, but perhaps only in the mempool (another relayer's, or ours after
    /// a "lost" verdict), where it may still be evicted. Nothing was paid; not final.
    RedundantInMempool,
    /// Failed; `retryable` tells whether trying again later can help.
    Failed {
        /// Why.
        reason: String,
        /// Whether to retry.
        retryable: bool,
    },
}

impl Outcome {
    fn failed(reason: impl Into<String>, retryable: bool) -> Self {
        Self::Failed {
            reason: reason.into(),
            retryable,
        }
    }
}

/// Tuning of a [`TxEngine`] beyond the chain's config.
#[derive(Clone, Debug)]
pub(crate) struct TxEngineOptions {
    /// Requests one lane (one channel's work, or message sets) may hold: [`intake`].
    pub(crate) lane_capacity: usize,
    /// How long the submitter gathers more requests after the first one.
    pub(crate) batch_window: Duration,
    /// Interval between `/tx` polls of a pending tx (about half a block).
    pub(crate) confirm_poll: Duration,
    /// How long a broadcast tx may take to appear in a block before its items fail.
    pub(crate) confirm_timeout: Duration,
    /// Counterparty blocks an item may stay unprovable (commitment or ack absent) before it is
    /// settled.
    pub(crate) defer_blocks: u64,
    /// Re-signs after an account sequence mismatch (code 32), per tx; as many re-simulations
    /// after a simulation answered with a mismatch.
    pub(crate) sequence_retries: u32,
    /// How long after shutdown the engine waits for its broadcast txs to confirm (every wait is
    /// bounded by what is left of it, whatever `confirm_timeout` says).
    pub(crate) shutdown_grace: Duration,
    /// The chain's event hub: txs are confirmed from the blocks it delivers instead of by
    /// polling the node (see [`blocks`]).
    pub(crate) blocks_from: Option<crate::chain::events::EventHub>,
    /// The chain's mempool view: packet messages another signer's pending tx carries are held
    /// back (see [`hold`]).
    pub(crate) mempool: Option<crate::chain::mempool::MempoolView>,
    /// Who carries a client update among the signers relaying to the chain: plans whose update
    /// another signer is to carry wait for it (see [`carriers`]).
    pub(crate) update_carriers: Option<Arc<dyn UpdateCarriers>>,
}

impl TxEngineOptions {
    /// The defaults, waiting at shutdown for most of the daemon's `grace` (the rest is left for
    /// the workers and the other tasks to end within it).
    pub(crate) fn within_grace(grace: Duration) -> Self {
        Self {
            shutdown_grace: grace.saturating_sub((grace / 10).max(Duration::from_millis(500))),
            ..Self::default()
        }
    }
}

impl Default for TxEngineOptions {
    fn default() -> Self {
        Self {
            lane_capacity: intake::LANE_CAPACITY,
            batch_window: Duration::from_millis(100),
            confirm_poll: Duration::from_millis(250),
            confirm_timeout: Duration::from_secs(60),
            defer_blocks: 3,
            sequence_retries: 4,
            shutdown_grace: Duration::from_secs(27),
            blocks_from: None,
            mempool: None,
            update_carriers: None,
        }
    }
}

/// A relay item waiting for its tx.
struct PendingItem {
    client_id: String,
    item: RelayItem,
    reply: oneshot::Sender<Outcome>,
    /// (first, last) counterparty heights at which its proof found nothing.
    absent_at: Option<(u64, u64)>,
    /// Whether it is held back for another signer's pending tx.
    hold: hold::Hold,
}

enum Request {
    Relay(Box<PendingItem>),
    Msgs {
        msgs: Vec<Any>,
        reply: oneshot::Sender<Outcome>,
    },
}

impl Request {
    fn fail(self, outcome: Outcome) {
        let reply = match self {
            Request::Relay(p) => p.reply,
            Request::Msgs { reply, .. } => reply,
        };
        let _ = reply.send(outcome);
    }
}

/// Runs submitters made by `make` over `requests` until one returns (shutdown, or every handle
/// dropped). A submitter that panics is replaced by a fresh one after a short backoff: the
/// handles' senders stay alive, so a dead submitter would stall every worker of the chain. Items
/// it held (deferred, in a tx being built or confirmed) see their reply dropped, which callers
/// treat as a retryable failure; what is queued waits for the new submitter.
async fn supervise(make: impl Fn() -> Submitter, requests: Arc<Intake>) {
    use futures::FutureExt;
    let mut restarts = 0u32;
    loop {
        let submitter = make();
        let stop = submitter.stop();
        let chain = submitter.chain_id().to_string();
        let run = std::panic::AssertUnwindSafe(submitter.run(&requests));
        if run.catch_unwind().await.is_ok() {
            return;
        }
        restarts = restarts.saturating_add(1);
        crate::telemetry::metrics::metrics()
            .engine_restarts
            .inc(&[chain.as_str()]);
        tracing::error!(chain = %chain, restarts, "tx engine panicked; starting a fresh one");
        if stop.is_cancelled() {
            return;
        }
        let delay = Duration::from_millis(200)
            .saturating_mul(1u32 << restarts.min(8))
            .min(Duration::from_secs(30));
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

fn stopped() -> Outcome {
    Outcome::failed("tx engine stopped", true)
}

/// A handle to a running TxEngine. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TxEngine {
    intake: Arc<Producer>,
    /// Test fault: makes the submitter panic at its next request.
    #[cfg(test)]
    crash: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Request::Relay(p) => write!(
                f,
                "Relay({} {} seq {})",
                p.client_id, p.item.kind, p.item.packet.sequence
            ),
            Request::Msgs { msgs, .. } => write!(f, "Msgs({})", msgs.len()),
        }
    }
}

impl TxEngine {
    /// Starts the engine of `config`'s chain (`host`), signing with `key`, proving items on
    /// `counterparty`, with default [`TxEngineOptions`]. The task ends after `shutdown` is
    /// cancelled and pending confirmations are settled.
    pub fn spawn(
        config: &ChainConfig,
        host: IbcQuerier,
        counterparty: IbcQuerier,
        key: cosmos::AccountKey,
        shutdown: CancellationToken,
    ) -> (TxEngine, JoinHandle<()>) {
        Self::spawn_with(
            config,
            host,
            counterparty,
            key,
            shutdown,
            TxEngineOptions::default(),
        )
    }

    /// [`TxEngine::spawn`] with explicit options.
    pub(crate) fn spawn_with(
        config: &ChainConfig,
        host: IbcQuerier,
        counterparty: IbcQuerier,
        key: cosmos::AccountKey,
        shutdown: CancellationToken,
        options: TxEngineOptions,
    ) -> (TxEngine, JoinHandle<()>) {
        let intake = Arc::new(Intake::new(options.lane_capacity));
        let signer = TxSigner::new(key, &config.account_prefix, host.chain_id())
            .with_fee_options(config.fee_granter.clone(), config.memo_prefix.as_deref());
        let pricer = price::Pricer::new(config.gas_price.clone(), config.dynamic_gas_price);
        crate::telemetry::metrics::metrics().gas_price.set(
            &[host.chain_id(), &config.gas_price.denom],
            pricer.current().price,
        );
        let span = info_span!("tx_engine", chain = %host.chain_id(), signer = %signer.address());
        let limits = Limits {
            gas_multiplier: config.gas_multiplier,
            max_gas: config.max_gas.max(1),
            default_gas: config.default_gas.clamp(1, config.max_gas.max(1)),
            max_msg_num: config.max_msg_num.max(1),
            max_tx_size: config.max_tx_size,
            max_txs_in_flight: config.max_txs_in_flight.max(1),
        };
        let (gas_price, dynamic) = (config.gas_price.clone(), config.dynamic_gas_price);
        #[cfg(test)]
        let crash = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        #[cfg(test)]
        let crash_hook = crash.clone();
        // A fresh submitter: it loads the account again, so a restart resumes at the chain's
        // sequence.
        let submitter = move || {
            let pricer = price::Pricer::new(gas_price.clone(), dynamic);
            let (plans_tx, plans) = tokio::sync::mpsc::channel(submitter::PLANS_AHEAD);
            let updates = std::sync::Arc::<updates::Updates>::default();
            let stop = shutdown.child_token();
            let blocks = blocks::BlockSource::new(options.blocks_from.clone());
            // Sized at the highest sequence and price the signer can reach, so that a cut tx
            // never outgrows `max_tx_size` once signed.
            let mut sizing = signer.clone();
            sizing.set_sequence(u64::MAX);
            let envelope = sizing.envelope_size(limits.max_gas, &pricer.highest());
            Submitter {
                builder: submitter::Builder {
                    host: host.clone(),
                    counterparty: counterparty.clone(),
                    address: signer.address().to_string(),
                    envelope,
                    limits: limits.clone(),
                    options: options.clone(),
                    deferred: Vec::new(),
                    updates: updates.clone(),
                    plans: plans_tx,
                    blocks: blocks.clone(),
                    stop: stop.clone(),
                    #[cfg(test)]
                    crash: crash.clone(),
                },
                broadcaster: submitter::Broadcaster {
                    host: host.clone(),
                    counterparty: counterparty.clone(),
                    signer: signer.clone(),
                    account_loaded: false,
                    pricer,
                    over_max_gas_seen: gas::OverMaxGas::default(),
                    limits: limits.clone(),
                    options: options.clone(),
                    confirmations: JoinSet::new(),
                    awaiting: Vec::new(),
                    blocks,
                    updates,
                    stop,
                    give_up: CancellationToken::new(),
                },
                plans,
            }
        };
        let handle = tokio::spawn(supervise(submitter, intake.clone()).instrument(span));
        let engine = TxEngine {
            intake: Arc::new(Producer(intake)),
            #[cfg(test)]
            crash: crash_hook,
        };
        (engine, handle)
    }

    /// Test fault: the engine's submitter panics at its next request.
    #[cfg(test)]
    pub(crate) fn crash(&self) {
        self.crash.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Queues `item` for submission on this engine's chain; its proof comes from the
    /// counterparty, verified through client `client_id` (the counterparty's client on this
    /// chain). The outcome arrives on the returned receiver once the tx is confirmed or failed.
    ///
    /// The item waits in its channel's lane ([`intake`]): a full lane makes this call wait, the
    /// lanes of other channels are not affected.
    pub async fn submit(&self, client_id: &str, item: RelayItem) -> oneshot::Receiver<Outcome> {
        let (reply, rx) = oneshot::channel();
        let lane = Lane::of(&item);
        let request = Request::Relay(Box::new(PendingItem {
            client_id: client_id.to_string(),
            item,
            reply,
            absent_at: None,
            hold: hold::Hold::Free,
        }));
        if let Err(request) = self.intake.0.push(lane, request).await {
            request.fail(stopped());
        }
        rx
    }

    /// Signs and broadcasts `msgs` as one tx (no proofs, no client update), waiting for the
    /// outcome: for handshakes, client creation and transfers.
    pub async fn submit_msgs(&self, msgs: Vec<Any>) -> Outcome {
        let (reply, rx) = oneshot::channel();
        let request = Request::Msgs { msgs, reply };
        if let Err(request) = self.intake.0.push(Lane::Msgs, request).await {
            request.fail(stopped());
        }
        rx.await.unwrap_or_else(|_| stopped())
    }
}

/// The chain's tx limits (prices are the [`price::Pricer`]'s).
#[derive(Clone, Debug)]
struct Limits {
    gas_multiplier: f64,
    max_gas: u64,
    default_gas: u64,
    max_msg_num: usize,
    max_tx_size: usize,
    /// Broadcast txs that may wait for their confirmation at once.
    max_txs_in_flight: usize,
}
