//! Bisection: the headers a client update needs when the validator set changed.
//!
//! A Tendermint client on the counterparty accepts a header at height `t` from its trusted
//! height `s` in one of two ways: `t = s + 1` (adjacent: the header's validators must be the
//! trusted state's next validators), or, skipping, when validators of the trusted next set
//! holding more than the client's trust level (1/3 by default) of that set's power signed the
//! commit at `t`. After a large change of the set, a skipping update is refused on chain, and a
//! relayer that keeps sending it pays for a failed tx every time while the channel stalls.
//!
//! So before anything is sent, the same overlap is counted here from the `/commit` and
//! `/validators` the header is built from, and when it is not enough the span is halved, as the
//! Tendermint light client's skipping verification does, until a reachable height is found; the
//! update then steps from there. An adjacent height is always reachable, so this ends. The
//! result is the list of headers to submit in order, usually one; signed headers and validator
//! sets are fetched once per height, so the common single-header case costs what it did before
//! bisection existed (two `/commit` and two `/validators` requests).
//!
//! The overlap counted here trusts the node's `/commit` to carry valid signatures: this picks
//! the headers; the counterparty's client still verifies every signature.

use std::collections::{HashMap, HashSet};

use ibc_proto::google::protobuf::Any;
use ibc_proto::ibc::lightclients::tendermint::v1::ClientState;
use tendermint::block::signed_header::SignedHeader;
use tendermint::block::{Commit, CommitSig};
use tendermint::validator::Set;

use super::{header_any, validator_set};
use crate::chain::query::{IbcQuerier, QueryError};

/// Most headers one client update may take. Each is a `MsgUpdateClient` whose verification the
/// chain pays for; a client so far behind that it needs more is better recreated (or refreshed
/// more often) than updated through a tx this large.
pub(crate) const MAX_UPDATE_HEADERS: usize = 32;

/// The share of a trusted validator set's power that must sign a skipped-to commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrustLevel {
    /// Numerator.
    pub numerator: u64,
    /// Denominator (above zero).
    pub denominator: u64,
}

impl TrustLevel {
    /// 1/3, the default of Tendermint clients.
    pub const ONE_THIRD: Self = Self {
        numerator: 1,
        denominator: 3,
    };

    /// The trust level of a client state; 1/3 when it is unset or not a fraction in (0, 1].
    pub fn of(client_state: &ClientState) -> Self {
        match &client_state.trust_level {
            Some(f) if f.denominator > 0 && f.numerator > 0 && f.numerator <= f.denominator => {
                Self {
                    numerator: f.numerator,
                    denominator: f.denominator,
                }
            }
            _ => Self::ONE_THIRD,
        }
    }
}

impl std::fmt::Display for TrustLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.numerator, self.denominator)
    }
}

/// Whether validators of `trusted` holding more than `level` of its total power signed `commit`
/// for its block: the check a Tendermint client makes before it skips (CometBFT's
/// `VerifyCommitLightTrusting`: tallied > total × numerator / denominator, integer division;
/// each validator counted once).
pub(crate) fn enough_overlap(trusted: &Set, commit: &Commit, level: TrustLevel) -> bool {
    let total = u128::from(trusted.total_voting_power().value());
    let needed = total * u128::from(level.numerator) / u128::from(level.denominator.max(1));
    let mut counted = HashSet::new();
    let mut tallied: u128 = 0;
    for sig in &commit.signatures {
        let CommitSig::BlockIdFlagCommit {
            validator_address, ..
        } = sig
        else {
            continue;
        };
        if !counted.insert(*validator_address) {
            continue;
        }
        if let Some(v) = trusted.validator(*validator_address) {
            tallied += u128::from(v.power.value());
            if tallied > needed {
                return true;
            }
        }
    }
    false
}

/// Signed headers and validator sets of one chain, fetched at most once per height.
pub(super) struct Fetched<'a> {
    chain: &'a IbcQuerier,
    headers: HashMap<u64, SignedHeader>,
    sets: HashMap<u64, Set>,
}

impl<'a> Fetched<'a> {
    pub(super) fn new(chain: &'a IbcQuerier) -> Self {
        Self {
            chain,
            headers: HashMap::new(),
            sets: HashMap::new(),
        }
    }

    pub(super) fn chain(&self) -> &'a IbcQuerier {
        self.chain
    }

    /// The signed header at `height`.
    pub(super) async fn signed_header(&mut self, height: u64) -> Result<SignedHeader, QueryError> {
        if let Some(sh) = self.headers.get(&height) {
            return Ok(sh.clone());
        }
        let sh = self.chain.signed_header(height).await?;
        self.headers.insert(height, sh.clone());
        Ok(sh)
    }

    /// The validator set at `height` with that height's proposer. When the header cannot be
    /// had (a pruned node, say), the strongest validator stands in as proposer: the proposer
    /// does not enter the set's hash, but ibc-go refuses a set without one.
    pub(super) async fn validators(&mut self, height: u64) -> Result<Set, QueryError> {
        if let Some(set) = self.sets.get(&height) {
            return Ok(set.clone());
        }
        let proposer = match self.signed_header(height).await {
            Ok(sh) => Some(sh.header.proposer_address),
            Err(e) => {
                tracing::debug!(
                    chain = self.chain.chain_id(),
                    height,
                    error = %e,
                    "no header for the validators' proposer; using the strongest validator"
                );
                None
            }
        };
        let set = validator_set(self.chain, height, proposer).await?;
        self.sets.insert(height, set.clone());
        Ok(set)
    }
}

