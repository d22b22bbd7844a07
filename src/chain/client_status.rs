//! The status of a light client on its host chain: active, expired or frozen, and how long it
//! has left.
//!
//! This is the one place that decides it. Expiry is measured against the host chain's latest
//! block time, the clock the host's light client checks an update with (not the relayer's
//! local clock): a client is expired once `consensus time + trusting period <= host time`, and
//! frozen once misbehaviour set its frozen height ([`is_frozen`]). Client refresh, the
//! `arke_client_expiry_seconds` gauge and `arke query client` all read [`client_status`].

use std::time::Duration;

use ibc_proto::ibc::core::client::v1::Height;
use ibc_proto::ibc::lightclients::tendermint::v1::ClientState;

use super::light::TrustLevel;
use super::query::IbcQuerier;

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

impl ClientHealth {
    /// `active`, `expired` or `frozen`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Frozen => "frozen",
        }
    }
}

impl std::fmt::Display for ClientHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`client_status`] found about one client.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientStatus {
    /// The chain the client lives on.
    pub(crate) host_chain: String,
    /// The client id on the host.
    pub(crate) client_id: String,
    /// The chain the client tracks.
    pub tracked_chain: String,
    /// Active, expired or frozen.
    pub health: ClientHealth,
    /// The client's latest height.
    pub(crate) latest_height: Height,
    /// Time of the consensus state at the latest height, Unix nanoseconds.
    pub(crate) consensus_time_ns: u64,
    /// The host chain's latest block time, Unix nanoseconds (what the chain checks expiry with).
    pub(crate) host_time_ns: u64,
    /// The client's trusting period.
    pub trusting_period: Duration,
    /// The client's trust level (what a skipping update must overlap).
    pub(crate) trust_level: TrustLevel,
    /// Time since the latest consensus state, by the host's clock.
    pub(crate) age: Duration,
}

impl ClientStatus {
    /// Whether more than `rate` of the trusting period has passed since the latest consensus
    /// state (the client should be updated).
    pub(crate) fn refresh_due(&self, rate: f64) -> bool {
        self.age >= self.trusting_period.mul_f64(rate.clamp(0.0, 1.0))
    }

    /// Time left before the client expires (zero when it has).
    pub fn time_left(&self) -> Duration {
        self.trusting_period.saturating_sub(self.age)
    }

    /// Whole seconds left before the client expires, by the host's clock; negative once it has
    /// expired (by how long), rounded down.
    pub(crate) fn seconds_until_expiry(&self) -> i64 {
        let left = i128::try_from(self.trusting_period.as_nanos()).unwrap_or(i128::MAX)
            - i128::try_from(self.age.as_nanos()).unwrap_or(i128::MAX);
        let secs = left.div_euclid(1_000_000_000);
        i64::try_from(secs).unwrap_or(if secs < 0 { i64::MIN } else { i64::MAX })
    }
}

/// Reading or updating a client failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The host chain has no client with that id.
    #[error("{chain}: client {client_id} does not exist")]
    Missing {
        /// The host chain.
        chain: String,
        /// The client asked for.
        client_id: String,
    },
    /// A step failed, naming the chain, client and step.
    #[error("chain {chain}: client {client_id}: {step}: {reason}")]
    Step {
        /// The chain the step ran against.
        chain: String,
        /// The client.
        client_id: String,
        /// The step, e.g. `client state` or `header`.
        step: &'static str,
        /// Why.
        reason: String,
    },
}

impl ClientError {
    /// The failure of `step` of client `client_id` on `chain`.
    pub(crate) fn new(
        chain: &str,
        client_id: &str,
        step: &'static str,
        reason: impl ToString,
    ) -> Self {
        Self::Step {
            chain: chain.to_string(),
            client_id: client_id.to_string(),
            step,
            reason: reason.to_string(),
        }
    }
}

/// Whether misbehaviour froze the client (its frozen height is set).
pub(crate) fn is_frozen(cs: &ClientState) -> bool {
    cs.frozen_height
        .as_ref()
        .is_some_and(|h| h.revision_number != 0 || h.revision_height != 0)
}

