//! Gas: each tx is simulated at the local sequence (`simulate × gas_multiplier`).
//!
//! - A simulation answered with an account sequence mismatch resynchronises the sequence (from
//!   the "expected N" of the answer, or from an account query) and simulates again, up to
//!   `sequence_retries` times (another engine with the key may take the next sequence between
//!   two simulations): only a mismatch that persists falls back to `default_gas`.
//! - A simulation that fails for another reason (RPC error, undecodable answer) uses
//!   `default_gas`; one the chain ran and refused (the messages fail) is not broadcast, since
//!   the tx would fail in its block and pay the fee: the item of the failing message (the SDK
//!   names its index) fails, retryable, and the others are simulated again; a failing lead fails
//!   them all. Each failure is counted by cause.
//! - A plan whose client update an earlier accepted tx carries goes without it
//!   ([`super::updates`]); refused so, it is simulated again with the update. A plan waiting for
//!   another signer's update that is refused waits on ([`super::carriers`]).
//! - A simulation whose packet messages include NOOPs (another tx, pending or executed, carries
//!   them) drops those items, settled as pending elsewhere, and simulates the rest again
//!   ([`super::hold`]).
//! - A plan whose estimate exceeds `max_gas` is split in two until it fits; a single message
//!   above `max_gas` is not broadcast at all (logged once per packet, counted, failed for good so
//!   that clearing finds it again).

use std::collections::BTreeSet;

use ibc_proto::google::protobuf::Any;
use tracing::{debug, warn};

use crate::chain::query::QueryError;
use crate::telemetry::metrics::metrics;
use crate::tx::sign::{expected_sequence, fee_for, gas_limit_for};

use super::broadcast::is_redundant;
use super::carriers::UpdateMode;
use super::plan::{noop_msg_responses, Effect, TxPlan};
use super::submitter::Broadcaster;
use super::{stopped, Outcome};

/// Most packets remembered as already warned about for exceeding `max_gas`.
const MAX_WARNED: usize = 10_000;

/// Gas estimate of a tx.
pub(super) enum Estimate {
    /// Use this gas limit.
    Gas(u64),
    /// The estimate exceeds `max_gas`.
    TooMuch(u64),
    /// The simulation failed for `cause`; use `default_gas`.
    Fallback(&'static str),
    /// The chain ran the tx and refused it: the tx would fail.
    Refused { log: String, redundant: bool },
    /// The chain ran the tx and some of its packet messages were NOOPs (per message, in order):
    /// another tx, pending or in a block, carries them ([`super::hold`]).
    Noop(Vec<bool>),
}

/// The `cause` label of a failed simulation.
fn simulation_cause(e: &QueryError) -> &'static str {
    match e {
        QueryError::Rpc(_) => "rpc",
        QueryError::Decode { .. } => "decode",
        QueryError::Abci { code, log, .. } if *code == 32 || log.contains("sequence mismatch") => {
            "sequence_mismatch"
        }
        QueryError::Abci { .. } => "rejected",
    }
}

/// The index of the failing message in an SDK execution error ("message index: N").
pub(super) fn failed_message(log: &str) -> Option<usize> {
    let index = crate::chain::rpc::number_after(log, "message index:")?;
    usize::try_from(index).ok()
}

/// Packets already warned about for exceeding `max_gas` (bounded).
#[derive(Debug, Default)]
pub(super) struct OverMaxGas(BTreeSet<Effect>);

impl OverMaxGas {
    /// Whether this is the first time `effect` is seen above `max_gas`.
    fn first(&mut self, effect: &Effect) -> bool {
        if self.0.len() >= MAX_WARNED {
            self.0.clear();
        }
        self.0.insert(effect.clone())
    }
}

