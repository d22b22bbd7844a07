//! Client refresh against two real devnets:
//! - clients with a short trusting period under a relayed channel are updated by the daemon
//!   without any packet traffic, repeatedly, and stay active past their trusting period;
//! - a client left alone past its trusting period is reported expired by
//!   `chain::client_status::client_status` (what refresh acts on).
//!
//! Every wait is bounded.

mod support;

use std::time::Duration;

use arke::chain::client_status::{client_status, ClientHealth};
use arke::handshake::{self, ChannelRequest, ClientOptions, ConnectionChoice, Pair};
use arke::relay::supervisor::{self, PairKeys};
use devnet::harness::TestChain;
use ibc_proto::ibc::core::channel::v1::Order;
use tokio_util::sync::CancellationToken;

use support::{init_tracing, pair_config, scratch_dir, BLOCK};

/// Trusting period of the test clients: the daemon refreshes them after a third of it.
const TRUSTING: Duration = Duration::from_secs(15);
const WAIT: Duration = Duration::from_secs(120);

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    support::bounded(WAIT, what, f).await
}

async fn client_height(q: &arke::chain::query::IbcQuerier, client: &str) -> u64 {
    q.client_latest_height(client)
        .await
        .unwrap_or_else(|e| panic!("height of {client}: {e}"))
        .revision_height
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn daemon_refreshes_idle_clients() {
    init_tracing();
    let a = TestChain::start("devnet-1", BLOCK).await.unwrap();
    let b = TestChain::start("devnet-2", BLOCK).await.unwrap();
    let dir = scratch_dir("refresh");
    let config = pair_config(&a, &b, &dir, "");
    let pair = Pair::new(
        &config.chains.a,
        a.relayer.clone(),
        &config.chains.b,
        b.relayer.clone(),
    )
    .unwrap();
    let spec = ChannelRequest {
        port_a: "transfer".into(),
        port_b: "transfer".into(),
        ordering: Order::Unordered,
        version: "ics20-1".into(),
    };
    let short = ClientOptions {
        trusting_period: Some(TRUSTING),
        ..ClientOptions::default()
    };
    let opened = bounded(
        "channel with short-lived clients",
        handshake::ensure_channel(
            &pair.a,
            &pair.b,
            &spec,
            &ConnectionChoice::New,
            &short,
            Duration::ZERO,
        ),
    )
    .await
    .unwrap();
    let (qa, qb) = (pair.a.querier.clone(), pair.b.querier.clone());
    pair.shutdown().await;
    let conn = &opened.ends.connection;
    let clients = [(&qa, conn.client_a.as_str()), (&qb, conn.client_b.as_str())];
    let mut heights = Vec::new();
    for (q, client) in clients {
        let status = client_status(q, client).await.unwrap();
        assert_eq!(status.health, ClientHealth::Active, "{status:?}");
        assert_eq!(status.trusting_period, TRUSTING);
        heights.push(vec![client_height(q, client).await]);
    }

    // The daemon, with no packets to relay: only the refresh can move the clients.
    let token = CancellationToken::new();
    let daemon = {
        let (config, t) = (config.clone(), token.clone());
        let keys = PairKeys::new(a.relayer.clone(), b.relayer.clone());
        tokio::spawn(async move { supervisor::run(config, keys, t).await })
    };
    let started = tokio::time::Instant::now();
    // Each client must be updated twice, the first time within 3× the refresh point, and they
    // must still be active two trusting periods after the start.
    let first_deadline = started + TRUSTING;
    let end = started + TRUSTING * 2;
    while tokio::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(300)).await;
        for (i, (q, client)) in clients.iter().enumerate() {
            let h = client_height(q, client).await;
            if h != *heights[i].last().unwrap() {
                heights[i].push(h);
            }
            if tokio::time::Instant::now() > first_deadline {
                assert!(
                    heights[i].len() > 1,
                    "{client} on {} was not refreshed within {TRUSTING:?}",
                    q.chain_id()
                );
            }
        }
    }
    for (i, (q, client)) in clients.iter().enumerate() {
        assert!(
            heights[i].len() >= 3,
            "{client} on {}: heights {:?}, expected at least two refreshes",
            q.chain_id(),
            heights[i]
        );
        assert!(
            heights[i].windows(2).all(|w| w[0] < w[1]),
            "{:?}",
            heights[i]
        );
        let status = client_status(q, client).await.unwrap();
        assert_eq!(status.health, ClientHealth::Active, "{status:?}");
    }
    token.cancel();
    bounded("daemon stop", daemon).await.unwrap().unwrap();
    // Nothing but client updates happened, and nothing failed.
    assert!(
        support::failed_txs(&a).is_empty(),
        "{:?}",
        support::failed_txs(&a)
    );
    assert!(
        support::failed_txs(&b).is_empty(),
        "{:?}",
        support::failed_txs(&b)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_client_is_reported() {
    init_tracing();
    let a = TestChain::start("devnet-1", BLOCK).await.unwrap();
    let b = TestChain::start("devnet-2", BLOCK).await.unwrap();
    let dir = scratch_dir("refresh");
    let config = pair_config(&a, &b, &dir, "");
    let pair = Pair::new(
        &config.chains.a,
        a.relayer.clone(),
        &config.chains.b,
        b.relayer.clone(),
    )
    .unwrap();
    let brief = ClientOptions {
        trusting_period: Some(Duration::from_secs(2)),
        ..ClientOptions::default()
    };
    let doomed = bounded(
        "client with 2 s trusting period",
        handshake::create_client(&pair.a, &pair.b, &brief),
    )
    .await
    .unwrap();
    let healthy = bounded(
        "client with the default trusting period",
        handshake::create_client(&pair.a, &pair.b, &ClientOptions::default()),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;

    let status = client_status(&pair.a.querier, &doomed).await.unwrap();
    assert_eq!(status.health, ClientHealth::Expired, "{status:?}");
    assert_eq!(status.time_left(), Duration::ZERO);
    assert_eq!(status.tracked_chain, "devnet-2");
    let status = client_status(&pair.a.querier, &healthy).await.unwrap();
    assert_eq!(status.health, ClientHealth::Active, "{status:?}");
    assert!(status.time_left() > Duration::from_secs(86_400));

    // A missing client is an error naming the chain and client, not a panic.
    let missing = client_status(&pair.a.querier, "07-tendermint-99")
        .await
        .unwrap_err();
    assert!(
        missing.to_string().contains("devnet-1")
            && missing.to_string().contains("07-tendermint-99"),
        "{missing}"
    );
    pair.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A channel that a reload adds has its clients refreshed from then on, and none before: the
/// refresh follows the running workers, not the channels relayed at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_channel_added_by_reload_gets_its_clients_refreshed() {
    use arke::config::Config;
    use arke::relay::reload::reload_channel;
    use arke::relay::supervisor::RunOptions;
    const QUIET_TRUSTING: Duration = Duration::from_secs(30);
    init_tracing();
    let a = TestChain::start("devnet-1", BLOCK).await.unwrap();
    let b = TestChain::start("devnet-2", BLOCK).await.unwrap();
    let dir = scratch_dir("refresh-reload");
    let base = pair_config(&a, &b, &dir, "");
    let pair = Pair::new(
        &base.chains.a,
        a.relayer.clone(),
        &base.chains.b,
        b.relayer.clone(),
    )
    .unwrap();
    let request = ChannelRequest {
        port_a: "transfer".into(),
        port_b: "transfer".into(),
        ordering: Order::Unordered,
        version: "ics20-1".into(),
    };
    let open = |options: ClientOptions| {
        let (pa, pb, request) = (&pair.a, &pair.b, &request);
        async move {
            bounded(
                "channel",
                handshake::ensure_channel(
                    pa,
                    pb,
                    request,
                    &ConnectionChoice::New,
                    &options,
                    Duration::ZERO,
                ),
            )
            .await
            .unwrap()
        }
    };
    let relayed = open(ClientOptions::default()).await;
    let quiet = open(ClientOptions {
        trusting_period: Some(QUIET_TRUSTING),
        ..ClientOptions::default()
    })
    .await;
    let (qa, qb) = (pair.a.querier.clone(), pair.b.querier.clone());
    pair.shutdown().await;
    let quiet_conn = &quiet.ends.connection;
    let quiet_clients = [
        (&qa, quiet_conn.client_a.clone()),
        (&qb, quiet_conn.client_b.clone()),
    ];
    let mut before = Vec::new();
    for (q, client) in &quiet_clients {
        before.push(client_height(q, client).await);
    }
    let created = tokio::time::Instant::now();

    let path = dir.join("pair.toml");
    let write = |list: &str| {
        let channels = format!("channels = {{ policy = \"allow\", list = [{list}] }}");
        std::fs::write(&path, support::pair_config_text(&a, &b, &dir, &channels)).unwrap();
    };
    let only_relayed = format!("[\"transfer\", \"{}\"]", relayed.ends.channel_a);
    write(&only_relayed);
    let (reloader, reloads) = reload_channel();
    let token = CancellationToken::new();
    let daemon = {
        let (config, t) = (Config::load(&path).unwrap(), token.clone());
        let keys = PairKeys::new(a.relayer.clone(), b.relayer.clone());
        let options = RunOptions {
            reload: Some(reloads),
            ..Default::default()
        };
        tokio::spawn(async move { supervisor::run_with(config, keys, t, options).await })
    };

    // Past the quiet clients' refresh point (a third of their trusting period), nothing touches
    // them: their channel is not relayed.
    tokio::time::sleep_until(created + QUIET_TRUSTING / 3 + Duration::from_secs(3)).await;
    for ((q, client), h) in quiet_clients.iter().zip(&before) {
        assert_eq!(
            client_height(q, client).await,
            *h,
            "{client} refreshed unasked"
        );
    }

    // The reload adds the quiet channel: its clients are refreshed well before they expire.
    write(&format!(
        "{only_relayed}, [\"transfer\", \"{}\"]",
        quiet.ends.channel_a
    ));
    let report = reloader.reload().await.expect("reload applied");
    assert_eq!(report.started.len(), 1, "{report:?}");
    let deadline = created + QUIET_TRUSTING - Duration::from_secs(2);
    for ((q, client), h) in quiet_clients.iter().zip(&before) {
        loop {
            if client_height(q, client).await > *h {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{client} on {} was not refreshed after the reload",
                q.chain_id()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let status = client_status(q, client).await.unwrap();
        assert_eq!(status.health, ClientHealth::Active, "{status:?}");
    }
    token.cancel();
    bounded("daemon stop", daemon).await.unwrap().unwrap();
    assert!(support::failed_txs(&a).is_empty());
    assert!(support::failed_txs(&b).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
