//! Bank module: balances per address and denom, transfers, minting and burning (ICS-20
//! vouchers, escrow), and the `cosmos.bank.v1beta1` messages and queries.
//!
//! Store layout (store `bank`): `balances/{bech32 address}/{denom}` → the amount as a decimal
//! ASCII string. Zero balances are deleted, so a prefix scan of `balances/{address}/` lists
//! exactly the non-zero balances in denom order. Bech32 addresses never contain `/`, so the
//! denom is everything after the second `/` (denoms such as `ibc/27394F...` contain `/`).
//!
//! Errors carry the SDK's codes and wording, because relayers and tests read them.

use cosmos::coin::{coins_string, valid_denom};
use cosmos::Coin;
use ibc_proto::cosmos::bank::v1beta1::{
    MsgSend, QueryAllBalancesRequest, QueryAllBalancesResponse, QueryBalanceRequest,
    QueryBalanceResponse,
};
use ibc_proto::cosmos::base::query::v1beta1::{PageRequest, PageResponse};
use ibc_proto::cosmos::base::v1beta1::Coin as ProtoCoin;
use ibc_proto::google::protobuf::Any;
use prost::Message;
use tendermint::abci::{Event, EventAttributeIndexExt};

use crate::error::TxError;
use crate::exec::ExecState;

/// The store balances live in.
const STORE: &str = "bank";

/// The SDK's default page size when a request gives no limit.
const DEFAULT_PAGE_LIMIT: u64 = 100;

/// The key of `address`'s balance in `denom`.
pub fn balance_key(address: &str, denom: &str) -> Vec<u8> {
    format!("balances/{address}/{denom}").into_bytes()
}

/// The prefix of every balance key of `address`.
fn address_prefix(address: &str) -> Vec<u8> {
    format!("balances/{address}/").into_bytes()
}

