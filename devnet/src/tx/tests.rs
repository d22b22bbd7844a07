//! Unit tests of decoding and the ante handler.

use super::ante::SIMULATED_SIGNATURE_BYTES;
use super::*;
use crate::auth;
use crate::error::TxError;
use crate::exec::GasMeter;
use crate::exec::{cost, ExecState};
use crate::store::State;
use cosmos::address::{encode_address, module_address};
use cosmos::coin::proto_coins;
use cosmos::keys;
use cosmos::tx::{encode_auth_info, encode_body, encode_tx_raw, Fee};
use cosmos::{to_any, AccountKey, Wallet, COSMOS_HD_PATH};
use ibc_proto::cosmos::bank::v1beta1::MsgSend;
use ibc_proto::cosmos::tx::signing::v1beta1::SignMode;
use ibc_proto::cosmos::tx::v1beta1::{mode_info, AuthInfo, TxBody, TxRaw};
use ibc_proto::cosmos::tx::v1beta1::{ModeInfo, SignerInfo};
use k256::ecdsa::Signature;

const CHAIN: &str = "devnet-1";
const ABANDON: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

fn params(min_gas_price: f64) -> AnteParams {
    AnteParams {
        min_gas_price,
        fee_denom: "stake".into(),
        bech32_prefix: "cosmos".into(),
        fee_collector: module_address("fee_collector", "cosmos"),
    }
}

/// A state with an unrelated account (number 0) and the test signer (number 1).
fn setup() -> (ExecState, Wallet) {
    let mut st = ExecState::new(State::new(), GasMeter::infinite());
    auth::ensure_account(&mut st, &encode_address("cosmos", &[7; 20]));
    let key = AccountKey::from_mnemonic(ABANDON, COSMOS_HD_PATH).unwrap();
    let acc = auth::ensure_account(&mut st, &key.address("cosmos"));
    assert_eq!(acc.account_number, 1);
    let wallet = Wallet::new(key, "cosmos", CHAIN, acc.account_number, 0);
    (st, wallet)
}

fn msg(from: &str) -> Any {
    to_any(&MsgSend {
        from_address: from.to_string(),
        to_address: encode_address("cosmos", &[7; 20]),
        amount: proto_coins(&[Coin::new("stake", 1)]),
    })
}

fn run(st: &mut ExecState, raw: &[u8], p: &AnteParams, mode: Mode) -> Result<String, TxError> {
    let tx = decode(raw)?;
    ante(st, &tx, CHAIN, p, mode)
}

fn signed(wallet: &Wallet, fee: Vec<Coin>, gas: u64) -> Vec<u8> {
    wallet.sign_tx(vec![msg(&wallet.address)], fee, gas, "relayed by arke")
}

/// Re-encodes `raw` after `edit` changes its TxRaw.
fn edit_raw(raw: &[u8], edit: impl FnOnce(&mut TxRaw)) -> Vec<u8> {
    let mut tx_raw = TxRaw::decode(raw).unwrap();
    edit(&mut tx_raw);
    tx_raw.encode_to_vec()
}

fn edit_auth_info(raw: &[u8], edit: impl FnOnce(&mut AuthInfo)) -> Vec<u8> {
    edit_raw(raw, |t| {
        let mut info = AuthInfo::decode(t.auth_info_bytes.as_slice()).unwrap();
        edit(&mut info);
        t.auth_info_bytes = info.encode_to_vec();
    })
}

