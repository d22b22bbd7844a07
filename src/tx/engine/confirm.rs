//! Asynchronous confirmation: a task per broadcast tx polls `/tx` by hash (or, on a node
//! without a tx index, looks in the blocks since its broadcast: [`super::blocks`]) until the tx
//! is in a block, lost (its sequence was used by another tx, or the timeout passed) or moot (every
//! item's effect is on chain already), and settles its waiters. Under a fee market, a tx whose
//! price fell below the chain's base price before it was included is lost too (the mempool's
//! re-check evicts it). A tx in a block has paid its fee
//! (even when its messages failed), which `arke_fees_paid_total` counts, and
//! `arke_fees_wasted_total` too when it failed; the plan of a failed tx comes back to the
//! submitter without the item to blame ([`TxPlan::blame`]). When the engine's shutdown grace is
//! over, tasks still waiting give up and fail their items, retryable.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ibc_proto::ibc::core::client::v1::MsgUpdateClient;
use prost::Message;
use tokio::time::Instant;
use tracing::{debug, info, info_span, warn, Instrument};

use crate::chain::query::fees::PriceSource;
use crate::chain::query::IbcQuerier;

use super::blocks::{BlockSource, Inclusion};
use super::gas::failed_message;
use super::plan::{result_data, Effect, TxPlan};
use super::submitter::Broadcaster;
use super::updates::Updates;
use super::Outcome;

impl Broadcaster {
    /// Follows the tx in a task of the confirmation set and settles its waiters.
    pub(super) fn confirm(
        &mut self,
        plan: TxPlan,
        hash: String,
        sequence: u64,
        fee: Option<cosmos::Coin>,
        priced_at: Option<f64>,
        start: Option<u64>,
    ) {
        let watch = TxWatch {
            blocks: self.blocks.clone(),
            start,
            fee,
            priced_at,
            price_source: self.pricer.source(),
            counterparty: self.counterparty.chain_id().to_string(),
            submitted: Instant::now(),
            host: self.host.clone(),
            address: self.signer.address().to_string(),
            sequence,
            hash: hash.clone(),
            poll: self.options.confirm_poll,
            timeout: self.options.confirm_timeout,
            give_up: self.give_up.clone(),
            updates: self.updates.clone(),
        };
        let span = info_span!("confirm", tx_hash = %hash);
        self.confirmations
            .spawn(async move { watch.settle(plan).await }.instrument(span));
    }
}

/// What a confirmation task knows about its tx.
struct TxWatch {
    host: IbcQuerier,
    /// Counterparty chain id (a metric label).
    counterparty: String,
    /// When the tx was accepted by `broadcast_tx_sync`.
    submitted: Instant,
    address: String,
    sequence: u64,
    hash: String,
    /// The fee the tx was signed with (paid once it is in a block, whatever its result).
    fee: Option<cosmos::Coin>,
    /// With a dynamic gas price, the price the tx was signed at.
    priced_at: Option<f64>,
    price_source: Option<PriceSource>,
    poll: Duration,
    timeout: Duration,
    /// The engine's view of its chain's blocks (for a node without a tx index).
    blocks: Arc<BlockSource>,
    /// A height at or below the latest when the tx was broadcast, if known.
    start: Option<u64>,
    /// Cancelled when the engine's shutdown grace is over.
    give_up: tokio_util::sync::CancellationToken,
    /// The engine's carried client updates: a tx with an update that fails or is lost is
    /// forgotten there, so the next tx carries it again.
    updates: Arc<Updates>,
}

/// How a watched tx ended.
enum Fate {
    /// In a block.
    Included(Box<Inclusion>),
    /// Not in a block, and never will be: another tx used its sequence (it was evicted from the
    /// mempool, e.g. on re-check as redundant), or it was not seen before the timeout.
    Lost(String),
    /// Still pending, but every item's effect is already on chain (another relayer's tx).
    Moot,
    /// Still pending when the shutdown grace was over.
    Abandoned,
}

