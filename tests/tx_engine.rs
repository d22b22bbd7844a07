//! The TxEngine against two real devnets with an open ICS-20 channel:
//! - 40 packets submitted at once are received in fewer txs than packets, the vouchers arrive,
//!   a second submission of a received packet is refused at CheckTx (`RedundantInMempool`: the
//!   engine cannot tell a pending delivery from a committed one), the acknowledgements relayed back
//!   clear the commitments, and the engine stops when its token is cancelled;
//! - two engines signing with the same key race on the same packets: every packet is received
//!   exactly once and no outcome is a failure (sequence mismatches are recovered, and none sends
//!   a tx at `default_gas`);
//! - two txs proving at the same height in one block: only the first carries the client update
//!   (the node's check state keeps it from the first one's CheckTx), the header is fetched once
//!   for both, and both execute;
//! - two engines of one chain with different signers build updates to one height from one
//!   fetch of its header and validators (the querier keeps recent heights);
//! - pipelining: while the node holds a broadcast unanswered, the engine proves the next batch;
//!   with `max_txs_in_flight = 1` the next tx waits for the previous one's block.
//!
//! Every wait is bounded; nothing asserts on timing.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use arke::chain::query::IbcQuerier;
use arke::chain::rpc::RpcClient;
use arke::chain::types::{RelayItem, RelayKind};
use arke::config::{ChainConfig, DynamicGasPrice, GasPrice, ProofSpecs, TrustThreshold};
use arke::tx::engine::{Outcome, TxEngine};
use cosmos::events::events_of;
use cosmos::Coin;
use devnet::harness::{packet_from_event, transfer_msg, TestChain};
use devnet::testing::ConnectedChains;
use ibc_proto::ibc::core::channel::v1::Packet;
use reqwest::Url;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use support::{init_tracing, recv_item};

const BLOCK: Duration = Duration::from_millis(150);
const WAIT: Duration = Duration::from_secs(90);

async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    support::bounded(WAIT, what, f).await
}

/// A chain config for a devnet (what a pair file would give), with small txs so batching shows.
fn chain_config(chain: &TestChain, label: &str) -> ChainConfig {
    let devnet = &chain.devnet;
    ChainConfig {
        label: label.into(),
        id: devnet.chain_id().to_string(),
        rpc_addr: Url::parse(&devnet.rpc_url()).unwrap(),
        websocket_addr: Url::parse(&devnet.websocket_url()).unwrap(),
        account_prefix: devnet.config().bech32_prefix.clone(),
        key_name: "relayer".into(),
        key_names: vec!["relayer".into()],
        key_store_folder: std::env::temp_dir(),
        gas_price: GasPrice {
            price: 0.001,
            denom: "stake".into(),
        },
        gas_multiplier: 1.3,
        max_gas: 40_000_000,
        dynamic_gas_price: DynamicGasPrice::default(),
        default_gas: 100_000,
        fee_granter: None,
        memo_prefix: None,
        max_msg_num: 16,
        max_tx_size: arke::config::DEFAULT_MAX_TX_SIZE,
        max_txs_in_flight: 16,
        max_concurrent_requests: 16,
        rpc_timeout: Duration::from_secs(10),
        clock_drift: Duration::from_secs(5),
        max_block_time: Duration::from_secs(30),
        trusting_period: None,
        trust_threshold: TrustThreshold::default(),
        proof_specs: ProofSpecs::default(),
        endpoints: Default::default(),
    }
}

fn querier(chain: &TestChain, config: &ChainConfig) -> IbcQuerier {
    let rpc = RpcClient::from_config(config).unwrap();
    IbcQuerier::new(rpc, chain.devnet.chain_id().to_string())
}

