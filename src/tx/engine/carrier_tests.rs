//! The engine against real devnets beside other signers' pending txs:
//!
//! - another signer is named to carry the client update (`carriers`): our tx goes without one
//!   once the carrier's is pending; when the carrier's tx is evicted after that, ours fails in
//!   its block (a recheck does not verify its proof again), which is counted, and the item goes
//!   again with our own update;
//! - a packet message a pending tx carries answers NOOP in simulation and leaves our tx before
//!   it is signed (`hold`), without a mempool view.

use std::time::Duration;

use cosmos::to_any;
use devnet::testing::ConnectedChains;
use ibc_proto::ibc::core::client::v1::MsgUpdateClient;
use tokio_util::sync::CancellationToken;

use super::supervision_tests::{config, querier, send};
use super::{Outcome, TxEngine, TxEngineOptions, UpdateCarriers};
use crate::chain::types::{RelayItem, RelayKind};
use crate::telemetry::metrics::metrics;

const LIMIT: Duration = Duration::from_secs(60);

/// Names one signer as the carrier of every update.
#[derive(Debug)]
struct Named(String);

impl UpdateCarriers for Named {
    fn carrier(&self, signer: &str, _: &str, _: u64, heights: &[u64], _: u64) -> Option<String> {
        (signer != self.0 && !heights.is_empty()).then(|| self.0.clone())
    }
}

