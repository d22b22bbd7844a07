//! `arke tx transfer`: ICS-20 transfers for testing and benchmarks. Not implemented yet.

use std::time::Duration;

use clap::{Args, Subcommand};

use super::{duration_arg, CliError, ConfigArg};

/// `arke tx …`.
#[derive(Debug, Subcommand)]
pub enum TxCommand {
    /// Send ICS-20 transfers.
    Transfer(TransferArgs),
}

/// `arke tx transfer`.
#[derive(Debug, Args)]
pub struct TransferArgs {
    /// The chain pair.
    #[command(flatten)]
    pub config: ConfigArg,
    /// Sending chain (id or `a`/`b`).
    #[arg(long)]
    pub from_chain: String,
    /// Source channel on the sending chain.
    #[arg(long)]
    pub channel: String,
    /// Amount with denom, e.g. `100stake`.
    #[arg(long)]
    pub amount: String,
    /// Receiver address on the other chain.
    #[arg(long)]
    pub to: String,
    /// Number of transfers, packed into as few txs as the limits allow.
    #[arg(long, default_value_t = 1)]
    pub count: u32,
    /// Timeout height offset on the destination.
    #[arg(long)]
    pub timeout_height_offset: Option<u64>,
    /// Timeout after this long.
    #[arg(long, value_parser = duration_arg)]
    pub timeout_seconds: Option<Duration>,
    /// Memo.
    #[arg(long)]
    pub memo: Option<String>,
}

/// Runs `arke tx …`.
pub fn run(cmd: TxCommand) -> Result<(), CliError> {
    match cmd {
        TxCommand::Transfer(_) => Err(CliError::NotImplemented("tx transfer")),
    }
}