#[test]
fn wallet_tx_passes_ante_and_advances_sequence() {
    let (mut st, mut wallet) = setup();
    let p = params(0.0);
    let raw = wallet.sign_next(vec![msg(&wallet.address)], vec![], 200_000, "");
    let tx = decode(&raw).unwrap();
    assert_eq!(tx.messages.len(), 1);
    assert_eq!(tx.gas_limit, 200_000);
    assert_eq!(tx.signer_sequences, vec![0]);
    assert_eq!(tx.size, raw.len());
    let signer = ante(&mut st, &tx, CHAIN, &p, Mode::Deliver).unwrap();
    assert_eq!(signer, wallet.address);
    assert!(st.gas.used() >= cost::TX_SIZE_PER_BYTE * raw.len() as u64 + 1000);
    let acc = auth::account(&mut st, &signer).unwrap();
    assert_eq!(acc.sequence, 1);
    assert_eq!(acc.pub_key, Some(wallet.key.public_key()));

    // The next tx uses the stored key; a replay of the first is a sequence mismatch.
    let second = wallet.sign_next(vec![msg(&wallet.address)], vec![], 200_000, "");
    assert_eq!(
        run(&mut st, &second, &p, Mode::Check).unwrap(),
        wallet.address
    );
    let err = run(&mut st, &raw, &p, Mode::Deliver).unwrap_err();
    assert_eq!(err.code, 32);
    assert!(err.log.contains("expected 2, got 0"), "{}", err.log);
}

#[test]
fn wrong_sequence_is_code_32() {
    let (mut st, mut wallet) = setup();
    wallet.sequence = 5;
    let err = run(
        &mut st,
        &signed(&wallet, vec![], 100_000),
        &params(0.0),
        Mode::Check,
    )
    .unwrap_err();
    assert_eq!((err.codespace, err.code), ("sdk", 32));
    assert_eq!(
        err.log,
        "account sequence mismatch, expected 0, got 5: incorrect account sequence"
    );
}

#[test]
fn wrong_chain_id_or_account_number_is_code_4() {
    let (mut st, mut wallet) = setup();
    wallet.chain_id = "other-chain".into();
    let err = run(
        &mut st,
        &signed(&wallet, vec![], 100_000),
        &params(0.0),
        Mode::Deliver,
    )
    .unwrap_err();
    assert_eq!((err.codespace, err.code), ("sdk", 4));
    assert_eq!(
        err.log,
        "signature verification failed; please verify account number (1) and chain-id (devnet-1): (unable to verify single signer signature): unauthorized"
    );
    wallet.chain_id = CHAIN.into();
    wallet.account_number = 0;
    let err = run(
        &mut st,
        &signed(&wallet, vec![], 100_000),
        &params(0.0),
        Mode::Check,
    )
    .unwrap_err();
    assert_eq!(err.code, 4);
}

#[test]
fn tampered_body_or_auth_info_is_code_4() {
    let (mut st, wallet) = setup();
    let raw = signed(&wallet, vec![], 100_000);
    let tampered = edit_raw(&raw, |t| {
        let mut body = TxBody::decode(t.body_bytes.as_slice()).unwrap();
        body.memo = "changed".into();
        t.body_bytes = body.encode_to_vec();
    });
    let err = run(&mut st, &tampered, &params(0.0), Mode::Deliver).unwrap_err();
    assert_eq!(err.code, 4);
    let more_gas = edit_auth_info(&raw, |a| {
        if let Some(fee) = a.fee.as_mut() {
            fee.gas_limit += 1;
        }
    });
    let err = run(&mut st, &more_gas, &params(0.0), Mode::Deliver).unwrap_err();
    assert_eq!(err.code, 4);
    // The untouched tx still passes.
    run(&mut st, &raw, &params(0.0), Mode::Deliver).unwrap();
}

#[test]
fn high_s_signature_is_rejected() {
    let (mut st, wallet) = setup();
    let raw = signed(&wallet, vec![], 100_000);
    let high_s = edit_raw(&raw, |t| {
        let sig = Signature::from_slice(&t.signatures[0]).unwrap();
        let (r, s) = sig.split_scalars();
        t.signatures[0] = Signature::from_scalars(r, -*s).unwrap().to_bytes().to_vec();
    });
    let err = run(&mut st, &high_s, &params(0.0), Mode::Deliver).unwrap_err();
    assert_eq!(err.code, 4);
    let short = edit_raw(&raw, |t| t.signatures[0].truncate(63));
    assert_eq!(
        run(&mut st, &short, &params(0.0), Mode::Deliver)
            .unwrap_err()
            .code,
        4
    );
}

