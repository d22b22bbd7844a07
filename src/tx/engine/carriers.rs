//! Client updates another signer carries. Instances that share channels by sharding prove their
//! packets at the same counterparty height at about the same time, and each would lead its tx
//! with the same `MsgUpdateClient` (the dearest message of a relay tx): paid once per instance
//! where once would do. This module lets a tx go without its own update when another signer's
//! serves it, and keeps that safe:
//!
//! - **The chain carries it.** When the client already holds a consensus state at a height
//!   whose state has every item's event (the `send_packet` or `write_acknowledgement` at or
//!   below the client's height − 1), the items are proved there and need no update at all
//!   (decided in `batch.rs`; the chain's verdict, nothing can take it away).
//! - **A designated carrier.** For the update of a (client, height), the [`UpdateCarriers`] of
//!   the chain (the relay layer's sharding) names one signer among those that are first for a
//!   packet step of the same counterparty heights: every instance computes the same name from
//!   a hash, without talking. That signer carries the update at once. The others prove as usual
//!   and simulate without the update: CheckTx applies a `MsgUpdateClient` to the node's check
//!   state (ibc-go ≥ 8.1), so the simulation passes once the carrier's tx is in the mempool (or
//!   its block), and a tx broadcast then lands behind it (CometBFT's mempool is FIFO; a proposer
//!   reaps in order). Refused, the plan waits ([`Awaiting`]) and is simulated again every
//!   [`PROBE_INTERVAL`]; once a new block of the host chain came without it, or after
//!   [`MAX_WAIT`], the plan gives up and carries its own update.
//!
//! What can still go wrong, and what it costs: the carrier's tx may leave the mempool without
//! executing (evicted on a recheck after a block it did not fit in) or fail in its block, and
//! neither CometBFT's recheck nor ibc-go's verify a packet proof again, so a tx that went
//! without its update then fails in its block and its fee is wasted. That is counted
//! (`arke_borrowed_updates_lost_total`), and the failed tx's items go again at once, all of
//! them, carrying their own update. A chain whose CheckTx does not keep updates (ibc-go < 8.1,
//! [`super::updates`]) makes nothing wait: there, a pending update cannot serve anyone.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;
use tracing::debug;

use super::blocks::BlockSource;
use super::plan::TxPlan;
use super::submitter::{Broadcaster, Builder};

/// How often a plan waiting for another signer's update is simulated again.
pub(super) const PROBE_INTERVAL: Duration = Duration::from_millis(50);

/// The longest a plan waits for another signer's update (when no block of the host chain comes
/// first).
pub(super) const MAX_WAIT: Duration = Duration::from_secs(2);

/// Who carries a client update on one chain, among the signers relaying to it.
pub trait UpdateCarriers: Send + Sync + std::fmt::Debug {
    /// The signer expected to carry the update of `client_id` to `height` for packet steps whose
    /// events were at `event_heights` of the counterparty, seen at height `now` of this chain;
    /// `None` when it is `signer` itself (or nobody else is expected to).
    fn carrier(
        &self,
        signer: &str,
        client_id: &str,
        height: u64,
        event_heights: &[u64],
        now: u64,
    ) -> Option<String>;
}

/// Whether a plan carries the client update its packet messages need.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) enum UpdateMode {
    /// It carries it unless an accepted tx of this engine does ([`super::updates`]).
    #[default]
    Shared,
    /// It goes without, waiting for `carrier`'s update; since height `since` of the host chain,
    /// until `until` at the latest.
    Awaiting {
        /// The signer expected to carry the update.
        carrier: String,
        /// The host chain's height when the wait began.
        since: u64,
        /// When the wait ends anyway.
        until: Instant,
    },
    /// It carries it, whatever earlier txs carry: simulation refused it without
    /// (`after_refusal`: if it passes with it, this chain's CheckTx does not keep client
    /// updates), or a tx of these items without it failed in its block.
    Own {
        /// Whether simulation refused it without its update.
        after_refusal: bool,
    },
}

impl UpdateMode {
    pub(super) fn is_awaiting(&self) -> bool {
        matches!(self, Self::Awaiting { .. })
    }

    /// Whether a wait is over at height `host` of the host chain and time `now`: a block came
    /// since it began (that block did not bring the update, or the plan would have passed), or
    /// [`MAX_WAIT`] passed.
    fn expired(&self, host: u64, now: Instant) -> bool {
        match self {
            Self::Awaiting { since, until, .. } => host > *since || now >= *until,
            _ => false,
        }
    }
}

/// A plan waiting for another signer's client update.
pub(super) struct Awaiting {
    pub(super) plan: TxPlan,
    /// When it was last simulated.
    pub(super) probed: Instant,
}

/// The host chain's latest height as its event hub delivered it (0 without a live hub).
fn host_height(blocks: &BlockSource) -> u64 {
    blocks.hub_height().unwrap_or(0)
}

