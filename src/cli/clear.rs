//! `arke clear`: relay everything pending on a pair (or one channel) once, then exit.
//! Not implemented yet.

use clap::Args;

use super::{CliError, ConfigArg};

/// `arke clear --config FILE [--channel C]`.
#[derive(Debug, Args)]
pub struct ClearArgs {
    /// The chain pair.
    #[command(flatten)]
    pub config: ConfigArg,
    /// Only this channel.
    #[arg(long)]
    pub channel: Option<String>,
}

/// Runs `arke clear`.
pub fn run(_args: ClearArgs) -> Result<(), CliError> {
    Err(CliError::NotImplemented("clear"))
}
