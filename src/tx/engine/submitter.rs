//! The engine's task, the *submitter*, a pipeline of two halves joined by a bounded queue of
//! cut txs ([`PLANS_AHEAD`] of them), both run by the one task so that one supervisor restarts
//! them together:
//!
//! - the [`Builder`] takes requests from the intake, gathers them into batches, screens them
//!   against other signers' pending txs, proves them, builds the client update and cuts txs
//!   ([`super::batch`], [`super::hold`]);
//! - the [`Broadcaster`] owns the signer and its sequence: it simulates, signs and broadcasts
//!   each cut tx ([`super::gas`], [`super::broadcast`]), hands it to a confirmation task
//!   ([`super::confirm`]) and sends again the items of a failed tx that were not to blame.
//!
//! So the next batch is proved and its header fetched while the current one is simulated and
//! broadcast, and several txs of the signer wait in the mempool at once (sequence n + 1 is signed
//! while n waits). At most `max_txs_in_flight` broadcast txs wait for their confirmation; the
//! broadcaster takes the next tx only when one of them is settled, and the builder waits when
//! [`PLANS_AHEAD`] txs are cut and not yet taken.
//!
//! On shutdown the builder stops taking work and fails what is queued or deferred; the
//! broadcaster fails the cut txs it did not sign and waits for pending confirmations within its
//! grace.

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::chain::query::IbcQuerier;

use super::gas::OverMaxGas;
use super::intake::Intake;
use super::plan::TxPlan;
use super::price::Pricer;
use super::{stopped, Limits, PendingItem, TxEngineOptions, TxSigner};

/// Cut txs the builder may have ready before the broadcaster takes them: enough for the next
/// batch to be proved while the current one is broadcast, few enough that proofs are not built
/// far ahead of the chain.
pub(super) const PLANS_AHEAD: usize = 2;

/// The engine's task: a builder and a broadcaster joined by a queue of cut txs.
pub(super) struct Submitter {
    pub(super) builder: Builder,
    pub(super) broadcaster: Broadcaster,
    pub(super) plans: mpsc::Receiver<TxPlan>,
}

/// The half that batches, proves and cuts txs.
pub(super) struct Builder {
    pub(super) host: IbcQuerier,
    pub(super) counterparty: IbcQuerier,
    /// The signer's address (the messages' signer field).
    pub(super) address: String,
    /// Bytes of a tx around its messages, at most (for cutting by `max_tx_size`).
    pub(super) envelope: usize,
    pub(super) limits: Limits,
    pub(super) options: TxEngineOptions,
    /// Items waiting for a later block (not provable yet, or held back).
    pub(super) deferred: Vec<PendingItem>,
    /// Client updates built and carried (shared with the broadcaster and its confirmations).
    pub(super) updates: std::sync::Arc<super::updates::Updates>,
    /// Cut txs, to the broadcaster.
    pub(super) plans: mpsc::Sender<TxPlan>,
    /// Its chain's blocks (the height the event hub delivered, for update waits).
    pub(super) blocks: std::sync::Arc<super::blocks::BlockSource>,
    /// Cancelled on shutdown: from then on nothing is signed or broadcast.
    pub(super) stop: CancellationToken,
    /// Test fault: the submitter panics at the next request.
    #[cfg(test)]
    pub(super) crash: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// The half that owns the signer: simulates, signs, broadcasts and confirms.
pub(super) struct Broadcaster {
    pub(super) host: IbcQuerier,
    pub(super) counterparty: IbcQuerier,
    pub(super) signer: TxSigner,
    pub(super) account_loaded: bool,
    pub(super) limits: Limits,
    pub(super) pricer: Pricer,
    pub(super) over_max_gas_seen: OverMaxGas,
    pub(super) options: TxEngineOptions,
    /// Confirmation tasks; one that ends with a plan hands it back to be sent again (the items
    /// of a failed tx that were not to blame).
    pub(super) confirmations: JoinSet<Vec<TxPlan>>,
    /// Plans waiting for another signer's client update ([`super::carriers`]).
    pub(super) awaiting: Vec<super::carriers::Awaiting>,
    /// Its chain's blocks, for confirming without a tx index.
    pub(super) blocks: std::sync::Arc<super::blocks::BlockSource>,
    /// The client updates its accepted txs carry (shared with the confirmation tasks).
    pub(super) updates: std::sync::Arc<super::updates::Updates>,
    /// Cancelled on shutdown: from then on nothing is signed or broadcast.
    pub(super) stop: CancellationToken,
    /// Cancelled when the shutdown grace is over: confirmations still waiting give up.
    pub(super) give_up: CancellationToken,
}

impl Submitter {
    /// Cancelled on shutdown.
    pub(super) fn stop(&self) -> CancellationToken {
        self.builder.stop.clone()
    }

    /// The chain the engine signs for.
    pub(super) fn chain_id(&self) -> &str {
        self.builder.host.chain_id()
    }

    /// Runs both halves until shutdown (or every handle dropped) and the broadcast txs are
    /// settled or the grace is over.
    pub(super) async fn run(self, requests: &Intake) {
        let Submitter {
            builder,
            broadcaster,
            plans,
        } = self;
        info!("tx engine started");
        tokio::join!(builder.run(requests), broadcaster.run(plans));
        info!("tx engine stopped");
    }
}

impl Builder {
    /// Whether shutdown has begun (nothing new may be broadcast).
    pub(super) fn stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Hands a cut tx to the broadcaster, waiting while [`PLANS_AHEAD`] wait there; after
    /// shutdown (or with the broadcaster gone) its items fail, retryable.
    pub(super) async fn hand_off(&self, plan: TxPlan) {
        if self.stopping() {
            return plan.settle_all(stopped());
        }
        if let Err(mpsc::error::SendError(plan)) = self.plans.send(plan).await {
            plan.settle_all(stopped());
        }
    }