#[test]
fn insufficient_fee_is_code_13_in_check_only() {
    let (mut st, wallet) = setup();
    // 0.1 stake per gas × 200 gas = 20stake required.
    let p = params(0.1);
    let raw = signed(&wallet, vec![Coin::new("stake", 10)], 200);
    let err = run(&mut st, &raw, &p, Mode::Check).unwrap_err();
    assert_eq!((err.codespace, err.code), ("sdk", 13));
    assert_eq!(
        err.log,
        "insufficient fees; got: 10stake required: 20stake: insufficient fee"
    );
    let no_fee = signed(&wallet, vec![], 200);
    let err = run(&mut st, &no_fee, &p, Mode::Check).unwrap_err();
    assert_eq!(
        err.log,
        "insufficient fees; got:  required: 20stake: insufficient fee"
    );
    let other_denom = signed(&wallet, vec![Coin::new("uatom", 100)], 200);
    assert_eq!(
        run(&mut st, &other_denom, &p, Mode::Check)
            .unwrap_err()
            .code,
        13
    );
    // DeliverTx does not check the minimum gas price (validators' local setting).
    run(&mut st, &no_fee, &p, Mode::Deliver).unwrap();
}

#[test]
fn fee_is_deducted_to_the_fee_collector() {
    let (mut st, wallet) = setup();
    let p = params(0.01);
    crate::bank::mint(&mut st, &wallet.address, &Coin::new("stake", 5_000)).unwrap();
    let raw = signed(&wallet, vec![Coin::new("stake", 2_000)], 200_000);
    run(&mut st, &raw, &p, Mode::Check).unwrap();
    assert_eq!(
        crate::bank::balance(&mut st, &wallet.address, "stake"),
        3_000
    );
    assert_eq!(
        crate::bank::balance(&mut st, &p.fee_collector, "stake"),
        2_000
    );
    let mut next = wallet.clone();
    next.sequence = 1;
    let too_much = signed(&next, vec![Coin::new("stake", 4_000)], 200_000);
    let err = run(&mut st, &too_much, &p, Mode::Deliver).unwrap_err();
    assert_eq!(err.code, 5);
    assert!(
        err.log
            .ends_with(": insufficient funds: insufficient funds"),
        "{}",
        err.log
    );
}

#[test]
fn unknown_account_is_code_9() {
    let mut st = ExecState::new(State::new(), GasMeter::infinite());
    let wallet = Wallet::new(AccountKey::random(), "cosmos", CHAIN, 0, 0);
    let err = run(
        &mut st,
        &signed(&wallet, vec![], 100_000),
        &params(0.0),
        Mode::Check,
    )
    .unwrap_err();
    assert_eq!((err.codespace, err.code), ("sdk", 9));
    assert_eq!(
        err.log,
        format!(
            "fee payer address: {} does not exist: unknown address",
            wallet.address
        )
    );
}

