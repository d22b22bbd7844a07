//! Clearing without `tx_search`: against nodes run without a tx index (CometBFT's
//! `indexer = "null"`), and packets sent from FinalizeBlock (whose events exist only in
//! `block_results.finalize_block_events`). The daemon keeps a cursor per chain in its state
//! directory; after a restart it scans `block_results` from there and relays what it missed. A
//! packet that no source can provide any more (pruned blocks, no index) is reported once.

mod support;

use std::time::Duration;

use devnet::finalize_block::BlockTransfer;
use support::{failed_txs, receive_counts, Harness, BLOCK};

const SETTLE: Duration = Duration::from_secs(240);

fn no_tx_index(config: &mut devnet::DevnetConfig) {
    config.tx_index = false;
}

/// A FinalizeBlock transfer of `amount` stake from the user of `from_a`'s chain.
fn block_transfer(h: &Harness, from_a: bool, amount: u128) -> BlockTransfer {
    let (src, dst, channel) = h.ends(from_a);
    BlockTransfer {
        sender: src.address(&src.user),
        receiver: dst.address(&dst.user),
        source_port: h.chains.path.port.clone(),
        source_channel: channel.to_string(),
        denom: "stake".into(),
        amount,
        timeout_secs: 600,
        memo: String::new(),
    }
}

/// Waits until `sequence` was received on B (from A) or fails after `limit`.
async fn wait_received(h: &Harness, sequence: u64, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if receive_counts(&h.chains.b, &h.chains.path.channel_b).contains_key(&sequence) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "packet {sequence} not received within {limit:?}"
        );
        tokio::time::sleep(BLOCK).await;
    }
}

