//! `arke start`: run the relayer daemon for one chain pair (supervisor, channel workers,
//! graceful shutdown). The config is loaded and validated here; the daemon itself is not
//! implemented yet.

use clap::Args;

use super::{CliError, ConfigArg};
use crate::config::Config;

/// `arke start --config FILE`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// The chain pair.
    #[command(flatten)]
    pub config: ConfigArg,
}

/// Runs `arke start`.
pub fn run(args: StartArgs) -> Result<(), CliError> {
    let config = Config::load(&args.config.config)?;
    tracing::debug!(a = %config.chains.a.id, b = %config.chains.b.id, "config loaded");
    Err(CliError::NotImplemented("start"))
}
