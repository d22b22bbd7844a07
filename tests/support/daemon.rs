//! The daemon as a process: `arke start --config FILE` run as a child, the way systemd runs it.
//! Its stderr goes line by line into the test's log (and is kept for waits and failure
//! messages), its resident set size is read from `/proc`, and it is stopped with SIGTERM.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Adds the key `name` derived from `mnemonic` to the key store at `keys` (`arke keys add`,
/// the mnemonic on stdin).
pub fn add_key(keys: &Path, name: &str, mnemonic: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_arke"))
        .args(["keys", "add", name, "--mnemonic-file", "-", "--key-store"])
        .arg(keys)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("arke keys add");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{mnemonic}\n").as_bytes())
        .expect("write the mnemonic");
    let out = child.wait_with_output().expect("arke keys add");
    assert!(out.status.success(), "{}", super::stderr(&out));
}

/// A running `arke start`; killed on drop if a test ends before stopping it.
pub struct Daemon {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

/// How a [`Daemon::terminate`] went.
pub struct Stopped {
    /// The exit status.
    pub status: ExitStatus,
    /// SIGTERM → exit.
    pub took: Duration,
    /// Everything the daemon wrote to stderr.
    pub log: String,
}

impl Daemon {
    /// Starts `arke start --config config` with its log level from the pair file's command
    /// defaults (no `RUST_LOG`), outside systemd, stdout discarded.
    pub fn start(config: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_arke"))
            .arg("start")
            .arg("--config")
            .arg(config)
            .env_remove("RUST_LOG")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("arke start");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        // Drained on a thread so that a full pipe never blocks the daemon; the lines also go
        // to the test's own output (shown when it fails).
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("arke: {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child: Some(child),
            lines,
            log: Vec::new(),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Waits up to `limit` for a log line containing `needle`; returns it. Panics with the
    /// log so far when none comes.
    pub fn wait_for_line(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no line with {needle:?} within {limit:?}\n{}", self.log())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the daemon exited without {needle:?}\n{}", self.log())
                }
            }
        }
    }

    /// Everything it has written so far.
    pub fn log(&mut self) -> String {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push(line);
        }
        self.log.join("\n")
    }

    /// Its resident set size in KiB (`VmRSS` of `/proc/PID/status`).
    pub fn rss_kib(&self) -> u64 {
        let path = format!("/proc/{}/status", self.pid());
        let status = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no VmRSS in {path}:\n{status}"))
    }

    /// Sends SIGTERM and waits for the exit; the rest of its log is read to the end of the
    /// pipe (bounded).
    pub async fn terminate(mut self) -> Stopped {
        let mut child = self.child.take().expect("running");
        let stopping = Instant::now();
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(killed.success(), "kill -TERM failed");
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .expect("join")
            .expect("wait");
        let took = stopping.elapsed();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(10)) {
            self.log.push(line);
        }
        Stopped {
            status,
            took,
            log: self.log.join("\n"),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
