//! A competing relayer's delivery that waits in the destination's mempool and is then evicted.
//!
//! While another signer's tx carrying our packets waits in the mempool, the relayer holds its
//! own delivery back (it sees that tx in the mempool), or, had it looked before the tx arrived,
//! CheckTx refuses it as redundant (code 22), as ibc-go does; neither is final. When the other
//! tx is evicted (here: its sender's sequence is taken by a block another node proposed, so the
//! recheck drops it), the packets are unreceived on chain again, and the relayer relays them,
//! without a restart and without the cache standing in the way. (`foreign_pending_tx.rs`
//! counts the blocks this takes.)

mod support;

use std::time::Duration;

use support::{competitor_pending, failed_txs, metric, receive_counts, Harness};

const PACKETS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packets_a_competitor_held_in_the_mempool_are_relayed_after_its_eviction() {
    let h = Harness::new(false, "clear_interval = 10").await;
    let b = &h.chains.b;
    let packets = h.send_transfers(true, PACKETS, 7, PACKETS, 10_000).await;

    // The competitor (b's user account) has a delivery of every packet waiting in B's mempool.
    let n = competitor_pending(&h, &packets).await;

    // Our relayer starts; its clearing finds the packets, which it holds back for the
    // competitor's tx (or which CheckTx refuses as redundant).
    let relayer = h.start_relayer();
    let noticed = || {
        metric("arke_packets_held_back_total", &[])
            + metric("arke_packets_redundant_total", &[("step", "recv")])
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while noticed() < PACKETS as f64 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relayer never tried the packets"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(receive_counts(b, &h.chains.path.channel_b).is_empty());

    // Another node's block takes the competitor's sequences n and n + 1: the recheck evicts
    // both of its txs, and the packets are unreceived again.
    let mut other = b.wallet(&b.user).expect("wallet");
    other.sequence = n;
    let conflicting = vec![
        other.sign_next(vec![b.user_to_relayer(2)], Vec::new(), 200_000, ""),
        other.sign_next(vec![b.user_to_relayer(3)], Vec::new(), 200_000, ""),
    ];
    let node = b.node().clone();
    tokio::task::spawn_blocking(move || node.produce_block_with(conflicting))
        .await
        .expect("block task")
        .expect("block");
    assert_eq!(b.node().mempool_size(), 0);
    b.devnet.resume();

    h.wait_all_settled(true, &packets, Duration::from_secs(90))
        .await;
    relayer.stop().await;
    let counts = receive_counts(b, &h.chains.path.channel_b);
    assert_eq!(counts.len(), PACKETS);
    assert!(counts.values().all(|c| *c == 1), "{counts:?}");
    assert_eq!(failed_txs(b), Vec::<String>::new());
}
