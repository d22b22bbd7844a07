//! `abci_query` with every path form a Cosmos SDK 0.50 node takes, answered with the codes,
//! codespaces and logs its baseapp, root multistore, IAVL store and tx service give (their
//! texts, not ours): `store/…` with and without the leading `/`, `app/simulate` and
//! `app/version`, `p2p/…`, `custom/…` (gone since SDK 0.47), gRPC method paths known and
//! unknown, and the height and proof checks in front of them.

use std::time::Duration;

use devnet::harness::TestChain;
use ibc_proto::cosmos::bank::v1beta1::{MsgSend, QueryBalanceRequest, QueryBalanceResponse};
use ibc_proto::cosmos::base::v1beta1::Coin as ProtoCoin;
use prost::Message;
use tendermint::abci::response::Query;

/// `cosmos.store.internal.kv.v1beta1.Pairs`.
#[derive(Clone, PartialEq, prost::Message)]
struct Pairs {
    #[prost(message, repeated, tag = "1")]
    pairs: Vec<Pair>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Pair {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

#[track_caller]
fn fails(q: &Query, code: u32, log: &str) {
    assert_eq!(
        (q.code.value(), q.codespace.as_str(), q.log.as_str()),
        (code, "sdk", log)
    );
    // baseapp's `queryResult`: no height, no key on a failure outside the gRPC router.
    assert_eq!(q.height.value(), 0, "{log}");
    assert!(q.key.is_empty(), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_paths_answer_as_baseapp_does() {
    let chain = TestChain::start("devnet-1", Duration::from_millis(100))
        .await
        .expect("chain starts");
    chain.wait_for_height(3).await.expect("blocks");
    chain.devnet.pause();
    let node = chain.node();
    let h = node.latest_height();
    let user = chain.address(&chain.user);

    // store/<name>/subspace and store/<name>/key, either way baseapp splits the path.
    let prefix = format!("balances/{user}/");
    let sub = node.abci_query("/store/bank/subspace", prefix.as_bytes(), 0, false);
    assert_eq!(sub.code.value(), 0, "{}", sub.log);
    let pairs = Pairs::decode(sub.value.as_ref()).expect("kv pairs").pairs;
    assert_eq!(pairs.len(), 1, "{pairs:?}");
    let key = pairs[0].key.clone();
    assert!(key.starts_with(prefix.as_bytes()));
    for path in ["store/bank/key", "/store/bank/key"] {
        let q = node.abci_query(path, &key, 0, true);
        assert_eq!(q.code.value(), 0, "{path}: {}", q.log);
        assert_eq!(q.codespace, "", "{path}");
        assert_eq!(q.height.value(), h, "{path}");
        assert_eq!(q.key, key, "{path}");
        assert_eq!(q.value, pairs[0].value, "{path}");
        assert_eq!(q.proof.expect("proof").ops.len(), 2, "{path}");
    }
    // A store that does not exist, a subpath the IAVL store does not serve, an empty key.
    fails(
        &node.abci_query("/store/staking/key", &key, 0, false),
        6,
        "no such store: staking: unknown request",
    );
    fails(
        &node.abci_query("/store/bank/keys", &key, 0, false),
        6,
        "unexpected query path: /keys: unknown request",
    );
    fails(
        &node.abci_query("/store/bank/key", &[], 0, false),
        2,
        "query cannot be zero length: tx parse error",
    );
    fails(
        &node.abci_query("/store/bank/key", &[], 0, true),
        18,
        "proof is unexpectedly empty; ensure height has not been pruned: invalid request",
    );
    fails(
        &node.abci_query("/store/bank/key", &key, 1, true),
        18,
        "cannot query with proof when height <= 1; please provide a valid height: invalid request",
    );
    // A future height: the IAVL store answers code 0 with its log and no value; with a proof
    // asked for, the multistore refuses.
    let ahead = node.abci_query("store/bank/key", &key, h + 5, false);
    assert_eq!(ahead.code.value(), 0);
    assert_eq!(ahead.log, "version does not exist");
    assert!(ahead.value.is_empty());
    assert_eq!(ahead.height.value(), h + 5);
    fails(
        &node.abci_query("store/bank/key", &key, h + 5, true),
        18,
        "proof is unexpectedly empty; ensure height has not been pruned: invalid request",
    );

    // gRPC method paths: answered at the query height; an unknown method is an unknown path.
    let balance = QueryBalanceRequest {
        address: user.clone(),
        denom: "stake".into(),
    }
    .encode_to_vec();
    let q = node.abci_query("/cosmos.bank.v1beta1.Query/Balance", &balance, 0, false);
    assert_eq!(q.code.value(), 0, "{}", q.log);
    assert_eq!(q.height.value(), h);
    let coin = QueryBalanceResponse::decode(q.value.as_ref())
        .expect("balance")
        .balance
        .expect("coin");
    assert_eq!(coin.amount, "1000000000000");
    fails(
        &node.abci_query("/cosmos.bank.v1beta1.Query/Balance", &balance, h + 1, false),
        26,
        "cannot query with height in the future; please provide a valid height: invalid height",
    );
    fails(
        &node.abci_query("/cosmos.bank.v1beta1.Query/Nothing", &balance, 0, false),
        6,
        "unknown query path: unknown request",
    );
    fails(
        &node.abci_query("/cosmos.tx.v1beta1.Service/BroadcastTx", &[], 0, false),
        18,
        "can't route a broadcast tx message: invalid request",
    );

    // custom/… has had no router since SDK 0.47; p2p filters accept every peer.
    fails(
        &node.abci_query("/custom/bank/balances", &[], 0, false),
        6,
        "unknown query path: unknown request",
    );
    fails(
        &node.abci_query("custom", &[], 0, false),
        6,
        "unknown query path: unknown request",
    );
    fails(
        &node.abci_query("", &[], 0, false),
        6,
        "no query path provided: unknown request",
    );
    let p2p = node.abci_query("/p2p/filter/id/abcdef", &[], 0, false);
    assert_eq!((p2p.code.value(), p2p.log.as_str()), (0, ""));
    fails(
        &node.abci_query("/p2p/filter", &[], 0, false),
        6,
        "path should be p2p filter <addr|id> <parameter>: unknown request",
    );

    // app/version and app/simulate (raw tx bytes in, SimulationResponse JSON out).
    let version = node.abci_query("/app/version", &[], 0, false);
    assert_eq!(version.code.value(), 0);
    assert_eq!(version.codespace, "sdk");
    assert_eq!(version.value, env!("CARGO_PKG_VERSION").as_bytes());
    fails(
        &node.abci_query("/app", &[], 0, false),
        6,
        "expected second parameter to be either 'simulate' or 'version', neither was present: unknown request",
    );
    fails(
        &node.abci_query("/app/upgrade", &[], 0, false),
        6,
        "unknown query: [app upgrade]: unknown request",
    );
    let wallet = chain.wallet(&chain.user).expect("wallet");
    let send = cosmos::to_any(&MsgSend {
        from_address: user.clone(),
        to_address: chain.address(&chain.relayer),
        amount: vec![ProtoCoin {
            denom: "stake".into(),
            amount: "7".into(),
        }],
    });
    let raw = wallet.sign_tx(vec![send.clone()], Vec::new(), 200_000, "");
    let sim = node.abci_query("app/simulate", &raw, 0, false);
    assert_eq!(sim.code.value(), 0, "{}", sim.log);
    assert_eq!(sim.codespace, "sdk");
    let json: serde_json::Value = serde_json::from_slice(&sim.value).expect("json");
    let used: u64 = json["gas_info"]["gas_used"]
        .as_str()
        .expect("gas_used")
        .parse()
        .expect("number");
    assert!(used > 0 && used < 200_000, "{json}");
    assert_eq!(json["gas_info"]["gas_wanted"], u64::MAX.to_string());
    assert_eq!(
        json["result"]["msg_responses"][0]["@type"],
        "/cosmos.bank.v1beta1.MsgSendResponse"
    );
    // Simulation events are not marked for indexing (baseapp marks only CheckTx and block ones).
    let events = json["result"]["events"].as_array().expect("events");
    assert!(events.iter().any(|e| e["type"] == "transfer"), "{json}");
    assert!(events
        .iter()
        .flat_map(|e| e["attributes"].as_array().expect("attributes"))
        .all(|a| a["index"] == false));
    // A failure keeps the error's code, prefixed as baseapp wraps it; through the gRPC tx
    // service it is the service's status turned into an sdk error.
    let mut stale = wallet.clone();
    stale.sequence += 3;
    let raw = stale.sign_tx(vec![send], Vec::new(), 200_000, "");
    let expected = stale.sequence - 3;
    let wrong = format!(
        "account sequence mismatch, expected {expected}, got {}: incorrect account sequence",
        stale.sequence
    );
    fails(
        &node.abci_query("/app/simulate", &raw, 0, false),
        32,
        &format!("failed to simulate tx: {wrong}"),
    );
    let grpc = node.abci_query(
        "/cosmos.tx.v1beta1.Service/Simulate",
        &cosmos::tx::simulate_request(raw),
        0,
        false,
    );
    assert_eq!(
        (grpc.code.value(), grpc.codespace.as_str()),
        (6, "sdk"),
        "{}",
        grpc.log
    );
    assert!(
        grpc.log.starts_with(&format!(
            "rpc error: code = Unknown desc = {wrong} with gas used: '"
        )) && grpc.log.ends_with("': unknown request"),
        "{}",
        grpc.log
    );
    assert_eq!(grpc.height.value(), h);
    let empty = node.abci_query(
        "/cosmos.tx.v1beta1.Service/Simulate",
        &cosmos::tx::simulate_request(Vec::new()),
        0,
        false,
    );
    assert_eq!(
        (empty.code.value(), empty.log.as_str()),
        (
            18,
            "rpc error: code = InvalidArgument desc = empty txBytes is not allowed: invalid request"
        )
    );
}
