//! Running it in production: `/metrics` after a relay (checked against a small parser of the
//! Prometheus text format), `/health` following a chain's RPC outage, `/state` and `/clear`, the
//! systemd readiness notification to a fake `NOTIFY_SOCKET`, reloading the pair file (an
//! added channel starts its worker, a broken file keeps the old config, a removed channel stops
//! only its worker), and `arke start` as a process with its output piped: `arke_chain_up`
//! follows a chain that stops and comes back without anyone asking `/health`, and the log has
//! no colour escapes. Two devnets on loopback per test.

#[allow(unused_imports)]
mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arke::config::Config;
use arke::relay::reload::reload_channel;
use arke::relay::supervisor::{self, PairKeys, RunOptions};
use arke::telemetry::notify::Notifier;
use arke::telemetry::state::DaemonState;
use support::{Harness, BLOCK};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const SETTLE: Duration = Duration::from_secs(180);

/// A free loopback port (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Daemon {
    token: CancellationToken,
    task: JoinHandle<()>,
}

impl Daemon {
    fn start(h: &Harness, config: Config, options: RunOptions) -> Self {
        let token = CancellationToken::new();
        let keys = PairKeys::new(h.chains.a.relayer.clone(), h.chains.b.relayer.clone());
        let t = token.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = supervisor::run_with(config, keys, t, options).await {
                panic!("relayer failed: {e}");
            }
        });
        Self { token, task }
    }

    async fn stop(self) {
        self.token.cancel();
        let _ = self.task.await;
    }
}

fn with_telemetry(h: &Harness) -> (Config, String) {
    let mut config = h.config.clone();
    config.telemetry.enabled = true;
    config.telemetry.port = free_port();
    let base = format!("http://127.0.0.1:{}", config.telemetry.port);
    (config, base)
}

async fn get(url: &str) -> Option<(u16, String)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .ok()?;
    let r = client.get(url).send().await.ok()?;
    let status = r.status().as_u16();
    Some((status, r.text().await.ok()?))
}

async fn post(url: &str) -> Option<(u16, String)> {
    let r = reqwest::Client::new().post(url).send().await.ok()?;
    let status = r.status().as_u16();
    Some((status, r.text().await.ok()?))
}

/// Polls `url` until it answers `status`; returns the body.
async fn wait_for_status(url: &str, status: u16, timeout: Duration) -> String {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let got = get(url).await;
        if let Some((s, body)) = &got {
            if *s == status {
                return body.clone();
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url} did not answer {status} within {timeout:?}; last: {got:?}"
        );
        tokio::time::sleep(BLOCK).await;
    }
}

// ───────────────────────── a small parser of the text format 0.0.4 ─────────────────────────

type Labels = BTreeMap<String, String>;

