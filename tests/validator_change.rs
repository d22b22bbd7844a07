//! Relaying across changes of the validator set: chain A runs four validators and replaces three
//! of them every few blocks (the devnet's `--validators 4 --rotate-every K`), so a client of A on
//! B that skips across a change is refused. The relayer finds intermediate headers (bisection)
//! and packets keep flowing, with no failed tx; the handshake updates clients the same way.

mod support;

use std::time::Duration;

use arke::handshake::{self, ChannelRequest, ClientOptions, Pair};
use devnet::harness::TestChain;
use devnet::node::ValidatorParams;
use devnet::DevnetConfig;
use ibc_proto::ibc::core::channel::v1::Order;
use support::{bounded, failed_txs, pair_config, Harness, TempDir, BLOCK};

const ROTATE_EVERY: u64 = 8;

fn chain(id: &str) -> DevnetConfig {
    let mut config = DevnetConfig::for_tests(id);
    config.block_time = BLOCK;
    config
}

fn rotating(id: &str) -> DevnetConfig {
    let mut config = chain(id);
    config.validators = ValidatorParams {
        count: 4,
        rotate_every: ROTATE_EVERY,
    };
    config
}

/// Waits until `chain` has gone through at least two changes of its validator set.
async fn two_rotations(chain: &TestChain) {
    let from = chain.node().latest_height();
    chain
        .wait_for_height(from + 2 * ROTATE_EVERY + 2)
        .await
        .unwrap();
}

/// Successful txs on B that updated `client` with more than one header, and the most headers
/// one of them carried.
fn multi_header_updates(h: &Harness, client: &str) -> (usize, usize) {
    let b = &h.chains.b;
    let mut txs = 0;
    let mut most = 0;
    for height in 1..=b.node().latest_height() {
        for tx in b.node().block_txs(height) {
            if tx.result.code.value() != 0 {
                continue;
            }
            let updates = cosmos::events::events_of(&tx.result.events, "update_client")
                .iter()
                .filter(|e| e.get("client_id").map(String::as_str) == Some(client))
                .count();
            if updates > 1 {
                txs += 1;
                most = most.max(updates);
            }
        }
    }
    (txs, most)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packets_flow_across_validator_set_changes_through_bisection() {
    let h = Harness::with_configs(rotating("devnet-1"), chain("devnet-2"), "").await;
    let relayer = h.start_relayer();
    let client = h.chains.path.client_b.clone();

    let first = h.send_transfers(true, 10, 5, 10, 10_000).await;
    h.wait_all_settled(true, &first, Duration::from_secs(60))
        .await;

    // Idle across at least two changes of A's set, so the next update must bisect.
    two_rotations(&h.chains.a).await;
    let second = h.send_transfers(true, 10, 5, 10, 10_000).await;
    h.wait_all_settled(true, &second, Duration::from_secs(60))
        .await;
    relayer.stop().await;

    let (txs, most) = multi_header_updates(&h, &client);
    assert!(
        txs >= 1 && most >= 2,
        "an update of {client} went through intermediate headers ({txs} txs, at most {most})"
    );
    assert_eq!(failed_txs(&h.chains.b), Vec::<String>::new());
    assert_eq!(failed_txs(&h.chains.a), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_crosses_validator_set_changes() {
    let wait = Duration::from_secs(120);
    let a = TestChain::start_with(rotating("devnet-1")).await.unwrap();
    let b = TestChain::start_with(chain("devnet-2")).await.unwrap();
    let dir = TempDir::new("rotation-handshake");
    let config = pair_config(&a, &b, dir.path(), "");
    let pair = Pair::new(
        &config.chains.a,
        a.relayer.clone(),
        &config.chains.b,
        b.relayer.clone(),
    )
    .unwrap();
    let (ea, eb) = (&pair.a, &pair.b);
    // Arke's clients trust 2/3 of the set (Hermes's default): no skip crosses a change.
    let options = ClientOptions::default();
    let client_a = bounded(
        wait,
        "client on a",
        handshake::create_client(ea, eb, &options),
    )
    .await
    .unwrap();
    let client_b = bounded(
        wait,
        "client on b",
        handshake::create_client(eb, ea, &options),
    )
    .await
    .unwrap();
    two_rotations(&a).await;
    let connection = bounded(
        wait,
        "connection",
        handshake::open_connection(ea, eb, &client_a, &client_b, Duration::ZERO),
    )
    .await
    .unwrap();
    two_rotations(&a).await;
    let request = ChannelRequest {
        port_a: "transfer".into(),
        port_b: "transfer".into(),
        ordering: Order::Unordered,
        version: "ics20-1".into(),
    };
    let channel = bounded(
        wait,
        "channel",
        handshake::open_channel(ea, eb, &connection.ends, &request),
    )
    .await
    .unwrap();
    assert!(channel.ends.channel_a.starts_with("channel-"));
    assert_eq!(failed_txs(&b), Vec::<String>::new());
    assert_eq!(failed_txs(&a), Vec::<String>::new());
}
