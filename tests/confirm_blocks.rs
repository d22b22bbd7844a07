//! Confirmation on nodes without a tx index (CometBFT's `indexer = "null"`), where `/tx`
//! answers "transaction indexing is disabled": the engine finds its txs in `/block` and reads
//! their results from `block_results`.
//! - relayed packets are confirmed as done (never counted as relayed by someone else), and the
//!   fees counted are what the relayer's balances lost;
//! - with many txs in flight, each block is fetched once and the results of a block once,
//!   however many txs wait for it.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use arke::chain::query::IbcQuerier;
use arke::chain::rpc::RpcClient;
use arke::chain::types::{RelayItem, RelayKind};
use arke::config::ChainConfig;
use arke::tx::engine::{Outcome, TxEngine};
use devnet::harness::TestChain;
use devnet::testing::ConnectedChains;
use devnet::DevnetConfig;
use tokio_util::sync::CancellationToken;

use support::{init_tracing, metric, pair_config_text, scratch_dir, transfers, Harness};

const WAIT: Duration = Duration::from_secs(120);
const SETTLE: Duration = Duration::from_secs(240);

/// A devnet without a tx index, charging `min_gas_price`.
fn no_tx_index(id: &str, block_time: Duration, min_gas_price: f64) -> DevnetConfig {
    let mut c = DevnetConfig::for_tests(id);
    c.block_time = block_time;
    c.tx_index = false;
    c.min_gas_price = min_gas_price;
    c
}

