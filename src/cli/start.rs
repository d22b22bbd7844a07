//! `arke start`: run the relayer daemon for one chain pair until SIGTERM or SIGINT, then drain
//! in-flight work for up to `shutdown_grace` and exit 0. SIGHUP reloads the pair file (see
//! [`crate::relay::reload`]); under systemd (`$NOTIFY_SOCKET`) readiness, watchdog pings and
//! stopping are notified. Freed heap memory is handed back to the system once work settles
//! (see [`crate::relay::memory`]).

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::{CliError, ConfigArg};
use crate::config::Config;
use crate::relay::reload::reload_channel;
use crate::relay::signals::{reload_on_sighup, wait_for_signal};
use crate::relay::supervisor::{self, PairKeys};
use crate::telemetry::notify::Notifier;
use crate::tx::keys::KeyStore;

/// `arke start --config FILE`.
#[derive(Debug, Args)]
pub(crate) struct StartArgs {
    /// The chain pair.
    #[command(flatten)]
    pub(crate) config: ConfigArg,
}

/// Runs `arke start`.
pub(crate) fn run(args: StartArgs) -> Result<(), CliError> {
    let config = Config::load(&args.config.config)?;
    for line in config.warning_lines() {
        tracing::warn!("{line}");
    }
    let key_a = KeyStore::new(&config.chains.a.key_store_folder).load(&config.chains.a.key_name)?;
    let key_b = KeyStore::new(&config.chains.b.key_store_folder).load(&config.chains.b.key_name)?;
    // Further signers of packet messages (`key_names` after the first).
    let more = |chain: &crate::config::ChainConfig| -> Result<Vec<_>, CliError> {
        let store = KeyStore::new(&chain.key_store_folder);
        chain.key_names[1..]
            .iter()
            .map(|name| Ok(store.load(name)?.account_key().clone()))
            .collect()
    };
    let keys = PairKeys::new(key_a.account_key().clone(), key_b.account_key().clone())
        .with_more(more(&config.chains.a)?, more(&config.chains.b)?);
    // Before the runtime starts its threads (see relay/memory.rs).
    crate::relay::memory::limit_arenas();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        let signals = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("signal received: stopping");
            signals.cancel();
        });
        tokio::spawn(crate::relay::memory::trim_when_asked(shutdown.clone()));
        let (reloader, reloads) = reload_channel();
        tokio::spawn(reload_on_sighup(reloader));
        let options = supervisor::RunOptions {
            reload: Some(reloads),
            notifier: Notifier::from_env(),
            state: None,
        };
        supervisor::run_with(config, keys, shutdown, options)
            .await
            .map_err(|e| CliError::Failed(e.to_string()))
    })
}