impl Broadcaster {
    /// Estimates gas, signs, broadcasts and hands the tx to a confirmation task; splits plans
    /// whose gas exceeds `max_gas` or whose simulation the chain refused.
    pub(super) async fn send(&mut self, plan: TxPlan) {
        let chain = self.host.chain_id().to_string();
        let mut stack = vec![plan];
        while let Some(plan) = stack.pop() {
            if self.stopping() {
                plan.settle_all(stopped());
                continue;
            }
            if let Err(e) = self.ensure_account().await {
                plan.settle_all(Outcome::failed(format!("account query: {e}"), true));
                continue;
            }
            self.pricer.refresh(&self.host).await;
            let mut plan = plan;
            self.choose_lead(&mut plan);
            let msgs = plan.msgs();
            let estimate = self.estimate_gas(&msgs, plan.packet_msgs_from()).await;
            let after_refusal = matches!(
                plan.mode,
                UpdateMode::Own {
                    after_refusal: true
                }
            );
            if after_refusal && !matches!(estimate, Estimate::Refused { .. }) {
                // Refused without the update, accepted with it: this chain's CheckTx does not
                // keep client updates.
                self.updates.mark_unsupported();
            }
            let gas = match estimate {
                Estimate::Noop(noops) => {
                    // Not paid for: messages another tx carries leave the plan.
                    if let Some(plan) = self.drop_noops(plan, &noops) {
                        stack.push(plan);
                    }
                    continue;
                }
                Estimate::Refused { .. } if plan.mode.is_awaiting() => {
                    // Another signer's update is not there yet: wait for it ([`carriers`]).
                    if let Some(plan) = self.park(plan) {
                        stack.push(plan);
                    }
                    continue;
                }
                Estimate::Refused { log, .. } if plan.without_its_update() => {
                    // Perhaps the carrier is gone; with the update it may pass.
                    debug!(%log, "simulation refused a tx without its client update; adding it");
                    if let Some(need) = &plan.update {
                        self.updates.forget(need);
                    }
                    plan.mode = UpdateMode::Own {
                        after_refusal: true,
                    };
                    stack.push(plan);
                    continue;
                }
                Estimate::Gas(gas) => gas,
                Estimate::Fallback(cause) => {
                    metrics().default_gas_txs.inc(&[&chain, cause]);
                    warn!(
                        cause,
                        default_gas = self.limits.default_gas,
                        "simulation failed; sending with default_gas"
                    );
                    self.limits.default_gas
                }
                Estimate::TooMuch(gas) if plan.items.len() > 1 => {
                    debug!(
                        gas,
                        max_gas = self.limits.max_gas,
                        msgs = plan.len(),
                        "estimate exceeds max_gas; splitting the tx"
                    );
                    let (a, b) = plan.split();
                    stack.push(b);
                    stack.push(a);
                    continue;
                }
                Estimate::TooMuch(gas) => {
                    self.over_max_gas(plan, gas);
                    continue;
                }
                Estimate::Refused {
                    redundant: true, ..
                } => {
                    debug!(msgs = plan.len(), "simulation: redundant relay");
                    plan.settle_all(Outcome::Redundant);
                    continue;
                }
                Estimate::Refused { log, .. } if plan.items.len() > 1 => {
                    // The SDK names the failing message: drop that item and try the rest; a
                    // failing lead fails them all; without an index, split.
                    match failed_message(&log).map(|i| i.checked_sub(plan.lead.len())) {
                        Some(Some(i)) if i < plan.items.len() => {
                            let mut plan = plan;
                            let (_, waiter) = plan.items.remove(i);
                            debug!(%log, "simulation refused one message; sending the others");
                            let _ = waiter
                                .reply
                                .send(Outcome::failed(format!("simulation: {log}"), true));
                            stack.push(plan);
                        }
                        Some(_) => {
                            warn!(%log, "simulation refused the leading messages; not broadcasting");
                            plan.settle_all(Outcome::failed(format!("simulation: {log}"), true));
                        }
                        None => {
                            debug!(%log, msgs = plan.len(), "simulation refused; splitting the tx");
                            let (a, b) = plan.split();
                            stack.push(b);
                            stack.push(a);
                        }
                    }
                    continue;
                }
                Estimate::Refused { log, .. } => {
                    warn!(%log, msgs = plan.len(), "simulation refused the tx; not broadcasting it");
                    plan.settle_all(Outcome::failed(format!("simulation: {log}"), true));
                    continue;
                }
            };
            self.broadcast(plan, msgs, gas).await;
        }
    }

    /// Puts the client update a plan needs in front of its packet messages, unless an accepted
    /// tx of this engine carries it already ([`super::updates`]) or the plan waits for another
    /// signer's ([`super::carriers`]).
    fn choose_lead(&self, plan: &mut TxPlan) {
        let Some(need) = &plan.update else {
            return;
        };
        let carried = match plan.mode {
            UpdateMode::Awaiting { .. } => true,
            UpdateMode::Own { .. } => false,
            UpdateMode::Shared => self.updates.is_carried(need),
        };
        plan.lead = if carried {
            Vec::new()
        } else {
            need.msgs.to_vec()
        };
    }

    /// A plan of one packet message (or a message set) whose gas exceeds `max_gas`: it would
    /// fail on chain, so it is not broadcast.
    fn over_max_gas(&mut self, plan: TxPlan, gas: u64) {
        let chain = self.host.chain_id().to_string();
        metrics().over_max_gas.inc(&[&chain]);
        let max_gas = self.limits.max_gas;
        let first = match plan.items.first() {
            Some((_, waiter)) => self.over_max_gas_seen.first(&waiter.effect),
            None => true,
        };
        let packet = plan.items.first().map(|(_, w)| w.effect.clone());
        if first {
            warn!(
                gas,
                max_gas,
                packet = ?packet,
                "one message needs more gas than max_gas; not broadcasting it (left for clearing)"
            );
        } else {
            debug!(gas, max_gas, packet = ?packet, "message still above max_gas");
        }
        plan.settle_all(Outcome::failed(
            format!("estimated gas {gas} exceeds max_gas {max_gas}"),
            false,
        ));
    }

