//! Signing and `broadcast_tx_sync`, with the account sequence kept locally: code 0 advances it,
//! code 32 recovers it from "expected N" (or a fresh account query) and re-signs; code 13
//! (insufficient fee) with a dynamic gas price re-reads the price and re-signs when it changed;
//! code 22 makes the items redundant; other CheckTx codes fail them, retryable or not. A tx
//! carrying a client update that passed CheckTx is noted ([`super::updates`]): later txs proving
//! at that height go without it.

use ibc_proto::google::protobuf::Any;
use tracing::{debug, info, warn};

use crate::tx::sign::{expected_sequence, fee_for};

use super::plan::TxPlan;
use super::submitter::Broadcaster;
use super::{stopped, Outcome};

/// Whether CheckTx rejected a tx as redundant relay (ibc-go's `RedundantRelayDecorator`).
pub(super) fn is_redundant(code: u32, codespace: &str, log: &str) -> bool {
    (code == 22 && codespace == "channel") || log.contains("packet messages are redundant")
}

/// Whether a CheckTx rejection with `code` in `codespace` can succeed later. Refused for good:
/// an undecodable tx (sdk 2), a bad signature (4), a bad address (7), an oversized memo (12) or
/// tx (21), an unknown message type (sdk 6 is "unknown request"; ibc messages are all known).
/// Everything else (out of gas 11, insufficient fee 13 or funds 5, mempool full 20, IBC
/// verification errors, …) may pass on a later attempt.
pub(super) fn retryable_check(code: u32, codespace: &str) -> bool {
    !(codespace == "sdk" && matches!(code, 2 | 4 | 6 | 7 | 12 | 21))
}

impl Broadcaster {
    pub(super) async fn ensure_account(&mut self) -> Result<(), crate::chain::query::QueryError> {
        if !self.account_loaded {
            let (number, sequence) = self.host.account(self.signer.address()).await?;
            self.signer.set_account(number, sequence);
            self.account_loaded = true;
            debug!(account_number = number, sequence, "loaded account");
        }
        Ok(())
    }

    pub(super) async fn broadcast(&mut self, plan: TxPlan, msgs: Vec<Any>, gas: u64) {
        let mut price = self.pricer.current();
        let mut fee = fee_for(gas, &price);
        let mut mismatches = 0;
        // Without a tx index, the tx is looked for in the blocks after this height.
        let start = self
            .blocks
            .height_before_broadcast(self.host.rpc(), self.options.confirm_poll)
            .await;
        loop {
            // Nothing is signed once shutdown has begun (also not a re-sign after code 32/13).
            if self.stopping() {
                return plan.settle_all(stopped());
            }
            let sequence = self.signer.sequence();
            let raw = self.signer.sign(msgs.clone(), gas, fee.clone());
            let hash = cosmos::tx_hash_hex(&raw);
            let chains = [self.host.chain_id(), self.counterparty.chain_id()];
            let m = crate::telemetry::metrics::metrics();
            m.txs_submitted.inc(&chains);
            let response = match self.host.rpc().broadcast_tx_sync(&raw).await {
                Ok(r) => r,
                Err(e) => {
                    m.txs_failed.inc(&[chains[0], chains[1], "other"]);
                    warn!(tx_hash = %hash, error = %e, "broadcast failed");
                    return plan.settle_all(Outcome::failed(format!("broadcast: {e}"), true));
                }
            };
            let code = response.code.value();
            if code == 0 {
                self.signer.advance();
                if let Some(need) = &plan.update {
                    if plan.lead.is_empty() {
                        super::carriers::count_without_update(&plan, chains);
                    } else {
                        self.updates.accepted(need);
                    }
                }
                debug!(
                    tx_hash = %hash,
                    sequence,
                    gas,
                    msgs = msgs.len(),
                    items = plan.items.len(),
                    "broadcast tx"
                );
                let priced_at = self.pricer.is_dynamic().then_some(price.price);
                return self.confirm(plan, hash, sequence, fee, priced_at, start);
            }
            let (codespace, log) = (response.codespace.as_str(), response.log.as_str());
            let cause = crate::telemetry::metrics::tx_failure_cause(code, codespace, log);
            m.txs_failed.inc(&[chains[0], chains[1], cause]);
            if code == 32 && (codespace == "sdk" || codespace.is_empty()) {
                mismatches += 1;
                match expected_sequence(log) {
                    Some(n) => self.signer.set_sequence(n),
                    None => {
                        self.account_loaded = false;
                        if let Err(e) = self.ensure_account().await {
                            let reason = format!("account query after sequence mismatch: {e}");
                            return plan.settle_all(Outcome::failed(reason, true));
                        }
                    }
                }
                if mismatches > self.options.sequence_retries {
                    let reason = format!("account sequence mismatch persists: {log}");
                    return plan.settle_all(Outcome::failed(reason, true));
                }
                debug!(
                    tx_hash = %hash,
                    sequence,
                    next = self.signer.sequence(),
                    "account sequence mismatch; re-signing"
                );
                continue;
            }
            if code == 13 && (codespace == "sdk" || codespace.is_empty()) {
                if let Some(next) = self.pricer.after_rejection(&self.host, &price).await {
                    m.fee_retries.inc(&[chains[0]]);
                    info!(
                        tx_hash = %hash,
                        paid = price.price,
                        next = next.price,
                        "insufficient fee; signing again at the chain's new price"
                    );
                    price = next;
                    fee = fee_for(gas, &price);
                    continue;
                }
            }
            if is_redundant(code, codespace, log) {
                info!(tx_hash = %hash, items = plan.items.len(), "redundant relay; another relayer was first");
                return plan.settle_all(Outcome::RedundantInMempool);
            }
            if plan.without_its_update() {
                if let Some(need) = &plan.update {
                    self.updates.forget(need);
                }
            }
            warn!(tx_hash = %hash, code, codespace, log, "CheckTx rejected the tx");
            let reason = format!("CheckTx code {code} ({codespace}): {log}");
            return plan.settle_all(Outcome::failed(reason, retryable_check(code, codespace)));
        }
    }
}
