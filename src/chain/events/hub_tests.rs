//! The hub against a real devnet with small queues and a faulty height: a subscriber that never
//! reads does not hold back another channel end's events (it is told it lagged instead), and a
//! height whose `block_results` keeps failing is set aside so later heights keep flowing, then
//! delivered late once it answers again (and the gap counter says so meanwhile). The
//! handshake steps that open a channel's ends reach the channel-event subscribers. Block pushes
//! that carry the tx results (v0.38) end the `Tx` subscription, whose pushes would repeat them.

use std::time::Duration;

use cosmos::events::events_of;
use cosmos::Coin;
use devnet::harness::{packet_from_event, transfer_msg, TestChain};
use devnet::testing::ConnectedChains;
use tokio::sync::mpsc::Receiver;
use tokio_util::sync::CancellationToken;

use super::{EventHub, EventHubOptions};
use crate::chain::rpc::RpcClient;
use crate::chain::types::{ChannelEventKind, PacketEvent};

const BLOCK: Duration = Duration::from_millis(150);
const LIMIT: Duration = Duration::from_secs(60);

fn hub(chain: &TestChain, options: EventHubOptions, shutdown: &CancellationToken) -> EventHub {
    let url = reqwest::Url::parse(&chain.devnet.rpc_url()).expect("devnet RPC URL");
    let rpc = RpcClient::new(url, 8, Duration::from_secs(5)).expect("RPC client");
    EventHub::spawn_with(
        rpc,
        chain.devnet.chain_id(),
        None,
        shutdown.child_token(),
        options,
    )
}

/// Sends one transfer from `chain`'s user over `channel` to `to`; returns its sequence and
/// height.
async fn send(chain: &TestChain, to: &TestChain, channel: &str) -> (u64, u64) {
    let far = to.ibc_height(to.node().latest_height() + 10_000);
    let msg = transfer_msg(
        &chain.address(&chain.user),
        &chain.address(&chain.relayer),
        channel,
        &Coin {
            denom: "stake".into(),
            amount: 1,
        },
        Some(far),
        0,
    );
    let tx = chain
        .submit_ok(&chain.user, vec![msg])
        .await
        .expect("transfer");
    let packet = packet_from_event(&events_of(&tx.result.events, "send_packet")[0]).unwrap();
    (packet.sequence, tx.height)
}

