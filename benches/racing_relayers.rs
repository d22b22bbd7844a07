//! What a redundant set of Arke instances costs, against one instance relaying the same traffic:
//! for each instance count, two fresh devnets, that many instances with their own keys on one
//! channel (each told the others' signers with `[relay] peers`, as an operator would), and the
//! same waves of transfers each way. Knobs (environment):
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `ARKE_RACE_INSTANCES` | `1,2,3` | instance counts to run, in order |
//! | `ARKE_RACE_WAVES` | 10 | waves of transfers each way, one wave per block of the source |
//! | `ARKE_RACE_PER_WAVE` | 30 | transfers per wave (one tx) |
//! | `ARKE_RACE_BLOCK_MS` | 500 | block time of both devnets |
//! | `ARKE_RACE_BACKUP_DELAY` | 2 | `backup_delay` of the instances |
//!
//! For each count it prints the fees all instances paid together (balances on both chains before
//! and after) and against one instance, their txs, the client updates those carry, the share of
//! their txs in blocks whose packet messages were all redundant (and of those partly redundant),
//! CheckTx refusals as redundant (no fee), and send→receive latency p50/p99/max in blocks of the
//! destination (the blocks after the send's block up to the one that received the packet), as
//! a table and one JSON line. The instances run in this process on one runtime. Run with
//! `cargo bench --bench racing_relayers`.

#[allow(dead_code)] // the bench uses `funded_account` only
#[path = "../tests/support/chain.rs"]
mod chain;
#[allow(dead_code)] // the bench uses the text only
#[path = "../tests/support/pair.rs"]
mod pair;

#[path = "support/knob.rs"]
mod knob;

use knob::knob;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use arke::relay::supervisor::{self, PairKeys, RunOptions};
use arke::telemetry::state::DaemonState;
use cosmos::events::events_of;
use cosmos::{AccountKey, Coin};
use devnet::harness::{
    block_events, has_commitment, packet_from_event, transfer_msg_on, TestChain,
};
use devnet::testing::ConnectedChains;
use devnet::DevnetConfig;
use ibc_proto::ibc::core::channel::v1::Packet;
use tokio_util::sync::CancellationToken;

/// What each instance's accounts are funded with.
const FUNDS: u128 = 100_000_000_000;

/// Gas price the instances pay, so that fees are measured.
const GAS_PRICE: &str = "0.001";

/// The packet messages whose effects are counted (a redundant one has no event).
const PACKET_MSGS: [(&str, &str); 3] = [
    ("/ibc.core.channel.v1.MsgRecvPacket", "recv_packet"),
    (
        "/ibc.core.channel.v1.MsgAcknowledgement",
        "acknowledge_packet",
    ),
    ("/ibc.core.channel.v1.MsgTimeout", "timeout_packet"),
];

struct Knobs {
    instances: Vec<usize>,
    waves: usize,
    per_wave: usize,
    block: Duration,
    backup_delay: u64,
}

impl Knobs {
    fn from_env() -> Self {
        let instances = std::env::var("ARKE_RACE_INSTANCES").unwrap_or_else(|_| "1,2,3".into());
        let instances = instances
            .split(',')
            .map(|n| match n.trim().parse::<usize>() {
                Ok(n) if (1..=8).contains(&n) => n,
                _ => {
                    eprintln!("ARKE_RACE_INSTANCES: {n:?} is not a count from 1 to 8");
                    std::process::exit(2)
                }
            })
            .collect();
        Self {
            instances,
            waves: knob("ARKE_RACE_WAVES", 10).max(1) as usize,
            per_wave: knob("ARKE_RACE_PER_WAVE", 30).max(1) as usize,
            block: Duration::from_millis(knob("ARKE_RACE_BLOCK_MS", 500).max(50)),
            backup_delay: knob("ARKE_RACE_BACKUP_DELAY", 2).max(1),
        }
    }
}

/// One instance's keys and addresses on A and B.
struct Instance {
    a: AccountKey,
    b: AccountKey,
    address: [String; 2],
}

