//! A node far away (`DevnetConfig::rpc_latency`): every HTTP, websocket and gRPC answer leaves
//! the server that long after it was ready, and subscriptions still deliver events. Only lower
//! bounds are asserted, so a slow machine cannot fail the test.

use std::time::{Duration, Instant};

use devnet::{Devnet, DevnetConfig};
use futures::StreamExt;
use tendermint_rpc::{Client, HttpClient, SubscriptionClient, WebSocketClient};

const LATENCY: Duration = Duration::from_millis(200);
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_waits_out_the_latency() {
    let mut config = DevnetConfig::for_tests("devnet-far-1");
    config.grpc_addr = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    config.rpc_latency = LATENCY;
    let devnet = Devnet::start(config).await.expect("devnet starts");
    devnet.wait_for_height(2, WAIT).await.unwrap();

    // HTTP: a /status round trip takes at least the latency.
    let http = HttpClient::new(devnet.rpc_url().as_str()).unwrap();
    for _ in 0..2 {
        let start = Instant::now();
        let status = http.status().await.expect("status");
        assert!(start.elapsed() >= LATENCY, "{:?}", start.elapsed());
        assert_eq!(status.node_info.network.as_str(), "devnet-far-1");
    }

    // Websocket: a request's answer is delayed, and events still arrive.
    let (client, driver) = WebSocketClient::new(devnet.websocket_url().as_str())
        .await
        .expect("websocket connects");
    let driver = tokio::spawn(driver.run());
    let start = Instant::now();
    client.abci_info().await.expect("abci_info over websocket");
    assert!(start.elapsed() >= LATENCY, "{:?}", start.elapsed());
    let mut blocks = client
        .subscribe(tendermint_rpc::query::EventType::NewBlock.into())
        .await
        .expect("subscribe");
    for _ in 0..2 {
        let event = tokio::time::timeout(WAIT, blocks.next())
            .await
            .expect("a NewBlock event in time")
            .expect("stream open")
            .expect("event decodes");
        assert!(matches!(
            event.data,
            tendermint_rpc::event::EventData::NewBlock { .. }
        ));
    }
    client.close().unwrap();
    let _ = driver.await;

    // gRPC: a query answer is delayed too.
    use ibc_proto::ibc::core::client::v1::{
        query_client::QueryClient as Clients, QueryClientStatesRequest,
    };
    let mut clients = Clients::connect(devnet.grpc_url().unwrap()).await.unwrap();
    let start = Instant::now();
    clients
        .client_states(QueryClientStatesRequest { pagination: None })
        .await
        .expect("client states");
    assert!(start.elapsed() >= LATENCY, "{:?}", start.elapsed());

    // The latency can be changed while the chain runs; with none, answers still come.
    devnet.node().faults().set_rpc_latency(Duration::ZERO);
    http.status().await.expect("status without latency");
}
