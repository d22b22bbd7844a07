//! `arke::handshake` against two real devnets over RPC:
//! - clients on both chains with Hermes-like defaults (trusting period 2/3 of the unbonding
//!   period);
//! - a connection whose handshake stopped after INIT is finished by `open_connection`, reusing
//!   the INIT end; a second call, with nothing unfinished, opens a new connection;
//! - an unordered channel on port `transfer` and an ordered one on port `ordered`;
//! - half-finished channels are finished and their ends reused: one stopped after INIT on a, one
//!   stopped after TRYOPEN, started from b;
//! - a transfer over the new channel shows as pending (`pending_on`) until it is relayed, and
//!   nothing is pending after its acknowledgement is relayed back.
//!
//! Every wait is bounded; nothing asserts on timing.

mod support;

use std::future::Future;
use std::time::Duration;

use arke::config::Config;
use arke::handshake::{
    self, ChannelRequest, ClientOptions, ConnectionChoice, ConnectionEnds, Endpoint, Pair,
    PairChannel,
};
use arke::relay::clearing::pending_on;
use cosmos::events::events_of;
use cosmos::Coin;
use devnet::harness::{packet_from_event, transfer_msg, TestChain};
use devnet::testing::{relay_packets, ChannelPath};
use ibc_proto::ibc::core::channel::v1::{Order, Packet};

use support::init_tracing;

const BLOCK: Duration = Duration::from_millis(150);
const WAIT: Duration = Duration::from_secs(120);

async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    support::bounded(WAIT, what, f).await
}

/// The pair config of the two chains; the test hands the keys over, so none is read from disk.
fn pair_config(a: &TestChain, b: &TestChain) -> Config {
    let dir = std::env::temp_dir().join("arke-handshake-test");
    support::pair_config(a, b, &dir, "")
}

fn request(port: &str, ordering: Order) -> ChannelRequest {
    ChannelRequest {
        port_a: port.into(),
        port_b: port.into(),
        ordering,
        version: "ics20-1".into(),
    }
}

fn reversed(s: &ChannelRequest) -> ChannelRequest {
    ChannelRequest {
        port_a: s.port_b.clone(),
        port_b: s.port_a.clone(),
        ..s.clone()
    }
}

async fn channel_on_a(pair: &Pair, channel_a: &str) -> PairChannel {
    let list = handshake::pair_channels(&pair.a.querier, &pair.b.querier)
        .await
        .unwrap();
    list.into_iter()
        .find(|c| c.ends.channel_a == channel_a)
        .unwrap_or_else(|| panic!("channel {channel_a} not listed"))
}

