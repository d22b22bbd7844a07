//! SIGTERM is honoured in every phase: a daemon stopped while it is still discovering channels
//! over slow nodes exits at once instead of finishing the round first.

mod support;

use std::time::Duration;

use support::Harness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_during_discovery_is_prompt() {
    let h = Harness::new(false, "").await;
    // Every answer of chain A now takes 3 s: a discovery round (a listing, the connection, its
    // client, the channel on B) takes well over 10 s.
    h.chains
        .a
        .node()
        .faults()
        .set_rpc_latency(Duration::from_secs(3));
    let relayer = h.start_relayer();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let stopping = tokio::time::Instant::now();
    relayer.stop().await;
    let took = stopping.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "the daemon took {took:?} to stop"
    );
}
