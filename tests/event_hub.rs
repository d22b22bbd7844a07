//! `EventHub` against two real devnets on loopback: packet events arrive per channel with the
//! right sequences and data (sends on the source, receives and written acks on the destination,
//! acknowledgements back on the source); with the websockets dropped every ~300 ms every
//! sequence still arrives exactly once and in order; a burst of RPC failures is survived; and a
//! hub started at height 1 after the fact delivers the whole history again.

use std::collections::BTreeMap;
use std::time::Duration;

use arke::chain::events::EventHub;
use arke::chain::rpc::RpcClient;
use arke::chain::types::PacketEvent;
use cosmos::events::events_of;
use cosmos::Coin;
use devnet::harness::{packet_from_event, transfer_msg, TestChain};
use devnet::testing::{relay_packets, ConnectedChains};
use ibc_proto::ibc::core::channel::v1::Packet;
use tokio::sync::mpsc::Receiver;
use tokio_util::sync::CancellationToken;

/// The whole scenario must finish within this (it normally takes well under a minute).
const SCENARIO_LIMIT: Duration = Duration::from_secs(240);
/// Bound on waiting for the events of one step.
const STEP_LIMIT: Duration = Duration::from_secs(60);
/// How long to keep listening for (unexpected) extra events after a step.
const QUIET: Duration = Duration::from_secs(1);

fn hub(chain: &TestChain, start_height: Option<u64>, shutdown: &CancellationToken) -> EventHub {
    let url = reqwest::Url::parse(&chain.devnet.rpc_url()).expect("devnet RPC URL");
    let rpc = RpcClient::new(url, 8, Duration::from_secs(5)).expect("RPC client");
    EventHub::spawn(
        rpc,
        chain.devnet.chain_id(),
        start_height,
        shutdown.child_token(),
    )
}

/// Receives exactly `n` events (bounded by [`STEP_LIMIT`]).
async fn recv_n(rx: &mut Receiver<PacketEvent>, n: usize, what: &str) -> Vec<PacketEvent> {
    let mut got = Vec::with_capacity(n);
    let deadline = tokio::time::Instant::now() + STEP_LIMIT;
    while got.len() < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(e)) => got.push(e),
            Ok(None) => panic!("{what}: hub closed the receiver after {} events", got.len()),
            Err(_) => panic!(
                "{what}: only {} of {n} events arrived: {:?}",
                got.len(),
                got.iter().map(summary).collect::<Vec<_>>()
            ),
        }
    }
    got
}

/// Asserts that nothing more arrives for a while.
async fn assert_quiet(rx: &mut Receiver<PacketEvent>, what: &str) {
    if let Ok(Some(e)) = tokio::time::timeout(QUIET, rx.recv()).await {
        panic!("{what}: unexpected extra event {:?}", summary(&e));
    }
}

fn summary(e: &PacketEvent) -> (&'static str, u64, u64) {
    let kind = match e {
        PacketEvent::Send { .. } => "send",
        PacketEvent::WriteAck { .. } => "write_ack",
        PacketEvent::Recv { .. } => "recv",
        PacketEvent::Acknowledged { .. } => "ack",
        PacketEvent::TimedOut { .. } => "timeout",
    };
    (kind, e.packet().sequence, e.height())
}

/// Sends `count` transfers from A's user in one tx; returns the packets from the tx's events.
async fn send_transfers(chains: &ConnectedChains, count: usize) -> (u64, Vec<Packet>) {
    let sender = chains.a.address(&chains.a.user);
    let receiver = chains.b.address(&chains.b.user);
    let coin = Coin {
        denom: "stake".into(),
        amount: 10,
    };
    let timeout = chains.b.ibc_height(1_000_000);
    let msgs = (0..count)
        .map(|_| {
            transfer_msg(
                &sender,
                &receiver,
                &chains.path.channel_a,
                &coin,
                Some(timeout),
                0,
            )
        })
        .collect();
    let tx = chains
        .a
        .submit_ok(&chains.a.user, msgs)
        .await
        .expect("transfer tx");
    let packets = events_of(&tx.result.events, "send_packet")
        .iter()
        .map(|attrs| packet_from_event(attrs).expect("send_packet attributes"))
        .collect();
    (tx.height, packets)
}

fn sends(events: &[PacketEvent]) -> Vec<(u64, Packet)> {
    events
        .iter()
        .map(|e| match e {
            PacketEvent::Send { height, packet } => (*height, packet.clone()),
            other => panic!("expected a send event, got {:?}", summary(other)),
        })
        .collect()
}