#[test]
fn simulation_skips_signature_and_fee_checks() {
    let (mut st, wallet) = setup();
    let p = params(1.0);
    let raw = wallet.simulation_tx(vec![msg(&wallet.address)], "");
    let tx = decode(&raw).unwrap();
    assert_eq!(tx.sign_modes, vec![SignMode::Unspecified as i32]);
    let mut sim = st.clone();
    assert_eq!(
        ante(&mut sim, &tx, CHAIN, &p, Mode::Simulate).unwrap(),
        wallet.address
    );
    // The missing signature is charged as if present.
    let expected = cost::TX_SIZE_PER_BYTE * (raw.len() as u64 + SIMULATED_SIGNATURE_BYTES)
        + cost::SIG_VERIFY_SECP256K1;
    assert!(sim.gas.used() >= expected);
    assert_eq!(
        auth::account(&mut sim, &wallet.address).unwrap().sequence,
        1
    );
    // The same unsigned tx is refused outside simulation.
    let err = ante(&mut st, &tx, CHAIN, &params(0.0), Mode::Deliver).unwrap_err();
    assert_eq!(err.code, 41, "{}", err.log);
    let with_gas = edit_auth_info(&raw, |a| {
        a.fee = Some(ibc_proto::cosmos::tx::v1beta1::Fee {
            gas_limit: 1000,
            ..Default::default()
        })
    });
    let err = run(&mut st, &with_gas, &params(0.0), Mode::Deliver).unwrap_err();
    assert_eq!(err.code, 4);
    assert!(err.log.contains("SIGN_MODE_UNSPECIFIED"), "{}", err.log);
    // A signed tx simulates too.
    let mut sim = st.clone();
    run(&mut sim, &signed(&wallet, vec![], 0), &p, Mode::Simulate).unwrap();
}

#[test]
fn garbage_is_code_2() {
    for garbage in [
        &b"hello world"[..],
        &[0xff, 0xff, 0xff][..],
        &[0x0a, 0x05, 0x01][..],
        &[0x0a, 0x02, 0xff, 0xff][..],
    ] {
        let err = decode(garbage).unwrap_err();
        assert_eq!((err.codespace, err.code), ("sdk", 2), "{garbage:?}");
        assert!(err.log.ends_with(": tx parse error"), "{}", err.log);
    }
    let (_, wallet) = setup();
    let raw = signed(&wallet, vec![], 100_000);
    // Fields out of order (ADR-027).
    let tx_raw = TxRaw::decode(raw.as_slice()).unwrap();
    let mut reordered = TxRaw {
        auth_info_bytes: tx_raw.auth_info_bytes.clone(),
        ..Default::default()
    }
    .encode_to_vec();
    reordered.extend(
        TxRaw {
            body_bytes: tx_raw.body_bytes.clone(),
            signatures: tx_raw.signatures.clone(),
            ..Default::default()
        }
        .encode_to_vec(),
    );
    assert_eq!(decode(&reordered).unwrap_err().code, 2);
    // Unknown field in TxRaw.
    let mut extra = raw.clone();
    extra.extend([0x22, 0x01, 0x00]);
    assert_eq!(decode(&extra).unwrap_err().code, 2);
    // A critical unknown field in the body is rejected, a non-critical one is not.
    let critical = edit_raw(&raw, |t| t.body_bytes.extend([0x28, 0x01]));
    assert_eq!(decode(&critical).unwrap_err().code, 2);
    let non_critical = edit_raw(&raw, |t| t.body_bytes.extend([0x80, 0x40, 0x01]));
    decode(&non_critical).unwrap();
    // Unknown field deep in the auth info.
    let deep = edit_raw(&raw, |t| {
        let info = AuthInfo::decode(t.auth_info_bytes.as_slice()).unwrap();
        let mut fee = info.fee.clone().unwrap().encode_to_vec();
        fee.extend([0x28, 0x01]);
        let mut bytes = AuthInfo {
            signer_infos: info.signer_infos.clone(),
            ..Default::default()
        }
        .encode_to_vec();
        bytes.push(0x12);
        bytes.push(fee.len() as u8);
        bytes.extend(fee);
        t.auth_info_bytes = bytes;
    });
    assert_eq!(decode(&deep).unwrap_err().code, 2);
    // A bad coin amount.
    let bad_amount = edit_auth_info(&raw, |a| {
        if let Some(fee) = a.fee.as_mut() {
            fee.amount = vec![ibc_proto::cosmos::base::v1beta1::Coin {
                denom: "stake".into(),
                amount: "ten".into(),
            }];
        }
    });
    assert_eq!(decode(&bad_amount).unwrap_err().code, 2);
}

