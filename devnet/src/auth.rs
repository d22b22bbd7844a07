//! Auth module: accounts (number, sequence, public key) in the `acc` store, and the
//! `cosmos.auth.v1beta1` queries relayers make (`Account`, `AccountInfo`, `Params`).
//!
//! The layout follows the SDK 0.50 auth keeper's collections, so gas for account access is
//! close to a real chain's:
//! - `0x01 || address bytes` → the account as an `Any` holding a `/cosmos.auth.v1beta1.BaseAccount`
//!   (the SDK stores accounts through its interface codec);
//! - `0x02` → the global account number counter, a big-endian u64 (the next number to assign);
//! - `0x03 || account number (big-endian u64)` → address bytes (the `account_by_number` index).
//!
//! An address that is not valid bech32 (only possible through a bug upstream: bank and IBC
//! validate addresses) is keyed by its UTF-8 bytes so it still round-trips.

use ibc_proto::cosmos::auth::v1beta1::{
    BaseAccount, Params, QueryAccountInfoRequest, QueryAccountInfoResponse, QueryAccountRequest,
    QueryAccountResponse, QueryParamsRequest, QueryParamsResponse,
};
use ibc_proto::cosmos::crypto::secp256k1::PubKey;
use ibc_proto::google::protobuf::Any;
use prost::Message;

use cosmos::address::decode_address;
use cosmos::keys::{pub_key_any, SECP256K1_PUB_KEY_TYPE_URL};

use crate::error::TxError;
use crate::exec::{cost, ExecState};

/// The store auth keeps accounts in.
pub const STORE: &str = "acc";
/// Type URL of a `BaseAccount`.
pub const BASE_ACCOUNT_TYPE_URL: &str = "/cosmos.auth.v1beta1.BaseAccount";
/// Maximum memo length in bytes (SDK default `max_memo_characters`).
pub const MAX_MEMO_CHARACTERS: u64 = 256;
/// Maximum number of signatures per tx (SDK default `tx_sig_limit`).
pub const TX_SIG_LIMIT: u64 = 7;
/// Gas for verifying an ed25519 signature (SDK default; reported by `Params` only).
pub const SIG_VERIFY_COST_ED25519: u64 = 590;

const ACCOUNT_PREFIX: u8 = 0x01;
const GLOBAL_ACCOUNT_NUMBER_KEY: &[u8] = &[0x02];
const ACCOUNT_NUMBER_INDEX_PREFIX: u8 = 0x03;

/// Path of the account query.
pub const QUERY_ACCOUNT_PATH: &str = "/cosmos.auth.v1beta1.Query/Account";
/// Path of the account info query.
pub const QUERY_ACCOUNT_INFO_PATH: &str = "/cosmos.auth.v1beta1.Query/AccountInfo";
/// Path of the params query.
pub const QUERY_PARAMS_PATH: &str = "/cosmos.auth.v1beta1.Query/Params";

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

impl Account {
    /// The account as the SDK's `BaseAccount` protobuf.
    pub fn to_proto(&self) -> BaseAccount {
        BaseAccount {
            address: self.address.clone(),
            pub_key: self.pub_key.as_ref().map(|key| pub_key_any(key)),
            account_number: self.account_number,
            sequence: self.sequence,
        }
    }

    /// The account packed as an `Any` (`/cosmos.auth.v1beta1.BaseAccount`).
    pub fn to_any(&self) -> Any {
        Any {
            type_url: BASE_ACCOUNT_TYPE_URL.to_string(),
            value: self.to_proto().encode_to_vec(),
        }
    }

    /// Reads a `BaseAccount` packed in an `Any`; `None` for other account types, secp256k1
    /// keys only.
    pub fn from_any(any: &Any) -> Option<Self> {
        if any.type_url != BASE_ACCOUNT_TYPE_URL {
            return None;
        }
        let base = BaseAccount::decode(any.value.as_slice()).ok()?;
        let pub_key = match base.pub_key {
            None => None,
            Some(pk) if pk.type_url == SECP256K1_PUB_KEY_TYPE_URL => {
                Some(PubKey::decode(pk.value.as_slice()).ok()?.key)
            }
            Some(_) => return None,
        };
        Some(Self {
            address: base.address,
            pub_key,
            account_number: base.account_number,
            sequence: base.sequence,
        })
    }
}

/// The SDK 0.50 default auth params.
pub fn params() -> Params {
    Params {
        max_memo_characters: MAX_MEMO_CHARACTERS,
        tx_sig_limit: TX_SIG_LIMIT,
        tx_size_cost_per_byte: cost::TX_SIZE_PER_BYTE,
        sig_verify_cost_ed25519: SIG_VERIFY_COST_ED25519,
        sig_verify_cost_secp256k1: cost::SIG_VERIFY_SECP256K1,
    }
}

