//! Tests of the IBC module on hand-built states: redundancy detection, escrow addresses,
//! `MsgCreateClient` through [`execute`], and a full ICS-20 round trip between two in-memory
//! chains whose packets are verified by ibc-rs against real store proofs (commitment,
//! acknowledgement, timeout by non-membership, and the voucher's way back).
//!
//! Light-client updates are simulated by writing consensus states directly: building signed
//! tendermint headers is left to the node-level tests.

use std::time::Duration;

use cosmos::Coin;
use ibc::clients::tendermint::types::{
    AllowUpdate, ClientState as TmClientStateType, ConsensusState as TmConsensusStateType,
    TrustThreshold,
};
use ibc::core::client::context::ClientExecutionContext;
use ibc::core::client::context::ClientValidationContext;
use ibc::core::client::types::Height;
use ibc::core::commitment_types::commitment::CommitmentRoot;
use ibc::core::commitment_types::specs::ProofSpecs;
use ibc::core::host::types::identifiers::{ChainId, ClientId};
use ibc::core::host::types::path::{ClientConsensusStatePath, ClientStatePath};
use ibc::core::primitives::Timestamp;
use ibc_proto::cosmos::base::v1beta1::Coin as ProtoCoin;
use ibc_proto::ibc::applications::transfer::v1 as transfer_proto;
use ibc_proto::ibc::core::commitment::v1::{MerklePrefix, MerkleProof as RawMerkleProof};
use sha2::{Digest, Sha256};

use super::*;

use crate::bank;
use crate::exec::GasMeter;
use crate::store::State;

const T0_NS: u128 = 1_700_000_000 * 1_000_000_000;

struct History;

impl HostHistory for History {
    fn consensus_at(&self, _height: u64) -> Option<HostConsensus> {
        Some(HostConsensus {
            time_ns: T0_NS,
            app_hash: vec![1; 32],
            next_validators_hash: vec![2; 32],
        })
    }
}

static HISTORY: History = History;

