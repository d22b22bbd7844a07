//! Default values of the config keys, and the values derived when a key is absent or relative:
//! the default key store, paths relative to the config file, the websocket URL from the RPC URL.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;

/// Default `gas_multiplier`.
pub(crate) const DEFAULT_GAS_MULTIPLIER: f64 = 1.1;
/// Default `max_gas`.
pub(crate) const DEFAULT_MAX_GAS: u64 = 400_000;
/// Default `default_gas` (capped by `max_gas`).
pub(crate) const DEFAULT_DEFAULT_GAS: u64 = 100_000;
/// Default `dynamic_gas_price.multiplier`.
pub(crate) const DEFAULT_DYNAMIC_GAS_MULTIPLIER: f64 = 1.1;
/// Default `dynamic_gas_price.max`.
pub(crate) const DEFAULT_DYNAMIC_GAS_MAX: f64 = 0.6;
/// Longest `memo_prefix`, in characters (the SDK's memo limit is 256; our own memo follows).
pub(crate) const MAX_MEMO_PREFIX_CHARS: usize = 128;
/// Default `max_msg_num`.
pub(crate) const DEFAULT_MAX_MSG_NUM: usize = 30;
/// Default `max_tx_size`, in bytes.
pub const DEFAULT_MAX_TX_SIZE: usize = 180_000;
/// Upper bound on `max_tx_size` (8 MiB, as Hermes).
pub(crate) const MAX_TX_SIZE_LIMIT: usize = 8 * 1024 * 1024;
/// Default `max_txs_in_flight`: broadcast txs of one signer waiting for their block at once.
pub(crate) const DEFAULT_MAX_TXS_IN_FLIGHT: usize = 16;
/// Upper bound on `max_txs_in_flight` (a node's mempool keeps at most 10,000 txs by default).
pub(crate) const MAX_TXS_IN_FLIGHT_LIMIT: u64 = 1_000;
/// Default `max_concurrent_requests` per RPC endpoint.
pub(crate) const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 16;
/// Default `rpc_timeout`.
pub(crate) const DEFAULT_RPC_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `clock_drift`.
pub(crate) const DEFAULT_CLOCK_DRIFT: Duration = Duration::from_secs(5);
/// Default `max_block_time`.
pub(crate) const DEFAULT_MAX_BLOCK_TIME: Duration = Duration::from_secs(30);
/// Default `[relay] clear_interval`, in blocks.
pub(crate) const DEFAULT_CLEAR_INTERVAL: u64 = 100;
/// Default `[relay] shutdown_grace`.
pub(crate) const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Default `[relay] client_refresh_rate`: refresh a client once a third of its trusting period
/// has passed since its latest consensus state.
pub(crate) const DEFAULT_CLIENT_REFRESH_RATE: f64 = 1.0 / 3.0;
/// Default `[relay] rescan_interval`: how often every channel is looked at again without an
/// event asking for it (the full channel listing; the clearing of a quiet channel).
pub(crate) const DEFAULT_RESCAN_INTERVAL: Duration = Duration::from_secs(30 * 60);
/// Shortest `[relay] rescan_interval`.
pub(crate) const MIN_RESCAN_INTERVAL: Duration = Duration::from_secs(10);
/// Default `[relay] backup_delay`: blocks a backup waits per rank before relaying a packet its
/// peers have not relayed.
pub(crate) const DEFAULT_BACKUP_DELAY: u64 = 2;
/// Largest `[relay] backup_delay`.
pub(crate) const MAX_BACKUP_DELAY: u64 = 100;
/// Most peers one chain may list.
pub(crate) const MAX_PEERS: usize = 32;
/// Default `[telemetry] port`.
pub(crate) const DEFAULT_TELEMETRY_PORT: u16 = 3001;

/// The default key store: `$XDG_DATA_HOME/arke/keys`, else `~/.local/share/arke/keys`.
pub(crate) fn default_key_store() -> Option<PathBuf> {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME") {
        let xdg = PathBuf::from(xdg);
        if xdg.is_absolute() {
            return Some(xdg.join("arke").join("keys"));
        }
    }
    home_dir().map(|h| h.join(".local/share/arke/keys"))
}

/// The default `[relay] state_dir` of the pair file at `config_path`: a directory named after
/// the file (`osmosis-hub.toml` → `osmosis-hub`) under `$STATE_DIRECTORY` (what systemd sets
/// for a unit's `StateDirectory=`, `/var/lib/arke` with the shipped unit), else under
/// `$XDG_STATE_HOME/arke`, else `~/.local/state/arke`.
pub(crate) fn default_state_dir(config_path: &Path) -> Option<PathBuf> {
    state_dir_from_env(config_path, |name| std::env::var_os(name))
}

/// [`default_state_dir`] with the environment given as a lookup.
pub(crate) fn state_dir_from_env(
    config_path: &Path,
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    let name = config_path
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty())
        .unwrap_or("pair");
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    // Several directories are separated by `:`; the first is the unit's own.
    let systemd = env("STATE_DIRECTORY")
        .and_then(|v| v.to_str().and_then(|s| s.split(':').next()).map(Into::into))
        .and_then(absolute);
    let base = match systemd {
        Some(dir) => dir,
        None => match env("XDG_STATE_HOME").and_then(absolute) {
            Some(xdg) => xdg.join("arke"),
            None => env("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from)?
                .join(".local/state/arke"),
        },
    };
    Some(base.join(name))
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Expands a leading `~/` and makes relative paths relative to `base`.
pub(crate) fn resolve_path(text: &str, base: &Path) -> Option<PathBuf> {
    let p = if text == "~" {
        home_dir()?
    } else if let Some(rest) = text.strip_prefix("~/") {
        home_dir()?.join(rest)
    } else {
        PathBuf::from(text)
    };
    Some(if p.is_absolute() { p } else { base.join(p) })
}

/// Derives the websocket URL from the RPC URL: http→ws, https→wss, path `/websocket`.
pub(crate) fn derive_websocket_addr(rpc: &Url) -> Result<Url, String> {
    let scheme = match rpc.scheme() {
        "http" => "ws",
        "https" => "wss",
        other => {
            return Err(format!(
                "cannot derive a websocket URL from scheme {other:?}"
            ))
        }
    };
    let mut ws = rpc.clone();
    ws.set_scheme(scheme)
        .map_err(|()| format!("cannot derive a websocket URL from {rpc}"))?;
    let path = format!("{}/websocket", rpc.path().trim_end_matches('/'));
    ws.set_path(&path);
    ws.set_query(None);
    Ok(ws)
}
