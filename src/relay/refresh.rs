//! Client refresh: keeping the light clients the relayer relies on from expiring when no packets
//! flow.
//!
//! A Tendermint client can only be updated while its latest consensus state is younger than the
//! client's trusting period (measured against the host chain's block time); past that it is
//! *expired*, every update fails on chain, and only governance can recover it. The TxEngine
//! updates a client in front of every batch of packet messages, so a busy channel keeps its
//! clients fresh by itself, but a quiet one does not. [`run`] therefore watches, per chain pair,
//! every client under the channels the supervisor relays (`ChannelSpec::a.client_id`, the client
//! of B on A, and `ChannelSpec::b.client_id`):
//!
//! - at start and then every `trusting_period / 10` (between 500 ms and 1 min, the smallest over
//!   the watched clients), it reads the client state, the consensus state at the client's latest
//!   height and the host chain's latest block time ([`client_status`]);
//! - once more than `client_refresh_rate` (default 1/3) of the trusting period has passed since
//!   that consensus state, it submits a lone `MsgUpdateClient` to the counterparty's latest height
//!   through the host chain's TxEngine ([`update_client`]);
//! - it reports expired and frozen clients with `tracing::error!`, once per change of state, and
//!   never tries to update them (that would only fail on chain): they need governance recovery.
//!   Refresh failures are warned about once per distinct reason, and retried at the next check.
//!
//! The set of watched clients is re-discovered every [`super::supervisor::RESCAN_INTERVAL`], so
//! clients of channels opened while the daemon runs are picked up.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use cosmos::to_any;
use ibc_proto::ibc::core::client::v1::{Height, MsgUpdateClient};
use ibc_proto::ibc::lightclients::tendermint::v1::ClientState;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::supervisor::{discover, RESCAN_INTERVAL};
use super::worker::Side;
use super::ChainHandle;
use crate::chain::light::update_header;
use crate::chain::query::IbcQuerier;
use crate::config::Config;
use crate::tx::engine::{Outcome, TxEngine};

/// Shortest interval between two checks.
pub const MIN_CHECK_INTERVAL: Duration = Duration::from_millis(500);
/// Longest interval between two checks.
pub const MAX_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// Whether a client can still be updated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientHealth {
    /// Its latest consensus state is within the trusting period: updates work.
    Active,
    /// Its latest consensus state is older than the trusting period: needs governance recovery.
    Expired,
    /// Misbehaviour was submitted: needs governance recovery.
    Frozen,
}

impl std::fmt::Display for ClientHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Frozen => "frozen",
        })
    }
}

/// What [`client_status`] found about one client.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientStatus {
    /// The chain the client lives on.
    pub host_chain: String,
    /// The client id on the host.
    pub client_id: String,
    /// The chain the client tracks.
    pub tracked_chain: String,
    /// Active, expired or frozen.
    pub health: ClientHealth,
    /// The client's latest height.
    pub latest_height: Height,
    /// Time of the consensus state at the latest height, Unix nanoseconds.
    pub consensus_time_ns: u64,
    /// The host chain's latest block time, Unix nanoseconds (what the chain checks expiry with).
    pub host_time_ns: u64,
    /// The client's trusting period.
    pub trusting_period: Duration,
    /// Time since the latest consensus state, by the host's clock.
    pub age: Duration,
}

impl ClientStatus {
    /// Whether more than `rate` of the trusting period has passed since the latest consensus
    /// state (the client should be updated).
    pub fn refresh_due(&self, rate: f64) -> bool {
        self.age >= self.trusting_period.mul_f64(rate.clamp(0.0, 1.0))
    }

    /// Time left before the client expires (zero when it has).
    pub fn time_left(&self) -> Duration {
        self.trusting_period.saturating_sub(self.age)
    }
}

/// A step of checking or refreshing a client that failed, naming the chain, client and step.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("chain {chain}: client {client_id}: {step}: {reason}")]
pub struct RefreshError {
    /// The chain the step ran against.
    pub chain: String,
    /// The client.
    pub client_id: String,
    /// The step, e.g. `client state` or `header`.
    pub step: &'static str,
    /// Why.
    pub reason: String,
}

fn err(chain: &str, client_id: &str, step: &'static str, reason: impl ToString) -> RefreshError {
    RefreshError {
        chain: chain.to_string(),
        client_id: client_id.to_string(),
        step,
        reason: reason.to_string(),
    }
}

