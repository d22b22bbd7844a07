//! One client update per height. Packet messages proved at counterparty height `H` need the
//! client to hold the consensus state of `H + 1`; while it does not, a tx leads with the
//! `MsgUpdateClient` that installs it. A header verification is the dearest part of a relay tx,
//! and an engine proves many batches at the same `H` while the counterparty makes one block, so
//! only the first tx for a (client, height) carries the update:
//!
//! - a `MsgUpdateClient` that passed CheckTx is applied to the node's check state (ibc-go ≥ 8.1:
//!   its `RedundantRelayDecorator` verifies and stores the update in CheckTx), so the next tx
//!   proving at `H` simulates and passes CheckTx without one;
//! - one signer's txs execute in sequence order, so in the block the carrier runs first.
//!
//! A carrier that fails in its block, is lost, or is refused, and a tx without the update that
//! fails, make the engine forget the carrier at once: what is sent next for that height carries
//! the update again (txs already sent without it fail with their carrier, and their items go
//! again). A chain whose CheckTx does not store updates (ibc-go < 8.1) shows it when a tx
//! without the update is refused by simulation but passes with it: from then on this engine
//! puts the update in every tx, as before.
//!
//! The update itself (the header at `H + 1`, its validators and those after the trusted height)
//! is built once per (client, trusted height, target height) and reused by every batch that
//! proves at that height, so those requests are made once, not once per batch.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ibc_proto::google::protobuf::Any;

/// The client update a plan's packet messages need: to `height` of `client_id`, by `msgs`.
#[derive(Clone, Debug)]
pub(super) struct UpdateNeed {
    pub(super) client_id: String,
    pub(super) height: u64,
    /// The `MsgUpdateClient`s (one, or several across validator-set changes), shared by the
    /// plans of one batch.
    pub(super) msgs: Arc<[Any]>,
}

/// The updates this engine's accepted txs carry, one per client: the latest height sent; and
/// the last update built per client, so batches proving at one height fetch its header once.
#[derive(Default)]
pub(super) struct Updates {
    carried: Mutex<BTreeMap<String, u64>>,
    /// Per client: the last update built, with the trusted height it starts from.
    built: Mutex<BTreeMap<String, (u64, UpdateNeed)>>,
    /// The chain's CheckTx does not keep updates: every tx carries its own.
    unsupported: AtomicBool,
}

impl Updates {
    fn carried(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u64>> {
        self.carried.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether an accepted tx of this engine carries `need` (so this one may go without).
    pub(super) fn is_carried(&self, need: &UpdateNeed) -> bool {
        !self.unsupported.load(Ordering::Relaxed)
            && self.carried().get(&need.client_id) == Some(&need.height)
    }

    /// A tx carrying `need` passed CheckTx.
    pub(super) fn accepted(&self, need: &UpdateNeed) {
        self.carried().insert(need.client_id.clone(), need.height);
    }

    /// A tx with `need` (carrying it or not) failed or was lost: the next one carries it again.
    pub(super) fn forget(&self, need: &UpdateNeed) {
        let mut carried = self.carried();
        if carried.get(&need.client_id) == Some(&need.height) {
            carried.remove(&need.client_id);
        }
    }

    /// The update of `client_id` from `trusted` to `height` built before, if it was the last
    /// one built for that client (its header and validators are not fetched again).
    pub(super) fn built(&self, client_id: &str, height: u64, trusted: u64) -> Option<UpdateNeed> {
        let built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        match built.get(client_id) {
            Some((from, need)) if *from == trusted && need.height == height => Some(need.clone()),
            _ => None,
        }
    }

    /// Keeps `need`, built from `trusted`, as its client's last update.
    pub(super) fn remember_built(&self, need: &UpdateNeed, trusted: u64) {
        self.built
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(need.client_id.clone(), (trusted, need.clone()));
    }

    /// Whether the chain's CheckTx was seen not to keep client updates.
    pub(super) fn is_unsupported(&self) -> bool {
        self.unsupported.load(Ordering::Relaxed)
    }

    /// A tx without its update was refused where the same tx with it passed.
    pub(super) fn mark_unsupported(&self) {
        if !self.unsupported.swap(true, Ordering::Relaxed) {
            tracing::info!(
                "the chain's CheckTx does not keep client updates; every tx carries its own"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(client: &str, height: u64) -> UpdateNeed {
        UpdateNeed {
            client_id: client.into(),
            height,
            msgs: Arc::from(Vec::new()),
        }
    }

    #[test]
    fn an_accepted_update_is_carried_until_forgotten_or_superseded() {
        let updates = Updates::default();
        assert!(!updates.is_carried(&need("07-tendermint-0", 10)));
        updates.accepted(&need("07-tendermint-0", 10));
        assert!(updates.is_carried(&need("07-tendermint-0", 10)));
        assert!(
            !updates.is_carried(&need("07-tendermint-0", 11)),
            "another height"
        );
        assert!(
            !updates.is_carried(&need("07-tendermint-1", 10)),
            "another client"
        );
        // Forgetting an older height leaves the newer one.
        updates.accepted(&need("07-tendermint-0", 12));
        updates.forget(&need("07-tendermint-0", 10));
        assert!(updates.is_carried(&need("07-tendermint-0", 12)));
        updates.forget(&need("07-tendermint-0", 12));
        assert!(!updates.is_carried(&need("07-tendermint-0", 12)));
        // The last update built per client is found again for the same trusted and target
        // heights only.
        updates.remember_built(&need("07-tendermint-0", 20), 15);
        assert!(updates.built("07-tendermint-0", 20, 15).is_some());
        assert!(updates.built("07-tendermint-0", 20, 16).is_none());
        assert!(updates.built("07-tendermint-0", 21, 15).is_none());
        updates.remember_built(&need("07-tendermint-0", 21), 15);
        assert!(
            updates.built("07-tendermint-0", 20, 15).is_none(),
            "one per client"
        );
        // Without CheckTx support, nothing is carried for others.
        updates.accepted(&need("07-tendermint-0", 13));
        updates.mark_unsupported();
        assert!(!updates.is_carried(&need("07-tendermint-0", 13)));
    }
}
