//! Stopping and starting a devnet: a node started again on the same `data_dir` resumes at the
//! same height with the same balances and app hash and keeps producing blocks; the in-memory
//! `Devnet::restart` keeps state and address; `pause`/`resume` stop and restart block production.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use cosmos::{AccountKey, COSMOS_HD_PATH};
use devnet::harness::TestChain;
use devnet::{Devnet, DevnetConfig};

use devnet::harness::bank_send;
use support::stake;

const BLOCK: Duration = Duration::from_millis(100);
/// Upper bound on any wait for the chain to reach a height.
const WAIT: Duration = Duration::from_secs(30);

/// BIP-39 test vectors (well known; never use them for real funds).
const RELAYER_MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
const USER_MNEMONIC: &str =
    "legal winner thank year wave sausage worth useful legal winner thank yellow";

/// A unique scratch directory under the system temp dir, removed on drop.
struct DataDir(PathBuf);

impl DataDir {
    fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "devnet-restart-{tag}-{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config(data_dir: Option<PathBuf>, block_time: Duration) -> DevnetConfig {
    let mut config = DevnetConfig::for_tests("restart-1");
    config.block_time = block_time;
    config.data_dir = data_dir;
    config
        .with_mnemonic_account("relayer", RELAYER_MNEMONIC, vec![stake(1_000_000)])
        .unwrap()
        .with_mnemonic_account("user", USER_MNEMONIC, vec![stake(2_000_000)])
        .unwrap()
}

async fn start(data_dir: Option<PathBuf>) -> TestChain {
    start_with(data_dir, BLOCK).await
}

async fn start_with(data_dir: Option<PathBuf>, block_time: Duration) -> TestChain {
    let devnet = Devnet::start(config(data_dir, block_time))
        .await
        .expect("devnet starts");
    TestChain {
        devnet,
        relayer: AccountKey::from_mnemonic(RELAYER_MNEMONIC, COSMOS_HD_PATH).unwrap(),
        user: AccountKey::from_mnemonic(USER_MNEMONIC, COSMOS_HD_PATH).unwrap(),
    }
}

/// A send of `amount` stake from the chain's user to its relayer.
fn send(chain: &TestChain, amount: u128) -> ibc_proto::google::protobuf::Any {
    bank_send(
        &chain.address(&chain.user),
        &chain.address(&chain.relayer),
        amount,
    )
}

