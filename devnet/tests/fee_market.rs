//! The fee market (`DevnetConfig::fee_market`, `--fee-market`): blocks above the target gas raise
//! the base gas price block after block, empty ones lower it down to the floor, CheckTx refuses a
//! tx paying below it with sdk 13, both base-fee queries answer it, and a `--data-dir` restart
//! replays to the same price and app hash. Without the fee market the queries are unknown paths.

use std::path::PathBuf;
use std::time::Duration;

use cosmos::{to_any, AccountKey, Coin, Wallet};
use devnet::feemarket::{
    Dec, FeeMarketParams, GasPriceRequest, GasPriceResponse, QueryEipBaseFeeRequest,
    QueryEipBaseFeeResponse, EIP_BASE_FEE_PATH, GAS_PRICE_PATH,
};
use devnet::harness::query_account;
use devnet::launch::{Devnet, DevnetConfig};
use ibc_proto::cosmos::bank::v1beta1::MsgSend;
use ibc_proto::cosmos::base::v1beta1::Coin as ProtoCoin;
use ibc_proto::google::protobuf::Any;
use prost::Message;

const GAS: u64 = 300_000;

fn dec(s: &str) -> Dec {
    s.parse().expect("decimal")
}

fn market() -> FeeMarketParams {
    FeeMarketParams {
        min_base_gas_price: dec("0.01"),
        max_base_gas_price: dec("0.05"),
        learning_rate: dec("0.125"),
        // A target of 100 000 gas: a few bank sends fill a block.
        max_block_utilization: 200_000,
        target_utilization: dec("0.5"),
    }
}

fn config(
    fee_market: Option<FeeMarketParams>,
    data_dir: Option<PathBuf>,
) -> (DevnetConfig, AccountKey) {
    let mut config = DevnetConfig::for_tests("fees-1");
    config.block_time = Duration::from_millis(100);
    config.fee_market = fee_market;
    config.data_dir = data_dir;
    let key = AccountKey::from_mnemonic(
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
        cosmos::COSMOS_HD_PATH,
    )
    .expect("key");
    config.accounts.push(devnet::launch::GenesisAccount {
        name: "user".into(),
        key: key.clone(),
        coins: vec![Coin {
            denom: "stake".into(),
            amount: 1_000_000_000_000,
        }],
    });
    (config, key)
}

/// Starts a devnet and stops its own block production, so the test makes every block.
async fn start(config: DevnetConfig) -> Devnet {
    let devnet = Devnet::start(config).await.expect("devnet starts");
    devnet.pause();
    // Wait out a block that may have been under way.
    tokio::time::sleep(Duration::from_millis(250)).await;
    devnet
}

fn wallet(devnet: &Devnet, key: &AccountKey) -> Wallet {
    let address = key.address("cosmos");
    let (account_number, sequence) = query_account(devnet.node(), &address).expect("account");
    Wallet {
        key: key.clone(),
        address,
        chain_id: devnet.chain_id().to_string(),
        account_number,
        sequence,
    }
}

fn sends(from: &str, n: usize) -> Vec<Any> {
    (0..n)
        .map(|i| {
            to_any(&MsgSend {
                from_address: from.to_string(),
                to_address: cosmos::address::module_address("burn", "cosmos"),
                amount: vec![ProtoCoin {
                    denom: "stake".into(),
                    amount: (i + 1).to_string(),
                }],
            })
        })
        .collect()
}

fn stake(amount: u128) -> Vec<Coin> {
    vec![Coin {
        denom: "stake".into(),
        amount,
    }]
}

/// The latest price.
fn price(devnet: &Devnet) -> Dec {
    price_at(devnet, 0)
}

/// The price at `height` (0: latest) from both queries (which must agree), as a decimal.
fn price_at(devnet: &Devnet, height: u64) -> Dec {
    let node = devnet.node();
    let request = GasPriceRequest {
        denom: "stake".into(),
    };
    let q = node.abci_query(GAS_PRICE_PATH, &request.encode_to_vec(), height, false);
    assert_eq!(q.code.value(), 0, "{}", q.log);
    let coin = GasPriceResponse::decode(q.value.as_ref())
        .expect("GasPriceResponse")
        .price
        .expect("a price");
    assert_eq!(coin.denom, "stake");
    // gogoproto writes a LegacyDec as its integer count of 10^-18.
    let feemarket = Dec::from_atto(coin.amount.parse().expect("integer amount"));
    let q = node.abci_query(
        EIP_BASE_FEE_PATH,
        &QueryEipBaseFeeRequest {}.encode_to_vec(),
        height,
        false,
    );
    assert_eq!(q.code.value(), 0, "{}", q.log);
    let base_fee = QueryEipBaseFeeResponse::decode(q.value.as_ref()).expect("response");
    assert_eq!(base_fee.base_fee, feemarket.to_proto_string());
    feemarket
}

fn block(devnet: &Devnet) {
    devnet.node().produce_block().expect("block");
}

