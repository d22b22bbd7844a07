//! One batch of requests: relay items screened against other signers' pending txs
//! ([`super::hold`]), grouped by client, proved at one counterparty height (deferring those not
//! provable yet), led by a client update when the client is behind (unless the client's own
//! height serves every item, or another signer is to carry the update: [`super::carriers`]),
//! and cut into txs by `max_msg_num` and `max_tx_size`.

use std::collections::BTreeMap;

use ibc_proto::google::protobuf::Any;
use ibc_proto::ibc::core::client::v1::Height;
use tracing::debug;

use crate::chain::client_status::is_frozen;
use crate::chain::light;
use crate::chain::types::RelayKind;
use crate::tx::packet::{build_message, close_proof_path, proof_path, Unbuildable};
use crate::tx::sign::message_size;

use super::carriers::UpdateMode;
use super::plan::{Effect, TxPlan, Waiter};
use super::submitter::Builder;
use super::updates::UpdateNeed;
use super::{stopped, Outcome, PendingItem, Request};

impl Builder {
    pub(super) async fn process(&mut self, batch: Vec<Request>) {
        let mut relay = std::mem::take(&mut self.deferred);
        for request in batch {
            match request {
                Request::Relay(p) => relay.push(*p),
                Request::Msgs { msgs, reply } => {
                    if msgs.is_empty() {
                        let _ = reply.send(Outcome::failed("no messages to send", false));
                        continue;
                    }
                    self.hand_off(TxPlan {
                        lead: msgs,
                        items: Vec::new(),
                        whole: Some(reply),
                        update: None,
                        mode: UpdateMode::Shared,
                    })
                    .await;
                }
            }
        }
        let mut groups: BTreeMap<String, Vec<PendingItem>> = BTreeMap::new();
        for p in self.screen(relay).await {
            groups.entry(p.client_id.clone()).or_default().push(p);
        }
        for (client_id, items) in groups {
            self.relay_group(&client_id, items).await;
        }
    }

    /// Proves, builds, cuts into txs and sends the items of one client.
    async fn relay_group(&mut self, client_id: &str, items: Vec<PendingItem>) {
        let fail_all = |items: Vec<PendingItem>, outcome: Outcome| {
            for p in items {
                let _ = p.reply.send(outcome.clone());
            }
        };
        if self.stopping() {
            return fail_all(items, stopped());
        }
        let latest = match self.counterparty.latest_height().await {
            Ok(h) => h,
            Err(e) => {
                let reason = format!("{}: latest height: {e}", self.counterparty.chain_id());
                return fail_all(items, Outcome::failed(reason, true));
            }
        };
        if latest < 3 {
            // Proofs need height ≥ 2 and header H + 1; wait for the chain to grow.
            self.deferred.extend(items);
            return;
        }
        let client_state = match self.host.client_state(client_id).await {
            Ok(Some(cs)) => cs,
            Ok(None) => {
                let reason = format!("client {client_id} not found on {}", self.host.chain_id());
                return fail_all(items, Outcome::failed(reason, false));
            }
            Err(e) => {
                let reason = format!("client state of {client_id}: {e}");
                return fail_all(items, Outcome::failed(reason, true));
            }
        };
        if is_frozen(&client_state) {
            let reason = format!("client {client_id} is frozen");
            return fail_all(items, Outcome::failed(reason, false));
        }
        let trusted = client_state
            .latest_height
            .as_ref()
            .map_or(0, |h| h.revision_height);
        // Proofs at H verify against header H + 1. If the client is already past H + 1 (another
        // relayer updated it since we read the height), prove at its height − 1 instead, so
        // the consensus state for the proof height exists.
        let mut h = latest - 1;
        if trusted > h + 1 {
            h = trusted - 1;
        }
        // The client's own height serves every item: no update at all.
        let from_chain = trusted < h + 1 && served_at(&items, trusted);
        if from_chain {
            h = trusted - 1;
        }
        // The counterparty heights of the items' events, for choosing who carries the update.
        let mut event_heights: Vec<u64> = items
            .iter()
            .map(|p| p.item.event_height)
            .filter(|e| *e > 0)
            .collect();
        event_heights.sort_unstable();
        event_heights.dedup();
        let proof_height = Height {
            revision_number: self.counterparty.revision(),
            revision_height: h + 1,
        };

        // Items already found unprovable at this height wait for the next block.
        let (items, waiting): (Vec<_>, Vec<_>) = items
            .into_iter()
            .partition(|p| p.absent_at.is_none_or(|(_, last)| h > last));
        self.deferred.extend(waiting);
        if items.is_empty() {
            return;
        }

        let paths: Vec<String> = items.iter().map(|p| proof_path(&p.item)).collect();
        let proofs =
            futures::future::join_all(paths.iter().map(|path| self.counterparty.prove(path, h)))
                .await;
        // `MsgTimeoutOnClose` also proves the counterparty's channel end, at the same height.
        let close_proofs = futures::future::join_all(items.iter().map(|p| async {
            match close_proof_path(&p.item) {
                Some(path) => Some(
                    self.counterparty
                        .prove(&path, h)
                        .await
                        .map_err(|e| (path, e)),
                ),
                None => None,
            }
        }))
        .await;
        let signer = self.address.clone();
        let mut ready = Vec::new();
        for ((mut p, proof), close) in items.into_iter().zip(proofs).zip(close_proofs) {
            let (value, proof) = match proof {
                Ok(vp) => vp,
                Err(e) => {
                    let reason = format!("proof of {} at {h}: {e}", proof_path(&p.item));
                    let _ = p.reply.send(Outcome::failed(reason, true));
                    continue;
                }
            };
            let close = match close.transpose() {
                Ok(close) => close,
                Err((path, e)) => {
                    let reason = format!("proof of {path} at {h}: {e}");
                    let _ = p.reply.send(Outcome::failed(reason, true));
                    continue;
                }
            };
            match build_message(&p.item, &value, proof, close, proof_height, &signer) {
                Ok(msg) => ready.push((
                    msg,
                    Waiter {
                        reply: p.reply,
                        effect: Effect::of(&p.item),
                    },
                )),
                Err(Unbuildable::Absent) => {
                    let first = p.absent_at.map_or(h, |(first, _)| first);
                    if h < first + self.options.defer_blocks {
                        debug!(
                            kind = %p.item.kind,
                            sequence = p.item.packet.sequence,
                            height = h,
                            "nothing to prove yet; waiting for the next block"
                        );
                        p.absent_at = Some((first, h));
                        self.deferred.push(p);
                        continue;
                    }
                    let outcome = match p.item.kind {
                        // The commitment is gone: acknowledged or timed out already.
                        RelayKind::Recv => Outcome::Redundant,
                        _ => Outcome::failed(
                            format!(
                                "{} absent on {} from height {first} to {h}",
                                proof_path(&p.item),
                                self.counterparty.chain_id()
                            ),
                            false,
                        ),
                    };
                    let _ = p.reply.send(outcome);
                }
                Err(Unbuildable::Received) => {
                    let reason = format!(
                        "packet {} was received on {}; it cannot time out",
                        p.item.packet.sequence,
                        self.counterparty.chain_id()
                    );
                    let _ = p.reply.send(Outcome::failed(reason, false));
                }
                Err(Unbuildable::Malformed(why)) => {
                    let _ = p.reply.send(Outcome::failed(why, false));
                }
            }
        }
        if ready.is_empty() {
            return;
        }

        let mut need = None;
        if let Some(built) = self.updates.built(client_id, h + 1, trusted) {
            need = Some(built);
        } else if trusted < h + 1 {
            let level = light::TrustLevel::of(&client_state);
            match light::update_client_msgs(
                &self.counterparty,
                client_id,
                &signer,
                h + 1,
                trusted,
                level,
            )
            .await
            {
                Ok(msgs) => {
                    let built = UpdateNeed {
                        client_id: client_id.to_string(),
                        height: h + 1,
                        msgs: msgs.into(),
                    };
                    self.updates.remember_built(&built, trusted);
                    need = Some(built);
                }
                Err(e) => {
                    let reason = format!("header {} for {client_id}: {e}", h + 1);
                    for (_, waiter) in ready {
                        let _ = waiter.reply.send(Outcome::failed(reason.clone(), true));
                    }
                    return;
                }
            }
        }
        debug!(
            client = client_id,
            items = ready.len(),
            proof_height = h + 1,
            trusted,
            "built packet messages"
        );
        let mode = match &need {
            Some(n) if !self.updates.is_carried(n) => {
                self.update_mode(client_id, h + 1, &event_heights)
            }
            _ => UpdateMode::Shared,
        };
        let plans = self.cut(need, ready);
        if from_chain {
            crate::telemetry::metrics::metrics()
                .client_updates_borrowed
                .inc_by(
                    &[
                        self.host.chain_id(),
                        self.counterparty.chain_id(),
                        client_id,
                        "chain",
                    ],
                    plans.len() as u64,
                );
        }
        for mut plan in plans {
            plan.mode = mode.clone();
            self.hand_off(plan).await;
        }
    }

