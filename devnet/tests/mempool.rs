//! The mempool and the check state as a CometBFT v0.38 node with a Cosmos SDK 0.50 app keeps
//! them: simulation runs on the check state (so a tx that follows one still pending simulates),
//! the mempool is bounded and says so with CometBFT's error, every block re-checks what is left
//! and evicts the txs that became invalid (which then never execute), and `unconfirmed_txs` /
//! `num_unconfirmed_txs` list what waits.

mod support;

use std::time::Duration;

use cosmos::tx::simulate_request;
use cosmos::{to_any, Wallet};
use devnet::harness::TestChain;
use ibc_proto::cosmos::bank::v1beta1::MsgSend;
use ibc_proto::cosmos::base::v1beta1::Coin as ProtoCoin;
use ibc_proto::cosmos::tx::v1beta1::SimulateResponse;
use ibc_proto::google::protobuf::Any;
use prost::Message;
use support::rpc;

const SIMULATE: &str = "/cosmos.tx.v1beta1.Service/Simulate";

/// Starts a chain, lets it make a few blocks, and stops block production (waiting out a block
/// that may have been under way), so that broadcast txs stay in the mempool.
async fn paused_chain() -> TestChain {
    let chain = TestChain::start("devnet-1", Duration::from_millis(100))
        .await
        .expect("chain starts");
    chain.wait_for_height(2).await.expect("blocks");
    chain.devnet.pause();
    tokio::time::sleep(Duration::from_millis(300)).await;
    chain
}

fn simulate_gas(chain: &TestChain, raw: &[u8]) -> Result<u64, String> {
    let q = chain
        .node()
        .abci_query(SIMULATE, &simulate_request(raw.to_vec()), 0, false);
    if q.code.value() != 0 {
        return Err(q.log);
    }
    let resp = SimulateResponse::decode(q.value.as_ref()).map_err(|e| e.to_string())?;
    Ok(resp.gas_info.map(|g| g.gas_used).unwrap_or_default())
}

