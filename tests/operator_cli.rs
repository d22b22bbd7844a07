//! The `arke` binary's operator commands against two real devnets whose relayer accounts come
//! from fixed test mnemonics, with a key store made by `arke keys add`:
//! - `create channel --new-client-connection` creates clients, a connection and a channel;
//!   running `create channel` again reuses the open connection; `create client` and
//!   `create connection --client-a --client-b` create one client and one connection;
//! - `tx transfer --count 5` packs 5 transfers into txs of at most `max_msg_num` (2) messages;
//! - `query pending` (JSON and table) shows the 5 packets unreceived, `query channels` lists
//!   the channels, `query client` reports the client's height and time left;
//! - `tx transfer --timeout-seconds 3600` (a bare number of seconds, as Hermes takes it) sets
//!   the packet's timeout an hour ahead; `keys list --json` lists the keys of the store;
//! - an unknown chain is a clear error with exit code 1.

mod support;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use cosmos::{AccountKey, Coin, COSMOS_HD_PATH};
use devnet::{Devnet, DevnetConfig};
use serde_json::Value;

use support::{stderr, stdout, TempDir};

/// Fixed BIP-39 test mnemonics (24 words; test accounts only).
const MNEMONIC_A: &str = "ready kind exist alpha route bamboo village enact aisle very similar toddler possible name rate believe gain sniff crucial soon title enhance wagon slow";
const MNEMONIC_B: &str = "perfect wear suggest cactus else lyrics shoot hub garlic violin wash tragic clump middle high holiday patrol load describe skull clean tuition since bulk";
const RECEIVER_MNEMONIC: &str = "aerobic loan rescue crash hedgehog alarm crazy danger extra pet round happy employ swallow narrow deer sick speak cash favorite drop liar mistake ahead";

const BLOCK: Duration = Duration::from_millis(150);

/// Runs the binary off the async workers (the devnets keep producing blocks meanwhile), with a
/// bound on how long it may take.
async fn arke(args: &[&str], home: &Path) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let home = home.to_path_buf();
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_arke"))
            .args(&args)
            .env("HOME", &home)
            .env("XDG_DATA_HOME", home.join("data"))
            .env_remove("RUST_LOG")
            .env_remove("ARKE_KEY_STORE")
            .env_remove("ARKE_CONFIG")
            .output()
            .expect("run arke")
    });
    tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("arke did not finish within 180s")
        .expect("join")
}