/// Reads the height `span` apart, twice, and returns both.
async fn heights_apart(chain: &TestChain, span: Duration) -> (u64, u64) {
    let first = chain.node().latest_height();
    tokio::time::sleep(span).await;
    (first, chain.node().latest_height())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_from_data_dir_keeps_height_balances_and_app_hash() {
    let dir = DataDir::new("disk");
    let mut chain = start(Some(dir.0.clone())).await;
    let user = chain.address(&chain.user);
    let relayer = chain.address(&chain.relayer);
    chain.wait_for_height(2).await.unwrap();
    let tx = chain
        .submit_ok(&chain.user, vec![send(&chain, 12_345)])
        .await
        .expect("MsgSend commits");
    chain
        .devnet
        .wait_for_height(tx.height + 2, WAIT)
        .await
        .unwrap();
    let user_balance = chain.balance(&user, "stake").unwrap();
    let relayer_balance = chain.balance(&relayer, "stake").unwrap();
    assert_eq!(relayer_balance, 1_000_000 + 12_345);
    assert_eq!(user_balance, 2_000_000 - 12_345);

    chain.devnet.stop().await;
    let stopped_at = chain.node().latest_height();
    let last = chain.node().latest_block().unwrap();
    let old_app_hash = last.app_hash.clone();
    let old_block_hash = last.block_id.hash;
    let old_info = chain.node().abci_info();
    assert_eq!(
        old_info.last_block_app_hash.as_bytes(),
        old_app_hash.as_slice()
    );
    let old_validator = chain.node().validator().address;
    let old_genesis_time = chain.node().genesis().genesis_time;
    // Stopped means stopped: no block comes after `stop`.
    tokio::time::sleep(BLOCK * 3).await;
    assert_eq!(chain.node().latest_height(), stopped_at);
    drop(chain);

    // A slower block time for the second run, so its first block cannot land before the
    // checks below (the block time is not part of the state).
    let chain = start_with(Some(dir.0.clone()), Duration::from_millis(500)).await;
    // The height continues from where it stopped, on the same app hash.
    assert_eq!(chain.node().latest_height(), stopped_at);
    let info = chain.node().abci_info();
    assert_eq!(info.last_block_height.value(), stopped_at);
    assert_eq!(info.last_block_app_hash.as_bytes(), old_app_hash.as_slice());
    let block = chain.node().block(stopped_at).expect("old block kept");
    assert_eq!(block.block_id.hash, old_block_hash, "same block");
    assert_eq!(block.app_hash, old_app_hash);
    assert_eq!(chain.node().validator().address, old_validator);
    assert_eq!(chain.node().genesis().genesis_time, old_genesis_time);
    // The old tx is still served, and the balances are the same.
    assert_eq!(
        chain.node().tx(&tx.hash).expect("tx kept").height,
        tx.height
    );
    assert_eq!(chain.balance(&user, "stake").unwrap(), user_balance);
    assert_eq!(chain.balance(&relayer, "stake").unwrap(), relayer_balance);

    // Blocks keep coming, each on top of the replayed state.
    chain
        .devnet
        .wait_for_height(stopped_at + 2, WAIT)
        .await
        .unwrap();
    let next = chain.node().block(stopped_at + 1).unwrap();
    assert_eq!(
        next.block.header.app_hash.as_bytes(),
        old_app_hash.as_slice(),
        "header h+1 carries the app hash after h"
    );
    assert_eq!(
        next.block.header.last_block_id.map(|id| id.hash),
        Some(old_block_hash)
    );
    // And the account sequence carried over: a new tx from the same account commits.
    chain
        .submit_ok(&chain.user, vec![send(&chain, 5)])
        .await
        .expect("tx after restart commits");
    assert_eq!(chain.balance(&user, "stake").unwrap(), user_balance - 5);
    let mut chain = chain;
    chain.devnet.stop().await;
    drop(chain);

    // A third start replays the second run's blocks too.
    let chain = start(Some(dir.0.clone())).await;
    assert_eq!(chain.balance(&user, "stake").unwrap(), user_balance - 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_restart_keeps_state_and_address() {
    let mut chain = start(None).await;
    let user = chain.address(&chain.user);
    chain
        .submit_ok(&chain.user, vec![send(&chain, 777)])
        .await
        .unwrap();
    let url = chain.devnet.rpc_url();
    let balance = chain.balance(&user, "stake").unwrap();
    chain.devnet.restart().await.expect("restart");
    let h = chain.node().latest_height();
    assert_eq!(chain.devnet.rpc_url(), url, "same address after restart");
    assert_eq!(chain.balance(&user, "stake").unwrap(), balance);
    chain.devnet.wait_for_height(h + 2, WAIT).await.unwrap();

    // The RPC answers on the same address.
    let client = tendermint_rpc::HttpClient::new(url.as_str()).unwrap();
    use tendermint_rpc::Client;
    let status = client.status().await.expect("status after restart");
    assert!(status.sync_info.latest_block_height.value() >= h);
    assert_eq!(status.node_info.network.as_str(), "restart-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_heights_and_resume_restarts_them() {
    let chain = start(None).await;
    chain.devnet.wait_for_height(2, WAIT).await.unwrap();

    chain.devnet.pause();
    assert!(chain.node().is_paused());
    // A block being produced when pause was called may still land; after that, nothing.
    tokio::time::sleep(BLOCK * 2).await;
    let (before, after) = heights_apart(&chain, BLOCK * 3).await;
    assert_eq!(before, after, "no blocks while paused");
    let (again, _) = heights_apart(&chain, BLOCK * 3).await;
    assert_eq!(again, before, "still paused");

    chain.devnet.resume();
    assert!(!chain.node().is_paused());
    chain
        .devnet
        .wait_for_height(before + 3, WAIT)
        .await
        .expect("blocks resume");
}

/// A process killed while it appended a block leaves a torn last line in `blocks.jsonl`. That
/// block was never committed (the node commits in memory only after the line is written), so a
/// restart drops the torn line and resumes at the last whole block, as CometBFT's block store
/// ignores a block it did not finish saving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_last_block_line_is_dropped_on_restart() {
    let dir = DataDir::new("torn");
    let mut chain = start(Some(dir.0.clone())).await;
    chain.wait_for_height(3).await.unwrap();
    chain.devnet.stop().await;
    let stopped_at = chain.node().latest_height();
    let app_hash = chain.node().latest_block().unwrap().app_hash.clone();
    drop(chain);

    let blocks = dir.0.join("blocks.jsonl");
    let whole = std::fs::read(&blocks).unwrap();
    let mut torn = whole.clone();
    torn.extend_from_slice(br#"{"block":{"header":{"version""#);
    std::fs::write(&blocks, &torn).unwrap();

    let mut chain = start_with(Some(dir.0.clone()), Duration::from_millis(500)).await;
    assert_eq!(chain.node().latest_height(), stopped_at);
    assert_eq!(chain.node().latest_block().unwrap().app_hash, app_hash);
    chain
        .devnet
        .wait_for_height(stopped_at + 1, WAIT)
        .await
        .expect("blocks continue after the torn line");
    chain.devnet.stop().await;
    let text = std::fs::read_to_string(&blocks).unwrap();
    assert!(
        text.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "every stored line is a whole block again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotating_validator_set_replays_and_other_validator_settings_are_refused() {
    let dir = DataDir::new("validators");
    let rotating = |data_dir: PathBuf, count: u32| {
        let mut c = config(Some(data_dir), BLOCK);
        c.validators = devnet::node::ValidatorParams {
            count,
            rotate_every: 3,
        };
        c
    };
    let mut devnet = Devnet::start(rotating(dir.0.clone(), 4)).await.unwrap();
    devnet.wait_for_height(8, WAIT).await.unwrap();
    devnet.stop().await;
    let stopped_at = devnet.node().latest_height();
    let last = devnet.node().latest_block().unwrap();
    drop(devnet);

    let mut again = Devnet::start(rotating(dir.0.clone(), 4)).await.unwrap();
    let replayed = again.node().block(stopped_at).expect("replayed block");
    assert_eq!(replayed.block_id.hash, last.block_id.hash);
    assert_eq!(replayed.app_hash, last.app_hash);
    again.wait_for_height(stopped_at + 4, WAIT).await.unwrap();
    let next = again.node().block(stopped_at + 1).unwrap();
    assert_eq!(next.commit.signatures.len(), 4);
    again.stop().await;
    drop(again);

    let err = match Devnet::start(rotating(dir.0.clone(), 5)).await {
        Ok(_) => panic!("a data dir made by 4 validators must not replay with 5"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("another validator set") && err.contains("--validators"),
        "{err}"
    );
}
