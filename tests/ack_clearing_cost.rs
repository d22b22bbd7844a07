//! Ack clearing costs what is unfinished, not the channel's history: finding 3 unrelayed
//! acknowledgements takes the same, small number of requests whether 300 or 1,500 packets were
//! settled before on the channel (the acks asked about are those of the source's open
//! commitments only).

mod support;

use arke::handshake::querier_for;
use arke::relay::clearing::pending_on;
use devnet::testing::{prepare_proof_height, recv_msg, relay_packets};
use support::{metric, Harness};

/// JSON-RPC requests this process has sent so far (every endpoint and method).
fn requests() -> f64 {
    metric("arke_rpc_requests_total", &[])
}

/// Sends `count` transfers A→B and relays them and their acknowledgements.
async fn settle(h: &Harness, count: usize) {
    let (a, b, path) = (&h.chains.a, &h.chains.b, &h.chains.path);
    let sent = h.send_transfers(true, count, 1, 100, 10_000).await;
    for chunk in sent.chunks(300) {
        relay_packets(a, b, path, chunk).await.expect("relayed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_pending_acks_does_not_grow_with_settled_packets() {
    let h = Harness::new(false, "").await;
    let (a, b, path) = (&h.chains.a, &h.chains.b, &h.chains.path);
    let (qa, qb) = (
        querier_for(&h.config.chains.a).unwrap(),
        querier_for(&h.config.chains.b).unwrap(),
    );
    let measure = || async {
        let before = requests();
        let pending = pending_on(
            &qa,
            &qb,
            &path.port,
            &path.channel_a,
            &path.port,
            &path.channel_b,
        )
        .await
        .expect("pending");
        (pending, requests() - before)
    };

    settle(&h, 300).await;
    // Three packets received on B whose acknowledgements are not relayed back.
    let open = h.send_transfers(true, 3, 1, 3, 10_000).await;
    let at = prepare_proof_height(a, b, &path.client_b).await.unwrap();
    let recvs = open
        .iter()
        .map(|p| recv_msg(a, b, p, at).unwrap())
        .collect();
    b.submit_ok(&b.relayer, recvs).await.expect("received");

    let (pending, few) = measure().await;
    let acks: Vec<u64> = open.iter().map(|p| p.sequence).collect();
    assert_eq!(pending.a_to_b.unreceived_acks, acks);
    assert!(pending.a_to_b.unreceived_packets.is_empty());

    settle(&h, 1200).await;
    let (pending, again) = measure().await;
    assert_eq!(pending.a_to_b.unreceived_acks, acks);
    assert!(few > 0.0);
    assert_eq!(
        few, again,
        "requests with 300 settled packets, then with 1,500"
    );
    // Both directions, packets and acks: a handful of requests in all.
    assert!(few <= 12.0, "{few} requests");
}