fn assert_ok(what: &str, o: &Output) {
    assert!(
        o.status.success(),
        "{what}: exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
}

async fn start_chain(chain_id: &str, mnemonic: &str) -> Devnet {
    let mut config = DevnetConfig::for_tests(chain_id);
    config.block_time = BLOCK;
    let config = config
        .with_mnemonic_account(
            "relayer",
            mnemonic,
            vec![Coin::new("stake", 1_000_000_000_000)],
        )
        .unwrap();
    Devnet::start(config).await.unwrap()
}

fn chain_toml(label: &str, devnet: &Devnet, key: &str, keys: &Path, max_msg_num: u32) -> String {
    format!(
        r#"
[chains.{label}]
id = "{id}"
rpc_addr = "{rpc}"
account_prefix = "cosmos"
key_name = "{key}"
key_store_folder = "{keys}"
gas_price = {{ price = 0.001, denom = "stake" }}
max_gas = 20000000
max_msg_num = {max_msg_num}
"#,
        id = devnet.chain_id(),
        rpc = devnet.rpc_url(),
        keys = keys.display(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_transfer_and_queries() {
    let dir = TempDir::new("operator");
    let home = dir.path();
    let a = start_chain("devnet-1", MNEMONIC_A).await;
    let b = start_chain("devnet-2", MNEMONIC_B).await;

    // Key store from mnemonic files.
    let keys = home.join("keys");
    let keys_arg = keys.to_str().unwrap();
    for (name, mnemonic) in [("relayer-a", MNEMONIC_A), ("relayer-b", MNEMONIC_B)] {
        let file = dir.write(&format!("{name}.mnemonic"), mnemonic);
        let out = arke(
            &[
                "keys",
                "add",
                name,
                "--mnemonic-file",
                file.to_str().unwrap(),
                "--key-store",
                keys_arg,
            ],
            home,
        )
        .await;
        assert_ok("keys add", &out);
    }
    let config_text = format!(
        "{}{}",
        chain_toml("a", &a, "relayer-a", &keys, 2),
        chain_toml("b", &b, "relayer-b", &keys, 30)
    );
    let config = dir.write("pair.toml", &config_text);
    let cfg = config.to_str().unwrap();

    // Clients, connection and channel.
    let out = arke(
        &[
            "create",
            "channel",
            "--config",
            cfg,
            "--port",
            "transfer",
            "--new-client-connection",
        ],
        home,
    )
    .await;
    assert_ok("create channel", &out);
    let text = stdout(&out);
    assert!(
        text.contains("channel open: devnet-1 transfer/channel-0 <-> devnet-2 transfer/channel-0"),
        "{text}"
    );
    assert!(text.contains("connection-0 <-> connection-0"), "{text}");
    assert!(
        text.contains("07-tendermint-0 <-> 07-tendermint-0"),
        "{text}"
    );

    // Again without --new-client-connection: a second channel on the same connection.
    let out = arke(
        &["create", "channel", "--config", cfg, "--port", "transfer"],
        home,
    )
    .await;
    assert_ok("create channel again", &out);
    let text = stdout(&out);
    assert!(text.contains("transfer/channel-1"), "{text}");
    assert!(text.contains("connection-0 <-> connection-0"), "{text}");

    // A lone client, and a connection over given clients.
    let out = arke(
        &[
            "create",
            "client",
            "--config",
            cfg,
            "--host-chain",
            "a",
            "--reference-chain",
            "devnet-2",
            "--clock-drift",
            "20s",
        ],
        home,
    )
    .await;
    assert_ok("create client", &out);
    let text = stdout(&out);
    assert!(
        text.contains("created client 07-tendermint-1 on devnet-1 tracking devnet-2"),
        "{text}"
    );
    assert!(text.contains("trusting period 14days"), "{text}");
    assert!(text.contains("max clock drift 20s"), "{text}");
    let out = arke(
        &[
            "create",
            "connection",
            "--config",
            cfg,
            "--client-a",
            "07-tendermint-1",
            "--client-b",
            "07-tendermint-0",
        ],
        home,
    )
    .await;
    assert_ok("create connection", &out);
    let text = stdout(&out);
    assert!(
        text.contains("connection open: devnet-1 connection-1 (client 07-tendermint-1) <-> devnet-2 connection-1 (client 07-tendermint-0)"),
        "{text}"
    );

    // Five transfers, at most 2 per tx on chain a.
    let receiver = AccountKey::from_mnemonic(RECEIVER_MNEMONIC, COSMOS_HD_PATH)
        .unwrap()
        .address("cosmos");
    let out = arke(
        &[
            "tx",
            "transfer",
            "--config",
            cfg,
            "--from-chain",
            "a",
            "--channel",
            "channel-0",
            "--amount",
            "100stake",
            "--to",
            &receiver,
            "--count",
            "5",
            "--timeout-seconds",
            "1h",
        ],
        home,
    )
    .await;
    assert_ok("tx transfer", &out);
    let text = stdout(&out);
    assert!(text.contains("sent 5 of 5 transfer(s)"), "{text}");
    let tx_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("tx ")).collect();
    assert_eq!(tx_lines.len(), 3, "{text}");
    let mut sequences: Vec<u64> = tx_lines
        .iter()
        .filter_map(|l| l.rsplit_once("sequences ").map(|(_, s)| s))
        .flat_map(|s| s.split(',').map(|n| n.trim().parse::<u64>().unwrap()))
        .collect();
    sequences.sort_unstable();
    assert_eq!(sequences, vec![1, 2, 3, 4, 5], "{text}");

    // Pending: the 5 packets are unreceived on b; channel-1 has nothing.
    let out = arke(&["query", "pending", "--config", cfg, "--json"], home).await;
    assert_ok("query pending --json", &out);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let reports = v.as_array().unwrap();
    assert_eq!(reports.len(), 2, "{v}");
    let report = reports
        .iter()
        .find(|r| r["a_to_b"]["src_channel"] == "channel-0")
        .unwrap();
    let unreceived: Vec<u64> = report["a_to_b"]["unreceived_packets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    assert_eq!(unreceived, vec![1, 2, 3, 4, 5]);
    assert_eq!(report["b_to_a"]["unreceived_packets"], Value::Array(vec![]));

    let out = arke(
        &[
            "query",
            "pending",
            "--config",
            cfg,
            "--channel",
            "channel-0",
        ],
        home,
    )
    .await;
    assert_ok("query pending", &out);
    let text = stdout(&out);
    assert!(text.contains("UNRECEIVED PACKETS"), "{text}");
    assert!(text.contains("5 [1..=5]"), "{text}");

    // Channels.
    let out = arke(&["query", "channels", "--config", cfg], home).await;
    assert_ok("query channels", &out);
    let text = stdout(&out);
    assert!(text.contains("transfer/channel-0"), "{text}");
    assert!(text.contains("OPEN"), "{text}");
    let out = arke(&["query", "channels", "--config", cfg, "--json"], home).await;
    assert_ok("query channels --json", &out);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 2, "{v}");
    assert!(list
        .iter()
        .all(|c| c["state_a"] == "OPEN" && c["state_b"] == "OPEN"));

    // Client.
    let out = arke(
        &[
            "query",
            "client",
            "--config",
            cfg,
            "--chain",
            "a",
            "--client",
            "07-tendermint-0",
            "--json",
        ],
        home,
    )
    .await;
    assert_ok("query client --json", &out);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["tracked_chain"], "devnet-2");
    assert_eq!(v["status"], "active");
    assert_eq!(v["frozen"], false);
    assert_eq!(v["trusting_period_secs"], 14 * 86_400);
    assert!(
        v["seconds_until_expiry"].as_i64().unwrap() > 13 * 86_400,
        "{v}"
    );
    let out = arke(
        &[
            "query",
            "client",
            "--config",
            cfg,
            "--chain",
            "devnet-2",
            "--client",
            "07-tendermint-0",
        ],
        home,
    )
    .await;
    assert_ok("query client", &out);
    let text = stdout(&out);
    assert!(
        text.contains("tracks") && text.contains("devnet-1"),
        "{text}"
    );
    assert!(text.contains("time left"), "{text}");

    // A bare number of seconds as the timeout: the packet expires an hour after it was sent.
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let out = arke(
        &[
            "tx",
            "transfer",
            "--config",
            cfg,
            "--from-chain",
            "a",
            "--channel",
            "channel-0",
            "--amount",
            "7stake",
            "--to",
            &receiver,
            "--timeout-seconds",
            "3600",
        ],
        home,
    )
    .await;
    assert_ok("tx transfer --timeout-seconds 3600", &out);
    let text = stdout(&out);
    assert!(text.contains("sent 1 of 1 transfer(s)"), "{text}");
    let hash = text
        .lines()
        .find_map(|l| l.strip_prefix("tx ")?.split(' ').next())
        .unwrap_or_else(|| panic!("no tx line in {text}"));
    let record = a
        .node()
        .tx(&hex::decode(hash).unwrap())
        .unwrap_or_else(|| panic!("tx {hash} not on devnet-1"));
    let sends = cosmos::events::events_of(&record.result.events, "send_packet");
    assert_eq!(sends.len(), 1, "{:?}", record.result.events);
    let packet = devnet::harness::packet_from_event(&sends[0]).unwrap();
    let ahead = Duration::from_nanos(packet.timeout_timestamp).saturating_sub(before);
    assert!(
        ahead >= Duration::from_secs(3600) && ahead <= Duration::from_secs(3600 + 300),
        "timeout {ahead:?} after the command started"
    );
    assert_eq!(
        packet.timeout_height.map_or(0, |h| h.revision_height),
        0,
        "no timeout height was asked for"
    );

    // The key store as JSON.
    let out = arke(&["keys", "list", "--key-store", keys_arg, "--json"], home).await;
    assert_ok("keys list --json", &out);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["relayer-a", "relayer-b"], "{v}");
    assert!(v[0]["address"].as_str().unwrap().starts_with("cosmos1"));

    // Clear errors.
    let out = arke(
        &[
            "query", "client", "--config", cfg, "--chain", "c", "--client", "x",
        ],
        home,
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no chain \"c\""), "{}", stderr(&out));
    let out = arke(
        &[
            "query",
            "client",
            "--config",
            cfg,
            "--chain",
            "a",
            "--client",
            "07-tendermint-9",
        ],
        home,
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("devnet-1: client 07-tendermint-9 does not exist"),
        "{}",
        stderr(&out)
    );
}
