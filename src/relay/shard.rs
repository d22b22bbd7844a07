//! Communication-free sharding between Arke instances that relay the same channels with their
//! own keys: each packet step is relayed by one instance, and the others stand by as backups.
//!
//! **The model.** For one packet step (the chain it is submitted on, the packet's source port and
//! channel, its sequence, the step: recv, ack, timeout) every instance ranks the same signers:
//! its own packet signers on that chain and the `[relay] peers` listed for it. A signer's score
//! is the SHA-256 of the step and the signer's address (each field length-prefixed), lowest
//! first, so every instance computes the same ranking without talking to the others, and each
//! signer is first for about `1 / n` of the steps. This instance's rank is that of its best
//! signer, which is also the one that signs the step:
//!
//! - rank 0 submits at once;
//! - rank `k` waits until `k × backup_delay` blocks of the chain the step is submitted on have
//!   passed since it saw the step, then asks the chain whether the step is still undone
//!   (receipt, or commitment) and only then submits: it *takes over*.
//!
//! **Silent peers.** A takeover is evidence that the signers ranked ahead did not relay in time:
//! they are marked *silent* and left out of the ranking of this chain's steps, so this instance
//! moves up, at once, for the steps still waiting and for new ones. A peer stopped mid-stream
//! thus costs its share one `backup_delay` (the first takeover of each missed signer re-ranks
//! everything waiting), not `k × backup_delay`. A silent peer is ranked again after
//! [`SILENT_BLOCKS`] blocks, or sooner when the chain shows a step it was ranked ahead of us for
//! done by someone else ([`REVIVE_GRACE`] blocks after it fell silent: the last txs of a stopped
//! peer still land just after it stopped). If it is still gone, its next missed step marks it
//! again.
//!
//! **Who carries a client update.** Instances proving packets of the same counterparty block
//! would each lead their tx with the same `MsgUpdateClient`. For the update of a client to a
//! height, the candidates are the live signers first for a packet step whose event was at one
//! of the counterparty heights the tx's items come from (every instance saw those steps and
//! ranked them alike); the one with the lowest SHA-256 of the update and its address carries
//! it, and the others' engines wait for it instead of paying for their own
//! (`tx::engine::carriers`, through [`UpdateCarriers`]).
//!
//! Nothing here is needed for safety: the chain refuses a packet received twice, and the
//! mempool hold (`tx::engine::hold`) keeps a backup from racing a pending tx. Disagreement
//! between instances (a different peer list, a different view of who is silent) costs either a
//! redundant tx or one more delay, never a lost packet. With no peers on a chain there is no
//! [`ChainShard`] and every step is submitted at once, as without sharding. ORDERED channels are
//! not sharded: their packets go in sequence order through one signer.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::channel::{Job, Side};
use crate::chain::types::RelayKind;
use crate::telemetry::state::ShardInfo;
use crate::tx::engine::UpdateCarriers;

/// Blocks after which a silent peer is ranked again.
pub(crate) const SILENT_BLOCKS: u64 = 100;

/// Blocks after a peer was marked silent before a step done by someone else revives it.
pub(crate) const REVIVE_GRACE: u64 = 10;

/// Steps waiting for their backup turn, per pipeline (bounded: beyond it a step goes at once).
pub(crate) const MAX_DEFERRED: usize = 20_000;

/// Counterparty event heights whose first signers are remembered for choosing update carriers.
pub(crate) const CARRIER_HEIGHTS: usize = 64;

/// What identifies one packet step in the ranking.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StepId<'a> {
    /// The chain the step is submitted on.
    pub(crate) chain: &'a str,
    /// The packet's source port.
    pub(crate) port: &'a str,
    /// The packet's source channel.
    pub(crate) channel: &'a str,
    /// The packet's sequence.
    pub(crate) sequence: u64,
    /// The step.
    pub(crate) kind: &'a RelayKind,
}

