//! Another relayer's delivery waiting in the destination's mempool: the relayer holds its own
//! copies back instead of racing it, and pays nothing for them.
//!
//! B's block production is paused and its blocks are made by the test, so what happens is
//! counted in blocks. A competitor (B's user account) puts a tx carrying `MsgRecvPacket`s into
//! B's mempool, then the relayer starts and its clearing finds the same packets.
//!
//! 1. Evicted: while the competitor's tx waits, the relayer submits nothing for those packets
//!    (no CheckTx refusal, no fee). A block another node proposed takes the competitor's
//!    sequences and the recheck evicts its tx; the relayer sees that block, finds the packets
//!    still unreceived and relays them: they are received in the very next block.
//! 2. Included: the competitor's tx goes into a block; the relayer finds its packets received
//!    and drops them as another relayer's success, submitting nothing on B.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use arke::config::Config;
use cosmos::events::events_of;
use devnet::harness::TestChain;
use ibc_proto::ibc::core::channel::v1::MsgRecvPacket;
use prost::Message;
use support::{competitor_pending, failed_txs, metric, pair_config_text, receive_counts, Harness};

const PACKETS: usize = 5;

/// The height of the block each sequence was received in over `channel`.
fn receive_heights(chain: &TestChain, channel: &str) -> BTreeMap<u64, u64> {
    let mut heights = BTreeMap::new();
    for h in 1..=chain.node().latest_height() {
        for tx in chain.node().block_txs(h) {
            if tx.result.code.value() != 0 {
                continue;
            }
            for e in events_of(&tx.result.events, "recv_packet") {
                if e.get("packet_dst_channel").map(String::as_str) != Some(channel) {
                    continue;
                }
                if let Some(seq) = e.get("packet_sequence").and_then(|s| s.parse().ok()) {
                    heights.insert(seq, h);
                }
            }
        }
    }
    heights
}

/// `MsgRecvPacket`s in `chain`'s mempool signed by `signer`.
fn pending_recvs(chain: &TestChain, signer: &str) -> usize {
    let (txs, _, _) = chain.node().unconfirmed_txs(100);
    txs.iter()
        .filter_map(|raw| cosmos::tx::tx_messages(raw).ok())
        .flatten()
        .filter(|m| m.type_url == "/ibc.core.channel.v1.MsgRecvPacket")
        .filter_map(|m| MsgRecvPacket::decode(m.value.as_slice()).ok())
        .filter(|m| m.signer == signer)
        .count()
}

