//! `arke create client|connection|channel`: the IBC handshakes between the two chains of a pair,
//! run through [`crate::handshake`] with each chain's configured signing key.
//!
//! Each command waits for every step's tx and prints the identifiers it created. Running a
//! command again after it stopped half-way finishes the unfinished handshake instead of starting
//! a new one (see [`crate::handshake::open_connection`] and [`crate::handshake::open_channel`]).
//!
//! This module also holds the small helpers the other chain-facing commands share: the tokio
//! runtime, chain lookup by id or `a`/`b`, and key loading.

use std::future::Future;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use ibc_proto::ibc::core::channel::v1::Order;

use super::{duration_arg, CliError, ConfigArg};
use crate::config::{ChainConfig, Config, TrustThreshold};
use crate::handshake::{
    self, ChannelRequest, ClientOptions, ConnectionChoice, HandshakeError, Pair,
};
use crate::tx::keys::KeyStore;

/// `arke create …`.
#[derive(Debug, Subcommand)]
pub(crate) enum CreateCommand {
    /// Create a light client of the reference chain on the host chain.
    Client(CreateClientArgs),
    /// Create a connection (and its clients when missing) between the two chains.
    Connection(CreateConnectionArgs),
    /// Create a channel between the two chains.
    Channel(CreateChannelArgs),
}

/// Client parameters shared by the commands that create clients.
#[derive(Debug, Clone, Args)]
pub(crate) struct ClientParamArgs {
    /// Trusting period (default: the reference chain's `trusting_period`, else 2/3 of its
    /// unbonding period).
    #[arg(long, value_parser = duration_arg)]
    pub(crate) trusting_period: Option<Duration>,
    /// Max clock drift (default: both chains' clock_drift + the host's max_block_time).
    #[arg(long, value_parser = duration_arg)]
    pub(crate) clock_drift: Option<Duration>,
    /// Trust threshold, e.g. `2/3` (default: the reference chain's `trust_threshold`).
    #[arg(long, value_parser = TrustThreshold::parse)]
    pub(crate) trust_threshold: Option<TrustThreshold>,
}

impl ClientParamArgs {
    fn options(&self) -> ClientOptions {
        ClientOptions {
            trusting_period: self.trusting_period,
            clock_drift: self.clock_drift,
            trust_threshold: self.trust_threshold.map(|t| (t.numerator, t.denominator)),
        }
    }
}

/// `arke create client`.
#[derive(Debug, Args)]
pub(crate) struct CreateClientArgs {
    /// The chain pair.
    #[command(flatten)]
    pub(crate) config: ConfigArg,
    /// Chain (id or `a`/`b`) that hosts the client.
    #[arg(long)]
    pub(crate) host_chain: String,
    /// Chain (id or `a`/`b`) the client tracks.
    #[arg(long)]
    pub(crate) reference_chain: String,
    /// Client parameters.
    #[command(flatten)]
    pub(crate) params: ClientParamArgs,
}

/// `arke create connection`.
#[derive(Debug, Args)]
pub(crate) struct CreateConnectionArgs {
    /// The chain pair.
    #[command(flatten)]
    pub(crate) config: ConfigArg,
    /// Existing client of chain b on chain a (with `--client-b`; default: continue an
    /// unfinished connection handshake, else create both clients).
    #[arg(long, requires = "client_b")]
    pub(crate) client_a: Option<String>,
    /// Existing client of chain a on chain b.
    #[arg(long, requires = "client_a")]
    pub(crate) client_b: Option<String>,
    /// Connection delay period.
    #[arg(long, value_parser = duration_arg, default_value = "0s")]
    pub(crate) delay: Duration,
    /// Parameters of clients created on the way.
    #[command(flatten)]
    pub(crate) params: ClientParamArgs,
}

/// Channel ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Ordering {
    /// Packets may be delivered in any order.
    Unordered,
    /// Packets are delivered in sequence order.
    Ordered,
}

impl Ordering {
    /// The protobuf ordering.
    pub(crate) fn to_proto(self) -> Order {
        match self {
            Ordering::Unordered => Order::Unordered,
            Ordering::Ordered => Order::Ordered,
        }
    }
}

