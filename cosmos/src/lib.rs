//! What a Cosmos SDK client (the relayer) and a Cosmos SDK chain (the devnet) both need, one
//! copy of each, so that the bytes one side produces are the bytes the other side checks:
//! - [`keys`]: BIP-39 → BIP-32 → secp256k1 account keys, signatures and their verification;
//! - [`address`]: bech32 account and module addresses;
//! - [`coin`]: coins, their SDK string forms and the denom syntax;
//! - [`any`]: packing protobuf messages into `Any`;
//! - [`tx`]: the SIGN_MODE_DIRECT tx encoding (body, auth info with the fee, sign doc, raw tx);
//! - [`sign`]: a [`Wallet`] that signs txs for one account;
//! - [`hash`]: tx hashes;
//! - [`events`]: reading ABCI event attributes.
//!
//! The crate knows protobuf types and cryptography only: no gRPC, no IBC implementation, no
//! store, no network.

pub mod address;
pub mod any;
pub mod coin;
pub mod events;
pub mod hash;
pub mod keys;
pub mod sign;
pub mod tx;

pub use any::to_any;
pub use coin::Coin;
pub use hash::{tx_hash, tx_hash_hex};
pub use keys::{AccountKey, COSMOS_HD_PATH};
pub use sign::Wallet;
pub use tx::Fee;
