//! The endpoint layer against real devnets on loopback: relaying over `https://` and `wss://`
//! with a test CA in `ca_file` (and a clear TLS error on `/health` without it); failover from a
//! preferred endpoint that stops answering mid-stream to a backup of the same chain and back;
//! and a daemon started while both chains are down that waits (saying why on `/health` and in
//! `STATUS=`), exits cleanly when stopped meanwhile, and relays once the chains are up.

#[allow(unused_imports)]
mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arke::config::Config;
use arke::relay::supervisor::{self, PairKeys, RunOptions, SupervisorError};
use arke::telemetry::notify::Notifier;
use cosmos::Coin;
use devnet::harness::TestChain;
use devnet::testing::{create_client, open_channel, open_connection, ChannelPath, ConnectedChains};
use devnet::{Devnet, DevnetConfig};
use serde_json::Value;
use support::{pair_config_text, scratch_dir, Harness, BLOCK};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const SETTLE: Duration = Duration::from_secs(120);
const WAIT: Duration = Duration::from_secs(60);

/// A free loopback port (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The daemon run in-process with telemetry on a free port.
struct Daemon {
    token: CancellationToken,
    task: JoinHandle<Result<(), SupervisorError>>,
    base: String,
}

/// The relayer keys of `chains`.
fn keys(chains: &ConnectedChains) -> PairKeys {
    PairKeys::new(chains.a.relayer.clone(), chains.b.relayer.clone())
}

impl Daemon {
    fn start(mut config: Config, keys: PairKeys, notifier: Option<Notifier>) -> Self {
        config.telemetry.enabled = true;
        config.telemetry.port = free_port();
        let base = format!("http://127.0.0.1:{}", config.telemetry.port);
        let token = CancellationToken::new();
        let options = RunOptions {
            notifier,
            ..RunOptions::default()
        };
        let task = tokio::spawn(supervisor::run_with(config, keys, token.clone(), options));
        Self { token, task, base }
    }

    /// SIGTERM: returns what the supervisor returned, bounded.
    async fn stop(self) -> Result<(), SupervisorError> {
        self.token.cancel();
        match tokio::time::timeout(WAIT, self.task).await {
            Ok(joined) => joined.expect("supervisor task"),
            Err(_) => panic!("daemon did not stop within {WAIT:?}"),
        }
    }

    async fn get(&self, path: &str) -> Option<(u16, Value)> {
        let (status, text) = self.get_text(path).await?;
        Some((status, serde_json::from_str(&text).ok()?))
    }