async fn connection_state(chain: &Endpoint, id: &str) -> i32 {
    chain
        .querier
        .connection(id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{}: no connection {id}", chain.id()))
        .state
}

const OPEN: i32 = ibc_proto::ibc::core::connection::v1::State::Open as i32;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_end_to_end() {
    init_tracing();
    let a = TestChain::start("devnet-1", BLOCK).await.unwrap();
    let b = TestChain::start("devnet-2", BLOCK).await.unwrap();
    let config = pair_config(&a, &b);
    let pair = Pair::new(
        &config.chains.a,
        a.relayer.clone(),
        &config.chains.b,
        b.relayer.clone(),
    )
    .unwrap();
    let (ea, eb) = (&pair.a, &pair.b);
    let defaults = ClientOptions::default();

    // Clients, with the trusting period from the unbonding period (devnet: 21 days).
    let settings = handshake::client_settings(ea, eb, &defaults).await.unwrap();
    assert_eq!(settings.trusting_period, Duration::from_secs(14 * 86_400));
    assert_eq!(settings.trust_threshold, (2, 3));
    assert_eq!(settings.clock_drift, Duration::from_secs(40));
    let client_a = bounded("client on a", handshake::create_client(ea, eb, &defaults))
        .await
        .unwrap();
    let client_b = bounded("client on b", handshake::create_client(eb, ea, &defaults))
        .await
        .unwrap();
    let cs = ea.querier.client_state(&client_a).await.unwrap().unwrap();
    assert_eq!(cs.chain_id, "devnet-2");

    // A connection handshake stopped after INIT is finished, reusing the INIT end.
    let init = bounded(
        "connection init",
        handshake::conn_open_init(ea, &client_a, &client_b, Duration::ZERO),
    )
    .await
    .unwrap();
    let opened = bounded(
        "finish connection",
        handshake::open_connection(ea, eb, &client_a, &client_b, Duration::ZERO),
    )
    .await
    .unwrap();
    assert_eq!(opened.ends.connection_a, init);
    assert!(opened.resumed_from.is_some());
    let conn: ConnectionEnds = opened.ends;
    assert_eq!(connection_state(ea, &conn.connection_a).await, OPEN);
    assert_eq!(connection_state(eb, &conn.connection_b).await, OPEN);
    assert_eq!(
        handshake::connection_ends(&ea.querier, &eb.querier, &conn.connection_a)
            .await
            .unwrap(),
        conn
    );

    // Nothing unfinished: a new connection.
    let second = bounded(
        "second connection",
        handshake::open_connection(ea, eb, &client_a, &client_b, Duration::ZERO),
    )
    .await
    .unwrap();
    assert!(second.resumed_from.is_none());
    assert_ne!(second.ends.connection_a, conn.connection_a);
    assert_eq!(connection_state(eb, &second.ends.connection_b).await, OPEN);

    // Unordered ICS-20 channel on `transfer`.
    let unordered = request("transfer", Order::Unordered);
    let transfer = bounded(
        "unordered channel",
        handshake::open_channel(ea, eb, &conn, &unordered),
    )
    .await
    .unwrap();
    assert!(transfer.resumed_from.is_none());
    let listed = channel_on_a(&pair, &transfer.ends.channel_a).await;
    assert!(listed.is_open(), "{listed:?}");
    assert_eq!(listed.ordering, "UNORDERED");
    assert_eq!(listed.ends.channel_b, transfer.ends.channel_b);
    assert_eq!(listed.ends.connection, conn);

    // Ordered channel on `ordered`.
    let ordered = bounded(
        "ordered channel",
        handshake::open_channel(ea, eb, &conn, &request("ordered", Order::Ordered)),
    )
    .await
    .unwrap();
    let listed = channel_on_a(&pair, &ordered.ends.channel_a).await;
    assert!(listed.is_open(), "{listed:?}");
    assert_eq!(listed.ordering, "ORDERED");
    assert_eq!(listed.ends.port_b, "ordered");

    // A channel stopped after INIT on a is finished with its INIT end.
    let init_a = bounded(
        "channel init on a",
        handshake::chan_open_init(ea, &conn.connection_a, &unordered),
    )
    .await
    .unwrap();
    let found = handshake::find_unfinished_channel(
        &ea.querier,
        &eb.querier,
        "transfer",
        "transfer",
        Order::Unordered,
    )
    .await
    .unwrap();
    assert_eq!(found.as_ref(), Some(&conn));
    let finished = bounded(
        "finish channel from init",
        handshake::ensure_channel(
            ea,
            eb,
            &unordered,
            &ConnectionChoice::Any,
            &defaults,
            Duration::ZERO,
        ),
    )
    .await
    .unwrap();
    assert_eq!(finished.ends.channel_a, init_a);
    assert!(finished.resumed_from.is_some());
    assert!(channel_on_a(&pair, &init_a).await.is_open());

    // A channel started on b and stopped after TRYOPEN on a is finished from b's side.
    let init_b = bounded(
        "channel init on b",
        handshake::chan_open_init(eb, &conn.connection_b, &reversed(&unordered)),
    )
    .await
    .unwrap();
    let try_a = bounded(
        "channel try on a",
        handshake::chan_open_try(eb, ea, "transfer", &init_b),
    )
    .await
    .unwrap();
    let finished = bounded(
        "finish channel from try",
        handshake::open_channel(ea, eb, &conn, &unordered),
    )
    .await
    .unwrap();
    assert_eq!(finished.ends.channel_a, try_a);
    assert_eq!(finished.ends.channel_b, init_b);
    let from = finished.resumed_from.unwrap();
    assert!(from.contains("devnet-2"), "{from}");
    assert!(channel_on_a(&pair, &try_a).await.is_open());

    // A transfer over the first channel is pending until relayed.
    let sender = a.address(&a.user);
    let receiver = b.address(&b.user);
    let timeout_ns = (std::time::SystemTime::now() + Duration::from_secs(3600))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let msg = transfer_msg(
        &sender,
        &receiver,
        &transfer.ends.channel_a,
        &Coin::new("stake", 7),
        None,
        timeout_ns,
    );
    let tx = bounded("transfer", a.submit_ok(&a.user, vec![msg]))
        .await
        .unwrap();
    let packets: Vec<Packet> = events_of(&tx.result.events, "send_packet")
        .iter()
        .map(|attrs| packet_from_event(attrs).unwrap())
        .collect();
    assert_eq!(packets.len(), 1);
    let e = &transfer.ends;
    let pending = pending_on(
        &ea.querier,
        &eb.querier,
        &e.port_a,
        &e.channel_a,
        &e.port_b,
        &e.channel_b,
    )
    .await
    .unwrap();
    assert_eq!(pending.a_to_b.unreceived_packets, vec![packets[0].sequence]);
    assert!(pending.a_to_b.unreceived_acks.is_empty());
    assert_eq!(pending.total(), 1);

    let path = ChannelPath {
        client_a: conn.client_a.clone(),
        client_b: conn.client_b.clone(),
        connection_a: conn.connection_a.clone(),
        connection_b: conn.connection_b.clone(),
        port: "transfer".into(),
        channel_a: e.channel_a.clone(),
        channel_b: e.channel_b.clone(),
    };
    bounded("relay", relay_packets(&a, &b, &path, &packets))
        .await
        .unwrap();
    let pending = pending_on(
        &ea.querier,
        &eb.querier,
        &e.port_a,
        &e.channel_a,
        &e.port_b,
        &e.channel_b,
    )
    .await
    .unwrap();
    assert_eq!(pending.total(), 0, "{pending:?}");

    pair.shutdown().await;
}
