//! Tests of the IBC module on hand-built states, and the fixtures they share (hosts, accounts,
//! clients, an open channel, packets, store proofs):
//! - `messages`: the handled message types and redundancy detection;
//! - `clients`: `MsgCreateClient` and `MsgUpdateClient` through [`execute`], consensus-state
//!   iteration;
//! - `transfer`: ICS-20 addresses and bytes, and a full round trip between two in-memory chains
//!   whose packets are verified by ibc-rs against real store proofs (commitment,
//!   acknowledgement, timeout by non-membership, and the voucher's way back);
//! - `queries`: pagination of the gRPC queries.
//!
//! Light-client updates are mostly simulated by writing consensus states directly
//! ([`add_consensus_state`]); `clients` also updates a client with a signed header.

mod clients;
mod messages;
mod queries;
mod transfer;

use crate::ibc::keys::IBC_STORE;
use std::time::Duration;

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
use cosmos::{to_any, Coin};

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
        allow_channel_close: false,
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