fn broadcast_ok(chain: &TestChain, raw: Vec<u8>) {
    let check = chain
        .node()
        .try_broadcast_tx(raw)
        .expect("mempool takes it");
    assert_eq!(check.code.value(), 0, "{}", check.log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_runs_on_the_check_state() {
    let chain = paused_chain().await;
    let node = chain.node();
    let height = node.latest_height();
    let mut wallet: Wallet = chain.wallet(&chain.user).expect("wallet");
    let n = wallet.sequence;
    let tx_n = wallet.sign_next(vec![chain.user_to_relayer(7)], Vec::new(), 200_000, "");
    broadcast_ok(&chain, tx_n.clone());
    assert_eq!(node.mempool_size(), 1);

    // Tx n + 1 simulates against the check state, where tx n already took sequence n.
    let tx_next = wallet.sign_tx(vec![chain.user_to_relayer(8)], Vec::new(), 200_000, "");
    let gas = simulate_gas(&chain, &tx_next).expect("tx n+1 simulates while tx n is pending");
    assert!(gas > 0 && gas < 200_000, "{gas}");
    let app = node.abci_query("/app/simulate", &tx_next, 0, false);
    assert_eq!(app.code.value(), 0, "{}", app.log);
    // Tx n itself is now stale there, as it is for CheckTx.
    let stale = simulate_gas(&chain, &tx_n).expect_err("tx n is taken");
    assert!(
        stale.contains(&format!(
            "account sequence mismatch, expected {}, got {n}",
            n + 1
        )),
        "{stale}"
    );
    // Simulation changed nothing: no block, tx n still pending, the committed sequence is n,
    // and tx n + 1 still passes CheckTx.
    assert_eq!(node.latest_height(), height);
    assert_eq!(node.mempool_size(), 1);
    assert_eq!(chain.wallet(&chain.user).expect("wallet").sequence, n);
    broadcast_ok(&chain, tx_next.clone());

    chain.devnet.resume();
    for raw in [&tx_n, &tx_next] {
        let hash = cosmos::tx_hash(raw);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while node.tx(&hash).is_none() {
            assert!(tokio::time::Instant::now() < deadline, "tx not committed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let rec = node.tx(&hash).expect("committed");
        assert_eq!(rec.result.code.value(), 0, "{}", rec.result.log);
        // Block tx results mark every attribute for indexing, as baseapp does by default.
        assert!(rec
            .result
            .events
            .iter()
            .flat_map(|e| e.attributes.iter())
            .all(|a| a.index()));
    }
}

fn b64(raw: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(raw)
}

fn stake(amount: u128) -> Vec<cosmos::Coin> {
    vec![support::stake(amount)]
}

async fn produce_block_with(chain: &TestChain, txs: Vec<Vec<u8>>) {
    let node = chain.node().clone();
    tokio::task::spawn_blocking(move || node.produce_block_with(txs))
        .await
        .expect("block task")
        .expect("block");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recheck_evicts_what_a_block_made_invalid_and_it_never_executes() {
    let chain = paused_chain().await;
    let node = chain.node();
    let url = chain.devnet.rpc_url();
    let mut wallet = chain.wallet(&chain.user).expect("wallet");
    let balance = chain
        .balance(&chain.address(&chain.user), "stake")
        .expect("balance");
    // Txs n (free) and n + 1 (paying a fee of 1000) wait in the mempool.
    let n = wallet.sequence;
    let tx_n = wallet.sign_next(vec![chain.user_to_relayer(1)], Vec::new(), 200_000, "");
    let tx_n1 = wallet.sign_next(vec![chain.user_to_relayer(2)], stake(1000), 200_000, "");
    broadcast_ok(&chain, tx_n.clone());
    broadcast_ok(&chain, tx_n1.clone());
    let listed = rpc(&url, "unconfirmed_txs", serde_json::json!({"limit": "10"})).await;
    let bytes = (tx_n.len() + tx_n1.len()).to_string();
    assert_eq!(
        listed["result"],
        serde_json::json!({"n_txs": "2", "total": "2", "total_bytes": bytes,
            "txs": [b64(&tx_n), b64(&tx_n1)]})
    );
    let count = rpc(&url, "num_unconfirmed_txs", serde_json::json!({})).await;
    assert_eq!(
        count["result"],
        serde_json::json!({"n_txs": "2", "total": "2", "total_bytes": bytes, "txs": null})
    );
    // CometBFT's `ReapMaxTxs` hands out one tx more than the limit.
    let one = rpc(&url, "unconfirmed_txs", serde_json::json!({"limit": "1"})).await;
    assert_eq!(one["result"]["n_txs"], "2");

    // Another node's block carries the account's own tx n: it spends all but 500, so tx n's
    // sequence is taken and tx n + 1 can no longer pay its fee.
    let mut other = wallet.clone();
    other.sequence = n;
    let drain = other.sign_tx(
        vec![chain.user_to_relayer(balance - 500)],
        Vec::new(),
        200_000,
        "",
    );
    let height = node.latest_height();
    produce_block_with(&chain, vec![drain.clone()]).await;
    assert_eq!(node.latest_height(), height + 1);
    let drained = node.tx(&cosmos::tx_hash(&drain)).expect("drain");
    assert_eq!(drained.result.code.value(), 0, "{}", drained.result.log);

    // The recheck evicted both; the lists say so.
    assert_eq!(node.mempool_size(), 0);
    let listed = rpc(&url, "unconfirmed_txs", serde_json::json!({})).await;
    assert_eq!(
        listed["result"],
        serde_json::json!({"n_txs": "0", "total": "0", "total_bytes": "0", "txs": []})
    );
    // An evicted tx left the cache too: sent again, CheckTx judges it afresh (tx n: sequence
    // taken; tx n + 1: the fee is more than is left).
    let again = node.try_broadcast_tx(tx_n.clone()).expect("checked again");
    assert_eq!(again.code.value(), 32, "{}", again.log);
    let again = node.try_broadcast_tx(tx_n1.clone()).expect("checked again");
    assert_eq!(again.code.value(), 5, "{}", again.log);

    // Blocks go on; the evicted txs never execute.
    chain.devnet.resume();
    chain.wait_for_height(height + 4).await.expect("blocks");
    for raw in [&tx_n, &tx_n1] {
        let hash = cosmos::tx_hash(raw);
        assert!(node.tx(&hash).is_none(), "an evicted tx executed");
        let found = rpc(
            &url,
            "tx",
            serde_json::json!({"hash": b64(&hash), "prove": false}),
        )
        .await;
        assert!(found["error"]["data"]
            .as_str()
            .is_some_and(|d| d.contains("not found")));
    }
    assert_eq!(chain.balance(&chain.address(&chain.user), "stake"), Ok(500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_mempool_refuses_with_cometbft_error() {
    let mut config = devnet::DevnetConfig::for_tests("devnet-1");
    config.block_time = Duration::from_millis(100);
    config.mempool_size = 2;
    let (config, user) = config.with_random_account("user", stake(1_000_000));
    let devnet = devnet::Devnet::start(config).await.expect("devnet");
    devnet
        .wait_for_height(2, Duration::from_secs(10))
        .await
        .expect("blocks");
    devnet.pause();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let node = devnet.node();
    let address = user.address("cosmos");
    let (number, sequence) = devnet::harness::query_account(node, &address).expect("account");
    let mut wallet = Wallet::new(user, "cosmos", "devnet-1", number, sequence);
    let msg = to_any(&MsgSend {
        from_address: address.clone(),
        to_address: address.clone(),
        amount: vec![ProtoCoin {
            denom: "stake".into(),
            amount: "1".into(),
        }],
    });
    let txs: Vec<Vec<u8>> = (0..3)
        .map(|_| wallet.sign_next(vec![msg.clone()], Vec::new(), 100_000, ""))
        .collect();
    for tx in &txs[..2] {
        let check = node.try_broadcast_tx(tx.clone()).expect("room");
        assert_eq!(check.code.value(), 0, "{}", check.log);
    }
    let held = txs[0].len() + txs[1].len();
    let expected = format!(
        "mempool is full: number of txs 2 (max: 2), total txs bytes {held} (max: 1073741824)"
    );
    assert_eq!(
        node.try_broadcast_tx(txs[2].clone())
            .unwrap_err()
            .to_string(),
        expected
    );
    // Over JSON-RPC it is an error, as CometBFT's broadcast_tx_sync answers it.
    let answer = rpc(
        &devnet.rpc_url(),
        "broadcast_tx_sync",
        serde_json::json!({"tx": b64(&txs[2])}),
    )
    .await;
    assert_eq!(answer["error"]["code"], -32603, "{answer}");
    assert_eq!(answer["error"]["data"], expected, "{answer}");
    // A block frees the room.
    devnet.resume();
    devnet
        .wait_for_height(node.latest_height() + 2, Duration::from_secs(10))
        .await
        .expect("blocks");
    let check = node.try_broadcast_tx(txs[2].clone()).expect("room again");
    assert_eq!(check.code.value(), 0, "{}", check.log);
}

/// Two chains with a channel, a transfer sent from A, and its `MsgRecvPacket` for B (proven,
/// B's client updated); B's block production is then paused so that txs stay in its mempool.
async fn a_delivery_with_b_paused() -> (devnet::testing::ConnectedChains, Any) {
    use cosmos::events::events_of;
    use devnet::harness::{packet_from_event, transfer_msg};
    use devnet::testing::{prepare_proof_height, recv_msg, ConnectedChains};
    let chains = ConnectedChains::start(Duration::from_millis(100), false)
        .await
        .expect("channel opens");
    let (a, b) = (&chains.a, &chains.b);
    let far = b.ibc_height(b.node().latest_height() + 1000);
    let sent = a
        .submit_ok(
            &a.user,
            vec![transfer_msg(
                &a.address(&a.user),
                &b.address(&b.user),
                &chains.path.channel_a,
                &cosmos::Coin {
                    denom: "stake".into(),
                    amount: 3,
                },
                Some(far),
                0,
            )],
        )
        .await
        .expect("transfer");
    let packet =
        packet_from_event(&events_of(&sent.result.events, "send_packet")[0]).expect("packet");
    let h = prepare_proof_height(a, b, &chains.path.client_b)
        .await
        .expect("client updated");
    let recv = recv_msg(a, b, &packet, h).expect("recv msg");
    b.devnet.pause();
    tokio::time::sleep(Duration::from_millis(300)).await;
    (chains, recv)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recheck_evicts_packets_another_relayer_delivered() {
    use ibc_proto::ibc::core::channel::v1::MsgRecvPacket;
    let (chains, recv) = a_delivery_with_b_paused().await;
    let b = &chains.b;

    // Our relayer's delivery waits in b's mempool ...
    let ours = b.wallet(&b.relayer).expect("wallet").sign_tx(
        vec![recv.clone()],
        Vec::new(),
        5_000_000,
        "",
    );
    broadcast_ok(b, ours.clone());
    // ... when a block from another node delivers the packet through another relayer.
    let mut theirs_msg = MsgRecvPacket::decode(recv.value.as_slice()).expect("recv");
    theirs_msg.signer = b.address(&b.user);
    let theirs = b.wallet(&b.user).expect("wallet").sign_tx(
        vec![to_any(&theirs_msg)],
        Vec::new(),
        5_000_000,
        "",
    );
    produce_block_with(b, vec![theirs.clone()]).await;
    let delivered = b.node().tx(&cosmos::tx_hash(&theirs)).expect("theirs");
    assert_eq!(delivered.result.code.value(), 0, "{}", delivered.result.log);

    // Ours became redundant: the recheck evicted it and it never executes.
    assert_eq!(b.node().mempool_size(), 0);
    b.devnet.resume();
    b.wait_for_height(b.node().latest_height() + 3)
        .await
        .expect("blocks");
    assert!(b.node().tx(&cosmos::tx_hash(&ours)).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_delivery_makes_another_redundant_until_it_is_evicted() {
    use cosmos::events::events_of;

    use ibc_proto::ibc::core::channel::v1::MsgRecvPacket;
    let (chains, recv) = a_delivery_with_b_paused().await;
    let b = &chains.b;

    // Another relayer (b's user account) has tx n (a send) and tx n + 1 (the delivery) pending.
    let mut foreign = b.wallet(&b.user).expect("wallet");
    let n = foreign.sequence;
    let mut theirs_msg = MsgRecvPacket::decode(recv.value.as_slice()).expect("recv");
    theirs_msg.signer = b.address(&b.user);
    let tx_n = foreign.sign_next(vec![b.user_to_relayer(1)], Vec::new(), 200_000, "");
    let theirs = foreign.sign_next(vec![to_any(&theirs_msg)], Vec::new(), 5_000_000, "");
    broadcast_ok(b, tx_n.clone());
    broadcast_ok(b, theirs.clone());

    // Our delivery of the same packet is refused at CheckTx as redundant, costing nothing.
    let ours = b.wallet(&b.relayer).expect("wallet").sign_tx(
        vec![recv.clone()],
        Vec::new(),
        5_000_000,
        "",
    );
    let refused = b.node().try_broadcast_tx(ours.clone()).expect("checked");
    assert_eq!(refused.code.value(), 22, "{}", refused.log);
    assert!(
        refused.log.contains("packet messages are redundant"),
        "{}",
        refused.log
    );

    // A block from another node takes the foreign account's sequences n and n + 1 with other
    // txs: the recheck evicts tx n and the delivery, which never execute.
    let mut other = b.wallet(&b.user).expect("wallet");
    other.sequence = n;
    let conflicting = vec![
        other.sign_next(vec![b.user_to_relayer(2)], Vec::new(), 200_000, ""),
        other.sign_next(vec![b.user_to_relayer(3)], Vec::new(), 200_000, ""),
    ];
    produce_block_with(b, conflicting).await;
    assert_eq!(b.node().mempool_size(), 0);

    // The packet is unreceived again, and our delivery now passes CheckTx and executes.
    broadcast_ok(b, ours.clone());
    b.devnet.resume();
    let hash = cosmos::tx_hash(&ours);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while b.node().tx(&hash).is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "our delivery not committed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rec = b.node().tx(&hash).expect("committed");
    assert_eq!(rec.result.code.value(), 0, "{}", rec.result.log);
    assert_eq!(events_of(&rec.result.events, "recv_packet").len(), 1);
    assert!(b.node().tx(&cosmos::tx_hash(&theirs)).is_none());
}
