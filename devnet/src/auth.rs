//! Auth module: accounts (number, sequence, public key) and the `cosmos.auth.v1beta1` queries.

use crate::exec::ExecState;

/// A `BaseAccount`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Bech32 address.
    pub address: String,
    /// Compressed secp256k1 public key, once the account has signed a tx.
    pub pub_key: Option<Vec<u8>>,
    /// Account number, assigned at creation.
    pub account_number: u64,
    /// Next expected sequence.
    pub sequence: u64,
}

/// The account at `address`, if it exists.
pub fn account(_state: &mut ExecState, _address: &str) -> Option<Account> {
    todo!()
}

/// The account at `address`, created with the next account number when absent (an account comes
/// to exist when it first receives funds).
pub fn ensure_account(_state: &mut ExecState, _address: &str) -> Account {
    todo!()
}

/// Stores `account`.
pub fn set_account(_state: &mut ExecState, _account: &Account) {
    todo!()
}

/// Answers `/cosmos.auth.v1beta1.Query/Account` (and `Params`); `None` for other paths.
pub fn grpc_query(
    _state: &mut ExecState,
    _path: &str,
    _request: &[u8],
) -> Option<Result<Vec<u8>, crate::error::TxError>> {
    todo!()
}
