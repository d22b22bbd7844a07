//! What an idle daemon costs, by channel count: two devnets (500 ms blocks), N open ICS-20
//! channels on one connection and nothing to relay, the `arke start` process against them. Once
//! every channel's worker runs and has cleared once, it counts for a window (default 60 s) the
//! JSON-RPC requests the daemon sent to each chain (its own `arke_rpc_requests_total`, scraped
//! from `/metrics`), its CPU time (`/proc/PID/stat`) and, at the end, its RSS.
//!
//! Knobs: `ARKE_IDLE_CHANNELS` (comma-separated counts, default `1,100,1000`),
//! `ARKE_IDLE_SECONDS` (the window), `ARKE_IDLE_BLOCK_MS` (block time). Prints a table and one
//! JSON line. Run by hand: `cargo bench --bench idle_cost`.

use std::path::Path;
use std::time::{Duration, Instant};

use devnet::testing::{open_channels, ConnectedChains};
use devnet::DevnetConfig;

/// A fixed BIP-39 test mnemonic: the daemon's key (it signs nothing while idle).
const MNEMONIC: &str = "ready kind exist alpha route bamboo village enact aisle very similar toddler possible name rate believe gain sniff crucial soon title enhance wagon slow";

/// Bound on start-up (devnets, channels, daemon, first clearing of every channel).
const START_LIMIT: Duration = Duration::from_secs(900);

struct Sample {
    channels: usize,
    requests_per_s: [f64; 2],
    cpu_share: f64,
    rss_mb: f64,
    seconds: f64,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// The samples of `family` in a Prometheus text body: (labels, value).
fn samples<'a>(text: &'a str, family: &'a str) -> impl Iterator<Item = (&'a str, f64)> + 'a {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(move |l| {
            let (series, value) = l.rsplit_once(' ')?;
            let labels = series.strip_prefix(family)?.strip_prefix('{')?;
            Some((labels, value.parse().ok()?))
        })
}

/// Requests sent to the endpoint whose label contains `host` (`127.0.0.1:PORT`).
fn requests(text: &str, host: &str) -> f64 {
    samples(text, "arke_rpc_requests_total")
        .filter(|(l, _)| l.contains(host))
        .map(|(_, v)| v)
        .sum()
}

/// Channel ends of `chain` cleared at least once (both packet and ack clearing ran).
fn cleared(text: &str, chain: &str) -> usize {
    let chain = format!("chain=\"{chain}\"");
    samples(text, "arke_backlog_pending")
        .filter(|(l, _)| l.contains(&chain) && l.contains("kind=\"ack\""))
        .count()
}

/// Workers running.
fn workers(text: &str) -> usize {
    samples(text, "arke_worker_up")
        .filter(|(_, v)| *v == 1.0)
        .count()
}

/// CPU time (user + system) of process `pid` so far.
fn cpu_time(pid: u32) -> Result<Duration, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or("unexpected /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<u64, String> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("/proc/{pid}/stat field {i}"))
    };
    // utime and stime are fields 14 and 15 of the line, 11 and 12 after the name.
    let total = ticks(11)? + ticks(12)?;
    // The kernel's USER_HZ is 100 on every Linux this runs on.
    Ok(Duration::from_millis(total * 10))
}

/// Resident set size of process `pid`, in MB.
fn rss_mb(pid: u32) -> Result<f64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or("no VmRSS")?;
    Ok(kb / 1024.0)
}

async fn scrape(client: &reqwest::Client, port: u16) -> Result<String, String> {
    client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())
}

