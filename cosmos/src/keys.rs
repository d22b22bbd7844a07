//! Secp256k1 account keys, the way Cosmos SDK chains and their wallets (cosmjs, Keplr, Hermes)
//! derive and use them: BIP-39 mnemonic → seed → BIP-32 derivation on an HD path (default
//! `m/44'/118'/0'/0/0`) → 33-byte compressed public key; signatures are ECDSA over
//! `sha256(msg)`, 64-byte `r || s`, always low-S (the SDK rejects high-S signatures as
//! malleable). The address of a key is in [`crate::address`].
//!
//! Secrets never leave this module except as signatures: [`AccountKey`] prints as
//! `AccountKey(<secret>)`, the seed is zeroized after derivation (the signing key zeroizes
//! itself on drop), and no [`KeyError`] contains the mnemonic.

use ibc_proto::cosmos::crypto::secp256k1::PubKey;
use ibc_proto::google::protobuf::Any;
use k256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use k256::ecdsa::{Signature, SigningKey, VerifyingKey};
use k256::elliptic_curve::zeroize::Zeroize;
use prost::Message;
use sha2::{Digest, Sha256};

use crate::address;

/// The Cosmos HD path.
pub const COSMOS_HD_PATH: &str = "m/44'/118'/0'/0/0";

/// Length of a compressed secp256k1 public key.
pub const PUB_KEY_LEN: usize = 33;

/// Length of a compact `r || s` signature.
pub const SIGNATURE_LEN: usize = 64;

/// Type URL of a secp256k1 public key.
pub const SECP256K1_PUB_KEY_TYPE_URL: &str = "/cosmos.crypto.secp256k1.PubKey";

/// Why a key could not be derived or a public key is unusable. Never carries a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The HD path does not parse.
    #[error("invalid HD path {path:?}: {reason}")]
    HdPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The mnemonic is not a valid English BIP-39 phrase (unknown word, bad checksum, length).
    #[error("invalid mnemonic: {reason}")]
    Mnemonic {
        /// What is wrong with it (never the words themselves).
        reason: String,
    },
    /// BIP-32 derivation failed on the path.
    #[error("key derivation on {path} failed: {reason}")]
    Derivation {
        /// The HD path.
        path: String,
        /// The derivation error.
        reason: String,
    },
    /// 32 bytes that are not a valid secp256k1 secret scalar.
    #[error("invalid secp256k1 secret key")]
    Secret,
    /// A public key that is not 33 bytes long.
    #[error("length of pubkey is incorrect: expected {PUB_KEY_LEN}, got {0}")]
    PubKeyLength(usize),
    /// 33 bytes that are not a compressed secp256k1 point.
    #[error("pubkey is not a valid secp256k1 point")]
    PubKeyPoint,
}

/// A secp256k1 signing key with its address.
#[derive(Clone)]
pub struct AccountKey {
    signing_key: SigningKey,
}

impl std::fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccountKey(<secret>)")
    }
}

impl AccountKey {
    /// Derives the key from a BIP-39 mnemonic (English word list, empty passphrase) on
    /// `hd_path`. Errors never contain the mnemonic.
    pub fn from_mnemonic(mnemonic: &str, hd_path: &str) -> Result<Self, KeyError> {
        let path: bip32::DerivationPath = hd_path.trim().parse().map_err(|e| KeyError::HdPath {
            path: hd_path.to_string(),
            reason: format!("{e}"),
        })?;
        // Normalise whitespace the way wallets do (single spaces, no leading/trailing blanks).
        let mut normalised = mnemonic.split_whitespace().collect::<Vec<_>>().join(" ");
        let parsed = bip39::Mnemonic::parse_in(bip39::Language::English, normalised.as_str());
        normalised.zeroize();
        let mut seed = parsed
            .map_err(|e| KeyError::Mnemonic {
                reason: e.to_string(),
            })?
            .to_seed("");
        let derived = bip32::XPrv::derive_from_path(seed.as_slice(), &path);
        seed.zeroize();
        let xprv = derived.map_err(|e| KeyError::Derivation {
            path: hd_path.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            signing_key: xprv.private_key().clone(),
        })
    }

    /// A key from 32 raw secret bytes (tests, imported keys).
    pub fn from_secret_bytes(secret: &[u8]) -> Result<Self, KeyError> {
        SigningKey::from_slice(secret)
            .map(|signing_key| Self { signing_key })
            .map_err(|_| KeyError::Secret)
    }

    /// A random key (for generated accounts).
    pub fn random() -> Self {
        Self {
            signing_key: SigningKey::random(&mut rand::rngs::OsRng),
        }
    }

    /// The 33-byte compressed public key.
    pub fn public_key(&self) -> Vec<u8> {
        self.signing_key
            .verifying_key()
            .to_encoded_point(true)
            .as_bytes()
            .to_vec()
    }

    /// The 20 address bytes: ripemd160(sha256(compressed pubkey)).
    pub fn address_bytes(&self) -> [u8; 20] {
        address::address_bytes_of(&self.public_key())
    }

    /// The bech32 address with `prefix`.
    pub fn address(&self, prefix: &str) -> String {
        address::encode_address(prefix, &self.address_bytes())
    }

