//! SIGTERM is honoured in every phase: a daemon stopped while it is still discovering channels
//! over slow nodes exits at once instead of finishing the round first, in-process and as the
//! `arke start` process systemd would stop.

mod support;

use std::time::Duration;

use devnet::testing::open_channels;
use support::{add_key, pair_config_text, Daemon, Harness};

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

/// A fixed BIP-39 test mnemonic (test key only; the daemon signs nothing here).
const MNEMONIC: &str = "ready kind exist alpha route bamboo village enact aisle very similar toddler possible name rate believe gain sniff crucial soon title enhance wagon slow";

/// The `shutdown_grace` of the harness's pair config.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_discovery_of_100_channels_exits_0_within_the_grace() {
    let h = Harness::new(false, "").await;
    let (a, b, path) = (&h.chains.a, &h.chains.b, &h.chains.path);
    open_channels(a, b, path, 99).await.expect("channels open");
    let text = pair_config_text(a, b, &h.dir, "");
    assert!(text.contains("shutdown_grace = \"10s\""), "{text}");
    let config = h.dir.join("pair.toml");
    std::fs::write(&config, text).expect("write the config");
    add_key(&h.dir.join("keys"), "relayer", MNEMONIC);

    // Every answer of chain B takes 300 ms: checking 100 channels' far ends takes half a
    // minute.
    b.node()
        .faults()
        .set_rpc_latency(Duration::from_millis(300));
    let mut daemon = Daemon::start(&config);
    // Discovery begins right after this line.
    daemon.wait_for_line("relayer started", Duration::from_secs(120));
    tokio::time::sleep(Duration::from_secs(3)).await;

    let stopped = daemon.terminate().await;
    let (took, log) = (stopped.took, &stopped.log);
    assert!(stopped.status.success(), "exit {:?}\n{log}", stopped.status);
    assert!(
        took < SHUTDOWN_GRACE,
        "the daemon took {took:?} to stop\n{log}"
    );
    // The stop came during the discovery: no worker had been started.
    assert!(
        !log.contains("starting channel worker"),
        "discovery had finished before SIGTERM\n{log}"
    );
    assert!(log.contains("relayer stopped"), "{log}");
}