fn host_of(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

/// Kills the daemon when dropped (also when the bench fails half-way).
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn measure(
    channels: usize,
    window: Duration,
    block: Duration,
    dir: &Path,
) -> Result<Sample, String> {
    let config = |id: &str| {
        let mut c = DevnetConfig::for_tests(id);
        c.block_time = block;
        c
    };
    let chains = ConnectedChains::start_with(config("devnet-1"), config("devnet-2"), false).await?;
    let (a, b, path) = (&chains.a, &chains.b, &chains.path);
    if channels > 1 {
        open_channels(a, b, path, channels - 1).await?;
    }
    let keys = dir.join("keys");
    let mnemonic = dir.join("relayer.mnemonic");
    std::fs::write(&mnemonic, MNEMONIC).map_err(|e| e.to_string())?;
    let added = std::process::Command::new(env!("CARGO_BIN_EXE_arke"))
        .args(["keys", "add", "relayer", "--mnemonic-file"])
        .arg(&mnemonic)
        .arg("--key-store")
        .arg(&keys)
        .output()
        .map_err(|e| format!("arke keys add: {e}"))?;
    if !added.status.success() {
        return Err(String::from_utf8_lossy(&added.stderr).into_owned());
    }
    let port = free_port()?;
    let chain = |label: &str, chain: &devnet::harness::TestChain| {
        format!(
            "[chains.{label}]\nid = \"{}\"\nrpc_addr = \"{}\"\naccount_prefix = \"cosmos\"\n\
             key_name = \"relayer\"\nkey_store_folder = \"{}\"\n\
             gas_price = {{ price = 0.0, denom = \"stake\" }}\n\n",
            chain.devnet.chain_id(),
            chain.devnet.rpc_url(),
            keys.display()
        )
    };
    let text = format!(
        "{}{}[relay]\nstate_dir = \"{}\"\n\n[telemetry]\nenabled = true\nport = {port}\n",
        chain("a", a),
        chain("b", b),
        dir.join("state").display()
    );
    let config_path = dir.join("pair.toml");
    std::fs::write(&config_path, text).map_err(|e| e.to_string())?;
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_arke"))
        .arg("start")
        .arg("--config")
        .arg(&config_path)
        .env("RUST_LOG", "warn")
        .env_remove("NOTIFY_SOCKET")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("arke start: {e}"))?;
    let daemon = Daemon(child);
    let pid = daemon.0.id();

    let client = reqwest::Client::new();
    let (id_a, id_b) = (
        a.devnet.chain_id().to_string(),
        b.devnet.chain_id().to_string(),
    );
    let deadline = Instant::now() + START_LIMIT;
    loop {
        if let Ok(m) = scrape(&client, port).await {
            if workers(&m) >= channels
                && cleared(&m, &id_a) >= channels
                && cleared(&m, &id_b) >= channels
            {
                break;
            }
        }
        if Instant::now() > deadline {
            return Err(format!("{channels} channels: start-up did not settle"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Let the last start-up round's requests finish.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let hosts = [host_of(&a.devnet.rpc_url()), host_of(&b.devnet.rpc_url())];
    let first = scrape(&client, port).await?;
    let cpu_before = cpu_time(pid)?;
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let last = scrape(&client, port).await?;
    let cpu = cpu_time(pid)? - cpu_before;
    let seconds = started.elapsed().as_secs_f64();
    let rate = |i: usize| (requests(&last, &hosts[i]) - requests(&first, &hosts[i])) / seconds;
    Ok(Sample {
        channels,
        requests_per_s: [rate(0), rate(1)],
        cpu_share: cpu.as_secs_f64() / seconds,
        rss_mb: rss_mb(pid)?,
        seconds,
    })
}

fn main() {
    let counts: Vec<usize> = std::env::var("ARKE_IDLE_CHANNELS")
        .unwrap_or_else(|_| "1,100,1000".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .filter(|c| *c > 0)
        .collect();
    let window = Duration::from_secs(env_or("ARKE_IDLE_SECONDS", 60u64));
    let block = Duration::from_millis(env_or("ARKE_IDLE_BLOCK_MS", 500u64));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let mut results = Vec::new();
    for &channels in &counts {
        let dir =
            std::env::temp_dir().join(format!("arke-bench-idle-{}-{channels}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("{}: {e}", dir.display());
            std::process::exit(1);
        }
        eprintln!("idle_cost: {channels} channels...");
        let sample = runtime.block_on(measure(channels, window, block, &dir));
        let _ = std::fs::remove_dir_all(&dir);
        match sample {
            Ok(s) => results.push(s),
            Err(e) => {
                eprintln!("idle_cost: {channels} channels: {e}");
                std::process::exit(1);
            }
        }
    }
    println!(
        "\nidle_cost ({} s window, {} ms blocks)",
        window.as_secs(),
        block.as_millis()
    );
    println!(
        "{:>9} {:>14} {:>14} {:>10} {:>9}",
        "channels", "req/s chain A", "req/s chain B", "CPU %", "RSS MB"
    );
    for s in &results {
        println!(
            "{:>9} {:>14.2} {:>14.2} {:>10.2} {:>9.1}",
            s.channels,
            s.requests_per_s[0],
            s.requests_per_s[1],
            s.cpu_share * 100.0,
            s.rss_mb
        );
    }
    let runs: Vec<serde_json::Value> = results
        .iter()
        .map(|s| {
            serde_json::json!({
                "channels": s.channels,
                "requests_per_second": { "a": s.requests_per_s[0], "b": s.requests_per_s[1] },
                "cpu_share": s.cpu_share,
                "rss_mb": s.rss_mb,
                "seconds": s.seconds,
            })
        })
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "bench": "idle_cost",
            "block_ms": block.as_millis() as u64,
            "window_s": window.as_secs(),
            "runs": runs,
        })
    );
}