/// Waits until `f` holds, for at most `limit`, panicking with `what`.
async fn until(limit: Duration, what: &str, f: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until A has produced `n` more blocks.
async fn a_blocks(h: &Harness, n: u64) {
    let a = &h.chains.a;
    let to = a.node().latest_height() + n;
    a.wait_for_height(to).await.expect("A advances");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packets_a_foreign_pending_tx_carries_are_held_back_and_never_paid_twice() {
    // Clearing rounds far apart: only the hold's look at the next block can relay in time.
    let mut h = Harness::new(false, "").await;
    // Priced, so that every tx of ours pays a fee the metrics can show.
    let text = pair_config_text(&h.chains.a, &h.chains.b, &h.dir, "clear_interval = 1000").replace(
        "gas_price = { price = 0.0, denom = \"stake\" }",
        "gas_price = { price = 0.001, denom = \"stake\" }",
    );
    h.config = Config::from_toml_str(&text, &h.dir.join("pair.toml")).expect("valid config");
    let (a, b) = (&h.chains.a, &h.chains.b);
    let b_id = b.node().chain_id();
    let channel_b = h.chains.path.channel_b.clone();
    let ours = b.address(&b.relayer);
    let held = || metric("arke_packets_held_back_total", &[("chain", &b_id)]);
    let refused = || metric("arke_packets_redundant_total", &[("step", "recv")]);
    let fees = |outcome: &str| {
        metric(
            "arke_fees_by_outcome_total",
            &[("chain", &b_id), ("outcome", outcome)],
        )
    };
    let fees_b = || metric("arke_fees_paid_total", &[("chain", &b_id)]);

    // 1. Evicted.
    let packets = h.send_transfers(true, PACKETS, 7, PACKETS, 10_000).await;
    let n = competitor_pending(&h, &packets).await;
    let relayer = h.start_relayer();
    until(
        Duration::from_secs(60),
        "the relayer neither held the packets back nor tried them",
        || held() >= PACKETS as f64 || refused() > 0.0,
    )
    .await;
    assert_eq!(
        refused(),
        0.0,
        "the relayer submitted packets a foreign pending tx carries"
    );
    assert_eq!(held(), PACKETS as f64);
    // While the competitor's tx waits, nothing of ours goes to B, whatever A does.
    a_blocks(&h, 5).await;
    assert_eq!(b.node().mempool_size(), 2, "only the competitor's txs wait");
    assert_eq!(refused(), 0.0);
    assert!(receive_counts(b, &channel_b).is_empty());

    let mut other = b.wallet(&b.user).expect("wallet");
    other.sequence = n;
    let conflicting = vec![
        other.sign_next(vec![b.user_to_relayer(2)], Vec::new(), 200_000, ""),
        other.sign_next(vec![b.user_to_relayer(3)], Vec::new(), 200_000, ""),
    ];
    let evicted_at = b.make_block(Some(conflicting)).await;
    assert_eq!(
        b.node().mempool_size(),
        0,
        "the recheck evicted the competitor"
    );
    until(
        Duration::from_secs(60),
        "the relayer did not relay the packets after the eviction without another block",
        || pending_recvs(b, &ours) >= PACKETS,
    )
    .await;
    let next = b.make_block(None).await;
    assert_eq!(next, evicted_at + 1);
    let heights = receive_heights(b, &channel_b);
    assert_eq!(heights.len(), PACKETS, "{heights:?}");
    assert!(heights.values().all(|h| *h == next), "{heights:?}");
    assert_eq!(
        metric(
            "arke_held_back_released_total",
            &[("chain", &b_id), ("outcome", "submitted")]
        ),
        PACKETS as f64
    );
    b.devnet.resume();
    h.wait_all_settled(true, &packets, Duration::from_secs(90))
        .await;
    relayer.stop().await;
    assert!(fees("useful") > 0.0);
    assert_eq!((fees("redundant"), fees("partly_redundant")), (0.0, 0.0));
    assert_eq!(refused(), 0.0);

    // 2. Included: the competitor's delivery lands; ours is never sent.
    let second = h.send_transfers(true, PACKETS, 7, PACKETS, 10_000).await;
    competitor_pending(&h, &second).await;
    let paid_b = fees_b();
    let relayer = h.start_relayer();
    until(
        Duration::from_secs(60),
        "the relayer did not hold the second packets back",
        || held() >= 2.0 * PACKETS as f64 || refused() > 0.0,
    )
    .await;
    assert_eq!(refused(), 0.0);
    let included_at = b.make_block(None).await;
    let heights = receive_heights(b, &channel_b);
    assert!(
        second
            .iter()
            .all(|p| heights.get(&p.sequence) == Some(&included_at)),
        "{heights:?}"
    );
    until(
        Duration::from_secs(60),
        "the relayer did not drop the packets the competitor delivered",
        || {
            metric(
                "arke_held_back_released_total",
                &[("chain", &b_id), ("outcome", "done_elsewhere")],
            ) >= PACKETS as f64
        },
    )
    .await;
    // Its drops count as another relayer's steps; nothing of ours went to B.
    assert_eq!(refused(), PACKETS as f64);
    a_blocks(&h, 3).await;
    assert_eq!(pending_recvs(b, &ours), 0);
    b.devnet.resume();
    h.wait_all_settled(true, &second, Duration::from_secs(90))
        .await;
    relayer.stop().await;
    assert_eq!(fees_b(), paid_b, "no fee paid on B for the second packets");

    let counts = receive_counts(b, &channel_b);
    assert_eq!(counts.len(), 2 * PACKETS);
    assert!(counts.values().all(|c| *c == 1), "{counts:?}");
    assert_eq!(failed_txs(b), Vec::<String>::new());
    assert_eq!(failed_txs(a), Vec::<String>::new());
}