fn sequences(events: &[PacketEvent]) -> Vec<u64> {
    events.iter().map(|e| e.packet().sequence).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_hub_delivers_every_packet_event_once() {
    tokio::time::timeout(SCENARIO_LIMIT, scenario())
        .await
        .expect("scenario timed out");
}

async fn scenario() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let chains = ConnectedChains::start(Duration::from_millis(150), false)
        .await
        .expect("connected devnets");
    let path = chains.path.clone();
    let shutdown = CancellationToken::new();
    let hub_a = hub(&chains.a, None, &shutdown);
    let hub_b = hub(&chains.b, None, &shutdown);
    let mut rx_a = hub_a.subscribe(&path.port, &path.channel_a);
    let mut rx_b = hub_b.subscribe(&path.port, &path.channel_b);
    // Events of another channel end never reach these receivers.
    let mut rx_other = hub_a.subscribe(&path.port, "channel-999");
    // Wait until both hubs know where they start, so the transfers below are after it.
    for h in [&hub_a, &hub_b] {
        let mut latest = h.latest_height();
        tokio::time::timeout(STEP_LIMIT, latest.wait_for(|h| *h > 0))
            .await
            .expect("hub starts")
            .expect("hub alive");
    }

    // 1. Sends arrive on A with the right sequences, heights and data; the relayed packets show
    //    up as recv + write_ack on B and as acknowledgements back on A.
    let mut sent: BTreeMap<u64, (u64, Packet)> = BTreeMap::new();
    for count in [3, 1, 1] {
        let (height, packets) = send_transfers(&chains, count).await;
        for p in packets {
            sent.insert(p.sequence, (height, p));
        }
    }
    let got = sends(&recv_n(&mut rx_a, 5, "first sends").await);
    assert_eq!(got, sent.values().cloned().collect::<Vec<_>>());
    // The delivered height catches up with the events (it is published right after them).
    let mut latest = hub_a.latest_height();
    let last_height = sent[&5].0;
    tokio::time::timeout(STEP_LIMIT, latest.wait_for(|h| *h >= last_height))
        .await
        .expect("delivered height reaches the last send")
        .expect("hub alive");

    let packets: Vec<Packet> = sent.values().map(|(_, p)| p.clone()).collect();
    let txs = relay_packets(&chains.a, &chains.b, &path, &packets)
        .await
        .expect("relay");
    let on_b = recv_n(&mut rx_b, 10, "recv and write_ack on B").await;
    for (i, p) in packets.iter().enumerate() {
        let (recv, write_ack) = (&on_b[2 * i], &on_b[2 * i + 1]);
        assert!(
            matches!(recv, PacketEvent::Recv { packet, height } if packet == p && *height == txs[0].height),
            "{:?}",
            summary(recv)
        );
        match write_ack {
            PacketEvent::WriteAck { packet, ack, .. } => {
                assert_eq!(packet, p);
                assert_eq!(ack.as_slice(), br#"{"result":"AQ=="}"#);
            }
            other => panic!("expected write_ack, got {:?}", summary(other)),
        }
    }
    let acks = recv_n(&mut rx_a, 5, "acknowledgements on A").await;
    assert!(acks.iter().all(
        |e| matches!(e, PacketEvent::Acknowledged { height, .. } if *height == txs[1].height)
    ));
    assert_eq!(sequences(&acks), vec![1, 2, 3, 4, 5]);

    // 2. Websockets dropped every ~300 ms while 30 transfers go out one per tx: every sequence
    //    arrives exactly once, in order.
    let reconnects_before = hub_a.reconnects();
    let dropper_stop = CancellationToken::new();
    let dropper = {
        let node = chains.a.node().clone();
        let stop = dropper_stop.clone();
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                node.faults().drop_websockets();
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = tokio::time::sleep(Duration::from_millis(300)) => {}
                }
            }
        })
    };
    let mut expected = Vec::new();
    for _ in 0..30 {
        let (height, packets) = send_transfers(&chains, 1).await;
        for p in packets {
            expected.push((height, p.clone()));
            sent.insert(p.sequence, (height, p));
        }
    }
    let got = sends(&recv_n(&mut rx_a, 30, "sends under websocket drops").await);
    dropper_stop.cancel();
    dropper.await.expect("dropper task");
    assert_eq!(
        got.iter().map(|(_, p)| p.sequence).collect::<Vec<_>>(),
        (6..=35).collect::<Vec<_>>()
    );
    assert_eq!(got, expected);
    assert_quiet(&mut rx_a, "after websocket drops").await;
    assert!(
        hub_a.reconnects() > reconnects_before,
        "the hub noticed the drops"
    );

    // 3. The RPC fails for a while (and the websocket drops once, so the hub must poll): the hub
    //    recovers and delivers what was sent meanwhile.
    chains
        .a
        .node()
        .faults()
        .fail_rpc_for(Duration::from_secs(2));
    chains.a.node().faults().drop_websockets();
    let (height, packets) = send_transfers(&chains, 2).await;
    for p in &packets {
        sent.insert(p.sequence, (height, p.clone()));
    }
    let got = sends(&recv_n(&mut rx_a, 2, "sends after RPC failures").await);
    assert_eq!(
        got,
        packets.into_iter().map(|p| (height, p)).collect::<Vec<_>>()
    );
    assert_quiet(&mut rx_a, "after RPC failures").await;

    // 4. A hub started at height 1 after the fact delivers the whole history in order.
    let replay = hub(&chains.a, Some(1), &shutdown);
    let mut rx_replay = replay.subscribe(&path.port, &path.channel_a);
    let total = sent.len();
    let got = recv_n(&mut rx_replay, total + 5, "replay from height 1").await;
    let (send_events, ack_events): (Vec<_>, Vec<_>) = got
        .into_iter()
        .partition(|e| matches!(e, PacketEvent::Send { .. }));
    assert_eq!(
        sends(&send_events),
        sent.values().cloned().collect::<Vec<_>>()
    );
    assert_eq!(sequences(&ack_events), vec![1, 2, 3, 4, 5]);
    let heights: Vec<u64> = send_events.iter().map(PacketEvent::height).collect();
    assert!(heights.windows(2).all(|w| w[0] <= w[1]), "in height order");
    assert_quiet(&mut rx_replay, "after replay").await;

    assert!(rx_other.try_recv().is_err(), "other channel stays empty");
    shutdown.cancel();
    for h in [&hub_a, &hub_b, &replay] {
        tokio::time::timeout(STEP_LIMIT, h.stopped())
            .await
            .expect("hub tasks end on cancel");
    }
}
