//! Light-client headers: Tendermint `Header`s for `MsgUpdateClient` from `/commit` and
//! `/validators` (the target's signed header and validator set, the trusted validators from
//! trusted height + 1, proposer set), and the client and consensus states for `MsgCreateClient`.
//! Which headers an update needs (one, or more across a change of the validator set) is
//! `bisect.rs`.
//!
//! What the counterparty's 07-tendermint client checks, and therefore what is built here:
//! `validator_set` hashes to the target header's `validators_hash`; `trusted_validators` hashes
//! to the `next_validators_hash` stored with the trusted consensus state, which is the validator
//! set at trusted height + 1; both sets must name a proposer (ibc-go refuses a nil one), although
//! the proposer does not enter the hash.

use std::time::Duration;

use cosmos::to_any;
use ibc_proto::google::protobuf::Any;
use ibc_proto::ibc::core::client::v1::{Height, MsgUpdateClient};
use ibc_proto::ibc::core::commitment::v1::MerkleRoot;
use ibc_proto::ibc::lightclients::tendermint::v1::{ClientState, ConsensusState, Fraction, Header};
use ibc_proto::ics23::ProofSpec;
use tendermint::account;
use tendermint::validator::{Info, Set};

use super::query::{IbcQuerier, QueryError};

mod bisect;

use bisect::Fetched;
pub use bisect::{update_headers, TrustLevel};

/// The upgrade path of Cosmos SDK chains (`x/upgrade`'s store key and the IBC upgraded-state key).
pub(crate) const UPGRADE_PATH: [&str; 2] = ["upgrade", "upgradedIBCState"];

/// The proof specs of Cosmos SDK chains: the IAVL store inside the multistore's simple tree.
pub fn cosmos_proof_specs() -> Vec<ProofSpec> {
    vec![ics23::iavl_spec(), ics23::tendermint_spec()]
}