/// One wave: a tx of `count` transfers from `src`'s user over `channel`; its packets.
async fn wave(
    src: &TestChain,
    dst: &TestChain,
    port: &str,
    channel: &str,
    count: usize,
) -> Result<Vec<Packet>, String> {
    let (sender, receiver) = (src.address(&src.user), dst.address(&dst.user));
    let timeout = dst.ibc_height(dst.node().latest_height() + 100_000);
    let coin = Coin {
        denom: "stake".into(),
        amount: 1,
    };
    let msgs = (0..count)
        .map(|_| transfer_msg_on(port, &sender, &receiver, channel, &coin, Some(timeout), 0))
        .collect();
    let tx = src.submit_ok(&src.user, msgs).await?;
    events_of(&tx.result.events, "send_packet")
        .iter()
        .map(packet_from_event)
        .collect()
}

/// The txs `signers` put in `chain`'s blocks from `from`: (txs, client updates, txs whose packet
/// messages were all redundant, txs with some redundant).
fn tx_counts(chain: &TestChain, from: u64, signers: &[&str]) -> (usize, usize, usize, usize) {
    let (mut txs, mut updates, mut redundant, mut partly) = (0, 0, 0, 0);
    for height in from.max(1)..=chain.node().latest_height() {
        for tx in chain.node().block_txs(height) {
            let signer = events_of(&tx.result.events, "tx")
                .into_iter()
                .find_map(|e| Some(e.get("acc_seq")?.split('/').next()?.to_string()))
                .unwrap_or_default();
            if !signers.contains(&signer.as_str()) {
                continue;
            }
            txs += 1;
            updates += events_of(&tx.result.events, "update_client").len();
            let msgs = cosmos::tx::tx_messages(&tx.tx).unwrap_or_default();
            let (mut sent, mut effective) = (0, 0);
            for (type_url, event) in PACKET_MSGS {
                sent += msgs.iter().filter(|m| m.type_url == type_url).count();
                effective += events_of(&tx.result.events, event).len();
            }
            if sent > 0 && tx.result.code.value() == 0 {
                if effective == 0 {
                    redundant += 1;
                } else if effective < sent {
                    partly += 1;
                }
            }
        }
    }
    (txs, updates, redundant, partly)
}

/// Blocks of `dst` after the block time `sent` (ns) up to and including `height`.
fn blocks_after(dst: &TestChain, sent: i128, height: u64) -> u64 {
    (1..=height)
        .filter(|h| {
            dst.node()
                .block(*h)
                .is_some_and(|b| b.block.header.time.unix_timestamp_nanos() > sent)
        })
        .count() as u64
}

