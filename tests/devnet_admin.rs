//! `arke devnet --admin-addr`: the fault switches of a devnet running as another process. Pausing
//! through the admin endpoint stops the height and resuming moves it again; an RPC outage makes
//! `/status` answer 503 until healed; a bad request is a 400; `GET /faults` shows the state. A
//! restart is a kill and a start on the same `--data-dir`, which resumes at the height it had. A
//! non-loopback `--admin-addr` is refused, naming the flag.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::TempDir;

const WAIT: Duration = Duration::from_secs(30);

/// Kills the child when dropped (the test failed, or it is the kill of a restart).
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn arke() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_arke"));
    cmd.env_remove("RUST_LOG").env_remove("ARKE_CONFIG");
    cmd
}

/// A running `arke devnet` with its RPC and admin addresses (`HOST:PORT`).
struct Running {
    _guard: Guard,
    rpc: String,
    admin: String,
}

fn start(data_dir: &Path) -> Running {
    let mut child = arke()
        .args([
            "devnet",
            "--chain-id",
            "devnet-admin-1",
            "--rpc-addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "none",
            "--block-time",
            "100ms",
            "--admin-addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn arke devnet");
    let stdout = child.stdout.take().unwrap();
    let guard = Guard(child);
    let rx = support::line_channel(stdout);
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut rpc, mut admin) = (None, None);
    let mut lines = Vec::new();
    while rpc.is_none() || admin.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no RPC and admin URLs printed; stdout: {lines:?}"));
        let url = |prefix: &str| {
            line.strip_prefix(prefix)
                .map(|u| u.trim().trim_start_matches("http://").to_string())
        };
        rpc = rpc.or_else(|| url("rpc:"));
        admin = admin.or_else(|| url("admin:"));
        lines.push(line);
    }
    Running {
        _guard: guard,
        rpc: rpc.unwrap(),
        admin: admin.unwrap(),
    }
}

/// One HTTP request over a raw socket; returns the status code and the body.
fn http(addr: &str, method: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn admin(run: &Running, method: &str, path: &str) -> serde_json::Value {
    let (code, body) = http(&run.admin, method, path);
    assert_eq!(code, 200, "{method} {path}: {body}");
    json(&body)
}

fn height(run: &Running) -> u64 {
    let (code, body) = http(&run.rpc, "GET", "/status");
    assert_eq!(code, 200, "{body}");
    json(&body)["result"]["sync_info"]["latest_block_height"]
        .as_str()
        .and_then(|h| h.parse().ok())
        .unwrap_or_else(|| panic!("no height: {body}"))
}

/// Waits until the height holds still over half a second; returns it.
fn settled_height(run: &Running) -> u64 {
    let deadline = Instant::now() + WAIT;
    loop {
        let before = height(run);
        std::thread::sleep(Duration::from_millis(500));
        let after = height(run);
        if after == before {
            return after;
        }
        assert!(Instant::now() < deadline, "the height never stopped");
    }
}

fn wait_for_height(run: &Running, target: u64) {
    let deadline = Instant::now() + WAIT;
    while height(run) < target {
        assert!(Instant::now() < deadline, "height {target} not reached");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn faults_are_driven_from_outside_the_process() {
    let tmp = TempDir::new("admin");
    let data = tmp.path().join("data");
    let run = start(&data);
    wait_for_height(&run, 2);
    let state = admin(&run, "GET", "/faults");
    assert_eq!(state["paused"], false, "{state}");
    assert_eq!(state["rpc"]["mode"], "none", "{state}");

    // Pause: the height stops and stays.
    let state = admin(&run, "POST", "/faults/pause");
    assert_eq!(state["paused"], true, "{state}");
    let stopped = settled_height(&run);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(height(&run), stopped, "blocks were made while paused");

    // Resume: it moves again.
    let state = admin(&run, "POST", "/faults/resume");
    assert_eq!(state["paused"], false, "{state}");
    wait_for_height(&run, stopped + 2);

    // An RPC outage answers 503 until healed.
    let state = admin(&run, "POST", "/faults/rpc?mode=error&for=60s");
    assert_eq!(state["rpc"]["mode"], "error", "{state}");
    let (code, body) = http(&run.rpc, "GET", "/status");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("injected fault"), "{body}");
    let state = admin(&run, "POST", "/faults/rpc?mode=none");
    assert_eq!(state["rpc"]["mode"], "none", "{state}");
    assert!(height(&run) > stopped);

    // Slowness and latency show in the state; websocket drops are counted.
    let state = admin(&run, "POST", "/faults/rpc?mode=slow&delay=10ms&for=60s");
    assert_eq!(state["rpc"]["delay_ms"], 10, "{state}");
    admin(&run, "POST", "/faults/rpc?mode=none");
    let state = admin(&run, "POST", "/faults/latency?delay=5ms");
    assert_eq!(state["rpc_latency_ms"], 5, "{state}");
    admin(&run, "POST", "/faults/latency?delay=0s");
    let state = admin(&run, "POST", "/faults/drop-websockets");
    assert_eq!(state["websocket_drops"], 1, "{state}");

    // Bad requests are refused with a reason.
    let (code, body) = http(&run.admin, "POST", "/faults/rpc?mode=bogus");
    assert_eq!(code, 400, "{body}");
    assert!(json(&body)["error"].as_str().unwrap().contains("bogus"));
    let (code, body) = http(&run.admin, "POST", "/faults/rpc?mode=error");
    assert_eq!(code, 400, "{body}");

    // Restart: kill the paused process, start it on the same data dir; it resumes.
    admin(&run, "POST", "/faults/pause");
    let last = settled_height(&run);
    drop(run);
    let run = start(&data);
    assert!(height(&run) >= last, "the restarted chain lost blocks");
    wait_for_height(&run, last + 2);
}

#[test]
fn a_non_loopback_admin_address_is_refused() {
    let out = arke()
        .args([
            "devnet",
            "--chain-id",
            "devnet-1",
            "--rpc-addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "none",
            "--admin-addr",
            "0.0.0.0:0",
        ])
        .output()
        .expect("run arke devnet");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--admin-addr"), "{stderr}");
    assert!(stderr.contains("loopback"), "{stderr}");
}
