//! `arke devnet`: run one devnet chain (see the `devnet` crate) until SIGTERM or SIGINT.
//!
//! Settings come from flags, from a TOML file given with `--config` (the same names in
//! snake_case: `chain_id`, `rpc_addr`, `grpc_addr`, `block_time`, `data_dir`, `genesis_account`,
//! `bech32_prefix`, `denom`, `min_gas_price`, `max_block_gas`, `max_block_bytes`), or both: a flag
//! overrides the file's key, and `--genesis-account` flags replace the file's list. Relative paths
//! in the file are relative to the file's directory. Problems in the file are reported with the
//! file, line and key, like the relayer's config file; problems with flags name the flag.
//! `--tls-cert`, `--tls-key`, `--rpc-latency` and `--admin-addr` are flags only.
//!
//! A genesis account is `NAME=MNEMONIC_FILE:AMOUNT`, where the file holds a BIP-39 mnemonic
//! (derived on the Cosmos HD path `m/44'/118'/0'/0/0`) and `AMOUNT` is `1000stake`, a bare number
//! (in `denom`), or a comma-separated list of coins. The mnemonic is never printed.
//!
//! Once the chain is up, the command prints its chain id, RPC, websocket and gRPC URLs and each
//! funded account as `NAME ADDRESS AMOUNT` on stdout, then runs until SIGTERM or SIGINT, stops
//! the node cleanly and exits 0.
//!
//! The flags are here with the banner and the run loop; `settings.rs` merges flags and file
//! into a [`DevnetConfig`](devnet::DevnetConfig), `values.rs` parses the single values.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use cosmos::coin::coins_string;
use devnet::Devnet;

use super::{duration_arg, CliError};
use crate::config::format_duration;

mod settings;
mod values;

pub use settings::build_config;

/// Default JSON-RPC listen address.
pub const DEFAULT_RPC_ADDR: &str = "127.0.0.1:26657";
/// Default gRPC listen address.
pub const DEFAULT_GRPC_ADDR: &str = "127.0.0.1:9090";
/// Default block time.
pub const DEFAULT_BLOCK_TIME: Duration = Duration::from_secs(1);

/// `arke devnet --chain-id ID [--rpc-addr ADDR] [--grpc-addr ADDR|none] [--block-time D]
/// [--data-dir DIR] [--genesis-account NAME=MNEMONIC_FILE:AMOUNT]… [--config FILE]`.
#[derive(Debug, Args)]
pub struct DevnetArgs {
    /// TOML file with the same settings as the flags, in snake_case (`chain_id = "devnet-1"`,
    /// `genesis_account = ["relayer=relayer.mnemonic:1000000stake"]`, …). Flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Chain id; a `-N` suffix is the revision number (`devnet-1` → revision 1).
    #[arg(long, value_name = "ID")]
    pub chain_id: Option<String>,
    /// JSON-RPC (HTTP and websocket) listen address; port 0 picks a free port.
    /// [default: 127.0.0.1:26657]
    #[arg(long, value_name = "HOST:PORT")]
    pub rpc_addr: Option<String>,
    /// gRPC listen address, or `none` to serve no gRPC. [default: 127.0.0.1:9090]
    #[arg(long, value_name = "HOST:PORT|none")]
    pub grpc_addr: Option<String>,
    /// Time between blocks, e.g. `1s` or `200ms`. [default: 1s]
    #[arg(long, value_name = "DURATION", value_parser = duration_arg)]
    pub block_time: Option<Duration>,
    /// Keep the chain's state here and resume from it on the next start (default: in memory).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// A funded genesis account: `NAME=MNEMONIC_FILE:AMOUNT` (AMOUNT like `1000000stake`, or a
    /// bare number in `--denom`). Repeat for more accounts.
    #[arg(long = "genesis-account", value_name = "NAME=MNEMONIC_FILE:AMOUNT")]
    pub genesis_accounts: Vec<String>,
    /// Bech32 prefix of account addresses. [default: cosmos]
    #[arg(long, value_name = "PREFIX")]
    pub bech32_prefix: Option<String>,
    /// Staking and fee denom. [default: stake]
    #[arg(long, value_name = "DENOM")]
    pub denom: Option<String>,
    /// Minimum gas price, in `denom` per unit of gas (`0.025` or `0.025stake`). [default: 0]
    #[arg(long, value_name = "PRICE")]
    pub min_gas_price: Option<String>,
    /// Block capacity in gas (sum of the txs' gas limits).
    #[arg(long, value_name = "GAS")]
    pub max_block_gas: Option<u64>,
    /// Block capacity in bytes (sum of the txs' sizes).
    #[arg(long, value_name = "BYTES")]
    pub max_block_bytes: Option<u64>,
    /// Mempool bound: most txs, optionally with most bytes (`5000` or `5000,1073741824`); a full
    /// mempool refuses txs with CometBFT's error. [default: 5000,1073741824]
    #[arg(long, value_name = "TXS[,BYTES]")]
    pub mempool_size: Option<String>,
    /// Run an EIP-1559 fee market: a base gas price (floor 0.005, cap 10) that blocks above half
    /// of 30 000 000 gas raise by up to 12.5 % and emptier blocks lower; CheckTx refuses txs
    /// paying below it (sdk 13).
    #[arg(long)]
    pub fee_market: bool,
    /// Run without a tx index, as CometBFT's `indexer = "null"`: `tx`, `tx_search` and
    /// `block_search` answer with its errors.
    #[arg(long)]
    pub no_tx_index: bool,
    /// Serve only the latest N blocks over RPC, as a pruning node (0 = all). [default: 0]
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retain_blocks: u64,
    /// Validators that sign every block (equal power, 1 to 100). [default: 1]
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub validators: u32,
    /// Every K blocks, replace all but a third of the validators (so the ones that stay hold at
    /// most 1/3 of the old power and a light client must bisect across the change; 0 = never).
    /// [default: 0]
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub rotate_every: u64,
    /// Send an ICS-20 transfer from FinalizeBlock every N blocks:
    /// `N:ACCOUNT:PORT/CHANNEL:AMOUNT[:RECEIVER]` (ACCOUNT a genesis account name, AMOUNT like
    /// `100stake`; RECEIVER defaults to the sender's address).
    #[arg(long, value_name = "N:ACCOUNT:PORT/CHANNEL:AMOUNT[:RECEIVER]")]
    pub finalize_block_transfer: Option<String>,
    /// Serve the RPC (HTTP and websocket) and gRPC over TLS with this PEM certificate chain
    /// (`https://`, `wss://`); needs `--tls-key`.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of `--tls-cert`.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Delay every RPC, websocket and gRPC answer by this much, as a node far away would
    /// (e.g. `50ms`). [default: none]
    #[arg(long, value_name = "DURATION", value_parser = duration_arg)]
    pub rpc_latency: Option<Duration>,
    /// Serve the fault switches (pause blocks, RPC errors, drop websockets, …) over HTTP on this
    /// loopback address; port 0 picks a free port. [default: off]
    #[arg(long, value_name = "HOST:PORT")]
    pub admin_addr: Option<String>,
}