#[test]
fn structurally_unacceptable_txs() {
    let (_, wallet) = setup();
    let raw = signed(&wallet, vec![], 100_000);
    let no_msgs = wallet.sign_tx(vec![], vec![], 100_000, "");
    let err = decode(&no_msgs).unwrap_err();
    assert_eq!(
        (err.code, err.log.as_str()),
        (18, "must contain at least one message: invalid request")
    );
    let no_sigs = edit_raw(&raw, |t| t.signatures.clear());
    assert_eq!(decode(&no_sigs).unwrap_err().code, 15);
    let two_sigs = edit_raw(&raw, |t| t.signatures.push(t.signatures[0].clone()));
    let err = decode(&two_sigs).unwrap_err();
    assert_eq!(err.code, 4);
    assert!(err.log.contains("wrong number of signers"), "{}", err.log);
    let two_signers = edit_auth_info(&raw, |a| {
        let again = a.signer_infos[0].clone();
        a.signer_infos.push(again);
    });
    assert_eq!(decode(&two_signers).unwrap_err().code, 4);
    let ed25519 = edit_auth_info(&raw, |a| {
        a.signer_infos[0].public_key = Some(Any {
            type_url: "/cosmos.crypto.ed25519.PubKey".into(),
            value: vec![0x0a, 0x20].into_iter().chain([1u8; 32]).collect(),
        });
    });
    assert_eq!(decode(&ed25519).unwrap_err().code, 8);
    let unknown_key = edit_auth_info(&raw, |a| {
        a.signer_infos[0].public_key = Some(Any {
            type_url: "/foo.Key".into(),
            value: vec![],
        });
    });
    assert_eq!(decode(&unknown_key).unwrap_err().code, 2);
    let no_key = edit_auth_info(&raw, |a| a.signer_infos[0].public_key = None);
    assert_eq!(decode(&no_key).unwrap_err().code, 8);
    let bad_key = edit_auth_info(&raw, |a| {
        a.signer_infos[0].public_key = Some(keys::pub_key_any(&[2u8; 20]));
    });
    assert_eq!(decode(&bad_key).unwrap_err().code, 8);
    let amino = edit_auth_info(&raw, |a| {
        a.signer_infos[0] = SignerInfo {
            mode_info: Some(ModeInfo {
                sum: Some(mode_info::Sum::Single(mode_info::Single {
                    mode: SignMode::LegacyAminoJson as i32,
                })),
            }),
            ..a.signer_infos[0].clone()
        };
    });
    let err = decode(&amino).unwrap_err();
    assert_eq!(err.code, 4);
    assert!(
        err.log.contains("SIGN_MODE_LEGACY_AMINO_JSON"),
        "{}",
        err.log
    );
    let with_ext = edit_raw(&raw, |t| {
        let mut body = TxBody::decode(t.body_bytes.as_slice()).unwrap();
        body.extension_options.push(Any::default());
        t.body_bytes = body.encode_to_vec();
    });
    assert_eq!(decode(&with_ext).unwrap_err().code, 31);
    let granter = edit_auth_info(&raw, |a| {
        if let Some(fee) = a.fee.as_mut() {
            fee.granter = wallet.address.clone();
        }
    });
    // The granter is read here and used by the ante handler (see `fee_grants_pay_fees`).
    assert_eq!(
        decode(&granter).unwrap().fee_granter.as_deref(),
        Some(wallet.address.as_str())
    );
    let bad_granter = edit_auth_info(&raw, |a| {
        if let Some(fee) = a.fee.as_mut() {
            fee.granter = "cosmos1nope".into();
        }
    });
    assert_eq!(decode(&bad_granter).unwrap_err().code, 7);
    let payer_self = edit_auth_info(&raw, |a| {
        if let Some(fee) = a.fee.as_mut() {
            fee.payer = wallet.address.clone();
        }
    });
    decode(&payer_self).unwrap();
    let payer_other = edit_auth_info(&raw, |a| {
        if let Some(fee) = a.fee.as_mut() {
            fee.payer = encode_address("cosmos", &[7; 20]);
        }
    });
    assert_eq!(decode(&payer_other).unwrap_err().code, 4);
}