/// The score of `signer` for `step`: SHA-256 of the length-prefixed fields.
pub(crate) fn score(step: &StepId<'_>, signer: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    let kind = step.kind.to_string();
    for field in [
        step.chain.as_bytes(),
        step.port.as_bytes(),
        step.channel.as_bytes(),
        &step.sequence.to_be_bytes(),
        kind.as_bytes(),
        signer.as_bytes(),
    ] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field);
    }
    h.finalize().into()
}

/// The score of `signer` for carrying the update of `client_id` on `chain` to `height`: SHA-256
/// of the length-prefixed fields, after the tag `client-update`.
pub(crate) fn update_score(chain: &str, client_id: &str, height: u64, signer: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    for field in [
        &b"client-update"[..],
        chain.as_bytes(),
        client_id.as_bytes(),
        &height.to_be_bytes(),
        signer.as_bytes(),
    ] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field);
    }
    h.finalize().into()
}

/// `signers` in rank order for `step` (lowest score first; the address breaks a tie).
pub(crate) fn ranking<'s>(
    step: &StepId<'_>,
    signers: impl IntoIterator<Item = &'s str>,
) -> Vec<&'s str> {
    let mut scored: Vec<([u8; 32], &str)> =
        signers.into_iter().map(|s| (score(step, s), s)).collect();
    scored.sort_unstable();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().map(|(_, s)| s).collect()
}

/// Where this instance stands for one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Assignment {
    /// Rank among the live signers (0: relay at once).
    pub(crate) rank: usize,
    /// Which own signer signs it (index into the chain's packet signers).
    pub(crate) signer: usize,
    /// The live signers ranked ahead of us.
    pub(crate) ahead: Vec<String>,
}

/// The sharding of one chain: who ranks, who is silent, and the counts behind the share.
#[derive(Debug)]
pub(crate) struct ChainShard {
    chain_id: String,
    /// This instance's packet signers, in the chain handle's order.
    own: Vec<String>,
    /// The configured peers that are not our own signers.
    peers: Vec<String>,
    backup_delay: u64,
    /// Silent peers, with the height they were marked at.
    silent: Mutex<BTreeMap<String, u64>>,
    /// Per counterparty event height, the signers first for a step of an event there (the
    /// last [`CARRIER_HEIGHTS`] heights).
    firsts: Mutex<BTreeMap<u64, BTreeSet<String>>>,
    ranked: AtomicU64,
    first: AtomicU64,
}

impl ChainShard {
    /// The sharding of `chain_id` among `own` and `peers`; `None` when no peer is left once our
    /// own signers are taken out (an operator may give every instance the same full list).
    pub(crate) fn new(
        chain_id: &str,
        own: Vec<String>,
        peers: &[String],
        backup_delay: u64,
    ) -> Option<Self> {
        let mut others: Vec<String> = peers.iter().filter(|p| !own.contains(p)).cloned().collect();
        others.sort();
        others.dedup();
        if others.is_empty() || own.is_empty() {
            return None;
        }
        Some(Self {
            chain_id: chain_id.to_string(),
            own,
            peers: others,
            backup_delay: backup_delay.max(1),
            silent: Mutex::new(BTreeMap::new()),
            firsts: Mutex::new(BTreeMap::new()),
            ranked: AtomicU64::new(0),
            first: AtomicU64::new(0),
        })
    }

    /// The chain's id.
    pub(crate) fn chain_id(&self) -> &str {
        &self.chain_id
    }

