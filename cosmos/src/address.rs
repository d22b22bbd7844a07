//! Bech32 account addresses: `bech32(prefix, ripemd160(sha256(pubkey)))` for secp256k1 keys,
//! the first 20 bytes of `sha256(name)` for SDK module accounts, and decoding the way the SDK's
//! address codec accepts them (bech32 checksum, 1 to 255 bytes).
//!
//! The prefix is chain configuration; [`validate_prefix`] checks it once where it is read, so
//! that [`encode_address`] can stay infallible afterwards.

use bech32::{Bech32, Hrp};
use ripemd::Ripemd160;
use sha2::{Digest, Sha256};

/// Why an address could not be encoded or decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The prefix is not a valid bech32 human-readable part.
    #[error("invalid bech32 prefix {prefix:?}: {reason}")]
    Prefix {
        /// The prefix as given.
        prefix: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Bech32 encoding failed (the payload is too long for bech32).
    #[error("bech32 encoding failed: {0}")]
    Encoding(String),
    /// The text is not bech32 (bad character, mixed case, bad checksum...).
    #[error("decoding bech32 failed: {0}")]
    Decoding(String),
    /// The payload is empty or longer than 255 bytes.
    #[error("invalid address length {0}")]
    Length(usize),
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
pub fn try_encode_address(prefix: &str, bytes: &[u8]) -> Result<String, AddressError> {
    let hrp = Hrp::parse(prefix).map_err(|e| AddressError::Prefix {
        prefix: prefix.to_string(),
        reason: e.to_string(),
    })?;
    bech32::encode::<Bech32>(hrp, bytes).map_err(|e| AddressError::Encoding(e.to_string()))
}

/// Checks that `prefix` can be used as a bech32 address prefix.
pub fn validate_prefix(prefix: &str) -> Result<(), AddressError> {
    try_encode_address(prefix, &[0u8; 20]).map(|_| ())
}

/// Decodes a bech32 address into its prefix and bytes (what the SDK's address codec accepts:
/// bech32 checksum, 1 to 255 bytes).
pub fn decode_address(address: &str) -> Result<(String, Vec<u8>), AddressError> {
    let (hrp, bytes) =
        bech32::decode(address).map_err(|e| AddressError::Decoding(e.to_string()))?;
    if bytes.is_empty() || bytes.len() > 255 {
        return Err(AddressError::Length(bytes.len()));
    }
    Ok((hrp.to_string(), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fee_collector_module_address() {
        assert_eq!(
            module_address("fee_collector", "cosmos"),
            "cosmos17xpfvakm2amg962yls6f84z3kell8c5lserqta"
        );
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

    #[test]
    fn encoding_round_trips_and_falls_back_to_hex() {
        let bytes = [7u8; 20];
        let address = encode_address("osmo", &bytes);
        assert_eq!(
            decode_address(&address).unwrap(),
            ("osmo".to_string(), bytes.to_vec())
        );
        assert_eq!(encode_address("", &[0xab; 2]), "ABAB");
        assert!(matches!(
            try_encode_address("", &bytes),
            Err(AddressError::Prefix { .. })
        ));
    }
}
