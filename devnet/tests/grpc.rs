//! The devnet's gRPC port answered by stock tonic clients (the generated ibc-proto and
//! cosmos-sdk-proto clients that relayers and wallets use): bank and auth queries, IBC queries,
//! and tx Simulate.

use std::net::SocketAddr;

use cosmos::Coin;
use devnet::{Devnet, DevnetConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_grpc_clients_work() {
    let mut config = DevnetConfig::for_tests("devnet-1");
    config.grpc_addr = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    let (config, key) = config.with_random_account(
        "user",
        vec![Coin {
            denom: "stake".into(),
            amount: 1_000_000,
        }],
    );
    let devnet = Devnet::start(config).await.expect("devnet starts");
    devnet
        .wait_for_height(2, std::time::Duration::from_secs(20))
        .await
        .unwrap();
    let url = devnet.grpc_url().expect("gRPC served");
    let address = key.address("cosmos");

    use ibc_proto::cosmos::bank::v1beta1::{
        query_client::QueryClient as Bank, QueryBalanceRequest,
    };
    let mut bank = Bank::connect(url.clone()).await.expect("connect");
    let balance = bank
        .balance(QueryBalanceRequest {
            address: address.clone(),
            denom: "stake".into(),
        })
        .await
        .expect("balance query")
        .into_inner()
        .balance
        .expect("a balance");
    assert_eq!(balance.amount, "1000000");

    use ibc_proto::cosmos::auth::v1beta1::{
        query_client::QueryClient as Auth, QueryAccountRequest,
    };
    let mut auth = Auth::connect(url.clone()).await.unwrap();
    let account = auth
        .account(QueryAccountRequest {
            address: address.clone(),
        })
        .await
        .expect("account query")
        .into_inner();
    assert_eq!(
        account.account.expect("account").type_url,
        "/cosmos.auth.v1beta1.BaseAccount"
    );
    // An unknown account is a gRPC error, not a panic or an empty answer.
    let missing = auth
        .account(QueryAccountRequest {
            address: cosmos::AccountKey::random().address("cosmos"),
        })
        .await;
    assert!(missing.is_err());

    use ibc_proto::ibc::core::client::v1::{
        query_client::QueryClient as Clients, QueryClientStatesRequest,
    };
    let mut clients = Clients::connect(url.clone()).await.unwrap();
    let states = clients
        .client_states(QueryClientStatesRequest { pagination: None })
        .await
        .expect("client states")
        .into_inner();
    assert!(states.client_states.is_empty());

    // Simulate a signed MsgSend.
    use ibc_proto::cosmos::tx::v1beta1::{service_client::ServiceClient, SimulateRequest};
    let (account_number, sequence) =
        devnet::harness::query_account(devnet.node(), &address).unwrap();
    let wallet = cosmos::Wallet {
        key: key.clone(),
        address: address.clone(),
        chain_id: "devnet-1".into(),
        account_number,
        sequence,
    };
    let send = cosmos::to_any(&ibc_proto::cosmos::bank::v1beta1::MsgSend {
        from_address: address.clone(),
        to_address: cosmos::AccountKey::random().address("cosmos"),
        amount: vec![ibc_proto::cosmos::base::v1beta1::Coin {
            denom: "stake".into(),
            amount: "5".into(),
        }],
    });
    let tx_bytes = wallet.sign_tx(vec![send], vec![], 200_000, "");
    let mut service = ServiceClient::connect(url).await.unwrap();
    #[allow(deprecated)]
    let sim = service
        .simulate(SimulateRequest { tx: None, tx_bytes })
        .await
        .expect("simulate")
        .into_inner();
    let gas = sim.gas_info.expect("gas info");
    assert!(gas.gas_used > 0 && gas.gas_used < 200_000, "{gas:?}");
}