async fn next_send(rx: &mut Receiver<PacketEvent>) -> u64 {
    match tokio::time::timeout(LIMIT, rx.recv()).await {
        Ok(Some(PacketEvent::Send { packet, .. })) => packet.sequence,
        other => panic!("expected a send event, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_subscriber_does_not_hold_back_the_others() {
    let chains = ConnectedChains::start(BLOCK, false).await.expect("channel");
    let (a, path) = (&chains.a, &chains.path);
    let second = chains
        .open_another_channel()
        .await
        .expect("a second channel")
        .0;
    let shutdown = CancellationToken::new();
    let options = EventHubOptions {
        queue_capacity: 1,
        ..EventHubOptions::default()
    };
    let hub = hub(a, options, &shutdown);
    // Nobody reads the first channel's queue; the second channel's is read.
    let _stuck = hub.subscribe(&path.port, &path.channel_a);
    let lagged = hub.lagged(&path.port, &path.channel_a);
    let mut read = hub.subscribe(&path.port, &second);
    while *hub.latest_height().borrow() == 0 {
        tokio::time::sleep(BLOCK).await;
    }
    // Five rounds take a few seconds; a hub that waited on the stuck queue would spend its
    // send timeout (30 s before this change) on each of the first channel's events.
    let started = tokio::time::Instant::now();
    for _ in 0..5 {
        let _ = send(a, &chains.b, &path.channel_a).await;
        let (seq, _) = send(a, &chains.b, &second).await;
        assert_eq!(next_send(&mut read).await, seq);
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the read channel waited on the stuck one: {:?}",
        started.elapsed()
    );
    tokio::time::timeout(LIMIT, lagged.notified())
        .await
        .expect("the stuck subscriber's channel is told it lagged");
    assert!(hub.dropped_events() >= 3, "{}", hub.dropped_events());
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_height_that_cannot_be_fetched_is_set_aside_and_delivered_late() {
    let chains = ConnectedChains::start(BLOCK, false).await.expect("channel");
    let (a, path) = (&chains.a, &chains.path);
    let shutdown = CancellationToken::new();
    // Polling only, so every height comes from block_results.
    let options = EventHubOptions {
        poll_interval: Duration::from_millis(100),
        use_websocket: false,
        ..EventHubOptions::default()
    };
    let hub = hub(a, options, &shutdown);
    let mut rx = hub.subscribe(&path.port, &path.channel_a);
    let gaps = hub.gaps();
    while *hub.latest_height().borrow() == 0 {
        tokio::time::sleep(BLOCK).await;
    }
    // The next block carries the first transfer, and its block_results fails for two minutes
    // (far longer than the test runs).
    a.devnet.pause();
    tokio::time::sleep(BLOCK * 3).await;
    let at = a.node().latest_height() + 1;
    a.node()
        .faults()
        .fail_block_results_at(at, Duration::from_secs(120));
    let far = chains
        .b
        .ibc_height(chains.b.node().latest_height() + 10_000);
    let msg = transfer_msg(
        &a.address(&a.user),
        &a.address(&a.relayer),
        &path.channel_a,
        &Coin {
            denom: "stake".into(),
            amount: 1,
        },
        Some(far),
        0,
    );
    let raw = a
        .wallet(&a.user)
        .expect("wallet")
        .sign_tx(vec![msg], Vec::new(), 500_000, "");
    let check = a.node().try_broadcast_tx(raw.clone()).expect("mempool");
    assert_eq!(check.code.value(), 0, "{}", check.log);
    a.devnet.resume();
    let hash = cosmos::tx_hash(&raw);
    let deadline = tokio::time::Instant::now() + LIMIT;
    let rec = loop {
        if let Some(rec) = a.node().tx(&hash) {
            break rec;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "transfer not committed"
        );
        tokio::time::sleep(BLOCK).await;
    };
    assert_eq!(rec.height, at);
    let first = packet_from_event(&events_of(&rec.result.events, "send_packet")[0])
        .unwrap()
        .sequence;
    let (second, _) = send(a, &chains.b, &path.channel_a).await;
    let (third, _) = send(a, &chains.b, &path.channel_a).await;
    // Later heights flow although `at` keeps failing.
    assert_eq!(next_send(&mut rx).await, second);
    assert_eq!(next_send(&mut rx).await, third);
    assert!(*hub.latest_height().borrow() > at);
    // Whoever relies on events alone is told that events were passed over.
    assert!(*gaps.borrow() > 0, "the gap counter did not move");
    // Once the height answers again, its event comes, late.
    a.node().faults().fail_block_results_at(at, Duration::ZERO);
    assert_eq!(next_send(&mut rx).await, first);
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_pushes_that_carry_results_end_the_tx_subscription() {
    let chains = ConnectedChains::start(BLOCK, false).await.expect("channel");
    let (a, path) = (&chains.a, &chains.path);
    let shutdown = CancellationToken::new();
    let hub = hub(a, EventHubOptions::default(), &shutdown);
    let mut rx = hub.subscribe(&path.port, &path.channel_a);
    let unsubscribed = |chain: &TestChain| {
        chain
            .node()
            .requests()
            .snapshot()
            .get("unsubscribe tm.event='Tx'")
            .copied()
            .unwrap_or(0)
    };
    let deadline = tokio::time::Instant::now() + LIMIT;
    while unsubscribed(a) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hub kept its Tx subscription"
        );
        tokio::time::sleep(BLOCK).await;
    }
    // Events keep coming, from the block pushes alone.
    let (first, _) = send(a, &chains.b, &path.channel_a).await;
    let (second, _) = send(a, &chains.b, &path.channel_a).await;
    assert_eq!(next_send(&mut rx).await, first);
    assert_eq!(next_send(&mut rx).await, second);
    assert_eq!(unsubscribed(a), 1, "one connection, one unsubscribe");
    assert_eq!(
        hub.reconnects(),
        0,
        "the websocket stayed up through the unsubscribe"
    );
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_core_that_panics_is_restarted_and_resumes_after_the_last_height() {
    let chains = ConnectedChains::start(BLOCK, false).await.expect("channel");
    let (a, path) = (&chains.a, &chains.path);
    let shutdown = CancellationToken::new();
    let hub = hub(a, EventHubOptions::default(), &shutdown);
    let mut rx = hub.subscribe(&path.port, &path.channel_a);
    while *hub.latest_height().borrow() == 0 {
        tokio::time::sleep(BLOCK).await;
    }
    let (first, _) = send(a, &chains.b, &path.channel_a).await;
    assert_eq!(next_send(&mut rx).await, first);
    hub.crash_core();
    let deadline = tokio::time::Instant::now() + LIMIT;
    while hub.core_restarts() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the core never restarted"
        );
        tokio::time::sleep(BLOCK).await;
    }
    // Events keep coming, each once: nothing before the crash is delivered again.
    let (second, _) = send(a, &chains.b, &path.channel_a).await;
    let (third, _) = send(a, &chains.b, &path.channel_a).await;
    assert_eq!(next_send(&mut rx).await, second);
    assert_eq!(next_send(&mut rx).await, third);
    let before = *hub.latest_height().borrow();
    a.wait_for_height(before + 2).await.unwrap();
    tokio::time::sleep(BLOCK * 4).await;
    assert!(
        *hub.latest_height().borrow() > before,
        "heights keep being delivered"
    );
    assert!(rx.try_recv().is_err(), "no event twice");
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_steps_that_open_a_channel_reach_the_channel_event_subscribers() {
    let chains = ConnectedChains::start(BLOCK, false).await.expect("channel");
    let (a, b) = (&chains.a, &chains.b);
    let shutdown = CancellationToken::new();
    let (hub_a, hub_b) = (
        hub(a, EventHubOptions::default(), &shutdown),
        hub(b, EventHubOptions::default(), &shutdown),
    );
    let (mut on_a, mut on_b) = (
        hub_a.subscribe_channel_events(),
        hub_b.subscribe_channel_events(),
    );
    while *hub_a.latest_height().borrow() == 0 || *hub_b.latest_height().borrow() == 0 {
        tokio::time::sleep(BLOCK).await;
    }
    let (chan_a, chan_b) = chains
        .open_another_channel()
        .await
        .expect("a second channel");
    // `channel_open_ack` on A, `channel_open_confirm` on B: each end is OPEN.
    let ack = tokio::time::timeout(LIMIT, on_a.recv())
        .await
        .expect("an event on A")
        .expect("open");
    assert_eq!(ack.kind, ChannelEventKind::Opened);
    assert_eq!(
        (&ack.channel, &ack.counterparty_channel),
        (&chan_a, &chan_b)
    );
    let confirm = tokio::time::timeout(LIMIT, on_b.recv())
        .await
        .expect("an event on B")
        .expect("open");
    assert_eq!(confirm.kind, ChannelEventKind::Opened);
    assert_eq!(
        (&confirm.channel, &confirm.counterparty_channel),
        (&chan_b, &chan_a)
    );
    shutdown.cancel();
}

/// Senders and transfers per tx of the large block: thousands of `send_packet` events in one
/// height, as in a burst. CometBFT v0.38 carries them all in the `NewBlock` push: about 18 MB
/// here, past tungstenite's default 16 MiB frame limit.
const LARGE_SENDERS: usize = 8;
const LARGE_PER_TX: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_of_thousands_of_events_comes_over_the_websocket() {
    let chains = ConnectedChains::start(BLOCK, false).await.expect("channel");
    let (a, b, path) = (&chains.a, &chains.b, &chains.path);
    // Funded senders, one tx each, so all land in one block.
    let mut senders = Vec::new();
    for _ in 0..LARGE_SENDERS {
        let key = cosmos::AccountKey::random();
        let msg = ibc_proto::cosmos::bank::v1beta1::MsgSend {
            from_address: a.address(&a.user),
            to_address: a.address(&key),
            amount: vec![ibc_proto::cosmos::base::v1beta1::Coin {
                denom: "stake".into(),
                amount: "1000000".into(),
            }],
        };
        a.submit_ok(&a.user, vec![cosmos::to_any(&msg)])
            .await
            .expect("funding tx");
        senders.push(key);
    }
    let shutdown = CancellationToken::new();
    let hub = hub(a, EventHubOptions::default(), &shutdown);
    let mut rx = hub.subscribe(&path.port, &path.channel_a);
    while *hub.latest_height().borrow() == 0 {
        tokio::time::sleep(BLOCK).await;
    }
    let far = b.ibc_height(b.node().latest_height() + 10_000);
    a.devnet.pause();
    tokio::time::sleep(BLOCK * 3).await;
    let mut hashes = Vec::new();
    for key in &senders {
        let msgs = (0..LARGE_PER_TX)
            .map(|_| {
                transfer_msg(
                    &a.address(key),
                    &b.address(&b.user),
                    &path.channel_a,
                    &Coin {
                        denom: "stake".into(),
                        amount: 1,
                    },
                    Some(far),
                    0,
                )
            })
            .collect();
        let raw = a.wallet(key).expect("wallet").sign_tx(
            msgs,
            a.helper_fee(),
            devnet::harness::HELPER_GAS,
            "",
        );
        hashes.push(cosmos::tx_hash(&raw));
        let check = a.node().try_broadcast_tx(raw).expect("mempool");
        assert_eq!(check.code.value(), 0, "{}", check.log);
    }
    a.devnet.resume();
    let deadline = tokio::time::Instant::now() + LIMIT;
    let mut heights = std::collections::BTreeSet::new();
    for hash in &hashes {
        let rec = loop {
            if let Some(rec) = a.node().tx(hash) {
                break rec;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "transfers not committed"
            );
            tokio::time::sleep(BLOCK).await;
        };
        assert_eq!(rec.result.code.value(), 0, "{}", rec.result.log);
        heights.insert(rec.height);
    }
    assert_eq!(
        heights.len(),
        1,
        "the transfers landed in one block: {heights:?}"
    );
    let total = LARGE_SENDERS * LARGE_PER_TX;
    let mut got = 0;
    while got < total {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(PacketEvent::Send { .. })) => got += 1,
            other => panic!(
                "after {got} of {total} sends: {:?}",
                other.map(|o| o.map(|e| e.height()))
            ),
        }
    }
    // Delivered from the websocket push itself: the connection never failed on the frame.
    assert_eq!(
        hub.reconnects(),
        0,
        "the websocket was lost on the large block"
    );
    shutdown.cancel();
}
