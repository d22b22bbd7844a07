//! Gas: each tx is simulated at the local sequence (`simulate × gas_multiplier`), and a plan
//! whose estimate exceeds `max_gas` is split in two until it fits or holds one item.

use ibc_proto::google::protobuf::Any;
use tracing::{debug, warn};

use crate::tx::sign::{expected_sequence, fee_for, gas_limit_for};

use super::plan::TxPlan;
use super::submitter::Submitter;
use super::Outcome;

/// Gas estimate of a tx.
enum Estimate {
    /// Use this gas limit.
    Gas(u64),
    /// The estimate exceeds `max_gas`.
    TooMuch(u64),
}

impl Submitter {
    /// Estimates gas, signs, broadcasts and hands the tx to a confirmation task; splits plans
    /// whose gas exceeds `max_gas`.
    pub(super) async fn send(&mut self, plan: TxPlan) {
        let mut stack = vec![plan];
        while let Some(plan) = stack.pop() {
            if let Err(e) = self.ensure_account().await {
                plan.settle_all(Outcome::failed(format!("account query: {e}"), true));
                continue;
            }
            let msgs = plan.msgs();
            let gas = match self.estimate_gas(&msgs).await {
                Estimate::Gas(gas) => gas,
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
                    warn!(
                        gas,
                        max_gas = self.limits.max_gas,
                        "estimate exceeds max_gas; sending with max_gas"
                    );
                    self.limits.max_gas
                }
            };
            self.broadcast(plan, msgs, gas).await;
        }
    }

    /// Simulates `msgs` signed at the local sequence. A node that simulates against committed
    /// state (while our earlier txs wait in its mempool) answers with a sequence mismatch; the
    /// simulation is then repeated at the sequence it expects, since only the gas matters.
    async fn estimate_gas(&self, msgs: &[Any]) -> Estimate {
        let max_gas = self.limits.max_gas;
        let fee = fee_for(max_gas, &self.limits.gas_price);
        let mut sequence = self.signer.sequence();
        for attempt in 0..2 {
            let raw = self
                .signer
                .sign_at(sequence, msgs.to_vec(), max_gas, fee.clone());
            match self.host.simulate(raw).await {
                Ok(used) => {
                    let gas = gas_limit_for(used, self.limits.gas_multiplier);
                    return if gas > max_gas {
                        Estimate::TooMuch(gas)
                    } else {
                        Estimate::Gas(gas)
                    };
                }
                Err(e) => {
                    let text = e.to_string();
                    if attempt == 0 && text.contains("sequence mismatch") {
                        if let Some(n) = expected_sequence(&text).filter(|n| *n != sequence) {
                            sequence = n;
                            continue;
                        }
                    }
                    warn!(error = %text, max_gas, "simulation failed; using max_gas");
                    return Estimate::Gas(max_gas);
                }
            }
        }
        Estimate::Gas(max_gas)
    }
}
