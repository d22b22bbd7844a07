//! The validator schedule: which ed25519 validators sign the block at each height.
//!
//! A real chain's set changes as stake moves; a light client that skips from a trusted header
//! to a much later one accepts it only if validators holding more than its trust threshold (1/3)
//! of the *trusted* set's power signed the new commit. To let tests meet that case, the devnet
//! runs `count` validators of equal power and, with `rotate_every = K`, replaces all but
//! `floor(count / 3)` of them every K blocks: the validators that stay hold at most 1/3 of the
//! old set's power, so a header just after a change cannot be verified straight from one before
//! it, while each header's `next_validators_hash` still names the next set, so a client that
//! steps through the last header before the change (bisection) succeeds.
//!
//! Validators are an endless sequence of keys: key 0 is the node's own validator key (so a
//! one-validator devnet keeps the identity it always had) and key `i` is derived from it and `i`.
//! The set of epoch `e` (heights `e·K + 1 ..= (e + 1)·K`) is keys `e·s .. e·s + count`, with
//! `s = count − floor(count / 3)` the number replaced per change. Everything is derived from
//! the height, so a `--data-dir` replay signs and hashes exactly as the first run did.

use sha2::{Digest, Sha256};
use tendermint::validator::{Info, Set};

/// The voting power of every validator.
const POWER: u32 = 10;

/// Most validators a devnet runs (each signs every block).
pub const MAX_VALIDATORS: u32 = 100;

/// How many validators sign and how often the set changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidatorParams {
    /// Validators in the set at any height (1 ..= [`MAX_VALIDATORS`]).
    pub count: u32,
    /// Replace all but `floor(count / 3)` of them every this many blocks (0: never).
    pub rotate_every: u64,
}

impl Default for ValidatorParams {
    fn default() -> Self {
        Self {
            count: 1,
            rotate_every: 0,
        }
    }
}

impl ValidatorParams {
    /// Checks the bounds.
    pub fn validate(&self) -> Result<(), String> {
        if self.count == 0 || self.count > MAX_VALIDATORS {
            return Err(format!(
                "validators must be between 1 and {MAX_VALIDATORS}, got {}",
                self.count
            ));
        }
        Ok(())
    }

    /// Validators replaced at each change.
    fn replaced(&self) -> u64 {
        u64::from(self.count - self.count / 3)
    }

    /// The epoch of `height` (heights start at 1).
    fn epoch(&self, height: u64) -> u64 {
        match self.rotate_every {
            0 => 0,
            k => height.saturating_sub(1) / k,
        }
    }
}

/// One validator of a set: its signing key and its public info.
pub(crate) struct Signer {
    pub(crate) key: ed25519_consensus::SigningKey,
    pub(crate) info: Info,
}

/// Derives validator keys from the node's validator key.
pub(crate) struct Schedule {
    params: ValidatorParams,
    base: [u8; 32],
}

impl Schedule {
    pub(crate) fn new(params: ValidatorParams, base: [u8; 32]) -> Self {
        Self { params, base }
    }

    fn key(&self, index: u64) -> ed25519_consensus::SigningKey {
        if index == 0 {
            return ed25519_consensus::SigningKey::from(self.base);
        }
        let seed: [u8; 32] = Sha256::new()
            .chain_update(b"devnet validator key")
            .chain_update(self.base)
            .chain_update(index.to_be_bytes())
            .finalize()
            .into();
        ed25519_consensus::SigningKey::from(seed)
    }

    fn signer(&self, index: u64) -> Signer {
        let key = self.key(index);
        let pk = tendermint::PublicKey::from_raw_ed25519(key.verification_key().as_bytes())
            .expect("an ed25519 verification key is 32 bytes");
        Signer {
            key,
            info: Info::new(pk, POWER.into()),
        }
    }

    /// The node's own validator (key 0), with its power at `height` (0 once rotated out).
    pub(crate) fn own(&self, height: u64) -> Info {
        let mut info = self.signer(0).info;
        if self.params.epoch(height) > 0 && self.params.replaced() > 0 {
            info.power = 0u32.into();
        }
        info
    }

    /// The signers of the block at `height`, in the set's order (the commit's order).
    pub(crate) fn signers(&self, height: u64) -> Vec<Signer> {
        let start = self.params.epoch(height) * self.params.replaced();
        let mut signers: Vec<Signer> = (start..start + u64::from(self.params.count))
            .map(|i| self.signer(i))
            .collect();
        // CometBFT's order: by power (all equal here), then by address.
        signers.sort_by_key(|s| s.info.address);
        signers
    }

    /// The validator set at `height`; the proposer rotates through it block by block.
    pub(crate) fn set(&self, height: u64) -> Set {
        let infos: Vec<Info> = self.signers(height).into_iter().map(|s| s.info).collect();
        let proposer = infos
            .get(usize::try_from(height % u64::from(self.params.count)).unwrap_or(0))
            .cloned();
        Set::new(infos, proposer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(count: u32, rotate_every: u64) -> Schedule {
        Schedule::new(
            ValidatorParams {
                count,
                rotate_every,
            },
            [7; 32],
        )
    }

    fn staying_power(s: &Schedule, before: u64, after: u64) -> (u64, u64) {
        let old = s.set(before);
        let new = s.set(after);
        let stay = old
            .validators()
            .iter()
            .filter(|v| new.validator(v.address).is_some())
            .map(|v| v.power.value())
            .sum();
        (stay, old.total_voting_power().value())
    }

    #[test]
    fn one_validator_without_rotation_is_key_zero_for_ever() {
        let s = schedule(1, 0);
        let own = s.own(1);
        for h in [1, 2, 1000] {
            let set = s.set(h);
            assert_eq!(set.validators().len(), 1);
            assert_eq!(set.validators()[0].address, own.address);
            assert_eq!(s.own(h).power.value(), 10);
        }
    }

    #[test]
    fn a_change_keeps_at_most_a_third_of_the_power() {
        for count in 1..=10 {
            let s = schedule(count, 5);
            assert_eq!(s.set(1).hash(), s.set(5).hash(), "one set within an epoch");
            let (stay, total) = staying_power(&s, 5, 6);
            assert_ne!(s.set(5).hash(), s.set(6).hash());
            assert!(3 * stay <= total, "count {count}: {stay} of {total} stay");
            assert_eq!(s.set(6).validators().len(), count as usize);
        }
    }

    #[test]
    fn four_validators_rotate_three_at_a_time() {
        let s = schedule(4, 5);
        let (stay, total) = staying_power(&s, 5, 6);
        assert_eq!((stay, total), (10, 40));
        assert_eq!(s.own(5).power.value(), 10);
        assert_eq!(s.own(6).power.value(), 0);
    }

    #[test]
    fn signers_follow_the_set_order() {
        let s = schedule(4, 5);
        let set = s.set(7);
        let signers = s.signers(7);
        for (v, signer) in set.validators().iter().zip(&signers) {
            assert_eq!(v.address, signer.info.address);
        }
    }

    #[test]
    fn bounds_are_checked() {
        assert!(ValidatorParams {
            count: 0,
            rotate_every: 0
        }
        .validate()
        .is_err());
        assert!(ValidatorParams {
            count: 101,
            rotate_every: 0
        }
        .validate()
        .is_err());
        assert!(ValidatorParams {
            count: 4,
            rotate_every: 5
        }
        .validate()
        .is_ok());
    }
}
