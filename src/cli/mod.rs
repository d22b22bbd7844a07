//! The `arke` command line: argument definitions (clap derive), dispatch to one module per
//! command family (logging is set up by `logging`, printing shared in `output` and `json`), and
//! the error type that `main` turns into `error: …` lines and an exit code (1 for failures, 2
//! for commands not implemented yet).

pub(crate) mod clear;
pub(crate) mod completions;
pub(crate) mod config_cmd;
pub(crate) mod create;
#[cfg(feature = "devnet")]
pub(crate) mod demo;
#[cfg(feature = "devnet")]
pub(crate) mod devnet;
pub(crate) mod health;
pub(crate) mod json;
pub(crate) mod keys;
pub(crate) mod logging;
pub(crate) mod output;
pub(crate) mod query;
pub(crate) mod start;
pub(crate) mod tx;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{parse_duration, ConfigError};
use crate::tx::keys::KeyError;

/// Arke: a tokio-native IBC relayer daemon.
#[derive(Debug, Parser)]
#[command(name = "arke", version, about)]
pub(crate) struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "ARKE_LOG_FORMAT")]
    pub(crate) log_format: LogFormat,
    /// Log filter, e.g. `info` or `arke=debug,reqwest=warn` (default: RUST_LOG, else `info` for
    /// long-running commands and `warn` for the others).
    #[arg(long, global = true)]
    pub(crate) log_level: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Top-level commands.
// Parsed once per process; `arke devnet`'s many flags make its variant the largest, and boxing
// it would only add an indirection to a value that lives for one `match`.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the relayer daemon for one chain pair.
    Start(start::StartArgs),
    /// Start two devnet chains in-process and relay transfers between them.
    #[cfg(feature = "devnet")]
    Demo(demo::DemoArgs),
    /// Run a devnet chain.
    #[cfg(feature = "devnet")]
    Devnet(devnet::DevnetArgs),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Create IBC clients, connections and channels.
    #[command(subcommand)]
    Create(create::CreateCommand),
    /// Send transactions.
    #[command(subcommand)]
    Tx(tx::TxCommand),
    /// Query chains.
    #[command(subcommand)]
    Query(query::QueryCommand),
    /// Relay everything pending once and exit.
    Clear(clear::ClearArgs),
    /// Check config files.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Ask a running daemon's /health endpoint (exit 0 when healthy).
    Health(health::HealthArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
}

/// `--config FILE`, shared by many commands.
#[derive(Debug, Clone, Args)]
pub(crate) struct ConfigArg {
    /// Chain-pair config file.
    #[arg(long, short = 'c', value_name = "FILE", env = "ARKE_CONFIG")]
    pub(crate) config: PathBuf,
}

/// Parses a human duration argument (`10s`, `500ms`, `14days`).
pub(crate) fn duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s)
}

/// Parses a timeout argument: a bare number of seconds (`600`, as Hermes takes it) or a human
/// duration (`10min`, `90s`, `1h 30min`).
pub(crate) fn seconds_or_duration_arg(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse::<u64>().map(Duration::from_secs).map_err(|_| {
            format!("{t} seconds is too large; give a number of seconds (e.g. 600) or a duration (e.g. 10min)")
        });
    }
    if t.contains('.') {
        return Err(format!(
            "{t:?}: fractions are not accepted; give whole seconds (e.g. 600) or a duration in a smaller unit (e.g. 1500ms)"
        ));
    }
    parse_duration(t).map_err(|e| {
        format!("{e}; give a number of seconds (e.g. 600) or a duration (e.g. 10min, 90s)")
    })
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// A config file is invalid.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// A key store operation failed.
    #[error("{0}")]
    Key(#[from] KeyError),
    /// Some items failed; each was already reported.
    #[error("{0}")]
    Partial(String),
    /// Anything else, already phrased for the operator.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// The process exit code for this error.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CliError::Config(_) | CliError::Key(_) | CliError::Partial(_) | CliError::Failed(_) => {
                1
            }
        }
    }
}

impl Command {
    fn default_log_level(&self) -> &'static str {
        match self {
            Command::Start(_) => "info",
            #[cfg(feature = "devnet")]
            Command::Devnet(_) => "info",
            _ => "warn",
        }
    }
}

