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
//!   height and the host chain's latest block time ([`client_status`], the one computation of a
//!   client's status, which `arke query client` and the expiry gauge read too);
//! - once more than `client_refresh_rate` (default 1/3) of the trusting period has passed since
//!   that consensus state, it submits a lone `MsgUpdateClient` to the counterparty's latest height
//!   through the host chain's TxEngine ([`update_client`]);
//! - it reports expired and frozen clients with `tracing::error!`, once per change of state, and
//!   never tries to update them (that would only fail on chain): they need governance recovery.
//!   Refresh failures are warned about once per distinct reason, and retried at the next check.
//!
//! The watched clients are those of the channels whose workers run, as the supervisor publishes
//! them ([`ReliedOn`]): a channel that discovery or a reload starts is watched from then on, and
//! one a reload stops is no longer refreshed. Refresh itself queries no channel list, and its
//! work is per client, not per channel: the hundreds of channels of one connection share one
//! client on each end, checked once per interval (three queries) whatever their number.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use ibc_proto::ibc::core::client::v1::Height;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::channel::Side;

use super::ChainHandle;
use crate::chain::client_status::{client_status, ClientError, ClientHealth, ClientStatus};
use crate::chain::light::{update_client_msgs, TrustLevel};
use crate::chain::query::IbcQuerier;
use crate::config::{Config, HumanDuration};
use crate::tx::engine::{Outcome, TxEngine};

/// Shortest interval between two checks.
pub(crate) const MIN_CHECK_INTERVAL: Duration = Duration::from_millis(500);
/// Longest interval between two checks.
pub(crate) const MAX_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// Updates `client_id` on the engine's chain (`host`) from its latest height `trusted` to the
/// latest height of `counterparty`, with the `MsgUpdateClient`s signed by `signer` it takes (one
/// unless the validator set changed beyond the client's trust level `level`), and waits for the
/// tx. Returns the new height, or `None` when the counterparty has no newer block.
pub(crate) async fn update_client(
    host: &str,
    engine: &TxEngine,
    signer: &str,
    client_id: &str,
    trusted: Height,
    level: TrustLevel,
    counterparty: &IbcQuerier,
) -> Result<Option<u64>, ClientError> {
    let target = counterparty.latest_height().await.map_err(|e| {
        ClientError::new(
            counterparty.chain_id(),
            client_id,
            "counterparty latest height",
            e,
        )
    })?;
    if target <= trusted.revision_height {
        return Ok(None);
    }
    let msgs = update_client_msgs(
        counterparty,
        client_id,
        signer,
        target,
        trusted.revision_height,
        level,
    )
    .await
    .map_err(|e| ClientError::new(counterparty.chain_id(), client_id, "header", e))?;
    match engine.submit_msgs(msgs).await {
        Outcome::Done { .. } | Outcome::Redundant | Outcome::RedundantInMempool => Ok(Some(target)),
        Outcome::Failed { reason, .. } => {
            Err(ClientError::new(host, client_id, "update tx", reason))
        }
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
            status.trust_level,
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
                    age = %HumanDuration(status.age),
                    trusting_period = %HumanDuration(status.trusting_period),
                    "client refreshed"
                );
            }
            Ok(None) => self.failed(ClientError::new(
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

    fn failed(&mut self, e: ClientError) {
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
                time_left = %HumanDuration(s.time_left()),
                trusting_period = %HumanDuration(s.trusting_period),
                "watching client for refresh"
            ),
            ClientHealth::Expired => error!(
                %chain, %client, tracks = %s.tracked_chain,
                height = s.latest_height.revision_height,
                age = %HumanDuration(s.age),
                trusting_period = %HumanDuration(s.trusting_period),
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
pub(crate) fn check_interval(trusting_periods: impl IntoIterator<Item = Duration>) -> Duration {
    trusting_periods
        .into_iter()
        .map(|tp| tp / 10)
        .min()
        .unwrap_or(MAX_CHECK_INTERVAL)
        .clamp(MIN_CHECK_INTERVAL, MAX_CHECK_INTERVAL)
}

/// The clients under the channels `config` lets the daemon relay between `a` and `b`:
/// `(side the client lives on, client id)`.
/// The clients the running channel workers rely on: (the side the client lives on, its id).
pub(crate) type ReliedOn = HashSet<(Side, String)>;

/// The clients `spec`'s worker relies on: B's client on A and A's client on B.
pub(crate) fn clients_of(spec: &super::channel::ChannelSpec) -> [(Side, String); 2] {
    [
        (Side::A, spec.a.client_id.clone()),
        (Side::B, spec.b.client_id.clone()),
    ]
}

/// Watches and refreshes the clients the relayed channels between `a` and `b` rely on until
/// `token` is cancelled. `signers` are the relayer's addresses on A and B (the signers of the
/// `MsgUpdateClient`s each chain's TxEngine submits).
pub(crate) async fn run(
    config: Config,
    a: Arc<ChainHandle>,
    b: Arc<ChainHandle>,
    signers: [String; 2],
    mut relied_on: watch::Receiver<ReliedOn>,
    token: CancellationToken,
) {
    let rate = config.relay.client_refresh_rate;
    let mut watched: HashMap<(Side, String), Watched> = HashMap::new();
    info!(a = %a.config.id, b = %b.config.id, rate, "client refresh started");
    loop {
        {
            // A small set; read it afresh each round (`changed()` below marks it seen).
            let clients = relied_on.borrow_and_update().clone();
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
        // Check every client concurrently: one slow update must not delay the others.
        let checks = futures::future::join_all(watched.values_mut().map(|w| w.check(rate)));
        tokio::select! {
            _ = token.cancelled() => return,
            _ = checks => {}
        }
        let every = check_interval(watched.values().filter_map(|w| w.trusting_period));
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
            // A channel started or stopped: check its clients now. A closed sender means the
            // supervisor is going away; the token ends this task then.
            r = relied_on.changed() => if r.is_err() {
                token.cancelled().await;
                return;
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