/// The `/ibc.lightclients.tendermint.v1.Header` Anys that take a client of `chain` trusting
/// height `trusted` to `target`, in the order they must be submitted: one when the client can
/// skip there, more when the validator set changed too much on the way (see the module doc).
/// `level` is the client's trust level ([`TrustLevel::of`] its client state).
pub async fn update_headers(
    chain: &IbcQuerier,
    target: u64,
    trusted: u64,
    level: TrustLevel,
) -> Result<Vec<Any>, QueryError> {
    if trusted >= target {
        return Err(chain.decode_error(format!(
            "cannot build a header for {target} trusting {trusted}: the target must be higher"
        )));
    }
    let mut fetched = Fetched::new(chain);
    let mut headers = Vec::new();
    let mut from = trusted;
    while from < target {
        let mut pivot = target;
        while pivot > from + 1 {
            let trusted_next = fetched.validators(from + 1).await?;
            let commit = fetched.signed_header(pivot).await?.commit;
            if enough_overlap(&trusted_next, &commit, level) {
                break;
            }
            // pivot − from ≥ 2, so the midpoint lies strictly between them.
            pivot = from + (pivot - from) / 2;
        }
        if headers.len() == MAX_UPDATE_HEADERS {
            return Err(chain.decode_error(format!(
                "updating the client from {trusted} to {target} needs more than \
                 {MAX_UPDATE_HEADERS} headers (the validator set changed too often in between)"
            )));
        }
        headers.push(header_any(&mut fetched, pivot, from).await?);
        from = pivot;
    }
    if headers.len() > 1 {
        tracing::info!(
            chain = chain.chain_id(),
            from = trusted,
            to = target,
            headers = headers.len(),
            trust_level = %level,
            "validator set changed beyond the trust level; updating through intermediate headers"
        );
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tendermint::validator::Info;

    fn info(seed: u8, power: u32) -> Info {
        let key = ed25519_consensus::SigningKey::from([seed; 32]);
        let pk = tendermint::PublicKey::from_raw_ed25519(key.verification_key().as_bytes())
            .expect("32 bytes");
        Info::new(pk, power.into())
    }

    fn commit_by(signers: &[&Info]) -> Commit {
        Commit {
            height: 5u32.into(),
            round: Default::default(),
            block_id: Default::default(),
            signatures: signers
                .iter()
                .map(|v| CommitSig::BlockIdFlagCommit {
                    validator_address: v.address,
                    timestamp: tendermint::Time::unix_epoch(),
                    signature: None,
                })
                .chain([CommitSig::BlockIdFlagAbsent])
                .collect(),
        }
    }

    #[test]
    fn overlap_must_exceed_the_trust_level() {
        let (a, b, c, d) = (info(1, 10), info(2, 10), info(3, 10), info(4, 10));
        let trusted = Set::without_proposer(vec![a.clone(), b.clone(), c.clone()]);
        let third = TrustLevel::ONE_THIRD;
        // 10 of 30 is exactly a third: not more.
        assert!(!enough_overlap(&trusted, &commit_by(&[&a, &d]), third));
        assert!(enough_overlap(&trusted, &commit_by(&[&a, &b, &d]), third));
        // A validator signing twice is counted once; strangers count nothing.
        assert!(!enough_overlap(&trusted, &commit_by(&[&a, &a, &d]), third));
        let two_thirds = TrustLevel {
            numerator: 2,
            denominator: 3,
        };
        assert!(!enough_overlap(&trusted, &commit_by(&[&a, &b]), two_thirds));
        assert!(enough_overlap(
            &trusted,
            &commit_by(&[&a, &b, &c]),
            two_thirds
        ));
    }

    #[test]
    fn trust_level_comes_from_the_client_state() {
        use ibc_proto::ibc::lightclients::tendermint::v1::Fraction;
        let mut cs = ClientState::default();
        assert_eq!(TrustLevel::of(&cs), TrustLevel::ONE_THIRD);
        cs.trust_level = Some(Fraction {
            numerator: 2,
            denominator: 3,
        });
        assert_eq!(
            TrustLevel::of(&cs),
            TrustLevel {
                numerator: 2,
                denominator: 3
            }
        );
        cs.trust_level = Some(Fraction {
            numerator: 1,
            denominator: 0,
        });
        assert_eq!(TrustLevel::of(&cs), TrustLevel::ONE_THIRD);
    }
}
