//! Bank module: balances per address and denom, transfers, minting and burning (ICS-20
//! vouchers, escrow), and the `cosmos.bank.v1beta1` messages and queries.

use crate::error::TxError;
use crate::exec::ExecState;

/// A coin amount. Amounts are u128 (the SDK uses arbitrary precision; u128 is ample here).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Coin {
    /// Denomination, e.g. `stake` or `ibc/27394F...`.
    pub denom: String,
    /// Amount.
    pub amount: u128,
}

/// The balance of `address` in `denom` (0 when none).
pub fn balance(_state: &mut ExecState, _address: &str, _denom: &str) -> u128 {
    todo!()
}

/// Every non-zero balance of `address`, sorted by denom.
pub fn all_balances(_state: &mut ExecState, _address: &str) -> Vec<Coin> {
    todo!()
}

/// Moves `coin` from `from` to `to`; sdk code 5 when `from` has too little.
pub fn send(_state: &mut ExecState, _from: &str, _to: &str, _coin: &Coin) -> Result<(), TxError> {
    todo!()
}

/// Creates `coin` in `to` (genesis, ICS-20 vouchers).
pub fn mint(_state: &mut ExecState, _to: &str, _coin: &Coin) -> Result<(), TxError> {
    todo!()
}

/// Destroys `coin` held by `from` (ICS-20 vouchers sent back); sdk code 5 when short.
pub fn burn(_state: &mut ExecState, _from: &str, _coin: &Coin) -> Result<(), TxError> {
    todo!()
}
