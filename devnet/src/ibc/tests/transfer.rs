//! ICS-20: ibc-go's escrow addresses, voucher denoms and packet bytes, and a full round trip
//! between two in-memory chains with real store proofs.

use super::*;

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
