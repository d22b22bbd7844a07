//! The mempool and the check state as a CometBFT v0.38 node with a Cosmos SDK 0.50 app keeps
//! them: simulation runs on the check state (so a tx that follows one still pending simulates),
//! the mempool is bounded and says so with CometBFT's error, every block re-checks what is left
//! and evicts the txs that became invalid (which then never execute), and `unconfirmed_txs` /
//! `num_unconfirmed_txs` list what waits.

use std::time::Duration;

use devnet::client::{simulate_request, Wallet};
use devnet::testing::{to_any, TestChain};
use ibc_proto::cosmos::bank::v1beta1::MsgSend;
use ibc_proto::cosmos::base::v1beta1::Coin as ProtoCoin;
use ibc_proto::cosmos::tx::v1beta1::SimulateResponse;
use ibc_proto::google::protobuf::Any;
use prost::Message;

const SIMULATE: &str = "/cosmos.tx.v1beta1.Service/Simulate";

fn send(chain: &TestChain, amount: u128) -> Any {
    to_any(&MsgSend {
        from_address: chain.address(&chain.user),
        to_address: chain.address(&chain.relayer),
        amount: vec![ProtoCoin {
            denom: "stake".into(),
            amount: amount.to_string(),
        }],
    })
}

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
    let tx_n = wallet.sign_next(vec![send(&chain, 7)], Vec::new(), 200_000, "");
    broadcast_ok(&chain, tx_n.clone());
    assert_eq!(node.mempool_size(), 1);

    // Tx n + 1 simulates against the check state, where tx n already took sequence n.
    let tx_next = wallet.sign_tx(vec![send(&chain, 8)], Vec::new(), 200_000, "");
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
        let hash = devnet::client::tx_hash(raw);
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
