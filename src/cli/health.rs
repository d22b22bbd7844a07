//! `arke health`: asks a running daemon's `/health` endpoint and exits 0 when it answers 200,
//! 1 otherwise, so container health checks need no curl in the image.

use std::time::Duration;

use clap::Args;

use super::{duration_arg, CliError};
use crate::telemetry::server::ask_health;

/// `arke health [--url URL] [--timeout 5s]`.
#[derive(Debug, Args)]
pub(crate) struct HealthArgs {
    /// The daemon's health endpoint.
    #[arg(long, default_value = "http://127.0.0.1:3001/health")]
    pub(crate) url: String,
    /// How long to wait for the answer.
    #[arg(long, default_value = "5s", value_parser = duration_arg)]
    pub(crate) timeout: Duration,
}

/// Runs `arke health`.
pub(crate) fn run(args: HealthArgs) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the async runtime: {e}")))?;
    let answer = runtime
        .block_on(ask_health(&args.url, args.timeout))
        .map_err(|e| CliError::Failed(e.to_string()))?;
    if answer.status.is_success() {
        println!("{}", answer.body);
        Ok(())
    } else {
        Err(CliError::Failed(format!(
            "{}: HTTP {}: {}",
            args.url, answer.status, answer.body
        )))
    }
}