fn proto_duration(d: Duration) -> ibc_proto::google::protobuf::Duration {
    ibc_proto::google::protobuf::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

fn proto_timestamp(t: tendermint::Time) -> ibc_proto::google::protobuf::Timestamp {
    let ns = t.unix_timestamp_nanos();
    ibc_proto::google::protobuf::Timestamp {
        seconds: i64::try_from(ns.div_euclid(1_000_000_000)).unwrap_or(i64::MAX),
        nanos: i32::try_from(ns.rem_euclid(1_000_000_000)).unwrap_or(0),
    }
}

/// The validator set of `chain` at `height` (all pages), with `proposer` as its proposer, or,
/// when `proposer` is `None`, the validator with the most voting power (ties: lowest address).
async fn validator_set(
    chain: &IbcQuerier,
    height: u64,
    proposer: Option<account::Id>,
) -> Result<Set, QueryError> {
    let validators: Vec<Info> = chain.validators(height).await?;
    if validators.is_empty() {
        return Err(chain.decode_error(format!("empty validator set at {height}")));
    }
    let total = validators
        .iter()
        .try_fold(0u64, |acc, v| acc.checked_add(v.power.value()));
    if total.is_none_or(|t| t > Set::MAX_TOTAL_VOTING_POWER) {
        return Err(chain.decode_error(format!(
            "validator set at {height} exceeds the maximum total voting power"
        )));
    }
    let proposer = match proposer {
        Some(address) => validators
            .iter()
            .find(|v| v.address == address)
            .cloned()
            .ok_or_else(|| {
                chain.decode_error(format!(
                    "proposer {address} is not in the validator set at {height}"
                ))
            })?,
        None => validators
            .iter()
            .max_by(|a, b| {
                a.power
                    .value()
                    .cmp(&b.power.value())
                    .then_with(|| b.address.cmp(&a.address))
            })
            .cloned()
            .ok_or_else(|| chain.decode_error(format!("empty validator set at {height}")))?,
    };
    // Cannot panic: the total voting power was checked above.
    Ok(Set::new(validators, Some(proposer)))
}

/// The `/ibc.lightclients.tendermint.v1.Header` Any for `target` trusting `trusted`, from
/// the signed headers and sets in `fetched`.
async fn header_any(
    fetched: &mut Fetched<'_>,
    target: u64,
    trusted: u64,
) -> Result<Any, QueryError> {
    let chain = fetched.chain();
    let signed_header = fetched.signed_header(target).await?;
    let validators = fetched.validators(target).await?;
    if validators.hash() != signed_header.header.validators_hash {
        return Err(chain.decode_error(format!(
            "the validator set at {target} does not hash to the header's validators_hash"
        )));
    }
    let trusted_validators = fetched.validators(trusted + 1).await?;
    let header = Header {
        signed_header: Some(signed_header.into()),
        validator_set: Some(validators.into()),
        trusted_height: Some(chain.ibc_height(trusted)),
        trusted_validators: Some(trusted_validators.into()),
    };
    Ok(to_any(&header))
}

/// The `MsgUpdateClient`s, signed by `signer`, that take `client_id` (a client of `chain` at
/// trusted height `trusted`, trust level `level`) to `target`, in submission order.
pub(crate) async fn update_client_msgs(
    chain: &IbcQuerier,
    client_id: &str,
    signer: &str,
    target: u64,
    trusted: u64,
    level: TrustLevel,
) -> Result<Vec<Any>, QueryError> {
    let headers = update_headers(chain, target, trusted, level).await?;
    Ok(headers
        .into_iter()
        .map(|header| {
            to_any(&MsgUpdateClient {
                client_id: client_id.to_string(),
                client_message: Some(header),
                signer: signer.to_string(),
            })
        })
        .collect())
}

/// A client state and consensus state of `reference` at its latest height, as
/// `/ibc.lightclients.tendermint.v1.ClientState` and `…ConsensusState` Anys for
/// `MsgCreateClient` on the counterparty. `trust_threshold` is (numerator, denominator); the
/// unbonding period comes from the reference chain's staking params and must exceed
/// `trusting_period`.
pub async fn create_client_states(
    reference: &IbcQuerier,
    trusting_period: Duration,
    clock_drift: Duration,
    trust_threshold: (u64, u64),
    proof_specs: Vec<ProofSpec>,
) -> Result<(Any, Any), QueryError> {
    let (numerator, denominator) = trust_threshold;
    if denominator == 0 || numerator == 0 || numerator > denominator {
        return Err(reference.decode_error(format!(
            "trust threshold {numerator}/{denominator} is not in (0, 1]"
        )));
    }
    let unbonding_period = reference.unbonding_period().await?;
    if trusting_period.is_zero() || trusting_period >= unbonding_period {
        return Err(reference.decode_error(format!(
            "trusting period {trusting_period:?} must be positive and shorter than the unbonding period {unbonding_period:?}"
        )));
    }
    let height = reference.latest_height().await?;
    let header = reference.header(height).await?;
    let client_state = ClientState {
        chain_id: reference.chain_id().to_string(),
        trust_level: Some(Fraction {
            numerator,
            denominator,
        }),
        trusting_period: Some(proto_duration(trusting_period)),
        unbonding_period: Some(proto_duration(unbonding_period)),
        max_clock_drift: Some(proto_duration(clock_drift)),
        frozen_height: Some(Height::default()),
        latest_height: Some(reference.ibc_height(height)),
        proof_specs,
        upgrade_path: UPGRADE_PATH.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let consensus_state = ConsensusState {
        timestamp: Some(proto_timestamp(header.time)),
        root: Some(MerkleRoot {
            hash: header.app_hash.as_bytes().to_vec(),
        }),
        next_validators_hash: header.next_validators_hash.as_bytes().to_vec(),
    };
    Ok((to_any(&client_state), to_any(&consensus_state)))
}