    /// Simulates `msgs` signed at the local sequence (see the module docs).
    /// A NOOP answer counts only for messages from index `items_from` on (a plan's packet
    /// messages; `usize::MAX`: none).
    pub(super) async fn estimate_gas(&mut self, msgs: &[Any], items_from: usize) -> Estimate {
        let chain = self.host.chain_id().to_string();
        let max_gas = self.limits.max_gas;
        let fee = fee_for(max_gas, &self.pricer.current());
        let mut sequence = self.signer.sequence();
        let mut resyncs = 0;
        loop {
            let raw = self
                .signer
                .sign_at(sequence, msgs.to_vec(), max_gas, fee.clone());
            let e = match self.host.simulate_with_responses(raw).await {
                Ok((_, responses))
                    if noop_msg_responses(&responses)
                        .iter()
                        .skip(items_from)
                        .any(|noop| *noop) =>
                {
                    return Estimate::Noop(noop_msg_responses(&responses));
                }
                Ok((used, _)) => {
                    let gas = gas_limit_for(used, self.limits.gas_multiplier);
                    return if gas > max_gas {
                        Estimate::TooMuch(gas)
                    } else {
                        Estimate::Gas(gas)
                    };
                }
                Err(e) => e,
            };
            let cause = simulation_cause(&e);
            metrics().simulation_failures.inc(&[&chain, cause]);
            match cause {
                "sequence_mismatch" if resyncs < self.options.sequence_retries => {
                    resyncs += 1;
                    sequence = self.resync_for_simulation(&e.to_string()).await;
                    debug!(sequence, "simulation: sequence mismatch; simulating again");
                }
                "rejected" => {
                    let (code, codespace, log) = match &e {
                        QueryError::Abci { code, log, .. } => (*code, "", log.as_str()),
                        _ => (0, "", ""),
                    };
                    return Estimate::Refused {
                        redundant: is_redundant(code, codespace, log),
                        log: log.to_string(),
                    };
                }
                _ => {
                    debug!(error = %e, cause, "simulation failed");
                    return Estimate::Fallback(cause);
                }
            }
        }
    }

    /// After a simulation answered "sequence mismatch": the sequence to simulate at. When the
    /// chain expects a later sequence than ours (ours is stale: another signer used the key, or a
    /// tx was lost), ours moves there; when it expects an earlier one (a node simulating on
    /// committed state while our txs wait in its mempool), ours stays and only the simulation
    /// uses the chain's. Without an "expected N", the account is queried.
    async fn resync_for_simulation(&mut self, text: &str) -> u64 {
        let local = self.signer.sequence();
        let expected = match expected_sequence(text) {
            Some(n) => Some(n),
            None => self
                .host
                .account(self.signer.address())
                .await
                .ok()
                .map(|(number, seq)| {
                    self.signer.set_account(number, local);
                    seq
                }),
        };
        match expected {
            Some(n) if n > local => {
                debug!(local, next = n, "local sequence was behind; resynchronised");
                self.signer.set_sequence(n);
                n
            }
            Some(n) => n,
            None => local,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulation_causes() {
        let abci = |code: u32, log: &str| QueryError::Abci {
            chain: "c".into(),
            path: "/cosmos.tx.v1beta1.Service/Simulate".into(),
            code,
            log: log.into(),
        };
        let mismatch = "account sequence mismatch, expected 5, got 4: incorrect account sequence";
        assert_eq!(simulation_cause(&abci(32, mismatch)), "sequence_mismatch");
        assert_eq!(simulation_cause(&abci(1, mismatch)), "sequence_mismatch");
        assert_eq!(
            simulation_cause(&abci(2, "client state height")),
            "rejected"
        );
        let decode = QueryError::Decode {
            chain: "c".into(),
            what: "no gas info".into(),
        };
        assert_eq!(simulation_cause(&decode), "decode");
        let log = "failed to execute message; message index: 3: packet already received";
        assert_eq!(failed_message(log), Some(3));
        assert_eq!(failed_message("no index"), None);
        let mut seen = OverMaxGas::default();
        let effect = Effect {
            received: true,
            port: "transfer".into(),
            channel: "channel-0".into(),
            sequence: 1,
        };
        assert!(seen.first(&effect));
        assert!(!seen.first(&effect), "warned once");
    }
}