impl TxWatch {
    /// Polls `/tx` every `poll` until the tx is found, lost, moot or `timeout` passes, then
    /// settles the plan. A tx that failed in its block returns the plans to send again: its
    /// items not to blame (see [`TxPlan::blame`]).
    async fn settle(self, plan: TxPlan) -> Vec<TxPlan> {
        let effects: Vec<Effect> = plan.items.iter().map(|(_, w)| w.effect.clone()).collect();
        let m = crate::telemetry::metrics::metrics();
        let chains = [self.host.chain_id(), self.counterparty.as_str()];
        match self.follow(&effects).await {
            Fate::Included(tx) => {
                let amount = self.fee.as_ref().map(|fee| {
                    (
                        fee.denom.as_str(),
                        u64::try_from(fee.amount).unwrap_or(u64::MAX),
                    )
                });
                if let Some((denom, amount)) = amount {
                    m.fees_paid.inc_by(&[chains[0], denom], amount);
                }
                let height = tx.height;
                let result = &tx.result;
                if result.code.is_ok() {
                    debug!(height, "tx confirmed");
                    m.txs_confirmed.inc(&chains);
                    m.tx_latency
                        .observe_duration(&chains, self.submitted.elapsed());
                    for any in &plan.lead {
                        if any.type_url == "/ibc.core.client.v1.MsgUpdateClient" {
                            let client = MsgUpdateClient::decode(any.value.as_slice())
                                .map(|u| u.client_id)
                                .unwrap_or_default();
                            m.client_updates.inc(&[chains[0], chains[1], &client]);
                        }
                    }
                    let (redundant, carried) =
                        plan.settle_executed(&self.hash, height, &result_data(&result.data));
                    if let Some((denom, amount)) = amount {
                        let outcome = match (redundant, carried) {
                            (_, 0) => "other",
                            (0, _) => "useful",
                            (r, c) if r == c => "redundant",
                            _ => "partly_redundant",
                        };
                        m.fees_by_outcome
                            .inc_by(&[chains[0], denom, outcome], amount);
                    }
                } else {
                    let reason = format!(
                        "tx {} failed in block {height} with code {} ({}): {}",
                        self.hash,
                        result.code.value(),
                        result.codespace,
                        result.log
                    );
                    let cause = crate::telemetry::metrics::tx_failure_cause(
                        result.code.value(),
                        &result.codespace,
                        &result.log,
                    );
                    m.txs_failed.inc(&[chains[0], chains[1], cause]);
                    if let Some((denom, amount)) = amount {
                        m.fees_wasted.inc_by(&[chains[0], denom, cause], amount);
                        m.fees_by_outcome
                            .inc_by(&[chains[0], denom, "failed"], amount);
                    }
                    if let Some(need) = &plan.update {
                        self.updates.forget(need);
                    }
                    if plan.without_its_update() && !plan.items.is_empty() {
                        // The update it relied on was not there when it executed (its carrier
                        // was evicted or failed): every item goes again, with the update.
                        let client = plan.update.as_ref().map_or("", |n| n.client_id.as_str());
                        m.borrowed_updates_lost.inc(&[chains[0], chains[1], client]);
                        warn!(%reason, "tx without its client update failed in its block; sending its items again with the update");
                        let mut plan = plan;
                        plan.mode = super::carriers::UpdateMode::Own {
                            after_refusal: false,
                        };
                        return vec![plan];
                    }
                    let blamed = failed_message(&result.log);
                    warn!(%reason, message = ?blamed, "tx failed in its block");
                    return plan.blame(blamed, &reason);
                }
            }
            Fate::Moot => {
                m.txs_failed.inc(&[chains[0], chains[1], "redundant"]);
                info!("every item was relayed by another tx");
                plan.settle_all(Outcome::Redundant);
            }
            Fate::Abandoned => {
                let reason = format!(
                    "tx {} not confirmed before the shutdown grace was over",
                    self.hash
                );
                plan.settle_all(Outcome::failed(reason, true));
            }
            Fate::Lost(reason) => {
                m.txs_failed.inc(&[chains[0], chains[1], "other"]);
                if let Some(need) = &plan.update {
                    self.updates.forget(need);
                }
                // Items whose effect is on chain anyway are redundant; the rest retry.
                let done = settled_on_chain(&self.host, &effects)
                    .await
                    .unwrap_or_else(|_| vec![false; effects.len()]);
                warn!(%reason, settled = done.iter().filter(|d| **d).count(), "tx lost");
                for ((_, waiter), done) in plan.items.into_iter().zip(done) {
                    let _ = waiter.reply.send(if done {
                        Outcome::Redundant
                    } else {
                        Outcome::failed(reason.clone(), true)
                    });
                }
                if let Some(reply) = plan.whole {
                    let _ = reply.send(Outcome::failed(reason, true));
                }
            }
        }
        Vec::new()
    }

    async fn follow(&self, effects: &[Effect]) -> Fate {
        let hash = match hex::decode(&self.hash)
            .map_err(|e| e.to_string())
            .and_then(|b| {
                tendermint::Hash::from_bytes(tendermint::hash::Algorithm::Sha256, &b)
                    .map_err(|e| e.to_string())
            }) {
            Ok(h) => h,
            Err(e) => return Fate::Lost(format!("bad tx hash {}: {e}", self.hash)),
        };
        let deadline = Instant::now() + self.timeout;
        let mut polls: u64 = 0;
        let mut from = self.start;
        let mut seen = self.start.unwrap_or(0);
        loop {
            // With a live hub, each look follows a new height (and costs no request); without
            // one, a poll interval.
            let hub = self.blocks.live_hub().is_some();
            tokio::select! {
                biased;
                _ = self.give_up.cancelled() => return Fate::Abandoned,
                _ = self.blocks.next_height(&mut seen, self.poll * 4), if hub => {}
                _ = tokio::time::sleep(self.poll), if !hub => {}
            }
            // A look through the hub counts as a block, a poll as half of one.
            polls += if hub { 2 } else { 1 };
            // "not found" until the tx is in a block; other errors may be transient too.
            let last_error = match self.lookup(hash, &mut from, self.poll, hub).await {
                Ok(Some(tx)) => return Fate::Included(Box::new(tx)),
                Ok(None) => "not in a block yet".to_string(),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Fate::Lost(format!(
                    "tx {} not found in a block within {:?} (last answer: {last_error})",
                    self.hash, self.timeout
                ));
            }
            // About once a block after the first: is the tx still possible, still useful? The
            // engine's waiting txs share one account query per window.
            if polls < 2 || !polls.is_multiple_of(2) {
                continue;
            }
            let window = self.poll * 2;
            let mut verdict = None;
            if let Ok(committed) = self
                .blocks
                .committed(&self.host, &self.address, window)
                .await
            {
                if committed > self.sequence {
                    verdict = Some(Fate::Lost(format!(
                        "tx {} was dropped: the account's sequence {} is past its {}",
                        self.hash, committed, self.sequence
                    )));
                }
            }
            if verdict.is_none() {
                verdict = self.priced_out().await;
            }
            if verdict.is_none()
                && polls >= 4
                && !effects.is_empty()
                && self.blocks.may_check_moot(window)
                && settled_on_chain(&self.host, effects)
                    .await
                    .is_ok_and(|done| done.iter().all(|d| *d))
            {
                verdict = Some(Fate::Moot);
            }
            if let Some(fate) = verdict {
                // The tx may have landed between the two queries, in a block the hub has not
                // delivered yet: ask the node itself.
                return match self.lookup(hash, &mut from, Duration::ZERO, false).await {
                    Ok(Some(tx)) => Fate::Included(Box::new(tx)),
                    Ok(None) | Err(_) => fate,
                };
            }
        }
    }

