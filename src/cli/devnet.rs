//! `arke devnet …`: run a devnet chain from the command line. The arguments are passed through
//! untouched until the devnet's own options are settled. Not implemented yet.

use clap::Args;

use super::CliError;

/// `arke devnet [ARGS…]`.
#[derive(Debug, Args)]
pub struct DevnetArgs {
    /// Arguments for the devnet.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// Runs `arke devnet`.
pub fn run(_args: DevnetArgs) -> Result<(), CliError> {
    Err(CliError::NotImplemented("devnet"))
}