/// Runs the parsed command.
pub(crate) fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Start(args) => start::run(args),
        #[cfg(feature = "devnet")]
        Command::Demo(args) => demo::run(args),
        #[cfg(feature = "devnet")]
        Command::Devnet(args) => devnet::run(args),
        Command::Keys(cmd) => keys::run(cmd),
        Command::Create(cmd) => create::run(cmd),
        Command::Tx(cmd) => tx::run(cmd),
        Command::Query(cmd) => query::run(cmd),
        Command::Clear(args) => clear::run(args),
        Command::Config(cmd) => config_cmd::run(cmd),
        Command::Health(args) => health::run(args),
        Command::Completions(args) => completions::run(args),
    }
}

/// Prints `error: …` lines for `err` on stderr and returns its exit code.
pub(crate) fn report(err: &CliError) -> ExitCode {
    for line in err.to_string().lines() {
        eprintln!("error: {line}");
    }
    ExitCode::from(err.exit_code())
}

/// Parses the command line, sets up logging, runs the command and reports any error.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = cli.command.default_log_level();
    if let Err(e) = logging::init(cli.log_format, cli.log_level.as_deref(), default_level) {
        return report(&e);
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_representative_commands() {
        for args in [
            &["arke", "start", "--config", "p.toml"][..],
            &[
                "arke",
                "--log-format",
                "json",
                "config",
                "validate",
                "p.toml",
            ],
            &[
                "arke",
                "keys",
                "add",
                "k",
                "--mnemonic-file",
                "m.txt",
                "--hd-path",
                "m/44'/118'/0'/0/1",
            ],
            &["arke", "keys", "list", "--key-store", "/tmp/k"],
            &["arke", "keys", "delete", "k"],
            &[
                "arke", "create", "channel", "--config", "p.toml", "--port", "transfer", "--order",
                "ordered",
            ],
            &[
                "arke",
                "tx",
                "transfer",
                "--config",
                "p.toml",
                "--from-chain",
                "a",
                "--channel",
                "channel-0",
                "--amount",
                "100stake",
                "--to",
                "cosmos1x",
                "--count",
                "5",
                "--timeout-seconds",
                "30s",
            ],
            &["arke", "query", "pending", "--config", "p.toml", "--json"],
            &[
                "arke",
                "clear",
                "--config",
                "p.toml",
                "--channel",
                "channel-0",
            ],
        ] {
            if let Err(e) = Cli::try_parse_from(args) {
                panic!("{args:?}: {e}");
            }
        }
    }

    #[cfg(feature = "devnet")]
    #[test]
    fn parses_devnet_commands() {
        for args in [
            &["arke", "demo", "--packets", "50", "--block-time", "200ms"][..],
            &[
                "arke",
                "devnet",
                "--chain-id",
                "x",
                "--rpc-addr",
                "127.0.0.1:26657",
            ],
        ] {
            if let Err(e) = Cli::try_parse_from(args) {
                panic!("{args:?}: {e}");
            }
        }
    }

    #[test]
    fn failures_exit_1() {
        assert_eq!(CliError::Failed("x".into()).exit_code(), 1);
    }

    #[test]
    fn timeouts_take_seconds_or_durations() {
        let ok = |s: &str| seconds_or_duration_arg(s).unwrap();
        assert_eq!(ok("600"), Duration::from_secs(600));
        assert_eq!(ok(" 0 "), Duration::ZERO);
        assert_eq!(ok("10min"), Duration::from_secs(600));
        assert_eq!(ok("1h 30min"), Duration::from_secs(5_400));
        assert_eq!(ok("1500ms"), Duration::from_millis(1_500));
        for bad in [
            "",
            "-5",
            "1.5",
            "1.5s",
            "ten",
            "10 parsecs",
            "99999999999999999999999",
        ] {
            let e = seconds_or_duration_arg(bad).unwrap_err();
            assert!(e.contains("seconds (e.g. 600)"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn json_on_every_query_and_on_keys_list() {
        let cmd = Cli::command();
        let query = cmd.find_subcommand("query").unwrap();
        let mut n = 0;
        for sub in query.get_subcommands() {
            assert!(
                sub.get_arguments().any(|a| a.get_long() == Some("json")),
                "arke query {} has no --json",
                sub.get_name()
            );
            n += 1;
        }
        assert!(n >= 3);
        let list = cmd
            .find_subcommand("keys")
            .and_then(|k| k.find_subcommand("list"))
            .unwrap();
        assert!(list.get_arguments().any(|a| a.get_long() == Some("json")));
    }
}
