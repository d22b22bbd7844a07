//! End-to-end IBC on two devnets: handshake, an ICS-20 transfer relayed with real proofs and
//! headers, the ack back, a timeout with refund, and the rejections a real chain gives (forged
//! proof, header signed by a stranger, wrong sequence, bad signature, redundant relay).

mod support;

use std::time::Duration;

use cosmos::events::events_of;
use cosmos::to_any;
use devnet::harness::{self, packet_from_event, transfer_msg};
use devnet::testing::{
    self, prepare_proof_height, recv_msg, relay_packets, timeout_msg, ConnectedChains,
};

use devnet::harness::bank_send;
use support::stake;

const BLOCK: Duration = Duration::from_millis(150);

/// `ibc/HASH` of a voucher received over `channel` on `port`.
fn voucher(port: &str, channel: &str, base: &str) -> String {
    use sha2::{Digest, Sha256};
    let trace = format!("{port}/{channel}/{base}");
    format!(
        "ibc/{}",
        hex::encode_upper(Sha256::digest(trace.as_bytes()))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_is_relayed_and_acknowledged() {
    let chains = ConnectedChains::start(BLOCK, false)
        .await
        .expect("channel opens");
    let (a, b, path) = (&chains.a, &chains.b, &chains.path);
    let sender = a.address(&a.user);
    let receiver = b.address(&b.user);
    let before = a.balance(&sender, "stake").expect("balance");

    let far = b.ibc_height(b.node().latest_height() + 1000);
    let tx = a
        .submit_ok(
            &a.user,
            vec![transfer_msg(
                &sender,
                &receiver,
                &path.channel_a,
                &stake(100),
                Some(far),
                0,
            )],
        )
        .await
        .expect("transfer tx");
    let sent: Vec<_> = events_of(&tx.result.events, "send_packet")
        .iter()
        .map(|e| packet_from_event(e).expect("packet"))
        .collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(a.balance(&sender, "stake").unwrap(), before - 100);

    let txs = relay_packets(a, b, path, &sent).await.expect("relay");
    let acks = events_of(&txs[0].result.events, "write_acknowledgement");
    assert_eq!(acks.len(), 1);
    assert_eq!(
        acks[0]["packet_ack_hex"],
        hex::encode(br#"{"result":"AQ=="}"#)
    );
    let denom = voucher("transfer", &path.channel_b, "stake");
    assert_eq!(b.balance(&receiver, &denom).unwrap(), 100);
    assert_eq!(
        events_of(&txs[1].result.events, "acknowledge_packet").len(),
        1
    );

    // The commitment is gone on A once the ack is processed.
    let q = a.node().abci_query(
        "store/ibc/key",
        format!(
            "commitments/ports/transfer/channels/{}/sequences/{}",
            path.channel_a, sent[0].sequence
        )
        .as_bytes(),
        0,
        false,
    );
    assert!(q.value.is_empty(), "commitment deleted after ack");

    // Relaying the same packet again: CheckTx rejects it as redundant (channel 22).
    let h = prepare_proof_height(a, b, &path.client_b).await.unwrap();
    let again = recv_msg(a, b, &sent[0], h).unwrap();
    let err = b.submit(&b.relayer, vec![again]).await.unwrap_err();
    assert!(
        err.contains("code 22") && err.contains("packet messages are redundant"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_packet_is_timed_out_and_refunded() {
    let chains = ConnectedChains::start(BLOCK, false)
        .await
        .expect("channel opens");
    let (a, b, path) = (&chains.a, &chains.b, &chains.path);
    let sender = a.address(&a.user);
    let before = a.balance(&sender, "stake").unwrap();
    let timeout = b.node().latest_height() + 3;
    let tx = a
        .submit_ok(
            &a.user,
            vec![transfer_msg(
                &sender,
                &b.address(&b.user),
                &path.channel_a,
                &stake(250),
                Some(b.ibc_height(timeout)),
                0,
            )],
        )
        .await
        .unwrap();
    let packet = packet_from_event(&events_of(&tx.result.events, "send_packet")[0]).unwrap();
    assert_eq!(a.balance(&sender, "stake").unwrap(), before - 250);

    // Too late for B: receiving now fails.
    b.wait_for_height(timeout + 1).await.unwrap();
    let h = prepare_proof_height(a, b, &path.client_b).await.unwrap();
    let recv = recv_msg(a, b, &packet, h).unwrap();
    let res = b.submit(&b.relayer, vec![recv]).await.unwrap();
    assert_ne!(
        res.result.code.value(),
        0,
        "receiving an expired packet fails"
    );

    let h = prepare_proof_height(b, a, &path.client_a).await.unwrap();
    let msg = timeout_msg(a, b, &packet, false, h).unwrap();
    let res = a.submit_ok(&a.relayer, vec![msg]).await.unwrap();
    assert_eq!(events_of(&res.result.events, "timeout_packet").len(), 1);
    assert_eq!(a.balance(&sender, "stake").unwrap(), before, "refunded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_proof_and_foreign_header_are_rejected() {
    let chains = ConnectedChains::start(BLOCK, false)
        .await
        .expect("channel opens");
    let (a, b, path) = (&chains.a, &chains.b, &chains.path);
    let sender = a.address(&a.user);
    let far = b.ibc_height(b.node().latest_height() + 1000);
    let tx = a
        .submit_ok(
            &a.user,
            vec![transfer_msg(
                &sender,
                &b.address(&b.user),
                &path.channel_a,
                &stake(5),
                Some(far),
                0,
            )],
        )
        .await
        .unwrap();
    let mut packet = packet_from_event(&events_of(&tx.result.events, "send_packet")[0]).unwrap();
    let h = prepare_proof_height(a, b, &path.client_b).await.unwrap();

    // Same proof, different data: the commitment no longer matches.
    packet.data = br#"{"amount":"5000000","denom":"stake","receiver":"x","sender":"y"}"#.to_vec();
    let forged = recv_msg(a, b, &packet, h).unwrap();
    let res = b.submit(&b.relayer, vec![forged]).await.unwrap();
    assert_ne!(
        res.result.code.value(),
        0,
        "forged proof accepted: {:?}",
        res.result
    );

    // A header of another chain (signed by a different validator key) cannot update the client.
    let other = harness::TestChain::start("devnet-1", BLOCK).await.unwrap();
    other
        .wait_for_height(a.node().latest_height() + 2)
        .await
        .unwrap();
    let trusted = testing::client_height(b, &path.client_b).unwrap();
    let target = other.node().latest_height();
    let msg = ibc_proto::ibc::core::client::v1::MsgUpdateClient {
        client_id: path.client_b.clone(),
        client_message: Some(other.light_header(target, trusted).unwrap()),
        signer: b.address(&b.relayer),
    };
    // Refused at CheckTx, as ibc-go ≥ 8.1 verifies updates there: it never costs a fee.
    let err = b
        .submit(&b.relayer, vec![to_any(&msg)])
        .await
        .expect_err("foreign header accepted");
    assert!(err.contains("failed to verify header"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_sequence_and_bad_signature_are_rejected() {
    let a = harness::TestChain::start("devnet-1", BLOCK).await.unwrap();
    a.wait_for_height(1).await.unwrap();
    let to = a.address(&a.relayer);
    let send = |from: &str| bank_send(from, &to, 7);
    let from = a.address(&a.user);
    let mut wallet = a.wallet(&a.user).unwrap();
    wallet.sequence += 5;
    let raw = wallet.sign_tx(vec![send(&from)], vec![], 200_000, "");
    let err = a.submit_raw(raw).await.unwrap_err();
    assert!(
        err.contains("code 32") && err.contains("account sequence mismatch, expected 0, got 5"),
        "{err}"
    );

    let mut wallet = a.wallet(&a.user).unwrap();
    wallet.chain_id = "another-chain".into();
    let raw = wallet.sign_tx(vec![send(&from)], vec![], 200_000, "");
    let err = a.submit_raw(raw).await.unwrap_err();
    assert!(
        err.contains("code 4") && err.contains("signature verification failed"),
        "{err}"
    );

    // The correct tx goes through and moves the coins.
    let before = a.balance(&to, "stake").unwrap();
    a.submit_ok(&a.user, vec![send(&from)]).await.unwrap();
    assert_eq!(a.balance(&to, "stake").unwrap(), before + 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_channel_delivers_in_order() {
    let chains = ConnectedChains::start(BLOCK, true)
        .await
        .expect("ordered channel opens");
    let (a, b, path) = (&chains.a, &chains.b, &chains.path);
    let sender = a.address(&a.user);
    let receiver = b.address(&b.user);
    let far = b.ibc_height(b.node().latest_height() + 1000);
    let msgs = (1..=3)
        .map(|i| {
            harness::transfer_msg_on(
                &path.port,
                &sender,
                &receiver,
                &path.channel_a,
                &stake(i),
                Some(far),
                0,
            )
        })
        .collect();
    let tx = a.submit_ok(&a.user, msgs).await.unwrap();
    let sent: Vec<_> = events_of(&tx.result.events, "send_packet")
        .iter()
        .map(|e| packet_from_event(e).unwrap())
        .collect();
    assert_eq!(
        sent.iter().map(|p| p.sequence).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    // Out of order fails on an ordered channel.
    let h = prepare_proof_height(a, b, &path.client_b).await.unwrap();
    let res = b
        .submit(&b.relayer, vec![recv_msg(a, b, &sent[1], h).unwrap()])
        .await
        .unwrap();
    assert_ne!(res.result.code.value(), 0, "sequence 2 before 1 must fail");
    relay_packets(a, b, path, &sent).await.unwrap();
    let denom = voucher(&path.port, &path.channel_b, "stake");
    assert_eq!(b.balance(&receiver, &denom).unwrap(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_close_init_only_with_the_test_switch() {
    use ibc_proto::ibc::core::channel::v1::{Channel, State};
    use prost::Message;
    let config = |id: &str, allow: bool| {
        let mut c = devnet::DevnetConfig::for_tests(id);
        c.block_time = BLOCK;
        c.allow_channel_close = allow;
        c
    };
    let state = |chain: &harness::TestChain, port: &str, channel: &str| {
        let q = chain.node().abci_query(
            "store/ibc/key",
            format!("channelEnds/ports/{port}/channels/{channel}").as_bytes(),
            0,
            false,
        );
        Channel::decode(q.value.as_ref())
            .expect("channel end")
            .state
    };
    // Off (the default): ICS-20 refuses to close, as ibc-go's transfer module does.
    let chains =
        ConnectedChains::start_with(config("devnet-1", false), config("devnet-2", false), false)
            .await
            .expect("channel opens");
    let (b, path) = (&chains.b, &chains.path);
    let msg = testing::close_channel_msg(b, &path.port, &path.channel_b);
    let err = b.submit_ok(&b.user, vec![msg]).await.expect_err("refused");
    assert!(err.contains("channel close is disabled"), "{err}");
    assert_eq!(state(b, &path.port, &path.channel_b), State::Open as i32);
    drop(chains);

    // On: the end is closed by a real tx; the counterparty stays open.
    let chains =
        ConnectedChains::start_with(config("devnet-1", true), config("devnet-2", true), false)
            .await
            .expect("channel opens");
    let (a, b, path) = (&chains.a, &chains.b, &chains.path);
    let msg = testing::close_channel_msg(b, &path.port, &path.channel_b);
    b.submit_ok(&b.user, vec![msg]).await.expect("closed");
    assert_eq!(state(b, &path.port, &path.channel_b), State::Closed as i32);
    assert_eq!(state(a, &path.port, &path.channel_a), State::Open as i32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_channels_open_in_batches() {
    use ibc_proto::ibc::core::channel::v1 as chan;
    use prost::Message;

    let chains = ConnectedChains::start(BLOCK, false)
        .await
        .expect("channel opens");
    let (a, b, path) = (&chains.a, &chains.b, &chains.path);
    let start = a.node().latest_height();
    // More than two txs' worth per step.
    let opened = testing::open_channels(a, b, path, 120)
        .await
        .expect("channels open");
    assert_eq!(opened.len(), 120);
    // Four steps of three txs each, plus the client updates: far fewer blocks than channels.
    let blocks = a.node().latest_height() - start;
    assert!(blocks < 60, "{blocks} blocks for 120 channels");
    let state = |chain: &devnet::harness::TestChain, id: &str| {
        let q = chain.node().abci_query(
            "store/ibc/key",
            format!("channelEnds/ports/transfer/channels/{id}").as_bytes(),
            0,
            false,
        );
        chan::Channel::decode(q.value.as_ref()).expect("channel end")
    };
    for (on_a, on_b) in &opened {
        let (end_a, end_b) = (state(a, on_a), state(b, on_b));
        assert_eq!(end_a.state, chan::State::Open as i32, "{on_a}");
        assert_eq!(end_b.state, chan::State::Open as i32, "{on_b}");
        assert_eq!(end_a.counterparty.unwrap().channel_id, *on_b);
        assert_eq!(end_b.counterparty.unwrap().channel_id, *on_a);
    }
    // The last one carries a transfer like any other channel.
    let (last_a, last_b) = opened.last().unwrap().clone();
    let sender = a.address(&a.user);
    let receiver = b.address(&b.user);
    let far = b.ibc_height(b.node().latest_height() + 1000);
    let tx = a
        .submit_ok(
            &a.user,
            vec![transfer_msg(
                &sender,
                &receiver,
                &last_a,
                &stake(5),
                Some(far),
                0,
            )],
        )
        .await
        .expect("transfer tx");
    let sent: Vec<_> = events_of(&tx.result.events, "send_packet")
        .iter()
        .map(|e| packet_from_event(e).expect("packet"))
        .collect();
    let over = testing::ChannelPath {
        channel_a: last_a,
        channel_b: last_b.clone(),
        ..path.clone()
    };
    relay_packets(a, b, &over, &sent).await.expect("relayed");
    let voucher = voucher("transfer", &last_b, "stake");
    assert_eq!(b.balance(&receiver, &voucher).unwrap(), 5);
}
