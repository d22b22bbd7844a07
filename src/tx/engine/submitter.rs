//! The engine's task, the *submitter*: it owns the signer and its sequence, gathers requests
//! into batches, sends again the items of a failed tx that were not to blame and, on shutdown,
//! fails what is queued or waiting and waits for pending confirmations within its grace.

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

/// The task owning the signer: batches, builds, signs and broadcasts.
pub(super) struct Submitter {
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
    pub(super) deferred: Vec<PendingItem>,
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
    /// Test fault: the submitter panics at the next request.
    #[cfg(test)]
    pub(super) crash: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Submitter {
    /// Sends again the items of a failed tx that were not to blame, unless shutdown has begun.
    async fn resend(&mut self, plan: TxPlan) {
        if self.stopping() {
            return plan.settle_all(stopped());
        }
        self.send(plan).await;
    }

    /// Whether shutdown has begun (nothing new may be broadcast).
    pub(super) fn stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    pub(super) async fn run(mut self, requests: &Intake) {
        let shutdown = self.stop.clone();
        let mut cancelled_at = None;
        info!("tx engine started");
        loop {
            while let Some(joined) = self.confirmations.try_join_next() {
                for retry in joined.unwrap_or_default() {
                    self.resend(retry).await;
                }
            }
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
                Some(joined) = self.confirmations.join_next() => {
                    for retry in joined.unwrap_or_default() {
                        self.resend(retry).await;
                    }
                    continue;
                }
                _ = tokio::time::sleep(self.options.batch_window), if !self.deferred.is_empty() => None,
                _ = tokio::time::sleep(super::carriers::PROBE_INTERVAL), if !self.awaiting.is_empty() => None,
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
            // A cancellation while the batch is processed is noted when it happens: the grace
            // counts from then (the batch itself signs nothing more once it is cancelled).
            let process = self.process(batch);
            tokio::pin!(process);
            loop {
                tokio::select! {
                    _ = &mut process => break,
                    _ = shutdown.cancelled(), if cancelled_at.is_none() => {
                        cancelled_at = Some(Instant::now());
                    }
                }
            }
        }
        // Also when every handle was dropped: nothing is broadcast from here on.
        self.stop.cancel();
        // Stop taking work at once; settle what is queued or waiting; wait for the txs already
        // broadcast, within the grace period.
        let give_up_at = cancelled_at.unwrap_or_else(Instant::now) + self.options.shutdown_grace;
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
        for a in self.awaiting.drain(..) {
            refused += a.plan.items.len();
            a.plan.settle_all(stopped());
        }
        let pending = self.confirmations.len();
        info!(
            refused,
            pending, "tx engine stopping; waiting for pending confirmations"
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
        info!("tx engine stopped");
    }
}