/// Every sample of a text-format exposition, keyed by (sample name, labels). Panics with the line
/// on anything the format does not allow, and checks what Prometheus relies on: HELP and TYPE
/// once per family and before its samples, counters named `_total`, histograms with cumulative
/// `le` buckets ending in `+Inf` equal to `_count`.
fn parse_exposition(text: &str) -> HashMap<(String, Labels), f64> {
    fn valid_name(n: &str) -> bool {
        let mut chars = n.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    fn parse_value(v: &str) -> Option<f64> {
        match v {
            "+Inf" => Some(f64::INFINITY),
            "-Inf" => Some(f64::NEG_INFINITY),
            "NaN" => Some(f64::NAN),
            _ => v.parse().ok(),
        }
    }
    fn parse_labels(s: &str, line: &str) -> (Labels, usize) {
        // `s` starts just after `{`; returns the labels and the bytes consumed including `}`.
        let mut labels = Labels::new();
        let bytes: Vec<char> = s.chars().collect();
        let mut i = 0;
        loop {
            if bytes.get(i) == Some(&'}') {
                return (labels, i + 1);
            }
            let start = i;
            while bytes.get(i).is_some_and(|c| *c != '=') {
                i += 1;
            }
            let name: String = bytes[start..i].iter().collect();
            assert!(valid_name(&name), "bad label name {name:?} in {line:?}");
            assert_eq!(
                bytes.get(i + 1),
                Some(&'"'),
                "label value not quoted in {line:?}"
            );
            i += 2;
            let mut value = String::new();
            loop {
                match bytes.get(i) {
                    Some('\\') => {
                        match bytes.get(i + 1) {
                            Some('n') => value.push('\n'),
                            Some('\\') => value.push('\\'),
                            Some('"') => value.push('"'),
                            other => panic!("bad escape {other:?} in {line:?}"),
                        }
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        value.push(*c);
                        i += 1;
                    }
                    None => panic!("unterminated label value in {line:?}"),
                }
            }
            assert!(
                labels.insert(name.clone(), value).is_none(),
                "label {name} repeated in {line:?}"
            );
            match bytes.get(i) {
                Some(',') => i += 1,
                Some('}') => {}
                other => panic!("unexpected {other:?} after a label in {line:?}"),
            }
        }
    }

    let mut types: HashMap<String, String> = HashMap::new();
    let mut helps: HashMap<String, ()> = HashMap::new();
    let mut samples = HashMap::new();
    assert!(text.ends_with('\n'), "exposition must end with a newline");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default();
            assert!(valid_name(name), "bad HELP line {line:?}");
            assert!(
                helps.insert(name.to_string(), ()).is_none(),
                "HELP twice: {line:?}"
            );
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap_or_default();
            let kind = parts.next().unwrap_or_default();
            assert!(valid_name(name), "bad TYPE line {line:?}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "bad type in {line:?}"
            );
            assert!(parts.next().is_none(), "trailing text in {line:?}");
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "TYPE twice: {line:?}"
            );
            continue;
        }
        assert!(
            !line.starts_with('#') || line.starts_with("# "),
            "bad comment {line:?}"
        );
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let name_end = line
            .find(['{', ' '])
            .unwrap_or_else(|| panic!("no value in {line:?}"));
        let name = &line[..name_end];
        assert!(valid_name(name), "bad metric name in {line:?}");
        let (labels, rest) = if line[name_end..].starts_with('{') {
            let (labels, used) = parse_labels(&line[name_end + 1..], line);
            let consumed: usize = line[name_end + 1..]
                .chars()
                .take(used)
                .map(char::len_utf8)
                .sum();
            (labels, &line[name_end + 1 + consumed..])
        } else {
            (Labels::new(), &line[name_end..])
        };
        let mut fields = rest.trim_start_matches(' ').split(' ');
        let value = fields
            .next()
            .and_then(parse_value)
            .unwrap_or_else(|| panic!("bad value in {line:?}"));
        if let Some(ts) = fields.next() {
            assert!(ts.parse::<i64>().is_ok(), "bad timestamp in {line:?}");
        }
        // The family this sample belongs to, and what its type allows.
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        let kind = types
            .get(family)
            .unwrap_or_else(|| panic!("sample before its TYPE: {line:?}"));
        assert!(helps.contains_key(family), "sample without HELP: {line:?}");
        match kind.as_str() {
            "counter" => {
                assert!(name.ends_with("_total"), "counter without _total: {line:?}");
                assert!(value >= 0.0, "negative counter: {line:?}");
            }
            "histogram" => {
                assert_ne!(family, name, "bare histogram sample: {line:?}");
                assert_eq!(
                    name.ends_with("_bucket"),
                    labels.contains_key("le"),
                    "le only on buckets: {line:?}"
                );
            }
            _ => {}
        }
        assert!(
            samples.insert((name.to_string(), labels), value).is_none(),
            "sample repeated: {line:?}"
        );
    }
    // Histogram buckets: cumulative, and +Inf equals _count.
    let mut series: BTreeMap<(String, Labels), Vec<(f64, f64)>> = BTreeMap::new();
    for ((name, labels), v) in &samples {
        if let Some(family) = name.strip_suffix("_bucket") {
            let mut rest = labels.clone();
            let le = rest.remove("le").and_then(|l| parse_value(&l)).expect("le");
            series
                .entry((family.to_string(), rest))
                .or_default()
                .push((le, *v));
        }
    }
    for ((family, labels), mut buckets) in series {
        buckets.sort_by(|x, y| x.0.total_cmp(&y.0));
        assert!(
            buckets.windows(2).all(|w| w[0].1 <= w[1].1),
            "{family} {labels:?}: buckets not cumulative"
        );
        let last = buckets.last().expect("a bucket");
        assert_eq!(last.0, f64::INFINITY, "{family}: no +Inf bucket");
        let count = samples
            .get(&(format!("{family}_count"), labels.clone()))
            .expect("_count");
        assert_eq!(last.1, *count, "{family} {labels:?}: +Inf bucket != _count");
        assert!(
            samples.contains_key(&(format!("{family}_sum"), labels.clone())),
            "{family}: no _sum"
        );
    }
    samples
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn value(samples: &HashMap<(String, Labels), f64>, name: &str, l: &[(&str, &str)]) -> f64 {
    samples
        .get(&(name.to_string(), labels(l)))
        .copied()
        .unwrap_or(0.0)
}

