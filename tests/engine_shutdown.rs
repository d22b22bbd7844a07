//! A graceful stop (SIGTERM) under load: the TxEngines stop taking work at once, broadcast
//! nothing new (neither queued items nor deferred ones nor txs already cut), wait only for the
//! txs already broadcast, and the daemon's drain fits in `shutdown_grace`. A restart relays
//! everything that was left.

mod support;

use std::time::Duration;

use devnet::harness::query_account;
use support::{failed_txs, metric, receive_counts, Harness, BLOCK};
use tokio::time::Instant;

const SETTLE: Duration = Duration::from_secs(240);
/// `shutdown_grace` of the test pair config.
const GRACE: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stop_under_a_burst_starts_no_tx_and_a_restart_loses_nothing() {
    let h = Harness::new(false, "").await;
    let (a, b, path) = (&h.chains.a, &h.chains.b, &h.chains.path);
    let relayer_a = a.address(&a.relayer);
    let relayer_b = b.address(&b.relayer);
    // A burst queued before the relayer starts: clearing on start hands all of it to the
    // engines at once.
    let packets = h.send_transfers(true, 1000, 1, 50, 10_000).await;
    let relayer = h.start_relayer();
    // Stop in the middle of the burst.
    let deadline = Instant::now() + SETTLE;
    loop {
        let received = receive_counts(b, &path.channel_b).len();
        if received >= 50 {
            assert!(
                received < packets.len(),
                "the whole burst was relayed before the stop"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nothing relayed within {SETTLE:?}"
        );
        tokio::time::sleep(BLOCK / 4).await;
    }
    let submitted_before = metric("arke_txs_submitted_total", &[]);
    let stopping = Instant::now();
    relayer.stop().await;
    let took = stopping.elapsed();
    let submitted_after = metric("arke_txs_submitted_total", &[]);
    assert!(
        took < GRACE + Duration::from_secs(5),
        "the stop took {took:?} (shutdown_grace {GRACE:?})"
    );
    // At most a broadcast already under way on each engine when the token was cancelled.
    assert!(
        submitted_after - submitted_before <= 2.0,
        "{} txs were broadcast after the stop began",
        submitted_after - submitted_before
    );

    // Nothing of the relayer's lands after the stop: its account sequences stay put.
    let seq = |chain: &devnet::harness::TestChain, address: &str| {
        query_account(chain.node(), address).expect("account").1
    };
    let (seq_a, seq_b) = (seq(a, &relayer_a), seq(b, &relayer_b));
    let (ha, hb) = (a.node().latest_height(), b.node().latest_height());
    a.wait_for_height(ha + 5).await.unwrap();
    b.wait_for_height(hb + 5).await.unwrap();
    assert_eq!(seq(a, &relayer_a), seq_a, "a tx on A landed after the stop");
    assert_eq!(seq(b, &relayer_b), seq_b, "a tx on B landed after the stop");
    let left = receive_counts(b, &path.channel_b).len();
    assert!(left < packets.len(), "nothing was left for the restart");

    // A restart relays the rest, each packet once.
    let relayer = h.start_relayer();
    h.wait_all_settled(true, &packets, SETTLE).await;
    relayer.stop().await;
    let counts = receive_counts(b, &path.channel_b);
    assert_eq!(counts.len(), packets.len());
    assert!(
        counts.values().all(|&n| n == 1),
        "a packet was received twice"
    );
    assert!(failed_txs(a).is_empty(), "{:?}", failed_txs(a));
    assert!(failed_txs(b).is_empty(), "{:?}", failed_txs(b));
}