fn host(chain_id: &'static str, height: u64) -> HostInfo<'static> {
    HostInfo {
        chain_id,
        height,
        time_ns: T0_NS + u128::from(height) * 1_000_000_000,
        history: &HISTORY,
        max_expected_time_per_block: Duration::from_secs(1),
    }
}

fn addr(byte: u8) -> String {
    let hrp = bech32::Hrp::parse("cosmos").unwrap();
    bech32::encode::<bech32::Bech32>(hrp, &[byte; 20]).unwrap()
}

fn fresh() -> ExecState {
    let mut state = State::new();
    state.set_version(1);
    ExecState::new(state, GasMeter::infinite())
}

fn event_kinds(result: &MsgResult) -> Vec<String> {
    result
        .events
        .iter()
        .map(|e| {
            if e.kind == "message" {
                let module = cosmos::events::attribute(e, "module").unwrap_or_default();
                format!("message:{module}")
            } else {
                e.kind.clone()
            }
        })
        .collect()
}

fn attr(result: &MsgResult, kind: &str, key: &str) -> Option<String> {
    cosmos::events::event_attr(&result.events, kind, key)
}

fn tm_client_state(chain_id: &str, height: u64) -> TmClientStateType {
    TmClientStateType::new(
        ChainId::new(chain_id).unwrap(),
        TrustThreshold::ONE_THIRD,
        Duration::from_secs(14 * 24 * 3600),
        Duration::from_secs(21 * 24 * 3600),
        Duration::from_secs(20),
        Height::new(1, height).unwrap(),
        ProofSpecs::cosmos(),
        vec!["upgrade".to_string(), "upgradedIBCState".to_string()],
        AllowUpdate {
            after_expiry: false,
            after_misbehaviour: false,
        },
    )
    .unwrap()
}

fn tm_consensus_state(root: &[u8]) -> TmConsensusStateType {
    TmConsensusStateType::new(
        CommitmentRoot::from_bytes(root),
        tendermint::Time::from_unix_timestamp(1_700_000_000, 0).unwrap(),
        tendermint::Hash::Sha256([7; 32]),
    )
}

/// Executes `MsgCreateClient` for a client of `counterparty` at height 1-`height`.
fn create_client(
    st: &mut ExecState,
    h: &HostInfo<'_>,
    counterparty: &str,
    height: u64,
    root: &[u8],
) -> MsgResult {
    let msg = client::MsgCreateClient {
        client_state: Some(tm_client_state(counterparty, height).into()),
        consensus_state: Some(tm_consensus_state(root).into()),
        signer: addr(9),
    };
    execute(st, h, &to_any(&msg), &addr(9)).unwrap()
}

/// Stands in for `MsgUpdateClient`: client 07-tendermint-0 gets a consensus state at 1-`height`.
fn add_consensus_state(st: &mut ExecState, h: &HostInfo<'_>, height: u64, root: &[u8]) {
    let shared = Shared::new(st.clone(), h, "cosmos");
    let mut ctx = IbcContext::new(&shared);
    let id = ClientId::new("07-tendermint", 0).unwrap();
    let mut cs = ctx.client_state(&id).unwrap().inner().clone();
    cs.latest_height = Height::new(1, height).unwrap();
    ctx.store_client_state(ClientStatePath::new(id.clone()), cs.into())
        .unwrap();
    ctx.store_consensus_state(
        ClientConsensusStatePath::new(id.clone(), 1, height),
        tm_consensus_state(root).into(),
    )
    .unwrap();
    ctx.store_update_meta(
        id,
        Height::new(1, height).unwrap(),
        Timestamp::from_nanoseconds(u64::try_from(h.time_ns).unwrap()),
        Height::new(1, h.height).unwrap(),
    )
    .unwrap();
    *st = shared.exec.into_inner();
}

/// An open ICS-20 channel `transfer/channel-0` over `connection-0` on client 07-tendermint-0,
/// facing the same ids on the counterparty.
fn open_channel(st: &mut ExecState, ordering: chan::Order) {
    let connection = conn::ConnectionEnd {
        client_id: "07-tendermint-0".to_string(),
        versions: vec![conn::Version {
            identifier: "1".to_string(),
            features: vec!["ORDER_ORDERED".to_string(), "ORDER_UNORDERED".to_string()],
        }],
        state: conn::State::Open as i32,
        counterparty: Some(conn::Counterparty {
            client_id: "07-tendermint-0".to_string(),
            connection_id: "connection-0".to_string(),
            prefix: Some(MerklePrefix {
                key_prefix: b"ibc".to_vec(),
            }),
        }),
        delay_period: 0,
    };
    st.set(
        IBC_STORE,
        b"connections/connection-0".to_vec(),
        connection.encode_to_vec(),
    );
    let channel = chan::Channel {
        state: chan::State::Open as i32,
        ordering: ordering as i32,
        counterparty: Some(chan::Counterparty {
            port_id: "transfer".to_string(),
            channel_id: "channel-0".to_string(),
        }),
        connection_hops: vec!["connection-0".to_string()],
        version: "ics20-1".to_string(),
        upgrade_sequence: 0,
    };
    st.set(
        IBC_STORE,
        b"channelEnds/ports/transfer/channels/channel-0".to_vec(),
        channel.encode_to_vec(),
    );
    for kind in ["nextSequenceSend", "nextSequenceRecv", "nextSequenceAck"] {
        st.set(
            IBC_STORE,
            format!("{kind}/ports/transfer/channels/channel-0").into_bytes(),
            encode_u64(1),
        );
    }
}

fn packet(seq: u64, data: Vec<u8>, timeout_height: u64, timeout_ns: u64) -> chan::Packet {
    chan::Packet {
        sequence: seq,
        source_port: "transfer".to_string(),
        source_channel: "channel-0".to_string(),
        destination_port: "transfer".to_string(),
        destination_channel: "channel-0".to_string(),
        data,
        timeout_height: Some(client::Height {
            revision_number: if timeout_height == 0 { 0 } else { 1 },
            revision_height: timeout_height,
        }),
        timeout_timestamp: timeout_ns,
    }
}

fn recv_any(p: chan::Packet, seq_signer: &str) -> Any {
    to_any(&chan::MsgRecvPacket {
        packet: Some(p),
        proof_commitment: vec![1],
        proof_height: Some(client::Height {
            revision_number: 1,
            revision_height: 10,
        }),
        signer: seq_signer.to_string(),
    })
}

/// The proof of `key` in `chain`'s `ibc` store, as a relayer builds it from `abci_query`.
fn proof(chain: &ExecState, key: &str) -> Vec<u8> {
    let q = chain.state.query("ibc", key.as_bytes(), true).unwrap();
    RawMerkleProof {
        proofs: q
            .proof_ops
            .iter()
            .map(|op| ics23::CommitmentProof::decode(op.data.as_slice()).unwrap())
            .collect(),
    }
    .encode_to_vec()
}

fn h(height: u64) -> Option<client::Height> {
    Some(client::Height {
        revision_number: 1,
        revision_height: height,
    })
}

fn transfer_msg(
    sender: &str,
    receiver: &str,
    denom: &str,
    amount: u128,
    timeout_height: u64,
) -> Any {
    to_any(&transfer_proto::MsgTransfer {
        source_port: "transfer".to_string(),
        source_channel: "channel-0".to_string(),
        token: Some(ProtoCoin {
            denom: denom.to_string(),
            amount: amount.to_string(),
        }),
        sender: sender.to_string(),
        receiver: receiver.to_string(),
        timeout_height: if timeout_height == 0 {
            None
        } else {
            h(timeout_height)
        },
        timeout_timestamp: if timeout_height == 0 {
            u64::try_from(T0_NS).unwrap() + 3600 * 1_000_000_000
        } else {
            0
        },
        memo: String::new(),
    })
}

#[test]
fn handles_lists_ibc_and_transfer_messages() {
    assert!(handles("/ibc.core.client.v1.MsgUpdateClient"));
    assert!(handles("/ibc.core.channel.v1.MsgRecvPacket"));
    assert!(handles(MSG_TRANSFER));
    assert!(!handles("/cosmos.bank.v1beta1.MsgSend"));
}

#[test]
fn escrow_address_is_ibc_go_s() {
    let mut pre = b"ics20-1".to_vec();
    pre.push(0);
    pre.extend_from_slice(b"transfer/channel-0");
    let hash = Sha256::digest(&pre);
    let hrp = bech32::Hrp::parse("cosmos").unwrap();
    let want = bech32::encode::<bech32::Bech32>(hrp, &hash[..20]).unwrap();
    let got = escrow_address("cosmos", "transfer", "channel-0").unwrap();
    assert_eq!(got, want);
    // The well-known escrow account of transfer/channel-0 on the Cosmos Hub.
    assert_eq!(got, "cosmos1a53udazy8ayufvy0s434pfwjcedzqv34kvz9tw");
    assert_ne!(
        got,
        escrow_address("cosmos", "transfer", "channel-1").unwrap()
    );
}

#[test]
fn voucher_denoms_and_packet_bytes_are_ibc_go_s() {
    let denom = "transfer/channel-0/stake".parse().unwrap();
    assert_eq!(
        bank_denom(&denom),
        format!(
            "ibc/{}",
            hex::encode_upper(Sha256::digest(b"transfer/channel-0/stake"))
        )
    );
    assert_eq!(bank_denom(&"stake".parse().unwrap()), "stake");
    let data = ibc_proto::ibc::applications::transfer::v2::FungibleTokenPacketData {
        denom: "stake".to_string(),
        amount: "100".to_string(),
        sender: "a".to_string(),
        receiver: "b".to_string(),
        memo: String::new(),
    };
    assert_eq!(
        packet_data_bytes(&data),
        br#"{"amount":"100","denom":"stake","receiver":"b","sender":"a"}"#.to_vec()
    );
    let with_memo = ibc_proto::ibc::applications::transfer::v2::FungibleTokenPacketData {
        memo: "<x&y>".to_string(),
        ..data
    };
    assert_eq!(
        String::from_utf8(packet_data_bytes(&with_memo)).unwrap(),
        r#"{"amount":"100","denom":"stake","memo":"\u003cx\u0026y\u003e","receiver":"b","sender":"a"}"#
    );
}

#[test]
fn redundancy_detection_on_a_hand_built_state() {
    let mut st = fresh();
    open_channel(&mut st, chan::Order::Unordered);
    st.set(
        IBC_STORE,
        b"receipts/ports/transfer/channels/channel-0/sequences/1".to_vec(),
        vec![1],
    );
    st.set(
        IBC_STORE,
        b"commitments/ports/transfer/channels/channel-0/sequences/2".to_vec(),
        vec![0xaa; 32],
    );
    let relayer = addr(3);
    assert_eq!(
        is_redundant(&mut st, &recv_any(packet(1, vec![], 0, 1), &relayer)),
        Some(true)
    );
    assert_eq!(
        is_redundant(&mut st, &recv_any(packet(2, vec![], 0, 1), &relayer)),
        Some(false)
    );

    let ack = |seq| {
        to_any(&chan::MsgAcknowledgement {
            packet: Some(packet(seq, vec![], 0, 1)),
            acknowledgement: ACK_SUCCESS.to_vec(),
            proof_acked: vec![1],
            proof_height: h(10),
            signer: relayer.clone(),
        })
    };
    let timeout = |seq| {
        to_any(&chan::MsgTimeout {
            packet: Some(packet(seq, vec![], 0, 1)),
            proof_unreceived: vec![1],
            proof_height: h(10),
            next_sequence_recv: seq,
            signer: relayer.clone(),
        })
    };
    let timeout_on_close = |seq| {
        to_any(&chan::MsgTimeoutOnClose {
            packet: Some(packet(seq, vec![], 0, 1)),
            proof_unreceived: vec![1],
            proof_close: vec![1],
            proof_height: h(10),
            next_sequence_recv: seq,
            signer: relayer.clone(),
            counterparty_upgrade_sequence: 0,
        })
    };
    assert_eq!(is_redundant(&mut st, &ack(2)), Some(false));
    assert_eq!(is_redundant(&mut st, &ack(3)), Some(true));
    assert_eq!(is_redundant(&mut st, &timeout(2)), Some(false));
    assert_eq!(is_redundant(&mut st, &timeout(1)), Some(true));
    assert_eq!(is_redundant(&mut st, &timeout_on_close(2)), Some(false));
    assert_eq!(is_redundant(&mut st, &timeout_on_close(5)), Some(true));

    let update = to_any(&client::MsgUpdateClient::default());
    assert_eq!(is_redundant(&mut st, &update), None);
    let garbage = Any {
        type_url: MSG_RECV_PACKET.to_string(),
        value: vec![0xff],
    };
    assert_eq!(is_redundant(&mut st, &garbage), Some(false));

    // A redundant message executes as a no-op without events.
    let out = execute(&mut st, &host("a-1", 5), &ack(3), &relayer).unwrap();
    assert!(out.events.is_empty());
    let resp =
        chan::MsgAcknowledgementResponse::decode(out.response.unwrap().value.as_slice()).unwrap();
    assert_eq!(resp.result, RESULT_NOOP);

    // Ordered channel: redundant below nextSequenceRecv.
    let mut st = fresh();
    open_channel(&mut st, chan::Order::Ordered);
    st.set(
        IBC_STORE,
        b"nextSequenceRecv/ports/transfer/channels/channel-0".to_vec(),
        encode_u64(5),
    );
    assert_eq!(
        is_redundant(&mut st, &recv_any(packet(4, vec![], 0, 1), &relayer)),
        Some(true)
    );
    assert_eq!(
        is_redundant(&mut st, &recv_any(packet(5, vec![], 0, 1), &relayer)),
        Some(false)
    );
}

#[test]
fn create_client_through_execute() {
    let mut st = fresh();
    let host = host("a-1", 20);
    let out = create_client(&mut st, &host, "b-1", 10, &[5; 32]);
    assert_eq!(event_kinds(&out), ["create_client", "message:ibc_client"]);
    assert_eq!(
        attr(&out, "create_client", "client_id").as_deref(),
        Some("07-tendermint-0")
    );
    let response = out.response.unwrap();
    assert_eq!(
        response.type_url,
        "/ibc.core.client.v1.MsgCreateClientResponse"
    );

    assert_eq!(
        st.peek(IBC_STORE, b"nextClientSequence"),
        Some(encode_u64(1))
    );
    let raw = st
        .peek(IBC_STORE, b"clients/07-tendermint-0/clientState")
        .unwrap();
    let any_cs = Any::decode(raw.as_slice()).unwrap();
    assert_eq!(
        any_cs.type_url,
        "/ibc.lightclients.tendermint.v1.ClientState"
    );
    assert!(st
        .peek(IBC_STORE, b"clients/07-tendermint-0/consensusStates/1-10")
        .is_some());
    assert_eq!(
        st.peek(
            IBC_STORE,
            b"clients/07-tendermint-0/consensusStates/1-10/processedHeight"
        ),
        Some(b"1-20".to_vec())
    );
    let time = st
        .peek(
            IBC_STORE,
            b"clients/07-tendermint-0/consensusStates/1-10/processedTime",
        )
        .unwrap();
    assert_eq!(
        decode_u64(&time),
        Some(u64::try_from(host.time_ns).unwrap())
    );

    // The second client gets the next id; queries see both.
    create_client(&mut st, &host, "c-1", 3, &[6; 32]);
    let req = client::QueryClientStatesRequest { pagination: None };
    let raw = grpc_query(
        &mut st,
        &host,
        "/ibc.core.client.v1.Query/ClientStates",
        &req.encode_to_vec(),
    )
    .unwrap()
    .unwrap();
    let resp = client::QueryClientStatesResponse::decode(raw.as_slice()).unwrap();
    let ids: Vec<&str> = resp
        .client_states
        .iter()
        .map(|c| c.client_id.as_str())
        .collect();
    assert_eq!(ids, ["07-tendermint-0", "07-tendermint-1"]);
    let req = client::QueryClientStatusRequest {
        client_id: "07-tendermint-1".to_string(),
    };
    let raw = grpc_query(
        &mut st,
        &host,
        "/ibc.core.client.v1.Query/ClientStatus",
        &req.encode_to_vec(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        client::QueryClientStatusResponse::decode(raw.as_slice())
            .unwrap()
            .status,
        "Active"
    );
    let req = client::QueryClientStateRequest {
        client_id: "07-tendermint-9".to_string(),
    };
    let err = grpc_query(
        &mut st,
        &host,
        "/ibc.core.client.v1.Query/ClientState",
        &req.encode_to_vec(),
    )
    .unwrap()
    .unwrap_err();
    assert_eq!(err.code, 38);

    // A message signed by someone else than the tx signer is rejected.
    let msg = client::MsgCreateClient {
        client_state: Some(tm_client_state("b-1", 10).into()),
        consensus_state: Some(tm_consensus_state(&[5; 32]).into()),
        signer: addr(9),
    };
    let err = execute(&mut st, &host, &to_any(&msg), &addr(8)).unwrap_err();
    assert_eq!((err.codespace, err.code), ("sdk", 8));
}

#[test]
fn consensus_state_iteration_is_numeric() {
    let mut st = fresh();
    let host = host("a-1", 50);
    create_client(&mut st, &host, "b-1", 9, &[5; 32]);
    add_consensus_state(&mut st, &host, 10, &[6; 32]);
    add_consensus_state(&mut st, &host, 100, &[7; 32]);
    let shared = Shared::new(st.clone(), &host, "cosmos");
    let ctx = IbcContext::new(&shared);
    let id = ClientId::new("07-tendermint", 0).unwrap();
    let heights: Vec<u64> = ctx
        .consensus_heights(&id)
        .iter()
        .map(|h| h.revision_height())
        .collect();
    assert_eq!(heights, [9, 10, 100]);
    use ibc::core::client::context::ExtClientValidationContext;
    let next = ctx
        .next_consensus_state(&id, &Height::new(1, 10).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(next.inner().root.as_bytes(), &[7; 32]);
    let prev = ctx
        .prev_consensus_state(&id, &Height::new(1, 10).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(prev.inner().root.as_bytes(), &[5; 32]);
    assert!(ctx
        .next_consensus_state(&id, &Height::new(1, 100).unwrap())
        .unwrap()
        .is_none());
}

/// A full ICS-20 round trip between chains `a-1` and `b-1`, every packet message verified by
/// ibc-rs against proofs from the other chain's store.
#[test]
fn transfer_round_trip_with_real_proofs() {
    let (alice, bob, relayer) = (addr(1), addr(2), addr(3));
    let mut a = fresh();
    let mut b = fresh();
    let host_a = |height| host("a-1", height);
    let host_b = |height| host("b-1", height);

    // Setup: each chain has a client of the other, and an open channel.
    create_client(&mut a, &host_a(5), "b-1", 1, &[9; 32]);
    open_channel(&mut a, chan::Order::Unordered);
    open_channel(&mut b, chan::Order::Unordered);
    bank::mint(&mut a, &alice, &Coin::new("stake", 1000)).unwrap();

    // 1. a: alice sends 100stake (timestamp timeout) and 50stake (timeout at b's height 15).
    let out = execute(
        &mut a,
        &host_a(6),
        &transfer_msg(&alice, &bob, "stake", 100, 0),
        &alice,
    )
    .unwrap();
    assert_eq!(
        event_kinds(&out),
        [
            "send_packet",
            "message:ibc_channel",
            "ibc_transfer",
            "message:transfer"
        ]
    );
    assert_eq!(
        attr(&out, "send_packet", "packet_sequence").as_deref(),
        Some("1")
    );
    assert_eq!(
        attr(&out, "send_packet", "connection_id").as_deref(),
        Some("connection-0")
    );
    let data1 = hex::decode(attr(&out, "send_packet", "packet_data_hex").unwrap()).unwrap();
    assert_eq!(
        String::from_utf8(data1.clone()).unwrap(),
        format!(r#"{{"amount":"100","denom":"stake","receiver":"{bob}","sender":"{alice}"}}"#)
    );
    let resp = transfer_proto::MsgTransferResponse::decode(out.response.unwrap().value.as_slice())
        .unwrap();
    assert_eq!(resp.sequence, 1);
    execute(
        &mut a,
        &host_a(6),
        &transfer_msg(&alice, &bob, "stake", 50, 15),
        &alice,
    )
    .unwrap();
    let escrow_a = escrow_address("cosmos", "transfer", "channel-0").unwrap();
    assert_eq!(bank::balance(&mut a, &alice, "stake"), 850);
    assert_eq!(bank::balance(&mut a, &escrow_a, "stake"), 150);
    assert_eq!(
        a.peek(
            IBC_STORE,
            b"nextSequenceSend/ports/transfer/channels/channel-0"
        ),
        Some(encode_u64(3))
    );
    let commitment_key = "commitments/ports/transfer/channels/channel-0/sequences/1";
    let timeout_ns = u64::try_from(T0_NS).unwrap() + 3600 * 1_000_000_000;
    let mut pre = timeout_ns.to_be_bytes().to_vec();
    pre.extend_from_slice(&0u64.to_be_bytes());
    pre.extend_from_slice(&0u64.to_be_bytes());
    pre.extend_from_slice(&Sha256::digest(&data1));
    assert_eq!(
        a.peek(IBC_STORE, commitment_key.as_bytes()),
        Some(Sha256::digest(&pre).to_vec())
    );
    // Insufficient funds is the SDK's error.
    let err = execute(
        &mut a,
        &host_a(6),
        &transfer_msg(&alice, &bob, "stake", 5000, 0),
        &alice,
    )
    .unwrap_err();
    assert_eq!((err.codespace, err.code), ("sdk", 5));

    // 2. b: a client of a at height 10 whose root is a's state now; relay packet 1.
    create_client(&mut b, &host_b(20), "a-1", 10, &a.state.app_hash());
    let p1 = packet(1, data1.clone(), 0, timeout_ns);
    let recv = to_any(&chan::MsgRecvPacket {
        packet: Some(p1.clone()),
        proof_commitment: proof(&a, commitment_key),
        proof_height: h(10),
        signer: relayer.clone(),
    });
    assert_eq!(is_redundant(&mut b, &recv), Some(false));
    let out = execute(&mut b, &host_b(21), &recv, &relayer).unwrap();
    assert_eq!(
        event_kinds(&out),
        [
            "recv_packet",
            "message:ibc_channel",
            "denomination_trace",
            "fungible_token_packet",
            "write_acknowledgement",
            "message:ibc_channel",
        ]
    );
    assert_eq!(
        attr(&out, "fungible_token_packet", "success").as_deref(),
        Some("true")
    );
    assert_eq!(
        attr(&out, "write_acknowledgement", "packet_ack").as_deref(),
        Some(r#"{"result":"AQ=="}"#)
    );
    let resp = chan::MsgRecvPacketResponse::decode(out.response.unwrap().value.as_slice()).unwrap();
    assert_eq!(resp.result, RESULT_SUCCESS);
    let voucher = format!("ibc/{}", denom_hash("transfer/channel-0/stake"));
    assert_eq!(bank::balance(&mut b, &bob, &voucher), 100);
    let ack_key = "acks/ports/transfer/channels/channel-0/sequences/1";
    assert_eq!(
        b.peek(IBC_STORE, ack_key.as_bytes()),
        Some(Sha256::digest(ACK_SUCCESS).to_vec())
    );
    assert!(b
        .peek(
            IBC_STORE,
            b"receipts/ports/transfer/channels/channel-0/sequences/1"
        )
        .is_some_and(|r| r == [1]));
    // The same packet again is redundant: a no-op without events.
    assert_eq!(is_redundant(&mut b, &recv), Some(true));
    let again = execute(&mut b, &host_b(22), &recv, &relayer).unwrap();
    assert!(again.events.is_empty());
    // The denom trace query answers for the voucher.
    let req = transfer_proto::QueryDenomTraceRequest {
        hash: voucher.clone(),
    };
    let raw = grpc_query(
        &mut b,
        &host_b(22),
        "/ibc.applications.transfer.v1.Query/DenomTrace",
        &req.encode_to_vec(),
    )
    .unwrap()
    .unwrap();
    let trace = transfer_proto::QueryDenomTraceResponse::decode(raw.as_slice())
        .unwrap()
        .denom_trace
        .unwrap();
    assert_eq!(
        (trace.path.as_str(), trace.base_denom.as_str()),
        ("transfer/channel-0", "stake")
    );
    // A proof for the wrong data fails verification.
    let bad = to_any(&chan::MsgRecvPacket {
        packet: Some(packet(2, data1.clone(), 0, timeout_ns)),
        proof_commitment: proof(&a, commitment_key),
        proof_height: h(10),
        signer: relayer.clone(),
    });
    let err = execute(&mut b, &host_b(22), &bad, &relayer).unwrap_err();
    assert_eq!(err.codespace, "client", "{err:?}");

    // 3. a: a client update to b's state at height 20, then the ack of packet 1.
    add_consensus_state(&mut a, &host_a(30), 20, &b.state.app_hash());
    let ack = to_any(&chan::MsgAcknowledgement {
        packet: Some(p1.clone()),
        acknowledgement: ACK_SUCCESS.to_vec(),
        proof_acked: proof(&b, ack_key),
        proof_height: h(20),
        signer: relayer.clone(),
    });
    let out = execute(&mut a, &host_a(31), &ack, &relayer).unwrap();
    assert_eq!(
        event_kinds(&out),
        [
            "acknowledge_packet",
            "message:ibc_channel",
            "fungible_token_packet",
            "fungible_token_packet",
        ]
    );
    assert!(a.peek(IBC_STORE, commitment_key.as_bytes()).is_none());
    assert_eq!(is_redundant(&mut a, &ack), Some(true));

    // 4. a: packet 2 timed out (b is past height 15 and has no receipt): refund.
    let data2 = packet_data_bytes(
        &ibc_proto::ibc::applications::transfer::v2::FungibleTokenPacketData {
            denom: "stake".to_string(),
            amount: "50".to_string(),
            sender: alice.clone(),
            receiver: bob.clone(),
            memo: String::new(),
        },
    );
    let timeout = to_any(&chan::MsgTimeout {
        packet: Some(packet(2, data2, 15, 0)),
        proof_unreceived: proof(&b, "receipts/ports/transfer/channels/channel-0/sequences/2"),
        proof_height: h(20),
        next_sequence_recv: 2,
        signer: relayer.clone(),
    });
    let out = execute(&mut a, &host_a(32), &timeout, &relayer).unwrap();
    assert_eq!(
        event_kinds(&out),
        ["timeout_packet", "message:ibc_channel", "timeout"]
    );
    assert_eq!(bank::balance(&mut a, &alice, "stake"), 900);
    assert_eq!(bank::balance(&mut a, &escrow_a, "stake"), 100);

    // 5. b: bob sends 40 of the voucher back; it is burnt on b and unescrowed on a.
    let out = execute(
        &mut b,
        &host_b(23),
        &transfer_msg(&bob, &alice, &voucher, 40, 0),
        &bob,
    )
    .unwrap();
    let back = hex::decode(attr(&out, "send_packet", "packet_data_hex").unwrap()).unwrap();
    assert!(String::from_utf8(back.clone())
        .unwrap()
        .contains(r#""denom":"transfer/channel-0/stake""#));
    assert_eq!(bank::balance(&mut b, &bob, &voucher), 60);
    add_consensus_state(&mut a, &host_a(33), 30, &b.state.app_hash());
    let recv_back = to_any(&chan::MsgRecvPacket {
        packet: Some(packet(1, back, 0, timeout_ns)),
        proof_commitment: proof(&b, commitment_key),
        proof_height: h(30),
        signer: relayer.clone(),
    });
    let out = execute(&mut a, &host_a(34), &recv_back, &relayer).unwrap();
    assert_eq!(
        attr(&out, "fungible_token_packet", "success").as_deref(),
        Some("true")
    );
    assert_eq!(bank::balance(&mut a, &alice, "stake"), 940);
    assert_eq!(bank::balance(&mut a, &escrow_a, "stake"), 60);

    // Queries over the result.
    let req = chan::QueryPacketCommitmentsRequest {
        port_id: "transfer".to_string(),
        channel_id: "channel-0".to_string(),
        pagination: None,
    };
    let raw = grpc_query(
        &mut b,
        &host_b(23),
        "/ibc.core.channel.v1.Query/PacketCommitments",
        &req.encode_to_vec(),
    )
    .unwrap()
    .unwrap();
    let resp = chan::QueryPacketCommitmentsResponse::decode(raw.as_slice()).unwrap();
    assert_eq!(resp.commitments.len(), 1);
    assert_eq!(resp.height, h(23));
    let req = chan::QueryUnreceivedPacketsRequest {
        port_id: "transfer".to_string(),
        channel_id: "channel-0".to_string(),
        packet_commitment_sequences: vec![1, 2, 3],
    };
    let raw = grpc_query(
        &mut b,
        &host_b(23),
        "/ibc.core.channel.v1.Query/UnreceivedPackets",
        &req.encode_to_vec(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        chan::QueryUnreceivedPacketsResponse::decode(raw.as_slice())
            .unwrap()
            .sequences,
        [2, 3]
    );
    let req = chan::QueryUnreceivedAcksRequest {
        port_id: "transfer".to_string(),
        channel_id: "channel-0".to_string(),
        packet_ack_sequences: vec![1, 2],
    };
    let raw = grpc_query(
        &mut b,
        &host_b(23),
        "/ibc.core.channel.v1.Query/UnreceivedAcks",
        &req.encode_to_vec(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        chan::QueryUnreceivedAcksResponse::decode(raw.as_slice())
            .unwrap()
            .sequences,
        [1]
    );
}

#[test]
fn packet_commitments_page_through_in_key_order() {
    let mut st = fresh();
    open_channel(&mut st, chan::Order::Unordered);
    for seq in 1..=12u64 {
        st.set(
            IBC_STORE,
            format!("commitments/ports/transfer/channels/channel-0/sequences/{seq}").into_bytes(),
            vec![seq as u8; 32],
        );
    }
    let host = host("a-1", 7);
    let mut seen = Vec::new();
    let mut key = Vec::new();
    loop {
        let req = chan::QueryPacketCommitmentsRequest {
            port_id: "transfer".to_string(),
            channel_id: "channel-0".to_string(),
            pagination: Some(ibc_proto::cosmos::base::query::v1beta1::PageRequest {
                key: key.clone(),
                limit: 5,
                count_total: key.is_empty(),
                ..Default::default()
            }),
        };
        let raw = grpc_query(
            &mut st,
            &host,
            "/ibc.core.channel.v1.Query/PacketCommitments",
            &req.encode_to_vec(),
        )
        .unwrap()
        .unwrap();
        let resp = chan::QueryPacketCommitmentsResponse::decode(raw.as_slice()).unwrap();
        let page = resp.pagination.unwrap();
        if key.is_empty() {
            assert_eq!(page.total, 12);
        }
        seen.extend(resp.commitments.iter().map(|c| c.sequence));
        if page.next_key.is_empty() {
            break;
        }
        key = page.next_key;
    }
    assert_eq!(seen, [1, 10, 11, 12, 2, 3, 4, 5, 6, 7, 8, 9]);
    let req = chan::QueryPacketCommitmentsRequest {
        port_id: "transfer".to_string(),
        channel_id: "channel-0".to_string(),
        pagination: Some(ibc_proto::cosmos::base::query::v1beta1::PageRequest {
            offset: 10,
            limit: 5,
            ..Default::default()
        }),
    };
    let raw = grpc_query(
        &mut st,
        &host,
        "/ibc.core.channel.v1.Query/PacketCommitments",
        &req.encode_to_vec(),
    )
    .unwrap()
    .unwrap();
    let resp = chan::QueryPacketCommitmentsResponse::decode(raw.as_slice()).unwrap();
    assert_eq!(
        resp.commitments
            .iter()
            .map(|c| c.sequence)
            .collect::<Vec<_>>(),
        [8, 9]
    );
}

/// A header of chain `b-1` at `height`, signed by the single validator `key`.
fn signed_header(
    key: &ed25519_consensus::SigningKey,
    height: u64,
    time_secs: i64,
    app_hash: &[u8],
) -> (
    tendermint::block::signed_header::SignedHeader,
    tendermint::validator::Set,
) {
    use tendermint::block::{self, parts, Commit, CommitSig, Round};
    use tendermint::vote::{SignedVote, Type, ValidatorIndex, Vote};

    let pk = tendermint::PublicKey::from_raw_ed25519(key.verification_key().as_bytes()).unwrap();
    let validator = tendermint::validator::Info::new(pk, 10u32.into());
    let set = tendermint::validator::Set::new(vec![validator.clone()], Some(validator.clone()));
    let time = tendermint::Time::from_unix_timestamp(time_secs, 0).unwrap();
    let chain_id: tendermint::chain::Id = "b-1".parse().unwrap();
    let header = block::Header {
        version: block::header::Version { block: 11, app: 0 },
        chain_id: chain_id.clone(),
        height: block::Height::try_from(height).unwrap(),
        time,
        last_block_id: None,
        last_commit_hash: None,
        data_hash: None,
        validators_hash: set.hash(),
        next_validators_hash: set.hash(),
        consensus_hash: tendermint::Hash::Sha256([3; 32]),
        app_hash: tendermint::AppHash::try_from(app_hash.to_vec()).unwrap(),
        last_results_hash: None,
        evidence_hash: None,
        proposer_address: validator.address,
    };
    let block_id = block::Id {
        hash: header.hash(),
        part_set_header: parts::Header::new(1, tendermint::Hash::Sha256([4; 32])).unwrap(),
    };
    let vote = Vote {
        vote_type: Type::Precommit,
        height: header.height,
        round: Round::default(),
        block_id: Some(block_id),
        timestamp: Some(time),
        validator_address: validator.address,
        validator_index: ValidatorIndex::try_from(0u32).unwrap(),
        signature: None,
        extension: Vec::new(),
        extension_signature: None,
    };
    let placeholder = tendermint::Signature::try_from(vec![0u8; 64]).unwrap();
    let sign_bytes = SignedVote::new(vote, chain_id, validator.address, placeholder).sign_bytes();
    let signature = key.sign(&sign_bytes);
    let commit = Commit {
        height: header.height,
        round: Round::default(),
        block_id,
        signatures: vec![CommitSig::BlockIdFlagCommit {
            validator_address: validator.address,
            timestamp: time,
            signature: tendermint::Signature::try_from(signature.to_bytes().to_vec()).ok(),
        }],
    };
    (
        tendermint::block::signed_header::SignedHeader::new(header, commit).unwrap(),
        set,
    )
}

#[test]
fn update_client_with_a_signed_header() {
    let key = ed25519_consensus::SigningKey::from([7u8; 32]);
    let (_, set) = signed_header(&key, 10, 1_700_000_000, &[1; 32]);
    let mut a = fresh();
    let host_a = host("a-1", 30);
    // The trusted consensus state at 1-10 names this validator set as the next one.
    let consensus = TmConsensusStateType::new(
        CommitmentRoot::from_bytes(&[1; 32]),
        tendermint::Time::from_unix_timestamp(1_700_000_000, 0).unwrap(),
        set.hash(),
    );
    let create = client::MsgCreateClient {
        client_state: Some(tm_client_state("b-1", 10).into()),
        consensus_state: Some(consensus.into()),
        signer: addr(9),
    };
    execute(&mut a, &host_a, &to_any(&create), &addr(9)).unwrap();

    let update = |height: u64, time: i64, app_hash: &[u8]| {
        let (signed_header, validator_set) = signed_header(&key, height, time, app_hash);
        let header = ibc::clients::tendermint::types::Header {
            signed_header,
            validator_set: validator_set.clone(),
            trusted_height: Height::new(1, 10).unwrap(),
            trusted_next_validator_set: validator_set,
        };
        to_any(&client::MsgUpdateClient {
            client_id: "07-tendermint-0".to_string(),
            client_message: Some(header.into()),
            signer: addr(9),
        })
    };
    let out = execute(
        &mut a,
        &host_a,
        &update(11, 1_700_000_005, &[2; 32]),
        &addr(9),
    )
    .unwrap();
    assert_eq!(event_kinds(&out), ["update_client", "message:ibc_client"]);
    assert_eq!(
        attr(&out, "update_client", "consensus_heights").as_deref(),
        Some("1-11")
    );
    assert_eq!(
        out.response.unwrap().type_url,
        "/ibc.core.client.v1.MsgUpdateClientResponse"
    );
    let raw = a
        .peek(IBC_STORE, b"clients/07-tendermint-0/consensusStates/1-11")
        .unwrap();
    let stored = ibc::clients::tendermint::consensus_state::ConsensusState::try_from(
        Any::decode(raw.as_slice()).unwrap(),
    )
    .unwrap();
    assert_eq!(stored.inner().root.as_bytes(), &[2; 32]);
    assert_eq!(
        a.peek(
            IBC_STORE,
            b"clients/07-tendermint-0/consensusStates/1-11/processedHeight"
        ),
        Some(b"1-30".to_vec())
    );
    // A non-adjacent header below the latest height, from the same trusted state, also works
    // (prev/next consensus state lookups).
    execute(
        &mut a,
        &host_a,
        &update(13, 1_700_000_009, &[3; 32]),
        &addr(9),
    )
    .unwrap();
    execute(
        &mut a,
        &host_a,
        &update(12, 1_700_000_007, &[4; 32]),
        &addr(9),
    )
    .unwrap();
    let shared = Shared::new(a.clone(), &host_a, "cosmos");
    let ctx = IbcContext::new(&shared);
    let id = ClientId::new("07-tendermint", 0).unwrap();
    let heights: Vec<u64> = ctx
        .consensus_heights(&id)
        .iter()
        .map(|h| h.revision_height())
        .collect();
    assert_eq!(heights, [10, 11, 12, 13]);
    // A header signed by another key fails.
    let other = ed25519_consensus::SigningKey::from([8u8; 32]);
    let (signed_header, validator_set) = signed_header(&other, 14, 1_700_000_010, &[5; 32]);
    let header = ibc::clients::tendermint::types::Header {
        signed_header,
        validator_set: validator_set.clone(),
        trusted_height: Height::new(1, 10).unwrap(),
        trusted_next_validator_set: validator_set,
    };
    let bad = to_any(&client::MsgUpdateClient {
        client_id: "07-tendermint-0".to_string(),
        client_message: Some(header.into()),
        signer: addr(9),
    });
    let err = execute(&mut a, &host_a, &bad, &addr(9)).unwrap_err();
    assert_eq!(err.codespace, "client", "{err:?}");
}
