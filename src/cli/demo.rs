//! `arke demo`: two in-process devnet chains, a channel between them, the relayer daemon, and
//! N transfers each way with live progress and a summary (see [`crate::demo`]).

use std::time::Duration;

use clap::Args;

use super::{duration_arg, CliError};
use crate::demo::{self, DemoOptions};

/// `arke demo [--packets N] [--block-time D] [--keep-running]`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Transfers to send each way.
    #[arg(long, default_value_t = 100)]
    pub(crate) packets: u32,
    /// Block time of the devnet chains.
    #[arg(long, value_parser = duration_arg, default_value = "1s")]
    pub(crate) block_time: Duration,
    /// Leave the chains and the relayer running and print their URLs and a config file.
    #[arg(long)]
    pub(crate) keep_running: bool,
    /// Give up when the packets have not completed after this long.
    #[arg(long, value_parser = duration_arg, default_value = "10m")]
    pub(crate) deadline: Duration,
}

/// Runs `arke demo`: exit 0 only when every packet was received and acknowledged.
pub(crate) fn run(args: DemoArgs) -> Result<(), CliError> {
    if args.block_time.is_zero() {
        return Err(CliError::Failed("--block-time must be above zero".into()));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the async runtime: {e}")))?;
    let summary = runtime
        .block_on(demo::run(DemoOptions {
            packets: args.packets as usize,
            block_time: args.block_time,
            keep_running: args.keep_running,
            deadline: args.deadline,
        }))
        .map_err(|e| CliError::Failed(format!("demo: {e}")))?;
    if summary.complete() {
        Ok(())
    } else {
        Err(CliError::Failed(
            "demo: not every packet was received and acknowledged".into(),
        ))
    }
}