/// `arke create channel`.
#[derive(Debug, Args)]
pub(crate) struct CreateChannelArgs {
    /// The chain pair.
    #[command(flatten)]
    pub(crate) config: ConfigArg,
    /// Port on both ends (see `--port-b`).
    #[arg(long)]
    pub(crate) port: String,
    /// Port on chain b when it differs from `--port`.
    #[arg(long)]
    pub(crate) port_b: Option<String>,
    /// Channel ordering.
    #[arg(long, value_enum, default_value_t = Ordering::Unordered)]
    pub(crate) order: Ordering,
    /// Channel version.
    #[arg(long = "version", value_name = "VERSION", default_value = "ics20-1")]
    pub(crate) channel_version: String,
    /// Create new clients and a new connection instead of reusing existing ones.
    #[arg(long, conflicts_with = "connection_a")]
    pub(crate) new_client_connection: bool,
    /// Open the channel on this (open) connection of chain a. Default: the connection of an
    /// unfinished channel or connection handshake, else an open connection between the pair,
    /// else new clients and a new connection.
    #[arg(long)]
    pub(crate) connection_a: Option<String>,
    /// Connection delay period, when a connection is created.
    #[arg(long, value_parser = duration_arg, default_value = "0s")]
    pub(crate) delay: Duration,
    /// Parameters of clients created on the way.
    #[command(flatten)]
    pub(crate) params: ClientParamArgs,
}

/// Runs `arke create …`.
pub(crate) fn run(cmd: CreateCommand) -> Result<(), CliError> {
    match cmd {
        CreateCommand::Client(args) => create_client(args),
        CreateCommand::Connection(args) => create_connection(args),
        CreateCommand::Channel(args) => create_channel(args),
    }
}

// ───────────────────────────── shared helpers ─────────────────────────────

/// Runs `f` to completion on a fresh multi-threaded tokio runtime.
pub(crate) fn block_on<F: Future>(f: F) -> Result<F::Output, CliError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the async runtime: {e}")))?;
    Ok(rt.block_on(f))
}

/// The chain of `config` named `name` (its id, or `a`/`b`).
pub(crate) fn chain<'c>(config: &'c Config, name: &str) -> Result<&'c ChainConfig, CliError> {
    config.chains.get(name).ok_or_else(|| {
        CliError::Failed(format!(
            "{}: no chain {name:?} (the pair is {:?} (a) and {:?} (b))",
            config.path.display(),
            config.chains.a.id,
            config.chains.b.id
        ))
    })
}

/// The other chain of the pair.
pub(crate) fn other<'c>(config: &'c Config, chain: &ChainConfig) -> &'c ChainConfig {
    if chain.label == config.chains.a.label {
        &config.chains.b
    } else {
        &config.chains.a
    }
}

/// The signing key `config` names for its chain, from its key store.
pub(crate) fn load_key(config: &ChainConfig) -> Result<cosmos::AccountKey, CliError> {
    let key = KeyStore::new(&config.key_store_folder)
        .load(&config.key_name)
        .map_err(|e| {
            CliError::Failed(format!(
                "{}: cannot load signing key {:?}: {e}",
                config.id, config.key_name
            ))
        })?;
    Ok(key.account_key().clone())
}

fn failed(e: HandshakeError) -> CliError {
    CliError::Failed(e.to_string())
}

/// Starts TxEngines on both chains with their configured keys.
fn open_pair(config: &Config) -> Result<Pair, CliError> {
    let key_a = load_key(&config.chains.a)?;
    let key_b = load_key(&config.chains.b)?;
    Pair::new(&config.chains.a, key_a, &config.chains.b, key_b).map_err(failed)
}

fn fmt_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_nanos() != 0 || secs == 0 {
        format!("{}ms", d.as_millis())
    } else if secs.is_multiple_of(86_400) {
        format!("{}days", secs / 86_400)
    } else if secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else {
        format!("{secs}s")
    }
}

// ───────────────────────────── commands ─────────────────────────────

