//! The host as its counterparties' clients see it: its own consensus state at a height, and
//! ibc-go's `ValidateSelfClient` checks on a counterparty's client of this chain.

use ibc::clients::tendermint::types::ConsensusState as TmConsensusStateType;
use ibc::core::commitment_types::commitment::CommitmentRoot;
use ibc::core::commitment_types::specs::ProofSpecs;
use ibc::core::host::types::error::HostError;

use super::IbcContext;

/// The host's tendermint consensus state built from one of its headers.
pub fn host_consensus_state(
    c: &crate::ibc::HostConsensus,
) -> Result<TmConsensusStateType, HostError> {
    let secs = i64::try_from(c.time_ns / 1_000_000_000).map_err(HostError::invalid_state)?;
    let nanos = u32::try_from(c.time_ns % 1_000_000_000).map_err(HostError::invalid_state)?;
    let time =
        tendermint::Time::from_unix_timestamp(secs, nanos).map_err(HostError::invalid_state)?;
    let next_validators_hash =
        tendermint::Hash::from_bytes(tendermint::hash::Algorithm::Sha256, &c.next_validators_hash)
            .map_err(HostError::invalid_state)?;
    Ok(TmConsensusStateType::new(
        CommitmentRoot::from_bytes(&c.app_hash),
        time,
        next_validators_hash,
    ))
}

/// What ibc-go's `ValidateSelfClient` checks that matters here: a tendermint client of this
/// chain, not frozen, same chain id and revision, latest height below the host height, a
/// valid trust level, and the Cosmos SDK proof specs (our store proves like the SDK's IAVL).
pub(super) fn validate_self_client(
    ctx: &IbcContext<'_>,
    cs: &ibc::clients::tendermint::types::ClientState,
) -> Result<(), HostError> {
    let invalid = |msg: String| HostError::invalid_state(format!("invalid self client: {msg}"));
    if cs.is_frozen() {
        return Err(invalid("client is frozen".to_string()));
    }
    let host_chain_id = ctx.shared.host.chain_id;
    if cs.chain_id.as_str() != host_chain_id {
        return Err(invalid(format!(
            "invalid chain-id. expected: {host_chain_id}, got: {}",
            cs.chain_id
        )));
    }
    let host_height = ctx.host_ibc_height()?;
    if cs.latest_height.revision_number() != host_height.revision_number() {
        return Err(invalid(format!(
            "client is not in the same revision as the chain. expected revision: {}, got: {}",
            host_height.revision_number(),
            cs.latest_height.revision_number()
        )));
    }
    if cs.latest_height >= host_height {
        return Err(invalid(format!(
            "client has LatestHeight {} greater than or equal to chain height {host_height}",
            cs.latest_height
        )));
    }
    let (num, den) = (cs.trust_level.numerator(), cs.trust_level.denominator());
    if den == 0 || num == 0 || num > den || num.saturating_mul(3) < den {
        return Err(invalid(format!("trust level {num}/{den} is invalid")));
    }
    if cs.proof_specs != ProofSpecs::cosmos() {
        return Err(invalid(
            "client has invalid proof specs, expected the Cosmos SDK specs".to_string(),
        ));
    }
    if cs.unbonding_period < cs.trusting_period {
        return Err(invalid(format!(
            "unbonding period must be greater than trusting period. unbonding period ({:?}) < trusting period ({:?})",
            cs.unbonding_period, cs.trusting_period
        )));
    }
    Ok(())
}
