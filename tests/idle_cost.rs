//! The idle daemon's cost does not grow with the channel count: with 200 open channels and
//! nothing to relay, once start-up (discovery, the first clearing of every channel) is over, the
//! daemon sends at most 2 RPC requests per second to each chain, counted over a minute from its
//! own request counter per endpoint. A packet sent afterwards on one of the quiet channels is
//! still relayed.

mod support;

use std::sync::Arc;
use std::time::Duration;

use arke::telemetry::state::DaemonState;
use cosmos::events::events_of;
use cosmos::Coin;
use devnet::harness::{packet_from_event, transfer_msg_on, TestChain};
use devnet::testing::open_channels;
use support::{has_commitment, Harness};

/// Channels the daemon relays (the harness's one and these more).
const CHANNELS: usize = 200;
/// How long the requests are counted.
const WINDOW: Duration = Duration::from_secs(60);
/// The most requests per second per chain an idle daemon may send.
const MAX_PER_SECOND: f64 = 2.0;

/// A free loopback port (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The samples of `family` in this process's metrics.
fn samples(family: &str) -> Vec<(String, f64)> {
    arke::telemetry::metrics_text()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let rest = series.strip_prefix(family)?.strip_prefix('{')?;
            Some((rest.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// JSON-RPC requests the daemon has sent to `chain`'s node (every method).
fn requests_to(chain: &TestChain) -> f64 {
    let url = chain.devnet.rpc_url().to_string();
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    samples("arke_rpc_requests_total")
        .iter()
        .filter(|(labels, _)| labels.contains(&host))
        .map(|(_, v)| v)
        .sum()
}

/// Channel ends of `chain` whose clearing (packets, then acks) has run at least once.
fn cleared_ends(chain: &TestChain) -> usize {
    let id = format!("chain=\"{}\"", chain.devnet.chain_id());
    samples("arke_backlog_pending")
        .iter()
        .filter(|(labels, _)| labels.contains(&id) && labels.contains("kind=\"ack\""))
        .count()
}

async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_idle_channels_cost_at_most_two_requests_per_second_per_chain() {
    let telemetry = format!("\n[telemetry]\nenabled = true\nport = {}\n", free_port());
    let h = Harness::new(false, &telemetry).await;
    let (a, b, path) = (&h.chains.a, &h.chains.b, &h.chains.path);
    let opened = open_channels(a, b, path, CHANNELS - 1)
        .await
        .expect("channels open");

    let state = DaemonState::new();
    let relayer = h.start_relayer_in(state.clone());
    let workers = |state: &Arc<DaemonState>| state.workers().len();
    wait_until(
        "the workers of every channel start",
        Duration::from_secs(300),
        || workers(&state) == CHANNELS,
    )
    .await;
    // Start-up is over once every channel was cleared in both directions.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    while cleared_ends(a) < CHANNELS || cleared_ends(b) < CHANNELS {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every channel was cleared: {} ends on A, {} on B",
            cleared_ends(a),
            cleared_ends(b)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let before = [requests_to(a), requests_to(b)];
    let started = tokio::time::Instant::now();
    tokio::time::sleep(WINDOW).await;
    let seconds = started.elapsed().as_secs_f64();
    let rates = [
        (requests_to(a) - before[0]) / seconds,
        (requests_to(b) - before[1]) / seconds,
    ];
    eprintln!(
        "idle with {CHANNELS} channels: {:.2} requests/s to chain A, {:.2} to chain B",
        rates[0], rates[1]
    );
    for (chain, rate) in ["A", "B"].iter().zip(rates) {
        assert!(
            rate <= MAX_PER_SECOND,
            "chain {chain}: {rate:.2} requests per second while idle"
        );
    }
    assert_eq!(workers(&state), CHANNELS, "a worker stopped");

    // A quiet channel still relays what is sent on it.
    let (on_a, _) = opened.last().expect("a channel").clone();
    let timeout = b.ibc_height(b.node().latest_height() + 10_000);
    let msg = transfer_msg_on(
        &path.port,
        &a.address(&a.user),
        &b.address(&b.user),
        &on_a,
        &Coin {
            denom: "stake".into(),
            amount: 7,
        },
        Some(timeout),
        0,
    );
    let tx = a.submit_ok(&a.user, vec![msg]).await.expect("transfer");
    let packet = events_of(&tx.result.events, "send_packet")
        .first()
        .map(|e| packet_from_event(e).expect("packet"))
        .expect("a send_packet event");
    wait_until(
        "the packet on a quiet channel is relayed and acknowledged",
        Duration::from_secs(120),
        || !has_commitment(a, &packet),
    )
    .await;
    relayer.stop().await;
}