fn proto_duration(d: &ibc_proto::google::protobuf::Duration) -> Duration {
    Duration::new(
        u64::try_from(d.seconds).unwrap_or(0),
        u32::try_from(d.nanos).unwrap_or(0),
    )
}

fn proto_time_ns(t: &ibc_proto::google::protobuf::Timestamp) -> u64 {
    let secs = u64::try_from(t.seconds).unwrap_or(0);
    let nanos = u64::try_from(t.nanos).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

/// Health and age of a client with state `cs` whose latest consensus state has time
/// `consensus_time_ns`, when the host chain's time is `host_time_ns` (Unix nanoseconds).
///
/// Frozen wins over expired. Expired means `consensus time + trusting period <= host time`, the
/// check the host's light client makes before accepting an update.
pub fn assess(
    cs: &ClientState,
    consensus_time_ns: u64,
    host_time_ns: u64,
) -> (ClientHealth, Duration) {
    let age = Duration::from_nanos(host_time_ns.saturating_sub(consensus_time_ns));
    let trusting = cs
        .trusting_period
        .as_ref()
        .map(proto_duration)
        .unwrap_or_default();
    let frozen = cs
        .frozen_height
        .as_ref()
        .is_some_and(|h| h.revision_number != 0 || h.revision_height != 0);
    let health = if frozen {
        ClientHealth::Frozen
    } else if age >= trusting {
        ClientHealth::Expired
    } else {
        ClientHealth::Active
    };
    (health, age)
}

/// Reads `client_id` on `host` (client state, consensus state at its latest height, the host's
/// latest block time) and tells whether it is active, expired or frozen.
pub async fn client_status(
    host: &IbcQuerier,
    client_id: &str,
) -> Result<ClientStatus, RefreshError> {
    let chain = host.chain_id();
    let cs = host
        .client_state(client_id)
        .await
        .map_err(|e| err(chain, client_id, "client state", e))?
        .ok_or_else(|| {
            err(
                chain,
                client_id,
                "client state",
                "the client does not exist",
            )
        })?;
    let latest = cs
        .latest_height
        .ok_or_else(|| err(chain, client_id, "client state", "no latest height"))?;
    let consensus = host
        .consensus_state(client_id, latest)
        .await
        .map_err(|e| err(chain, client_id, "consensus state", e))?
        .ok_or_else(|| {
            err(
                chain,
                client_id,
                "consensus state",
                format!(
                    "none at the latest height {}-{}",
                    latest.revision_number, latest.revision_height
                ),
            )
        })?;
    let consensus_time_ns = consensus
        .timestamp
        .as_ref()
        .map(proto_time_ns)
        .ok_or_else(|| err(chain, client_id, "consensus state", "no timestamp"))?;
    let (_, host_time_ns) = host
        .latest_height_and_time()
        .await
        .map_err(|e| err(chain, client_id, "host block time", e))?;
    let (health, age) = assess(&cs, consensus_time_ns, host_time_ns);
    Ok(ClientStatus {
        host_chain: chain.to_string(),
        client_id: client_id.to_string(),
        tracked_chain: cs.chain_id.clone(),
        health,
        latest_height: latest,
        consensus_time_ns,
        host_time_ns,
        trusting_period: cs
            .trusting_period
            .as_ref()
            .map(proto_duration)
            .unwrap_or_default(),
        age,
    })
}

/// Updates `client_id` on the engine's chain (`host`) from its latest height `trusted` to the
/// latest height of `counterparty`, with one `MsgUpdateClient` signed by `signer`, and waits
/// for the tx. Returns the new height, or `None` when the counterparty has no newer block.
pub async fn update_client(
    host: &str,
    engine: &TxEngine,
    signer: &str,
    client_id: &str,
    trusted: Height,
    counterparty: &IbcQuerier,
) -> Result<Option<u64>, RefreshError> {
    let target = counterparty.latest_height().await.map_err(|e| {
        err(
            counterparty.chain_id(),
            client_id,
            "counterparty latest height",
            e,
        )
    })?;
    if target <= trusted.revision_height {
        return Ok(None);
    }
    let header = update_header(counterparty, target, trusted.revision_height)
        .await
        .map_err(|e| err(counterparty.chain_id(), client_id, "header", e))?;
    let msg = MsgUpdateClient {
        client_id: client_id.to_string(),
        client_message: Some(header),
        signer: signer.to_string(),
    };
    match engine.submit_msgs(vec![to_any(&msg)]).await {
        Outcome::Done { .. } | Outcome::Redundant => Ok(Some(target)),
        Outcome::Failed { reason, .. } => Err(err(host, client_id, "update tx", reason)),
    }
}

/// One watched client: where it lives and what was last reported about it.
struct Watched {
    host: Arc<ChainHandle>,
    counterparty: Arc<ChainHandle>,
    signer: String,
    client_id: String,
    /// Last health logged (`None`: never checked).
    health: Option<ClientHealth>,
    /// Last failure logged, to warn once per distinct reason.
    last_error: Option<String>,
    /// Trusting period seen at the last check.
    trusting_period: Option<Duration>,
}

impl Watched {
    /// Checks the client and refreshes it when due; logs changes.
    async fn check(&mut self, rate: f64) {
        let status = match client_status(&self.host.query, &self.client_id).await {
            Ok(s) => s,
            Err(e) => return self.failed(e),
        };
        self.trusting_period = Some(status.trusting_period);
        self.report(&status);
        if status.health != ClientHealth::Active || !status.refresh_due(rate) {
            self.last_error = None;
            return;
        }
        match update_client(
            &self.host.config.id,
            &self.host.engine,
            &self.signer,
            &self.client_id,
            status.latest_height,
            &self.counterparty.query,
        )
        .await
        {
            Ok(Some(height)) => {
                self.last_error = None;
                info!(
                    chain = %self.host.config.id,
                    client = %self.client_id,
                    from = status.latest_height.revision_height,
                    to = height,
                    age = ?status.age,
                    trusting_period = ?status.trusting_period,
                    "client refreshed"
                );
            }
            Ok(None) => self.failed(err(
                &self.counterparty.config.id,
                &self.client_id,
                "counterparty latest height",
                format!(
                    "no block above the client's height {}; is the chain halted?",
                    status.latest_height.revision_height
                ),
            )),
            Err(e) => self.failed(e),
        }
    }

    fn failed(&mut self, e: RefreshError) {
        let text = e.to_string();
        if self.last_error.as_deref() != Some(text.as_str()) {
            warn!(chain = %self.host.config.id, client = %self.client_id, error = %text, "client refresh failed; retrying at the next check");
            self.last_error = Some(text);
        } else {
            debug!(chain = %self.host.config.id, client = %self.client_id, error = %text, "client refresh failed again");
        }
    }

    fn report(&mut self, s: &ClientStatus) {
        if self.health == Some(s.health) {
            return;
        }
        let (chain, client) = (&s.host_chain, &s.client_id);
        match s.health {
            ClientHealth::Active => info!(
                %chain, %client, tracks = %s.tracked_chain,
                height = s.latest_height.revision_height,
                time_left = ?s.time_left(),
                trusting_period = ?s.trusting_period,
                "watching client for refresh"
            ),
            ClientHealth::Expired => error!(
                %chain, %client, tracks = %s.tracked_chain,
                height = s.latest_height.revision_height,
                age = ?s.age,
                trusting_period = ?s.trusting_period,
                "client expired: its latest consensus state is older than its trusting period, so \
                 it can no longer be updated and packets over it cannot be relayed; it needs \
                 governance recovery (substitute it with a new client)"
            ),
            ClientHealth::Frozen => error!(
                %chain, %client, tracks = %s.tracked_chain,
                "client frozen after misbehaviour: packets over it cannot be relayed; it needs \
                 governance recovery"
            ),
        }
        self.health = Some(s.health);
    }
}

/// How long to wait between checks of clients with these trusting periods.
pub fn check_interval(trusting_periods: impl IntoIterator<Item = Duration>) -> Duration {
    trusting_periods
        .into_iter()
        .map(|tp| tp / 10)
        .min()
        .unwrap_or(MAX_CHECK_INTERVAL)
        .clamp(MIN_CHECK_INTERVAL, MAX_CHECK_INTERVAL)
}

/// The clients under the channels `config` lets the daemon relay between `a` and `b`:
/// `(side the client lives on, client id)`.
async fn relied_on(
    config: &Config,
    a: &Arc<ChainHandle>,
    b: &Arc<ChainHandle>,
) -> Result<HashSet<(Side, String)>, crate::chain::query::QueryError> {
    let specs = discover(config, a, b).await?;
    Ok(specs
        .iter()
        .flat_map(|s| {
            [
                (Side::A, s.a.client_id.clone()),
                (Side::B, s.b.client_id.clone()),
            ]
        })
        .collect())
}

/// Watches and refreshes the clients the relayed channels between `a` and `b` rely on until
/// `token` is cancelled. `signers` are the relayer's addresses on A and B (the signers of the
/// `MsgUpdateClient`s each chain's TxEngine submits).
pub async fn run(
    config: Config,
    a: Arc<ChainHandle>,
    b: Arc<ChainHandle>,
    signers: [String; 2],
    token: CancellationToken,
) {
    let rate = config.relay.client_refresh_rate;
    let mut watched: HashMap<(Side, String), Watched> = HashMap::new();
    let mut next_discovery = Instant::now();
    info!(a = %a.config.id, b = %b.config.id, rate, "client refresh started");
    loop {
        if Instant::now() >= next_discovery {
            match tokio::select! {
                _ = token.cancelled() => return,
                r = relied_on(&config, &a, &b) => r,
            } {
                Ok(clients) => {
                    watched.retain(|key, _| clients.contains(key));
                    for (side, client_id) in clients {
                        let (host, counterparty, signer) = match side {
                            Side::A => (&a, &b, &signers[0]),
                            Side::B => (&b, &a, &signers[1]),
                        };
                        watched
                            .entry((side, client_id.clone()))
                            .or_insert_with(|| Watched {
                                host: host.clone(),
                                counterparty: counterparty.clone(),
                                signer: signer.clone(),
                                client_id,
                                health: None,
                                last_error: None,
                                trusting_period: None,
                            });
                    }
                }
                Err(e) => {
                    warn!(error = %e, "client refresh: looking for the relayed channels' clients failed; retrying")
                }
            }
            next_discovery = Instant::now() + RESCAN_INTERVAL;
        }
        // Check every client concurrently: one slow update must not delay the others.
        let checks = futures::future::join_all(watched.values_mut().map(|w| w.check(rate)));
        tokio::select! {
            _ = token.cancelled() => return,
            _ = checks => {}
        }
        let every = check_interval(watched.values().filter_map(|w| w.trusting_period));
        let wake = (Instant::now() + every).min(next_discovery);
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(trusting_secs: i64, frozen: bool) -> ClientState {
        ClientState {
            trusting_period: Some(ibc_proto::google::protobuf::Duration {
                seconds: trusting_secs,
                nanos: 0,
            }),
            frozen_height: Some(Height {
                revision_number: 0,
                revision_height: u64::from(frozen),
            }),
            ..Default::default()
        }
    }

    const S: u64 = 1_000_000_000;

    #[test]
    fn health_and_refresh_point() {
        let cs = state(12, false);
        assert_eq!(assess(&cs, 100 * S, 103 * S).0, ClientHealth::Active);
        assert_eq!(assess(&cs, 100 * S, 112 * S).0, ClientHealth::Expired);
        // A consensus time ahead of the host's clock is simply young.
        assert_eq!(
            assess(&cs, 105 * S, 100 * S),
            (ClientHealth::Active, Duration::ZERO)
        );
        assert_eq!(
            assess(&state(12, true), 100 * S, 101 * S).0,
            ClientHealth::Frozen
        );
        assert_eq!(
            assess(&state(12, true), 100 * S, 200 * S).0,
            ClientHealth::Frozen
        );

        let (health, age) = assess(&cs, 100 * S, 103 * S);
        let status = ClientStatus {
            host_chain: "a".into(),
            client_id: "07-tendermint-0".into(),
            tracked_chain: "b".into(),
            health,
            latest_height: Height::default(),
            consensus_time_ns: 100 * S,
            host_time_ns: 103 * S,
            trusting_period: Duration::from_secs(12),
            age,
        };
        assert!(!status.refresh_due(1.0 / 3.0));
        assert!(status.refresh_due(0.25));
        assert_eq!(status.time_left(), Duration::from_secs(9));
    }

    #[test]
    fn check_intervals_are_bounded() {
        assert_eq!(check_interval([]), MAX_CHECK_INTERVAL);
        assert_eq!(
            check_interval([Duration::from_secs(12), Duration::from_secs(1_000_000)]),
            Duration::from_millis(1200)
        );
        assert_eq!(check_interval([Duration::from_secs(2)]), MIN_CHECK_INTERVAL);
        assert_eq!(
            check_interval([Duration::from_secs(86_400 * 14)]),
            MAX_CHECK_INTERVAL
        );
    }
}