    /// A 64-byte low-S signature over sha256(`msg`) (RFC 6979 deterministic nonce, so the same
    /// key and message always give the same signature, as with cosmjs).
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let digest = Sha256::digest(msg);
        let signature: Signature = match self.signing_key.sign_prehash(&digest) {
            Ok(signature) => signature,
            // Unreachable for a 32-byte digest and a valid key (RFC 6979 retries internally);
            // an empty signature would simply fail verification.
            Err(_) => return Vec::new(),
        };
        let signature = signature.normalize_s().unwrap_or(signature);
        signature.to_bytes().to_vec()
    }
}

/// A fresh 24-word English BIP-39 mnemonic from 32 bytes of OS randomness.
pub fn random_mnemonic() -> Result<String, KeyError> {
    let mut entropy = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut entropy);
    let phrase = bip39::Mnemonic::from_entropy(&entropy).map(|m| m.to_string());
    entropy.zeroize();
    phrase.map_err(|e| KeyError::Mnemonic {
        reason: e.to_string(),
    })
}

/// Verifies a 64-byte `r || s` signature over sha256(`msg`) with a compressed public key, like
/// the Cosmos SDK's secp256k1 `VerifySignature`: the length must be 64 and high-S signatures
/// are rejected.
pub fn verify(pub_key: &[u8], msg: &[u8], signature: &[u8]) -> bool {
    if signature.len() != SIGNATURE_LEN {
        return false;
    }
    let Ok(key) = VerifyingKey::from_sec1_bytes(pub_key) else {
        return false;
    };
    let Ok(signature) = Signature::from_slice(signature) else {
        return false;
    };
    if signature.normalize_s().is_some() {
        // `normalize_s` returns a new signature only when `s` is in the upper half.
        return false;
    }
    key.verify_prehash(&Sha256::digest(msg), &signature).is_ok()
}

/// Checks that `pub_key` is a valid 33-byte compressed secp256k1 point.
pub fn validate_pub_key(pub_key: &[u8]) -> Result<(), KeyError> {
    if pub_key.len() != PUB_KEY_LEN {
        return Err(KeyError::PubKeyLength(pub_key.len()));
    }
    VerifyingKey::from_sec1_bytes(pub_key)
        .map(|_| ())
        .map_err(|_| KeyError::PubKeyPoint)
}