/// Parses a stored amount; a corrupt value reads as 0 (it can only come from a bug).
fn parse_amount(raw: &[u8]) -> u128 {
    std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn set_balance(state: &mut ExecState, address: &str, denom: &str, amount: u128) {
    let key = balance_key(address, denom);
    if amount == 0 {
        state.delete(STORE, &key);
    } else {
        state.set(STORE, key, amount.to_string().into_bytes());
    }
}

/// The balance of `address` in `denom` (0 when none).
pub fn balance(state: &mut ExecState, address: &str, denom: &str) -> u128 {
    state
        .get(STORE, &balance_key(address, denom))
        .map_or(0, |raw| parse_amount(&raw))
}

/// Every non-zero balance of `address`, sorted by denom.
pub fn all_balances(state: &mut ExecState, address: &str) -> Vec<Coin> {
    let prefix = address_prefix(address);
    state
        .scan_prefix(STORE, &prefix)
        .into_iter()
        .filter_map(|(key, value)| {
            let denom = std::str::from_utf8(key.get(prefix.len()..)?).ok()?;
            let amount = parse_amount(&value);
            (amount > 0).then(|| Coin::new(denom, amount))
        })
        .collect()
}

/// Takes `coin` out of `from`, failing like the SDK's `subUnlockedCoins`.
fn subtract(state: &mut ExecState, from: &str, coin: &Coin) -> Result<(), TxError> {
    let have = balance(state, from, &coin.denom);
    if have < coin.amount {
        return Err(TxError::insufficient_funds(format!(
            "spendable balance {} is smaller than {}",
            Coin::new(coin.denom.clone(), have),
            coin
        )));
    }
    set_balance(state, from, &coin.denom, have - coin.amount);
    Ok(())
}

/// Adds `coin` to `to`.
fn add(state: &mut ExecState, to: &str, coin: &Coin) -> Result<(), TxError> {
    let have = balance(state, to, &coin.denom);
    let new = have.checked_add(coin.amount).ok_or_else(|| {
        TxError::sdk(
            10,
            format!("balance of {to} overflows adding {coin}: invalid coins"),
        )
    })?;
    set_balance(state, to, &coin.denom, new);
    // As in the SDK, an address comes to have an account when it first receives funds.
    crate::auth::ensure_account(state, to);
    Ok(())
}

/// Moves `coin` from `from` to `to`; sdk code 5 when `from` has too little.
pub fn send(state: &mut ExecState, from: &str, to: &str, coin: &Coin) -> Result<(), TxError> {
    subtract(state, from, coin)?;
    add(state, to, coin)
}

/// Creates `coin` in `to` (genesis, ICS-20 vouchers).
pub fn mint(state: &mut ExecState, to: &str, coin: &Coin) -> Result<(), TxError> {
    add(state, to, coin)
}

/// Destroys `coin` held by `from` (ICS-20 vouchers sent back); sdk code 5 when short.
pub fn burn(state: &mut ExecState, from: &str, coin: &Coin) -> Result<(), TxError> {
    subtract(state, from, coin)
}

/// sdk 7: invalid address, worded like the SDK.
fn invalid_address(field: &str, address: &str, err: impl std::fmt::Display) -> TxError {
    TxError::sdk(
        7,
        format!("invalid {field} address ({address}): {err}: invalid address"),
    )
}

/// Checks that `address` is bech32 with a 20- or 32-byte payload.
fn check_address(field: &str, address: &str) -> Result<(), TxError> {
    if address.is_empty() {
        return Err(TxError::sdk(
            7,
            format!("empty {field} address: invalid address"),
        ));
    }
    let (_, data) = bech32::decode(address).map_err(|e| invalid_address(field, address, e))?;
    if data.is_empty() || data.len() > 255 {
        return Err(invalid_address(
            field,
            address,
            format!("address length {} is invalid", data.len()),
        ));
    }
    Ok(())
}

/// Validates and converts the coins of a message like `sdk.Coins.Validate` (sdk code 10).
fn parse_coins(coins: &[ProtoCoin]) -> Result<Vec<Coin>, TxError> {
    let invalid = |detail: String| TxError::sdk(10, format!("{detail}: invalid coins"));
    if coins.is_empty() {
        return Err(invalid("empty coins".to_string()));
    }
    let mut out: Vec<Coin> = Vec::with_capacity(coins.len());
    for c in coins {
        if !valid_denom(&c.denom) {
            return Err(invalid(format!("invalid denom: {}", c.denom)));
        }
        let amount: u128 = c
            .amount
            .parse()
            .map_err(|_| invalid(format!("invalid amount {:?} for {}", c.amount, c.denom)))?;
        if amount == 0 {
            return Err(invalid(format!(
                "coin {}{} amount is not positive",
                0, c.denom
            )));
        }
        if let Some(last) = out.last() {
            if last.denom >= c.denom {
                return Err(invalid(format!(
                    "denomination {} is not sorted or has duplicates",
                    c.denom
                )));
            }
        }
        out.push(Coin::new(c.denom.clone(), amount));
    }
    Ok(out)
}

/// Executes `/cosmos.bank.v1beta1.MsgSend` signed by `tx_signer`, returning the SDK 0.50 events
/// (`coin_spent`, `coin_received`, `transfer`, `message{sender}`).
pub fn execute_msg_send(
    state: &mut ExecState,
    msg: &Any,
    tx_signer: &str,
) -> Result<Vec<Event>, TxError> {
    let msg = MsgSend::decode(msg.value.as_slice()).map_err(TxError::tx_decode)?;
    check_address("from", &msg.from_address)?;
    check_address("to", &msg.to_address)?;
    if msg.from_address != tx_signer {
        return Err(TxError::sdk(
            8,
            format!(
                "pubKey does not match signer address {} with signer index: 0: invalid pubkey",
                msg.from_address
            ),
        ));
    }
    let coins = parse_coins(&msg.amount)?;
    for coin in &coins {
        subtract(state, &msg.from_address, coin)?;
    }
    for coin in &coins {
        add(state, &msg.to_address, coin)?;
    }
    let amount = coins_string(&coins);
    Ok(vec![
        Event::new(
            "coin_spent",
            [
                ("spender", msg.from_address.clone()).index(),
                ("amount", amount.clone()).index(),
            ],
        ),
        Event::new(
            "coin_received",
            [
                ("receiver", msg.to_address.clone()).index(),
                ("amount", amount.clone()).index(),
            ],
        ),
        Event::new(
            "transfer",
            [
                ("recipient", msg.to_address.clone()).index(),
                ("sender", msg.from_address.clone()).index(),
                ("amount", amount).index(),
            ],
        ),
        Event::new("message", [("sender", msg.from_address).index()]),
    ])
}

/// Answers `/cosmos.bank.v1beta1.Query/Balance` and `/AllBalances`; `None` for other paths.
pub fn grpc_query(
    state: &mut ExecState,
    path: &str,
    request: &[u8],
) -> Option<Result<Vec<u8>, TxError>> {
    match path {
        "/cosmos.bank.v1beta1.Query/Balance" => Some(query_balance(state, request)),
        "/cosmos.bank.v1beta1.Query/AllBalances" => Some(query_all_balances(state, request)),
        _ => None,
    }
}

fn query_balance(state: &mut ExecState, request: &[u8]) -> Result<Vec<u8>, TxError> {
    let req = QueryBalanceRequest::decode(request).map_err(TxError::invalid_request)?;
    check_address("", &req.address).map_err(|e| TxError::invalid_request(e.log))?;
    if req.denom.is_empty() || !valid_denom(&req.denom) {
        return Err(TxError::invalid_request(format!(
            "invalid denom: {}",
            req.denom
        )));
    }
    let amount = balance(state, &req.address, &req.denom);
    Ok(QueryBalanceResponse {
        balance: Some(Coin::new(req.denom, amount).to_proto()),
    }
    .encode_to_vec())
}

fn query_all_balances(state: &mut ExecState, request: &[u8]) -> Result<Vec<u8>, TxError> {
    let req = QueryAllBalancesRequest::decode(request).map_err(TxError::invalid_request)?;
    check_address("", &req.address).map_err(|e| TxError::invalid_request(e.log))?;
    let all = all_balances(state, &req.address);
    let (page, pagination) = paginate(all, req.pagination.as_ref(), |c| c.denom.as_bytes());
    Ok(QueryAllBalancesResponse {
        balances: page.iter().map(Coin::to_proto).collect(),
        pagination: Some(pagination),
    }
    .encode_to_vec())
}

/// SDK-style pagination over items sorted by `key`: `key` (resume at the first item whose key is
/// `>=` it) or `offset`, `limit` (default 100), `count_total`, `reverse`.
fn paginate<T>(
    mut items: Vec<T>,
    req: Option<&PageRequest>,
    key: impl Fn(&T) -> &[u8],
) -> (Vec<T>, PageResponse) {
    let default = PageRequest::default();
    let req = req.unwrap_or(&default);
    let total = items.len() as u64;
    if req.reverse {
        items.reverse();
    }
    let start = if !req.key.is_empty() {
        items
            .iter()
            .position(|item| {
                if req.reverse {
                    key(item) <= req.key.as_slice()
                } else {
                    key(item) >= req.key.as_slice()
                }
            })
            .unwrap_or(items.len())
    } else {
        usize::try_from(req.offset)
            .unwrap_or(usize::MAX)
            .min(items.len())
    };
    let limit = if req.limit == 0 {
        DEFAULT_PAGE_LIMIT
    } else {
        req.limit
    };
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut rest = items.split_off(start);
    let next = if rest.len() > limit {
        rest.get(limit).map(|item| key(item).to_vec())
    } else {
        None
    };
    rest.truncate(limit);
    (
        rest,
        PageResponse {
            next_key: next.unwrap_or_default(),
            total: if req.count_total && req.key.is_empty() {
                total
            } else {
                0
            },
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::GasMeter;
    use crate::store::State;

    fn addr(byte: u8) -> String {
        let hrp = bech32::Hrp::parse("cosmos").unwrap();
        bech32::encode::<bech32::Bech32>(hrp, &[byte; 20]).unwrap()
    }

    fn fresh() -> ExecState {
        ExecState::new(State::new(), GasMeter::infinite())
    }

    fn send_any(from: &str, to: &str, coins: &[(&str, &str)]) -> Any {
        Any {
            type_url: "/cosmos.bank.v1beta1.MsgSend".to_string(),
            value: MsgSend {
                from_address: from.to_string(),
                to_address: to.to_string(),
                amount: coins
                    .iter()
                    .map(|(d, a)| ProtoCoin {
                        denom: d.to_string(),
                        amount: a.to_string(),
                    })
                    .collect(),
            }
            .encode_to_vec(),
        }
    }

    #[test]
    fn addresses_in_tests_are_valid_bech32() {
        let (alice, bob) = (addr(1), addr(2));
        assert!(check_address("from", &alice).is_ok());
        assert!(check_address("to", &bob).is_ok());
        assert!(check_address("to", "cosmos1notanaddress").is_err());
    }

    #[test]
    fn mint_send_burn_and_balances() {
        let (alice, bob) = (addr(1), addr(2));
        let mut st = fresh();
        mint(&mut st, &alice, &Coin::new("stake", 100)).unwrap();
        mint(&mut st, &alice, &Coin::new("ibc/ABCDEF", 7)).unwrap();
        send(&mut st, &alice, &bob, &Coin::new("stake", 40)).unwrap();
        assert_eq!(balance(&mut st, &alice, "stake"), 60);
        assert_eq!(balance(&mut st, &bob, "stake"), 40);
        assert_eq!(
            all_balances(&mut st, &alice),
            vec![Coin::new("ibc/ABCDEF", 7), Coin::new("stake", 60)]
        );
        burn(&mut st, &alice, &Coin::new("ibc/ABCDEF", 7)).unwrap();
        assert_eq!(all_balances(&mut st, &alice), vec![Coin::new("stake", 60)]);
        assert!(st.peek(STORE, &balance_key(&alice, "ibc/ABCDEF")).is_none());
        assert!(st.gas.used() > 0);
    }

    #[test]
    fn insufficient_funds_is_sdk_code_5_worded_like_the_sdk() {
        let (alice, bob) = (addr(1), addr(2));
        let mut st = fresh();
        mint(&mut st, &alice, &Coin::new("stake", 10)).unwrap();
        let err = send(&mut st, &alice, &bob, &Coin::new("stake", 20)).unwrap_err();
        assert_eq!((err.codespace, err.code), ("sdk", 5));
        assert_eq!(
            err.log,
            "spendable balance 10stake is smaller than 20stake: insufficient funds"
        );
        let err = burn(&mut st, &bob, &Coin::new("stake", 1)).unwrap_err();
        assert_eq!(
            err.log,
            "spendable balance 0stake is smaller than 1stake: insufficient funds"
        );
    }

    #[test]
    fn msg_send_moves_coins_and_emits_sdk_events() {
        let (alice, bob) = (addr(1), addr(2));
        let mut st = fresh();
        mint(&mut st, &alice, &Coin::new("stake", 100)).unwrap();
        mint(&mut st, &alice, &Coin::new("uatom", 5)).unwrap();
        let msg = send_any(&alice, &bob, &[("stake", "30"), ("uatom", "5")]);
        let events = execute_msg_send(&mut st, &msg, &alice).unwrap();
        assert_eq!(balance(&mut st, &bob, "stake"), 30);
        assert_eq!(balance(&mut st, &bob, "uatom"), 5);
        assert_eq!(balance(&mut st, &alice, "stake"), 70);
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["coin_spent", "coin_received", "transfer", "message"]
        );
        let transfer = &events[2];
        let attrs: Vec<(String, String)> = cosmos::events::attribute_pairs(transfer)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(
            attrs,
            vec![
                ("recipient".to_string(), bob.clone()),
                ("sender".to_string(), alice.to_string()),
                ("amount".to_string(), "30stake,5uatom".to_string()),
            ]
        );
    }

    #[test]
    fn msg_send_rejects_bad_input() {
        let (alice, bob) = (addr(1), addr(2));
        let mut st = fresh();
        mint(&mut st, &alice, &Coin::new("stake", 100)).unwrap();
        let wrong_signer =
            execute_msg_send(&mut st, &send_any(&alice, &bob, &[("stake", "1")]), &bob)
                .unwrap_err();
        assert_eq!(wrong_signer.code, 8);
        let zero = execute_msg_send(&mut st, &send_any(&alice, &bob, &[("stake", "0")]), &alice)
            .unwrap_err();
        assert_eq!(zero.code, 10);
        let bad_to = execute_msg_send(
            &mut st,
            &send_any(&alice, "nope", &[("stake", "1")]),
            &alice,
        )
        .unwrap_err();
        assert_eq!(bad_to.code, 7);
        let short = execute_msg_send(
            &mut st,
            &send_any(&alice, &bob, &[("stake", "101")]),
            &alice,
        )
        .unwrap_err();
        assert_eq!(short.code, 5);
        let garbage = Any {
            type_url: "/cosmos.bank.v1beta1.MsgSend".to_string(),
            value: vec![0xff, 0xff],
        };
        assert_eq!(
            execute_msg_send(&mut st, &garbage, &alice)
                .unwrap_err()
                .code,
            2
        );
    }

    #[test]
    fn balance_queries() {
        let alice = addr(1);
        let mut st = fresh();
        for (d, a) in [("aaa", 1), ("bbb", 2), ("ccc", 3)] {
            mint(&mut st, &alice, &Coin::new(d, a)).unwrap();
        }
        let req = QueryBalanceRequest {
            address: alice.to_string(),
            denom: "bbb".to_string(),
        };
        let raw = grpc_query(
            &mut st,
            "/cosmos.bank.v1beta1.Query/Balance",
            &req.encode_to_vec(),
        )
        .unwrap()
        .unwrap();
        let resp = QueryBalanceResponse::decode(raw.as_slice()).unwrap();
        assert_eq!(resp.balance.unwrap().amount, "2");

        let req = QueryAllBalancesRequest {
            address: alice.to_string(),
            pagination: Some(PageRequest {
                limit: 2,
                count_total: true,
                ..Default::default()
            }),
            resolve_denom: false,
        };
        let raw = grpc_query(
            &mut st,
            "/cosmos.bank.v1beta1.Query/AllBalances",
            &req.encode_to_vec(),
        )
        .unwrap()
        .unwrap();
        let resp = QueryAllBalancesResponse::decode(raw.as_slice()).unwrap();
        assert_eq!(resp.balances.len(), 2);
        let page = resp.pagination.unwrap();
        assert_eq!(page.total, 3);
        assert_eq!(page.next_key, b"ccc");

        let req = QueryAllBalancesRequest {
            address: alice.to_string(),
            pagination: Some(PageRequest {
                key: page.next_key,
                ..Default::default()
            }),
            resolve_denom: false,
        };
        let raw = grpc_query(
            &mut st,
            "/cosmos.bank.v1beta1.Query/AllBalances",
            &req.encode_to_vec(),
        )
        .unwrap()
        .unwrap();
        let resp = QueryAllBalancesResponse::decode(raw.as_slice()).unwrap();
        assert_eq!(resp.balances, vec![Coin::new("ccc", 3).to_proto()]);
        assert!(grpc_query(&mut st, "/cosmos.bank.v1beta1.Query/Other", &[]).is_none());
    }
}