/// A block of txs that use more gas than the target; each tx pays the price cap.
fn full_block(devnet: &Devnet, wallet: &mut Wallet) -> u64 {
    let node = devnet.node();
    let fee = market().max_base_gas_price.fee_for(GAS);
    for _ in 0..4 {
        let raw = wallet.sign_next(sends(&wallet.address.clone(), 3), stake(fee), GAS, "");
        let check = node.broadcast_tx(raw);
        assert_eq!(check.code.value(), 0, "{}", check.log);
    }
    block(devnet);
    let height = node.latest_height();
    let used: i64 = node
        .block(height)
        .expect("block")
        .tx_results
        .iter()
        .map(|r| {
            assert_eq!(r.code.value(), 0, "{}", r.log);
            r.gas_used
        })
        .sum();
    u64::try_from(used).expect("gas")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_fee_market_its_queries_are_unknown_paths() {
    let (config, _) = config(None, None);
    let devnet = start(config).await;
    let request = GasPriceRequest {
        denom: "stake".into(),
    };
    for (path, data) in [
        (GAS_PRICE_PATH, request.encode_to_vec()),
        (EIP_BASE_FEE_PATH, Vec::new()),
    ] {
        let q = devnet.node().abci_query(path, &data, 0, false);
        assert_eq!(q.code.value(), 6, "{path}");
        assert!(q.log.contains("unknown query path"), "{}", q.log);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_blocks_raise_the_price_empty_ones_lower_it_and_cheap_txs_get_code_13() {
    let params = market();
    let (config, key) = config(Some(params.clone()), None);
    let devnet = start(config).await;
    let node = devnet.node();
    let mut wallet = wallet(&devnet, &key);

    // Blocks so far were empty: the price sits at the floor.
    assert_eq!(price(&devnet), params.min_base_gas_price);

    // Full blocks raise it, block after block, by the rule.
    let mut last = price(&devnet);
    for _ in 0..4 {
        let used = full_block(&devnet, &mut wallet);
        assert!(used > params.target_gas(), "the block used {used} gas");
        let now = price(&devnet);
        assert!(now > last, "{now} after {last}");
        assert_eq!(now, params.next_price(last, used));
        last = now;
    }
    assert!(last > dec("0.015"), "{last}");

    // A tx paying one unit less than price × gas is refused with sdk 13, in the SDK's words.
    let required = last.fee_for(GAS);
    let cheap = wallet.sign_tx(
        sends(&wallet.address.clone(), 1),
        stake(required - 1),
        GAS,
        "",
    );
    let check = node.broadcast_tx(cheap);
    assert_eq!(check.code.value(), 13, "{}", check.log);
    assert_eq!(check.codespace, "sdk");
    assert_eq!(
        check.log,
        format!(
            "insufficient fees; got: {}stake required: {required}stake: insufficient fee",
            required - 1
        )
    );
    assert_eq!(node.mempool_size(), 0);
    // Paying the price exactly is enough.
    let exact = wallet.sign_next(sends(&wallet.address.clone(), 1), stake(required), GAS, "");
    let check = node.broadcast_tx(exact);
    assert_eq!(check.code.value(), 0, "{}", check.log);
    block(&devnet);
    last = price(&devnet);

    // Empty blocks lower it, block after block, down to the floor, where it stays.
    let mut blocks = 0;
    while last > params.min_base_gas_price {
        block(&devnet);
        let now = price(&devnet);
        assert!(now < last, "{now} after {last}");
        assert_eq!(now, params.next_price(last, 0));
        last = now;
        blocks += 1;
        assert!(blocks < 50, "the price never reached the floor");
    }
    assert!(blocks >= 2, "{blocks}");
    block(&devnet);
    assert_eq!(price(&devnet), params.min_base_gas_price);

    // A tx below the floor is refused too; one at it passes.
    let floor_fee = params.min_base_gas_price.fee_for(GAS);
    let cheap = wallet.sign_tx(
        sends(&wallet.address.clone(), 1),
        stake(floor_fee - 1),
        GAS,
        "",
    );
    assert_eq!(node.broadcast_tx(cheap).code.value(), 13);
    let ok = wallet.sign_next(sends(&wallet.address.clone(), 1), stake(floor_fee), GAS, "");
    assert_eq!(node.broadcast_tx(ok).code.value(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_replays_to_the_same_price_and_app_hash() {
    let dir = std::env::temp_dir().join(format!("devnet-fee-market-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (config_a, key) = config(Some(market()), Some(dir.clone()));
    let devnet = start(config_a).await;
    let mut wallet = wallet(&devnet, &key);
    full_block(&devnet, &mut wallet);
    full_block(&devnet, &mut wallet);
    block(&devnet);
    let height = devnet.node().latest_height();
    let before = price(&devnet);
    let hash = devnet.node().block(height).expect("block").app_hash.clone();
    assert!(before > market().min_base_gas_price);
    drop(devnet);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let (config_b, _) = config(Some(market()), Some(dir.clone()));
    let devnet = start(config_b).await;
    let node = devnet.node();
    assert!(node.latest_height() >= height);
    assert_eq!(node.block(height).expect("replayed").app_hash, hash);
    assert_eq!(price_at(&devnet, height), before);
    drop(devnet);
    let _ = std::fs::remove_dir_all(&dir);
}
