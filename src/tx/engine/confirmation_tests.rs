//! What confirming many txs costs: with its chain's event hub, an engine with 100 txs in flight
//! makes a bounded number of confirmation requests per block (none of them `/tx`), because it
//! reads the hashes and results of the blocks the hub delivers.

use std::time::Duration;

use devnet::testing::ConnectedChains;
use tokio_util::sync::CancellationToken;

use super::supervision_tests::querier;
use super::{Outcome, TxEngine, TxEngineOptions};
use crate::chain::events::EventHub;

/// Txs in flight at once.
const TXS: usize = 100;

const LIMIT: Duration = Duration::from_secs(120);

/// Requests this process sent to the endpoint `url`, by method.
fn requests(url: &str, method: &str) -> f64 {
    let text = crate::telemetry::metrics_text();
    text.lines()
        .filter(|l| l.starts_with("arke_rpc_requests_total{"))
        .filter(|l| l.contains(&format!("method=\"{method}\"")))
        .filter(|l| {
            l.split("endpoint=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .is_some_and(|e| e.trim_end_matches('/') == url)
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_txs_in_flight_cost_a_bounded_number_of_requests_per_block() {
    let chains = ConnectedChains::start(Duration::from_millis(500), false)
        .await
        .expect("chains");
    let b = &chains.b;
    let url = b.devnet.rpc_url();
    let config = super::supervision_tests::config(&chains);
    let (qa, qb) = (querier(&config.chains.a), querier(&config.chains.b));
    let token = CancellationToken::new();
    let hub = EventHub::spawn(qb.rpc().clone(), qb.chain_id(), None, token.clone());
    let (engine, task) = TxEngine::spawn_with(
        &config.chains.b,
        qb,
        qa,
        b.relayer.clone(),
        token.clone(),
        TxEngineOptions {
            blocks_from: Some(hub.clone()),
            ..TxEngineOptions::default()
        },
    );
    // The hub knows where it starts before anything is sent.
    let mut heights = hub.latest_height();
    tokio::time::timeout(LIMIT, heights.wait_for(|h| *h > 0))
        .await
        .expect("the hub starts")
        .expect("hub alive");

    let methods = [
        "tx",
        "block",
        "block_results",
        "status",
        "abci_query",
        "broadcast_tx_sync",
    ];
    let before: Vec<f64> = methods.iter().map(|m| requests(&url, m)).collect();
    let first_height = b.node().latest_height();
    let (from, to) = (b.address(&b.relayer), b.address(&b.user));
    let outcomes = tokio::time::timeout(
        LIMIT,
        futures::future::join_all((0..TXS).map(|_| {
            let engine: &TxEngine = &engine;
            let msg = devnet::harness::bank_send(&from, &to, 1);
            async move { engine.submit_msgs(vec![msg]).await }
        })),
    )
    .await
    .expect("every tx settles");
    let last_height = b.node().latest_height();
    let spent: Vec<f64> = methods
        .iter()
        .zip(&before)
        .map(|(m, b)| requests(&url, m) - b)
        .collect();

    let mut heights_used = std::collections::BTreeSet::new();
    for outcome in &outcomes {
        match outcome {
            Outcome::Done { height, .. } => {
                heights_used.insert(*height);
            }
            other => panic!("a tx did not execute: {other:?}"),
        }
    }
    let blocks = (last_height - first_height).max(1) as f64;
    let [tx, block, block_results, status, abci, broadcast] = spent[..] else {
        unreachable!("six methods");
    };
    assert_eq!(broadcast, TXS as f64, "one broadcast per tx: {spent:?}");
    // Each tx costs one simulation (an abci_query); what is left is confirmation.
    let confirming = tx + block + block_results + status + (abci - TXS as f64);
    eprintln!(
        "{TXS} txs over {blocks} blocks (in {} of them): tx {tx}, block {block}, block_results \
         {block_results}, status {status}, abci_query {abci}",
        heights_used.len()
    );
    assert_eq!(tx, 0.0, "no /tx polling while the hub delivers the blocks");
    assert!(
        confirming <= 3.0 * blocks + 4.0,
        "{confirming} confirmation requests over {blocks} blocks for {TXS} txs: {spent:?}"
    );
    token.cancel();
    let _ = tokio::time::timeout(LIMIT, task).await;
}
