//! Which messages the module executes, and which packet messages are redundant no-ops.

use super::*;

#[test]
fn handles_lists_ibc_and_transfer_messages() {
    assert!(handles("/ibc.core.client.v1.MsgUpdateClient"));
    assert!(handles("/ibc.core.channel.v1.MsgRecvPacket"));
    assert!(handles(MSG_TRANSFER));
    assert!(!handles("/cosmos.bank.v1beta1.MsgSend"));
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