/// A compressed secp256k1 key as an `Any` (`/cosmos.crypto.secp256k1.PubKey`), as it appears
/// in a signer info and in a `BaseAccount`.
pub fn pub_key_any(key: &[u8]) -> Any {
    Any {
        type_url: SECP256K1_PUB_KEY_TYPE_URL.to_string(),
        value: PubKey { key: key.to_vec() }.encode_to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors published by cosmjs (proto-signing and amino wallet tests, faucet test utils)
    // and widely reproduced for the all-"abandon" BIP-39 test mnemonic.
    const COSMJS_DEFAULT: &str =
        "special sign fit simple patrol salute grocery chicken wheat radar tonight ceiling";
    const COSMJS_FAUCET: &str = "economy stock theory fatal elder harbor betray wasp final emotion task crumble siren bottom lizard educate guess current outdoor pair theory focus wife stone";
    const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    #[test]
    fn derives_cosmjs_default_wallet() {
        let key = AccountKey::from_mnemonic(COSMJS_DEFAULT, COSMOS_HD_PATH).unwrap();
        assert_eq!(
            hex::encode(key.public_key()),
            "02baa4ef93f2ce84592a49b1d729c074eab640112522a7a89f7d03ebab21ded7b6"
        );
        assert_eq!(
            key.address("cosmos"),
            "cosmos1jhg0e7s6gn44tfc5k37kr04sznyhedtc9rzys5"
        );
    }

    #[test]
    fn derives_cosmjs_faucet() {
        let key = AccountKey::from_mnemonic(COSMJS_FAUCET, COSMOS_HD_PATH).unwrap();
        assert_eq!(
            hex::encode(key.public_key()),
            "034f04181eeba35391b858633a765c4a0c189697b40d216354d50890d350c70290"
        );
        assert_eq!(
            key.address("cosmos"),
            "cosmos1pkptre7fdkl6gfrzlesjjvhxhlc3r4gmmk8rs6"
        );
    }

    #[test]
    fn derives_abandon_about() {
        let key = AccountKey::from_mnemonic(ABANDON, COSMOS_HD_PATH).unwrap();
        assert_eq!(
            key.address("cosmos"),
            "cosmos19rl4cm2hmr8afy4kldpxz3fka4jguq0auqdal4"
        );
        // Same key, another prefix: only the human-readable part and checksum change.
        assert_eq!(
            key.address("neutron"),
            "neutron19rl4cm2hmr8afy4kldpxz3fka4jguq0aclyl9j"
        );
    }

    #[test]
    fn whitespace_in_mnemonic_is_normalised() {
        let messy = format!("  {}\n", ABANDON.replace(' ', "  "));
        let a = AccountKey::from_mnemonic(&messy, COSMOS_HD_PATH).unwrap();
        let b = AccountKey::from_mnemonic(ABANDON, COSMOS_HD_PATH).unwrap();
        assert_eq!(a.public_key(), b.public_key());
    }

    #[test]
    fn other_hd_path_gives_other_key() {
        let a = AccountKey::from_mnemonic(ABANDON, COSMOS_HD_PATH).unwrap();
        let b = AccountKey::from_mnemonic(ABANDON, "m/44'/118'/0'/0/1").unwrap();
        assert_ne!(a.public_key(), b.public_key());
    }

    #[test]
    fn bad_mnemonic_and_path_are_errors_without_secrets() {
        let bad_word = ABANDON.replace("about", "abouts");
        let err = AccountKey::from_mnemonic(&bad_word, COSMOS_HD_PATH)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("abandon"), "{err}");
        let bad_checksum = ABANDON.replace("about", "abandon");
        assert!(AccountKey::from_mnemonic(&bad_checksum, COSMOS_HD_PATH).is_err());
        assert!(AccountKey::from_mnemonic(ABANDON, "m/44'/x").is_err());
    }

    #[test]
    fn debug_hides_the_secret() {
        let key = AccountKey::from_mnemonic(ABANDON, COSMOS_HD_PATH).unwrap();
        assert_eq!(format!("{key:?}"), "AccountKey(<secret>)");
    }

    #[test]
    fn signature_matches_cosmjs_vector() {
        // cosmjs proto-signing test vector: faucet key, SIGN_MODE_DIRECT sign bytes of a MsgSend
        // on chain `simd-testing`, account number 1, sequence 0. The expected signature is the
        // one inside the vector's signed tx bytes: RFC 6979 makes it reproducible bit for bit.
        let sign_bytes = hex::decode("0a97010a90010a1c2f636f736d6f732e62616e6b2e763162657461312e4d736753656e6412700a2d636f736d6f7331706b707472653766646b6c366766727a6c65736a6a766878686c63337234676d6d6b38727336122d636f736d6f7331717970717870713971637273737a673270767871367273307a716733797963356c7a763778751a100a0575636f736d12073132333435363712001800126b0a500a460a1f2f636f736d6f732e63727970746f2e736563703235366b312e5075624b657912230a21034f04181eeba35391b858633a765c4a0c189697b40d216354d50890d350c7029012040a020801180012170a0d0a0575636f736d12043230303010c09a0c1a0022001a0c73696d642d74657374696e672001").unwrap();
        let key = AccountKey::from_mnemonic(COSMJS_FAUCET, COSMOS_HD_PATH).unwrap();
        let signature = key.sign(&sign_bytes);
        assert_eq!(
            hex::encode(&signature),
            "d1bb55b0f3e5f9c260a20c8ccf2cb44f19bafccba84c7fb6e2b77fac401b15c9228c33236a701dd7a7c4a481aa5dedb902c982fe565504c4f4e7f39ccfcd73d6"
        );
        assert!(verify(&key.public_key(), &sign_bytes, &signature));
    }

    #[test]
    fn signatures_are_low_s_and_high_s_is_rejected() {
        let key = AccountKey::random();
        let pk = key.public_key();
        for i in 0..16u8 {
            let msg = [i; 7];
            let sig = key.sign(&msg);
            assert_eq!(sig.len(), 64);
            let parsed = Signature::from_slice(&sig).unwrap();
            assert!(parsed.normalize_s().is_none(), "signature must be low-S");
            assert!(verify(&pk, &msg, &sig));
            // The same signature with s replaced by n - s verifies mathematically, but the SDK
            // rejects it as malleable.
            let (r, s) = parsed.split_scalars();
            let high = Signature::from_scalars(r, -*s).unwrap();
            assert!(!verify(&pk, &msg, &high.to_bytes()));
            assert!(!verify(&pk, b"other", &sig));
        }
        assert!(!verify(&pk, b"x", &[0u8; 63]));
    }

    #[test]
    fn random_mnemonics_derive_distinct_keys() {
        let (a, b) = (random_mnemonic().unwrap(), random_mnemonic().unwrap());
        assert_eq!(a.split(' ').count(), 24);
        assert_ne!(a, b);
        let ka = AccountKey::from_mnemonic(&a, COSMOS_HD_PATH).unwrap();
        let kb = AccountKey::from_mnemonic(&b, COSMOS_HD_PATH).unwrap();
        assert_ne!(ka.public_key(), kb.public_key());
    }

    #[test]
    fn pub_key_validation_and_any() {
        let key = AccountKey::random();
        assert!(validate_pub_key(&key.public_key()).is_ok());
        assert_eq!(
            validate_pub_key(&[2u8; 20]).unwrap_err().to_string(),
            "length of pubkey is incorrect: expected 33, got 20"
        );
        assert_eq!(
            validate_pub_key(&[9u8; 33]).unwrap_err(),
            KeyError::PubKeyPoint
        );
        let any = pub_key_any(&key.public_key());
        assert_eq!(any.type_url, SECP256K1_PUB_KEY_TYPE_URL);
        let decoded = PubKey::decode(any.value.as_slice()).unwrap();
        assert_eq!(decoded.key, key.public_key());
    }
}
