//! `arke create client|connection|channel`: the IBC handshakes between the two chains of a pair.
//! Not implemented yet.

use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use super::{duration_arg, CliError, ConfigArg};

/// `arke create …`.
#[derive(Debug, Subcommand)]
pub enum CreateCommand {
    /// Create a light client of the reference chain on the host chain.
    Client(CreateClientArgs),
    /// Create a connection (and its clients when missing) between the two chains.
    Connection(CreateConnectionArgs),
    /// Create a channel between the two chains.
    Channel(CreateChannelArgs),
}

/// `arke create client`.
#[derive(Debug, Args)]
pub struct CreateClientArgs {
    /// The chain pair.
    #[command(flatten)]
    pub config: ConfigArg,
    /// Chain (id or `a`/`b`) that hosts the client.
    #[arg(long)]
    pub host_chain: String,
    /// Chain (id or `a`/`b`) the client tracks.
    #[arg(long)]
    pub reference_chain: String,
    /// Trusting period (default 2/3 of the unbonding period).
    #[arg(long, value_parser = duration_arg)]
    pub trusting_period: Option<Duration>,
    /// Clock drift (default: the config's clock_drift + max_block_time).
    #[arg(long, value_parser = duration_arg)]
    pub clock_drift: Option<Duration>,
    /// Trust threshold, e.g. `2/3`.
    #[arg(long)]
    pub trust_threshold: Option<String>,
}

/// `arke create connection`.
#[derive(Debug, Args)]
pub struct CreateConnectionArgs {
    /// The chain pair.
    #[command(flatten)]
    pub config: ConfigArg,
    /// Connection delay period.
    #[arg(long, value_parser = duration_arg, default_value = "0s")]
    pub delay: Duration,
}

/// Channel ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Ordering {
    /// Packets may be delivered in any order.
    Unordered,
    /// Packets are delivered in sequence order.
    Ordered,
}

/// `arke create channel`.
#[derive(Debug, Args)]
pub struct CreateChannelArgs {
    /// The chain pair.
    #[command(flatten)]
    pub config: ConfigArg,
    /// Port on both ends.
    #[arg(long)]
    pub port: String,
    /// Channel ordering.
    #[arg(long, value_enum, default_value_t = Ordering::Unordered)]
    pub order: Ordering,
    /// Channel version.
    #[arg(long = "version", value_name = "VERSION", default_value = "ics20-1")]
    pub channel_version: String,
    /// Create new clients and a new connection instead of reusing existing ones.
    #[arg(long)]
    pub new_client_connection: bool,
}

/// Runs `arke create …`.
pub fn run(cmd: CreateCommand) -> Result<(), CliError> {
    Err(CliError::NotImplemented(match cmd {
        CreateCommand::Client(_) => "create client",
        CreateCommand::Connection(_) => "create connection",
        CreateCommand::Channel(_) => "create channel",
    }))
}
