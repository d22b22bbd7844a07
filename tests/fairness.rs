//! Fairness between channels of one chain: a burst of 20,000 packets on one channel while a
//! second channel on the same connection carries one packet per block. The quiet channel's
//! send→receive latency stays within 3 blocks throughout.
//!
//! Latency is counted in the destination's blocks, read from both chains: for a packet sent in
//! block `s` of A, the blocks of B committed after A committed `s`, up to and including the
//! block of B that received it (commit timestamps; both devnets share one clock). The least a
//! relayer can do is 2: the proof at `s` needs A's header `s + 1`, one block later, and the
//! delivery lands in the block of B after that.
//!
//! The burst is sent first (in a few blocks of thousands of transfers each), then the quiet
//! channel's packets go while the relayer works through it: what is measured is the engine's
//! fairness, not how fast the event hub reads blocks of thousands of events.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use cosmos::events::events_of;
use cosmos::{AccountKey, Coin};
use devnet::harness::{block_events, packet_from_event, transfer_msg_on, TestChain};
use support::{funded_account, init_tracing, Harness};
use tendermint::block::CommitSig;

const BURST: usize = 20_000;
/// Burst senders and the transfers each packs into one tx.
const SENDERS: usize = 4;
const PER_TX: usize = 1_000;
/// One tx cycle of the engine (prove, header, simulate, broadcast) takes about 0.6 s in a debug
/// build on a busy 2-core machine; a block must leave room for one of them after the block the
/// proof needs.
const BLOCK_TIME: Duration = Duration::from_secs(2);
/// Most blocks of B from a quiet packet's send to its receipt.
const MAX_LATENCY: u64 = 3;
/// Quiet packets that must have been sent while the burst was relayed, for the test to mean
/// something.
const MIN_QUIET: usize = 10;

/// The commit timestamp (Unix ns) of block `h` of `chain`.
fn committed_at(chain: &TestChain, h: u64) -> i128 {
    let block = chain.node().block(h).expect("block exists");
    block
        .commit
        .signatures
        .iter()
        .find_map(|s| match s {
            CommitSig::BlockIdFlagCommit { timestamp, .. } => {
                Some(timestamp.unix_timestamp_nanos())
            }
            _ => None,
        })
        .expect("a signed commit")
}

/// Sequence → height of each `recv_packet` on `chain` over `dst_channel` in blocks `from..=to`.
fn receipts(chain: &TestChain, dst_channel: &str, from: u64, to: u64) -> BTreeMap<u64, u64> {
    let mut found = BTreeMap::new();
    for e in block_events(chain, from, "recv_packet") {
        if e.height > to
            || e.attrs.get("packet_dst_channel").map(String::as_str) != Some(dst_channel)
        {
            continue;
        }
        if let Some(seq) = e.attrs.get("packet_sequence").and_then(|s| s.parse().ok()) {
            found.insert(seq, e.height);
        }
    }
    found
}

/// Transfers of 1 stake from `key` to B's user over `channel`, `n` in one tx; the sequences
/// sent and the height of A they were sent at.
async fn transfer(
    h: &Harness,
    key: &AccountKey,
    channel: &str,
    n: usize,
    timeout: u64,
) -> (Vec<u64>, u64) {
    let (a, b) = (&h.chains.a, &h.chains.b);
    let msgs = (0..n)
        .map(|_| {
            transfer_msg_on(
                &h.chains.path.port,
                &a.address(key),
                &b.address(&b.user),
                channel,
                &Coin::new("stake", 1),
                Some(b.ibc_height(timeout)),
                0,
            )
        })
        .collect();
    let tx = a.submit_ok(key, msgs).await.expect("transfer tx");
    let sequences = events_of(&tx.result.events, "send_packet")
        .iter()
        .map(|e| packet_from_event(e).expect("packet").sequence)
        .collect::<Vec<_>>();
    assert_eq!(sequences.len(), n);
    (sequences, tx.height)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "the bound held in the last run (19 quiet packets, 2-3 blocks, on an otherwise idle machine) but not in the one before (worst 5, loaded machine, before the devnet stopped making catch-up blocks); to be enabled once it holds run after run (run with --ignored)"]