/// Send→receive latency in blocks of the destination, per packet sent from `src` over
/// `src_channel` (heights from `from_src` / `from_dst`).
fn latencies(
    src: &TestChain,
    dst: &TestChain,
    src_channel: &str,
    (from_src, from_dst): (u64, u64),
) -> Vec<u64> {
    let on_channel = |e: &devnet::harness::BlockEvent| {
        e.attrs.get("packet_src_channel").map(String::as_str) == Some(src_channel)
    };
    let sent: BTreeMap<u64, i128> = block_events(src, from_src, "send_packet")
        .into_iter()
        .filter(on_channel)
        .filter_map(|e| Some((e.attrs.get("packet_sequence")?.parse().ok()?, e.time)))
        .collect();
    let received: BTreeMap<u64, u64> = block_events(dst, from_dst, "recv_packet")
        .into_iter()
        .filter(on_channel)
        .filter_map(|e| Some((e.attrs.get("packet_sequence")?.parse().ok()?, e.height)))
        .collect();
    sent.iter()
        .filter_map(|(seq, at)| Some(blocks_after(dst, *at, *received.get(seq)?)))
        .collect()
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The sum of this process's samples of metric `name` (every instance's).
fn metric_sum(name: &str, label: Option<(&str, &str)>) -> f64 {
    arke::telemetry::metrics_text()
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| label.is_none_or(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

async fn run(knobs: &Knobs, n: usize) -> Result<serde_json::Value, String> {
    let config = |id: &str| {
        let mut c = DevnetConfig::for_tests(id);
        c.block_time = knobs.block;
        c
    };
    let chains = ConnectedChains::start_with(config("devnet-1"), config("devnet-2"), false).await?;
    let (a, b, path) = (&chains.a, &chains.b, &chains.path);
    let mut instances = Vec::new();
    for _ in 0..n {
        let ka = chain::funded_account(a, FUNDS).await;
        let kb = chain::funded_account(b, FUNDS).await;
        let address = [a.address(&ka), b.address(&kb)];
        instances.push(Instance {
            a: ka,
            b: kb,
            address,
        });
    }
    let list = |side: usize| {
        instances
            .iter()
            .map(|i| format!("\"{}\"", i.address[side]))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let peers = if n > 1 {
        format!(
            "peers = {{ a = [{}], b = [{}] }}\nbackup_delay = {}\n",
            list(0),
            list(1),
            knobs.backup_delay
        )
    } else {
        String::new()
    };
    let root = std::env::temp_dir().join(format!("arke-race-{}-{n}", std::process::id()));
    let balances = || -> Result<u128, String> {
        let mut sum = 0;
        for i in &instances {
            sum += a.balance(&i.address[0], "stake")? + b.balance(&i.address[1], "stake")?;
        }
        Ok(sum)
    };
    let before = balances()?;
    let refused_before = metric_sum("arke_txs_failed_total", Some(("cause", "redundant")));
    let borrowed_before = metric_sum("arke_client_updates_borrowed_total", None);
    let lost_before = metric_sum("arke_borrowed_updates_lost_total", None);
    let taken_before = metric_sum("arke_steps_taken_over_total", None);

    let mut running = Vec::new();
    for (k, i) in instances.iter().enumerate() {
        let dir = root.join(format!("instance-{k}"));
        let text = pair::pair_config_text(a, b, &dir, &peers)
            .replace("price = 0.0,", &format!("price = {GAS_PRICE},"));
        let config = arke::config::Config::from_toml_str(&text, &dir.join("pair.toml"))
            .map_err(|e| e.to_string())?;
        let state = DaemonState::new();
        let token = CancellationToken::new();
        let options = RunOptions {
            state: Some(state.clone()),
            ..Default::default()
        };
        let keys = PairKeys::new(i.a.clone(), i.b.clone());
        let task = tokio::spawn(supervisor::run_with(config, keys, token.clone(), options));
        let started = Instant::now();
        while state.workers().is_empty() {
            if started.elapsed() > Duration::from_secs(120) {
                return Err(format!("instance {k}'s workers did not start"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        running.push((token, task));
    }
    let (from_a, from_b) = (a.node().latest_height(), b.node().latest_height());
    let t0 = Instant::now();
    let mut sent: Vec<(bool, Packet)> = Vec::new();
    for _ in 0..knobs.waves {
        let (pa, pb) = tokio::join!(
            wave(a, b, &path.port, &path.channel_a, knobs.per_wave),
            wave(b, a, &path.port, &path.channel_b, knobs.per_wave)
        );
        sent.extend(pa?.into_iter().map(|p| (true, p)));
        sent.extend(pb?.into_iter().map(|p| (false, p)));
    }
    let mut left: Vec<&(bool, Packet)> = sent.iter().collect();
    while !left.is_empty() {
        if t0.elapsed() > Duration::from_secs(1200) {
            return Err(format!("{} packets unsettled after 20 minutes", left.len()));
        }
        tokio::time::sleep(knobs.block / 5).await;
        left.retain(|(from_a, p)| has_commitment(if *from_a { a } else { b }, p));
    }
    let settle = t0.elapsed();
    for (token, task) in running {
        token.cancel();
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("an instance failed: {e}")),
            Err(e) => return Err(format!("an instance panicked: {e}")),
        }
    }
    let fees = before.saturating_sub(balances()?);

    let signers_a: Vec<&str> = instances.iter().map(|i| i.address[0].as_str()).collect();
    let signers_b: Vec<&str> = instances.iter().map(|i| i.address[1].as_str()).collect();
    let (txs_a, up_a, red_a, part_a) = tx_counts(a, from_a, &signers_a);
    let (txs_b, up_b, red_b, part_b) = tx_counts(b, from_b, &signers_b);
    let txs = txs_a + txs_b;
    let mut latency = latencies(a, b, &path.channel_a, (from_a, from_b));
    latency.extend(latencies(b, a, &path.channel_b, (from_b, from_a)));
    latency.sort_unstable();
    let _ = std::fs::remove_dir_all(&root);
    Ok(serde_json::json!({
        "instances": n,
        "packets": sent.len(),
        "settle_s": settle.as_secs_f64(),
        "fees": fees,
        "txs": txs,
        "client_updates": up_a + up_b,
        "redundant_tx_share": (red_a + red_b) as f64 / txs.max(1) as f64,
        "partly_redundant_tx_share": (part_a + part_b) as f64 / txs.max(1) as f64,
        "refused_redundant_at_checktx":
            metric_sum("arke_txs_failed_total", Some(("cause", "redundant"))) - refused_before,
        "updates_borrowed": metric_sum("arke_client_updates_borrowed_total", None) - borrowed_before,
        "borrowed_updates_lost": metric_sum("arke_borrowed_updates_lost_total", None) - lost_before,
        "steps_taken_over": metric_sum("arke_steps_taken_over_total", None) - taken_before,
        "latency_blocks_p50": percentile(&latency, 0.5),
        "latency_blocks_p99": percentile(&latency, 0.99),
        "latency_blocks_max": latency.last().copied().unwrap_or(0),
    }))
}

async fn all(knobs: &Knobs) -> Result<Vec<serde_json::Value>, String> {
    let mut runs = Vec::new();
    for &n in &knobs.instances {
        eprintln!("racing_relayers: {n} instance(s)…");
        runs.push(run(knobs, n).await?);
    }
    Ok(runs)
}

fn main() {
    let knobs = Knobs::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("cannot start the runtime: {e}");
            std::process::exit(1)
        });
    let mut runs = match runtime.block_on(all(&knobs)) {
        Ok(runs) => runs,
        Err(e) => {
            eprintln!("racing_relayers: {e}");
            std::process::exit(1);
        }
    };
    // Fees against the first count's (one instance, by default).
    let base = runs.first().and_then(|r| r["fees"].as_f64()).unwrap_or(0.0);
    for r in &mut runs {
        let fees = r["fees"].as_f64().unwrap_or(0.0);
        r["fees_ratio"] = serde_json::json!(if base > 0.0 { fees / base } else { 0.0 });
    }
    println!("\nracing_relayers");
    println!(
        "| instances | fees | × first | txs | client updates | redundant txs | partly redundant | refused at CheckTx | updates borrowed | borrowed lost | taken over | latency p50 | p99 | max |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &runs {
        println!(
            "| {} | {} | {:.3} | {} | {} | {:.1} % | {:.1} % | {} | {} | {} | {} | {} | {} | {} |",
            r["instances"],
            r["fees"],
            r["fees_ratio"].as_f64().unwrap_or(0.0),
            r["txs"],
            r["client_updates"],
            r["redundant_tx_share"].as_f64().unwrap_or(0.0) * 100.0,
            r["partly_redundant_tx_share"].as_f64().unwrap_or(0.0) * 100.0,
            r["refused_redundant_at_checktx"],
            r["updates_borrowed"],
            r["borrowed_updates_lost"],
            r["steps_taken_over"],
            r["latency_blocks_p50"],
            r["latency_blocks_p99"],
            r["latency_blocks_max"],
        );
    }
    println!(
        "{}",
        serde_json::json!({
            "bench": "racing_relayers",
            "waves": knobs.waves,
            "per_wave": knobs.per_wave,
            "block_ms": knobs.block.as_millis() as u64,
            "backup_delay": knobs.backup_delay,
            "runs": runs,
        })
    );
}
