//! Telemetry: Prometheus metrics, the HTTP status server, the daemon state it reports, and the
//! systemd notification protocol.
//!
//! - [`metrics`]: our own small registry and every metric of the relayer ([`metrics::metrics`]
//!   is the process-wide instance);
//! - [`state`]: chains and workers of one running daemon (for `/health`, `/state`, `/clear`);
//! - [`server`]: `GET /metrics`, `GET /health`, `GET /state`, `POST /clear?channel=…` (axum);
//! - [`notify`]: `READY=1`, `WATCHDOG=1`, `STOPPING=1` to `$NOTIFY_SOCKET`.
//!
//! The functions here are the instrumentation hooks the relaying code calls: one line at each
//! place where something worth counting happens, all the bookkeeping here. The sampler
//! ([`run_sampler`]) refreshes the gauges that need a query (wallet balance, client expiry).

pub mod metrics;
pub mod notify;
pub mod server;
pub mod state;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use ibc_proto::cosmos::bank::v1beta1::{QueryBalanceRequest, QueryBalanceResponse};
use prost::Message;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use self::metrics::{metrics, Clock};
use self::state::{packet_labels, DaemonState};
use crate::chain::query::IbcQuerier;
use crate::chain::types::{PacketEvent, RelayKind};
use crate::relay::cache::CacheKey;
use crate::relay::worker::{ChannelSpec, Job, Side};
use crate::tx::engine::Outcome;

/// How often the sampler refreshes wallet balances, client expiries and heights.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(30);

fn refs(labels: &[String; 4]) -> [&str; 4] {
    labels.each_ref().map(String::as_str)
}

fn with<'a>(labels: &'a [String; 4], last: &'a str) -> [&'a str; 5] {
    [
        labels[0].as_str(),
        labels[1].as_str(),
        labels[2].as_str(),
        labels[3].as_str(),
        last,
    ]
}

/// The trigger that makes the worker of `spec` run a clearing round now (`POST /clear`). One
/// `Notify` per channel, created on first use and shared by whoever asks for the same channel.
pub fn clear_trigger(spec: &ChannelSpec) -> Arc<Notify> {
    static TRIGGERS: OnceLock<Mutex<HashMap<String, Arc<Notify>>>> = OnceLock::new();
    let key = format!(
        "{}\u{0}{}\u{0}{}\u{0}{}",
        spec.a.chain.config.id, spec.a.port, spec.a.channel, spec.b.chain.config.id
    );
    let mut map = TRIGGERS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    map.entry(key).or_default().clone()
}

/// A worker saw `event` on `side`'s chain.
pub fn observe_event(spec: &ChannelSpec, side: Side, event: &PacketEvent) {
    let (from, name, clock) = match event {
        PacketEvent::Send { .. } => (side, "send_packet", Some(Clock::Send)),
        PacketEvent::WriteAck { .. } => {
            (side.other(), "write_acknowledgement", Some(Clock::WriteAck))
        }
        PacketEvent::Recv { .. } => (side.other(), "recv_packet", None),
        PacketEvent::Acknowledged { .. } => (side, "acknowledge_packet", None),
        PacketEvent::TimedOut { .. } => (side, "timeout_packet", None),
    };
    let labels = packet_labels(spec, from);
    metrics().packets_observed.inc(&with(&labels, name));
    if let Some(clock) = clock {
        let p = event.packet();
        metrics().start_clock(
            &labels[0],
            &p.source_port,
            &p.source_channel,
            p.sequence,
            clock,
        );
    }
}

/// A clearing round found `jobs` (packets sent from `from` still unreceived when `acks` is
/// false, acknowledgements not relayed back when true).
pub fn cleared(spec: &ChannelSpec, from: Side, acks: bool, jobs: &[Job]) {
    let labels = packet_labels(spec, from);
    let kind = if acks { "ack" } else { "packet" };
    let labels = with(&labels, kind);
    metrics().packets_cleared.inc_by(&labels, jobs.len() as u64);
    let sequences: Vec<u64> = jobs.iter().map(|j| j.packet.sequence).collect();
    metrics().set_backlog(&labels, &sequences);
}

