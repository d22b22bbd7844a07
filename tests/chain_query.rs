//! `IbcQuerier` and the light-client builders against two real devnets on loopback, over
//! JSON-RPC only: handshake objects (channel, connection, client and consensus states), packet
//! commitments with paging, unreceived packets and acks, packet recovery from `tx_search` for a
//! scattered set of sequences, proofs accepted by the counterparty after a `MsgUpdateClient`
//! built by `update_headers` (adjacent and non-adjacent: one header while the validator set stays), written acks, account, simulation, and
//! a fresh client made from `create_client_states`.

use std::collections::BTreeMap;
use std::time::Duration;

use arke::chain::light::{cosmos_proof_specs, create_client_states, update_headers, TrustLevel};
use arke::chain::query::{packet_from_attributes, IbcQuerier, QueryError};
use arke::chain::rpc::RpcClient;
use cosmos::events::events_of;
use cosmos::{to_any, Coin};
use devnet::harness::{packet_from_event, transfer_msg};
use devnet::testing::ConnectedChains;
use ibc_proto::google::protobuf::Any;
use ibc_proto::ibc::core::channel::v1 as chan;
use ibc_proto::ibc::core::client::v1 as client;
use ibc_proto::ibc::core::connection::v1 as conn;
use ibc_proto::ibc::lightclients::tendermint::v1 as tm;
use prost::Message;

/// The whole scenario must finish within this (it normally takes a few seconds).
const SCENARIO_LIMIT: Duration = Duration::from_secs(180);

fn querier(url: &str, chain_id: &str) -> IbcQuerier {
    let url = reqwest::Url::parse(url).expect("devnet RPC URL");
    let rpc = RpcClient::new(url, 8, Duration::from_secs(10)).expect("RPC client");
    IbcQuerier::new(rpc, chain_id.to_string())
}