    fn silent(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u64>> {
        self.silent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The blocks a step of rank `rank` waits.
    pub(crate) fn delay(&self, rank: usize) -> u64 {
        (rank as u64).saturating_mul(self.backup_delay)
    }

    /// This instance's place for `step` at `height` of the chain, counted in the share; the
    /// first signer is remembered for `event_height` of the counterparty (the step's event; 0:
    /// none), for choosing update carriers.
    pub(crate) fn assign(&self, step: &StepId<'_>, height: u64, event_height: u64) -> Assignment {
        let a = self.rank(step, height);
        self.ranked.fetch_add(1, Ordering::Relaxed);
        if a.rank == 0 {
            self.first.fetch_add(1, Ordering::Relaxed);
        }
        let first = match a.ahead.first() {
            Some(peer) => Some(peer.clone()),
            None => self.own.get(a.signer).cloned(),
        };
        if let (true, Some(first)) = (event_height > 0, first) {
            let mut firsts = self.firsts.lock().unwrap_or_else(|e| e.into_inner());
            firsts.entry(event_height).or_default().insert(first);
            while firsts.len() > CARRIER_HEIGHTS {
                firsts.pop_first();
            }
        }
        a
    }

    /// This instance's place for `step` among the signers live at `height` (not counted).
    pub(crate) fn rank(&self, step: &StepId<'_>, height: u64) -> Assignment {
        let silent = self.silent();
        let live = self.own.iter().map(String::as_str).chain(
            self.peers
                .iter()
                .filter(|p| silent.get(*p).is_none_or(|at| height >= at + SILENT_BLOCKS))
                .map(String::as_str),
        );
        let order = ranking(step, live);
        let rank = order
            .iter()
            .position(|s| self.own.iter().any(|o| o == s))
            .unwrap_or(0);
        let signer = self.own.iter().position(|o| o == order[rank]).unwrap_or(0);
        Assignment {
            rank,
            signer,
            ahead: order[..rank].iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Marks `peers` silent at `height`; true when one of them was not silent before.
    pub(crate) fn mark_silent(&self, peers: &[String], height: u64) -> bool {
        let mut silent = self.silent();
        let mut any = false;
        for p in peers {
            let fresh = silent.get(p).is_none_or(|at| height >= at + SILENT_BLOCKS);
            if fresh {
                tracing::info!(chain = %self.chain_id, peer = %p, height, "peer did not relay within its turn; taking over its share");
                silent.insert(p.clone(), height);
                any = true;
            }
        }
        any
    }

    /// `step` was done by someone else, seen at `height`. When every signer ranked ahead of us
    /// for it (by the full ranking) is silent, one of them did it: those silent for at least
    /// [`REVIVE_GRACE`] blocks are ranked again. A live signer ahead proves nothing.
    pub(crate) fn done_elsewhere(&self, step: &StepId<'_>, height: u64) {
        let mut silent = self.silent();
        if silent.is_empty() {
            return;
        }
        let is_silent = |s: &str, silent: &BTreeMap<String, u64>| {
            silent.get(s).is_some_and(|at| height < at + SILENT_BLOCKS)
        };
        let all = self.own.iter().chain(&self.peers).map(String::as_str);
        let order = ranking(step, all);
        let ahead: Vec<&str> = order
            .into_iter()
            .take_while(|s| !self.own.iter().any(|o| o == s))
            .collect();
        if ahead.is_empty() || ahead.iter().any(|s| !is_silent(s, &silent)) {
            return;
        }
        for s in ahead {
            if silent.get(s).is_some_and(|at| height >= at + REVIVE_GRACE) {
                tracing::info!(chain = %self.chain_id, peer = %s, height, "a silent peer relays again");
                silent.remove(s);
            }
        }
    }

    /// The state `/state` shows, at `height`.
    pub(crate) fn snapshot(&self, height: u64) -> ShardInfo {
        let silent: Vec<String> = self
            .silent()
            .iter()
            .filter(|(_, at)| height < *at + SILENT_BLOCKS)
            .map(|(p, _)| p.clone())
            .collect();
        let ranked = self.ranked.load(Ordering::Relaxed);
        let first = self.first.load(Ordering::Relaxed);
        let live = self.own.len() + self.peers.len() - silent.len();
        ShardInfo {
            own: self.own.clone(),
            peers: self.peers.clone(),
            silent,
            backup_delay: self.backup_delay,
            ranked,
            share: if ranked == 0 {
                0.0
            } else {
                first as f64 / ranked as f64
            },
            expected_share: self.own.len() as f64 / live.max(1) as f64,
        }
    }
}

impl UpdateCarriers for ChainShard {
    fn carrier(
        &self,
        signer: &str,
        client_id: &str,
        height: u64,
        event_heights: &[u64],
        now: u64,
    ) -> Option<String> {
        let firsts = self.firsts.lock().unwrap_or_else(|e| e.into_inner());
        let silent = self.silent();
        let live = |s: &str| {
            self.own.iter().any(|o| o == s)
                || silent.get(s).is_none_or(|at| now >= at + SILENT_BLOCKS)
        };
        let score = |s: &str| update_score(&self.chain_id, client_id, height, s);
        let mut best = (score(signer), signer);
        for s in event_heights
            .iter()
            .filter_map(|e| firsts.get(e))
            .flatten()
            .filter(|s| live(s))
        {
            let candidate = (score(s), s.as_str());
            if candidate < best {
                best = candidate;
            }
        }
        (best.1 != signer).then(|| best.1.to_string())
    }
}

/// A step waiting for its backup turn.
#[derive(Debug)]
pub(crate) struct Deferred {
    /// The job.
    pub(crate) job: Job,
    /// Its step.
    pub(crate) kind: RelayKind,
    /// The side it is submitted on.
    pub(crate) side: Side,
    /// The height of that side's chain when it was first deferred.
    pub(crate) since: u64,
    /// Not taken over before this height (a peer's pending tx carried it at the last look).
    pub(crate) not_before: u64,
    /// Our place at the last ranking.
    pub(crate) assignment: Assignment,
}

impl Deferred {
    /// The height from which it may be taken over.
    pub(crate) fn due(&self, delay: impl Fn(Side, usize) -> u64) -> u64 {
        (self.since + delay(self.side, self.assignment.rank)).max(self.not_before)
    }
}

/// The deferred steps of one pipeline, bounded by [`MAX_DEFERRED`].
#[derive(Debug, Default)]
pub(crate) struct Deferrals {
    items: Vec<Deferred>,
}

impl Deferrals {
    /// Keeps `d` until its turn; gives it back when full.
    #[must_use]
    pub(crate) fn push(&mut self, d: Deferred) -> Option<Deferred> {
        if self.items.len() >= MAX_DEFERRED {
            return Some(d);
        }
        self.items.push(d);
        None
    }

    /// How many wait.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Takes out the steps whose turn has come at `tops` (each side's latest height).
    pub(crate) fn take_due(
        &mut self,
        tops: [u64; 2],
        delay: impl Fn(Side, usize) -> u64,
    ) -> Vec<Deferred> {
        let (due, wait) = std::mem::take(&mut self.items)
            .into_iter()
            .partition(|d| tops[d.side.index()] >= d.due(&delay));
        self.items = wait;
        due
    }

    /// Ranks every waiting step again (after peers fell silent).
    pub(crate) fn rerank(&mut self, rank: impl Fn(&Deferred) -> Option<Assignment>) {
        for d in &mut self.items {
            if let Some(a) = rank(d) {
                d.assignment = a;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(sequence: u64) -> StepId<'static> {
        StepId {
            chain: "devnet-2",
            port: "transfer",
            channel: "channel-0",
            sequence,
            kind: &RelayKind::Recv,
        }
    }

    fn shard(me: &str, all: &[&str]) -> ChainShard {
        let peers: Vec<String> = all.iter().map(|s| s.to_string()).collect();
        ChainShard::new("devnet-2", vec![me.to_string()], &peers, 2).expect("peers")
    }

    #[test]
    fn the_score_is_sha256_of_the_length_prefixed_fields() {
        // Pinned: every instance, of any version, must compute the same ranking.
        let s = score(&step(7), "cosmos1abc");
        assert_eq!(
            hex::encode(s),
            hex::encode({
                let mut h = Sha256::new();
                for f in [
                    &b"devnet-2"[..],
                    b"transfer",
                    b"channel-0",
                    &7u64.to_be_bytes(),
                    b"recv",
                    b"cosmos1abc",
                ] {
                    h.update((f.len() as u64).to_be_bytes());
                    h.update(f);
                }
                <[u8; 32]>::from(h.finalize())
            })
        );
    }

    #[test]
    fn instances_agree_and_share_evenly() {
        let all = ["cosmos1x", "cosmos1y", "cosmos1z"];
        let shards: Vec<ChainShard> = all.iter().map(|me| shard(me, &all)).collect();
        let mut firsts = [0u32; 3];
        for seq in 1..=3000 {
            let ranks: Vec<usize> = shards
                .iter()
                .map(|s| s.assign(&step(seq), 1, 0).rank)
                .collect();
            // The ranks are a permutation: exactly one instance is first.
            let mut sorted = ranks.clone();
            sorted.sort();
            assert_eq!(sorted, vec![0, 1, 2], "sequence {seq}");
            for (i, r) in ranks.iter().enumerate() {
                if *r == 0 {
                    firsts[i] += 1;
                }
            }
        }
        for f in firsts {
            assert!((900..=1100).contains(&f), "{firsts:?}");
        }
        let snap = shards[0].snapshot(1);
        assert!((snap.share - 1.0 / 3.0).abs() < 0.04, "{snap:?}");
        assert!((snap.expected_share - 1.0 / 3.0).abs() < 1e-9);
        // Steps of one packet are ranked independently.
        let ack = StepId {
            kind: &RelayKind::Ack,
            ..step(1)
        };
        assert_ne!(score(&ack, "cosmos1x"), score(&step(1), "cosmos1x"));
    }

    #[test]
    fn one_update_carrier_among_the_signers_first_for_steps_of_the_events() {
        // Pinned like the step score: every instance must name the same carrier.
        let s = update_score("devnet-2", "07-tendermint-0", 44, "cosmos1abc");
        assert_eq!(
            hex::encode(s),
            hex::encode({
                let mut h = Sha256::new();
                for f in [
                    &b"client-update"[..],
                    b"devnet-2",
                    b"07-tendermint-0",
                    &44u64.to_be_bytes(),
                    b"cosmos1abc",
                ] {
                    h.update((f.len() as u64).to_be_bytes());
                    h.update(f);
                }
                <[u8; 32]>::from(h.finalize())
            })
        );
        let all = ["cosmos1x", "cosmos1y", "cosmos1z"];
        let shards: Vec<ChainShard> = all.iter().map(|me| shard(me, &all)).collect();
        // Every instance sees the steps of counterparty height 7 and ranks them alike.
        for s in &shards {
            for seq in 1..=30 {
                s.assign(&step(seq), 1, 7);
            }
        }
        let mut carriers = 0;
        for height in 8..40 {
            let named: Vec<Option<String>> = shards
                .iter()
                .zip(all)
                .map(|(s, me)| s.carrier(me, "07-tendermint-0", height, &[7], 1))
                .collect();
            // Exactly one instance carries it; the others name that one.
            let carrier: Vec<&str> = all
                .iter()
                .zip(&named)
                .filter(|(_, n)| n.is_none())
                .map(|(me, _)| *me)
                .collect();
            assert_eq!(carrier.len(), 1, "height {height}: {named:?}");
            for n in named.iter().flatten() {
                assert_eq!(n, carrier[0]);
            }
            carriers += usize::from(carrier[0] == "cosmos1x");
        }
        assert!(
            carriers > 0 && carriers < 32,
            "the carrier changes with the height"
        );
        // Steps of other heights, or none known: each carries its own.
        assert_eq!(
            shards[0].carrier("cosmos1x", "07-tendermint-0", 9, &[3], 1),
            None
        );
        assert_eq!(
            shards[0].carrier("cosmos1x", "07-tendermint-0", 9, &[], 1),
            None
        );
        // A silent peer carries nothing.
        let x = &shards[0];
        let named = x.carrier("cosmos1x", "07-tendermint-0", 9, &[7], 1);
        if let Some(peer) = named {
            x.mark_silent(std::slice::from_ref(&peer), 1);
            assert_ne!(
                x.carrier("cosmos1x", "07-tendermint-0", 9, &[7], 2),
                Some(peer)
            );
        }
    }

    #[test]
    fn own_signers_in_the_peer_list_are_no_peers() {
        assert!(ChainShard::new("c", vec!["me".into()], &["me".into()], 2).is_none());
        assert!(ChainShard::new("c", vec!["me".into()], &[], 2).is_none());
        let s = ChainShard::new("c", vec!["me".into()], &["me".into(), "p".into()], 2).unwrap();
        assert_eq!(s.snapshot(0).peers, vec!["p".to_string()]);
    }

    #[test]
    fn several_own_signers_take_the_best_rank() {
        let peers = vec!["cosmos1p".to_string()];
        let s = ChainShard::new(
            "devnet-2",
            vec!["cosmos1a".into(), "cosmos1b".into()],
            &peers,
            2,
        )
        .unwrap();
        for seq in 1..200 {
            let a = s.rank(&step(seq), 1);
            let order = ranking(&step(seq), ["cosmos1a", "cosmos1b", "cosmos1p"]);
            let best = order.iter().position(|x| *x != "cosmos1p").unwrap();
            assert_eq!(a.rank, best);
            assert_eq!(["cosmos1a", "cosmos1b"][a.signer], order[best]);
        }
    }

    #[test]
    fn silent_peers_leave_the_ranking_until_they_expire_or_revive() {
        let all = ["cosmos1x", "cosmos1y", "cosmos1z"];
        let s = shard("cosmos1z", &all);
        let seq = (1..)
            .find(|q| s.rank(&step(*q), 1).rank == 2)
            .expect("a step where we are last");
        let a = s.rank(&step(seq), 1);
        assert_eq!(a.ahead.len(), 2);
        assert_eq!(s.delay(a.rank), 4);
        assert!(s.mark_silent(&a.ahead, 10));
        assert!(!s.mark_silent(&a.ahead, 11), "already silent");
        assert_eq!(s.rank(&step(seq), 11).rank, 0);
        assert_eq!(s.snapshot(11).silent.len(), 2);
        assert!((s.snapshot(11).expected_share - 1.0).abs() < 1e-9);
        // Done by someone else too soon after: late txs of a stopped peer; no revival.
        s.done_elsewhere(&step(seq), 10 + REVIVE_GRACE - 1);
        assert_eq!(s.rank(&step(seq), 20).rank, 0);
        // Later: the peers ranked ahead are back.
        s.done_elsewhere(&step(seq), 10 + REVIVE_GRACE);
        assert_eq!(s.rank(&step(seq), 20).rank, 2);
        // Expiry.
        s.mark_silent(&a.ahead, 30);
        assert_eq!(s.rank(&step(seq), 30 + SILENT_BLOCKS - 1).rank, 0);
        assert_eq!(s.rank(&step(seq), 30 + SILENT_BLOCKS).rank, 2);
    }

    #[test]
    fn deferrals_come_due_by_rank_and_rerank() {
        let mut d = Deferrals::default();
        let job = |seq| Job {
            from: Side::A,
            packet: ibc_proto::ibc::core::channel::v1::Packet {
                sequence: seq,
                ..Default::default()
            },
            ack: Vec::new(),
            event_height: 5,
        };
        for (seq, rank) in [(1, 1), (2, 2)] {
            let full = d.push(Deferred {
                job: job(seq),
                kind: RelayKind::Recv,
                side: Side::B,
                since: 10,
                not_before: 0,
                assignment: Assignment {
                    rank,
                    signer: 0,
                    ahead: Vec::new(),
                },
            });
            assert!(full.is_none(), "room to wait");
        }
        let delay = |_: Side, rank: usize| rank as u64 * 2;
        assert!(d.take_due([100, 11], delay).is_empty());
        let due = d.take_due([0, 12], delay);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].job.packet.sequence, 1);
        d.rerank(|_| {
            Some(Assignment {
                rank: 0,
                signer: 0,
                ahead: Vec::new(),
            })
        });
        assert_eq!(d.take_due([0, 12], delay).len(), 1);
        assert_eq!(d.len(), 0);
    }
}
