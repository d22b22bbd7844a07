//! What the relayer's txs pay, against devnets:
//! - under fee markets whose prices traffic both ways pushes up 5× (where a fixed `gas_price`
//!   at the floor would stall), the daemon relays every packet, and no tx is refused for its fee
//!   more than once per price change;
//! - with 50 ms between relayer and nodes, no tx falls back to `default_gas` because of a
//!   sequence race, and fees per packet stay within 10 % of the same traffic without delay;
//! - a `fee_granter`'s grant pays the fees (the relayer's balance does not move) and
//!   `memo_prefix` leads every memo;
//! - a single message above `max_gas`, or one the chain refuses in simulation, is not broadcast
//!   (nothing paid, counted).
//!
//! Every chain of this file has its own id, so the process-wide metrics of one test are not
//! another's. Every wait is bounded; nothing asserts on timing.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use arke::chain::query::IbcQuerier;
use arke::chain::rpc::RpcClient;
use arke::config::{ChainConfig, Config};
use arke::tx::engine::{Outcome, TxEngine};
use cosmos::Coin;
use devnet::feemarket::{Dec, FeeMarketParams, GasPriceRequest, GasPriceResponse, GAS_PRICE_PATH};
use devnet::harness::{query_account, transfer_msg, TestChain};
use devnet::launch::DevnetConfig;
use devnet::testing::ConnectedChains;
use ibc_proto::cosmos::tx::v1beta1::{AuthInfo, TxBody, TxRaw};
use prost::Message;
use tokio_util::sync::CancellationToken;

use support::{
    funded_account, init_tracing, metric, pair_config_text, receive_counts, recv_item, scratch_dir,
    transfers, Harness,
};

const BLOCK: Duration = Duration::from_millis(200);
const WAIT: Duration = Duration::from_secs(120);
const SETTLE: Duration = Duration::from_secs(300);

fn devnet_config(id: &str) -> DevnetConfig {
    let mut c = DevnetConfig::for_tests(id);
    c.block_time = BLOCK;
    c
}

/// The pair config of `chains` with `chain_keys` in place of each chain's `gas_price` line.
fn config(chains: &ConnectedChains, dir: &Path, chain_keys: &str) -> Config {
    let text = pair_config_text(&chains.a, &chains.b, dir, "")
        .replace("gas_price = { price = 0.0, denom = \"stake\" }", chain_keys);
    Config::from_toml_str(&text, &dir.join("pair.toml")).expect("valid config")
}

fn querier(config: &ChainConfig) -> IbcQuerier {
    IbcQuerier::new(RpcClient::from_config(config).unwrap(), config.id.clone())
}

async fn outcome(rx: tokio::sync::oneshot::Receiver<Outcome>) -> Outcome {
    support::bounded(WAIT, "outcome", rx).await.unwrap()
}

