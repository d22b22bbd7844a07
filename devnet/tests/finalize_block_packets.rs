//! Packets sent outside txs: ICS-20 transfers the chain sends from FinalizeBlock (scheduled by a
//! library call, or every N blocks by configuration). Their `send_packet` events appear only in
//! `block_results.finalize_block_events`, their commitments are real and relayable, and a
//! `--data-dir` restart replays them to the same app hashes.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use cosmos::events::events_of;
use cosmos::Coin;
use devnet::finalize_block::{BlockTransfer, PeriodicTransfer};
use devnet::harness::{has_commitment, packet_from_event, voucher, TestChain};
use devnet::testing::{create_client, open_channel, open_connection, relay_packets, ChannelPath};
use devnet::{Devnet, DevnetConfig};
use ibc_proto::ibc::core::channel::v1::Packet;
use serde_json::json;
use support::rpc;

const BLOCK: Duration = Duration::from_millis(100);

fn funds() -> Vec<Coin> {
    vec![Coin::new("stake", 1_000_000_000_000)]
}

/// A unique scratch directory under the system temp dir, removed on drop.
struct DataDir(PathBuf);

impl DataDir {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("devnet-fb-{tag}-{}-{nanos}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn chain_config(chain_id: &str) -> (DevnetConfig, cosmos::AccountKey, cosmos::AccountKey) {
    let mut config = DevnetConfig::for_tests(chain_id);
    config.block_time = BLOCK;
    let (config, relayer) = config.with_random_account("relayer", funds());
    let (config, user) = config.with_random_account("user", funds());
    (config, relayer, user)
}

async fn start(
    config: DevnetConfig,
    relayer: &cosmos::AccountKey,
    user: &cosmos::AccountKey,
) -> TestChain {
    TestChain {
        devnet: Devnet::start(config).await.expect("devnet starts"),
        relayer: relayer.clone(),
        user: user.clone(),
    }
}

async fn connect(a: &TestChain, b: &TestChain) -> ChannelPath {
    let client_a = create_client(a, b).await.unwrap();
    let client_b = create_client(b, a).await.unwrap();
    let (connection_a, connection_b) = open_connection(a, b, &client_a, &client_b).await.unwrap();
    let (channel_a, channel_b) = open_channel(
        a,
        b,
        &client_a,
        &client_b,
        &connection_a,
        &connection_b,
        false,
    )
    .await
    .unwrap();
    ChannelPath {
        client_a,
        client_b,
        connection_a,
        connection_b,
        port: "transfer".into(),
        channel_a,
        channel_b,
    }
}

fn transfer(sender: &str, receiver: &str, channel: &str, amount: u128) -> BlockTransfer {
    BlockTransfer {
        sender: sender.to_string(),
        receiver: receiver.to_string(),
        source_port: "transfer".into(),
        source_channel: channel.to_string(),
        denom: "stake".into(),
        amount,
        timeout_secs: 600,
        memo: String::new(),
    }
}

/// The packets the FinalizeBlock of blocks `from..=to` sent, with their heights.
fn finalize_block_packets(chain: &TestChain, from: u64, to: u64) -> Vec<(u64, Packet)> {
    let mut out = Vec::new();
    for h in from..=to {
        let block = chain.node().block(h).expect("block");
        for attrs in events_of(&block.finalize_block_events, "send_packet") {
            out.push((h, packet_from_event(&attrs).expect("packet")));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finalize_block_packet_is_only_in_block_results_and_relays() {
    let (config_a, relayer_a, user_a) = chain_config("fb-1");
    let (config_b, relayer_b, user_b) = chain_config("fb-2");
    let a = start(config_a, &relayer_a, &user_a).await;
    let b = start(config_b, &relayer_b, &user_b).await;
    let path = connect(&a, &b).await;
    let sender = a.address(&a.user);
    let receiver = b.address(&b.user);
    let before = a.balance(&sender, "stake").unwrap();

    let from = a.node().latest_height() + 1;
    a.node()
        .schedule_finalize_block_transfer(transfer(&sender, &receiver, &path.channel_a, 777));
    a.wait_for_height(from + 1).await.unwrap();
    let sent = finalize_block_packets(&a, from, a.node().latest_height());
    assert_eq!(sent.len(), 1, "one packet from FinalizeBlock: {sent:?}");
    let (height, packet) = sent[0].clone();
    assert_eq!(packet.source_channel, path.channel_a);
    assert!(has_commitment(&a, &packet), "the packet is committed");
    assert_eq!(
        a.balance(&sender, "stake").unwrap(),
        before - 777,
        "escrowed"
    );

    // Over RPC: in `finalize_block_events`, marked `mode=EndBlock`, and in no tx result.
    let url = a.devnet.rpc_url();
    let results = rpc(&url, "block_results", json!({"height": height.to_string()})).await;
    let result = &results["result"];
    let fbe = result["finalize_block_events"].as_array().expect("events");
    let send = fbe
        .iter()
        .find(|e| e["type"] == "send_packet")
        .expect("send_packet in finalize_block_events");
    let attrs = send["attributes"].as_array().unwrap();
    assert!(attrs
        .iter()
        .any(|a| a["key"] == "mode" && a["value"] == "EndBlock"));
    assert!(attrs.iter().all(|a| a["index"] == true));
    for h in from..=a.node().latest_height() {
        let r = rpc(&url, "block_results", json!({"height": h.to_string()})).await;
        for tx in r["result"]["txs_results"].as_array().into_iter().flatten() {
            assert!(
                tx["events"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .all(|e| e["type"] != "send_packet"),
                "a tx result at {h} has a send_packet: {tx}"
            );
        }
    }
    let q = format!("send_packet.packet_src_channel = '{}'", path.channel_a);
    let txs = rpc(&url, "tx_search", json!({"query": q})).await;
    assert_eq!(txs["result"]["total_count"], "0", "{txs}");
    let blocks = rpc(&url, "block_search", json!({"query": q})).await;
    assert_eq!(blocks["result"]["total_count"], "1", "{blocks}");

    // A relayer relays it like any packet.
    relay_packets(&a, &b, &path, std::slice::from_ref(&packet))
        .await
        .unwrap();
    let denom = voucher("transfer", &path.channel_b, "stake");
    assert_eq!(b.balance(&receiver, &denom).unwrap(), 777);
    assert!(!has_commitment(&a, &packet), "acknowledged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_and_scheduled_transfers_replay_from_the_data_dir() {
    let dir = DataDir::new("replay");
    let (mut config_a, relayer_a, user_a) = chain_config("fbr-1");
    let (config_b, relayer_b, user_b) = chain_config("fbr-2");
    let sender = user_a.address("cosmos");
    let receiver = user_b.address("cosmos");
    config_a.data_dir = Some(dir.0.clone());
    config_a.finalize_block_transfer = Some(PeriodicTransfer {
        every_n_blocks: 3,
        transfer: transfer(&sender, &receiver, "channel-0", 5),
    });
    let a = start(config_a.clone(), &relayer_a, &user_a).await;
    let b = start(config_b, &relayer_b, &user_b).await;
    let path = connect(&a, &b).await;
    assert_eq!(path.channel_a, "channel-0");
    let opened = a.node().latest_height();
    a.node()
        .schedule_finalize_block_transfer(transfer(&sender, &receiver, "channel-0", 9));
    a.wait_for_height(opened + 7).await.unwrap();
    a.devnet.pause();
    tokio::time::sleep(BLOCK * 3).await;

    let latest = a.node().latest_height();
    let sent = finalize_block_packets(&a, 1, latest);
    let periodic: Vec<u64> = sent
        .iter()
        .map(|(h, _)| *h)
        .filter(|h| h % 3 == 0)
        .collect();
    assert!(periodic.len() >= 2, "periodic sends: {sent:?}");
    assert!(sent
        .iter()
        .any(|(_, p)| p.data.windows(3).any(|w| w == b"\"9\"")));
    let hashes: Vec<Vec<u8>> = (1..=latest)
        .map(|h| a.node().block(h).unwrap().app_hash.clone())
        .collect();
    let events: Vec<_> = (1..=latest)
        .map(|h| a.node().block(h).unwrap().finalize_block_events.clone())
        .collect();
    let TestChain { mut devnet, .. } = a;
    devnet.stop().await;
    drop(devnet);

    // Restarted without the periodic rule: the stored blocks still replay their sends.
    config_a.finalize_block_transfer = None;
    let a = start(config_a, &relayer_a, &user_a).await;
    assert!(a.node().latest_height() >= latest);
    for h in 1..=latest {
        let block = a.node().block(h).unwrap();
        assert_eq!(block.app_hash, hashes[(h - 1) as usize], "app hash at {h}");
        assert_eq!(
            block.finalize_block_events,
            events[(h - 1) as usize],
            "events at {h}"
        );
    }
    for (_, packet) in &sent {
        assert!(has_commitment(&a, packet), "commitment {}", packet.sequence);
    }
}

#[tokio::test]
async fn a_zero_period_is_refused() {
    let mut config = DevnetConfig::for_tests("fbz-1");
    config.finalize_block_transfer = Some(PeriodicTransfer {
        every_n_blocks: 0,
        transfer: transfer("cosmos1x", "cosmos1y", "channel-0", 1),
    });
    assert!(Devnet::start(config).await.is_err());
}
