//! The TxEngine's lanes against two devnets: while one channel's burst of 6,000 deliveries fills
//! its lane (more than a lane holds, so its submitter waits), a delivery on a second channel of
//! the same chain goes into one of the next txs, whatever the burst still holds. At 300 ms
//! blocks that is within 6 blocks of B from its submission (the tx being built when it arrives,
//! then its own: two tx cycles on a busy 2-core machine); queued behind the burst, as in one
//! FIFO for the whole chain, it took 21 to 30.

mod support;

use std::time::Duration;

use arke::handshake::querier_for;
use arke::tx::engine::{Outcome, TxEngine};
use cosmos::events::events_of;
use cosmos::Coin;
use devnet::harness::{packet_from_event, transfer_msg};
use devnet::testing::ConnectedChains;
use ibc_proto::ibc::core::channel::v1::Packet;
use tokio_util::sync::CancellationToken;

use support::{bounded, pair_config, recv_item, scratch_dir};

const BURST: usize = 6_000;
const QUIET: usize = 5;
/// Most blocks of B from a quiet item's submission to the block holding its tx.
const MAX_BLOCKS: u64 = 6;

/// `n` transfers from A's user over `channel`, `per_tx` in one tx; the packets.
async fn send(chains: &ConnectedChains, channel: &str, n: usize, per_tx: usize) -> Vec<Packet> {
    let (a, b) = (&chains.a, &chains.b);
    let mut packets = Vec::new();
    let mut left = n;
    while left > 0 {
        let k = left.min(per_tx);
        let msgs = (0..k)
            .map(|_| {
                transfer_msg(
                    &a.address(&a.user),
                    &b.address(&b.user),
                    channel,
                    &Coin::new("stake", 1),
                    None,
                    u64::MAX / 2,
                )
            })
            .collect();
        let tx = bounded(
            Duration::from_secs(120),
            "transfers",
            a.submit_ok(&a.user, msgs),
        )
        .await
        .expect("transfer tx");
        for e in events_of(&tx.result.events, "send_packet") {
            packets.push(packet_from_event(&e).expect("packet"));
        }
        left -= k;
    }
    assert_eq!(packets.len(), n);
    packets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_channel_is_not_queued_behind_a_burst() {
    support::init_tracing();
    let chains = ConnectedChains::start(Duration::from_millis(300), false)
        .await
        .expect("chains");
    let (a, b, path) = (&chains.a, &chains.b, &chains.path);
    let (quiet_a, _) = chains.open_another_channel().await.expect("second channel");
    let burst = send(&chains, &path.channel_a, BURST, 1_000).await;
    let quiet = send(&chains, &quiet_a, QUIET, QUIET).await;

    let dir = scratch_dir("engine-fairness");
    let config = pair_config(a, b, &dir, "");
    let qa = querier_for(&config.chains.a).expect("querier");
    let qb = querier_for(&config.chains.b).expect("querier");
    let token = CancellationToken::new();
    let (engine, task) =
        TxEngine::spawn(&config.chains.b, qb, qa, b.relayer.clone(), token.clone());

    // The burst's caller hands over every item; it waits whenever the lane is full.
    let burst_task = {
        let (engine, client) = (engine.clone(), path.client_b.clone());
        tokio::spawn(async move {
            let mut receivers = Vec::new();
            for p in &burst {
                receivers.push(engine.submit(&client, recv_item(p)).await);
            }
            receivers
        })
    };
    // The lane is full from here on (the caller still holds most of the burst).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !burst_task.is_finished(),
        "the burst should not fit in one lane"
    );

    let mut blocks = Vec::new();
    for p in &quiet {
        let submitted_at = b.node().latest_height();
        let rx = engine.submit(&path.client_b, recv_item(p)).await;
        let outcome = bounded(Duration::from_secs(120), "quiet delivery", rx)
            .await
            .expect("an outcome");
        let Outcome::Done { height, .. } = outcome else {
            panic!("quiet packet {}: {outcome:?}", p.sequence);
        };
        blocks.push(height - submitted_at);
    }
    eprintln!("quiet deliveries: blocks of B from submission to inclusion: {blocks:?}");
    // The burst's lane was full all along: its caller still waits for room.
    assert!(
        !burst_task.is_finished(),
        "the burst must still fill its lane while the quiet items are measured"
    );
    assert!(
        blocks.iter().all(|n| *n <= MAX_BLOCKS),
        "a quiet delivery waited more than {MAX_BLOCKS} blocks: {blocks:?}"
    );
    token.cancel();
    let _ = bounded(Duration::from_secs(60), "engine stop", task).await;
    burst_task.abort();
}