/// Sends `n` transfers of `amount` stake from A's user to B's user; returns the packets.
async fn send_transfers(chains: &ConnectedChains, n: usize, amount: u128) -> Vec<Packet> {
    let (a, b) = (&chains.a, &chains.b);
    let sender = a.address(&a.user);
    let receiver = b.address(&b.user);
    let timeout_ns = (std::time::SystemTime::now() + Duration::from_secs(3600))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let msgs = (0..n)
        .map(|_| {
            transfer_msg(
                &sender,
                &receiver,
                &chains.path.channel_a,
                &Coin::new("stake", amount),
                None,
                timeout_ns,
            )
        })
        .collect();
    let tx = bounded("transfers", a.submit_ok(&a.user, msgs))
        .await
        .unwrap();
    let packets: Vec<Packet> = events_of(&tx.result.events, "send_packet")
        .iter()
        .map(|attrs| packet_from_event(attrs).unwrap())
        .collect();
    assert_eq!(packets.len(), n);
    packets
}

fn voucher(chains: &ConnectedChains) -> String {
    support::voucher(&chains.path.port, &chains.path.channel_b, "stake")
}

/// Every packet of `packets` has its receipt on `chain`.
fn assert_received(chain: &TestChain, packets: &[Packet]) {
    for p in packets {
        let receipt = format!(
            "receipts/ports/{}/channels/{}/sequences/{}",
            p.destination_port, p.destination_channel, p.sequence
        );
        assert!(!stored(chain, &receipt).is_empty(), "no receipt {receipt}");
    }
}

async fn outcomes(receivers: Vec<oneshot::Receiver<Outcome>>) -> Vec<Outcome> {
    let all = futures::future::join_all(receivers.into_iter().map(|rx| async move {
        rx.await.unwrap_or(Outcome::Failed {
            reason: "engine dropped the item".into(),
            retryable: true,
        })
    }));
    bounded("outcomes", all).await
}

