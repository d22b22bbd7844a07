//! A devnet with a TLS certificate serves `https://`, `wss://` and gRPC over TLS, and the stock
//! clients connect with the throw-away test CA: `tendermint-rpc`'s `HttpClient` (handed a
//! reqwest client that trusts the CA, or trusting it through `SSL_CERT_FILE`), its
//! `WebSocketClient` (which takes no custom roots: it trusts `SSL_CERT_FILE`, read by
//! rustls-native-certs), and a tonic client over a rustls connector.
//!
//! One test only: it sets `SSL_CERT_FILE` for the process before any client runs.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use cosmos::Coin;
use devnet::{Devnet, DevnetConfig};
use futures::StreamExt;
use hyper_util::rt::TokioIo;
use tendermint_rpc::{Client, HttpClient, SubscriptionClient, WebSocketClient};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

const WAIT: Duration = Duration::from_secs(30);

fn scratch(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("devnet-tls-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A tonic connector: TCP to the URI's port on loopback, then TLS for `localhost` with ALPN h2.
#[derive(Clone)]
struct TlsOverTcp(TlsConnector);

impl tonic::codegen::Service<tonic::transport::Uri> for TlsOverTcp {
    type Response = TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: tonic::transport::Uri) -> Self::Future {
        let connector = self.0.clone();
        Box::pin(async move {
            let port = uri.port_u16().unwrap_or(443);
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
            let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
            Ok(TokioIo::new(connector.connect(name, tcp).await?))
        })
    }
}

#[test]
fn stock_clients_work_over_tls_with_the_test_ca() {
    let dir = scratch("stock");
    let certs = devnet::tls::write_test_certs(&dir).expect("test certificates");
    // Read by rustls-native-certs in the websocket client (and the default HttpClient).
    std::env::set_var("SSL_CERT_FILE", &certs.ca_cert);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(check_clients(certs));
    let _ = std::fs::remove_dir_all(&dir);
}

async fn check_clients(certs: devnet::tls::TestCerts) {
    let mut config = DevnetConfig::for_tests("devnet-tls-1");
    config.grpc_addr = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    config.tls = Some(certs.files());
    let (config, key) = config.with_random_account("user", vec![Coin::new("stake", 777)]);
    let devnet = Devnet::start(config).await.expect("devnet starts with TLS");
    devnet.wait_for_height(2, WAIT).await.unwrap();
    let rpc = devnet.rpc_url();
    let ws = devnet.websocket_url();
    let grpc = devnet.grpc_url().expect("gRPC served");
    assert!(rpc.starts_with("https://127.0.0.1:"), "{rpc}");
    assert!(ws.starts_with("wss://127.0.0.1:"), "{ws}");
    assert!(grpc.starts_with("https://127.0.0.1:"), "{grpc}");

    // HTTP, 1: the supported way to give tendermint-rpc a custom CA is its builder with a
    // reqwest client of our own.
    let ca_pem = std::fs::read(&certs.ca_cert).unwrap();
    let reqwest = reqwest011::Client::builder()
        .add_root_certificate(reqwest011::Certificate::from_pem(&ca_pem).unwrap())
        .build()
        .unwrap();
    let http = HttpClient::builder(rpc.parse().unwrap())
        .client(reqwest)
        .build()
        .unwrap();
    let status = http.status().await.expect("status over https");
    assert_eq!(status.node_info.network.as_str(), "devnet-tls-1");
    let block = http.latest_block().await.expect("block over https");
    assert!(block.block.header.height.value() >= 2);

    // HTTP, 2: the default client trusts SSL_CERT_FILE.
    let plain_builder = HttpClient::new(rpc.as_str()).unwrap();
    plain_builder
        .abci_info()
        .await
        .expect("abci_info over https");

    // A client that speaks plain HTTP to the TLS port gets no answer.
    let http_url = rpc.replacen("https://", "http://", 1);
    let plain = HttpClient::builder(http_url.parse().unwrap())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    assert!(
        plain.status().await.is_err(),
        "plain HTTP must not be served"
    );

    // Websocket over wss://: a NewBlock event arrives.
    let (client, driver) = WebSocketClient::new(ws.as_str())
        .await
        .expect("websocket connects over wss");
    let driver = tokio::spawn(driver.run());
    let mut blocks = client
        .subscribe(tendermint_rpc::query::EventType::NewBlock.into())
        .await
        .expect("subscribe over wss");
    let event = tokio::time::timeout(WAIT, blocks.next())
        .await
        .expect("a NewBlock event in time")
        .expect("stream open")
        .expect("event decodes");
    assert!(matches!(
        event.data,
        tendermint_rpc::event::EventData::NewBlock { .. }
    ));
    let status = client.status().await.expect("status over wss");
    assert_eq!(status.node_info.network.as_str(), "devnet-tls-1");
    client.close().unwrap();
    let _ = driver.await;

    // gRPC over TLS with the generated ibc-proto client.
    let tls = devnet::tls::client_config(&certs.ca_cert, &[b"h2"]).unwrap();
    let channel = tonic::transport::Endpoint::from_shared(grpc.clone())
        .unwrap()
        .connect_with_connector(TlsOverTcp(TlsConnector::from(Arc::clone(&tls))))
        .await
        .expect("gRPC connects over TLS");
    use ibc_proto::cosmos::bank::v1beta1::{
        query_client::QueryClient as Bank, QueryBalanceRequest,
    };
    let balance = Bank::new(channel)
        .balance(QueryBalanceRequest {
            address: key.address("cosmos"),
            denom: "stake".into(),
        })
        .await
        .expect("balance over gRPC with TLS")
        .into_inner()
        .balance
        .expect("a balance");
    assert_eq!(balance.amount, "777");
}
