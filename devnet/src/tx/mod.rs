//! Cosmos SDK transactions: decoding `TxRaw` bytes, and the ante handler (memo, tx size gas,
//! gas limit, fee and minimum gas price, fee deduction, public key, signature gas, sequence,
//! SIGN_MODE_DIRECT signature over chain id and account number, sequence increment).
//!
//! Decoding follows the SDK 0.50 tx decoder: the raw bytes must follow ADR-027 (TxRaw fields in
//! ascending order, minimal length prefixes), unknown fields are rejected (in `TxBody` only
//! critical ones, i.e. field numbers without bit 10 set), all with sdk code 2. It also applies
//! the stateless checks of baseapp and the SDK's `ValidateBasic` (at least one message, a fee,
//! signatures), and the devnet's own limits, each with the error a relayer can act on: one
//! signer per tx, secp256k1 keys only, SIGN_MODE_DIRECT only (SIGN_MODE_UNSPECIFIED is
//! accepted for simulation, which is what cosmjs sends there), the signer info must carry the
//! public key (the signer address is derived from it; cosmjs and Hermes always include it).
//!
//! The ante handler runs the SDK 0.50 decorators in their order, with their errors and gas
//! (`exec::cost`), except that it does not read the auth params from the store (they are the
//! SDK defaults, constants here) and reads and writes the signer account once each.
//! Timeout height needs the block height, which the ante handler does not get: callers check
//! it with [`check_timeout_height`].
//!
//! The parts: [`decode`](mod@decode) turns bytes into a [`Tx`] (wire format and stateless
//! checks), [`ante`](mod@ante) runs the ante handler on one; tests are in `tests.rs`.

use ibc_proto::cosmos::base::abci::v1beta1::TxMsgData;
use ibc_proto::google::protobuf::Any;
use prost::Message;

use cosmos::Coin;

mod ante;
mod decode;

pub use ante::{ante, check_timeout_height, required_fee, AnteParams};
pub use decode::decode;

/// The SDK's `MaxGasWanted` (`1<<63 - 1`): larger gas limits are rejected.
pub const MAX_GAS_WANTED: u64 = i64::MAX as u64;

/// How a tx is being run: the checks differ slightly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Mempool admission (CheckTx).
    Check,
    /// Block execution.
    Deliver,
    /// `Simulate`: no signature check, no fee check.
    Simulate,
}

/// A decoded transaction.
#[derive(Clone, Debug)]
pub struct Tx {
    /// The messages, in order.
    pub messages: Vec<Any>,
    /// Memo.
    pub memo: String,
    /// Timeout height (0 = none).
    pub timeout_height: u64,
    /// Gas limit (`gas_wanted`).
    pub gas_limit: u64,
    /// Fee amount.
    pub fee: Vec<Coin>,
    /// The account whose fee grant pays the fee (`Fee.granter`), if any.
    pub fee_granter: Option<String>,
    /// Signer public keys (compressed secp256k1) from the signer infos; empty keys when absent.
    pub signer_pub_keys: Vec<Option<Vec<u8>>>,
    /// Signer sequences from the signer infos.
    pub signer_sequences: Vec<u64>,
    /// Sign modes from the signer infos (`SignMode` as i32: 1 = DIRECT, 0 = UNSPECIFIED, the
    /// latter only acceptable in simulation).
    pub sign_modes: Vec<i32>,
    /// The raw body bytes, auth info bytes and signatures (for verification).
    pub body_bytes: Vec<u8>,
    /// Auth info bytes.
    pub auth_info_bytes: Vec<u8>,
    /// Signatures, one per signer.
    pub signatures: Vec<Vec<u8>>,
    /// Size of the raw tx in bytes.
    pub size: usize,
}

/// The `TxMsgData{msg_responses}` bytes the SDK puts in a tx result's `data`.
pub fn encode_tx_msg_data(responses: Vec<Any>) -> Vec<u8> {
    TxMsgData {
        msg_responses: responses,
        ..Default::default()
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests;
