//! Telemetry: Prometheus metrics, the HTTP status server, the daemon state it reports, and the
//! systemd notification protocol.
//!
//! - [`registry`]: our own small Prometheus registry (counters, gauges, histograms);
//! - [`metrics`]: every metric of the relayer ([`metrics::metrics`] is the process-wide
//!   instance), packet latency clocks and clearing backlogs;
//! - [`state`]: chains and workers of one running daemon (for `/health`, `/state`, `/clear`);
//! - [`server`]: `GET /metrics`, `GET /health`, `GET /state`, `POST /clear?channel=…` (axum),
//!   and the client side of `/health` for `arke health`;
//! - [`notify`]: `READY=1`, `WATCHDOG=1`, `STOPPING=1` to `$NOTIFY_SOCKET`.
//!
//! Telemetry is a leaf: it knows no chains, workers or transactions. The code that has
//! something to report hands it plain values (label sets, numbers, states): it counts into the
//! metric families, registers chains and channels in the [`state::DaemonState`], and waits on
//! the [`clear_trigger`] of its channel. What `/state` shows is what it was handed.

pub(crate) mod metrics;
pub mod notify;
pub(crate) mod registry;
pub(crate) mod server;
pub mod state;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::Notify;

use self::state::ChannelInfo;

/// Every metric of this process in the Prometheus text format (what `GET /metrics` serves).
pub fn metrics_text() -> String {
    metrics::metrics().render()
}

/// The trigger that makes the worker of `channel` run a clearing round now (`POST /clear`). One
/// `Notify` per channel, created on first use and shared by whoever asks for the same channel.
pub(crate) fn clear_trigger(channel: &ChannelInfo) -> Arc<Notify> {
    static TRIGGERS: OnceLock<Mutex<HashMap<String, Arc<Notify>>>> = OnceLock::new();
    let key = format!(
        "{}\u{0}{}\u{0}{}\u{0}{}",
        channel.a.chain, channel.a.port, channel.a.channel, channel.b.chain
    );
    let mut map = TRIGGERS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    map.entry(key).or_default().clone()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{is_loopback_host, Config};

    #[test]
    fn a_remote_bind_must_be_explicit() {
        for host in ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["0.0.0.0", "::", "10.0.0.1", "relayer.example.com"] {
            assert!(!is_loopback_host(host), "{host}");
        }
        let example = include_str!("../../config/example.toml");
        let path = Path::new("pair.toml");
        Config::from_toml_str(example, path).expect("the example is valid");
        let remote = example.replace("host = \"127.0.0.1\"", "host = \"0.0.0.0\"");
        let err = Config::from_toml_str(&remote, path).expect_err("remote bind refused");
        let text = err.to_string();
        assert!(
            text.contains("telemetry.host") && text.contains("allow_remote"),
            "{text}"
        );
        let allowed = remote.replace("allow_remote = false", "allow_remote = true");
        let config = Config::from_toml_str(&allowed, path).expect("allowed explicitly");
        assert!(config.telemetry.allow_remote);
        assert_eq!(config.telemetry.host, "0.0.0.0");
    }
}
