//! The engine against real devnets when its task panics: the submitter is replaced, the item it
//! held fails retryably, and relaying goes on with the same handle.

use std::time::Duration;

use cosmos::events::events_of;
use cosmos::Coin;
use devnet::harness::{has_commitment, packet_from_event, transfer_msg};
use devnet::testing::ConnectedChains;
use ibc_proto::ibc::core::channel::v1::Packet;
use tokio_util::sync::CancellationToken;

use super::{Outcome, TxEngine};
use crate::chain::query::IbcQuerier;
use crate::chain::rpc::RpcClient;
use crate::chain::types::{RelayItem, RelayKind};
use crate::config::Config;

const LIMIT: Duration = Duration::from_secs(60);

/// A querier of the chain `c` configures (what the daemon builds per chain).
pub(super) fn querier(c: &crate::config::ChainConfig) -> IbcQuerier {
    IbcQuerier::new(RpcClient::from_config(c).expect("rpc"), c.id.clone())
}

pub(super) fn config(chains: &ConnectedChains) -> Config {
    let chain = |label: &str, id: &str, rpc: &str| {
        format!(
            r#"
[chains.{label}]
id = "{id}"
rpc_addr = "{rpc}"
account_prefix = "cosmos"
key_name = "relayer"
key_store_folder = "keys"
gas_price = {{ price = 0.0, denom = "stake" }}
max_gas = 50000000
"#
        )
    };
    let text = chain("a", chains.a.devnet.chain_id(), &chains.a.devnet.rpc_url())
        + &chain("b", chains.b.devnet.chain_id(), &chains.b.devnet.rpc_url());
    Config::from_toml_str(&text, std::path::Path::new("/etc/arke/pair.toml")).expect("config")
}

pub(super) async fn send(chains: &ConnectedChains) -> Packet {
    let (a, b) = (&chains.a, &chains.b);
    let far = b.ibc_height(b.node().latest_height() + 10_000);
    let msg = transfer_msg(
        &a.address(&a.user),
        &b.address(&b.user),
        &chains.path.channel_a,
        &Coin::new("stake", 1),
        Some(far),
        0,
    );
    let tx = a.submit_ok(&a.user, vec![msg]).await.expect("transfer");
    packet_from_event(&events_of(&tx.result.events, "send_packet")[0]).expect("packet")
}

async fn relay(engine: &TxEngine, chains: &ConnectedChains, packet: &Packet) -> Outcome {
    let item = RelayItem {
        kind: RelayKind::Recv,
        packet: packet.clone(),
        ack: Vec::new(),
        ordered: false,
        event_height: 0,
    };
    let rx = engine.submit(&chains.path.client_b, item).await;
    match tokio::time::timeout(LIMIT, rx).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(_)) => Outcome::failed("tx engine stopped before reporting", true),
        Err(_) => panic!("no outcome within {LIMIT:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_submitter_is_replaced_and_relaying_goes_on() {
    let chains = ConnectedChains::start(Duration::from_millis(150), false)
        .await
        .expect("channel");
    let config = config(&chains);
    let (qa, qb) = (querier(&config.chains.a), querier(&config.chains.b));
    let token = CancellationToken::new();
    let (engine, task) = TxEngine::spawn(
        &config.chains.b,
        qb,
        qa,
        chains.b.relayer.clone(),
        token.clone(),
    );
    let first = send(&chains).await;
    assert!(matches!(
        relay(&engine, &chains, &first).await,
        Outcome::Done { .. }
    ));

    engine.crash();
    let second = send(&chains).await;
    let lost = relay(&engine, &chains, &second).await;
    assert!(
        matches!(
            lost,
            Outcome::Failed {
                retryable: true,
                ..
            }
        ),
        "the item the dead submitter held fails, retryably: {lost:?}"
    );
    // The same handle works again: a fresh submitter took over (and reloaded the sequence).
    let again = relay(&engine, &chains, &second).await;
    assert!(matches!(again, Outcome::Done { .. }), "{again:?}");
    let third = send(&chains).await;
    assert!(matches!(
        relay(&engine, &chains, &third).await,
        Outcome::Done { .. }
    ));
    let received = |p: &Packet| {
        chains.b.node().abci_query(
            "store/ibc/key",
            format!(
                "receipts/ports/{}/channels/{}/sequences/{}",
                p.destination_port, p.destination_channel, p.sequence
            )
            .as_bytes(),
            0,
            false,
        )
    };
    for p in [&first, &second, &third] {
        assert!(
            !received(p).value.is_empty(),
            "packet {} received",
            p.sequence
        );
        assert!(has_commitment(&chains.a, p), "not acknowledged yet");
    }
    token.cancel();
    let _ = tokio::time::timeout(LIMIT, task).await;
}