    async fn get_text(&self, path: &str) -> Option<(u16, String)> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .ok()?;
        let r = client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .ok()?;
        let status = r.status().as_u16();
        Some((status, r.text().await.ok()?))
    }

    /// `arke_rpc_requests_total` of `method` to `endpoint`.
    async fn requests_to(&self, endpoint: &str, method: &str) -> f64 {
        let (_, text) = self.get_text("/metrics").await.expect("/metrics");
        let (e, m) = (
            format!("endpoint=\"{endpoint}\""),
            format!("method=\"{method}\""),
        );
        text.lines()
            .filter(|l| {
                l.starts_with("arke_rpc_requests_total{") && l.contains(&e) && l.contains(&m)
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Polls `path` until `check` accepts the answer; panics naming `what` after [`WAIT`].
    async fn wait_for(&self, path: &str, what: &str, check: impl Fn(u16, &Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut last = None;
        loop {
            if let Some((code, body)) = self.get(path).await {
                if check(code, &body) {
                    return body;
                }
                last = Some((code, body));
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not seen within {WAIT:?}; last {path}: {last:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// `/state`'s entry of chain `id`.
fn chain_state<'a>(state: &'a Value, id: &str) -> &'a Value {
    state["chains"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("chain {id} not in /state: {state}"))
}

/// A devnet chain with relayer and user accounts, as `TestChain::start` makes, from `config`.
async fn chain_with(mut config: DevnetConfig) -> TestChain {
    config.block_time = BLOCK;
    let funds = vec![Coin {
        denom: "stake".into(),
        amount: 1_000_000_000_000,
    }];
    let (config, relayer) = config.with_random_account("relayer", funds.clone());
    let (config, user) = config.with_random_account("user", funds);
    let devnet = Devnet::start(config).await.expect("devnet starts");
    TestChain {
        devnet,
        relayer,
        user,
    }
}

/// Two chains with an open unordered ICS-20 channel, through the real handshake.
async fn connect(a: TestChain, b: TestChain) -> ConnectedChains {
    let client_a = create_client(&a, &b).await.expect("client on a");
    let client_b = create_client(&b, &a).await.expect("client on b");
    let (connection_a, connection_b) = open_connection(&a, &b, &client_a, &client_b)
        .await
        .expect("connection");
    let (channel_a, channel_b) = open_channel(
        &a,
        &b,
        &client_a,
        &client_b,
        &connection_a,
        &connection_b,
        false,
    )
    .await
    .expect("channel");
    ConnectedChains {
        a,
        b,
        path: ChannelPath {
            client_a,
            client_b,
            connection_a,
            connection_b,
            port: "transfer".into(),
            channel_a,
            channel_b,
        },
    }
}

/// A harness for `chains` whose config text is edited by `edit` before it is parsed.
fn harness(chains: ConnectedChains, tag: &str, edit: impl Fn(String) -> String) -> Harness {
    let dir = scratch_dir(tag);
    let text = edit(pair_config_text(&chains.a, &chains.b, &dir, ""));
    let config = Config::from_toml_str(&text, &dir.join("pair.toml"))
        .unwrap_or_else(|e| panic!("config: {e}\n{text}"));
    Harness {
        chains,
        config,
        dir,
    }
}

/// Adds `line` to both chain tables of a pair config text.
fn in_both_chains(text: String, line: &str) -> String {
    text.replace(
        "rpc_timeout = \"5s\"\n",
        &format!("rpc_timeout = \"5s\"\n{line}\n"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_over_https_and_wss_with_the_test_ca_and_says_why_without_it() {
    support::init_tracing();
    let certs_dir = scratch_dir("tls-certs");
    let certs = devnet::tls::write_test_certs(&certs_dir).expect("test certificates");
    let tls = |id: &str| {
        let mut c = DevnetConfig::for_tests(id);
        c.tls = Some(certs.files());
        c
    };
    let (a, b) = (
        chain_with(tls("tls-1")).await,
        chain_with(tls("tls-2")).await,
    );
    assert!(a.devnet.rpc_url().starts_with("https://"));
    let chains = connect(a, b).await;
    let ca = certs.ca_cert.display().to_string();

    // Without the CA, the daemon waits and /health names the TLS failure and the key to set.
    let dir = scratch_dir("tls-no-ca");
    let text = pair_config_text(&chains.a, &chains.b, &dir, "");
    let untrusting = Config::from_toml_str(&text, &dir.join("pair.toml")).expect("config");
    let daemon = Daemon::start(untrusting, keys(&chains), None);
    let health = daemon
        .wait_for("/health", "a TLS reason on /health", |code, body| {
            code == 503 && body["reasons"].to_string().contains("TLS handshake failed")
        })
        .await;
    let reasons = health["reasons"].to_string();
    assert_eq!(health["status"], "starting", "{health}");
    assert!(
        reasons.contains("UnknownIssuer") && reasons.contains("ca_file"),
        "{reasons}"
    );
    daemon.stop().await.expect("clean stop while waiting");
    let _ = std::fs::remove_dir_all(&dir);

    // With `ca_file`, packets both ways over https:// and wss://, and no websocket churn.
    let h = harness(chains, "tls", |t| {
        in_both_chains(t, &format!("ca_file = {ca:?}"))
    });
    let daemon = Daemon::start(h.config.clone(), keys(&h.chains), None);
    let to_b = h.send_transfers(true, 12, 10, 4, 1_000).await;
    let to_a = h.send_transfers(false, 8, 10, 4, 1_000).await;
    h.wait_all_settled(true, &to_b, SETTLE).await;
    h.wait_all_settled(false, &to_a, SETTLE).await;
    let state = daemon.get("/state").await.expect("/state").1;
    for id in ["tls-1", "tls-2"] {
        let c = chain_state(&state, id);
        assert_eq!(
            c["websocket_reconnects"], 0,
            "websocket of {id} churned: {c}"
        );
        let ws = c["endpoints"][0]["websocket_addr"]
            .as_str()
            .unwrap_or_default();
        assert!(ws.starts_with("wss://127.0.0.1:"), "{c}");
    }
    let (code, health) = daemon.get("/health").await.expect("/health");
    assert_eq!(code, 200, "{health}");
    daemon.stop().await.expect("clean stop");
    let _ = std::fs::remove_dir_all(&certs_dir);
}

/// A loopback TCP forwarder to `target` that can be stopped (every connection cut, the port
/// closed) and started again on the same port.
struct Forwarder {
    addr: SocketAddr,
    target: SocketAddr,
    bytes: Arc<AtomicU64>,
    running: Option<(CancellationToken, JoinHandle<()>)>,
}

impl Forwarder {
    async fn new(target: SocketAddr) -> Self {
        let mut f = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], free_port())),
            target,
            bytes: Arc::new(AtomicU64::new(0)),
            running: None,
        };
        f.start().await;
        f
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn start(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("forwarder binds its port again");
        let (token, target, bytes) = (CancellationToken::new(), self.target, self.bytes.clone());
        let t = token.clone();
        let task = tokio::spawn(async move {
            // Dropped on stop: aborts every connection.
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let (mut inbound, _) = tokio::select! {
                    _ = t.cancelled() => return,
                    a = listener.accept() => match a { Ok(c) => c, Err(_) => continue },
                };
                let bytes = bytes.clone();
                conns.spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    if let Ok((up, down)) =
                        tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await
                    {
                        bytes.fetch_add(up + down, Ordering::Relaxed);
                    }
                });
                while conns.try_join_next().is_some() {}
            }
        });
        self.running = Some((token, task));
    }

    async fn stop(&mut self) {
        if let Some((token, task)) = self.running.take() {
            token.cancel();
            let _ = task.await;
        }
    }
}

fn devnet_addr(chain: &TestChain) -> SocketAddr {
    let url = chain.devnet.rpc_url();
    url.trim_start_matches("http://")
        .parse()
        .expect("devnet RPC address")
}

/// The RPC address `/state` says chain `id` uses now.
fn active_rpc(state: &Value, id: &str) -> String {
    chain_state(state, id)["active_rpc_addr"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_to_the_backup_mid_stream_and_returns_to_the_preferred_endpoint() {
    support::init_tracing();
    let chains = ConnectedChains::start(BLOCK, false).await.expect("chains");
    let b_id = chains.b.devnet.chain_id().to_string();
    let direct = chains.b.devnet.rpc_url();
    let mut forwarder = Forwarder::new(devnet_addr(&chains.b)).await;
    let preferred = format!("{}/", forwarder.url());
    let backup = format!("{direct}/");
    let h = harness(chains, "failover", |t| {
        t.replace(
            &format!("rpc_addr = \"{direct}\"\n"),
            &format!(
                "rpc_addr = \"{}\"\nbackup_rpc_addrs = [\"{direct}\"]\nendpoint_probe_interval = \"300ms\"\n",
                forwarder.url()
            ),
        )
    });
    assert_eq!(h.config.chains.b.endpoints.backups.len(), 1);
    let daemon = Daemon::start(h.config.clone(), keys(&h.chains), None);

    let first = h.send_transfers(true, 6, 10, 3, 1_000).await;
    h.wait_all_settled(true, &first, SETTLE).await;
    let state = daemon.get("/state").await.expect("/state").1;
    assert_eq!(active_rpc(&state, &b_id), preferred, "{state}");
    let to_backup = daemon.requests_to(&backup, "broadcast_tx_sync").await;

    // The preferred endpoint stops answering with packets in flight.
    let second = h.send_transfers(true, 12, 10, 3, 1_000).await;
    forwarder.stop().await;
    let third = h.send_transfers(true, 6, 10, 3, 1_000).await;
    h.wait_all_settled(true, &second, SETTLE).await;
    h.wait_all_settled(true, &third, SETTLE).await;
    let state = daemon.get("/state").await.expect("/state").1;
    assert_eq!(active_rpc(&state, &b_id), backup, "{state}");
    let endpoints = &chain_state(&state, &b_id)["endpoints"];
    assert_eq!(endpoints[0]["usable"], false, "{endpoints}");
    assert_eq!(endpoints[1]["active"], true, "{endpoints}");
    assert!(
        daemon.requests_to(&backup, "broadcast_tx_sync").await > to_backup,
        "no tx went through the backup"
    );

    // It answers again: the daemon returns to it, and txs go through it again.
    forwarder.start().await;
    daemon
        .wait_for("/state", "return to the preferred endpoint", |_, s| {
            active_rpc(s, &b_id) == preferred
        })
        .await;
    let to_preferred = daemon.requests_to(&preferred, "broadcast_tx_sync").await;
    let fourth = h.send_transfers(true, 6, 10, 3, 1_000).await;
    h.wait_all_settled(true, &fourth, SETTLE).await;
    assert!(
        daemon.requests_to(&preferred, "broadcast_tx_sync").await > to_preferred,
        "no tx went through the preferred endpoint after the return"
    );
    daemon.stop().await.expect("clean stop");
    forwarder.stop().await;
}

/// The datagrams a fake `NOTIFY_SOCKET` received so far.
fn notifications(socket: &std::os::unix::net::UnixDatagram) -> Vec<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buf) {
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_while_both_chains_are_down_and_relays_once_they_come_up() {
    support::init_tracing();
    let mut h = Harness::new(false, "").await;
    let notify_dir = scratch_dir("notify");
    let socket_path = notify_dir.join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).expect("notify socket");
    socket.set_nonblocking(true).unwrap();
    let notifier = || Some(Notifier::new(socket_path.to_string_lossy().into_owned()));
    h.chains.a.devnet.stop().await;
    h.chains.b.devnet.stop().await;

    // Stopped while waiting: a clean exit.
    let daemon = Daemon::start(h.config.clone(), keys(&h.chains), notifier());
    daemon
        .wait_for("/health", "the waiting reason", |code, body| {
            code == 503 && body["status"] == "starting"
        })
        .await;
    daemon
        .stop()
        .await
        .expect("SIGTERM while waiting exits cleanly");
    let sent = notifications(&socket);
    assert!(
        sent.iter().any(
            |n| n.starts_with("STATUS=waiting for chains: chain devnet-1")
                && n.contains("EXTEND_TIMEOUT_USEC=")
        ),
        "{sent:?}"
    );
    assert!(!sent.iter().any(|n| n.contains("READY=1")), "{sent:?}");
    assert!(
        sent.last().is_some_and(|n| n.starts_with("STOPPING=1")),
        "{sent:?}"
    );

    // Started while down, relays once both chains are up.
    let daemon = Daemon::start(h.config.clone(), keys(&h.chains), notifier());
    let health = daemon
        .wait_for("/health", "both chains named on /health", |code, body| {
            let r = body["reasons"].to_string();
            code == 503 && r.contains("chain devnet-1") && r.contains("chain devnet-2")
        })
        .await;
    assert!(
        health["reasons"].to_string().contains("transport error"),
        "{health}"
    );
    // Long enough for a few retries; nothing is ready meanwhile.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!daemon.task.is_finished(), "the daemon must keep waiting");
    assert!(!notifications(&socket).iter().any(|n| n.contains("READY=1")));
    h.chains.a.devnet.restart().await.expect("chain a restarts");
    h.chains.b.devnet.restart().await.expect("chain b restarts");
    let packets = h.send_transfers(true, 5, 10, 5, 1_000).await;
    h.wait_all_settled(true, &packets, SETTLE).await;
    daemon
        .wait_for("/health", "a healthy daemon", |code, _| code == 200)
        .await;
    let sent = notifications(&socket);
    assert!(
        sent.iter()
            .any(|n| n.starts_with("READY=1\nSTATUS=relaying 1 channels")),
        "{sent:?}"
    );
    daemon.stop().await.expect("clean stop");

    // A node serving another chain id stays fatal, with a clear message.
    let mut wrong = h.config.clone();
    wrong.chains.b.id = "other-7".into();
    let daemon = Daemon::start(wrong, keys(&h.chains), None);
    let err = tokio::time::timeout(WAIT, daemon.task)
        .await
        .expect("fails fast")
        .expect("supervisor task")
        .expect_err("wrong chain id is fatal")
        .to_string();
    assert!(
        err.contains("other-7") && err.contains("devnet-2") && err.contains("fix `id`"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&notify_dir);
}
