//! Relaying across changes of the validator set: chain A runs four validators and replaces three
//! of them every few blocks (the devnet's `--validators 4 --rotate-every K`), so a client of A on
//! B that skips across a change is refused. The relayer finds intermediate headers (bisection)
//! and packets keep flowing, with no failed tx.

mod support;

use std::time::Duration;

use devnet::node::ValidatorParams;
use devnet::DevnetConfig;
use support::{failed_txs, Harness, BLOCK};

const ROTATE_EVERY: u64 = 8;

fn chain(id: &str) -> DevnetConfig {
    let mut config = DevnetConfig::for_tests(id);
    config.block_time = BLOCK;
    config
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
    let mut a = chain("devnet-1");
    a.validators = ValidatorParams {
        count: 4,
        rotate_every: ROTATE_EVERY,
    };
    let h = Harness::with_configs(a, chain("devnet-2"), "").await;
    let relayer = h.start_relayer();
    let client = h.chains.path.client_b.clone();

    let first = h.send_transfers(true, 10, 5, 10, 10_000).await;
    h.wait_all_settled(true, &first, Duration::from_secs(60))
        .await;

    // Idle across at least two changes of A's set, so the next update must bisect.
    let idle_from = h.chains.a.node().latest_height();
    h.chains
        .a
        .wait_for_height(idle_from + 2 * ROTATE_EVERY + 2)
        .await
        .unwrap();
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
