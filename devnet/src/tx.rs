//! Cosmos SDK transactions: decoding TxRaw, and the ante handler (signature, chain id, account
//! number and sequence, fee and minimum gas price, gas limit, tx size gas).

use ibc_proto::google::protobuf::Any;

use crate::bank::Coin;
use crate::error::TxError;
use crate::exec::ExecState;

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
    /// Signer public keys (compressed secp256k1) from the signer infos; empty keys when absent.
    pub signer_pub_keys: Vec<Option<Vec<u8>>>,
    /// Signer sequences from the signer infos.
    pub signer_sequences: Vec<u64>,
    /// The raw body bytes, auth info bytes and signatures (for verification).
    pub body_bytes: Vec<u8>,
    /// Auth info bytes.
    pub auth_info_bytes: Vec<u8>,
    /// Signatures, one per signer.
    pub signatures: Vec<Vec<u8>>,
    /// Size of the raw tx in bytes.
    pub size: usize,
}

/// Decodes `TxRaw` bytes; sdk code 2 on malformed input.
pub fn decode(_raw: &[u8]) -> Result<Tx, TxError> {
    todo!()
}

/// Parameters of the ante handler.
#[derive(Clone, Debug)]
pub struct AnteParams {
    /// Minimum gas price: fee per unit of gas, in `denom`. 0 = free.
    pub min_gas_price: f64,
    /// Fee denom.
    pub fee_denom: String,
    /// Bech32 prefix of addresses.
    pub bech32_prefix: String,
    /// Address that collects fees.
    pub fee_collector: String,
}

/// Runs the ante handler on `state`: charges tx size gas, checks the fee (Check mode only, like
/// the SDK's mempool fee check), verifies the single signer's signature over the SIGN_MODE_DIRECT
/// sign doc for `chain_id` and its account number, checks and increments the sequence, records
/// the public key, deducts the fee. Returns the signer's bech32 address.
pub fn ante(
    _state: &mut ExecState,
    _tx: &Tx,
    _chain_id: &str,
    _params: &AnteParams,
    _mode: Mode,
) -> Result<String, TxError> {
    todo!()
}