fn create_client(args: CreateClientArgs) -> Result<(), CliError> {
    let config = Config::load(&args.config.config)?;
    let host = chain(&config, &args.host_chain)?.clone();
    let reference = chain(&config, &args.reference_chain)?.clone();
    if host.id == reference.id {
        return Err(CliError::Failed(format!(
            "--host-chain and --reference-chain are both {}",
            host.id
        )));
    }
    let host_key = load_key(&host)?;
    // Only the host signs; the reference chain's engine is never asked to, so its key may be
    // absent from this machine.
    let reference_key = load_key(&reference).unwrap_or_else(|_| host_key.clone());
    let options = args.params.options();
    block_on(async move {
        let pair = Pair::new(&host, host_key, &reference, reference_key).map_err(failed)?;
        let result = async {
            let settings = handshake::client_settings(&pair.a, &pair.b, &options).await?;
            let id = handshake::create_client(&pair.a, &pair.b, &options).await?;
            Ok::<_, HandshakeError>((id, settings))
        }
        .await;
        pair.shutdown().await;
        let (id, settings) = result.map_err(failed)?;
        println!(
            "created client {id} on {} tracking {} (trusting period {}, max clock drift {}, trust threshold {}/{})",
            host.id,
            reference.id,
            fmt_duration(settings.trusting_period),
            fmt_duration(settings.clock_drift),
            settings.trust_threshold.0,
            settings.trust_threshold.1
        );
        Ok(())
    })?
}

fn create_connection(args: CreateConnectionArgs) -> Result<(), CliError> {
    let config = Config::load(&args.config.config)?;
    let options = args.params.options();
    block_on(async move {
        let pair = open_pair(&config)?;
        let result = async {
            let (a, b) = (&pair.a, &pair.b);
            let clients = match (args.client_a, args.client_b) {
                (Some(ca), Some(cb)) => Some((ca, cb)),
                _ => handshake::find_unfinished_connection(&a.querier, &b.querier).await?,
            };
            let (client_a, client_b) = match clients {
                Some(c) => c,
                None => {
                    let ca = handshake::create_client(a, b, &options).await?;
                    println!("created client {ca} on {} tracking {}", a.id(), b.id());
                    let cb = handshake::create_client(b, a, &options).await?;
                    println!("created client {cb} on {} tracking {}", b.id(), a.id());
                    (ca, cb)
                }
            };
            handshake::open_connection(a, b, &client_a, &client_b, args.delay).await
        }
        .await;
        pair.shutdown().await;
        let opened = result.map_err(failed)?;
        if let Some(from) = &opened.resumed_from {
            println!("continued an unfinished handshake ({from})");
        }
        let e = &opened.ends;
        println!(
            "connection open: {} {} (client {}) <-> {} {} (client {})",
            config.chains.a.id,
            e.connection_a,
            e.client_a,
            config.chains.b.id,
            e.connection_b,
            e.client_b
        );
        Ok(())
    })?
}

fn create_channel(args: CreateChannelArgs) -> Result<(), CliError> {
    let config = Config::load(&args.config.config)?;
    let options = args.params.options();
    let request = ChannelRequest {
        port_a: args.port.clone(),
        port_b: args.port_b.clone().unwrap_or_else(|| args.port.clone()),
        ordering: args.order.to_proto(),
        version: args.channel_version.clone(),
    };
    let choice = match (&args.connection_a, args.new_client_connection) {
        (Some(id), _) => ConnectionChoice::Existing(id.clone()),
        (None, true) => ConnectionChoice::New,
        (None, false) => ConnectionChoice::Any,
    };
    block_on(async move {
        let pair = open_pair(&config)?;
        let result =
            handshake::ensure_channel(&pair.a, &pair.b, &request, &choice, &options, args.delay)
                .await;
        pair.shutdown().await;
        let opened = result.map_err(|e| {
            let hint = if choice == ConnectionChoice::New {
                "\nrun the command again without --new-client-connection to finish what was created"
            } else {
                "\nrun the command again to finish the handshake"
            };
            CliError::Failed(format!("{e}{hint}"))
        })?;
        if let Some(from) = &opened.resumed_from {
            println!("continued an unfinished handshake ({from})");
        }
        let e = &opened.ends;
        let c = &e.connection;
        println!(
            "channel open: {} {}/{} <-> {} {}/{}",
            config.chains.a.id, e.port_a, e.channel_a, config.chains.b.id, e.port_b, e.channel_b
        );
        println!(
            "  connection: {} <-> {}\n  clients:    {} <-> {}",
            c.connection_a, c.connection_b, c.client_a, c.client_b
        );
        Ok(())
    })?
}
