//! SIGTERM is honoured in every phase: a daemon stopped while it is still discovering channels
//! over slow nodes exits at once instead of finishing the round first, in-process and as the
//! `arke start` process systemd would stop.

mod support;

use std::io::{BufRead, BufReader};
use std::time::Duration;

use devnet::testing::open_channels;
use support::{pair_config_text, Harness};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_during_discovery_is_prompt() {
    let h = Harness::new(false, "").await;
    // Every answer of chain A now takes 3 s: a discovery round (a listing, the connection, its
    // client, the channel on B) takes well over 10 s.
    h.chains
        .a
        .node()
        .faults()
        .set_rpc_latency(Duration::from_secs(3));
    let relayer = h.start_relayer();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let stopping = tokio::time::Instant::now();
    relayer.stop().await;
    let took = stopping.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "the daemon took {took:?} to stop"
    );
}

/// A fixed BIP-39 test mnemonic (test key only; the daemon signs nothing here).
const MNEMONIC: &str = "ready kind exist alpha route bamboo village enact aisle very similar toddler possible name rate believe gain sniff crucial soon title enhance wagon slow";

/// The `shutdown_grace` of the harness's pair config.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_discovery_of_100_channels_exits_0_within_the_grace() {
    let h = Harness::new(false, "").await;
    let (a, b, path) = (&h.chains.a, &h.chains.b, &h.chains.path);
    open_channels(a, b, path, 99).await.expect("channels open");
    let text = pair_config_text(a, b, &h.dir, "");
    assert!(text.contains("shutdown_grace = \"10s\""), "{text}");
    let config = h.dir.join("pair.toml");
    std::fs::write(&config, text).expect("write the config");
    let mnemonic = h.dir.join("relayer.mnemonic");
    std::fs::write(&mnemonic, MNEMONIC).expect("write the mnemonic");
    let added = std::process::Command::new(env!("CARGO_BIN_EXE_arke"))
        .args(["keys", "add", "relayer", "--mnemonic-file"])
        .arg(&mnemonic)
        .arg("--key-store")
        .arg(h.dir.join("keys"))
        .output()
        .expect("arke keys add");
    assert!(added.status.success(), "{}", support::stderr(&added));

    // Every answer of chain B takes 300 ms: checking 100 channels' far ends takes half a
    // minute.
    b.node()
        .faults()
        .set_rpc_latency(Duration::from_millis(300));
    let mut daemon = std::process::Command::new(env!("CARGO_BIN_EXE_arke"))
        .arg("start")
        .arg("--config")
        .arg(&config)
        .env_remove("RUST_LOG")
        .env_remove("NOTIFY_SOCKET")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("arke start");
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let stderr = daemon.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    // Discovery begins right after this line.
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(120))
            .expect("the daemon starts");
        let started = line.contains("relayer started");
        log.push(line);
        if started {
            break;
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;

    let stopping = std::time::Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || daemon.wait())
        .await
        .expect("join")
        .expect("wait");
    let took = stopping.elapsed();
    // The rest of what it wrote, up to the end of the pipe.
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(10)) {
        log.push(line);
    }
    let log = log.join("\n");
    assert!(status.success(), "exit {status:?}\n{log}");
    assert!(
        took < SHUTDOWN_GRACE,
        "the daemon took {took:?} to stop\n{log}"
    );
    // The stop came during the discovery: no worker had been started.
    assert!(
        !log.contains("starting channel worker"),
        "discovery had finished before SIGTERM\n{log}"
    );
    assert!(log.contains("relayer stopped"), "{log}");
}
