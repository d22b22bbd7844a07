//! Ordered channels against two devnets: a packet `n` whose delivery fails for a moment holds
//! `n + 1, …` back (they are never submitted before `n` is received, so none of them fails),
//! and all are delivered in order by the worker's own retries, without clearing.
//!
//! Its own test binary: it counts this process's relay failures.

mod support;

use std::time::Duration;

use support::{failed_txs, metric, receive_counts, Harness, BLOCK};

const SETTLE: Duration = Duration::from_secs(120);

/// Clearing never runs on its own in these tests: what is delivered is delivered by the
/// workers' own events and retries.
const NO_CLEARING: &str = "clear_interval = 1000000\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ordered_channel_transient_failure_delivers_in_order_without_clearing() {
    support::init_tracing();
    let h = Harness::new(true, NO_CLEARING).await;
    let (b, path) = (&h.chains.b, &h.chains.path);
    let relayer = h.start_relayer();
    let first = h.send_transfers(true, 3, 1, 3, 10_000).await;
    h.wait_all_settled(true, &first, SETTLE).await;

    // Packet n is sent while the destination's RPC fails, so its delivery fails; n + 1, … are
    // sent right after the RPC is back, while n is still backing off.
    b.node().faults().fail_rpc_for(Duration::from_millis(2500));
    let n = h.send_transfers(true, 1, 1, 1, 10_000).await;
    tokio::time::sleep(Duration::from_millis(2700)).await;
    let mut later = Vec::new();
    for _ in 0..5 {
        later.extend(h.send_transfers(true, 2, 1, 2, 10_000).await);
        tokio::time::sleep(BLOCK).await;
    }
    h.wait_all_settled(true, &n, SETTLE).await;
    h.wait_all_settled(true, &later, SETTLE).await;
    relayer.stop().await;

    let counts = receive_counts(b, &path.channel_b);
    assert_eq!(
        counts.keys().copied().collect::<Vec<_>>(),
        (1..=14).collect::<Vec<_>>()
    );
    assert!(counts.values().all(|&c| c == 1), "{counts:?}");
    // Nothing was submitted out of order: no recv failed in a block, and the only failed
    // deliveries are n's attempts while the RPC failed (1 s, then 2 s apart: at most 3 in
    // 2.5 s). Submitting n + 1, … before n would fail each of those ten at simulation.
    assert!(failed_txs(b).is_empty(), "{:?}", failed_txs(b));
    let failures = metric("arke_packet_relay_failures_total", &[("step", "recv")]);
    assert!(
        (1.0..=3.0).contains(&failures),
        "{failures} failed deliveries"
    );
}
