//! A tx that fails in its block pays its fee: the relayer blames the one message the SDK names
//! ("message index: N"), sends the other items again at once without it (they are not charged
//! a failed attempt), leaves the blamed packet to clearing (here it expired, so it is timed out)
//! and counts the fee in `arke_fees_wasted_total`.

mod support;

use std::time::Duration;

use arke::config::Config;
use cosmos::events::events_of;
use cosmos::Coin;
use devnet::harness::{packet_from_event, timeouts, transfer_msg_on};
use ibc_proto::cosmos::tx::v1beta1::{AuthInfo, TxRaw};
use prost::Message;
use support::{failed_txs, metric, pair_config_text, receive_counts, Harness, BLOCK};
use tokio::time::Instant;

const SETTLE: Duration = Duration::from_secs(240);

/// The fee (amount of `stake`) a raw tx was signed with.
fn fee_of(raw: &[u8]) -> u128 {
    let tx = TxRaw::decode(raw).expect("a tx");
    let auth = AuthInfo::decode(tx.auth_info_bytes.as_slice()).expect("auth info");
    auth.fee
        .expect("a fee")
        .amount
        .iter()
        .filter(|c| c.denom == "stake")
        .map(|c| c.amount.parse::<u128>().expect("an amount"))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_packet_failing_in_the_block_is_blamed_alone() {
    let mut h = Harness::new(false, "clear_interval = 10").await;
    // A real gas price, so that the failed tx pays something.
    let text = pair_config_text(&h.chains.a, &h.chains.b, &h.dir, "clear_interval = 10")
        .replace("price = 0.0", "price = 0.01");
    h.config = Config::from_toml_str(&text, &h.dir.join("pair.toml")).expect("valid config");
    let (a, b, path) = (&h.chains.a, &h.chains.b, &h.chains.path);
    let b_id = b.devnet.chain_id();

    // B stands still while the relayer builds its tx: every packet is receivable then.
    b.devnet.pause();
    let paused_at = b.node().latest_height();
    let relayer = h.start_relayer();
    let sender = a.address(&a.user);
    let receiver = b.address(&b.user);
    // Ten packets in one tx, so in one batch; the fifth expires after B's height paused_at + 2.
    let msgs = (0..10)
        .map(|i| {
            let offset = if i == 4 { 2 } else { 10_000 };
            transfer_msg_on(
                &path.port,
                &sender,
                &receiver,
                &path.channel_a,
                &Coin {
                    denom: "stake".into(),
                    amount: 1,
                },
                Some(b.ibc_height(paused_at + offset)),
                0,
            )
        })
        .collect();
    let sent = a.submit_ok(&a.user, msgs).await.expect("transfer tx");
    let packets: Vec<_> = events_of(&sent.result.events, "send_packet")
        .iter()
        .map(|e| packet_from_event(e).expect("packet"))
        .collect();
    assert_eq!(packets.len(), 10);
    let expiring = packets[4].sequence;

    // The relayer's recv tx passes CheckTx on B at paused_at.
    let deadline = Instant::now() + SETTLE;
    let txs = loop {
        let (txs, _, _) = b.node().unconfirmed_txs(100);
        if !txs.is_empty() {
            // Let the rest of the batch (if the engine cut it in several txs) arrive.
            tokio::time::sleep(BLOCK * 5).await;
            break b.node().unconfirmed_txs(100).0;
        }
        assert!(Instant::now() < deadline, "no relay tx reached B's mempool");
        tokio::time::sleep(BLOCK / 4).await;
    };
    let fees: u128 = txs.iter().map(|t| fee_of(t)).sum();
    // Two empty blocks, then the relayer's txs at paused_at + 3, past packet 5's timeout: its
    // MsgRecvPacket fails in the block and so does its tx.
    let node = b.node().clone();
    tokio::task::spawn_blocking(move || {
        node.produce_block_with(Vec::new())?;
        node.produce_block_with(Vec::new())?;
        node.produce_block_with(txs)
    })
    .await
    .expect("blocking task")
    .expect("blocks produced");
    let failed = failed_txs(b);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].contains("message index"), "{failed:?}");
    b.devnet.resume();

    // The nine others arrive without another failure; the expired one is timed out on A.
    h.wait_all_settled(true, &packets, SETTLE).await;
    relayer.stop().await;
    let received = receive_counts(b, &path.channel_b);
    assert_eq!(received.len(), 9, "{received:?}");
    assert!(!received.contains_key(&expiring));
    assert!(received.values().all(|&n| n == 1));
    assert_eq!(timeouts(a, &path.channel_a), 1);
    assert_eq!(failed_txs(b).len(), 1, "{:?}", failed_txs(b));
    assert!(failed_txs(a).is_empty(), "{:?}", failed_txs(a));

    // Only the blamed item counted a failed step; the fee of the failed tx is counted as wasted.
    let step_failures = metric("arke_packet_relay_failures_total", &[("step", "recv")]);
    assert_eq!(step_failures, 1.0, "failed recv steps");
    assert!(fees > 0);
    let wasted = metric(
        "arke_fees_wasted_total",
        &[("chain", b_id), ("denom", "stake")],
    );
    assert_eq!(wasted, fees as f64, "fees of failed txs");
    let failed = metric(
        "arke_fees_by_outcome_total",
        &[("chain", b_id), ("denom", "stake"), ("outcome", "failed")],
    );
    assert_eq!(failed, wasted, "fees of failed txs, by outcome");
}