fn address_key_bytes(address: &str) -> Vec<u8> {
    match decode_address(address) {
        Ok((_, bytes)) => bytes,
        Err(_) => address.as_bytes().to_vec(),
    }
}

fn account_key(address: &str) -> Vec<u8> {
    let mut key = vec![ACCOUNT_PREFIX];
    key.extend(address_key_bytes(address));
    key
}

/// The account at `address`, if it exists.
pub fn account(state: &mut ExecState, address: &str) -> Option<Account> {
    let raw = state.get(STORE, &account_key(address))?;
    let any = Any::decode(raw.as_slice()).ok()?;
    Account::from_any(&any)
}

/// The account at `address`, created with the next account number when absent (an account comes
/// to exist when it first receives funds).
pub fn ensure_account(state: &mut ExecState, address: &str) -> Account {
    if let Some(existing) = account(state, address) {
        return existing;
    }
    let number = next_account_number(state);
    let created = Account {
        address: address.to_string(),
        pub_key: None,
        account_number: number,
        sequence: 0,
    };
    set_account(state, &created);
    created
}

/// Takes the next account number from the global counter (SDK `NextAccountNumber`).
fn next_account_number(state: &mut ExecState) -> u64 {
    let current = state
        .get(STORE, GLOBAL_ACCOUNT_NUMBER_KEY)
        .and_then(|raw| <[u8; 8]>::try_from(raw.as_slice()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0);
    state.set(
        STORE,
        GLOBAL_ACCOUNT_NUMBER_KEY.to_vec(),
        current.saturating_add(1).to_be_bytes().to_vec(),
    );
    current
}

/// Stores `account` and its account-number index entry (both written every time, as the SDK's
/// indexed map does).
pub fn set_account(state: &mut ExecState, account: &Account) {
    let addr = address_key_bytes(&account.address);
    let mut index_key = vec![ACCOUNT_NUMBER_INDEX_PREFIX];
    index_key.extend(account.account_number.to_be_bytes());
    state.set(STORE, index_key, addr.clone());
    let mut key = vec![ACCOUNT_PREFIX];
    key.extend(addr);
    state.set(STORE, key, account.to_any().encode_to_vec());
}

/// An error the SDK's gRPC query router turns into an ABCI query error: baseapp maps gRPC
/// status codes onto sdk codes (`NotFound` → 22 key not found, `InvalidArgument` → 18 invalid
/// request) and wraps the status text, e.g.
/// `rpc error: code = NotFound desc = account cosmos1... not found: key not found`.
fn grpc_error(code: &str, sdk_code: u32, sdk_text: &str, desc: &str) -> TxError {
    TxError::sdk(
        sdk_code,
        format!("rpc error: code = {code} desc = {desc}: {sdk_text}"),
    )
}

/// Validates the address of an account query the way the SDK's query server does.
fn query_address(state: &mut ExecState, address: &str) -> Result<Account, TxError> {
    if address.is_empty() {
        return Err(grpc_error(
            "InvalidArgument",
            18,
            "invalid request",
            "Address cannot be empty",
        ));
    }
    // The address codec's error is a plain error, which baseapp wraps as invalid request.
    decode_address(address).map_err(TxError::invalid_request)?;
    account(state, address).ok_or_else(|| {
        grpc_error(
            "NotFound",
            22,
            "key not found",
            &format!("account {address} not found"),
        )
    })
}

/// Answers `/cosmos.auth.v1beta1.Query/Account` (and `AccountInfo`, `Params`); `None` for other
/// paths.
///
/// An unknown account gives what a Cosmos SDK 0.50 node returns through `abci_query`: sdk code
/// 22 (`ErrKeyNotFound`, baseapp's mapping of gRPC `NotFound`) with the log
/// `rpc error: code = NotFound desc = account {addr} not found: key not found`.
pub fn grpc_query(
    state: &mut ExecState,
    path: &str,
    request: &[u8],
) -> Option<Result<Vec<u8>, TxError>> {
    let answer = match path {
        QUERY_ACCOUNT_PATH => QueryAccountRequest::decode(request)
            .map_err(TxError::invalid_request)
            .and_then(|req| query_address(state, &req.address))
            .map(|acc| {
                QueryAccountResponse {
                    account: Some(acc.to_any()),
                }
                .encode_to_vec()
            }),
        QUERY_ACCOUNT_INFO_PATH => QueryAccountInfoRequest::decode(request)
            .map_err(TxError::invalid_request)
            .and_then(|req| query_address(state, &req.address))
            .map(|acc| {
                QueryAccountInfoResponse {
                    info: Some(acc.to_proto()),
                }
                .encode_to_vec()
            }),
        QUERY_PARAMS_PATH => QueryParamsRequest::decode(request)
            .map_err(TxError::invalid_request)
            .map(|_| {
                QueryParamsResponse {
                    params: Some(params()),
                }
                .encode_to_vec()
            }),
        _ => return None,
    };
    Some(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::GasMeter;
    use crate::store::State;
    use cosmos::AccountKey;

    fn state() -> ExecState {
        ExecState::new(State::new(), GasMeter::infinite())
    }

    fn addr(i: u8) -> String {
        cosmos::address::encode_address("cosmos", &[i; 20])
    }

    #[test]
    fn accounts_get_increasing_numbers_once() {
        let mut st = state();
        assert_eq!(account(&mut st, &addr(1)), None);
        let a = ensure_account(&mut st, &addr(1));
        let b = ensure_account(&mut st, &addr(2));
        let a_again = ensure_account(&mut st, &addr(1));
        assert_eq!((a.account_number, b.account_number), (0, 1));
        assert_eq!(a, a_again);
        assert_eq!(a.sequence, 0);
        assert_eq!(a.pub_key, None);
        assert_eq!(ensure_account(&mut st, &addr(3)).account_number, 2);
    }

    #[test]
    fn set_account_round_trips_with_pub_key() {
        let mut st = state();
        let key = AccountKey::random();
        let address = key.address("cosmos");
        let mut acc = ensure_account(&mut st, &address);
        acc.sequence = 7;
        acc.pub_key = Some(key.public_key());
        set_account(&mut st, &acc);
        assert_eq!(account(&mut st, &address), Some(acc));
    }

    #[test]
    fn account_query_returns_base_account_any() {
        let mut st = state();
        let a = ensure_account(&mut st, &addr(9));
        let req = QueryAccountRequest {
            address: a.address.clone(),
        }
        .encode_to_vec();
        let raw = grpc_query(&mut st, QUERY_ACCOUNT_PATH, &req)
            .unwrap()
            .unwrap();
        let resp = QueryAccountResponse::decode(raw.as_slice()).unwrap();
        let any = resp.account.unwrap();
        assert_eq!(any.type_url, BASE_ACCOUNT_TYPE_URL);
        let base = BaseAccount::decode(any.value.as_slice()).unwrap();
        assert_eq!(base.address, a.address);
        assert_eq!(base.account_number, a.account_number);

        let raw = grpc_query(&mut st, QUERY_ACCOUNT_INFO_PATH, &req)
            .unwrap()
            .unwrap();
        let info = QueryAccountInfoResponse::decode(raw.as_slice())
            .unwrap()
            .info
            .unwrap();
        assert_eq!(info.address, a.address);
    }

    #[test]
    fn unknown_account_is_key_not_found() {
        let mut st = state();
        let missing = addr(4);
        let req = QueryAccountRequest {
            address: missing.clone(),
        }
        .encode_to_vec();
        let err = grpc_query(&mut st, QUERY_ACCOUNT_PATH, &req)
            .unwrap()
            .unwrap_err();
        assert_eq!((err.codespace, err.code), ("sdk", 22));
        assert_eq!(
            err.log,
            format!("rpc error: code = NotFound desc = account {missing} not found: key not found")
        );
        let req = QueryAccountRequest {
            address: "cosmos1invalid".into(),
        }
        .encode_to_vec();
        let err = grpc_query(&mut st, QUERY_ACCOUNT_PATH, &req)
            .unwrap()
            .unwrap_err();
        assert_eq!(err.code, 18);
        let err = grpc_query(&mut st, QUERY_ACCOUNT_PATH, &[0xff, 0xff])
            .unwrap()
            .unwrap_err();
        assert_eq!(err.code, 18);
    }

    #[test]
    fn params_query_and_other_paths() {
        let mut st = state();
        let raw = grpc_query(&mut st, QUERY_PARAMS_PATH, &[])
            .unwrap()
            .unwrap();
        let p = QueryParamsResponse::decode(raw.as_slice())
            .unwrap()
            .params
            .unwrap();
        assert_eq!(p.tx_size_cost_per_byte, 10);
        assert_eq!(p.sig_verify_cost_secp256k1, 1000);
        assert_eq!(p.max_memo_characters, 256);
        assert!(grpc_query(&mut st, "/cosmos.bank.v1beta1.Query/Balance", &[]).is_none());
    }
}