#[test]
fn the_parser_rejects_what_prometheus_rejects() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\"} 1\n";
    assert_eq!(parse_exposition(good).len(), 1);
    for bad in [
        "a_total 1\n",
        "# HELP a A.\n# TYPE a counter\na 1\n",
        "# HELP a A.\n# TYPE a gauge\na{x=1} 1\n",
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
    ] {
        assert!(
            std::panic::catch_unwind(|| parse_exposition(bad)).is_err(),
            "accepted {bad:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_show_a_relay_of_n_packets() {
    const N: usize = 20;
    let h = Harness::new(false, "").await;
    let (config, base) = with_telemetry(&h);
    let daemon = Daemon::start(&h, config, RunOptions::default());
    wait_for_status(&format!("{base}/health"), 200, Duration::from_secs(60)).await;

    let packets = h.send_transfers(true, N, 1, 10, 10_000).await;
    h.wait_all_settled(true, &packets, SETTLE).await;

    let (a, b) = (h.chains.a.devnet.chain_id(), h.chains.b.devnet.chain_id());
    let channel = h.chains.path.channel_a.clone();
    let l = [
        ("chain", a),
        ("counterparty", b),
        ("port", "transfer"),
        ("channel", channel.as_str()),
    ];
    // Acks are counted when their tx is confirmed, a poll after the commitment is gone.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let samples = loop {
        let (status, text) = get(&format!("{base}/metrics"))
            .await
            .expect("/metrics answers");
        assert_eq!(status, 200);
        if std::env::var_os("ARKE_PRINT_METRICS").is_some() {
            eprintln!("{text}");
        }
        let samples = parse_exposition(&text);
        if value(&samples, "arke_packets_acked_total", &l) as usize >= N
            || tokio::time::Instant::now() > deadline
        {
            break samples;
        }
        tokio::time::sleep(BLOCK).await;
    };
    let sent = {
        let mut e = l.to_vec();
        e.push(("event", "send_packet"));
        value(&samples, "arke_packets_observed_total", &e)
    };
    assert_eq!(sent as usize, N, "send_packet events observed");
    assert_eq!(
        value(&samples, "arke_packets_relayed_total", &l) as usize,
        N
    );
    assert_eq!(value(&samples, "arke_packets_acked_total", &l) as usize, N);
    assert_eq!(value(&samples, "arke_packets_timed_out_total", &l), 0.0);
    let received = value(&samples, "arke_packet_receive_latency_seconds_count", &l);
    assert!(received >= 1.0, "send→receive latency histogram is empty");
    assert!(value(&samples, "arke_packet_receive_latency_seconds_sum", &l) > 0.0);
    let tx_labels = [("chain", b), ("counterparty", a)];
    assert!(value(&samples, "arke_txs_confirmed_total", &tx_labels) >= 1.0);
    assert!(value(&samples, "arke_tx_confirmation_seconds_count", &tx_labels) >= 1.0);
    assert!(value(&samples, "arke_txs_submitted_total", &tx_labels) >= 1.0);
    assert!(
        samples.keys().any(|(n, _)| n == "arke_rpc_requests_total"),
        "RPC requests are counted"
    );
    assert!(samples
        .keys()
        .any(|(n, _)| n == "arke_rpc_semaphore_wait_seconds_count"));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_follows_rpc_outage_and_state_clear_and_readiness_work() {
    let h = Harness::new(false, "").await;
    let (config, base) = with_telemetry(&h);
    // A fake systemd: the daemon must say READY=1 once its workers run.
    let socket_dir = h.dir.join("systemd");
    std::fs::create_dir_all(&socket_dir).expect("socket dir");
    let socket_path = socket_dir.join("notify.sock");
    let systemd = tokio::net::UnixDatagram::bind(&socket_path).expect("bind notify socket");
    let state = DaemonState::new();
    let options = RunOptions {
        notifier: Some(Notifier::new(socket_path.to_string_lossy().into_owned())),
        state: Some(state.clone()),
        ..Default::default()
    };
    let daemon = Daemon::start(&h, config, options);

    let mut buf = [0u8; 512];
    let len = tokio::time::timeout(Duration::from_secs(60), systemd.recv(&mut buf))
        .await
        .expect("a notification within 60 s")
        .expect("datagram");
    let ready = String::from_utf8_lossy(&buf[..len]).into_owned();
    assert!(ready.starts_with("READY=1\n"), "{ready:?}");
    assert!(
        !state.workers().is_empty(),
        "READY=1 is sent once the workers run"
    );

    let health = format!("{base}/health");
    let body = wait_for_status(&health, 200, Duration::from_secs(60)).await;
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(json["status"], "ok");

    // Chain A's RPC fails: 503 naming it; then it recovers: 200 again.
    h.chains
        .a
        .node()
        .faults()
        .fail_rpc_for(Duration::from_secs(4));
    let (status, body) = get(&health).await.expect("/health answers");
    assert_eq!(status, 503, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(json["status"], "unavailable");
    let a_id = h.chains.a.devnet.chain_id().to_string();
    assert!(
        json["reasons"].as_array().is_some_and(|r| r
            .iter()
            .any(|r| r.as_str().is_some_and(|r| r.contains(&a_id)))),
        "{body}"
    );
    wait_for_status(&health, 200, Duration::from_secs(60)).await;

    // /state lists the chains and the worker.
    let (status, body) = get(&format!("{base}/state")).await.expect("/state answers");
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(json["chains"].as_array().map(Vec::len), Some(2));
    let channel = h.chains.path.channel_a.clone();
    assert_eq!(json["workers"][0]["a"]["channel"], channel.as_str());
    assert_eq!(json["workers"][0]["state"], "running");

    // POST /clear runs a clearing round in that channel's worker (its backlog appears).
    let (status, body) = post(&format!("{base}/clear?channel={channel}"))
        .await
        .expect("/clear answers");
    assert_eq!(status, 202, "{body}");
    let (status, _) = post(&format!("{base}/clear?channel=channel-99"))
        .await
        .expect("/clear answers");
    assert_eq!(status, 404);
    let (status, _) = post(&format!("{base}/clear"))
        .await
        .expect("/clear answers");
    assert_eq!(status, 400);

    daemon.stop().await;
    // STOPPING=1 on shutdown (after any READY=1 / reload lines).
    let mut stopping = false;
    while let Ok(Ok(len)) =
        tokio::time::timeout(Duration::from_millis(200), systemd.recv(&mut buf)).await
    {
        stopping |= buf[..len].starts_with(b"STOPPING=1");
    }
    assert!(stopping, "STOPPING=1 sent on shutdown");
}

/// The harness's pair file with `[relay] channels = …`, written where the config says it lives.
fn write_pair_file(h: &Harness, path: &Path, channels: &str) {
    let c = &h.chains;
    let text = support::pair_config_text(&c.a, &c.b, &h.dir, &format!("channels = {channels}"));
    std::fs::write(path, text).expect("write the pair file");
}

async fn wait_for_workers(state: &Arc<DaemonState>, want: &[String]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got: Vec<String> = state.workers().keys().cloned().collect();
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "workers {got:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reload_starts_added_channels_and_keeps_the_old_config_on_errors() {
    let h = Harness::new(false, "").await;
    let c = &h.chains;
    // A second channel on the same connection.
    let (second_a, _) = c.open_another_channel().await.expect("a second channel");
    let first_a = c.path.channel_a.clone();
    let first = format!("transfer/{first_a}");
    let second = format!("transfer/{second_a}");
    let only = |ch: &str| format!(r#"{{ policy = "allow", list = [["transfer", "{ch}"]] }}"#);

    let path = h.dir.join("reload.toml");
    write_pair_file(&h, &path, &only(&first_a));
    let config = Config::load(&path).expect("valid pair file");
    let state = DaemonState::new();
    let (reloader, reloads) = reload_channel();
    let daemon = Daemon::start(
        &h,
        config,
        RunOptions {
            reload: Some(reloads),
            state: Some(state.clone()),
            ..Default::default()
        },
    );
    wait_for_workers(&state, std::slice::from_ref(&first)).await;
    let first_since = state.workers()[&first].since;

    // Add the second channel: its worker starts, the first one keeps running.
    write_pair_file(
        &h,
        &path,
        r#"{ policy = "allow", list = [["transfer", "channel-*"]] }"#,
    );
    let report = reloader.reload().await.expect("reload applied");
    assert_eq!(report.started, vec![second.clone()]);
    assert!(report.stopped.is_empty(), "{report:?}");
    assert!(report.ignored.is_empty(), "{report:?}");
    wait_for_workers(&state, &[first.clone(), second.clone()]).await;
    let workers = state.workers();
    assert_eq!(
        workers[&first].since, first_since,
        "the first worker was not restarted"
    );
    assert_eq!(workers[&first].restarts, 0);

    // A broken file is rejected; everything keeps running.
    std::fs::write(&path, "[relay]\nclear_interval = \"often\"\n").expect("write");
    let err = reloader.reload().await.expect_err("broken file rejected");
    assert!(err.contains("reload.toml"), "{err}");
    tokio::time::sleep(BLOCK * 2).await;
    wait_for_workers(&state, &[first.clone(), second.clone()]).await;

    // Dropping the first channel stops only its worker.
    write_pair_file(&h, &path, &only(&second_a));
    let report = reloader.reload().await.expect("reload applied");
    assert_eq!(report.stopped, vec![first.clone()]);
    assert!(report.started.is_empty(), "{report:?}");
    wait_for_workers(&state, std::slice::from_ref(&second)).await;
    assert_eq!(state.workers()[&second].restarts, 0);
    daemon.stop().await;
}

// ─────────────────────────── `arke start` as an operator runs it ───────────────────────────

/// Fixed BIP-39 test mnemonics (test accounts only).
const MNEMONIC_A: &str = "ready kind exist alpha route bamboo village enact aisle very similar toddler possible name rate believe gain sniff crucial soon title enhance wagon slow";
const MNEMONIC_B: &str = "perfect wear suggest cactus else lyrics shoot hub garlic violin wash tragic clump middle high holiday patrol load describe skull clean tuition since bulk";

/// `arke_chain_up{chain=…}` in the exposition at `base`, if the series exists.
async fn chain_up(base: &str, chain: &str) -> Option<f64> {
    let (status, text) = get(&format!("{base}/metrics")).await?;
    assert_eq!(status, 200, "{text}");
    parse_exposition(&text)
        .get(&("arke_chain_up".to_string(), labels(&[("chain", chain)])))
        .copied()
}

/// Polls `/metrics` until `arke_chain_up{chain}` is `want`.
async fn wait_chain_up(base: &str, chain: &str, want: f64, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let got = chain_up(base, chain).await;
        if got == Some(want) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "arke_chain_up{{chain={chain:?}}} is {got:?}, not {want}, after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_up_follows_a_stopped_chain_and_the_piped_log_has_no_colours() {
    let dir = support::TempDir::new("chainup");
    let mut chains = Vec::new();
    for (id, mnemonic) in [("devnet-1", MNEMONIC_A), ("devnet-2", MNEMONIC_B)] {
        let mut config = devnet::DevnetConfig::for_tests(id);
        config.block_time = BLOCK;
        let config = config
            .with_mnemonic_account(
                "relayer",
                mnemonic,
                vec![cosmos::Coin::new("stake", 1_000_000_000)],
            )
            .expect("genesis account");
        chains.push(devnet::Devnet::start(config).await.expect("devnet starts"));
    }
    let keys = dir.path().join("keys");
    let port = free_port();
    let mut text = String::new();
    for (label, (devnet, mnemonic)) in ["a", "b"]
        .iter()
        .zip(chains.iter().zip([MNEMONIC_A, MNEMONIC_B]))
    {
        let file = dir.write(&format!("{label}.mnemonic"), mnemonic);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_arke"))
            .args([
                "keys",
                "add",
                &format!("relayer-{label}"),
                "--mnemonic-file",
            ])
            .arg(&file)
            .arg("--key-store")
            .arg(&keys)
            .output()
            .expect("run arke keys add");
        assert!(out.status.success(), "{}", support::stderr(&out));
        text.push_str(&format!(
            "[chains.{label}]\nid = \"{}\"\nrpc_addr = \"{}\"\naccount_prefix = \"cosmos\"\n\
             key_name = \"relayer-{label}\"\nkey_store_folder = \"{}\"\n\
             gas_price = {{ price = 0.0, denom = \"stake\" }}\nrpc_timeout = \"2s\"\n\n",
            devnet.chain_id(),
            devnet.rpc_url(),
            keys.display()
        ));
    }
    text.push_str(&format!("[telemetry]\nenabled = true\nport = {port}\n"));
    let config = dir.write("pair.toml", &text);

    // Output piped, as under a supervisor that is not systemd or into a log file; a colour
    // terminal type in the environment must not matter.
    let mut daemon = std::process::Command::new(env!("CARGO_BIN_EXE_arke"))
        .arg("start")
        .arg("--config")
        .arg(&config)
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .env_remove("JOURNAL_STREAM")
        .env_remove("NOTIFY_SOCKET")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("arke start");
    // Both streams are drained on threads so that a full pipe never blocks the daemon.
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = r.read_to_end(&mut bytes);
            bytes
        })
    };
    let stderr = drain(Box::new(daemon.stderr.take().expect("stderr")));
    let stdout = drain(Box::new(daemon.stdout.take().expect("stdout")));

    // No request to /health in this test: only the sampler can move the gauge.
    let base = format!("http://127.0.0.1:{port}");
    let (a, b) = (
        chains[0].chain_id().to_string(),
        chains[1].chain_id().to_string(),
    );
    wait_chain_up(&base, &a, 1.0, Duration::from_secs(60)).await;
    wait_chain_up(&base, &b, 1.0, Duration::from_secs(60)).await;

    chains[0].stop().await;
    wait_chain_up(&base, &a, 0.0, Duration::from_secs(60)).await;
    assert_eq!(
        chain_up(&base, &b).await,
        Some(1.0),
        "chain b still answers"
    );

    chains[0].restart().await.expect("devnet-1 restarts");
    wait_chain_up(&base, &a, 1.0, Duration::from_secs(60)).await;

    // Stop it as systemd would (SIGTERM), then read everything it wrote.
    let pid = daemon.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || daemon.wait())
        .await
        .expect("join")
        .expect("wait");
    let log = stderr.join().expect("stderr thread");
    let out = stdout.join().expect("stdout thread");
    let text = String::from_utf8_lossy(&log);
    assert!(status.success(), "exit {status:?}\n{text}");
    assert!(text.contains("relayer started"), "{text}");
    assert!(
        !log.contains(&0x1b) && !out.contains(&0x1b),
        "escape bytes in piped output:\n{text}"
    );
}
