//! The sampler: the gauges that need a query, refreshed while the telemetry server runs. Every
//! [`CHAIN_UP_INTERVAL`], whether each chain answers `/status` (`arke_chain_up`, the same check
//! as `/health`, so the gauge is current without anyone asking `/health`). Every
//! [`SAMPLE_INTERVAL`], per chain the latest height its event hub delivered and the relayer's
//! wallet balance in the fee denom; per client under a running worker (both ends of each
//! channel) the seconds until it expires, from [`client_status`], the same reading that client
//! refresh acts on. The numbers go to telemetry's metric families. Its cost is per chain and
//! per client, never per channel: an idle daemon's sampler makes the same few requests for 1
//! channel as for 1,000.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ibc_proto::cosmos::bank::v1beta1::{QueryBalanceRequest, QueryBalanceResponse};
use prost::Message;
use tokio_util::sync::CancellationToken;

use super::ChainHandle;
use crate::chain::client_status::client_status;
use crate::chain::query::IbcQuerier;
use crate::telemetry::metrics::metrics;
use crate::telemetry::state::DaemonState;

/// How often the sampler refreshes wallet balances, client expiries and heights.
pub(crate) const SAMPLE_INTERVAL: Duration = Duration::from_secs(30);

/// How often the sampler asks each chain's `/status` for `arke_chain_up`: one cheap request per
/// chain, so an outage shows within seconds (each check waits at most
/// [`crate::telemetry::state::HEALTH_RPC_TIMEOUT`]).
pub(crate) const CHAIN_UP_INTERVAL: Duration = Duration::from_secs(5);

/// The balance of `address` in `denom` (base units), via `abci_query`
/// `/cosmos.bank.v1beta1.Query/Balance`.
pub(crate) async fn wallet_balance(
    q: &IbcQuerier,
    address: &str,
    denom: &str,
) -> Result<u128, String> {
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

/// The chains of the pair, A then B (each lists its signers' addresses).
pub(crate) type SampledChains = [Arc<ChainHandle>; 2];

/// Refreshes the sampled gauges once: chain heights, wallet balances, and the expiry of the
/// clients under the workers `state` lists.
pub(crate) async fn sample_once(chains: &SampledChains, state: &DaemonState) {
    let m = metrics();
    for h in chains {
        let id = h.config.id.as_str();
        m.chain_height
            .set(&[id], *h.hub.latest_height().borrow() as f64);
        let denom = h.config.gas_price.denom.as_str();
        // Every signer's balance (`key_names`), the first one included.
        for address in h.packet_signers.iter().map(|s| s.address.as_str()) {
            match wallet_balance(&h.query, address, denom).await {
                Ok(amount) => m.wallet_balance.set(&[id, address, denom], amount as f64),
                Err(e) => tracing::debug!(chain = id, error = %e, "wallet balance query failed"),
            }
        }
    }
    let [a, b] = chains;
    let mut clients = BTreeSet::new();
    let mut hosts = Vec::new();
    for w in state.workers().values() {
        // The end on chain A holds a client of B on A, the end on chain B one of A on B.
        for (host, client) in [(a, &w.channel.a.client), (b, &w.channel.b.client)] {
            if clients.insert((host.config.id.clone(), client.clone())) {
                hosts.push((host.clone(), client.clone()));
            }
        }
    }
    for (host, client) in hosts {
        match client_status(&host.query, &client).await {
            Ok(s) => m.client_expiry.set(
                &[&s.host_chain, &s.tracked_chain, &s.client_id],
                s.seconds_until_expiry() as f64,
            ),
            Err(e) => {
                tracing::debug!(chain = %host.config.id, %client, error = %e, "client query failed")
            }
        }
    }
}

/// Samples every `interval`, and checks the chains every [`CHAIN_UP_INTERVAL`], until `token`
/// is cancelled. The chain check starts at once; the first sample comes a few seconds after the
/// start, once the first channels were discovered (their clients are sampled too). The two
/// loops run side by side, so a slow balance query never delays the chain check.
pub(crate) async fn run(
    chains: SampledChains,
    state: Arc<DaemonState>,
    interval: Duration,
    token: CancellationToken,
) {
    let chain_up = async {
        let mut tick = tokio::time::interval(CHAIN_UP_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            state.check_chains().await;
        }
    };
    let samples = async {
        tokio::time::sleep(interval.min(Duration::from_secs(5))).await;
        loop {
            sample_once(&chains, &state).await;
            tokio::time::sleep(interval).await;
        }
    };
    tokio::select! {
        _ = token.cancelled() => {}
        _ = chain_up => {}
        _ = samples => {}
    }
}