async fn a_quiet_channel_stays_within_three_blocks_while_another_carries_a_burst() {
    init_tracing();
    let h = Harness::with_nodes(false, "", |c| c.block_time = BLOCK_TIME).await;
    let (a, b, path) = (&h.chains.a, &h.chains.b, &h.chains.path);
    // The quiet channel: a second ICS-20 channel on the same connection.
    let (quiet_a, quiet_b) = h
        .chains
        .open_another_channel()
        .await
        .expect("second channel");
    let mut senders = Vec::new();
    for _ in 0..SENDERS {
        senders.push(funded_account(a, 1_000_000).await);
    }
    let timeout = b.node().latest_height() + 100_000;

    let relayer = h.start_relayer_ready().await;
    // Both workers run: a first quiet packet goes through before the burst starts.
    let (first, _) = transfer(&h, &a.user, &quiet_a, 1, timeout).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while !receipts(b, &quiet_b, 1, b.node().latest_height()).contains_key(&first[0]) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the quiet channel's first packet was not relayed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let start_b = b.node().latest_height();

    // The burst: every sender packs its share into txs of PER_TX transfers.
    let hr = &h;
    let burst = async {
        let per_sender = BURST / SENDERS;
        let sends = senders.iter().map(|key| async move {
            let mut left = per_sender;
            while left > 0 {
                let n = left.min(PER_TX);
                transfer(hr, key, &path.channel_a, n, timeout).await;
                left -= n;
            }
        });
        futures::future::join_all(sends).await;
    };
    // Then, until the burst has been received on B, one quiet packet per block (each transfer waits
    // for its block, the next goes into the one after).
    let quiet = async {
        let h = hr;
        let mut sent: Vec<(u64, u64)> = Vec::new();
        let mut received = 0usize;
        let mut scanned = start_b;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(900);
        while received < BURST {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {received} of {BURST} burst packets received"
            );
            let (seqs, height) = transfer(h, &a.user, &quiet_a, 1, timeout).await;
            sent.push((seqs[0], height));
            let latest = b.node().latest_height();
            received += receipts(b, &path.channel_b, scanned + 1, latest).len();
            scanned = latest;
        }
        sent
    };
    burst.await;
    let sent = quiet.await;

    // Every quiet packet received; its latency in blocks of B.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let got = loop {
        let got = receipts(b, &quiet_b, start_b, b.node().latest_height());
        if sent.iter().all(|(seq, _)| got.contains_key(seq)) {
            break got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "quiet packets not received: {:?}",
            sent.iter()
                .filter(|(seq, _)| !got.contains_key(seq))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    relayer.stop().await;
    let b_commits: Vec<(u64, i128)> = (1..=b.node().latest_height())
        .map(|hb| (hb, committed_at(b, hb)))
        .collect();
    let latencies: Vec<(u64, u64, u64)> = sent
        .iter()
        .map(|(seq, sent_at)| {
            let at = committed_at(a, *sent_at);
            let before = b_commits
                .iter()
                .rev()
                .find(|(_, t)| *t <= at)
                .map_or(0, |(hb, _)| *hb);
            (*seq, *sent_at, got[seq] - before)
        })
        .collect();
    let worst = latencies.iter().map(|l| l.2).max().unwrap_or(0);
    eprintln!(
        "quiet packets during the burst: {}; latencies in blocks of B: {:?}; worst {worst}",
        latencies.len(),
        latencies.iter().map(|l| l.2).collect::<Vec<_>>()
    );
    assert!(
        sent.len() >= MIN_QUIET,
        "only {} quiet packets were sent while the burst was relayed",
        sent.len()
    );
    assert!(
        worst <= MAX_LATENCY,
        "a quiet packet took {worst} blocks (sequence, sent at height, blocks): {latencies:?}"
    );
}
