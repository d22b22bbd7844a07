//! Reloading the pair file while the daemon runs (SIGHUP, or [`ReloadHandle::reload`] in tests).
//!
//! The supervisor owns the running config; a reload request travels to it on a small channel and
//! the answer comes back on a oneshot. The file at the config's path is read and validated
//! again: an invalid file is rejected (the error is logged and returned) and the old config
//! stays. Of a valid file the `[relay]` section applies at once: channels the new filter drops
//! stop, channels it adds start, the others keep running untouched; `clear_interval` and
//! `clear_on_start` apply to workers started from then on, `shutdown_grace` to the next shutdown.
//! The chains, `[telemetry]` and `[relay] peers` / `backup_delay` (the sharding the chains'
//! handles were built with) cannot change without a restart: a file that changes them is
//! applied for the rest of its `[relay]` part only, with a warning.

use tokio::sync::{mpsc, oneshot};

use crate::config::Config;

/// What a reload changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Channels (`port/channel` on chain A) whose workers started.
    pub started: Vec<String>,
    /// Channels whose workers stopped.
    pub stopped: Vec<String>,
    /// Changes that need a restart and were not applied.
    pub ignored: Vec<String>,
}

/// A reload request: the answer goes back on `reply`.
pub(crate) type ReloadRequest = oneshot::Sender<Result<ReloadReport, String>>;

/// Asks the supervisor to reload. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ReloadHandle {
    tx: mpsc::Sender<ReloadRequest>,
}

/// The supervisor's end of the reload channel.
#[derive(Debug)]
pub struct ReloadReceiver {
    pub(crate) rx: mpsc::Receiver<ReloadRequest>,
}

/// A connected handle and receiver.
pub fn reload_channel() -> (ReloadHandle, ReloadReceiver) {
    let (tx, rx) = mpsc::channel(4);
    (ReloadHandle { tx }, ReloadReceiver { rx })
}

impl ReloadHandle {
    /// Reloads the pair file and waits for the outcome.
    pub async fn reload(&self) -> Result<ReloadReport, String> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(reply)
            .await
            .map_err(|_| "the relayer is not running".to_string())?;
        answer
            .await
            .map_err(|_| "the relayer stopped before answering".to_string())?
    }
}

/// Reads and validates the file at `current.path` again and returns the config to run with:
/// `current` with the new `[relay]` section, plus the changes that were ignored.
pub(crate) fn prepare(current: &Config) -> Result<(Config, Vec<String>), String> {
    let new = Config::load(&current.path).map_err(|e| e.to_string())?;
    for line in new.warning_lines() {
        tracing::warn!("reload: {line}");
    }
    let mut ignored = Vec::new();
    // The chains are connected; comparing their debug renderings covers every field.
    if format!("{:?}", new.chains) != format!("{:?}", current.chains) {
        ignored.push("[chains] changed; restart to apply".to_string());
    }
    if new.telemetry != current.telemetry {
        ignored.push("[telemetry] changed; restart to apply".to_string());
    }
    let mut next = current.clone();
    let (peers, backup_delay) = (next.relay.peers.clone(), next.relay.backup_delay);
    next.relay = new.relay;
    if next.relay.peers != peers || next.relay.backup_delay != backup_delay {
        ignored.push("[relay] peers or backup_delay changed; restart to apply".to_string());
        next.relay.peers = peers;
        next.relay.backup_delay = backup_delay;
    }
    Ok((next, ignored))
}