    /// Cuts packet messages into plans of at most `max_msg_num` messages and `max_tx_size`
    /// bytes, each with room for the client update they `need` (whether a plan carries it is
    /// decided when it is sent). A message too big for any tx fails.
    fn cut(&self, need: Option<UpdateNeed>, ready: Vec<(Any, Waiter)>) -> Vec<TxPlan> {
        let lead: &[Any] = need.as_ref().map_or(&[], |n| &n.msgs);
        let limits = &self.limits;
        let per_tx = limits.max_msg_num.saturating_sub(lead.len()).max(1);
        let envelope = self.envelope + lead.iter().map(message_size).sum::<usize>();
        let budget = limits.max_tx_size.saturating_sub(envelope);
        let mut plans: Vec<TxPlan> = Vec::new();
        let mut size = 0;
        for (msg, waiter) in ready {
            let msg_size = message_size(&msg);
            if msg_size > budget {
                let reason = format!(
                    "message of {msg_size} bytes does not fit in a tx of max_tx_size {}",
                    limits.max_tx_size
                );
                let _ = waiter.reply.send(Outcome::failed(reason, false));
                continue;
            }
            let fits = plans
                .last()
                .is_some_and(|p| p.items.len() < per_tx && size + msg_size <= budget);
            if !fits {
                plans.push(TxPlan {
                    // Filled when it is sent, unless an earlier tx carries the update by then.
                    lead: Vec::new(),
                    items: Vec::new(),
                    whole: None,
                    update: need.clone(),
                    mode: UpdateMode::Shared,
                });
                size = 0;
            }
            size += msg_size;
            if let Some(plan) = plans.last_mut() {
                plan.items.push((msg, waiter));
            }
        }
        plans
    }
}

/// Whether a consensus state of the client at `trusted` serves every item, proved at
/// `trusted − 1`: each is a `Recv` or an `Ack` whose event is known to be at or below that
/// height (and was not found absent there before). Timeouts prove an absence and need a recent
/// height; items from clearing have no event height.
fn served_at(items: &[PendingItem], trusted: u64) -> bool {
    trusted >= 3
        && !items.is_empty()
        && items.iter().all(|p| {
            matches!(p.item.kind, RelayKind::Recv | RelayKind::Ack)
                && p.absent_at.is_none()
                && p.item.event_height > 0
                && p.item.event_height < trusted
        })
}
