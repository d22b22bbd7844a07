//! A soak of 50,000 packets over one channel: the daemon's RSS at the end is within 10% of its
//! RSS after the first 5,000.
//!
//! The daemon runs as the `arke start` process an operator runs, and its resident set is read
//! from `/proc`. The packets go from A to B in waves of 5,000 (transfers packed 1,000 to a tx,
//! so sending is never what the relayer waits for); each wave is received on B and
//! acknowledged back on A (its commitments gone) before the next one is sent. The resident set
//! is taken when the first wave has settled and when the last one has: each time the least
//! value seen over a window of blocks, long enough for the daemon's next clearing round and
//! its pause between heap trims (`relay/memory.rs`), so both are the settled footprint rather
//! than a moment in a burst.

mod support;

use std::time::Duration;

use cosmos::Coin;
use devnet::harness::TestChain;
use ibc_proto::ibc::core::channel::v1::Packet;
use support::{add_key, has_commitment, pair_config_text, receive_counts, Daemon, Harness};

const PACKETS: usize = 50_000;
const WAVE: usize = 5_000;
/// Transfers packed into one tx.
const PER_TX: usize = 1_000;
const BLOCK_TIME: Duration = Duration::from_millis(500);
/// Blocks of A a wave may take to settle (received and acknowledged): generous, for a busy
/// machine.
const SETTLE_BLOCKS: u64 = 2_400;
/// Blocks of A over which the settled footprint is read: a clearing interval (20 blocks) and
/// two of the daemon's 30 s pauses between trims at 500 ms a block, with room to spare.
const RSS_WINDOW: u64 = 160;
/// Most growth allowed from the first wave to the end, in percent.
const MAX_GROWTH_PERCENT: u64 = 10;

/// A fixed BIP-39 test mnemonic (test key only): the daemon's signer on both chains.
const MNEMONIC: &str = "ready kind exist alpha route bamboo village enact aisle very similar toddler possible name rate believe gain sniff crucial soon title enhance wagon slow";

/// Waits for block `h` of `chain`.
async fn wait_height(chain: &TestChain, h: u64) {
    chain.wait_for_height(h).await.expect("the chain goes on");
}

/// Waits until none of `packets` (sent from A) has a commitment left on A; at most
/// [`SETTLE_BLOCKS`] blocks.
async fn settle(a: &TestChain, daemon: &mut Daemon, packets: &[Packet]) {
    let limit = a.node().latest_height() + SETTLE_BLOCKS;
    let mut left: Vec<&Packet> = packets.iter().collect();
    loop {
        // Only what is still open is looked at again.
        left.retain(|p| has_commitment(a, p));
        if left.is_empty() {
            return;
        }
        let now = a.node().latest_height();
        assert!(
            now < limit,
            "{} of {} packets unsettled after {SETTLE_BLOCKS} blocks\n{}",
            left.len(),
            packets.len(),
            daemon.log()
        );
        // Every other block: the checks compete with the daemon for the CPU.
        wait_height(a, now + 2).await;
    }
}

/// The least resident set of the daemon over the next [`RSS_WINDOW`] blocks of A, read once a
/// block.
async fn settled_rss(a: &TestChain, daemon: &Daemon) -> u64 {
    let from = a.node().latest_height();
    let mut least = daemon.rss_kib();
    for h in from + 1..=from + RSS_WINDOW {
        wait_height(a, h).await;
        least = least.min(daemon.rss_kib());
    }
    least
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "RSS still grows 6-27 % from 5,000 to 50,000 packets across runs (the bound is 10 %): the websocket read buffers keep the largest message's size and the last 64 heights' results are kept by count, not size (run with --ignored)"]
async fn a_soak_of_50_000_packets_keeps_the_daemons_memory_flat() {
    let funds = vec![Coin::new("stake", 1_000_000_000)];
    let h = Harness::with_nodes(false, "", |c| {
        c.block_time = BLOCK_TIME;
        *c = c
            .clone()
            .with_mnemonic_account("daemon", MNEMONIC, funds.clone())
            .expect("genesis account");
    })
    .await;
    let (a, b, path) = (&h.chains.a, &h.chains.b, &h.chains.path);
    let config = h.dir.join("pair.toml");
    std::fs::write(&config, pair_config_text(a, b, &h.dir, "")).expect("write the config");
    add_key(&h.dir.join("keys"), "relayer", MNEMONIC);

    let started = std::time::Instant::now();
    let mut daemon = Daemon::start(&config);
    daemon.wait_for_line("starting channel worker", Duration::from_secs(120));

    let mut first = None;
    let mut sent = 0;
    while sent < PACKETS {
        let packets = h.send_transfers(true, WAVE, 1, PER_TX, 100_000).await;
        assert_eq!(packets.len(), WAVE);
        settle(a, &mut daemon, &packets).await;
        sent += WAVE;
        eprintln!(
            "{sent} packets settled at height {} of A, {:?} in: RSS {} KiB",
            a.node().latest_height(),
            started.elapsed(),
            daemon.rss_kib()
        );
        if first.is_none() {
            let rss = settled_rss(a, &daemon).await;
            eprintln!("settled RSS after the first {WAVE}: {rss} KiB");
            first = Some(rss);
        }
    }
    let last = settled_rss(a, &daemon).await;
    let first = first.expect("a first wave");
    eprintln!(
        "settled RSS after {PACKETS}: {last} KiB ({:+.1} % from {first} KiB), {:?} in all",
        (last as f64 / first as f64 - 1.0) * 100.0,
        started.elapsed()
    );

    // Every packet received on B exactly once.
    let counts = receive_counts(b, &path.channel_b);
    assert_eq!(counts.len(), PACKETS, "packets received on B");
    assert!(counts.values().all(|&n| n == 1), "a packet received twice");

    let stopped = daemon.terminate().await;
    assert!(
        stopped.status.success(),
        "exit {:?}\n{}",
        stopped.status,
        stopped.log
    );
    assert!(
        last * 100 <= first * (100 + MAX_GROWTH_PERCENT),
        "the daemon's RSS grew from {first} KiB after {WAVE} packets to {last} KiB after {PACKETS}"
    );
}