/// The sum of `arke_rpc_requests_total` (or another per-endpoint family) for `method` on the
/// endpoint of `chain`.
fn requests(family: &str, chain: &TestChain, method: &str) -> f64 {
    let host = chain
        .devnet
        .rpc_url()
        .trim_start_matches("http://")
        .to_string();
    let text = arke::telemetry::metrics_text();
    text.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")))
        .filter(|l| l.contains(&host) && l.contains(&format!("method=\"{method}\"")))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn relayed_packets_are_confirmed_and_their_fees_counted_without_tx_index() {
    init_tracing();
    let block = Duration::from_millis(200);
    let chains = ConnectedChains::start_with(
        no_tx_index("noindex-1", block, 0.001),
        no_tx_index("noindex-2", block, 0.001),
        false,
    )
    .await
    .expect("chains and channel start");
    let dir = scratch_dir("confirm-blocks");
    // Periodic clearing off: every packet goes through the event hub, once.
    let text = pair_config_text(&chains.a, &chains.b, &dir, "clear_interval = 0").replace(
        "gas_price = { price = 0.0, denom = \"stake\" }",
        "gas_price = { price = 0.001, denom = \"stake\" }",
    );
    let config = arke::config::Config::from_toml_str(&text, &dir.join("pair.toml")).unwrap();
    let h = Harness {
        chains,
        config,
        dir,
    };
    let (a, b) = (&h.chains.a, &h.chains.b);
    let balances = || h.relayer_balances();
    let before = balances();
    let relayer = h.start_relayer_ready().await;
    let packets = h.send_transfers(true, 20, 1, 5, 10_000).await;
    h.wait_all_settled(true, &packets, SETTLE).await;
    relayer.stop().await;
    let spent = before - balances();
    assert!(spent > 0, "the relayer paid no fees");

    let counts = support::receive_counts(b, &h.chains.path.channel_b);
    assert_eq!(counts.len(), 20);
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    let mut counted = 0.0;
    for id in ["noindex-1", "noindex-2"] {
        let confirmed = metric("arke_txs_confirmed_total", &[("chain", id)]);
        assert!(confirmed > 0.0, "{id}: no tx confirmed");
        let latencies = metric("arke_tx_confirmation_seconds_count", &[("chain", id)]);
        assert_eq!(latencies, confirmed, "{id}: a confirmation without latency");
        let redundant = metric(
            "arke_txs_failed_total",
            &[("chain", id), ("cause", "redundant")],
        );
        assert_eq!(redundant, 0.0, "{id}: own deliveries counted as redundant");
        assert_eq!(
            metric("arke_packets_redundant_total", &[("chain", id)]),
            0.0,
            "{id}: packets counted as relayed by someone else"
        );
        counted += metric("arke_fees_paid_total", &[("chain", id), ("denom", "stake")]);
    }
    assert_eq!(counted as u128, spent, "fees counted vs balances");
    assert!(
        support::failed_txs(a).is_empty(),
        "{:?}",
        support::failed_txs(a)
    );
    assert!(
        support::failed_txs(b).is_empty(),
        "{:?}",
        support::failed_txs(b)
    );
}

fn querier(config: &ChainConfig) -> IbcQuerier {
    IbcQuerier::new(RpcClient::from_config(config).unwrap(), config.id.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn block_requests_do_not_grow_with_the_txs_in_flight() {
    init_tracing();
    const TXS: usize = 30;
    // Blocks long enough that several txs land in each.
    let block = Duration::from_millis(800);
    let chains = ConnectedChains::start_with(
        no_tx_index("inflight-1", block, 0.0),
        no_tx_index("inflight-2", block, 0.0),
        false,
    )
    .await
    .expect("chains and channel start");
    let dir = scratch_dir("confirm-inflight");
    let text = pair_config_text(&chains.a, &chains.b, &dir, "");
    let config = arke::config::Config::from_toml_str(&text, &dir.join("pair.toml")).unwrap();
    let (cfg_a, mut cfg_b) = (config.chains.a.clone(), config.chains.b.clone());
    // One packet per tx: every packet is a tx of its own, all in flight at once.
    cfg_b.max_msg_num = 1;
    let packets = transfers(&chains, TXS).await;
    assert_eq!(packets.len(), TXS);

    let shutdown = CancellationToken::new();
    let (engine, task) = TxEngine::spawn(
        &cfg_b,
        querier(&cfg_b),
        querier(&cfg_a),
        chains.b.relayer.clone(),
        shutdown.clone(),
    );
    let b = &chains.b;
    let first = b.node().latest_height();
    let mut receivers = Vec::new();
    for p in &packets {
        let item = RelayItem {
            kind: RelayKind::Recv,
            packet: p.clone(),
            ack: Vec::new(),
            ordered: false,
            event_height: 0,
        };
        receivers.push(engine.submit(&chains.path.client_b, item).await);
    }
    let outcomes = support::bounded(
        WAIT,
        "outcomes",
        futures::future::join_all(
            receivers
                .into_iter()
                .map(|rx| async move { rx.await.expect("the engine answers") }),
        ),
    )
    .await;
    let last = b.node().latest_height();
    shutdown.cancel();
    support::bounded(WAIT, "engine stops", task).await.unwrap();

    let mut hashes = BTreeSet::new();
    let mut heights = BTreeSet::new();
    for (p, outcome) in packets.iter().zip(&outcomes) {
        match outcome {
            Outcome::Done { tx_hash, height } => {
                hashes.insert(tx_hash.clone());
                heights.insert(*height);
            }
            other => panic!("packet {}: {other:?}", p.sequence),
        }
    }
    assert_eq!(hashes.len(), TXS, "one tx per packet");
    assert!(
        heights.len() < TXS,
        "{TXS} txs in {} blocks: none shared a block",
        heights.len()
    );
    let answered = |method| {
        requests("arke_rpc_requests_total", b, method)
            - requests("arke_rpc_errors_total", b, method)
    };
    let blocks = answered("block");
    let results = answered("block_results");
    let spanned = last - first + 1;
    eprintln!(
        "{TXS} txs in {} blocks; {spanned} heights spanned; /block {blocks}, block_results {results}, /status {}, /tx {}",
        heights.len(),
        requests("arke_rpc_requests_total", b, "status"),
        requests("arke_rpc_requests_total", b, "tx"),
    );
    assert!(
        blocks <= spanned as f64,
        "{blocks} /block answers for {spanned} heights"
    );
    assert!(
        results <= heights.len() as f64,
        "{results} block_results answers for {} blocks holding our txs",
        heights.len()
    );
}
