//! `arke config validate FILE`: parse and check a pair config without starting anything.

use std::path::PathBuf;

use clap::Subcommand;

use super::CliError;
use crate::config::Config;

/// `arke config …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Check a config file; prints `ok` or every problem found, with file, line and key
    /// (warnings about keys without effect go to stderr as `warning: …`).
    Validate {
        /// The config file.
        file: PathBuf,
    },
}

/// Runs `arke config …`.
pub(crate) fn run(cmd: ConfigCommand) -> Result<(), CliError> {
    match cmd {
        ConfigCommand::Validate { file } => {
            let config = Config::load(&file)?;
            for line in config.warning_lines() {
                eprintln!("warning: {line}");
            }
            println!("ok");
            Ok(())
        }
    }
}
