//! End-to-end throughput and cost of the relayer: two devnets, the daemon in-process on its own
//! runtime (so its CPU time can be read apart from the chains'), and a burst of transfers each
//! way, every tx of the burst broadcast at once. Knobs (environment):
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `ARKE_BENCH_PACKETS` | 1000 | transfers each way, spread over the channels |
//! | `ARKE_BENCH_BLOCK_MS` | 500 | block time of both devnets |
//! | `ARKE_BENCH_CHANNELS` | 1 | ICS-20 channels on the one connection |
//! | `ARKE_BENCH_RPC_LATENCY_MS` | 0 | the devnets' `rpc_latency` (each RPC answer delayed so) |
//!
//! Prints packets settled per second (received and acknowledged), the time and blocks to settle
//! the burst, the relayer's RPC requests, CPU time and fees per packet, and send→receive latency
//! in blocks (p50, p99, from block times), as a table and as one JSON line. Run with
//! `cargo bench --bench relay_throughput`.

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
use cosmos::Coin;
use devnet::harness::{
    block_events, has_commitment, packet_from_event, transfer_msg_on, TestChain,
};
use devnet::testing::{open_channels, ConnectedChains};
use devnet::DevnetConfig;
use ibc_proto::ibc::core::channel::v1::Packet;
use tokio_util::sync::CancellationToken;

/// Name of the relayer runtime's threads (their CPU time is the relayer's).
const RELAYER_THREADS: &str = "arke-relay";

/// Transfers per tx of the burst.
const PER_TX: usize = 100;

/// Gas price the relayer pays, so that fees are measured.
const GAS_PRICE: &str = "0.01";

struct Knobs {
    packets: usize,
    block: Duration,
    channels: usize,
    rpc_latency: Duration,
}

impl Knobs {
    fn from_env() -> Self {
        Self {
            packets: knob("ARKE_BENCH_PACKETS", 1000) as usize,
            block: Duration::from_millis(knob("ARKE_BENCH_BLOCK_MS", 500).max(10)),
            channels: knob("ARKE_BENCH_CHANNELS", 1).max(1) as usize,
            rpc_latency: Duration::from_millis(knob("ARKE_BENCH_RPC_LATENCY_MS", 0)),
        }
    }
}

/// CPU time (user + system) of this process's threads named `name`.
fn threads_cpu(name: &str) -> Duration {
    let ticks_per_s = 100.0; // USER_HZ on Linux
    let mut ticks = 0u64;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // "tid (comm) state …": the fields after the closing parenthesis, utime is the 12th.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if &stat[open + 1..close] != name {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let field = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        ticks += field(11) + field(12);
    }
    Duration::from_secs_f64(ticks as f64 / ticks_per_s)
}