    async fn run(mut self, requests: &Intake) {
        let shutdown = self.stop.clone();
        loop {
            let first = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                request = requests.recv() => match request {
                    Some(r) => {
                        #[cfg(test)]
                        if self.crash.swap(false, std::sync::atomic::Ordering::Relaxed) {
                            panic!("tx engine crashed on request (test fault)");
                        }
                        Some(r)
                    }
                    None => break,
                },
                _ = tokio::time::sleep(self.options.batch_window), if !self.deferred.is_empty() => None,
            };
            let mut batch = Vec::new();
            if let Some(first) = first {
                batch.push(first);
                let deadline = Instant::now() + self.options.batch_window;
                // Room for the client update that usually leads the batch's txs, so that a
                // full batch is one tx rather than one and a remainder.
                let fill = self.limits.max_msg_num.saturating_sub(1).max(1);
                while batch.len() < fill {
                    tokio::select! {
                        biased;
                        _ = shutdown.cancelled() => break,
                        r = tokio::time::timeout_at(deadline, requests.recv()) => match r {
                            Ok(Some(request)) => batch.push(request),
                            Ok(None) | Err(_) => break,
                        },
                    }
                }
            }
            self.process(batch).await;
        }
        // Also when every handle was dropped: nothing is broadcast from here on.
        self.stop.cancel();
        // Stop taking work at once; settle what is queued or waiting.
        requests.close();
        let mut refused = 0usize;
        while let Some(request) = requests.try_recv() {
            request.fail(stopped());
            refused += 1;
        }
        for p in self.deferred.drain(..) {
            let _ = p.reply.send(stopped());
            refused += 1;
        }
        info!(refused, "tx engine stopped taking work");
        // Dropping `self` closes the queue: the broadcaster settles what is left in it.
    }
}

impl Broadcaster {
    /// Whether shutdown has begun (nothing new may be broadcast).
    pub(super) fn stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Sends again the items of a failed tx that were not to blame, unless shutdown has begun.
    async fn resend(&mut self, plans: Vec<TxPlan>) {
        for plan in plans {
            if self.stopping() {
                plan.settle_all(stopped());
            } else {
                self.send(plan).await;
            }
        }
    }

    /// Waits for one confirmation and sends again what it hands back; false when none is left.
    async fn settle_one(&mut self) -> bool {
        match self.confirmations.join_next().await {
            Some(joined) => {
                self.resend(joined.unwrap_or_default()).await;
                true
            }
            None => false,
        }
    }

    async fn run(mut self, mut plans: mpsc::Receiver<TxPlan>) {
        let stop = self.stop.clone();
        let mut cancelled_at = None;
        loop {
            while let Some(joined) = self.confirmations.try_join_next() {
                self.resend(joined.unwrap_or_default()).await;
            }
            self.retry_awaiting().await;
            let plan = tokio::select! {
                biased;
                Some(joined) = self.confirmations.join_next() => {
                    self.resend(joined.unwrap_or_default()).await;
                    continue;
                }
                _ = tokio::time::sleep(super::carriers::PROBE_INTERVAL), if !self.awaiting.is_empty() => continue,
                plan = plans.recv() => match plan {
                    Some(plan) => plan,
                    None => break,
                },
            };
            // A cancellation while the tx is sent is noted when it happens: the grace counts
            // from then (nothing more is signed once it is cancelled).
            let send = async {
                while self.confirmations.len() >= self.limits.max_txs_in_flight {
                    if !self.settle_one().await {
                        break;
                    }
                }
                self.send(plan).await;
            };
            tokio::pin!(send);
            loop {
                tokio::select! {
                    _ = &mut send => break,
                    _ = stop.cancelled(), if cancelled_at.is_none() => {
                        cancelled_at = Some(Instant::now());
                    }
                }
            }
        }
        // The builder is gone: shutdown began (it cancelled `stop`), or it panicked.
        for a in self.awaiting.drain(..) {
            a.plan.settle_all(stopped());
        }
        let give_up_at = cancelled_at.unwrap_or_else(Instant::now) + self.options.shutdown_grace;
        let pending = self.confirmations.len();
        info!(
            pending,
            "tx engine stopping; waiting for pending confirmations"
        );
        let mut abandoned = 0usize;
        loop {
            tokio::select! {
                joined = self.confirmations.join_next() => match joined {
                    // Nothing is sent again after shutdown: the retry's items fail, retryable.
                    Some(joined) => {
                        for retry in joined.unwrap_or_default() {
                            retry.settle_all(stopped());
                        }
                    }
                    None => break,
                },
                _ = tokio::time::sleep_until(give_up_at), if !self.give_up.is_cancelled() => {
                    abandoned = self.confirmations.len();
                    self.give_up.cancel();
                }
            }
        }
        if abandoned > 0 {
            warn!(
                abandoned,
                "shutdown grace over; stopped waiting for txs still unconfirmed (clearing finds their items)"
            );
        }
    }
}