/// Waits until `f` holds.
async fn until(what: &str, f: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tx_relying_on_an_evicted_carrier_fails_once_and_goes_again_with_its_update() {
    let chains = ConnectedChains::start(Duration::from_millis(200), false)
        .await
        .expect("chains");
    let (a, b, path) = (&chains.a, &chains.b, &chains.path);
    let cfg = config(&chains);
    let (qa, qb) = (querier(&cfg.chains.a), querier(&cfg.chains.b));
    let carrier = b.address(&b.user);
    let options = TxEngineOptions {
        update_carriers: Some(std::sync::Arc::new(Named(carrier.clone()))),
        ..TxEngineOptions::default()
    };
    let stop = CancellationToken::new();
    let (engine, task) = TxEngine::spawn_with(
        &cfg.chains.b,
        qb,
        qa,
        b.relayer.clone(),
        stop.clone(),
        options,
    );

    // A packet, a block of A after it, and A paused: the engine proves at A's latest − 1 and
    // needs the update to A's latest, `target`.
    let packet = send(&chains).await;
    let sent_at = a.node().latest_height();
    a.wait_for_height(sent_at + 1).await.expect("A advances");
    a.devnet.pause();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let target = a.node().latest_height();
    // The carrier (B's user) puts that update into B's paused mempool.
    b.devnet.pause();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let trusted = devnet::testing::client_height(b, &path.client_b).expect("client height");
    assert!(trusted <= sent_at, "the client is behind the packet");
    let updates = a
        .light_headers(target, trusted)
        .expect("headers")
        .into_iter()
        .map(|header| {
            to_any(&MsgUpdateClient {
                client_id: path.client_b.clone(),
                client_message: Some(header),
                signer: carrier.clone(),
            })
        })
        .collect();
    let mut wallet = b.wallet(&b.user).expect("wallet");
    let n = wallet.sequence;
    let check = b
        .node()
        .try_broadcast_tx(wallet.sign_next(updates, Vec::new(), 5_000_000, ""))
        .expect("mempool takes it");
    assert_eq!(check.code.value(), 0, "{}", check.log);

    let (chain_a, chain_b) = (a.node().chain_id(), b.node().chain_id());
    let labels = [chain_b.as_str(), chain_a.as_str(), path.client_b.as_str()];
    let borrowed = || {
        metrics()
            .client_updates_borrowed
            .get(&[labels[0], labels[1], labels[2], "peer"])
    };
    let lost = || metrics().borrowed_updates_lost.get(&labels);
    let (borrowed_before, lost_before) = (borrowed(), lost());
    let item = RelayItem {
        kind: RelayKind::Recv,
        packet: packet.clone(),
        ack: Vec::new(),
        ordered: false,
        event_height: sent_at,
    };
    let outcome = engine.submit(&path.client_b, item).await;
    until("the engine's tx did not join the carrier's", || {
        b.node().mempool_size() == 2
    })
    .await;
    assert_eq!(
        borrowed(),
        borrowed_before + 1,
        "sent without its own update"
    );

    // A block another node proposed takes the carrier's sequence: the recheck evicts it, and
    // keeps ours (a recheck does not verify proofs).
    let mut other = b.wallet(&b.user).expect("wallet");
    other.sequence = n;
    let conflicting = other.sign_next(vec![b.user_to_relayer(1)], Vec::new(), 200_000, "");
    b.make_block(Some(vec![conflicting])).await;
    assert_eq!(
        b.node().mempool_size(),
        1,
        "ours waits, the carrier is gone"
    );
    // Ours executes without the consensus state it proves against.
    let failed_at = b.node().latest_height() + 1;
    b.make_block(None).await;
    let failed: Vec<_> = b
        .node()
        .block_txs(failed_at)
        .into_iter()
        .filter(|tx| tx.result.code.value() != 0)
        .collect();
    assert_eq!(failed.len(), 1, "our tx failed in its block");
    until("the loss was not counted", || lost() == lost_before + 1).await;
    // The item goes again at once, with the update.
    until("the item was not sent again", || {
        b.node().mempool_size() == 1
    })
    .await;
    b.make_block(None).await;
    let done = tokio::time::timeout(LIMIT, outcome)
        .await
        .expect("an outcome")
        .expect("the engine answered");
    assert!(matches!(done, Outcome::Done { .. }), "{done:?}");
    assert_eq!(lost(), lost_before + 1, "lost once");
    let counts = devnet::harness::receive_counts(b, &path.channel_b);
    assert_eq!(counts.get(&packet.sequence), Some(&1), "{counts:?}");

    a.devnet.resume();
    b.devnet.resume();
    stop.cancel();
    let _ = task.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packet_messages_a_pending_tx_carries_leave_the_tx_at_simulation() {
    use ibc_proto::ibc::core::channel::v1::MsgRecvPacket;
    use prost::Message;

    let chains = ConnectedChains::start(Duration::from_millis(200), false)
        .await
        .expect("chains");
    let (a, b, path) = (&chains.a, &chains.b, &chains.path);
    let cfg = config(&chains);
    let (qa, qb) = (querier(&cfg.chains.a), querier(&cfg.chains.b));
    // No mempool view: only the simulation can see the competitor.
    let stop = CancellationToken::new();
    let (engine, task) = TxEngine::spawn(&cfg.chains.b, qb, qa, b.relayer.clone(), stop.clone());
    let first = send(&chains).await;
    let second = send(&chains).await;
    let at = devnet::testing::prepare_proof_height(a, b, &path.client_b)
        .await
        .expect("client updated");
    // A competitor (B's user) delivers the first packet; its tx waits in B's paused mempool.
    let msg = devnet::testing::recv_msg(a, b, &first, at).expect("delivery");
    let mut msg = MsgRecvPacket::decode(msg.value.as_slice()).expect("recv");
    msg.signer = b.address(&b.user);
    b.devnet.pause();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut competitor = b.wallet(&b.user).expect("wallet");
    let check = b
        .node()
        .try_broadcast_tx(competitor.sign_next(vec![to_any(&msg)], Vec::new(), 5_000_000, ""))
        .expect("mempool takes it");
    assert_eq!(check.code.value(), 0, "{}", check.log);

    let chain_b = b.node().chain_id();
    let dropped = || metrics().simulated_noops.get(&[chain_b.as_str()]);
    let before = dropped();
    let item = |p: &ibc_proto::ibc::core::channel::v1::Packet| RelayItem {
        kind: RelayKind::Recv,
        packet: p.clone(),
        ack: Vec::new(),
        ordered: false,
        event_height: 0,
    };
    let (o1, o2) = tokio::join!(
        engine.submit(&path.client_b, item(&first)),
        engine.submit(&path.client_b, item(&second))
    );
    until("the engine's tx did not join the competitor's", || {
        b.node().mempool_size() == 2
    })
    .await;
    let ours = b.address(&b.relayer);
    let (txs, _, _) = b.node().unconfirmed_txs(10);
    let our_recvs: Vec<u64> = txs
        .iter()
        .filter_map(|raw| cosmos::tx::tx_messages(raw).ok())
        .flatten()
        .filter_map(|m| MsgRecvPacket::decode(m.value.as_slice()).ok())
        .filter(|m| m.signer == ours)
        .filter_map(|m| m.packet.map(|p| p.sequence))
        .collect();
    assert_eq!(
        our_recvs,
        vec![second.sequence],
        "only the packet nobody else carries"
    );
    assert_eq!(dropped(), before + 1);
    b.make_block(None).await;
    let first_outcome = tokio::time::timeout(LIMIT, o1).await.expect("outcome");
    let second_outcome = tokio::time::timeout(LIMIT, o2).await.expect("outcome");
    assert_eq!(first_outcome.ok(), Some(Outcome::RedundantInMempool));
    assert!(
        matches!(second_outcome, Ok(Outcome::Done { .. })),
        "{second_outcome:?}"
    );
    let counts = devnet::harness::receive_counts(b, &path.channel_b);
    assert_eq!(counts.get(&first.sequence), Some(&1), "{counts:?}");
    assert_eq!(counts.get(&second.sequence), Some(&1), "{counts:?}");

    b.devnet.resume();
    stop.cancel();
    let _ = task.await;
}