/// The lines printed once the chain is up.
fn banner(devnet: &Devnet) -> Vec<String> {
    let config = devnet.config();
    let mut lines = vec![
        format!("{:<12}{}", "chain id:", devnet.chain_id()),
        format!("{:<12}{}", "rpc:", devnet.rpc_url()),
        format!("{:<12}{}", "websocket:", devnet.websocket_url()),
        format!(
            "{:<12}{}",
            "grpc:",
            devnet.grpc_url().unwrap_or_else(|| "off".to_string())
        ),
        format!(
            "{:<12}{}",
            "block time:",
            format_duration(config.block_time)
        ),
        format!(
            "{:<12}{}",
            "data dir:",
            config.data_dir.as_ref().map_or_else(
                || "none (state in memory)".to_string(),
                |d| d.display().to_string()
            )
        ),
        format!("{:<12}{}", "height:", devnet.node().latest_height()),
    ];
    if let Some(admin) = devnet.admin_url() {
        lines.push(format!("{:<12}{admin}", "admin:"));
    }
    lines.push(format!("accounts:   {}", config.accounts.len()));
    for account in &config.accounts {
        lines.push(format!(
            "  {} {} {}",
            account.name,
            account.key.address(&config.bech32_prefix),
            coins_string(&account.coins)
        ));
    }
    lines
}

/// Signal streams registered before the chain starts, so a signal that arrives as soon as the
/// URLs are printed is handled rather than killing the process.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn register() -> Result<Self, CliError> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let fail = |e: std::io::Error| {
                CliError::Failed(format!("cannot install the signal handlers: {e}"))
            };
            Ok(Self {
                term: signal(SignalKind::terminate()).map_err(fail)?,
                int: signal(SignalKind::interrupt()).map_err(fail)?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// Resolves on the first SIGTERM or SIGINT; returns its name.
    async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "ctrl-c"
        }
    }
}

/// Runs `arke devnet`.
pub fn run(args: DevnetArgs) -> Result<(), CliError> {
    let config = build_config(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        let mut signals = Signals::register()?;
        let grpc = config.grpc_addr;
        let mut devnet = Devnet::start(config).await.map_err(|e| {
            let mut message = format!("cannot start the devnet: {e}");
            if let (Some(addr), devnet::launch::DevnetError::Bind { addr: failed, .. }) = (grpc, &e)
            {
                if addr == *failed {
                    message.push_str(
                        "\n(pass --grpc-addr none to run without gRPC, or another --grpc-addr)",
                    );
                }
            }
            CliError::Failed(message)
        })?;
        for line in banner(&devnet) {
            println!("{line}");
        }
        tracing::info!(
            chain_id = devnet.chain_id(),
            rpc = %devnet.rpc_url(),
            "devnet running; stop with SIGTERM or SIGINT"
        );
        let signal = signals.recv().await;
        tracing::info!(signal, "stopping the devnet");
        devnet.stop().await;
        let height = devnet.node().latest_height();
        drop(devnet);
        println!("stopped at height {height}");
        Ok(())
    })
}

#[cfg(test)]
mod tests;
