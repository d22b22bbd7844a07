//! Holding back packet messages that another signer's tx, waiting in this chain's mempool,
//! already carries: sending ours would at best be refused at CheckTx and, once that tx is in a
//! block ahead of ours, pay a fee for NOOPs.
//!
//! Before a batch is proved, the builder looks at the chain's [`MempoolView`] (one look per
//! block, shared by every engine of the chain). An item another signer's pending tx carries is
//! *held*: it waits among the deferred items, with no outcome (it is neither failed nor done),
//! and is looked at again at the next block, not before. At a later block:
//!
//! - still carried by a pending tx: it keeps waiting, for at most [`HOLD_MAX_BLOCKS`] blocks,
//!   after which it is submitted anyway (a tx that never leaves the mempool must not starve the
//!   channel);
//! - no longer carried: one query per channel asks whether its effect is on chain. When it is,
//!   the other relayer succeeded: the item is [`Outcome::Redundant`], and we paid nothing. When
//!   it is not, that tx was evicted or failed: the item is proved and submitted in this batch.
//!
//! Engines without a view (one-shot commands) submit everything as before.
//!
//! The look is taken once a block, so a tx another signer broadcast since is not in it. The
//! simulation of every tx runs on the node's check state, where each pending tx's packet
//! messages have left their mark (ibc-go's `RedundantRelayDecorator`): a packet message another
//! tx carries answers NOOP there. Such items leave the tx before it is signed
//! ([`Submitter::drop_noops`]): they are [`Outcome::RedundantInMempool`] (not final: clearing
//! looks again if that other tx never executes), and we pay nothing for them.

use tracing::debug;

use crate::chain::mempool::MempoolView;

use super::confirm::settled_on_chain;
use super::plan::{Effect, TxPlan};
use super::submitter::{Broadcaster, Builder};
use super::{Outcome, PendingItem};

/// Blocks an item waits for one pending tx of another signer before it is submitted anyway.
pub(super) const HOLD_MAX_BLOCKS: u64 = 20;

/// Where an item stands with respect to other signers' pending txs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Hold {
    /// Not held: looked at before it is proved.
    #[default]
    Free,
    /// Held since height `since`, last looked at at `checked`.
    Held {
        /// The height it was first held at.
        since: u64,
        /// The height of the last look.
        checked: u64,
    },
    /// Held for [`HOLD_MAX_BLOCKS`]: submitted whatever the mempool holds.
    Expired,
}

impl Builder {
    /// Of `items`, those to prove and submit now. Items another signer's pending tx carries
    /// wait in `deferred`; held items whose carrier left the mempool with their effect on chain
    /// are settled `Redundant`.
    pub(super) async fn screen(&mut self, items: Vec<PendingItem>) -> Vec<PendingItem> {
        let Some(view) = self.options.mempool.clone() else {
            return items;
        };
        let height = view.height();
        let mut go = Vec::new();
        let mut check = Vec::new();
        for p in items {
            match p.hold {
                Hold::Held { checked, .. } if checked >= height => self.deferred.push(p),
                Hold::Expired => go.push(p),
                _ => check.push(p),
            }
        }
        if check.is_empty() {
            return go;
        }
        let left = self.hold_carried(&view, height, check, &mut go).await;
        if left.is_empty() {
            return go;
        }
        // Their carrier left the mempool: in a block (done by someone else) or evicted.
        let chain = self.host.chain_id().to_string();
        let m = crate::telemetry::metrics::metrics();
        let effects: Vec<Effect> = left.iter().map(|p| Effect::of(&p.item)).collect();
        let settled = match settled_on_chain(&self.host, &effects).await {
            Ok(settled) => settled,
            Err(e) => {
                debug!(error = %e, "could not check held-back items on chain; submitting them");
                vec![false; effects.len()]
            }
        };
        for (mut p, done) in left.into_iter().zip(settled) {
            if done {
                m.held_back_released.inc(&[&chain, "done_elsewhere"]);
                debug!(
                    kind = %p.item.kind,
                    sequence = p.item.packet.sequence,
                    height,
                    "held-back item done by another relayer"
                );
                let _ = p.reply.send(Outcome::Redundant);
            } else {
                m.held_back_released.inc(&[&chain, "submitted"]);
                debug!(
                    kind = %p.item.kind,
                    sequence = p.item.packet.sequence,
                    height,
                    "the pending tx carrying a held-back item left the mempool undone; submitting it"
                );
                p.hold = Hold::Free;
                go.push(p);
            }
        }
        go
    }

    /// Looks at the mempool for `items`: those another signer's pending tx carries are held
    /// (into `deferred`), the free ones go to `go`; returns the held ones no longer carried.
    async fn hold_carried(
        &mut self,
        view: &MempoolView,
        height: u64,
        items: Vec<PendingItem>,
        go: &mut Vec<PendingItem>,
    ) -> Vec<PendingItem> {
        let look = view.look().await;
        let chain = self.host.chain_id().to_string();
        let m = crate::telemetry::metrics::metrics();
        let mut left = Vec::new();
        for mut p in items {
            let e = Effect::of(&p.item);
            let carrier = look.carried_by(e.received, &e.port, &e.channel, e.sequence);
            match (carrier, p.hold) {
                (Some(hash), Hold::Free) => {
                    m.packets_held_back.inc(&[&chain]);
                    debug!(
                        kind = %p.item.kind,
                        sequence = p.item.packet.sequence,
                        height,
                        tx = %hex::encode_upper(hash),
                        "held back: another signer's pending tx carries it"
                    );
                    p.hold = Hold::Held {
                        since: height,
                        checked: height,
                    };
                    self.deferred.push(p);
                }
                (Some(_), Hold::Held { since, .. }) if height < since + HOLD_MAX_BLOCKS => {
                    p.hold = Hold::Held {
                        since,
                        checked: height,
                    };
                    self.deferred.push(p);
                }
                (Some(_), Hold::Held { .. }) => {
                    m.held_back_released.inc(&[&chain, "held_too_long"]);
                    p.hold = Hold::Expired;
                    go.push(p);
                }
                (None, Hold::Held { .. }) => left.push(p),
                _ => go.push(p),
            }
        }
        left
    }
}

impl Broadcaster {
    /// Takes out of `plan` the packet messages its simulation answered NOOP (`noops`, one per
    /// message of the tx, lead first): another tx carries them. Returns what is left to send.
    pub(super) fn drop_noops(&mut self, mut plan: TxPlan, noops: &[bool]) -> Option<TxPlan> {
        let lead = plan.lead.len();
        let before = plan.items.len();
        let mut kept = Vec::with_capacity(before);
        for (index, (msg, waiter)) in (lead..).zip(std::mem::take(&mut plan.items)) {
            if noops.get(index).copied().unwrap_or(false) {
                debug!(
                    sequence = waiter.effect.sequence,
                    "simulation: another tx carries this packet message; not sending it"
                );
                let _ = waiter.reply.send(Outcome::RedundantInMempool);
            } else {
                kept.push((msg, waiter));
            }
        }
        let dropped = before - kept.len();
        crate::telemetry::metrics::metrics()
            .simulated_noops
            .inc_by(&[self.host.chain_id()], dropped as u64);
        plan.items = kept;
        if plan.items.is_empty() && plan.whole.is_none() {
            return None;
        }
        Some(plan)
    }
}
