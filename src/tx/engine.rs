//! The TxEngine of one chain and signer: workers hand it relay items and get each outcome back on
//! a oneshot. It batches items into txs bounded by `max_msg_num`, `max_tx_size` and `max_gas`,
//! proves them all at one height on the counterparty and puts one `MsgUpdateClient` in front,
//! estimates gas with Simulate, tracks the account sequence locally (recovering it from
//! "expected N" on code 32), broadcasts with `broadcast_tx_sync` and confirms inclusion
//! asynchronously.

use ibc_proto::google::protobuf::Any;
use tokio::sync::oneshot;

use crate::chain::types::RelayItem;

/// What became of a submitted item or message set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Included in a block with code 0 and executed.
    Done {
        /// Upper-case hex tx hash.
        tx_hash: String,
        /// Block height.
        height: u64,
    },
    /// Another relayer got there first: CheckTx code 22 "packet messages are redundant", or a
    /// NOOP result in an executed tx. Counts as done.
    Redundant,
    /// Failed; `retryable` tells whether trying again later can help.
    Failed {
        /// Why.
        reason: String,
        /// Whether to retry.
        retryable: bool,
    },
}

/// A handle to a running TxEngine. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TxEngine {
    _p: (),
}

impl TxEngine {
    /// Queues `item` for submission on this engine's chain; its proof comes from the
    /// counterparty, verified through client `client_id` (the counterparty's client on this
    /// chain). The outcome arrives on the returned receiver once the tx is confirmed or failed.
    pub async fn submit(&self, _client_id: &str, _item: RelayItem) -> oneshot::Receiver<Outcome> {
        todo!()
    }

    /// Signs and broadcasts `msgs` as one tx (no proofs, no client update), waiting for the
    /// outcome: for handshakes, client creation and transfers.
    pub async fn submit_msgs(&self, _msgs: Vec<Any>) -> Outcome {
        todo!()
    }
}
