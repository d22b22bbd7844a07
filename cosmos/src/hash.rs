//! Tx hashes as CometBFT and the SDK compute them: sha256 of the raw `TxRaw` bytes, printed as
//! upper-case hex (what `/tx?hash=0x…`, `broadcast_tx_*` and the tx events show).

use sha2::{Digest, Sha256};

/// The tx hash: sha256 of the raw tx bytes.
pub fn tx_hash(raw: &[u8]) -> [u8; 32] {
    Sha256::digest(raw).into()
}

/// The tx hash as CometBFT prints it: upper-case hex.
pub fn tx_hash_hex(raw: &[u8]) -> String {
    hex::encode_upper(tx_hash(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tx_hash_is_sha256_of_raw() {
        assert_eq!(
            tx_hash_hex(b""),
            "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
        );
        assert_eq!(hex::encode_upper(tx_hash(b"")), tx_hash_hex(b""));
    }
}