fn stored(chain: &TestChain, path: &str) -> Vec<u8> {
    chain
        .node()
        .abci_query("store/ibc/key", path.as_bytes(), 0, false)
        .value
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_recv_redundant_and_acks() {
    init_tracing();
    let chains = ConnectedChains::start(BLOCK, false).await.unwrap();
    let (cfg_a, cfg_b) = (chain_config(&chains.a, "a"), chain_config(&chains.b, "b"));
    let (qa, qb) = (querier(&chains.a, &cfg_a), querier(&chains.b, &cfg_b));
    let shutdown = CancellationToken::new();
    let (engine_b, task_b) = TxEngine::spawn(
        &cfg_b,
        qb.clone(),
        qa.clone(),
        chains.b.relayer.clone(),
        shutdown.clone(),
    );
    let (engine_a, task_a) = TxEngine::spawn(
        &cfg_a,
        qa.clone(),
        qb.clone(),
        chains.a.relayer.clone(),
        shutdown.clone(),
    );

    let packets = send_transfers(&chains, 40, 7).await;
    let receiver = chains.b.address(&chains.b.user);
    let before = chains.b.balance(&receiver, &voucher(&chains)).unwrap();

    // All 40 at once: every one Done, in fewer txs than items.
    let mut receivers = Vec::new();
    for p in &packets {
        receivers.push(engine_b.submit(&chains.path.client_b, recv_item(p)).await);
    }
    let results = outcomes(receivers).await;
    let mut hashes = BTreeSet::new();
    for (p, outcome) in packets.iter().zip(&results) {
        match outcome {
            Outcome::Done { tx_hash, height } => {
                assert!(*height > 0);
                hashes.insert(tx_hash.clone());
            }
            other => panic!("packet {}: {other:?}", p.sequence),
        }
    }
    assert!(
        hashes.len() < packets.len(),
        "{} txs for {} packets",
        hashes.len(),
        packets.len()
    );
    let after = chains.b.balance(&receiver, &voucher(&chains)).unwrap();
    assert_eq!(after - before, 40 * 7);
    assert_received(&chains.b, &packets);

    // The same packet again: another relayer (we) got there first, and CheckTx says so.
    let again = engine_b
        .submit(&chains.path.client_b, recv_item(&packets[0]))
        .await;
    assert_eq!(
        outcomes(vec![again]).await,
        vec![Outcome::RedundantInMempool]
    );

    // Acknowledgements from the recv txs back to A.
    let mut acks = Vec::new();
    for hash in &hashes {
        let record = chains.b.node().tx(&hex::decode(hash).unwrap()).unwrap();
        for attrs in events_of(&record.result.events, "write_acknowledgement") {
            let packet = packet_from_event(&attrs).unwrap();
            let ack = hex::decode(&attrs["packet_ack_hex"]).unwrap();
            acks.push(RelayItem {
                kind: RelayKind::Ack,
                packet,
                ack,
                ordered: false,
                event_height: 0,
            });
        }
    }
    assert_eq!(acks.len(), packets.len());
    let mut receivers = Vec::new();
    for item in &acks {
        receivers.push(engine_a.submit(&chains.path.client_a, item.clone()).await);
    }
    for (item, outcome) in acks.iter().zip(outcomes(receivers).await) {
        assert!(
            matches!(outcome, Outcome::Done { .. }),
            "ack {}: {outcome:?}",
            item.packet.sequence
        );
    }
    for p in &packets {
        let commitment = format!(
            "commitments/ports/{}/channels/{}/sequences/{}",
            p.source_port, p.source_channel, p.sequence
        );
        assert!(
            stored(&chains.a, &commitment).is_empty(),
            "{commitment} still there"
        );
    }

    // Plain messages go through the same path.
    let transfer = transfer_msg(
        &chains.a.address(&chains.a.relayer),
        &receiver,
        &chains.path.channel_a,
        &Coin::new("stake", 1),
        None,
        u64::MAX / 2,
    );
    let outcome = bounded("submit_msgs", engine_a.submit_msgs(vec![transfer])).await;
    assert!(matches!(outcome, Outcome::Done { .. }), "{outcome:?}");

    // Shutdown: both tasks end, later submissions fail as retryable.
    shutdown.cancel();
    bounded("engine B stops", task_b).await.unwrap();
    bounded("engine A stops", task_a).await.unwrap();
    let late = engine_b
        .submit(&chains.path.client_b, recv_item(&packets[1]))
        .await;
    assert!(matches!(
        outcomes(vec![late]).await[0],
        Outcome::Failed {
            retryable: true,
            ..
        }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_with_one_key_race_without_failures() {
    init_tracing();
    let chains = ConnectedChains::start(BLOCK, false).await.unwrap();
    let (cfg_a, cfg_b) = (chain_config(&chains.a, "a"), chain_config(&chains.b, "b"));
    let (qa, qb) = (querier(&chains.a, &cfg_a), querier(&chains.b, &cfg_b));
    let shutdown = CancellationToken::new();
    let spawn = || {
        TxEngine::spawn(
            &cfg_b,
            qb.clone(),
            qa.clone(),
            chains.b.relayer.clone(),
            shutdown.clone(),
        )
    };
    let (first, task_1) = spawn();
    let (second, task_2) = spawn();

    let packets = send_transfers(&chains, 24, 3).await;
    let receiver = chains.b.address(&chains.b.user);
    let before = chains.b.balance(&receiver, &voucher(&chains)).unwrap();

    // Interleave: both engines get every packet, from two tasks at once.
    let submit_all = |engine: TxEngine, packets: Vec<Packet>, client: String| async move {
        let mut receivers = Vec::new();
        for p in &packets {
            receivers.push(engine.submit(&client, recv_item(p)).await);
        }
        outcomes(receivers).await
    };
    let client = chains.path.client_b.clone();
    let mut reversed = packets.clone();
    reversed.reverse();
    let (one, two) = tokio::join!(
        tokio::spawn(submit_all(first, packets.clone(), client.clone())),
        tokio::spawn(submit_all(second, reversed, client)),
    );
    let (one, mut two) = (one.unwrap(), two.unwrap());
    two.reverse();

    let mut done_per_packet: BTreeMap<u64, usize> = BTreeMap::new();
    for (i, p) in packets.iter().enumerate() {
        for outcome in [&one[i], &two[i]] {
            match outcome {
                Outcome::Done { .. } => *done_per_packet.entry(p.sequence).or_default() += 1,
                Outcome::Redundant | Outcome::RedundantInMempool => {}
                Outcome::Failed { reason, .. } => {
                    panic!("packet {} failed: {reason}", p.sequence)
                }
            }
        }
    }
    for p in &packets {
        assert_eq!(
            done_per_packet.get(&p.sequence).copied().unwrap_or(0),
            1,
            "packet {} should be received by exactly one engine",
            p.sequence
        );
    }
    let after = chains.b.balance(&receiver, &voucher(&chains)).unwrap();
    assert_eq!(after - before, 24 * 3, "every packet received exactly once");
    // The race shows in simulations as sequence mismatches, which resynchronise the sequence:
    // no tx falls back to default_gas for it.
    let fallbacks = support::metric(
        "arke_txs_default_gas_total",
        &[("chain", "devnet-2"), ("cause", "sequence_mismatch")],
    );
    assert_eq!(fallbacks, 0.0);
    eprintln!(
        "simulations answered with a sequence mismatch: {}",
        support::metric(
            "arke_simulation_failures_total",
            &[("chain", "devnet-2"), ("cause", "sequence_mismatch")]
        )
    );

    shutdown.cancel();
    bounded("engine 1 stops", task_1).await.unwrap();
    bounded("engine 2 stops", task_2).await.unwrap();
}

/// Waits until `chain`'s mempool holds `n` txs; returns them in mempool order.
async fn mempool_holds(chain: &TestChain, n: usize) -> Vec<Vec<u8>> {
    bounded("txs in the mempool", async {
        loop {
            let (txs, _, _) = chain.node().unconfirmed_txs(100);
            if txs.len() >= n {
                return txs;
            }
            tokio::time::sleep(BLOCK).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_update_per_proof_height() {
    init_tracing();
    let chains = ConnectedChains::start(BLOCK, false).await.unwrap();
    let (cfg_a, mut cfg_b) = (chain_config(&chains.a, "a"), chain_config(&chains.b, "b"));
    // Three packet messages and the update per tx: six packets make two txs.
    cfg_b.max_msg_num = 4;
    let (qa, qb) = (querier(&chains.a, &cfg_a), querier(&chains.b, &cfg_b));
    let shutdown = CancellationToken::new();
    let (engine, task) =
        TxEngine::spawn(&cfg_b, qb, qa, chains.b.relayer.clone(), shutdown.clone());
    let packets = send_transfers(&chains, 6, 1).await;
    // A moves past the height B's client was last updated to (by the handshake), so the
    // proofs need an update.
    let sent = chains.a.node().latest_height();
    chains.a.wait_for_height(sent + 2).await.unwrap();
    // Both chains stand still: both batches prove at the same height of A, and B's mempool
    // holds their txs until one block takes both.
    chains.a.devnet.pause();
    chains.b.devnet.pause();
    let mut receivers = Vec::new();
    for p in &packets[..3] {
        receivers.push(engine.submit(&chains.path.client_b, recv_item(p)).await);
    }
    mempool_holds(&chains.b, 1).await;
    // What building an update asks A: its header (`commit`) and validator sets.
    let before_second = header_requests(&chains.a);
    for p in &packets[3..] {
        receivers.push(engine.submit(&chains.path.client_b, recv_item(p)).await);
    }
    let pending = mempool_holds(&chains.b, 2).await;
    assert_eq!(pending.len(), 2, "one tx per batch");
    assert_eq!(
        header_requests(&chains.a),
        before_second,
        "the second batch reuses the update built for the first"
    );
    chains.b.devnet.resume();
    chains.a.devnet.resume();

    let results = outcomes(receivers).await;
    let heights: BTreeSet<u64> = results
        .iter()
        .map(|o| match o {
            Outcome::Done { height, .. } => *height,
            other => panic!("not received: {other:?}"),
        })
        .collect();
    assert_eq!(heights.len(), 1, "both txs in one block: {heights:?}");
    let update = "/ibc.core.client.v1.MsgUpdateClient";
    let updates: Vec<usize> = pending
        .iter()
        .map(|raw| {
            let tx = devnet::tx::decode(raw).expect("our tx decodes");
            tx.messages.iter().filter(|m| m.type_url == update).count()
        })
        .collect();
    assert_eq!(updates, vec![1, 0], "only the first tx carries the update");
    let height = *heights.first().unwrap();
    let codes: Vec<u32> = chains
        .b
        .node()
        .block_txs(height)
        .iter()
        .map(|tx| tx.result.code.value())
        .collect();
    assert_eq!(codes, vec![0, 0], "both execute");
    assert_received(&chains.b, &packets);
    shutdown.cancel();
    bounded("engine stops", task).await.unwrap();
}

/// What building a client update asks `chain`, answered so far: its headers (`commit`) and
/// validator sets.
fn header_requests(chain: &TestChain) -> u64 {
    let log = chain.node().requests().snapshot();
    ["commit", "validators"]
        .iter()
        .map(|m| log.get(*m).copied().unwrap_or(0))
        .sum()
}

/// Proof queries `chain` answered so far (`abci_query store/ibc/key`).
fn proof_queries(chain: &TestChain) -> u64 {
    let log = chain.node().requests().snapshot();
    log.get("abci_query store/ibc/key").copied().unwrap_or(0)
}

/// Waits until `chain` answered `n` more proof queries than `before`.
async fn proved(chain: &TestChain, before: u64, n: u64) {
    bounded("proof queries", async {
        while proof_queries(chain) < before + n {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_batch_is_proved_while_a_broadcast_waits() {
    init_tracing();
    let chains = ConnectedChains::start(BLOCK, false).await.unwrap();
    let (cfg_a, mut cfg_b) = (chain_config(&chains.a, "a"), chain_config(&chains.b, "b"));
    // The held broadcast must not time out while the next batch is proved.
    cfg_b.rpc_timeout = WAIT;
    let (qa, qb) = (querier(&chains.a, &cfg_a), querier(&chains.b, &cfg_b));
    let shutdown = CancellationToken::new();
    let (engine, task) =
        TxEngine::spawn(&cfg_b, qb, qa, chains.b.relayer.clone(), shutdown.clone());
    let packets = send_transfers(&chains, 4, 1).await;
    let faults = chains.b.node().faults();
    // B's node takes no tx for now: the first batch's broadcast waits unanswered.
    faults.hold_broadcasts();
    let mut receivers = Vec::new();
    for p in &packets[..2] {
        receivers.push(engine.submit(&chains.path.client_b, recv_item(p)).await);
    }
    bounded("the first broadcast waits", async {
        while faults.broadcasts_waiting() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    // Meanwhile the second batch is proved on A.
    let before = proof_queries(&chains.a);
    for p in &packets[2..] {
        receivers.push(engine.submit(&chains.path.client_b, recv_item(p)).await);
    }
    proved(&chains.a, before, 2).await;
    assert_eq!(
        faults.broadcasts_waiting(),
        1,
        "the first broadcast still waits"
    );
    faults.release_broadcasts();
    for outcome in outcomes(receivers).await {
        assert!(matches!(outcome, Outcome::Done { .. }), "{outcome:?}");
    }
    assert_received(&chains.b, &packets);
    shutdown.cancel();
    bounded("engine stops", task).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_max_txs_in_flight_wait_for_their_block() {
    init_tracing();
    let chains = ConnectedChains::start(BLOCK, false).await.unwrap();
    let (cfg_a, mut cfg_b) = (chain_config(&chains.a, "a"), chain_config(&chains.b, "b"));
    cfg_b.max_txs_in_flight = 1;
    let (qa, qb) = (querier(&chains.a, &cfg_a), querier(&chains.b, &cfg_b));
    let shutdown = CancellationToken::new();
    let (engine, task) =
        TxEngine::spawn(&cfg_b, qb, qa, chains.b.relayer.clone(), shutdown.clone());
    let packets = send_transfers(&chains, 6, 1).await;
    // B stands still: its mempool keeps the first tx until it resumes.
    chains.b.devnet.pause();
    let mut first = Vec::new();
    for p in &packets[..3] {
        first.push(engine.submit(&chains.path.client_b, recv_item(p)).await);
    }
    mempool_holds(&chains.b, 1).await;
    let before = proof_queries(&chains.a);
    let mut second = Vec::new();
    for p in &packets[3..] {
        second.push(engine.submit(&chains.path.client_b, recv_item(p)).await);
    }
    // The second batch is proved and cut, but not broadcast while the first tx waits.
    proved(&chains.a, before, 3).await;
    let (pending, _, _) = chains.b.node().unconfirmed_txs(100);
    assert_eq!(pending.len(), 1, "one tx in flight");
    chains.b.devnet.resume();
    let height = |o: &Outcome| match o {
        Outcome::Done { height, .. } => *height,
        other => panic!("not received: {other:?}"),
    };
    let first: BTreeSet<u64> = outcomes(first).await.iter().map(height).collect();
    let second: BTreeSet<u64> = outcomes(second).await.iter().map(height).collect();
    assert_eq!((first.len(), second.len()), (1, 1), "{first:?} {second:?}");
    assert!(
        first.first() < second.first(),
        "the second tx was broadcast only after the first one's block: {first:?} {second:?}"
    );
    assert_received(&chains.b, &packets);
    shutdown.cancel();
    bounded("engine stops", task).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engines_of_two_signers_fetch_a_header_once() {
    init_tracing();
    let chains = ConnectedChains::start(BLOCK, false).await.unwrap();
    let (cfg_a, cfg_b) = (chain_config(&chains.a, "a"), chain_config(&chains.b, "b"));
    let (qa, qb) = (querier(&chains.a, &cfg_a), querier(&chains.b, &cfg_b));
    let shutdown = CancellationToken::new();
    // Two signers on B (its relayer and its user), one querier of A for both, as the daemon has.
    let (first, task_1) = TxEngine::spawn(
        &cfg_b,
        qb.clone(),
        qa.clone(),
        chains.b.relayer.clone(),
        shutdown.clone(),
    );
    let (second, task_2) = TxEngine::spawn(&cfg_b, qb, qa, chains.b.user.clone(), shutdown.clone());
    let packets = send_transfers(&chains, 4, 1).await;
    let sent = chains.a.node().latest_height();
    chains.a.wait_for_height(sent + 2).await.unwrap();
    // Both chains stand still: both engines prove at the same height of A.
    chains.a.devnet.pause();
    chains.b.devnet.pause();
    let before_first = header_requests(&chains.a);
    let mut receivers = Vec::new();
    for p in &packets[..2] {
        receivers.push(first.submit(&chains.path.client_b, recv_item(p)).await);
    }
    mempool_holds(&chains.b, 1).await;
    let before_second = header_requests(&chains.a);
    assert!(
        before_second > before_first,
        "the first update fetched its header"
    );
    for p in &packets[2..] {
        receivers.push(second.submit(&chains.path.client_b, recv_item(p)).await);
    }
    mempool_holds(&chains.b, 2).await;
    assert_eq!(
        header_requests(&chains.a),
        before_second,
        "the second signer's update reuses the header and validators fetched for the first"
    );
    chains.b.devnet.resume();
    chains.a.devnet.resume();
    for outcome in outcomes(receivers).await {
        assert!(matches!(outcome, Outcome::Done { .. }), "{outcome:?}");
    }
    assert_received(&chains.b, &packets);
    shutdown.cancel();
    bounded("engine 1 stops", task_1).await.unwrap();
    bounded("engine 2 stops", task_2).await.unwrap();
}
