//! The relayer daemon against two devnets on loopback: real signed txs, real proofs verified by
//! ibc-rs light clients on the other chain.

mod support;

use std::time::Duration;

use support::{failed_txs, funded_account, receive_counts, voucher, Harness, BLOCK};

const SETTLE: Duration = Duration::from_secs(240);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transfers_both_ways_are_received_and_acknowledged() {
    let h = Harness::new(false, "").await;
    let (a, b, path) = (&h.chains.a, &h.chains.b, &h.chains.path);
    let user_a = a.address(&a.user);
    let user_b = b.address(&b.user);
    let start_a = a.balance(&user_a, "stake").unwrap();
    let start_b = b.balance(&user_b, "stake").unwrap();

    let relayer = h.start_relayer();
    let (to_b, to_a) = tokio::join!(
        h.send_transfers(true, 250, 3, 50, 10_000),
        h.send_transfers(false, 250, 2, 50, 10_000)
    );
    h.wait_all_settled(true, &to_b, SETTLE).await;
    h.wait_all_settled(false, &to_a, SETTLE).await;
    relayer.stop().await;

    // Every packet received exactly once on each side.
    let on_b = receive_counts(b, &path.channel_b);
    let on_a = receive_counts(a, &path.channel_a);
    assert_eq!(on_b.len(), 250);
    assert_eq!(on_a.len(), 250);
    assert!(on_b.values().chain(on_a.values()).all(|&n| n == 1));

    // Balances reconcile exactly: stake left, vouchers arrived, and the fees are zero here.
    assert_eq!(a.balance(&user_a, "stake").unwrap(), start_a - 750);
    assert_eq!(b.balance(&user_b, "stake").unwrap(), start_b - 500);
    assert_eq!(
        b.balance(&user_b, &voucher("transfer", &path.channel_b, "stake"))
            .unwrap(),
        750
    );
    assert_eq!(
        a.balance(&user_a, &voucher("transfer", &path.channel_a, "stake"))
            .unwrap(),
        500
    );
    assert!(failed_txs(a).is_empty(), "{:?}", failed_txs(a));
    assert!(failed_txs(b).is_empty(), "{:?}", failed_txs(b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn packets_expired_while_stopped_are_timed_out_and_refunded() {
    let h = Harness::new(false, "").await;
    let (a, b) = (&h.chains.a, &h.chains.b);
    let user_a = a.address(&a.user);
    let start = a.balance(&user_a, "stake").unwrap();
    // Sent while no relayer runs, expiring 3 blocks later on B.
    let packets = h.send_transfers(true, 5, 10, 5, 3).await;
    assert_eq!(a.balance(&user_a, "stake").unwrap(), start - 50);
    let timeout = packets[0].timeout_height.unwrap().revision_height;
    b.wait_for_height(timeout + 1).await.unwrap();

    let relayer = h.start_relayer();
    h.wait_all_settled(true, &packets, SETTLE).await;
    relayer.stop().await;
    assert_eq!(a.balance(&user_a, "stake").unwrap(), start, "refunded");
    assert!(receive_counts(b, &h.chains.path.channel_b).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopped_mid_stream_then_restarted_completes_everything_once() {
    let h = Harness::new(false, "").await;
    let (a, b, path) = (&h.chains.a, &h.chains.b, &h.chains.path);
    let relayer = h.start_relayer();
    let first = h.send_transfers(true, 60, 1, 20, 10_000).await;
    // Graceful stop in the middle of the stream.
    relayer.stop().await;
    let second = h.send_transfers(true, 60, 1, 20, 10_000).await;
    let relayer = h.start_relayer();
    tokio::time::sleep(BLOCK * 3).await;
    // Hard abort, with work possibly in flight.
    relayer.abort().await;
    let third = h.send_transfers(true, 60, 1, 20, 10_000).await;
    let relayer = h.start_relayer();
    for batch in [&first, &second, &third] {
        h.wait_all_settled(true, batch, SETTLE).await;
    }
    relayer.stop().await;
    let counts = receive_counts(b, &path.channel_b);
    assert_eq!(counts.len(), 180);
    assert!(
        counts.values().all(|&n| n == 1),
        "a packet was received twice"
    );
    assert!(failed_txs(a).is_empty(), "{:?}", failed_txs(a));
    assert!(failed_txs(b).is_empty(), "{:?}", failed_txs(b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_relayers_on_one_channel_receive_each_packet_once() {
    let h = Harness::new(false, "").await;
    let (a, b, path) = (&h.chains.a, &h.chains.b, &h.chains.path);
    let second_a = funded_account(a, 1_000_000_000).await;
    let second_b = funded_account(b, 1_000_000_000).await;
    let one = h.start_relayer();
    let two = h.start_relayer_with(second_a, second_b);
    let packets = h.send_transfers(true, 100, 1, 25, 10_000).await;
    h.wait_all_settled(true, &packets, SETTLE).await;
    one.stop().await;
    two.stop().await;
    let counts = receive_counts(b, &path.channel_b);
    assert_eq!(counts.len(), 100);
    assert!(counts.values().all(|&n| n == 1));
    // Losing races only ever shows up as CheckTx rejections (code 22), never as failed txs.
    assert!(failed_txs(a).is_empty(), "{:?}", failed_txs(a));
    assert!(failed_txs(b).is_empty(), "{:?}", failed_txs(b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dropped_websockets_lose_nothing() {
    let h = Harness::new(false, "").await;
    let (a, b, path) = (&h.chains.a, &h.chains.b, &h.chains.path);
    let relayer = h.start_relayer();
    let faults = async {
        for _ in 0..15 {
            tokio::time::sleep(Duration::from_millis(700)).await;
            a.node().faults().drop_websockets();
            b.node().faults().drop_websockets();
        }
    };
    let sending = async {
        let mut all = Vec::new();
        for _ in 0..10 {
            all.extend(h.send_transfers(true, 10, 1, 10, 10_000).await);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        all
    };
    let (_, packets) = tokio::join!(faults, sending);
    h.wait_all_settled(true, &packets, SETTLE).await;
    relayer.stop().await;
    let counts = receive_counts(b, &path.channel_b);
    assert_eq!(counts.len(), 100);
    assert!(counts.values().all(|&n| n == 1));
    assert!(failed_txs(a).is_empty(), "{:?}", failed_txs(a));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ordered_channel_in_order_and_timeout() {
    let h = Harness::new(true, "").await;
    let (a, b, path) = (&h.chains.a, &h.chains.b, &h.chains.path);
    let relayer = h.start_relayer();
    let packets = h.send_transfers(true, 30, 1, 10, 10_000).await;
    h.wait_all_settled(true, &packets, SETTLE).await;
    relayer.stop().await;
    let counts = receive_counts(b, &path.channel_b);
    assert_eq!(
        counts.keys().copied().collect::<Vec<_>>(),
        (1..=30).collect::<Vec<_>>()
    );

    // A packet that expires while the relayer is down is timed out on the ordered channel
    // (which closes the channel, as IBC requires for ordered channels).
    let late = h.send_transfers(true, 1, 1, 1, 2).await;
    let timeout = late[0].timeout_height.unwrap().revision_height;
    b.wait_for_height(timeout + 1).await.unwrap();
    let relayer = h.start_relayer();
    h.wait_all_settled(true, &late, SETTLE).await;
    relayer.stop().await;
    let q = a.node().abci_query(
        "store/ibc/key",
        format!(
            "channelEnds/ports/{}/channels/{}",
            path.port, path.channel_a
        )
        .as_bytes(),
        0,
        false,
    );
    use prost::Message;
    let channel =
        ibc_proto::ibc::core::channel::v1::Channel::decode(q.value.as_ref()).expect("channel end");
    assert_eq!(
        channel.state,
        ibc_proto::ibc::core::channel::v1::State::Closed as i32
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rpc_outage_is_ridden_out() {
    let h = Harness::new(false, "").await;
    let (a, b, path) = (&h.chains.a, &h.chains.b, &h.chains.path);
    let relayer = h.start_relayer();
    let first = h.send_transfers(true, 10, 1, 10, 10_000).await;
    h.wait_all_settled(true, &first, SETTLE).await;
    // Both RPCs fail for a while; packets sent meanwhile still complete afterwards.
    a.node().faults().fail_rpc_for(Duration::from_secs(4));
    b.node().faults().fail_rpc_for(Duration::from_secs(4));
    let second = h.send_transfers(true, 10, 1, 10, 10_000).await;
    h.wait_all_settled(true, &second, SETTLE).await;
    relayer.stop().await;
    let counts = receive_counts(b, &path.channel_b);
    assert_eq!(counts.len(), 20);
    assert!(counts.values().all(|&n| n == 1));
    assert!(failed_txs(a).is_empty(), "{:?}", failed_txs(a));
}
