//! The `arke devnet` binary: it starts on an ephemeral port, prints its URLs and funded
//! accounts, answers `/status`, and exits 0 on SIGTERM; a mnemonic file that cannot be read is
//! refused with a message naming the file (and never the mnemonic).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::TempDir;

const ABANDON: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

/// Kills the child if the test fails before it exits.
struct Guard(Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn arke() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_arke"));
    cmd.env_remove("RUST_LOG").env_remove("ARKE_CONFIG");
    cmd
}

/// One HTTP GET over a raw socket; returns the body.
fn http_get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect to the devnet RPC");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default()
}

#[test]
fn devnet_serves_until_sigterm_and_exits_0() {
    let tmp = TempDir::new("run");
    let mnemonic = tmp.path().join("relayer.mnemonic");
    std::fs::write(&mnemonic, format!("{ABANDON}\n")).unwrap();
    let child = arke()
        .args([
            "devnet",
            "--chain-id",
            "devnet-9",
            "--rpc-addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "127.0.0.1:0",
            "--block-time",
            "100ms",
            "--genesis-account",
            &format!("relayer={}:5000stake", mnemonic.display()),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn arke devnet");
    let mut guard = Guard(Some(child));
    let child = guard.0.as_mut().unwrap();
    let pid = child.id();

    // Read stdout on a thread so the wait is bounded.
    let stdout = child.stdout.take().unwrap();
    let rx = support::line_channel(stdout);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lines = Vec::new();
    let mut rpc = None;
    while rpc.is_none() || !lines.iter().any(|l: &String| l.contains("cosmos1")) {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no RPC URL printed; stdout so far: {lines:?}"));
        if let Some(url) = line.strip_prefix("rpc:") {
            rpc = Some(url.trim().to_string());
        }
        lines.push(line);
    }
    let rpc = rpc.unwrap();
    let text = lines.join("\n");
    assert!(text.contains("devnet-9"), "{text}");
    assert!(text.contains("ws://127.0.0.1:"), "{text}");
    assert!(text.contains("/websocket"), "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("grpc:") && l.contains("http://127.0.0.1:")),
        "{text}"
    );
    assert!(
        text.contains("relayer cosmos19rl4cm2hmr8afy4kldpxz3fka4jguq0auqdal4 5000stake"),
        "{text}"
    );
    assert!(!text.contains("abandon"), "the mnemonic is never printed");

    let addr = rpc.strip_prefix("http://").expect("http URL");
    assert_ne!(addr, "127.0.0.1:0", "the bound port is printed");
    let body = http_get(addr, "/status");
    let status: serde_json::Value = serde_json::from_str(&body).expect("status JSON");
    assert_eq!(
        status["result"]["node_info"]["network"], "devnet-9",
        "{body}"
    );
    // Blocks are being produced.
    let start = Instant::now();
    loop {
        let body = http_get(addr, "/status");
        let status: serde_json::Value = serde_json::from_str(&body).unwrap();
        let h: u64 = status["result"]["sync_info"]["latest_block_height"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        if h >= 2 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no blocks: {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "arke devnet did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    guard.0 = None;
    // The port is released.
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn unreadable_mnemonic_file_is_named() {
    let tmp = TempDir::new("bad");
    let missing = tmp.path().join("missing.mnemonic");
    let out = arke()
        .args([
            "devnet",
            "--chain-id",
            "devnet-1",
            "--rpc-addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "none",
            "--genesis-account",
            &format!("alice={}:100stake", missing.display()),
        ])
        .output()
        .expect("run arke devnet");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert!(stderr.contains("alice"), "{stderr}");

    // A file that is readable but not a mnemonic: named, and its content not echoed.
    let bad = tmp.path().join("bad.mnemonic");
    std::fs::write(&bad, ABANDON.replace("about", "abandon")).unwrap();
    let out = arke()
        .args([
            "devnet",
            "--chain-id",
            "devnet-1",
            "--genesis-account",
            &format!("bob={}:100", bad.display()),
        ])
        .output()
        .expect("run arke devnet");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&bad.display().to_string()), "{stderr}");
    assert!(!stderr.contains("abandon abandon"), "{stderr}");
}
