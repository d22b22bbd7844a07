//! Secp256k1 account keys, the way Cosmos SDK chains and their wallets (cosmjs, Keplr, Hermes)
//! derive and use them: BIP-39 mnemonic → seed → BIP-32 derivation on an HD path (default
//! `m/44'/118'/0'/0/0`) → 33-byte compressed public key → address
//! `bech32(prefix, ripemd160(sha256(pubkey)))`; signatures are ECDSA over `sha256(msg)`, 64-byte
//! `r || s`, always low-S (the SDK rejects high-S signatures as malleable).
//!
//! Secrets never leave this module except as signatures: [`AccountKey`] prints as
//! `AccountKey(<secret>)`, and the seed is zeroized after derivation (the signing key zeroizes
//! itself on drop).

use bech32::{Bech32, Hrp};
use k256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use k256::ecdsa::{Signature, SigningKey, VerifyingKey};
use k256::elliptic_curve::zeroize::Zeroize;
use ripemd::Ripemd160;
use sha2::{Digest, Sha256};

/// The Cosmos HD path.
pub const COSMOS_HD_PATH: &str = "m/44'/118'/0'/0/0";

/// Length of a compressed secp256k1 public key.
pub const PUB_KEY_LEN: usize = 33;

/// Length of a compact `r || s` signature.
pub const SIGNATURE_LEN: usize = 64;

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
    pub fn from_mnemonic(mnemonic: &str, hd_path: &str) -> Result<Self, String> {
        let path: bip32::DerivationPath = hd_path
            .trim()
            .parse()
            .map_err(|e| format!("invalid HD path {hd_path:?}: {e}"))?;
        // Normalise whitespace the way wallets do (single spaces, no leading/trailing blanks).
        let mut normalised = mnemonic.split_whitespace().collect::<Vec<_>>().join(" ");
        let parsed = bip39::Mnemonic::parse_in(bip39::Language::English, normalised.as_str());
        normalised.zeroize();
        let mut seed = parsed
            .map_err(|e| format!("invalid mnemonic: {e}"))?
            .to_seed("");
        let derived = bip32::XPrv::derive_from_path(seed.as_slice(), &path);
        seed.zeroize();
        let xprv = derived.map_err(|e| format!("key derivation on {hd_path} failed: {e}"))?;
        Ok(Self {
            signing_key: xprv.private_key().clone(),
        })
    }

    /// A key from 32 raw secret bytes (tests, imported keys).
    pub fn from_secret_bytes(secret: &[u8]) -> Result<Self, String> {
        SigningKey::from_slice(secret)
            .map(|signing_key| Self { signing_key })
            .map_err(|_| "invalid secp256k1 secret key".to_string())
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
        address_bytes_of(&self.public_key())
    }

    /// The bech32 address with `prefix`.
    pub fn address(&self, prefix: &str) -> String {
        encode_address(prefix, &self.address_bytes())
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

/// ripemd160(sha256(`pub_key`)), the address bytes of a secp256k1 key.
pub fn address_bytes_of(pub_key: &[u8]) -> [u8; 20] {
    let sha = Sha256::digest(pub_key);
    Ripemd160::digest(sha).into()
}

/// The bech32 address of a compressed secp256k1 public key.
pub fn address_of(pub_key: &[u8], prefix: &str) -> String {
    encode_address(prefix, &address_bytes_of(pub_key))
}

/// The address of an SDK module account (`fee_collector`, `transfer`, ...): the first 20 bytes
/// of sha256(`name`), as the SDK's `authtypes.NewModuleAddress`.
pub fn module_address(name: &str, prefix: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    encode_address(prefix, &digest[..20])
}

/// Bech32-encodes address `bytes` with `prefix`. The prefix is chain configuration and must be
/// a valid bech32 human-readable part (see [`validate_prefix`]); for an invalid one, the
/// upper-case hex of the bytes is returned instead, which no bech32 parser accepts.
pub fn encode_address(prefix: &str, bytes: &[u8]) -> String {
    try_encode_address(prefix, bytes).unwrap_or_else(|_| hex::encode_upper(bytes))
}

/// Bech32-encodes address `bytes` with `prefix`.
pub fn try_encode_address(prefix: &str, bytes: &[u8]) -> Result<String, String> {
    let hrp = Hrp::parse(prefix).map_err(|e| format!("invalid bech32 prefix {prefix:?}: {e}"))?;
    bech32::encode::<Bech32>(hrp, bytes).map_err(|e| format!("bech32 encoding failed: {e}"))
}

/// Checks that `prefix` can be used as a bech32 address prefix.
pub fn validate_prefix(prefix: &str) -> Result<(), String> {
    try_encode_address(prefix, &[0u8; 20]).map(|_| ())
}

/// Decodes a bech32 address into its prefix and bytes (what the SDK's address codec accepts:
/// bech32 checksum, 1 to 255 bytes).
pub fn decode_address(address: &str) -> Result<(String, Vec<u8>), String> {
    let (hrp, bytes) =
        bech32::decode(address).map_err(|e| format!("decoding bech32 failed: {e}"))?;
    if bytes.is_empty() || bytes.len() > 255 {
        return Err(format!("invalid address length {}", bytes.len()));
    }
    Ok((hrp.to_string(), bytes))
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
pub fn validate_pub_key(pub_key: &[u8]) -> Result<(), String> {
    if pub_key.len() != PUB_KEY_LEN {
        return Err(format!(
            "length of pubkey is incorrect: expected {PUB_KEY_LEN}, got {}",
            pub_key.len()
        ));
    }
    VerifyingKey::from_sec1_bytes(pub_key)
        .map(|_| ())
        .map_err(|_| "pubkey is not a valid secp256k1 point".to_string())
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
        let err = AccountKey::from_mnemonic(&bad_word, COSMOS_HD_PATH).unwrap_err();
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
    fn fee_collector_module_address() {
        assert_eq!(
            module_address("fee_collector", "cosmos"),
            "cosmos17xpfvakm2amg962yls6f84z3kell8c5lserqta"
        );
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
    fn address_decoding() {
        let (hrp, bytes) = decode_address("cosmos19rl4cm2hmr8afy4kldpxz3fka4jguq0auqdal4").unwrap();
        assert_eq!(hrp, "cosmos");
        assert_eq!(bytes.len(), 20);
        assert!(decode_address("cosmos19rl4cm2hmr8afy4kldpxz3fka4jguq0auqdal5").is_err());
        assert!(validate_prefix("cosmos").is_ok());
        assert!(validate_prefix("").is_err());
    }
}