/// The client's trusting period (zero when unset).
pub(crate) fn trusting_period(cs: &ClientState) -> Duration {
    cs.trusting_period
        .as_ref()
        .map(|d| {
            Duration::new(
                u64::try_from(d.seconds).unwrap_or(0),
                u32::try_from(d.nanos).unwrap_or(0),
            )
        })
        .unwrap_or_default()
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
pub(crate) fn assess(
    cs: &ClientState,
    consensus_time_ns: u64,
    host_time_ns: u64,
) -> (ClientHealth, Duration) {
    let age = Duration::from_nanos(host_time_ns.saturating_sub(consensus_time_ns));
    let health = if is_frozen(cs) {
        ClientHealth::Frozen
    } else if age >= trusting_period(cs) {
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
) -> Result<ClientStatus, ClientError> {
    let chain = host.chain_id();
    let err =
        |step, reason: &dyn ToString| ClientError::new(chain, client_id, step, reason.to_string());
    let cs = host
        .client_state(client_id)
        .await
        .map_err(|e| err("client state", &e))?
        .ok_or_else(|| ClientError::Missing {
            chain: chain.to_string(),
            client_id: client_id.to_string(),
        })?;
    let latest = cs
        .latest_height
        .ok_or_else(|| err("client state", &"no latest height"))?;
    let consensus = host
        .consensus_state(client_id, latest)
        .await
        .map_err(|e| err("consensus state", &e))?
        .ok_or_else(|| {
            err(
                "consensus state",
                &format!(
                    "none at the latest height {}-{}",
                    latest.revision_number, latest.revision_height
                ),
            )
        })?;
    let consensus_time_ns = consensus
        .timestamp
        .as_ref()
        .map(proto_time_ns)
        .ok_or_else(|| err("consensus state", &"no timestamp"))?;
    let (_, host_time_ns) = host
        .latest_height_and_time()
        .await
        .map_err(|e| err("host block time", &e))?;
    let (health, age) = assess(&cs, consensus_time_ns, host_time_ns);
    Ok(ClientStatus {
        host_chain: chain.to_string(),
        client_id: client_id.to_string(),
        tracked_chain: cs.chain_id.clone(),
        health,
        latest_height: latest,
        consensus_time_ns,
        host_time_ns,
        trusting_period: trusting_period(&cs),
        trust_level: TrustLevel::of(&cs),
        age,
    })
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
            trust_level: TrustLevel::ONE_THIRD,
            age,
        };
        assert!(!status.refresh_due(1.0 / 3.0));
        assert!(status.refresh_due(0.25));
        assert_eq!(status.time_left(), Duration::from_secs(9));
        assert_eq!(status.seconds_until_expiry(), 9);
    }

    #[test]
    fn seconds_until_expiry_go_negative_once_expired() {
        let cs = state(12, false);
        let at = |host_ns: u64| {
            let (health, age) = assess(&cs, 100 * S, host_ns);
            ClientStatus {
                host_chain: "a".into(),
                client_id: "07-tendermint-0".into(),
                tracked_chain: "b".into(),
                health,
                latest_height: Height::default(),
                consensus_time_ns: 100 * S,
                host_time_ns: host_ns,
                trusting_period: Duration::from_secs(12),
                trust_level: TrustLevel::ONE_THIRD,
                age,
            }
        };
        assert_eq!(at(111 * S + S / 2).seconds_until_expiry(), 0);
        assert_eq!(at(112 * S).seconds_until_expiry(), 0);
        assert_eq!(at(112 * S).health, ClientHealth::Expired);
        assert_eq!(at(115 * S).seconds_until_expiry(), -3);
        assert_eq!(at(112 * S + 1).seconds_until_expiry(), -1);
    }

    #[test]
    fn frozen_means_a_frozen_height() {
        assert!(!is_frozen(&state(1, false)));
        assert!(is_frozen(&state(1, true)));
        assert!(!is_frozen(&ClientState::default()));
    }
}
