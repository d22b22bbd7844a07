//! Secp256k1 account keys: BIP-39 mnemonic → BIP-32 (cosmos HD path m/44'/118'/0'/0/0) →
//! bech32 address (ripemd160(sha256(compressed pubkey))), and low-S signatures.

/// The Cosmos HD path.
pub const COSMOS_HD_PATH: &str = "m/44'/118'/0'/0/0";

/// A secp256k1 signing key with its address.
#[derive(Clone)]
pub struct AccountKey {
    _k: (),
}

impl std::fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccountKey(<secret>)")
    }
}

impl AccountKey {
    /// Derives the key from a BIP-39 mnemonic on `hd_path`.
    pub fn from_mnemonic(_mnemonic: &str, _hd_path: &str) -> Result<Self, String> {
        todo!()
    }

    /// A random key (for generated accounts).
    pub fn random() -> Self {
        todo!()
    }

    /// The 33-byte compressed public key.
    pub fn public_key(&self) -> Vec<u8> {
        todo!()
    }

    /// The bech32 address with `prefix`.
    pub fn address(&self, _prefix: &str) -> String {
        todo!()
    }

    /// A 64-byte low-S signature over sha256(`msg`).
    pub fn sign(&self, _msg: &[u8]) -> Vec<u8> {
        todo!()
    }
}

/// The bech32 address of a compressed secp256k1 public key.
pub fn address_of(_pub_key: &[u8], _prefix: &str) -> String {
    todo!()
}
