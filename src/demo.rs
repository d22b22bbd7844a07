//! `arke demo`: two devnet chains in-process, a channel between them, the relayer daemon, and
//! transfers both ways with live progress and a summary. The chains are `devnet::harness`
//! chains, and the summary comes from their packet history as the harness reads it from the
//! committed blocks: how often each packet was received, which packets are still committed,
//! and send-to-receive latency from block times.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use cosmos::events::events_of;
use cosmos::{AccountKey, Coin, COSMOS_HD_PATH};
use devnet::harness::{
    has_commitment, packet_from_event, receive_counts, receive_times, send_times, timeouts,
    transfer_msg_on, voucher, TestChain,
};
use ibc_proto::ibc::core::channel::v1::Packet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::handshake;
use crate::relay::supervisor::{self, PairKeys};
use crate::tx::keys::{KeyStore, Mnemonic};

/// Demo settings.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Transfers each way.
    pub packets: usize,
    /// Block time of both chains.
    pub block_time: Duration,
    /// Leave everything running at the end.
    pub keep_running: bool,
    /// Give up after this long.
    pub deadline: Duration,
}

/// What the demo measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DemoSummary {
    /// Packets sent A→B and B→A.
    pub sent: [usize; 2],
    /// Packets received on the destination, each way.
    pub(crate) received: [usize; 2],
    /// Packets acknowledged back on the source, each way.
    pub(crate) acked: [usize; 2],
    /// Packets timed out, each way.
    pub(crate) timed_out: [usize; 2],
    /// Send→receive latency percentiles (p50, p99), from block times.
    pub latency_p50: Duration,
    /// p99.
    pub latency_p99: Duration,
    /// Wall time from the last transfer sent until every packet settled (or the deadline).
    pub relay_time: Duration,
    /// Stake balance of the users before and after (A, B).
    pub(crate) balances_before: [u128; 2],
    /// After.
    pub(crate) balances_after: [u128; 2],
    /// Voucher balances after (on A, on B).
    pub(crate) vouchers_after: [u128; 2],
}

impl DemoSummary {
    /// True when every packet was received and acknowledged each way.
    pub fn complete(&self) -> bool {
        self.sent.iter().zip(&self.acked).all(|(s, a)| s == a)
            && self.sent.iter().zip(&self.received).all(|(s, r)| s == r)
    }
}

/// Errors of the demo.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DemoError(pub String);

fn err(e: impl std::fmt::Display) -> DemoError {
    DemoError(e.to_string())
}

/// A pair config for two running devnets, signing with keys named `relayer-<chain id>` in
/// `key_store`.
pub(crate) fn pair_config_text(
    a: &TestChain,
    b: &TestChain,
    key_store: &std::path::Path,
) -> String {
    let chain = |id: &str, rpc: String| {
        format!(
            "id = \"{id}\"\nrpc_addr = \"{rpc}\"\naccount_prefix = \"cosmos\"\nkey_name = \"relayer-{id}\"\n\
             key_store_folder = \"{}\"\ngas_price = {{ price = 0.0, denom = \"stake\" }}\n\
             max_gas = 50000000\nmax_msg_num = 50\nmax_tx_size = 2000000\n",
            key_store.display()
        )
    };
    format!(
        "# Two devnet chains started by `arke demo --keep-running`.\n[chains.a]\n{}\n[chains.b]\n{}\n[relay]\nclear_interval = 50\nshutdown_grace = \"10s\"\n# Cursors next to this file.\nstate_dir = \"state\"\n",
        chain(a.devnet.chain_id(), a.devnet.rpc_url()),
        chain(b.devnet.chain_id(), b.devnet.rpc_url()),
    )
}

/// The two demo chains and the channel Arke opened between them.
struct DemoChains {
    a: TestChain,
    b: TestChain,
    port: String,
    channel_a: String,
    channel_b: String,
}