/// The outcome of a relay step of `job` (cache key `key`) came back.
pub fn relay_outcome(spec: &ChannelSpec, key: &CacheKey, job: &Job, outcome: &Outcome) {
    let m = metrics();
    let labels = packet_labels(spec, job.from);
    let step = key.kind.to_string();
    let p = &job.packet;
    let stop = |clock| {
        m.stop_clock(
            &labels[0],
            &p.source_port,
            &p.source_channel,
            p.sequence,
            clock,
        )
    };
    match outcome {
        Outcome::Done { .. } => match key.kind {
            RelayKind::Recv => {
                m.packets_relayed.inc(&refs(&labels));
                if let Some(d) = stop(Clock::Send) {
                    m.packet_recv_latency.observe_duration(&refs(&labels), d);
                }
            }
            RelayKind::Ack => {
                m.packets_acked.inc(&refs(&labels));
                if let Some(d) = stop(Clock::WriteAck) {
                    m.packet_ack_latency.observe_duration(&refs(&labels), d);
                }
            }
            RelayKind::Timeout => {
                m.packets_timed_out.inc(&refs(&labels));
                let _ = stop(Clock::Send);
            }
        },
        Outcome::Redundant => {
            m.packets_redundant.inc(&with(&labels, &step));
            let _ = stop(if key.kind == RelayKind::Ack {
                Clock::WriteAck
            } else {
                Clock::Send
            });
        }
        Outcome::Failed { .. } => m.packet_failures.inc(&with(&labels, &step)),
    }
}

/// The balance of `address` in `denom` (base units), via `abci_query`
/// `/cosmos.bank.v1beta1.Query/Balance`.
pub async fn wallet_balance(q: &IbcQuerier, address: &str, denom: &str) -> Result<u128, String> {
    let req = QueryBalanceRequest {
        address: address.to_string(),
        denom: denom.to_string(),
    };
    let r = q
        .rpc()
        .abci_query(
            "/cosmos.bank.v1beta1.Query/Balance",
            &req.encode_to_vec(),
            None,
            false,
        )
        .await
        .map_err(|e| e.to_string())?;
    if r.code.value() != 0 {
        return Err(format!("balance query: code {}: {}", r.code.value(), r.log));
    }
    let resp = QueryBalanceResponse::decode(r.value.as_slice())
        .map_err(|e| format!("balance answer: {e}"))?;
    match resp.balance {
        None => Ok(0),
        Some(coin) => coin
            .amount
            .parse::<u128>()
            .map_err(|e| format!("balance amount {:?}: {e}", coin.amount)),
    }
}

/// Refreshes the sampled gauges once: chain heights, wallet balances, client expiries.
pub async fn sample_once(state: &DaemonState) {
    let m = metrics();
    for c in state.chains() {
        let h = &c.handle;
        let id = h.config.id.as_str();
        m.chain_height
            .set(&[id], *h.hub.latest_height().borrow() as f64);
        let denom = h.config.gas_price.denom.as_str();
        match wallet_balance(&h.query, &c.address, denom).await {
            Ok(amount) => m
                .wallet_balance
                .set(&[id, &c.address, denom], amount as f64),
            Err(e) => tracing::debug!(chain = id, error = %e, "wallet balance query failed"),
        }
    }
    let mut clients = BTreeSet::new();
    let mut hosts = Vec::new();
    for w in state.workers().values() {
        for end in [&w.spec.a, &w.spec.b] {
            if clients.insert((end.chain.config.id.clone(), end.client_id.clone())) {
                hosts.push((end.chain.clone(), end.client_id.clone()));
            }
        }
    }
    for (host, client) in hosts {
        match crate::cli::query::client_report(&host.query, &client, SystemTime::now()).await {
            Ok(r) => m.client_expiry.set(
                &[&r.host_chain, &r.tracked_chain, &r.client_id],
                r.seconds_until_expiry as f64,
            ),
            Err(e) => {
                tracing::debug!(chain = %host.config.id, %client, error = %e, "client query failed")
            }
        }
    }
}

/// Samples every `interval` until `token` is cancelled. The first sample comes a few seconds
/// after the start, once the first channels were discovered (their clients are sampled too).
pub async fn run_sampler(state: Arc<DaemonState>, interval: Duration, token: CancellationToken) {
    tokio::select! {
        _ = token.cancelled() => return,
        _ = tokio::time::sleep(interval.min(Duration::from_secs(5))) => {}
    }
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = sample_once(&state) => {}
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
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