impl Builder {
    /// How the plans of one proof height of `client_id` treat their update to `height`, given
    /// the counterparty heights of their items' events: waiting for the signer
    /// [`UpdateCarriers`] names, or [`UpdateMode::Shared`].
    pub(super) fn update_mode(
        &self,
        client_id: &str,
        height: u64,
        event_heights: &[u64],
    ) -> UpdateMode {
        let Some(carriers) = &self.options.update_carriers else {
            return UpdateMode::Shared;
        };
        if event_heights.is_empty() || self.updates.is_unsupported() {
            return UpdateMode::Shared;
        }
        let now = host_height(&self.blocks);
        match carriers.carrier(&self.address, client_id, height, event_heights, now) {
            Some(carrier) => {
                debug!(client = client_id, height, %carrier, "another signer carries this update; waiting for it");
                UpdateMode::Awaiting {
                    carrier,
                    since: now,
                    until: Instant::now() + MAX_WAIT,
                }
            }
            None => UpdateMode::Shared,
        }
    }
}

impl Broadcaster {
    /// A plan waiting for another signer's update that simulation refused without it: it waits
    /// on, or, once a block came without that update (or [`MAX_WAIT`] passed), it is given back
    /// to be sent as any other plan (carrying the update, unless an earlier tx of ours does).
    pub(super) fn park(&mut self, mut plan: TxPlan) -> Option<TxPlan> {
        let now = Instant::now();
        if !plan.mode.is_awaiting() {
            return Some(plan);
        }
        if plan.mode.expired(host_height(&self.blocks), now) {
            self.give_up(&mut plan);
            return Some(plan);
        }
        self.awaiting.push(Awaiting { plan, probed: now });
        None
    }

    fn give_up(&self, plan: &mut TxPlan) {
        if let UpdateMode::Awaiting { carrier, since, .. } = &plan.mode {
            debug!(%carrier, since, "the expected client update did not come; carrying our own");
            crate::telemetry::metrics::metrics()
                .update_waits
                .inc(&[self.host.chain_id(), "carried"]);
        }
        plan.mode = UpdateMode::Shared;
    }

    /// Simulates again, once per (client, height), the plans waiting for another signer's
    /// update whose time has come: when the update is there they are sent without it; when it
    /// is not and their wait is over, they are sent as any other plan; else they wait on.
    pub(super) async fn retry_awaiting(&mut self) {
        if self.awaiting.is_empty() {
            return;
        }
        let now = Instant::now();
        let host = host_height(&self.blocks);
        let (due, wait): (Vec<Awaiting>, Vec<Awaiting>) = std::mem::take(&mut self.awaiting)
            .into_iter()
            .partition(|a| now >= a.probed + PROBE_INTERVAL || a.plan.mode.expired(host, now));
        self.awaiting = wait;
        let mut groups: BTreeMap<(String, u64), Vec<TxPlan>> = BTreeMap::new();
        for a in due {
            let key = a
                .plan
                .update
                .as_ref()
                .map(|n| (n.client_id.clone(), n.height))
                .unwrap_or_default();
            groups.entry(key).or_default().push(a.plan);
        }
        for (_, plans) in groups {
            if self.stopping() {
                for plan in plans {
                    plan.settle_all(super::stopped());
                }
                continue;
            }
            let expired = plans.iter().any(|p| p.mode.expired(host, now));
            let came = match plans.first() {
                Some(first) => self.update_came(first).await,
                None => continue,
            };
            for mut plan in plans {
                if came {
                    self.send(plan).await;
                } else if expired {
                    self.give_up(&mut plan);
                    self.send(plan).await;
                } else {
                    self.awaiting.push(Awaiting { plan, probed: now });
                }
            }
        }
    }

    /// Whether `plan` (without its update) would pass now: its simulation is not refused.
    async fn update_came(&mut self, plan: &TxPlan) -> bool {
        use super::gas::Estimate;
        match self
            .estimate_gas(&plan.msgs(), plan.packet_msgs_from())
            .await
        {
            Estimate::Gas(_) | Estimate::TooMuch(_) | Estimate::Noop(_) => true,
            // Done by someone else meanwhile: sending settles it.
            Estimate::Refused { redundant, .. } => redundant,
            Estimate::Fallback(_) => false,
        }
    }
}

/// Counts a plan broadcast without its client update: another signer's (`borrowed`) or an
/// earlier tx of this engine's (`shared`).
pub(super) fn count_without_update(plan: &TxPlan, chains: [&str; 2]) {
    let Some(need) = &plan.update else { return };
    let m = crate::telemetry::metrics::metrics();
    let labels = [chains[0], chains[1], need.client_id.as_str()];
    match plan.mode {
        UpdateMode::Awaiting { .. } => {
            m.client_updates_borrowed
                .inc(&[labels[0], labels[1], labels[2], "peer"]);
            m.update_waits.inc(&[chains[0], "borrowed"]);
        }
        _ => m.client_updates_shared.inc(&labels),
    }
}
