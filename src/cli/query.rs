//! `arke query pending|channels|client`: what is pending and the state of channels and
//! clients. Not implemented yet.

use clap::{Args, Subcommand};

use super::{CliError, ConfigArg};

/// `arke query …`.
#[derive(Debug, Subcommand)]
pub enum QueryCommand {
    /// Unreceived packets and unrelayed acknowledgements, both directions.
    Pending(PendingArgs),
    /// Channels between the two chains.
    Channels(ChannelsArgs),
    /// A client's height, trusting period and time left before expiry.
    Client(ClientArgs),
}

/// `arke query pending`.
#[derive(Debug, Args)]
pub struct PendingArgs {
    /// The chain pair.
    #[command(flatten)]
    pub config: ConfigArg,
    /// Only this channel.
    #[arg(long)]
    pub channel: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `arke query channels`.
#[derive(Debug, Args)]
pub struct ChannelsArgs {
    /// The chain pair.
    #[command(flatten)]
    pub config: ConfigArg,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `arke query client`.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The chain pair.
    #[command(flatten)]
    pub config: ConfigArg,
    /// Host chain (id or `a`/`b`).
    #[arg(long)]
    pub chain: String,
    /// Client id, e.g. `07-tendermint-0`.
    #[arg(long)]
    pub client: String,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Runs `arke query …`.
pub fn run(cmd: QueryCommand) -> Result<(), CliError> {
    Err(CliError::NotImplemented(match cmd {
        QueryCommand::Pending(_) => "query pending",
        QueryCommand::Channels(_) => "query channels",
        QueryCommand::Client(_) => "query client",
    }))
}