#[test]
fn memo_and_gas_limits() {
    let (mut st, wallet) = setup();
    let long = wallet.sign_tx(
        vec![msg(&wallet.address)],
        vec![],
        100_000,
        &"m".repeat(257),
    );
    let err = run(&mut st, &long, &params(0.0), Mode::Check).unwrap_err();
    assert_eq!(err.code, 12);
    assert_eq!(
        err.log,
        "maximum number of characters is 256 but received 257 characters: memo too large"
    );
    let zero_gas = signed(&wallet, vec![], 0);
    let err = run(&mut st, &zero_gas, &params(0.0), Mode::Deliver).unwrap_err();
    assert_eq!(
        (err.code, err.log.as_str()),
        (41, "must provide positive gas: invalid gas limit")
    );
    let huge = signed(&wallet, vec![], u64::MAX);
    assert_eq!(decode(&huge).unwrap_err().code, 18);
}

#[test]
fn cosmjs_signed_tx_is_accepted() {
    // cosmjs proto-signing test vector: the faucet key signs a MsgSend of 1234567ucosm with
    // fee 2000ucosm / 200000 gas on `simd-testing`, account number 1, sequence 0. cosmjs
    // writes default-valued fields explicitly (empty memo, zero timeout), which the SDK
    // accepts and the signature covers.
    let raw = hex::decode("0a97010a90010a1c2f636f736d6f732e62616e6b2e763162657461312e4d736753656e6412700a2d636f736d6f7331706b707472653766646b6c366766727a6c65736a6a766878686c63337234676d6d6b38727336122d636f736d6f7331717970717870713971637273737a673270767871367273307a716733797963356c7a763778751a100a0575636f736d12073132333435363712001800126b0a500a460a1f2f636f736d6f732e63727970746f2e736563703235366b312e5075624b657912230a21034f04181eeba35391b858633a765c4a0c189697b40d216354d50890d350c7029012040a020801180012170a0d0a0575636f736d12043230303010c09a0c1a0022001a40d1bb55b0f3e5f9c260a20c8ccf2cb44f19bafccba84c7fb6e2b77fac401b15c9228c33236a701dd7a7c4a481aa5dedb902c982fe565504c4f4e7f39ccfcd73d6").unwrap();
    let faucet = "cosmos1pkptre7fdkl6gfrzlesjjvhxhlc3r4gmmk8rs6";
    let mut st = ExecState::new(State::new(), GasMeter::infinite());
    auth::ensure_account(&mut st, &encode_address("cosmos", &[7; 20]));
    assert_eq!(auth::ensure_account(&mut st, faucet).account_number, 1);
    crate::bank::mint(&mut st, faucet, &Coin::new("ucosm", 10_000)).unwrap();
    let tx = decode(&raw).unwrap();
    assert_eq!(tx.gas_limit, 200_000);
    assert_eq!(tx.fee, vec![Coin::new("ucosm", 2000)]);
    let p = AnteParams {
        fee_denom: "ucosm".into(),
        ..params(0.0)
    };
    assert_eq!(
        ante(&mut st.clone(), &tx, "simd-testing", &p, Mode::Check).unwrap(),
        faucet
    );
    assert_eq!(
        ante(&mut st, &tx, "simd-testing", &p, Mode::Deliver).unwrap(),
        faucet
    );
    assert_eq!(crate::bank::balance(&mut st, faucet, "ucosm"), 8_000);
}

#[test]
fn timeout_height() {
    let (_, wallet) = setup();
    let raw = encode_tx_raw(
        encode_body(vec![msg(&wallet.address)], "", 10),
        encode_auth_info(&wallet.key.public_key(), 0, &Fee::new(Vec::new(), 1000)),
        vec![vec![0; 64]],
    );
    let tx = decode(&raw).unwrap();
    assert!(check_timeout_height(&tx, 10).is_ok());
    let err = check_timeout_height(&tx, 11).unwrap_err();
    assert_eq!(
        (err.code, err.log.as_str()),
        (
            30,
            "block height: 11, timeout height: 10: tx timeout height"
        )
    );
}

