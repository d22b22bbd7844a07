//! Ack clearing costs what is unfinished, not the channel's history: finding 3 unrelayed
//! acknowledgements takes the same, small number of requests whether 1,000 or 10,000 packets
//! were settled before on the channel (the acks asked about are those of the source's open
//! commitments only). The requests are counted twice: by the relayer's own metric and by the
//! two nodes' request logs.

mod support;

use std::collections::BTreeMap;

use arke::handshake::querier_for;
use arke::relay::clearing::pending_on;
use devnet::requests::requests_between;
use devnet::testing::{prepare_proof_height, recv_msg, relay_packets};
use support::{metric, Harness};

/// Packets settled before the first measurement, and in all before the second.
const FEW: usize = 1_000;
const MANY: usize = 10_000;
/// Transfers per tx and packets per relay tx while settling (large batches keep the set-up short).
const BATCH: usize = 500;

/// JSON-RPC requests this process has sent so far (every endpoint and method).
fn requests() -> f64 {
    metric("arke_rpc_requests_total", &[])
}

/// What both nodes' request logs hold so far, by node and method (and query path).
fn node_requests(h: &Harness) -> BTreeMap<String, u64> {
    let mut all = BTreeMap::new();
    for chain in [&h.chains.a, &h.chains.b] {
        for (k, n) in chain.node().requests().snapshot() {
            all.insert(format!("{}: {k}", chain.devnet.chain_id()), n);
        }
    }
    all
}

/// Sends `count` transfers A→B and relays them and their acknowledgements.
async fn settle(h: &Harness, count: usize) {
    let (a, b, path) = (&h.chains.a, &h.chains.b, &h.chains.path);
    let sent = h.send_transfers(true, count, 1, BATCH, 100_000).await;
    for chunk in sent.chunks(BATCH) {
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
        let logged = node_requests(&h);
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
        let sent = requests() - before;
        let answered = requests_between(&logged, &node_requests(&h));
        (pending, sent, answered)
    };

    settle(&h, FEW).await;
    // Three packets received on B whose acknowledgements are not relayed back.
    let open = h.send_transfers(true, 3, 1, 3, 10_000).await;
    let at = prepare_proof_height(a, b, &path.client_b).await.unwrap();
    let recvs = open
        .iter()
        .map(|p| recv_msg(a, b, p, at).unwrap())
        .collect();
    b.submit_ok(&b.relayer, recvs).await.expect("received");

    let (pending, few, few_logged) = measure().await;
    let acks: Vec<u64> = open.iter().map(|p| p.sequence).collect();
    assert_eq!(pending.a_to_b.unreceived_acks, acks);
    assert!(pending.a_to_b.unreceived_packets.is_empty());

    settle(&h, MANY - FEW).await;
    let (pending, again, again_logged) = measure().await;
    assert_eq!(pending.a_to_b.unreceived_acks, acks);
    assert!(few > 0.0);
    assert_eq!(
        few, again,
        "requests with {FEW} settled packets, then with {MANY}"
    );
    // Both directions, packets and acks: a handful of requests in all.
    assert!(few <= 12.0, "{few} requests");
    // The nodes answered exactly those requests, the same ones both times.
    let answered: u64 = few_logged.values().sum();
    assert_eq!(answered as f64, few, "the nodes' logs: {few_logged:?}");
    assert_eq!(
        few_logged, again_logged,
        "requests the nodes answered with {FEW} settled packets, then with {MANY}"
    );
}
