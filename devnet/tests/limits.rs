//! Block capacity and fees: a per-block gas limit spreads txs over blocks, and a minimum gas
//! price rejects underpaying txs at CheckTx with sdk code 13.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use cosmos::{Coin, Wallet};
use devnet::{Devnet, DevnetConfig};

use devnet::harness::bank_send;

async fn wallet(devnet: &Devnet, key: &cosmos::AccountKey) -> Wallet {
    let address = key.address("cosmos");
    let (account_number, sequence) =
        devnet::harness::query_account(devnet.node(), &address).unwrap();
    Wallet {
        key: key.clone(),
        address,
        chain_id: devnet.chain_id().to_string(),
        account_number,
        sequence,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_gas_limit_spreads_txs_over_blocks() {
    let mut config = DevnetConfig::for_tests("devnet-1");
    config.max_block_gas = 450_000;
    config.block_time = Duration::from_millis(300);
    let funds = vec![Coin {
        denom: "stake".into(),
        amount: 1_000_000,
    }];
    let (config, key) = config.with_random_account("user", funds);
    let devnet = Devnet::start(config).await.unwrap();
    devnet
        .wait_for_height(1, Duration::from_secs(20))
        .await
        .unwrap();
    devnet.pause();
    let mut w = wallet(&devnet, &key).await;
    let to = cosmos::AccountKey::random().address("cosmos");
    let mut hashes = Vec::new();
    for _ in 0..5 {
        let raw = w.sign_tx(vec![bank_send(&w.address, &to, 1)], vec![], 200_000, "");
        hashes.push(cosmos::tx_hash(&raw));
        let check = devnet.node().try_broadcast_tx(raw).unwrap();
        assert_eq!(check.code.value(), 0, "{}", check.log);
        w.sequence += 1;
    }
    devnet.resume();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while hashes.iter().any(|h| devnet.node().tx(h).is_none()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "txs not all committed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let heights: Vec<u64> = hashes
        .iter()
        .map(|h| devnet.node().tx(h).unwrap().height)
        .collect();
    // 200k gas wanted each, 450k per block: at most two per block, so at least three blocks.
    let distinct: BTreeSet<u64> = heights.iter().copied().collect();
    assert!(distinct.len() >= 3, "heights {heights:?}");
    for h in &distinct {
        let gas: i64 = devnet
            .node()
            .block(*h)
            .unwrap()
            .tx_results
            .iter()
            .map(|r| r.gas_wanted)
            .sum();
        assert!(gas <= 450_000, "block {h} holds {gas} gas");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimum_gas_price_rejects_underpaying_txs() {
    let mut config = DevnetConfig::for_tests("devnet-1");
    config.min_gas_price = 0.025;
    let (config, key) = config.with_random_account(
        "user",
        vec![Coin {
            denom: "stake".into(),
            amount: 1_000_000,
        }],
    );
    let devnet = Devnet::start(config).await.unwrap();
    devnet
        .wait_for_height(1, Duration::from_secs(20))
        .await
        .unwrap();
    let w = wallet(&devnet, &key).await;
    let to = cosmos::AccountKey::random().address("cosmos");
    let cheap = w.sign_tx(
        vec![bank_send(&w.address, &to, 1)],
        vec![Coin {
            denom: "stake".into(),
            amount: 10,
        }],
        200_000,
        "",
    );
    let check = devnet.node().try_broadcast_tx(cheap).unwrap();
    assert_eq!(check.code.value(), 13, "{}", check.log);
    assert!(check.log.contains("insufficient fee"), "{}", check.log);
    // 0.025 × 200000 = 5000stake is enough.
    let paid = w.sign_tx(
        vec![bank_send(&w.address, &to, 1)],
        vec![Coin {
            denom: "stake".into(),
            amount: 5000,
        }],
        200_000,
        "",
    );
    let check = devnet.node().try_broadcast_tx(paid).unwrap();
    assert_eq!(check.code.value(), 0, "{}", check.log);
}