    /// One look for the tx: in the heights the live hub delivered (`hub`), or else `/tx` by
    /// hash or, once the node said it keeps no tx index, the blocks from `*from` to the latest
    /// (its `/status` at most `max_age` old).
    async fn lookup(
        &self,
        hash: tendermint::Hash,
        from: &mut Option<u64>,
        max_age: Duration,
        hub: bool,
    ) -> Result<Option<Inclusion>, String> {
        let rpc = self.host.rpc();
        if !hub && !self.blocks.indexless() {
            match rpc.tx(hash, false).await {
                Ok(tx) => {
                    self.blocks.learn(Ok(()));
                    return Ok(Some(tx.into()));
                }
                Err(e) if !self.blocks.learn(Err(&e)) => return Err(e.to_string()),
                Err(_) => {}
            }
        }
        let Ok(bytes) = <[u8; 32]>::try_from(hash.as_bytes()) else {
            return Err(format!("tx hash {} is not 32 bytes", self.hash));
        };
        let start = match *from {
            Some(h) => h,
            // No height known from before the broadcast: the tx was broadcast a poll or two
            // ago, so it cannot be in an older block than a few before the latest.
            None => {
                let latest = match self.blocks.hub_height().filter(|_| hub) {
                    Some(h) => h,
                    None => self
                        .blocks
                        .latest(rpc, max_age)
                        .await
                        .map_err(|e| e.to_string())?,
                };
                latest.saturating_sub(UNKNOWN_START_BACK)
            }
        };
        let mut next = start;
        let found = self.blocks.find(rpc, &bytes, &mut next, max_age, hub).await;
        *from = Some(next);
        found.map_err(|e| e.to_string())
    }
}

/// Blocks before the latest where a lookup starts when no height from before the broadcast is
/// known (`/status` failed then).
const UNKNOWN_START_BACK: u64 = 3;

impl TxWatch {
    /// With a dynamic gas price: whether the chain's base price rose above the tx's since it
    /// was accepted. A fee market's mempool re-checks its txs after each block and evicts those
    /// whose fee no longer pays the base price, so such a tx (not in a block yet) is lost.
    async fn priced_out(&self) -> Option<Fate> {
        let paid = self.priced_at?;
        let denom = &self.fee.as_ref()?.denom;
        let base = self
            .host
            .base_gas_price(denom, self.price_source)
            .await
            .ok()?;
        (base.price > paid).then(|| {
            Fate::Lost(format!(
                "tx {} was priced out: the base gas price {} is above its {paid}",
                self.hash, base.price
            ))
        })
    }
}

/// For each effect, whether it is already on the host chain (one query per channel and kind).
pub(super) async fn settled_on_chain(
    host: &IbcQuerier,
    effects: &[Effect],
) -> Result<Vec<bool>, crate::chain::query::QueryError> {
    let mut by_channel: BTreeMap<(bool, &str, &str), Vec<u64>> = BTreeMap::new();
    for e in effects {
        by_channel
            .entry((e.received, &e.port, &e.channel))
            .or_default()
            .push(e.sequence);
    }
    let mut pending: BTreeMap<(bool, &str, &str), Vec<u64>> = BTreeMap::new();
    for ((received, port, channel), sequences) in by_channel {
        let left = if received {
            host.unreceived_packets(port, channel, &sequences).await?
        } else {
            host.unreceived_acks(port, channel, &sequences).await?
        };
        pending.insert((received, port, channel), left);
    }
    Ok(effects
        .iter()
        .map(|e| {
            pending
                .get(&(e.received, e.port.as_str(), e.channel.as_str()))
                .is_some_and(|left| !left.contains(&e.sequence))
        })
        .collect())
}
