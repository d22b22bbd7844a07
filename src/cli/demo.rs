//! `arke demo`: two in-process devnet chains, a channel between them, the relayer daemon, and
//! N transfers each way with live progress and a summary. Not implemented yet.

use std::time::Duration;

use clap::Args;

use super::{duration_arg, CliError};

/// `arke demo [--packets N] [--block-time D] [--keep-running]`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Transfers to send each way.
    #[arg(long, default_value_t = 100)]
    pub packets: u32,
    /// Block time of the devnet chains.
    #[arg(long, value_parser = duration_arg, default_value = "1s")]
    pub block_time: Duration,
    /// Leave the chains and the relayer running and print their URLs and a config file.
    #[arg(long)]
    pub keep_running: bool,
}

/// Runs `arke demo`.
pub fn run(_args: DemoArgs) -> Result<(), CliError> {
    Err(CliError::NotImplemented("demo"))
}
