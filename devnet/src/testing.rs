//! Test support: two devnets with an open ICS-20 channel, driven through the real handshake
//! messages, and a small in-process relay helper that moves packets and acknowledgements with
//! real proofs and light-client headers, and [`open_channels`], which opens many channels on one
//! connection in a few blocks. It talks to the nodes in-process (not over RPC), so the
//! tests of the devnet do not depend on the relayer under test. The chains themselves are
//! [`crate::harness::TestChain`]s.

use std::time::Duration;

use cosmos::events::{event_attr, events_of};
use cosmos::to_any;
use ibc_proto::google::protobuf::Any;
use ibc_proto::ibc::core::channel::v1 as chan;
use ibc_proto::ibc::core::client::v1 as client;
use ibc_proto::ibc::core::commitment::v1::{MerklePrefix, MerkleProof, MerkleRoot};
use ibc_proto::ibc::core::connection::v1 as conn;
use ibc_proto::ibc::lightclients::tendermint::v1 as tm;
use prost::Message;

use crate::harness::{packet_from_event, TestChain};
use crate::node::TxRecord;
use crate::DevnetConfig;

/// Proofs and light-client material, which only the handshake and relay helpers below need.
impl TestChain {
    /// Raw `store/ibc/key` query at `height` with its proof as `MerkleProof` bytes.
    pub fn prove(&self, path: &str, height: u64) -> Result<(Vec<u8>, Vec<u8>), String> {
        let q = self
            .node()
            .abci_query("store/ibc/key", path.as_bytes(), height, true);
        if q.code.value() != 0 {
            return Err(format!("query {path} at {height}: {}", q.log));
        }
        let ops = q.proof.ok_or_else(|| format!("no proof for {path}"))?;
        let proofs = ops
            .ops
            .iter()
            .map(|op| {
                ibc_proto::ics23::CommitmentProof::decode(op.data.as_slice())
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((q.value.to_vec(), MerkleProof { proofs }.encode_to_vec()))
    }

    /// A Tendermint header of this chain at `target` for a client trusting `trusted`.
    pub fn light_header(&self, target: u64, trusted: u64) -> Result<Any, String> {
        let block = self
            .node()
            .block(target)
            .ok_or_else(|| format!("no block {target}"))?;
        let signed_header = tendermint::block::signed_header::SignedHeader::new(
            block.block.header.clone(),
            block.commit.clone(),
        )
        .map_err(|e| e.to_string())?;
        let vals = self
            .node()
            .validators(target)
            .ok_or_else(|| format!("no validators at {target}"))?;
        let trusted_vals = self
            .node()
            .validators(trusted + 1)
            .ok_or_else(|| format!("no validators at {}", trusted + 1))?;
        let header = tm::Header {
            signed_header: Some(signed_header.into()),
            validator_set: Some(vals.into()),
            trusted_height: Some(self.ibc_height(trusted)),
            trusted_validators: Some(trusted_vals.into()),
        };
        Ok(to_any(&header))
    }

    /// The headers that take a client of this chain trusting `trusted` to `target`, in order:
    /// one while the validator set stays, and one more per change of the set on the way (to
    /// the last height before it, whose next validators are the new set), so a client is never
    /// asked to skip across a rotation it must refuse.
    pub fn light_headers(&self, target: u64, trusted: u64) -> Result<Vec<Any>, String> {
        let set_hash = |h: u64| {
            self.node()
                .validators(h)
                .map(|s| s.hash())
                .ok_or_else(|| format!("no validators at {h}"))
        };
        let mut headers = Vec::new();
        let mut from = trusted;
        while from < target {
            let set = set_hash(from + 1)?;
            let mut next = target;
            for h in from + 1..target {
                if set_hash(h + 1)? != set {
                    next = h;
                    break;
                }
            }
            headers.push(self.light_header(next, from)?);
            from = next;
        }
        Ok(headers)
    }

    /// A fresh client state and consensus state of this chain at its latest height.
    pub fn client_and_consensus(&self) -> Result<(Any, Any), String> {
        let h = self.node().latest_height();
        let block = self.node().block(h).ok_or("no block yet")?;
        let header = &block.block.header;
        let client_state = tm::ClientState {
            chain_id: self.devnet.chain_id().to_string(),
            trust_level: Some(tm::Fraction {
                numerator: 1,
                denominator: 3,
            }),
            trusting_period: Some(duration(Duration::from_secs(14 * 24 * 3600))),
            unbonding_period: Some(duration(Duration::from_secs(21 * 24 * 3600))),
            max_clock_drift: Some(duration(Duration::from_secs(10))),
            frozen_height: Some(client::Height::default()),
            latest_height: Some(self.ibc_height(h)),
            proof_specs: vec![ics23::iavl_spec(), ics23::tendermint_spec()],
            upgrade_path: vec!["upgrade".into(), "upgradedIBCState".into()],
            ..Default::default()
        };
        let consensus = tm::ConsensusState {
            timestamp: Some(timestamp(header.time)),
            root: Some(MerkleRoot {
                hash: header.app_hash.as_bytes().to_vec(),
            }),
            next_validators_hash: header.next_validators_hash.as_bytes().to_vec(),
        };
        Ok((to_any(&client_state), to_any(&consensus)))
    }
}

fn duration(d: Duration) -> ibc_proto::google::protobuf::Duration {
    ibc_proto::google::protobuf::Duration {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

fn timestamp(t: tendermint::Time) -> ibc_proto::google::protobuf::Timestamp {
    let ns = t.unix_timestamp_nanos();
    ibc_proto::google::protobuf::Timestamp {
        seconds: (ns / 1_000_000_000) as i64,
        nanos: (ns % 1_000_000_000) as i32,
    }
}

/// The identifiers of an open channel between chain `a` and chain `b`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelPath {
    /// Client of B on A.
    pub client_a: String,
    /// Client of A on B.
    pub client_b: String,
    /// Connection on A.
    pub connection_a: String,
    /// Connection on B.
    pub connection_b: String,
    /// Port on both ends.
    pub port: String,
    /// Channel on A.
    pub channel_a: String,
    /// Channel on B.
    pub channel_b: String,
}

impl ChannelPath {
    /// The same path seen from B.
    pub fn reversed(&self) -> Self {
        Self {
            client_a: self.client_b.clone(),
            client_b: self.client_a.clone(),
            connection_a: self.connection_b.clone(),
            connection_b: self.connection_a.clone(),
            port: self.port.clone(),
            channel_a: self.channel_b.clone(),
            channel_b: self.channel_a.clone(),
        }
    }
}

/// The latest height of client `client_id` on `host`.
pub fn client_height(host: &TestChain, client_id: &str) -> Result<u64, String> {
    let q = host.node().abci_query(
        "store/ibc/key",
        format!("clients/{client_id}/clientState").as_bytes(),
        0,
        false,
    );
    let any = Any::decode(q.value.as_ref()).map_err(|e| format!("client state: {e}"))?;
    let cs = tm::ClientState::decode(any.value.as_slice()).map_err(|e| e.to_string())?;
    Ok(cs.latest_height.map(|h| h.revision_height).unwrap_or(0))
}

/// Makes `src` prove at a fresh height: waits for `src` to have block `H + 1`, updates the client
/// of `src` on `dst` to `H + 1` when needed, and returns `H`, the height to query proofs at.
pub async fn prepare_proof_height(
    src: &TestChain,
    dst: &TestChain,
    client_on_dst: &str,
) -> Result<u64, String> {
    let h = src.node().latest_height();
    src.wait_for_height(h + 1).await?;
    let trusted = client_height(dst, client_on_dst)?;
    if trusted < h + 1 {
        let msgs = src
            .light_headers(h + 1, trusted)?
            .into_iter()
            .map(|header| {
                to_any(&client::MsgUpdateClient {
                    client_id: client_on_dst.to_string(),
                    client_message: Some(header),
                    signer: dst.address(&dst.relayer),
                })
            })
            .collect();
        dst.submit_ok(&dst.relayer, msgs).await?;
    }
    Ok(h)
}

/// Creates a client of `reference` on `host`; returns its id.
pub async fn create_client(host: &TestChain, reference: &TestChain) -> Result<String, String> {
    reference
        .wait_for_height(reference.node().latest_height().max(2))
        .await?;
    let (client_state, consensus_state) = reference.client_and_consensus()?;
    let msg = client::MsgCreateClient {
        client_state: Some(client_state),
        consensus_state: Some(consensus_state),
        signer: host.address(&host.relayer),
    };
    let tx = host.submit_ok(&host.relayer, vec![to_any(&msg)]).await?;
    event_attr(&tx.result.events, "create_client", "client_id")
        .ok_or_else(|| "no create_client event".to_string())
}

fn prefix() -> Option<MerklePrefix> {
    Some(MerklePrefix {
        key_prefix: b"ibc".to_vec(),
    })
}

fn default_version() -> conn::Version {
    conn::Version {
        identifier: "1".into(),
        features: vec!["ORDER_ORDERED".into(), "ORDER_UNORDERED".into()],
    }
}

/// Runs the full connection handshake between `a` and `b` over existing clients.
pub async fn open_connection(
    a: &TestChain,
    b: &TestChain,
    client_a: &str,
    client_b: &str,
) -> Result<(String, String), String> {
    let init = conn::MsgConnectionOpenInit {
        client_id: client_a.to_string(),
        counterparty: Some(conn::Counterparty {
            client_id: client_b.to_string(),
            connection_id: String::new(),
            prefix: prefix(),
        }),
        version: Some(default_version()),
        delay_period: 0,
        signer: a.address(&a.relayer),
    };
    let tx = a.submit_ok(&a.relayer, vec![to_any(&init)]).await?;
    let conn_a = event_attr(&tx.result.events, "connection_open_init", "connection_id")
        .ok_or("no connection_open_init event")?;

    // Try on B, proving A's connection end, A's client of B, and its consensus state.
    let h = prepare_proof_height(a, b, client_b).await?;
    let (try_msg, _) = handshake_proofs(a, client_a, &format!("connections/{conn_a}"), h)?;
    let msg = conn::MsgConnectionOpenTry {
        client_id: client_b.to_string(),
        client_state: Some(try_msg.client_state),
        counterparty: Some(conn::Counterparty {
            client_id: client_a.to_string(),
            connection_id: conn_a.clone(),
            prefix: prefix(),
        }),
        delay_period: 0,
        counterparty_versions: vec![default_version()],
        proof_height: Some(a.ibc_height(h + 1)),
        proof_init: try_msg.proof_object,
        proof_client: try_msg.proof_client,
        proof_consensus: try_msg.proof_consensus,
        consensus_height: Some(b.ibc_height(try_msg.consensus_height)),
        signer: b.address(&b.relayer),
        ..Default::default()
    };
    let tx = b.submit_ok(&b.relayer, vec![to_any(&msg)]).await?;
    let conn_b = event_attr(&tx.result.events, "connection_open_try", "connection_id")
        .ok_or("no connection_open_try event")?;

    // Ack on A.
    let h = prepare_proof_height(b, a, client_a).await?;
    let (p, _) = handshake_proofs(b, client_b, &format!("connections/{conn_b}"), h)?;
    let msg = conn::MsgConnectionOpenAck {
        connection_id: conn_a.clone(),
        counterparty_connection_id: conn_b.clone(),
        version: Some(default_version()),
        client_state: Some(p.client_state),
        proof_height: Some(b.ibc_height(h + 1)),
        proof_try: p.proof_object,
        proof_client: p.proof_client,
        proof_consensus: p.proof_consensus,
        consensus_height: Some(a.ibc_height(p.consensus_height)),
        signer: a.address(&a.relayer),
        ..Default::default()
    };
    a.submit_ok(&a.relayer, vec![to_any(&msg)]).await?;

    // Confirm on B.
    let h = prepare_proof_height(a, b, client_b).await?;
    let (_, proof_ack) = a.prove(&format!("connections/{conn_a}"), h)?;
    let msg = conn::MsgConnectionOpenConfirm {
        connection_id: conn_b.clone(),
        proof_ack,
        proof_height: Some(a.ibc_height(h + 1)),
        signer: b.address(&b.relayer),
    };
    b.submit_ok(&b.relayer, vec![to_any(&msg)]).await?;
    Ok((conn_a, conn_b))
}

struct HandshakeProofs {
    client_state: Any,
    proof_object: Vec<u8>,
    proof_client: Vec<u8>,
    proof_consensus: Vec<u8>,
    consensus_height: u64,
}

/// Proofs on `chain` at `h` of an object, of `chain`'s client `client_id` and of that client's
/// latest consensus state.
fn handshake_proofs(
    chain: &TestChain,
    client_id: &str,
    object_path: &str,
    h: u64,
) -> Result<(HandshakeProofs, ()), String> {
    let (_, proof_object) = chain.prove(object_path, h)?;
    let (cs_bytes, proof_client) = chain.prove(&format!("clients/{client_id}/clientState"), h)?;
    let client_state = Any::decode(cs_bytes.as_slice()).map_err(|e| e.to_string())?;
    let cs = tm::ClientState::decode(client_state.value.as_slice()).map_err(|e| e.to_string())?;
    let ch = cs.latest_height.unwrap_or_default();
    let (_, proof_consensus) = chain.prove(
        &format!(
            "clients/{client_id}/consensusStates/{}-{}",
            ch.revision_number, ch.revision_height
        ),
        h,
    )?;
    Ok((
        HandshakeProofs {
            client_state,
            proof_object,
            proof_client,
            proof_consensus,
            consensus_height: ch.revision_height,
        },
        (),
    ))
}

/// Runs the channel handshake for ICS-20 on an open connection.
pub async fn open_channel(
    a: &TestChain,
    b: &TestChain,
    client_a: &str,
    client_b: &str,
    conn_a: &str,
    conn_b: &str,
    ordered: bool,
) -> Result<(String, String), String> {
    let ends = ConnectionEnds {
        client_a,
        client_b,
        connection_a: conn_a,
        connection_b: conn_b,
    };
    open_channels_on(a, b, &ends, 1, ordered)
        .await?
        .pop()
        .ok_or_else(|| "the handshake opened no channel".to_string())
}

/// Handshake messages per tx in [`open_channels`]: well inside the harness's gas per tx and the
/// node's tx size (a proof is under 2 KB).
const CHANNELS_PER_TX: usize = 50;

/// Opens `count` more unordered ICS-20 channels on the connection of `path`, cheaply: each
/// handshake step goes out for all channels together (every `MsgChannelOpenInit` on A, then
/// every `Try` on B, every `Ack` on A, every `Confirm` on B, [`CHANNELS_PER_TX`] messages per
/// tx), so a thousand channels open in a few dozen blocks. Returns `(channel on A, channel on
/// B)` in the order they were opened.
pub async fn open_channels(
    a: &TestChain,
    b: &TestChain,
    path: &ChannelPath,
    count: usize,
) -> Result<Vec<(String, String)>, String> {
    let ends = ConnectionEnds {
        client_a: &path.client_a,
        client_b: &path.client_b,
        connection_a: &path.connection_a,
        connection_b: &path.connection_b,
    };
    open_channels_on(a, b, &ends, count, false).await
}

/// The clients and connection a channel handshake runs over.
struct ConnectionEnds<'a> {
    client_a: &'a str,
    client_b: &'a str,
    connection_a: &'a str,
    connection_b: &'a str,
}

/// The channel handshake for `count` ICS-20 channels (ORDERED on the ordered port, or
/// UNORDERED on `transfer`) on the connection `ends`, each step batched.
async fn open_channels_on(
    a: &TestChain,
    b: &TestChain,
    ends: &ConnectionEnds<'_>,
    count: usize,
    ordered: bool,
) -> Result<Vec<(String, String)>, String> {
    let (port, ordering) = if ordered {
        (crate::ibc::transfer::ORDERED_PORT, chan::Order::Ordered)
    } else {
        (crate::ibc::transfer::PORT, chan::Order::Unordered)
    };
    let port = port.to_string();
    let ordering = ordering as i32;
    let version = "ics20-1".to_string();
    let end = |state: chan::State, cp_channel: &str, connection: &str| chan::Channel {
        state: state as i32,
        ordering,
        counterparty: Some(chan::Counterparty {
            port_id: port.clone(),
            channel_id: cp_channel.to_string(),
        }),
        connection_hops: vec![connection.to_string()],
        version: version.clone(),
        upgrade_sequence: 0,
    };
    // Submits `msgs` in chunks and returns `attr` of every `kind` event, in order.
    async fn batched(
        chain: &TestChain,
        msgs: Vec<Any>,
        kind: &str,
        attr: &str,
    ) -> Result<Vec<String>, String> {
        let mut ids = Vec::with_capacity(msgs.len());
        let mut msgs = msgs.into_iter().peekable();
        while msgs.peek().is_some() {
            let chunk: Vec<Any> = msgs.by_ref().take(CHANNELS_PER_TX).collect();
            let n = chunk.len();
            let tx = chain.submit_ok(&chain.relayer, chunk).await?;
            let found: Vec<String> = events_of(&tx.result.events, kind)
                .into_iter()
                .filter_map(|e| e.get(attr).cloned())
                .collect();
            if found.len() != n {
                return Err(format!("{n} messages gave {} {kind} events", found.len()));
            }
            ids.extend(found);
        }
        Ok(ids)
    }

    let inits = (0..count)
        .map(|_| {
            to_any(&chan::MsgChannelOpenInit {
                port_id: port.clone(),
                channel: Some(end(chan::State::Init, "", ends.connection_a)),
                signer: a.address(&a.relayer),
            })
        })
        .collect();
    let on_a = batched(a, inits, "channel_open_init", "channel_id").await?;

    let h = prepare_proof_height(a, b, ends.client_b).await?;
    let mut tries = Vec::with_capacity(count);
    for chan_a in &on_a {
        let (_, proof_init) = a.prove(&format!("channelEnds/ports/{port}/channels/{chan_a}"), h)?;
        tries.push(to_any(&chan::MsgChannelOpenTry {
            port_id: port.clone(),
            channel: Some(end(chan::State::Tryopen, chan_a, ends.connection_b)),
            counterparty_version: version.clone(),
            proof_init,
            proof_height: Some(a.ibc_height(h + 1)),
            signer: b.address(&b.relayer),
            ..Default::default()
        }));
    }
    let on_b = batched(b, tries, "channel_open_try", "channel_id").await?;

    let h = prepare_proof_height(b, a, ends.client_a).await?;
    let mut acks = Vec::with_capacity(count);
    for (chan_a, chan_b) in on_a.iter().zip(&on_b) {
        let (_, proof_try) = b.prove(&format!("channelEnds/ports/{port}/channels/{chan_b}"), h)?;
        acks.push(to_any(&chan::MsgChannelOpenAck {
            port_id: port.clone(),
            channel_id: chan_a.clone(),
            counterparty_channel_id: chan_b.clone(),
            counterparty_version: version.clone(),
            proof_try,
            proof_height: Some(b.ibc_height(h + 1)),
            signer: a.address(&a.relayer),
        }));
    }
    batched(a, acks, "channel_open_ack", "channel_id").await?;

    let h = prepare_proof_height(a, b, ends.client_b).await?;
    let mut confirms = Vec::with_capacity(count);
    for (chan_a, chan_b) in on_a.iter().zip(&on_b) {
        let (_, proof_ack) = a.prove(&format!("channelEnds/ports/{port}/channels/{chan_a}"), h)?;
        confirms.push(to_any(&chan::MsgChannelOpenConfirm {
            port_id: port.clone(),
            channel_id: chan_b.clone(),
            proof_ack,
            proof_height: Some(a.ibc_height(h + 1)),
            signer: b.address(&b.relayer),
        }));
    }
    batched(b, confirms, "channel_open_confirm", "channel_id").await?;
    Ok(on_a.into_iter().zip(on_b).collect())
}

/// Two chains with clients, a connection and an ICS-20 channel between them.
pub struct ConnectedChains {
    /// Chain A.
    pub a: TestChain,
    /// Chain B.
    pub b: TestChain,
    /// The channel's identifiers.
    pub path: ChannelPath,
}

impl ConnectedChains {
    /// Starts `devnet-1` and `devnet-2` with `block_time` and opens a channel (ordered or not).
    pub async fn start(block_time: Duration, ordered: bool) -> Result<Self, String> {
        let mut a = DevnetConfig::for_tests("devnet-1");
        a.block_time = block_time;
        let mut b = DevnetConfig::for_tests("devnet-2");
        b.block_time = block_time;
        Self::start_with(a, b, ordered).await
    }

    /// Starts chains `a` and `b` as configured (each with a funded relayer and user, see
    /// [`TestChain::start_with`]) and opens a channel between them.
    pub async fn start_with(
        a: DevnetConfig,
        b: DevnetConfig,
        ordered: bool,
    ) -> Result<Self, String> {
        let a = TestChain::start_with(a).await?;
        let b = TestChain::start_with(b).await?;
        let client_a = create_client(&a, &b).await?;
        let client_b = create_client(&b, &a).await?;
        let (connection_a, connection_b) = open_connection(&a, &b, &client_a, &client_b).await?;
        let (channel_a, channel_b) = open_channel(
            &a,
            &b,
            &client_a,
            &client_b,
            &connection_a,
            &connection_b,
            ordered,
        )
        .await?;
        Ok(Self {
            a,
            b,
            path: ChannelPath {
                client_a,
                client_b,
                connection_a,
                connection_b,
                port: if ordered { "ordered" } else { "transfer" }.into(),
                channel_a,
                channel_b,
            },
        })
    }

    /// Opens another unordered ICS-20 channel on the same connection; returns `(channel on A,
    /// channel on B)`.
    pub async fn open_another_channel(&self) -> Result<(String, String), String> {
        open_channels(&self.a, &self.b, &self.path, 1)
            .await?
            .pop()
            .ok_or_else(|| "the handshake opened no channel".to_string())
    }
}

/// `MsgRecvPacket` on `dst` for `packet` sent on `src` (proof at `h`, proof height `h + 1`).
pub fn recv_msg(
    src: &TestChain,
    dst: &TestChain,
    packet: &chan::Packet,
    h: u64,
) -> Result<Any, String> {
    let (_, proof) = src.prove(
        &format!(
            "commitments/ports/{}/channels/{}/sequences/{}",
            packet.source_port, packet.source_channel, packet.sequence
        ),
        h,
    )?;
    Ok(to_any(&chan::MsgRecvPacket {
        packet: Some(packet.clone()),
        proof_commitment: proof,
        proof_height: Some(src.ibc_height(h + 1)),
        signer: dst.address(&dst.relayer),
    }))
}

/// `MsgAcknowledgement` on the packet's source `src` for an ack written on `dst`.
pub fn ack_msg(
    src: &TestChain,
    dst: &TestChain,
    packet: &chan::Packet,
    ack: &[u8],
    h: u64,
) -> Result<Any, String> {
    let (_, proof) = dst.prove(
        &format!(
            "acks/ports/{}/channels/{}/sequences/{}",
            packet.destination_port, packet.destination_channel, packet.sequence
        ),
        h,
    )?;
    Ok(to_any(&chan::MsgAcknowledgement {
        packet: Some(packet.clone()),
        acknowledgement: ack.to_vec(),
        proof_acked: proof,
        proof_height: Some(dst.ibc_height(h + 1)),
        signer: src.address(&src.relayer),
    }))
}

/// `MsgTimeout` on the source `src` for a packet never received on `dst` (unordered: receipt
/// absence; ordered: nextSequenceRecv).
pub fn timeout_msg(
    src: &TestChain,
    dst: &TestChain,
    packet: &chan::Packet,
    ordered: bool,
    h: u64,
) -> Result<Any, String> {
    let (path, next_seq) = if ordered {
        let path = format!(
            "nextSequenceRecv/ports/{}/channels/{}",
            packet.destination_port, packet.destination_channel
        );
        let (value, _) = dst.prove(&path, h)?;
        let bytes: [u8; 8] = value
            .as_slice()
            .try_into()
            .map_err(|_| "nextSequenceRecv is not 8 bytes")?;
        (path, u64::from_be_bytes(bytes))
    } else {
        (
            format!(
                "receipts/ports/{}/channels/{}/sequences/{}",
                packet.destination_port, packet.destination_channel, packet.sequence
            ),
            packet.sequence,
        )
    };
    let (_, proof) = dst.prove(&path, h)?;
    Ok(to_any(&chan::MsgTimeout {
        packet: Some(packet.clone()),
        proof_unreceived: proof,
        proof_height: Some(dst.ibc_height(h + 1)),
        next_sequence_recv: next_seq,
        signer: src.address(&src.relayer),
    }))
}

/// `MsgChannelCloseInit` of `port/channel` on `chain`, signed by its user account. ICS-20
/// refuses it unless the chain runs with the test switch
/// [`crate::DevnetConfig::allow_channel_close`].
pub fn close_channel_msg(chain: &TestChain, port: &str, channel: &str) -> Any {
    to_any(&chan::MsgChannelCloseInit {
        port_id: port.to_string(),
        channel_id: channel.to_string(),
        signer: chain.address(&chain.user),
    })
}

/// Relays every packet in `sent` from `src` to `dst` and their acknowledgements back, one
/// batch each way. Returns the `write_acknowledgement` events seen on `dst`.
pub async fn relay_packets(
    src: &TestChain,
    dst: &TestChain,
    path: &ChannelPath,
    sent: &[chan::Packet],
) -> Result<Vec<TxRecord>, String> {
    let h = prepare_proof_height(src, dst, &path.client_b).await?;
    let msgs = sent
        .iter()
        .map(|p| recv_msg(src, dst, p, h))
        .collect::<Result<Vec<_>, _>>()?;
    let recv_tx = dst.submit_ok(&dst.relayer, msgs).await?;
    let acks = events_of(&recv_tx.result.events, "write_acknowledgement");
    let h = prepare_proof_height(dst, src, &path.client_a).await?;
    let mut msgs = Vec::new();
    for attrs in &acks {
        let packet = packet_from_event(attrs)?;
        let ack = hex::decode(attrs.get("packet_ack_hex").ok_or("no packet_ack_hex")?)
            .map_err(|e| e.to_string())?;
        msgs.push(ack_msg(src, dst, &packet, &ack, h)?);
    }
    let ack_tx = src.submit_ok(&src.relayer, msgs).await?;
    Ok(vec![recv_tx, ack_tx])
}