#[test]
fn required_fee_is_decimal_exact() {
    assert_eq!(required_fee(0.025, 200_000), 5_000);
    assert_eq!(required_fee(0.1, 200), 20);
    assert_eq!(required_fee(0.0001, 3), 1);
    assert_eq!(required_fee(1.5, 3), 5);
    assert_eq!(required_fee(0.0, 100), 0);
    assert_eq!(required_fee(2.0, 0), 0);
}

#[test]
fn tx_msg_data_round_trips() {
    let response = Any {
        type_url: "/ibc.core.channel.v1.MsgRecvPacketResponse".into(),
        value: vec![0x08, 0x02],
    };
    let bytes = encode_tx_msg_data(vec![response.clone()]);
    let decoded = TxMsgData::decode(bytes.as_slice()).unwrap();
    assert_eq!(decoded.msg_responses, vec![response]);
    // Field 2 only: the deprecated `data` stays empty.
    assert_eq!(bytes[0], 0x12);
}

#[test]
fn fee_grants_pay_fees() {
    use crate::feegrant::{allowance, execute_grant, grant_msg};
    let (mut st, mut wallet) = setup();
    let p = params(0.0);
    let granter = encode_address("cosmos", &[9; 20]);
    let collector = p.fee_collector.clone();
    crate::bank::mint(&mut st, &granter, &Coin::new("stake", 1_000)).unwrap();
    crate::bank::mint(&mut st, &wallet.address, &Coin::new("stake", 1_000)).unwrap();
    let granted = |w: &Wallet, amount: u128| {
        let fee = Fee::new(vec![Coin::new("stake", amount)], 100_000).with_granter(granter.clone());
        w.sign_with_fee(vec![msg(&w.address)], &fee, "")
    };

    // Without a grant: the SDK's feegrant error, nothing paid.
    let err = run(&mut st, &granted(&wallet, 10), &p, Mode::Deliver).unwrap_err();
    assert_eq!((err.codespace, err.code), ("feegrant", 6), "{}", err.log);
    assert!(
        err.log.contains("does not allow to pay fees"),
        "{}",
        err.log
    );

    // Only the granter can grant, once.
    let grant = grant_msg(&granter, &wallet.address, &[Coin::new("stake", 25)]);
    assert_eq!(
        execute_grant(&mut st, &grant, &wallet.address)
            .unwrap_err()
            .code,
        8
    );
    execute_grant(&mut st, &grant, &granter).unwrap();
    assert_eq!(
        execute_grant(&mut st, &grant, &granter).unwrap_err().code,
        18
    );

    // With it: the granter pays, within the limit; the signer's balance is untouched.
    run(&mut st, &granted(&wallet, 10), &p, Mode::Deliver).unwrap();
    wallet.sequence += 1;
    assert_eq!(crate::bank::balance(&mut st, &granter, "stake"), 990);
    assert_eq!(
        crate::bank::balance(&mut st, &wallet.address, "stake"),
        1_000
    );
    assert_eq!(crate::bank::balance(&mut st, &collector, "stake"), 10);
    let left = allowance(&mut st, &granter, &wallet.address).unwrap();
    assert_eq!(left.spend_limit[0].amount, "15");
    let err = run(&mut st, &granted(&wallet, 16), &p, Mode::Deliver).unwrap_err();
    assert_eq!((err.codespace, err.code), ("feegrant", 2), "{}", err.log);
    // Spending the rest removes the grant.
    run(&mut st, &granted(&wallet, 15), &p, Mode::Deliver).unwrap();
    assert!(allowance(&mut st, &granter, &wallet.address).is_none());
    assert_eq!(crate::bank::balance(&mut st, &granter, "stake"), 975);
}