/// The relayer's JSON-RPC requests so far (this process's metric).
fn rpc_requests() -> f64 {
    arke::telemetry::metrics_text()
        .lines()
        .filter(|l| l.starts_with("arke_rpc_requests_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// Signs `count` transfers from `src`'s user over `channel` into txs of [`PER_TX`] and
/// broadcasts them all at once (consecutive sequences), then waits for them in blocks.
async fn burst(
    src: &TestChain,
    dst: &TestChain,
    port: &str,
    channel: &str,
    count: usize,
) -> Result<Vec<Packet>, String> {
    let mut wallet = src.wallet(&src.user)?;
    let (sender, receiver) = (src.address(&src.user), dst.address(&dst.user));
    let timeout = dst.ibc_height(dst.node().latest_height() + 100_000);
    let mut hashes = Vec::new();
    let mut left = count;
    while left > 0 {
        let n = left.min(PER_TX);
        let msgs = (0..n)
            .map(|_| {
                let coin = Coin {
                    denom: "stake".into(),
                    amount: 1,
                };
                transfer_msg_on(port, &sender, &receiver, channel, &coin, Some(timeout), 0)
            })
            .collect();
        let raw = wallet.sign_tx(msgs, src.helper_fee(), devnet::harness::HELPER_GAS, "");
        hashes.push(cosmos::tx_hash(&raw));
        let check = src
            .node()
            .try_broadcast_tx(raw)
            .map_err(|e| format!("broadcast: {e}"))?;
        if check.code.value() != 0 {
            return Err(format!("burst tx refused: {}", check.log));
        }
        wallet.sequence += 1;
        left -= n;
    }
    let mut packets = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    for hash in hashes {
        let tx = loop {
            if let Some(tx) = src.node().tx(&hash) {
                break tx;
            }
            if Instant::now() > deadline {
                return Err("burst txs not committed".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        for e in events_of(&tx.result.events, "send_packet") {
            packets.push(packet_from_event(&e)?);
        }
    }
    Ok(packets)
}

/// Block time (ns) of each `(channel, sequence)` of `event` on `chain` (`attr` names the
/// channel attribute), for heights from `from`.
fn event_times(
    chain: &TestChain,
    from: u64,
    event: &str,
    attr: &str,
) -> BTreeMap<(String, u64), i128> {
    let mut times = BTreeMap::new();
    for e in block_events(chain, from, event) {
        let (Some(channel), Some(seq)) = (e.attrs.get(attr), e.attrs.get("packet_sequence")) else {
            continue;
        };
        if let Ok(seq) = seq.parse() {
            times.entry((channel.clone(), seq)).or_insert(e.time);
        }
    }
    times
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn run(
    knobs: &Knobs,
    relayer_rt: &tokio::runtime::Runtime,
) -> Result<serde_json::Value, String> {
    let config = |id: &str| {
        let mut c = DevnetConfig::for_tests(id);
        c.block_time = knobs.block;
        c.rpc_latency = knobs.rpc_latency;
        c
    };
    let chains = ConnectedChains::start_with(config("devnet-1"), config("devnet-2"), false).await?;
    let (a, b, path) = (&chains.a, &chains.b, &chains.path);
    let mut channels = vec![(path.channel_a.clone(), path.channel_b.clone())];
    channels.extend(open_channels(a, b, path, knobs.channels.saturating_sub(1)).await?);
    let dir = std::env::temp_dir().join(format!("arke-bench-{}", std::process::id()));
    let text = pair::pair_config_text(a, b, &dir, "")
        .replace("price = 0.0,", &format!("price = {GAS_PRICE},"));
    let config = arke::config::Config::from_toml_str(&text, &dir.join("pair.toml"))
        .map_err(|e| e.to_string())?;

    let relayer_balance = || -> Result<u128, String> {
        Ok(a.balance(&a.address(&a.relayer), "stake")?
            + b.balance(&b.address(&b.relayer), "stake")?)
    };
    let balance_before = relayer_balance()?;
    let state = DaemonState::new();
    let token = CancellationToken::new();
    let relayer = {
        let keys = PairKeys::new(a.relayer.clone(), b.relayer.clone());
        let options = RunOptions {
            state: Some(state.clone()),
            ..Default::default()
        };
        relayer_rt.spawn(supervisor::run_with(config, keys, token.clone(), options))
    };
    let started = Instant::now();
    while state.workers().len() < knobs.channels {
        if started.elapsed() > Duration::from_secs(120) {
            return Err("the relayer's workers did not start".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (from_a, from_b) = (a.node().latest_height(), b.node().latest_height());
    let cpu_before = threads_cpu(RELAYER_THREADS);
    let rpc_before = rpc_requests();
    let t0 = Instant::now();

    let per_channel = knobs.packets.div_ceil(knobs.channels);
    let mut sends = Vec::new();
    for (ca, cb) in &channels {
        sends.push(burst(a, b, &path.port, ca, per_channel));
        sends.push(burst(b, a, &path.port, cb, per_channel));
    }
    let sent: Vec<(bool, Packet)> = futures::future::try_join_all(sends)
        .await?
        .into_iter()
        .enumerate()
        .flat_map(|(i, ps)| ps.into_iter().map(move |p| (i % 2 == 0, p)))
        .collect();
    // Settled: no commitment left on either source.
    let mut left: Vec<&(bool, Packet)> = sent.iter().collect();
    while !left.is_empty() {
        if t0.elapsed() > Duration::from_secs(1800) {
            return Err(format!("{} packets unsettled after 30 minutes", left.len()));
        }
        tokio::time::sleep(knobs.block / 5).await;
        left.retain(|(from_a, p)| has_commitment(if *from_a { a } else { b }, p));
    }
    let settle = t0.elapsed();
    let cpu = threads_cpu(RELAYER_THREADS).saturating_sub(cpu_before);
    let rpc = rpc_requests() - rpc_before;
    let blocks = b.node().latest_height() - from_b;
    token.cancel();
    let _ = relayer.await;
    let fees = balance_before.saturating_sub(relayer_balance()?);

    // send→receive in blocks, both directions.
    let mut latency = Vec::new();
    for (src, dst, from_src, from_dst) in [(a, b, from_a, from_b), (b, a, from_b, from_a)] {
        let sent_at = event_times(src, from_src, "send_packet", "packet_src_channel");
        let received_at = event_times(dst, from_dst, "recv_packet", "packet_src_channel");
        for (key, s) in &sent_at {
            if let Some(r) = received_at.get(key) {
                latency.push((r - s) as f64 / knobs.block.as_nanos() as f64);
            }
        }
    }
    latency.sort_by(f64::total_cmp);
    let total = sent.len() as f64;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(serde_json::json!({
        "bench": "relay_throughput",
        "packets": sent.len(),
        "channels": knobs.channels,
        "block_ms": knobs.block.as_millis() as u64,
        "rpc_latency_ms": knobs.rpc_latency.as_millis() as u64,
        "settle_s": settle.as_secs_f64(),
        "settle_blocks": blocks,
        "packets_per_s": total / settle.as_secs_f64().max(1e-9),
        "rpc_requests_per_packet": rpc / total,
        "cpu_us_per_packet": cpu.as_secs_f64() * 1e6 / total,
        "fees_per_packet": fees as f64 / total,
        "latency_blocks_p50": percentile(&latency, 0.5),
        "latency_blocks_p99": percentile(&latency, 0.99),
    }))
}

fn main() {
    let knobs = Knobs::from_env();
    let runtime = |name: &str, threads: usize| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name(name)
            .enable_all()
            .build()
            .unwrap_or_else(|e| {
                eprintln!("cannot start the runtime: {e}");
                std::process::exit(1)
            })
    };
    let chains_rt = runtime("devnet", 2);
    let relayer_rt = runtime(RELAYER_THREADS, 2);
    match chains_rt.block_on(run(&knobs, &relayer_rt)) {
        Ok(result) => {
            println!("\nrelay_throughput");
            println!("| measure | value |\n|---|---|");
            if let Some(fields) = result.as_object() {
                for (k, v) in fields.iter().filter(|(k, _)| *k != "bench") {
                    match v.as_f64() {
                        Some(x) if x.fract() != 0.0 => println!("| {k} | {x:.3} |"),
                        _ => println!("| {k} | {v} |"),
                    }
                }
            }
            println!("{result}");
        }
        Err(e) => {
            eprintln!("relay_throughput: {e}");
            std::process::exit(1);
        }
    }
}