/// Runs the demo, printing progress to stdout.
pub async fn run(opts: DemoOptions) -> Result<DemoSummary, DemoError> {
    let out = &mut std::io::stdout();
    println!(
        "Starting two devnet chains (block time {:?}) and opening a channel between them...",
        opts.block_time
    );
    let dir = std::env::temp_dir().join(format!("arke-demo-{}", std::process::id()));
    let store = KeyStore::new(dir.join("keys"));
    let a = start_chain("devnet-1", opts.block_time, &store).await?;
    let b = start_chain("devnet-2", opts.block_time, &store).await?;
    println!(
        "  {} at {}\n  {} at {}",
        a.devnet.chain_id(),
        a.devnet.rpc_url(),
        b.devnet.chain_id(),
        b.devnet.rpc_url(),
    );
    std::fs::create_dir_all(&dir).map_err(err)?;
    let config_path = dir.join("demo-pair.toml");
    let text = pair_config_text(&a, &b, &dir.join("keys"));
    let config = Config::from_toml_str(&text, &config_path).map_err(err)?;

    // Clients, connection and channel through Arke's own handshake code.
    let pair = handshake::Pair::new(
        &config.chains.a,
        a.relayer.clone(),
        &config.chains.b,
        b.relayer.clone(),
    )
    .map_err(err)?;
    let opened = handshake::ensure_channel(
        &pair.a,
        &pair.b,
        &handshake::ChannelRequest {
            port_a: "transfer".into(),
            port_b: "transfer".into(),
            ordering: ibc_proto::ibc::core::channel::v1::Order::Unordered,
            version: "ics20-1".into(),
        },
        &handshake::ConnectionChoice::New,
        &handshake::ClientOptions::default(),
        Duration::ZERO,
    )
    .await;
    pair.shutdown().await;
    let opened = opened.map_err(err)?;
    let c = &opened.ends.connection;
    println!(
        "  clients {} / {}, connection {} / {}, channel transfer/{} <-> transfer/{}",
        c.client_a,
        c.client_b,
        c.connection_a,
        c.connection_b,
        opened.ends.channel_a,
        opened.ends.channel_b
    );
    let chains = DemoChains {
        a,
        b,
        port: "transfer".into(),
        channel_a: opened.ends.channel_a.clone(),
        channel_b: opened.ends.channel_b.clone(),
    };
    let path = &chains;

    let users = [
        chains.a.address(&chains.a.user),
        chains.b.address(&chains.b.user),
    ];
    let mut summary = DemoSummary {
        balances_before: [
            chains.a.balance(&users[0], "stake").map_err(err)?,
            chains.b.balance(&users[1], "stake").map_err(err)?,
        ],
        ..Default::default()
    };

    println!("Starting the relayer...");
    let shutdown = CancellationToken::new();
    let relayer = {
        let keys = PairKeys::new(chains.a.relayer.clone(), chains.b.relayer.clone());
        let (config, token) = (config.clone(), shutdown.clone());
        tokio::spawn(async move { supervisor::run(config, keys, token).await })
    };

    println!("Sending {} transfers each way...", opts.packets);
    let (to_b, to_a) = tokio::join!(
        send(
            &chains.a,
            &chains.b,
            &path.port,
            &path.channel_a,
            opts.packets
        ),
        send(
            &chains.b,
            &chains.a,
            &path.port,
            &path.channel_b,
            opts.packets
        )
    );
    let sent = [to_b.map_err(err)?, to_a.map_err(err)?];
    summary.sent = [sent[0].len(), sent[1].len()];

    let started = tokio::time::Instant::now();
    let terminal = std::io::stdout().is_terminal();
    loop {
        let recv = [
            receive_counts(&chains.b, &path.channel_b).len(),
            receive_counts(&chains.a, &path.channel_a).len(),
        ];
        let settled = [
            sent[0]
                .iter()
                .filter(|p| !has_commitment(&chains.a, p))
                .count(),
            sent[1]
                .iter()
                .filter(|p| !has_commitment(&chains.b, p))
                .count(),
        ];
        let total = summary.sent[0] + summary.sent[1];
        let done = settled[0] + settled[1];
        let line = format!(
            "A->B sent {} received {} acked {} | B->A sent {} received {} acked {}",
            summary.sent[0], recv[0], settled[0], summary.sent[1], recv[1], settled[1]
        );
        if terminal {
            let width = 30;
            let filled = (done * width).checked_div(total).unwrap_or(width);
            let _ = write!(
                out,
                "\r[{}{}] {line}",
                "#".repeat(filled),
                "-".repeat(width - filled)
            );
            let _ = out.flush();
        } else {
            println!("{line}");
        }
        if done == total {
            summary.relay_time = started.elapsed();
            break;
        }
        if started.elapsed() > opts.deadline {
            println!();
            println!("gave up after {:?}", opts.deadline);
            summary.relay_time = started.elapsed();
            break;
        }
        tokio::time::sleep(if terminal {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(1).max(opts.block_time)
        })
        .await;
    }
    if terminal {
        println!();
    }

    // Summary from the chains themselves.
    let dirs = [
        (&chains.a, &chains.b, &path.channel_b, &sent[0]),
        (&chains.b, &chains.a, &path.channel_a, &sent[1]),
    ];
    let mut latencies = Vec::new();
    for (i, (src, dst, dst_channel, packets)) in dirs.iter().enumerate() {
        let received = receive_times(dst, dst_channel);
        summary.received[i] = packets
            .iter()
            .filter(|p| received.contains_key(&p.sequence))
            .count();
        summary.acked[i] = packets.iter().filter(|p| !has_commitment(src, p)).count();
        summary.timed_out[i] = timeouts(src, &packets[0].source_channel);
        let sent_times = send_times(src, &packets[0].source_channel);
        for p in packets.iter() {
            if let (Some(s), Some(r)) = (sent_times.get(&p.sequence), received.get(&p.sequence)) {
                latencies.push(r.saturating_sub(*s));
            }
        }
    }
    latencies.sort_unstable();
    let pct = |q: f64| -> Duration {
        if latencies.is_empty() {
            return Duration::ZERO;
        }
        let idx = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        Duration::from_nanos(latencies[idx.min(latencies.len() - 1)] as u64)
    };
    summary.latency_p50 = pct(0.50);
    summary.latency_p99 = pct(0.99);
    summary.balances_after = [
        chains.a.balance(&users[0], "stake").map_err(err)?,
        chains.b.balance(&users[1], "stake").map_err(err)?,
    ];
    summary.vouchers_after = [
        chains
            .a
            .balance(&users[0], &voucher(&path.port, &path.channel_a, "stake"))
            .map_err(err)?,
        chains
            .b
            .balance(&users[1], &voucher(&path.port, &path.channel_b, "stake"))
            .map_err(err)?,
    ];
    print_summary(&summary, &chains);

    if opts.keep_running {
        println!(
            "\nEverything keeps running. Pair config for the other commands:\n  {}",
            config_path.display()
        );
        std::fs::write(&config_path, &text).map_err(err)?;
        println!("Press Ctrl-C to stop.");
        crate::relay::signals::wait_for_signal().await;
    }
    shutdown.cancel();
    match relayer.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(err(format!("relayer: {e}"))),
        Err(e) => return Err(err(format!("relayer task: {e}"))),
    }
    let _ = std::fs::remove_dir_all(PathBuf::from(&dir));
    Ok(summary)
}

