//! The stock `tendermint-rpc` clients against a devnet: `status`, `abci_query` with a proof that
//! verifies against the next header's app hash, and a websocket subscription to
//! `tm.event='Tx'` that receives a real IBC transfer with its packet events.

use std::time::Duration;

use cosmos::Coin;
use devnet::harness::transfer_msg;
use devnet::testing::ConnectedChains;
use futures::StreamExt;
use tendermint_rpc::{Client, HttpClient, SubscriptionClient, WebSocketClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_clients_status_proofs_and_tx_events() {
    let chains = ConnectedChains::start(Duration::from_millis(150), false)
        .await
        .expect("channel opens");
    let a = &chains.a;
    let http = HttpClient::new(a.devnet.rpc_url().as_str()).expect("http client");
    let status = http.status().await.expect("status");
    assert_eq!(status.node_info.network.as_str(), "devnet-1");
    assert_eq!(
        status.node_info.other.tx_index,
        tendermint::node::info::TxIndexStatus::On
    );

    // A proven query at H verifies against the app hash of header H + 1, with the path written
    // either way baseapp takes it: `store/ibc/key` and `/store/ibc/key`.
    let h = a.node().latest_height() - 1;
    let path = format!(
        "channelEnds/ports/transfer/channels/{}",
        chains.path.channel_a
    );
    let next = http
        .commit(tendermint::block::Height::try_from(h + 1).unwrap())
        .await
        .expect("commit");
    let root = next.signed_header.header.app_hash.as_bytes().to_vec();
    for store_path in ["store/ibc/key", "/store/ibc/key"] {
        let q = http
            .abci_query(
                Some(store_path.to_string()),
                path.as_bytes().to_vec(),
                Some(tendermint::block::Height::try_from(h).unwrap()),
                true,
            )
            .await
            .expect("abci_query");
        assert_eq!(q.code.value(), 0, "{store_path}: {}", q.log);
        assert_eq!(q.height.value(), h, "{store_path}");
        assert_eq!(q.key, path.as_bytes(), "{store_path}");
        assert!(!q.value.is_empty(), "{store_path}");
        verify_ibc_proof(
            q.proof.expect("proof ops"),
            &root,
            path.as_bytes(),
            &q.value,
        );
    }

    // Websocket: subscribe to Tx events, send a transfer, get its send_packet event.
    let (ws, driver) = WebSocketClient::new(a.devnet.websocket_url().as_str())
        .await
        .expect("websocket");
    let driver = tokio::spawn(driver.run());
    let mut txs = ws
        .subscribe(tendermint_rpc::query::EventType::Tx.into())
        .await
        .expect("subscribe");
    let sender = a.address(&a.user);
    let far = chains.b.ibc_height(chains.b.node().latest_height() + 1000);
    let transfer = a
        .submit_ok(
            &a.user,
            vec![transfer_msg(
                &sender,
                &chains.b.address(&chains.b.user),
                &chains.path.channel_a,
                &Coin {
                    denom: "stake".into(),
                    amount: 9,
                },
                Some(far),
                0,
            )],
        )
        .await
        .expect("transfer");
    // Every attribute of the tx result (SDK, ICS-20 and IBC core events) is marked for
    // indexing, as a Cosmos SDK chain with the default `index-events = []` marks them.
    let unindexed: Vec<String> = transfer
        .result
        .events
        .iter()
        .flat_map(|e| {
            e.attributes
                .iter()
                .filter(|a| !a.index())
                .map(move |a| format!("{}.{}", e.kind, a.key_str().unwrap_or_default()))
        })
        .collect();
    assert!(unindexed.is_empty(), "not indexed: {unindexed:?}");
    let event = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let ev = txs.next().await.expect("stream open").expect("event");
            let events = ev.events.clone().unwrap_or_default();
            if events.contains_key("send_packet.packet_sequence") {
                return events;
            }
        }
    })
    .await
    .expect("send_packet pushed");
    assert_eq!(event["send_packet.packet_sequence"], vec!["1".to_string()]);
    assert_eq!(
        event["send_packet.packet_src_channel"],
        vec![chains.path.channel_a.clone()]
    );
    // ibc-go's `message{module=ibc_channel}` accompanies the packet event (next to the SDK's
    // per-message `message` event).
    assert!(
        event["message.module"].iter().any(|m| m == "ibc_channel"),
        "{:?}",
        event["message.module"]
    );
    ws.close().expect("close");
    let _ = driver.await;
}

/// Checks a `store/ibc/key` proof: the key inside the ibc store, then the ibc store root inside
/// the multistore whose root is `app_hash`.
fn verify_ibc_proof(
    ops: tendermint::merkle::proof::ProofOps,
    app_hash: &[u8],
    key: &[u8],
    value: &[u8],
) {
    assert_eq!(ops.ops.len(), 2);
    assert_eq!(ops.ops[0].field_type, "ics23:iavl");
    assert_eq!(ops.ops[1].field_type, "ics23:simple");
    let proofs: Vec<ics23::CommitmentProof> = ops
        .ops
        .iter()
        .map(|op| prost::Message::decode(op.data.as_slice()).expect("commitment proof"))
        .collect();
    let ibc_root =
        ics23::calculate_existence_root::<ics23::HostFunctionsManager>(match &proofs[0].proof {
            Some(ics23::commitment_proof::Proof::Exist(e)) => e,
            other => panic!("expected an existence proof, got {other:?}"),
        })
        .expect("ibc store root");
    assert!(ics23::verify_membership::<ics23::HostFunctionsManager>(
        &proofs[0],
        &ics23::iavl_spec(),
        &ibc_root,
        key,
        value
    ));
    assert!(ics23::verify_membership::<ics23::HostFunctionsManager>(
        &proofs[1],
        &ics23::tendermint_spec(),
        &app_hash.to_vec(),
        b"ibc",
        &ibc_root
    ));
}