/// The fee coin, granter and memo of a committed tx.
fn fee_granter_memo(chain: &TestChain, hash: &str) -> (u128, String, String) {
    let record = chain.node().tx(&hex::decode(hash).unwrap()).unwrap();
    let raw = TxRaw::decode(record.tx.as_slice()).unwrap();
    let body = TxBody::decode(raw.body_bytes.as_slice()).unwrap();
    let fee = AuthInfo::decode(raw.auth_info_bytes.as_slice())
        .unwrap()
        .fee
        .unwrap();
    let amount = fee
        .amount
        .iter()
        .map(|c| c.amount.parse::<u128>().unwrap())
        .sum();
    (amount, fee.granter, body.memo)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fee_granter_pays_and_the_memo_prefix_leads_the_memo() {
    init_tracing();
    let mut b = devnet_config("grant-2");
    b.min_gas_price = 0.001;
    let chains = ConnectedChains::start_with(devnet_config("grant-1"), b, false)
        .await
        .unwrap();
    let dir = scratch_dir("gas-grant");
    let granter_key = funded_account(&chains.b, 10_000_000_000).await;
    let granter = chains.b.address(&granter_key);
    let relayer = chains.b.address(&chains.b.relayer);
    chains
        .b
        .submit_ok(
            &granter_key,
            vec![devnet::feegrant::grant_msg(&granter, &relayer, &[])],
        )
        .await
        .expect("grant");
    let cfg = config(
        &chains,
        &dir,
        &format!(
            "gas_price = {{ price = 0.001, denom = \"stake\" }}\nfee_granter = \"{granter}\"\nmemo_prefix = \"ops-team\""
        ),
    );
    let (cfg_a, cfg_b) = (&cfg.chains.a, &cfg.chains.b);
    let shutdown = CancellationToken::new();
    let (engine, task) = TxEngine::spawn(
        cfg_b,
        querier(cfg_b),
        querier(cfg_a),
        chains.b.relayer.clone(),
        shutdown.clone(),
    );

    let packets = transfers(&chains, 5).await;
    let relayer_before = chains.b.balance(&relayer, "stake").unwrap();
    let granter_before = chains.b.balance(&granter, "stake").unwrap();
    let mut receivers = Vec::new();
    for p in &packets {
        receivers.push(engine.submit(&chains.path.client_b, recv_item(p)).await);
    }
    let mut hashes = BTreeSet::new();
    for rx in receivers {
        match outcome(rx).await {
            Outcome::Done { tx_hash, .. } => hashes.insert(tx_hash),
            other => panic!("{other:?}"),
        };
    }
    let mut paid = 0;
    for hash in &hashes {
        let (fee, tx_granter, memo) = fee_granter_memo(&chains.b, hash);
        assert!(fee > 0, "the chain charges fees");
        assert_eq!(tx_granter, granter);
        assert!(memo.starts_with("ops-team arke "), "memo {memo:?}");
        paid += fee;
    }
    assert_eq!(chains.b.balance(&relayer, "stake").unwrap(), relayer_before);
    assert_eq!(
        chains.b.balance(&granter, "stake").unwrap(),
        granter_before - paid
    );
    let counted = metric(
        "arke_fees_paid_total",
        &[("chain", "grant-2"), ("denom", "stake")],
    );
    assert_eq!(counted as u128, paid);
    shutdown.cancel();
    support::bounded(WAIT, "engine stops", task).await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_message_above_max_gas_is_not_broadcast() {
    init_tracing();
    let mut b = devnet_config("maxgas-2");
    b.min_gas_price = 0.001;
    let chains = ConnectedChains::start_with(devnet_config("maxgas-1"), b, false)
        .await
        .unwrap();
    let dir = scratch_dir("gas-max");
    let cfg = config(
        &chains,
        &dir,
        "gas_price = { price = 0.001, denom = \"stake\" }",
    );
    let mut cfg_b = cfg.chains.b.clone();
    cfg_b.max_gas = 20_000;
    cfg_b.default_gas = 20_000;
    let shutdown = CancellationToken::new();
    let (engine, task) = TxEngine::spawn(
        &cfg_b,
        querier(&cfg_b),
        querier(&cfg.chains.a),
        chains.b.relayer.clone(),
        shutdown.clone(),
    );
    let packets = transfers(&chains, 1).await;
    let relayer = chains.b.address(&chains.b.relayer);
    let balance = chains.b.balance(&relayer, "stake").unwrap();
    let account = query_account(chains.b.node(), &relayer).unwrap();
    let over = || metric("arke_msgs_over_max_gas_total", &[("chain", "maxgas-2")]);
    let before = over();
    for attempt in 1..=2 {
        let rx = engine
            .submit(&chains.path.client_b, recv_item(&packets[0]))
            .await;
        match outcome(rx).await {
            Outcome::Failed { reason, retryable } => {
                assert!(reason.contains("exceeds max_gas 20000"), "{reason}");
                assert!(!retryable, "left for clearing");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(over() - before, f64::from(attempt));
    }
    // A message set the chain refuses in simulation would fail in its block: not sent either.
    let doomed = transfer_msg(
        &relayer,
        &chains.a.address(&chains.a.user),
        "channel-99",
        &Coin::new("stake", 1),
        None,
        u64::MAX / 2,
    );
    match support::bounded(WAIT, "submit_msgs", engine.submit_msgs(vec![doomed])).await {
        Outcome::Failed { reason, .. } => assert!(reason.starts_with("simulation:"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        metric(
            "arke_simulation_failures_total",
            &[("chain", "maxgas-2"), ("cause", "rejected")]
        ),
        1.0
    );
    // Nothing was broadcast: no fee, no sequence used, the packet not received.
    assert_eq!(chains.b.balance(&relayer, "stake").unwrap(), balance);
    assert_eq!(query_account(chains.b.node(), &relayer).unwrap(), account);
    assert!(receive_counts(&chains.b, &chains.path.channel_b).is_empty());
    assert_eq!(
        metric("arke_txs_submitted_total", &[("chain", "maxgas-2")]),
        0.0
    );
    shutdown.cancel();
    support::bounded(WAIT, "engine stops", task).await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The base gas price of `chain` after block `height`.
fn base_price(chain: &TestChain, height: u64) -> Dec {
    let request = GasPriceRequest {
        denom: "stake".into(),
    };
    let q = chain
        .node()
        .abci_query(GAS_PRICE_PATH, &request.encode_to_vec(), height, false);
    assert_eq!(q.code.value(), 0, "{}", q.log);
    let coin = GasPriceResponse::decode(q.value.as_ref())
        .unwrap()
        .price
        .unwrap();
    Dec::from_atto(coin.amount.parse().unwrap())
}

/// How often the base price of `chain` changed over blocks `from..=to`.
fn price_changes(chain: &TestChain, from: u64, to: u64) -> usize {
    (from.max(2)..=to)
        .filter(|h| base_price(chain, *h) != base_price(chain, h - 1))
        .count()
}

fn market() -> FeeMarketParams {
    FeeMarketParams {
        min_base_gas_price: "0.01".parse().unwrap(),
        max_base_gas_price: "0.2".parse().unwrap(),
        learning_rate: "0.125".parse().unwrap(),
        // A block with a tx of 50 transfers, or the relay of as many packets, is above target.
        max_block_utilization: 600_000,
        target_utilization: "0.5".parse().unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_a_rising_fee_market_every_packet_is_relayed() {
    init_tracing();
    let with_market = |id: &str| {
        let mut c = devnet_config(id);
        c.fee_market = Some(market());
        c
    };
    let chains =
        ConnectedChains::start_with(with_market("market-1"), with_market("market-2"), false)
            .await
            .unwrap();
    let dir = scratch_dir("gas-market");
    let config = config(
        &chains,
        &dir,
        "gas_price = { price = 0.01, denom = \"stake\" }\ndynamic_gas_price = { enabled = true, multiplier = 1.1, max = 0.6 }",
    );
    let h = Harness {
        chains,
        config,
        dir,
    };
    let (a, b) = (&h.chains.a, &h.chains.b);
    let floor = market().min_base_gas_price;
    let start = (a.node().latest_height(), b.node().latest_height());
    let relayer = h.start_relayer();

    // Traffic both ways until both prices are 5× their floor.
    let (mut to_b, mut to_a) = (Vec::new(), Vec::new());
    let target = Dec::from_atto(floor.atto() * 5);
    while base_price(a, 0) < target || base_price(b, 0) < target {
        let (sent_a, sent_b) = tokio::join!(
            h.send_transfers(true, 50, 1, 50, 10_000),
            h.send_transfers(false, 50, 1, 50, 10_000)
        );
        to_b.extend(sent_a);
        to_a.extend(sent_b);
        assert!(to_b.len() < 5_000, "the prices do not rise");
    }
    h.wait_all_settled(true, &to_b, SETTLE).await;
    h.wait_all_settled(false, &to_a, SETTLE).await;
    relayer.stop().await;
    let end = (a.node().latest_height(), b.node().latest_height());

    for (chain, channel, sent) in [
        (b, &h.chains.path.channel_b, &to_b),
        (a, &h.chains.path.channel_a, &to_a),
    ] {
        let counts = receive_counts(chain, channel);
        assert_eq!(counts.len(), sent.len());
        assert!(counts.values().all(|&n| n == 1));
    }
    for (chain, (from, to)) in [(a, (start.0, end.0)), (b, (start.1, end.1))] {
        let id = chain.devnet.chain_id();
        let rejected = metric(
            "arke_txs_failed_total",
            &[("chain", id), ("cause", "insufficient_fee")],
        );
        let retried = metric("arke_fee_retries_total", &[("chain", id)]);
        let changes = price_changes(chain, from, to);
        assert!(
            rejected <= changes as f64,
            "{id}: {rejected} fee rejections for {changes} price changes"
        );
        assert!(
            retried <= rejected,
            "{id}: {retried} retries, {rejected} rejections"
        );
        eprintln!("{id}: {changes} price changes, {rejected} fee rejections, {retried} retries, {} packets", to_a.len() + to_b.len());
    }
}

/// Packets relayed each way in the latency test (see the README: 2×1,000 runs in about a
/// minute on 2 cores, both runs at once).
const LATENCY_PACKETS: usize = 1_000;

/// Relays `n` packets each way between fresh chains `{prefix}-1` and `{prefix}-2`, their RPC
/// answers delayed by `latency`; returns the fees paid per packet. No tx may have fallen back
/// to `default_gas`, and the fees counted must be what the relayer's balances lost.
async fn fees_per_packet(prefix: &str, latency: Duration, n: usize) -> f64 {
    let devnet = |id: String| {
        let mut c = devnet_config(&id);
        c.min_gas_price = 0.001;
        c.rpc_latency = latency;
        c
    };
    let (id_a, id_b) = (format!("{prefix}-1"), format!("{prefix}-2"));
    let chains = ConnectedChains::start_with(devnet(id_a.clone()), devnet(id_b.clone()), false)
        .await
        .unwrap();
    let dir = scratch_dir(prefix);
    let config = config(
        &chains,
        &dir,
        "gas_price = { price = 0.001, denom = \"stake\" }",
    );
    let h = Harness {
        chains,
        config,
        dir,
    };
    let balances = || h.relayer_balances();
    let before = balances();
    let relayer = h.start_relayer();
    let (to_b, to_a) = tokio::join!(
        h.send_transfers(true, n, 1, 50, 10_000),
        h.send_transfers(false, n, 1, 50, 10_000)
    );
    h.wait_all_settled(true, &to_b, SETTLE).await;
    h.wait_all_settled(false, &to_a, SETTLE).await;
    relayer.stop().await;
    let spent = before - balances();

    let mut counted = 0.0;
    for id in [&id_a, &id_b] {
        for cause in ["sequence_mismatch", "rpc", "decode"] {
            let fallbacks = metric(
                "arke_txs_default_gas_total",
                &[("chain", id), ("cause", cause)],
            );
            assert_eq!(
                fallbacks, 0.0,
                "{id}: {fallbacks} txs at default_gas ({cause})"
            );
        }
        let paid = metric("arke_fees_paid_total", &[("chain", id), ("denom", "stake")]);
        // Every fee paid is put down to what its tx achieved.
        let by_outcome: f64 = ["useful", "partly_redundant", "redundant", "failed", "other"]
            .iter()
            .map(|o| {
                metric(
                    "arke_fees_by_outcome_total",
                    &[("chain", id), ("denom", "stake"), ("outcome", o)],
                )
            })
            .sum();
        assert_eq!(by_outcome, paid, "{id}: fees by outcome vs fees paid");
        assert!(
            metric(
                "arke_fees_by_outcome_total",
                &[("chain", id), ("outcome", "useful")]
            ) > 0.0,
            "{id}: useful txs paid"
        );
        counted += paid;
    }
    assert_eq!(counted as u128, spent, "fees counted vs balances");
    let per_packet = counted / (2 * n) as f64;
    eprintln!(
        "{prefix}: {per_packet:.1} stake per packet; sequence mismatches in simulation: {}",
        metric(
            "arke_simulation_failures_total",
            &[("cause", "sequence_mismatch")]
        )
    );
    per_packet
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_far_node_costs_no_more_per_packet() {
    init_tracing();
    let (far, near) = tokio::join!(
        fees_per_packet("far", Duration::from_millis(50), LATENCY_PACKETS),
        fees_per_packet("near", Duration::ZERO, LATENCY_PACKETS)
    );
    assert!(
        (far - near).abs() <= near * 0.10,
        "{far:.1} stake per packet with 50 ms latency, {near:.1} without"
    );
}