/// A fresh 24-word mnemonic.
fn fresh_mnemonic() -> Result<String, DemoError> {
    cosmos::keys::random_mnemonic().map_err(err)
}

/// Starts a devnet funding a relayer and a user from fresh mnemonics, and stores the relayer's
/// key as `relayer-<chain id>` in `store`, so the printed pair config works with every command.
async fn start_chain(
    chain_id: &str,
    block_time: Duration,
    store: &KeyStore,
) -> Result<TestChain, DemoError> {
    let funds = vec![Coin {
        denom: "stake".into(),
        amount: 1_000_000_000_000,
    }];
    let relayer_words = fresh_mnemonic()?;
    let user_words = fresh_mnemonic()?;
    let mut config = devnet::DevnetConfig::for_tests(chain_id);
    config.block_time = block_time;
    let config = config
        .with_mnemonic_account("relayer", &relayer_words, funds.clone())
        .map_err(err)?
        .with_mnemonic_account("user", &user_words, funds)
        .map_err(err)?;
    let devnet = devnet::Devnet::start(config).await.map_err(err)?;
    let relayer = AccountKey::from_mnemonic(&relayer_words, COSMOS_HD_PATH).map_err(err)?;
    let user = AccountKey::from_mnemonic(&user_words, COSMOS_HD_PATH).map_err(err)?;
    store
        .add(
            &format!("relayer-{chain_id}"),
            &Mnemonic::new(&relayer_words),
            COSMOS_HD_PATH,
            "cosmos",
            true,
        )
        .map_err(err)?;
    Ok(TestChain {
        devnet,
        relayer,
        user,
    })
}

fn print_summary(s: &DemoSummary, chains: &DemoChains) {
    let (a, b) = (chains.a.devnet.chain_id(), chains.b.devnet.chain_id());
    println!("\nSummary");
    println!(
        "  {a} -> {b}: {} sent, {} received, {} acknowledged, {} timed out",
        s.sent[0], s.received[0], s.acked[0], s.timed_out[0]
    );
    println!(
        "  {b} -> {a}: {} sent, {} received, {} acknowledged, {} timed out",
        s.sent[1], s.received[1], s.acked[1], s.timed_out[1]
    );
    println!(
        "  latency send -> receive (block times): p50 {:.2?}, p99 {:.2?}",
        s.latency_p50, s.latency_p99
    );
    println!(
        "  user on {a}: {} stake -> {} stake, {} vouchers",
        s.balances_before[0], s.balances_after[0], s.vouchers_after[0]
    );
    println!(
        "  user on {b}: {} stake -> {} stake, {} vouchers",
        s.balances_before[1], s.balances_after[1], s.vouchers_after[1]
    );
    println!(
        "  result: {}",
        if s.complete() {
            "every packet received and acknowledged"
        } else {
            "INCOMPLETE"
        }
    );
}

/// Sends `count` transfers of 1 stake from `src`'s user to `dst`'s user, up to 100 per tx.
async fn send(
    src: &TestChain,
    dst: &TestChain,
    port: &str,
    channel: &str,
    count: usize,
) -> Result<Vec<Packet>, String> {
    let sender = src.address(&src.user);
    let receiver = dst.address(&dst.user);
    let timeout = dst.ibc_height(dst.node().latest_height() + 100_000);
    let mut packets = Vec::new();
    let mut left = count;
    while left > 0 {
        let n = left.min(100);
        let msgs = (0..n)
            .map(|_| {
                transfer_msg_on(
                    port,
                    &sender,
                    &receiver,
                    channel,
                    &Coin {
                        denom: "stake".into(),
                        amount: 1,
                    },
                    Some(timeout),
                    0,
                )
            })
            .collect();
        let tx = src.submit_ok(&src.user, msgs).await?;
        for e in events_of(&tx.result.events, "send_packet") {
            packets.push(packet_from_event(&e)?);
        }
        left -= n;
    }
    Ok(packets)
}