fn cursor_of(h: &Harness, chain_id: &str) -> u64 {
    let path = h.dir.join("state").join(format!("{chain_id}.cursor"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cursor file {}: {e}", path.display()));
    let v: serde_json::Value = serde_json::from_str(&text).expect("cursor JSON");
    assert_eq!(v["chain_id"], chain_id, "{text}");
    v["height"].as_u64().expect("cursor height")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_relays_500_missed_packets_from_the_cursor_without_tx_index() {
    support::init_tracing();
    let h = Harness::with_nodes(false, "", no_tx_index).await;
    let (a, b, path) = (&h.chains.a, &h.chains.b, &h.chains.path);
    let relayer = h.start_relayer_ready().await;
    let first = h.send_transfers(true, 5, 1, 5, 10_000).await;
    h.wait_all_settled(true, &first, SETTLE).await;
    relayer.stop().await;
    let cursor = cursor_of(&h, a.devnet.chain_id());
    assert!(cursor > 0 && cursor <= a.node().latest_height());

    // Sent while the daemon is down, on a node that cannot search for them.
    let missed = h.send_transfers(true, 500, 1, 50, 10_000).await;
    assert_eq!(missed.len(), 500);
    assert!(missed[0].sequence > 5);
    let relayer = h.start_relayer_ready().await;
    h.wait_all_settled(true, &missed, SETTLE).await;
    relayer.stop().await;

    let counts = receive_counts(b, &path.channel_b);
    assert_eq!(counts.len(), 505);
    assert!(
        counts.values().all(|&n| n == 1),
        "a packet was received twice"
    );
    assert!(failed_txs(a).is_empty(), "{:?}", failed_txs(a));
    assert!(failed_txs(b).is_empty(), "{:?}", failed_txs(b));
    // The cursor moved past the heights the restart scanned.
    assert!(cursor_of(&h, a.devnet.chain_id()) > cursor);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finalize_block_packets_are_relayed_live_and_after_a_restart() {
    support::init_tracing();
    // No periodic clearing: a packet sent while the daemon runs reaches it through the event
    // hub only.
    let h = Harness::with_nodes(false, "clear_interval = 0", no_tx_index).await;
    let a = &h.chains.a;
    let relayer = h.start_relayer_ready().await;
    // A packet from a tx first: once it is received, the worker is live.
    let first = h.send_transfers(true, 1, 1, 1, 10_000).await;
    assert_eq!(first[0].sequence, 1);
    wait_received(&h, 1, SETTLE).await;

    // Live: sequence 2, sent by FinalizeBlock.
    a.node()
        .schedule_finalize_block_transfer(block_transfer(&h, true, 7));
    wait_received(&h, 2, SETTLE).await;
    relayer.stop().await;

    // While the daemon is down: sequence 3, sent by FinalizeBlock.
    let before = a.node().latest_height();
    a.node()
        .schedule_finalize_block_transfer(block_transfer(&h, true, 9));
    a.wait_for_height(before + 3).await.unwrap();
    let relayer = h.start_relayer_ready().await;
    wait_received(&h, 3, SETTLE).await;
    relayer.stop().await;

    let counts = receive_counts(&h.chains.b, &h.chains.path.channel_b);
    assert_eq!(counts.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
}

/// A free loopback port (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The value of the metric line starting with `prefix` (name and labels) at `base/metrics`.
async fn metric(base: &str, prefix: &str) -> Option<f64> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_packet_no_source_can_provide_is_reported_once() {
    support::init_tracing();
    const RETAIN: u64 = 30;
    // Chain ids of their own: the metric read below is process-wide, and the other tests of
    // this binary relay between devnet-1 and devnet-2 at the same time.
    let mut h = Harness::with_nodes(false, "clear_interval = 5", |c| {
        c.chain_id = c.chain_id.replace("devnet", "pruned");
        c.tx_index = false;
        c.retain_blocks = RETAIN;
    })
    .await;
    h.config.telemetry.enabled = true;
    h.config.telemetry.port = free_port();
    let base = format!("http://127.0.0.1:{}", h.config.telemetry.port);
    let a = &h.chains.a;
    let relayer = h.start_relayer_ready().await;
    let first = h.send_transfers(true, 1, 1, 1, 10_000).await;
    h.wait_all_settled(true, &first, SETTLE).await;
    relayer.stop().await;

    // Sent from FinalizeBlock while the daemon is down, then pruned: no tx holds it, no index
    // can find it, and block_results no longer has it.
    let before = a.node().latest_height();
    a.node()
        .schedule_finalize_block_transfer(block_transfer(&h, true, 5));
    a.wait_for_height(before + 2 * RETAIN).await.unwrap();

    let relayer = h.start_relayer_ready().await;
    let line = format!(
        "arke_packet_data_unavailable_total{{chain=\"{}\",counterparty=\"{}\",port=\"{}\",channel=\"{}\",kind=\"packet\"}}",
        a.devnet.chain_id(),
        h.chains.b.devnet.chain_id(),
        h.chains.path.port,
        h.chains.path.channel_a
    );
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        if let Some(v) = metric(&base, &line).await {
            assert_eq!(v, 1.0, "{line}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the unavailable packet was never reported"
        );
        tokio::time::sleep(BLOCK).await;
    }
    // Several clearing rounds later it is still reported once.
    let now = a.node().latest_height();
    a.wait_for_height(now + 25).await.unwrap();
    assert_eq!(metric(&base, &line).await, Some(1.0), "{line}");
    relayer.stop().await;
    assert!(!receive_counts(&h.chains.b, &h.chains.path.channel_b).contains_key(&2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn arke_clear_reads_the_daemons_cursor_without_tx_index() {
    support::init_tracing();
    let h = Harness::with_nodes(false, "", no_tx_index).await;
    let a = &h.chains.a;
    let relayer = h.start_relayer_ready().await;
    let first = h.send_transfers(true, 2, 1, 2, 10_000).await;
    h.wait_all_settled(true, &first, SETTLE).await;
    relayer.stop().await;
    let cursor = cursor_of(&h, a.devnet.chain_id());

    let missed = h.send_transfers(true, 20, 1, 10, 10_000).await;
    let keys =
        arke::relay::supervisor::PairKeys::new(a.relayer.clone(), h.chains.b.relayer.clone());
    let report = arke::relay::clear::clear_once(&h.config, keys, None, &mut |_| {})
        .await
        .expect("clearing runs");
    // Every step ended done, by the tx clearing sent (found in the blocks: no tx index).
    assert_eq!(report.received, 20, "{report:?}");
    assert_eq!(report.acked, 20, "{report:?}");
    assert_eq!(report.already_relayed, 0, "{report:?}");
    assert!(report.failed.is_empty(), "{report:?}");
    h.wait_all_settled(true, &missed, SETTLE).await;
    let counts = receive_counts(&h.chains.b, &h.chains.path.channel_b);
    assert_eq!(counts.len(), 22);
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    // `arke clear` never writes the daemon's cursor.
    assert_eq!(cursor_of(&h, a.devnet.chain_id()), cursor);
}
