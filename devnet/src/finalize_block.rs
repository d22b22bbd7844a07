//! Work FinalizeBlock does besides the block's txs: ICS-20 transfers the chain sends on its
//! own, after the txs (in end block), as ICS provider packets, async acknowledgements and
//! end-block IBC traffic are sent on real chains. Their `send_packet` events appear only in
//! `finalize_block_events`, never in a tx result, and their commitments are ordinary packet
//! commitments a relayer relays.
//!
//! A transfer is either scheduled for the next block ([`crate::node::Node::schedule_finalize_block_transfer`])
//! or repeated every N blocks ([`PeriodicTransfer`], the `--finalize-block-transfer` flag). The
//! transfers a block executed are stored with it, so a `--data-dir` restart replays exactly them,
//! whatever the configuration of the restarted node.

use ibc_proto::ibc::applications::transfer::v1::MsgTransfer;
use tendermint::abci::{Event, EventAttributeIndexExt};

use crate::exec::{ExecState, GasMeter};
use crate::ibc::{self, HostInfo};
use crate::store::State;

/// One ICS-20 transfer sent from FinalizeBlock. The timeout is relative to the block time, so
/// the packet is a function of the block it executes in.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockTransfer {
    /// The account the tokens leave (bech32, on this chain; a genesis or module account).
    pub sender: String,
    /// The receiver on the counterparty chain.
    pub receiver: String,
    /// Source port, e.g. `transfer`.
    pub source_port: String,
    /// Source channel, e.g. `channel-0`.
    pub source_channel: String,
    /// Denom on this chain (`stake`, or an `ibc/…` voucher).
    pub denom: String,
    /// Amount.
    pub amount: u128,
    /// The packet times out this many seconds after the block time.
    pub timeout_secs: u64,
    /// Memo.
    #[serde(default)]
    pub memo: String,
}

/// Ten minutes, the timeout the flag's transfers get.
pub const DEFAULT_TIMEOUT_SECS: u64 = 600;

/// A transfer the chain sends from FinalizeBlock at every height divisible by `every_n_blocks`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeriodicTransfer {
    /// The period in blocks (at least 1).
    pub every_n_blocks: u64,
    /// What is sent each time.
    pub transfer: BlockTransfer,
}

impl PeriodicTransfer {
    /// Whether the transfer goes out in block `height`.
    pub fn due_at(&self, height: u64) -> bool {
        self.every_n_blocks > 0 && height.is_multiple_of(self.every_n_blocks)
    }
}

/// Executes `transfers` on `state` after the block's txs and returns the block-level events,
/// each attribute marked for indexing and tagged `mode=EndBlock` as baseapp tags end-block
/// events. A transfer that fails (no such channel yet, too few funds) changes nothing and emits
/// nothing, as a module skipping a send it cannot make.
pub fn execute(state: &mut State, host: &HostInfo<'_>, transfers: &[BlockTransfer]) -> Vec<Event> {
    let mut out = Vec::new();
    for t in transfers {
        let msg = MsgTransfer {
            source_port: t.source_port.clone(),
            source_channel: t.source_channel.clone(),
            token: Some(ibc_proto::cosmos::base::v1beta1::Coin {
                denom: t.denom.clone(),
                amount: t.amount.to_string(),
            }),
            sender: t.sender.clone(),
            receiver: t.receiver.clone(),
            timeout_height: None,
            timeout_timestamp: timeout_ns(host.time_ns, t.timeout_secs),
            memo: t.memo.clone(),
        };
        let any = cosmos::to_any(&msg);
        let mut st = ExecState::new(state.clone(), GasMeter::infinite());
        match ibc::execute(&mut st, host, &any, &t.sender) {
            Ok(result) => {
                *state = st.state;
                out.extend(
                    result
                        .events
                        .into_iter()
                        // The `message` event belongs to a tx's message; there is none here.
                        .filter(|e| e.kind != "message")
                        .map(end_block_event),
                );
            }
            Err(e) => tracing::debug!(
                height = host.height,
                channel = %t.source_channel,
                error = %e.log,
                "finalize-block transfer skipped"
            ),
        }
    }
    out
}

fn end_block_event(mut event: Event) -> Event {
    event.attributes.push(("mode", "EndBlock").index().into());
    crate::app::set_index(std::slice::from_mut(&mut event), true);
    event
}

fn timeout_ns(block_time_ns: u128, secs: u64) -> u64 {
    let t = block_time_ns.saturating_add(u128::from(secs) * 1_000_000_000);
    u64::try_from(t).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_and_timeout() {
        let t = BlockTransfer {
            sender: "cosmos1x".into(),
            receiver: "cosmos1y".into(),
            source_port: "transfer".into(),
            source_channel: "channel-0".into(),
            denom: "stake".into(),
            amount: 1,
            timeout_secs: 1,
            memo: String::new(),
        };
        let p = PeriodicTransfer {
            every_n_blocks: 3,
            transfer: t,
        };
        assert!(p.due_at(3) && p.due_at(6) && !p.due_at(4));
        assert_eq!(timeout_ns(5, 2), 2_000_000_005);
        assert_eq!(timeout_ns(u128::MAX, 2), u64::MAX);
    }
}
