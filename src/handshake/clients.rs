//! ICS-02 for the handshakes: creating a Tendermint light client of one chain on the other, the
//! parameters it gets (operator options over config defaults), and which chain a client tracks.

use cosmos::to_any;
use std::time::Duration;

use ibc_proto::ibc::core::client::v1 as client;

use super::driver::{submit, wait_for_height};
use super::{Endpoint, Result};
use crate::chain::light::create_client_states;
use crate::chain::query::{IbcQuerier, QueryError};
use cosmos::events::event_attr;

/// Client parameters given by the operator; `None` takes the default.
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// Default: the reference chain's `trusting_period` in the config, else 2/3 of its
    /// unbonding period (staking Params).
    pub trusting_period: Option<Duration>,
    /// Default: reference `clock_drift` + host `clock_drift` + host `max_block_time` (Hermes).
    pub clock_drift: Option<Duration>,
    /// Default: the reference chain's `trust_threshold` in the config.
    pub trust_threshold: Option<(u64, u64)>,
}

/// The parameters a new client gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSettings {
    /// Trusting period.
    pub trusting_period: Duration,
    /// Max clock drift.
    pub clock_drift: Duration,
    /// Trust threshold (numerator, denominator).
    pub trust_threshold: (u64, u64),
}

/// Resolves `options` against the configs and, for the trusting period, the reference chain's
/// unbonding period.
pub async fn client_settings(
    host: &Endpoint,
    reference: &Endpoint,
    options: &ClientOptions,
) -> Result<ClientSettings> {
    let step = "client parameters";
    let trusting_period = match options.trusting_period.or(reference.config.trusting_period) {
        Some(d) => d,
        None => {
            let unbonding = reference
                .querier
                .unbonding_period()
                .await
                .map_err(|e| reference.err(step, format!("unbonding period: {e}")))?;
            unbonding * 2 / 3
        }
    };
    let clock_drift = options.clock_drift.unwrap_or(
        reference.config.clock_drift + host.config.clock_drift + host.config.max_block_time,
    );
    let tt = reference.config.trust_threshold;
    Ok(ClientSettings {
        trusting_period,
        clock_drift,
        trust_threshold: options
            .trust_threshold
            .unwrap_or((tt.numerator, tt.denominator)),
    })
}

/// Creates a light client of `reference` on `host`; returns its id.
pub async fn create_client(
    host: &Endpoint,
    reference: &Endpoint,
    options: &ClientOptions,
) -> Result<String> {
    let step = "create client";
    let settings = client_settings(host, reference, options).await?;
    // Proofs and updates need a few blocks behind the client's first height.
    wait_for_height(reference, 2, step).await?;
    let (client_state, consensus_state) = create_client_states(
        &reference.querier,
        settings.trusting_period,
        settings.clock_drift,
        settings.trust_threshold,
        reference.config.proof_specs.0.clone(),
    )
    .await
    .map_err(|e| reference.err(step, e))?;
    let msg = client::MsgCreateClient {
        client_state: Some(client_state),
        consensus_state: Some(consensus_state),
        signer: host.signer.clone(),
    };
    let events = submit(host, vec![to_any(&msg)], step).await?;
    event_attr(&events, "create_client", "client_id")
        .ok_or_else(|| host.err(step, "the tx has no create_client event"))
}

/// The chain id client `client_id` on `q` tracks (empty when the client does not exist).
pub(super) async fn client_chain(
    q: &IbcQuerier,
    client_id: &str,
) -> std::result::Result<String, QueryError> {
    Ok(q.client_state(client_id)
        .await?
        .map(|cs| cs.chain_id)
        .unwrap_or_default())
}