/// Waits (polling over RPC) until `q`'s chain has produced `height`.
async fn wait_for_height(q: &IbcQuerier, height: u64) {
    loop {
        if q.latest_height().await.expect("latest height") >= height {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn commitment_path(port: &str, channel: &str, seq: u64) -> String {
    format!("commitments/ports/{port}/channels/{channel}/sequences/{seq}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_proofs_and_headers_against_devnets() {
    tokio::time::timeout(SCENARIO_LIMIT, scenario())
        .await
        .expect("scenario timed out");
}

async fn scenario() {
    let chains = ConnectedChains::start(Duration::from_millis(150), false)
        .await
        .expect("connected devnets");
    let path = chains.path.clone();
    let port = path.port.as_str();
    // A small page size so that paginated queries take several pages.
    let qa = querier(&chains.a.devnet.rpc_url(), chains.a.devnet.chain_id()).with_page_limit(3);
    let qb = querier(&chains.b.devnet.rpc_url(), chains.b.devnet.chain_id()).with_page_limit(3);
    assert_eq!(qa.revision(), 1);
    assert_eq!(qb.revision(), 2);

    // --- Handshake objects -------------------------------------------------------------------
    let channel = qa
        .channel(port, &path.channel_a)
        .await
        .unwrap()
        .expect("channel on A");
    assert_eq!(channel.state, chan::State::Open as i32);
    assert_eq!(channel.ordering, chan::Order::Unordered as i32);
    assert_eq!(channel.connection_hops, vec![path.connection_a.clone()]);
    let cp = channel.counterparty.expect("counterparty");
    assert_eq!(
        (cp.port_id.as_str(), cp.channel_id.as_str()),
        (port, path.channel_b.as_str())
    );
    assert!(qa.channel(port, "channel-99").await.unwrap().is_none());
    let err = qa.channel(port, "not a channel!").await.unwrap_err();
    assert!(matches!(err, QueryError::Abci { .. }), "{err:?}");
    assert!(err.to_string().contains("devnet-1"), "{err}");

    let channels = qb.channels().await.unwrap();
    assert!(
        channels
            .iter()
            .any(|c| c.channel_id == path.channel_b && c.port_id == port),
        "{channels:?}"
    );

    let connection = qa
        .connection(&path.connection_a)
        .await
        .unwrap()
        .expect("connection on A");
    assert_eq!(connection.state, conn::State::Open as i32);
    assert_eq!(connection.client_id, path.client_a);
    let ccp = connection.counterparty.expect("counterparty");
    assert_eq!(ccp.connection_id, path.connection_b);
    assert_eq!(ccp.client_id, path.client_b);
    assert!(qa.connection("connection-99").await.unwrap().is_none());

    let cs = qa
        .client_state(&path.client_a)
        .await
        .unwrap()
        .expect("client on A");
    assert_eq!(cs.chain_id, "devnet-2");
    assert_eq!(cs.proof_specs, cosmos_proof_specs());
    let latest = qa.client_latest_height(&path.client_a).await.unwrap();
    assert_eq!(Some(latest), cs.latest_height);
    assert_eq!(latest.revision_number, 2);
    assert!(qa.client_state("07-tendermint-99").await.unwrap().is_none());
    let heights = qa.consensus_state_heights(&path.client_a).await.unwrap();
    assert!(
        heights.len() >= 3,
        "created, then updated during the handshake: {heights:?}"
    );
    assert_eq!(heights.last(), Some(&latest));
    assert!(heights
        .windows(2)
        .all(|w| w[0].revision_height < w[1].revision_height));
    let consensus = qa
        .consensus_state(&path.client_a, latest)
        .await
        .unwrap()
        .expect("consensus state at the latest height");
    let header_b = qb.header(latest.revision_height).await.unwrap();
    assert_eq!(
        consensus.root.expect("root").hash,
        header_b.app_hash.as_bytes()
    );
    assert!(qb.unbonding_period().await.unwrap() > Duration::ZERO);
    let (h, t) = qa.latest_height_and_time().await.unwrap();
    assert!(h > 1 && t > 1_600_000_000_000_000_000, "{h} {t}");

    // --- Account and simulation ---------------------------------------------------------------
    let user_a = chains.a.address(&chains.a.user);
    let wallet = chains.a.wallet(&chains.a.user).unwrap();
    assert_eq!(
        qa.account(&user_a).await.unwrap(),
        (wallet.account_number, wallet.sequence)
    );
    let send = ibc_proto::cosmos::bank::v1beta1::MsgSend {
        from_address: user_a.clone(),
        to_address: chains.a.address(&chains.a.relayer),
        amount: vec![ibc_proto::cosmos::base::v1beta1::Coin {
            denom: "stake".into(),
            amount: "5".into(),
        }],
    };
    let signed = wallet.sign_tx(vec![to_any(&send)], Vec::new(), 1_000_000, "");
    let gas = qa.simulate(signed).await.unwrap();
    assert!(gas > 0 && gas < 1_000_000, "gas {gas}");
    assert!(qa.simulate(vec![1, 2, 3]).await.is_err());

    // --- Transfers: two txs, 12 packets, several packets per tx -------------------------------
    assert!(qa
        .packet_commitments(port, &path.channel_a)
        .await
        .unwrap()
        .is_empty());
    let user_b = chains.b.address(&chains.b.user);
    let coin = Coin {
        denom: "stake".into(),
        amount: 7,
    };
    let timeout = client::Height {
        revision_number: 2,
        revision_height: 1_000_000,
    };
    let mut sent: BTreeMap<u64, chan::Packet> = BTreeMap::new();
    for n in [5usize, 7] {
        let msgs: Vec<Any> = (0..n)
            .map(|_| transfer_msg(&user_a, &user_b, &path.channel_a, &coin, Some(timeout), 0))
            .collect();
        let tx = chains.a.submit_ok(&chains.a.user, msgs).await.unwrap();
        for attrs in events_of(&tx.result.events, "send_packet") {
            let expected = packet_from_event(&attrs).unwrap();
            // The shared helper agrees with the devnet's own decoding.
            assert_eq!(packet_from_attributes(&attrs).unwrap(), expected);
            sent.insert(expected.sequence, expected);
        }
    }
    let all: Vec<u64> = sent.keys().copied().collect();
    assert_eq!(all, (1..=12).collect::<Vec<u64>>());
    // Store key order is 1, 10, 11, 12, 2, …; the querier returns them ascending.
    assert_eq!(
        qa.packet_commitments(port, &path.channel_a).await.unwrap(),
        all
    );
    assert_eq!(
        qb.unreceived_packets(port, &path.channel_b, &all)
            .await
            .unwrap(),
        all
    );

    let scattered = [2u64, 3, 4, 7, 11, 12, 99];
    let recovered = qa
        .sent_packets(port, &path.channel_a, &scattered)
        .await
        .unwrap();
    let expected: Vec<(u64, chan::Packet)> = scattered
        .iter()
        .filter_map(|s| sent.get(s).map(|p| (*s, p.clone())))
        .collect();
    assert_eq!(recovered, expected);
    assert!(qa
        .sent_packets(port, "channel-7", &[1, 2])
        .await
        .unwrap()
        .is_empty());

    // --- Proofs: update B's client of A to H+1 with `update_headers`, then recv 3 and 7 -------
    let h = qa.latest_height().await.unwrap();
    wait_for_height(&qa, h + 1).await;
    let trusted = qb.client_latest_height(&path.client_b).await.unwrap();
    assert!(trusted.revision_height < h + 1);
    let mut headers = update_headers(&qa, h + 1, trusted.revision_height, TrustLevel::ONE_THIRD)
        .await
        .unwrap();
    assert_eq!(
        headers.len(),
        1,
        "one validator for ever: no intermediate header"
    );
    let header = headers.remove(0);
    assert_eq!(header.type_url, "/ibc.lightclients.tendermint.v1.Header");
    let relayer_b = chains.b.address(&chains.b.relayer);
    let mut msgs = vec![to_any(&client::MsgUpdateClient {
        client_id: path.client_b.clone(),
        client_message: Some(header),
        signer: relayer_b.clone(),
    })];
    for seq in [3u64, 7] {
        let (value, proof) = qa
            .prove(&commitment_path(port, &path.channel_a, seq), h)
            .await
            .unwrap();
        assert_eq!(value.len(), 32, "a packet commitment");
        msgs.push(to_any(&chan::MsgRecvPacket {
            packet: Some(sent[&seq].clone()),
            proof_commitment: proof,
            proof_height: Some(qa.ibc_height(h + 1)),
            signer: relayer_b.clone(),
        }));
    }
    chains
        .b
        .submit_ok(&chains.b.relayer, msgs)
        .await
        .expect("B accepts the update and both proofs");
    assert_eq!(
        qb.client_latest_height(&path.client_b).await.unwrap(),
        qa.ibc_height(h + 1)
    );
    let left: Vec<u64> = all.iter().copied().filter(|s| *s != 3 && *s != 7).collect();
    assert_eq!(
        qb.unreceived_packets(port, &path.channel_b, &all)
            .await
            .unwrap(),
        left
    );

    // A proof of absence: no receipt for 5 on B.
    let hb = qb.latest_height().await.unwrap();
    let (value, proof) = qb
        .prove(
            &format!(
                "receipts/ports/{port}/channels/{}/sequences/5",
                path.channel_b
            ),
            hb,
        )
        .await
        .unwrap();
    assert!(value.is_empty());
    let proof =
        ibc_proto::ibc::core::commitment::v1::MerkleProof::decode(proof.as_slice()).unwrap();
    assert_eq!(proof.proofs.len(), 2);
    assert!(qb.prove("clients", hb + 1_000).await.is_err());

    // --- Acks written on B --------------------------------------------------------------------
    let acks = qb
        .written_acks(port, &path.channel_b, &[3, 7, 8])
        .await
        .unwrap();
    assert_eq!(acks.len(), 2, "{acks:?}");
    for (seq, packet, ack) in &acks {
        assert_eq!(packet, &sent[seq]);
        assert_eq!(ack.as_slice(), br#"{"result":"AQ=="}"#);
    }
    assert_eq!(acks.iter().map(|a| a.0).collect::<Vec<_>>(), vec![3u64, 7]);
    assert_eq!(
        qb.packet_acknowledgements(port, &path.channel_b)
            .await
            .unwrap(),
        vec![3, 7]
    );
    // The acks are not relayed yet: A still holds both commitments.
    assert_eq!(
        qa.unreceived_acks(port, &path.channel_a, &[3, 7])
            .await
            .unwrap(),
        vec![3, 7]
    );
    assert!(qb.next_sequence_recv(port, &path.channel_b).await.unwrap() >= 1);

    // --- A new client of A on B from `create_client_states`, then a non-adjacent update --------
    let (cs_any, cons_any) = create_client_states(
        &qa,
        Duration::from_secs(14 * 24 * 3600),
        Duration::from_secs(10),
        (1, 3),
        cosmos_proof_specs(),
    )
    .await
    .unwrap();
    let created = tm::ClientState::decode(cs_any.value.as_slice()).unwrap();
    assert_eq!(created.chain_id, "devnet-1");
    let created_at = created
        .latest_height
        .expect("latest height")
        .revision_height;
    let tx = chains
        .b
        .submit_ok(
            &chains.b.relayer,
            vec![to_any(&client::MsgCreateClient {
                client_state: Some(cs_any),
                consensus_state: Some(cons_any),
                signer: relayer_b.clone(),
            })],
        )
        .await
        .expect("B accepts the new client");
    let new_client = cosmos::events::event_attr(&tx.result.events, "create_client", "client_id")
        .expect("create_client event");
    wait_for_height(&qa, created_at + 4).await;
    let mut headers = update_headers(&qa, created_at + 4, created_at, TrustLevel::ONE_THIRD)
        .await
        .unwrap();
    assert_eq!(headers.len(), 1);
    let header = headers.remove(0);
    chains
        .b
        .submit_ok(
            &chains.b.relayer,
            vec![to_any(&client::MsgUpdateClient {
                client_id: new_client.clone(),
                client_message: Some(header),
                signer: relayer_b.clone(),
            })],
        )
        .await
        .expect("B accepts a non-adjacent update");
    assert_eq!(
        qb.client_latest_height(&new_client).await.unwrap(),
        qa.ibc_height(created_at + 4)
    );
    assert!(
        update_headers(&qa, created_at, created_at, TrustLevel::ONE_THIRD)
            .await
            .is_err()
    );
}
