//! `arke devnet`: run one devnet chain (see the `devnet` crate) until SIGTERM or SIGINT.
//!
//! Settings come from flags, from a TOML file given with `--config` (the same names in
//! snake_case: `chain_id`, `rpc_addr`, `grpc_addr`, `block_time`, `data_dir`, `genesis_account`,
//! `bech32_prefix`, `denom`, `min_gas_price`, `max_block_gas`, `max_block_bytes`), or both: a flag
//! overrides the file's key, and `--genesis-account` flags replace the file's list. Relative paths
//! in the file are relative to the file's directory. Problems in the file are reported with the
//! file, line and key, like the relayer's config file; problems with flags name the flag.
//!
//! A genesis account is `NAME=MNEMONIC_FILE:AMOUNT`, where the file holds a BIP-39 mnemonic
//! (derived on the Cosmos HD path `m/44'/118'/0'/0/0`) and `AMOUNT` is `1000stake`, a bare number
//! (in `denom`), or a comma-separated list of coins. The mnemonic is never printed.
//!
//! Once the chain is up, the command prints its chain id, RPC, websocket and gRPC URLs and each
//! funded account as `NAME ADDRESS AMOUNT` on stdout, then runs until SIGTERM or SIGINT, stops
//! the node cleanly and exits 0.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use cosmos::coin::{coins_string, parse_coins, parse_denom};
use cosmos::{AccountKey, COSMOS_HD_PATH};
use devnet::{Devnet, DevnetConfig, GenesisAccount};
use serde::Deserialize;

use super::{duration_arg, CliError};
use crate::config::source::{key_on_line, line_col};
use crate::config::{format_duration, parse_duration, resolve_path, ConfigError, ConfigIssue};

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
    /// Run without a tx index, as CometBFT's `indexer = "null"`: `tx`, `tx_search` and
    /// `block_search` answer with its errors.
    #[arg(long)]
    pub no_tx_index: bool,
    /// Serve only the latest N blocks over RPC, as a pruning node (0 = all). [default: 0]
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retain_blocks: u64,
    /// Send an ICS-20 transfer from FinalizeBlock every N blocks:
    /// `N:ACCOUNT:PORT/CHANNEL:AMOUNT[:RECEIVER]` (ACCOUNT a genesis account name, AMOUNT like
    /// `100stake`; RECEIVER defaults to the sender's address).
    #[arg(long, value_name = "N:ACCOUNT:PORT/CHANNEL:AMOUNT[:RECEIVER]")]
    pub finalize_block_transfer: Option<String>,
}

/// Parses `--finalize-block-transfer` against the genesis accounts.
fn parse_finalize_block_transfer(
    text: &str,
    config: &DevnetConfig,
) -> Result<devnet::finalize_block::PeriodicTransfer, String> {
    let usage = "expected N:ACCOUNT:PORT/CHANNEL:AMOUNT[:RECEIVER]";
    let parts: Vec<&str> = text.split(':').collect();
    let (every, account, route, amount, receiver) = match parts.as_slice() {
        [n, a, r, m] => (*n, *a, *r, *m, None),
        [n, a, r, m, to] => (*n, *a, *r, *m, Some(*to)),
        _ => return Err(format!("{text:?}: {usage}")),
    };
    let every_n_blocks: u64 =
        every.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            format!("{every:?}: the period must be a number of blocks above zero")
        })?;
    let sender = config
        .accounts
        .iter()
        .find(|a| a.name == account)
        .map(|a| a.key.address(&config.bech32_prefix))
        .ok_or_else(|| format!("{account:?} is not a genesis account"))?;
    let (port, channel) = route
        .split_once('/')
        .ok_or_else(|| format!("{route:?}: {usage}"))?;
    let coins = parse_coins(amount, &config.denom).map_err(|e| e.to_string())?;
    let coin = match coins.as_slice() {
        [c] => c.clone(),
        _ => return Err(format!("{amount:?}: one amount, like 100stake")),
    };
    Ok(devnet::finalize_block::PeriodicTransfer {
        every_n_blocks,
        transfer: devnet::finalize_block::BlockTransfer {
            receiver: receiver.map_or_else(|| sender.clone(), str::to_string),
            sender,
            source_port: port.to_string(),
            source_channel: channel.to_string(),
            denom: coin.denom,
            amount: coin.amount,
            timeout_secs: devnet::finalize_block::DEFAULT_TIMEOUT_SECS,
            memo: String::new(),
        },
    })
}

/// The `--config` file: the flags' names in snake_case, all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    chain_id: Option<String>,
    rpc_addr: Option<String>,
    grpc_addr: Option<String>,
    block_time: Option<String>,
    data_dir: Option<String>,
    #[serde(alias = "genesis_accounts")]
    genesis_account: Option<Vec<String>>,
    bech32_prefix: Option<String>,
    denom: Option<String>,
    min_gas_price: Option<NumberOrText>,
    max_block_gas: Option<u64>,
    max_block_bytes: Option<u64>,
    mempool_size: Option<NumberOrText>,
}

/// A TOML value that may be written as a number or as a string.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(f64),
    Text(String),
}

impl NumberOrText {
    fn into_text(self) -> String {
        match self {
            NumberOrText::Number(n) => n.to_string(),
            NumberOrText::Text(t) => t,
        }
    }
}

/// The loaded `--config` file, kept to place errors on their line.
struct SettingsFile {
    path: PathBuf,
    text: String,
    raw: RawFile,
}

impl SettingsFile {
    fn load(path: &Path) -> Result<Self, ConfigError> {
        let whole = |message: String| ConfigError {
            file: path.to_path_buf(),
            issues: vec![ConfigIssue {
                line: None,
                column: None,
                key: None,
                message,
            }],
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| whole(format!("cannot read config file: {e}")))?;
        let raw: RawFile = toml::from_str(&text).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            issues: vec![toml_issue(&e, &text)],
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            text,
            raw,
        })
    }

    /// The directory relative paths in the file are resolved against.
    fn base_dir(&self) -> PathBuf {
        self.path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// An issue about top-level `key`, placed on the line where the key is written.
    fn issue(&self, key: &str, message: String) -> String {
        let (line, column) = match key_offset(&self.text, key) {
            Some(pos) => {
                let (l, c) = line_col(&self.text, pos);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        ConfigError {
            file: self.path.clone(),
            issues: vec![ConfigIssue {
                line,
                column,
                key: Some(key.to_string()),
                message,
            }],
        }
        .to_string()
    }
}

/// Turns a TOML parse or schema error into an issue with line, column and key.
fn toml_issue(err: &toml::de::Error, text: &str) -> ConfigIssue {
    let message = err
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(": ");
    let named = |prefix: &str| {
        let rest = &message[message.find(prefix)? + prefix.len()..];
        Some(rest[..rest.find('`')?].to_string())
    };
    let Some(span) = err.span() else {
        return ConfigIssue {
            line: None,
            column: None,
            key: named("unknown field `"),
            message,
        };
    };
    let (line, column) = line_col(text, span.start);
    let key = named("unknown field `").or_else(|| key_on_line(text, span.start));
    ConfigIssue {
        line: Some(line),
        column: Some(column),
        key,
        message,
    }
}

/// Byte offset of top-level `key` in the file.
fn key_offset(text: &str, key: &str) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let (k, item) = doc.as_table().get_key_value(key)?;
    k.span().or_else(|| item.span()).map(|s| s.start)
}

/// Collects every problem before giving up, so an operator can fix them in one go.
struct Problems {
    lines: Vec<String>,
}

impl Problems {
    fn flag(&mut self, flag: &str, message: impl std::fmt::Display) {
        self.lines.push(format!("--{flag}: {message}"));
    }
}

/// Where a setting came from.
enum Origin<'a> {
    Flag(&'static str),
    File(&'a SettingsFile, &'static str),
}

impl Origin<'_> {
    fn report(&self, problems: &mut Problems, message: String) {
        match self {
            Origin::Flag(flag) => problems.flag(flag, message),
            Origin::File(file, key) => problems.lines.push(file.issue(key, message)),
        }
    }
}

/// Picks the flag's value, else the file's, and parses it; a parse error is recorded against
/// where the value came from.
fn setting<'a, T>(
    problems: &mut Problems,
    file: Option<&'a SettingsFile>,
    names: (&'static str, &'static str),
    flag_value: Option<String>,
    file_value: impl FnOnce(&'a SettingsFile) -> Option<String>,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Option<T> {
    let (flag, key) = names;
    let (text, origin) = match (flag_value, file) {
        (Some(v), _) => (v, Origin::Flag(flag)),
        (None, Some(f)) => match file_value(f) {
            Some(v) => (v, Origin::File(f, key)),
            None => return None,
        },
        (None, None) => return None,
    };
    match parse(&text) {
        Ok(v) => Some(v),
        Err(message) => {
            origin.report(problems, message);
            None
        }
    }
}

/// Parses `HOST:PORT` (optionally `tcp://` or `http://` in front) to the first address it
/// resolves to.
fn parse_listen_addr(text: &str) -> Result<SocketAddr, String> {
    let trimmed = text.trim();
    let bare = ["tcp://", "http://"]
        .iter()
        .find_map(|p| trimmed.strip_prefix(p))
        .unwrap_or(trimmed)
        .trim_end_matches('/');
    if let Ok(addr) = bare.parse::<SocketAddr>() {
        return Ok(addr);
    }
    bare.to_socket_addrs()
        .map_err(|e| format!("invalid listen address {text:?} (expected HOST:PORT): {e}"))?
        .next()
        .ok_or_else(|| format!("listen address {text:?} resolves to nothing"))
}

/// Like [`parse_listen_addr`], but `none`, `off`, `false` or an empty string disable the server.
fn parse_optional_addr(text: &str) -> Result<Option<SocketAddr>, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "none" | "off" | "false" | "disabled" => Ok(None),
        _ => parse_listen_addr(text).map(Some),
    }
}

/// Parses `0.025` or `0.025<denom>`.
fn parse_gas_price(text: &str, denom: &str) -> Result<f64, String> {
    let t = text.trim();
    let number = t.strip_suffix(denom).unwrap_or(t).trim();
    match number.parse::<f64>() {
        Ok(p) if p.is_finite() && p >= 0.0 => Ok(p),
        _ => Err(format!(
            "invalid minimum gas price {text:?}: expected a non-negative number, optionally followed by {denom}"
        )),
    }
}

/// Parses `TXS` or `TXS,BYTES`, both positive.
fn parse_mempool_size(text: &str) -> Result<(usize, Option<u64>), String> {
    let bad =
        || format!("invalid mempool size {text:?}: expected TXS or TXS,BYTES (positive integers)");
    let (txs, bytes) = match text.split_once(',') {
        Some((t, b)) => (t, Some(b)),
        None => (text, None),
    };
    let txs = match txs.trim().parse::<usize>() {
        Ok(n) if n > 0 => n,
        _ => return Err(bad()),
    };
    let bytes = match bytes.map(|b| b.trim().parse::<u64>()) {
        None => None,
        Some(Ok(n)) if n > 0 => Some(n),
        Some(_) => return Err(bad()),
    };
    Ok((txs, bytes))
}

/// A `NAME=MNEMONIC_FILE:AMOUNT` specification, split but not yet read.
struct AccountSpec {
    name: String,
    mnemonic_file: PathBuf,
    amount: String,
}

fn parse_account_spec(text: &str, base: Option<&Path>) -> Result<AccountSpec, String> {
    let bad = || {
        format!("invalid genesis account {text:?}: expected NAME=MNEMONIC_FILE:AMOUNT, e.g. relayer=relayer.mnemonic:1000000stake")
    };
    let (name, rest) = text.split_once('=').ok_or_else(bad)?;
    let (file, amount) = rest.rsplit_once(':').ok_or_else(bad)?;
    let name = name.trim();
    if name.is_empty() || file.trim().is_empty() || amount.trim().is_empty() {
        return Err(bad());
    }
    if name.chars().any(char::is_whitespace) {
        return Err(format!(
            "invalid genesis account name {name:?}: no spaces allowed"
        ));
    }
    let file = file.trim();
    let mnemonic_file = match base {
        Some(base) => resolve_path(file, base).unwrap_or_else(|| PathBuf::from(file)),
        None => PathBuf::from(file),
    };
    Ok(AccountSpec {
        name: name.to_string(),
        mnemonic_file,
        amount: amount.trim().to_string(),
    })
}

/// Reads a mnemonic file and derives the account key. Errors name the file, never the words.
fn read_account_key(path: &Path) -> Result<AccountKey, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read mnemonic file {}: {e}", path.display()))?;
    let words = text.split_whitespace().count();
    if ![12, 15, 18, 21, 24].contains(&words) {
        return Err(format!(
            "mnemonic file {} holds {words} words; a BIP-39 mnemonic has 12, 15, 18, 21 or 24",
            path.display()
        ));
    }
    AccountKey::from_mnemonic(&text, COSMOS_HD_PATH)
        .map_err(|e| format!("mnemonic file {}: {e}", path.display()))
}

/// Builds the devnet configuration from the flags and the optional file, reporting every
/// problem at once.
pub fn build_config(args: DevnetArgs) -> Result<DevnetConfig, CliError> {
    let file = match &args.config {
        Some(path) => Some(SettingsFile::load(path)?),
        None => None,
    };
    let file = file.as_ref();
    let mut problems = Problems { lines: Vec::new() };
    let p = &mut problems;

    let chain_id_given = args.chain_id.is_some() || file.is_some_and(|f| f.raw.chain_id.is_some());
    let chain_id = setting(
        p,
        file,
        ("chain-id", "chain_id"),
        args.chain_id,
        |f| f.raw.chain_id.clone(),
        |t| {
            tendermint::chain::Id::try_from(t.to_string())
                .map(|id| id.to_string())
                .map_err(|e| format!("invalid chain id {t:?}: {e}"))
        },
    );
    if !chain_id_given {
        p.lines
            .push("a chain id is required: pass --chain-id or set chain_id in --config".into());
    }
    let mut config = DevnetConfig::for_tests(chain_id.as_deref().unwrap_or("devnet-1"));

    let rpc = setting(
        p,
        file,
        ("rpc-addr", "rpc_addr"),
        args.rpc_addr,
        |f| f.raw.rpc_addr.clone(),
        parse_listen_addr,
    );
    config.rpc_addr = match rpc {
        Some(a) => a,
        None => parse_listen_addr(DEFAULT_RPC_ADDR).map_err(CliError::Failed)?,
    };
    let grpc = setting(
        p,
        file,
        ("grpc-addr", "grpc_addr"),
        args.grpc_addr,
        |f| f.raw.grpc_addr.clone(),
        parse_optional_addr,
    );
    config.grpc_addr = match grpc {
        Some(a) => a,
        None => Some(parse_listen_addr(DEFAULT_GRPC_ADDR).map_err(CliError::Failed)?),
    };
    let block_time = setting(
        p,
        file,
        ("block-time", "block_time"),
        args.block_time.map(format_duration),
        |f| f.raw.block_time.clone(),
        |t| match parse_duration(t) {
            Ok(d) if d.is_zero() => Err("block time must be above zero".into()),
            other => other,
        },
    );
    config.block_time = block_time.unwrap_or(DEFAULT_BLOCK_TIME);
    config.data_dir = match (args.data_dir, file) {
        (Some(dir), _) => Some(dir),
        (None, Some(f)) => f
            .raw
            .data_dir
            .as_deref()
            .map(|d| resolve_path(d, &f.base_dir()).unwrap_or_else(|| PathBuf::from(d))),
        (None, None) => None,
    };
    if let Some(prefix) = setting(
        p,
        file,
        ("bech32-prefix", "bech32_prefix"),
        args.bech32_prefix,
        |f| f.raw.bech32_prefix.clone(),
        |t| {
            cosmos::address::validate_prefix(t.trim())
                .map(|()| t.trim().to_string())
                .map_err(|e| e.to_string())
        },
    ) {
        config.bech32_prefix = prefix;
    }
    if let Some(denom) = setting(
        p,
        file,
        ("denom", "denom"),
        args.denom,
        |f| f.raw.denom.clone(),
        |t| parse_denom(t).map_err(|e| e.to_string()),
    ) {
        config.denom = denom;
    }
    let denom = config.denom.clone();
    if let Some(price) = setting(
        p,
        file,
        ("min-gas-price", "min_gas_price"),
        args.min_gas_price,
        |f| f.raw.min_gas_price.clone().map(NumberOrText::into_text),
        |t| parse_gas_price(t, &denom),
    ) {
        config.min_gas_price = price;
    }
    let positive = |t: &str| match t.trim().parse::<u64>() {
        Ok(0) | Err(_) => Err(format!("expected a positive integer, got {t:?}")),
        Ok(n) => Ok(n),
    };
    if let Some(gas) = setting(
        p,
        file,
        ("max-block-gas", "max_block_gas"),
        args.max_block_gas.map(|n| n.to_string()),
        |f| f.raw.max_block_gas.map(|n| n.to_string()),
        positive,
    ) {
        config.max_block_gas = gas;
    }
    if let Some(bytes) = setting(
        p,
        file,
        ("max-block-bytes", "max_block_bytes"),
        args.max_block_bytes.map(|n| n.to_string()),
        |f| f.raw.max_block_bytes.map(|n| n.to_string()),
        positive,
    ) {
        config.max_block_bytes = bytes;
    }
    if let Some((txs, bytes)) = setting(
        p,
        file,
        ("mempool-size", "mempool_size"),
        args.mempool_size,
        |f| f.raw.mempool_size.clone().map(NumberOrText::into_text),
        parse_mempool_size,
    ) {
        config.mempool_size = txs;
        config.mempool_max_txs_bytes = bytes.unwrap_or(config.mempool_max_txs_bytes);
    }

    // Genesis accounts: the flags replace the file's list.
    let specs: Vec<(String, Origin<'_>, Option<PathBuf>)> = if !args.genesis_accounts.is_empty() {
        args.genesis_accounts
            .into_iter()
            .map(|s| (s, Origin::Flag("genesis-account"), None))
            .collect()
    } else if let Some(f) = file {
        f.raw
            .genesis_account
            .iter()
            .flatten()
            .map(|s| {
                (
                    s.clone(),
                    Origin::File(f, "genesis_account"),
                    Some(f.base_dir()),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    for (text, origin, base) in specs {
        let spec = match parse_account_spec(&text, base.as_deref()) {
            Ok(spec) => spec,
            Err(e) => {
                origin.report(p, e);
                continue;
            }
        };
        let coins = match parse_coins(&spec.amount, &config.denom) {
            Ok(c) => c,
            Err(e) => {
                origin.report(p, format!("genesis account {}: {e}", spec.name));
                continue;
            }
        };
        let key = match read_account_key(&spec.mnemonic_file) {
            Ok(k) => k,
            Err(e) => {
                origin.report(p, format!("genesis account {}: {e}", spec.name));
                continue;
            }
        };
        let address = key.address(&config.bech32_prefix);
        if let Some(other) = config.accounts.iter().find(|a| a.name == spec.name) {
            origin.report(
                p,
                format!("genesis account name {} is used twice", other.name),
            );
            continue;
        }
        if let Some(other) = config
            .accounts
            .iter()
            .find(|a| a.key.address(&config.bech32_prefix) == address)
        {
            origin.report(
                p,
                format!(
                    "genesis accounts {} and {} have the same key ({address})",
                    other.name, spec.name
                ),
            );
            continue;
        }
        config.accounts.push(GenesisAccount {
            name: spec.name,
            key,
            coins,
        });
    }

    config.tx_index = !args.no_tx_index;
    config.retain_blocks = args.retain_blocks;
    if let Some(text) = &args.finalize_block_transfer {
        match parse_finalize_block_transfer(text, &config) {
            Ok(t) => config.finalize_block_transfer = Some(t),
            Err(e) => p.flag("finalize-block-transfer", e),
        }
    }

    if problems.lines.is_empty() {
        Ok(config)
    } else {
        Err(CliError::Failed(problems.lines.join("\n")))
    }
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
        format!("accounts:   {}", config.accounts.len()),
    ];
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
mod tests {
    use super::*;
    use clap::Parser;

    const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    fn parse(args: &[&str]) -> DevnetArgs {
        let mut full = vec!["arke", "devnet"];
        full.extend_from_slice(args);
        match crate::cli::Cli::try_parse_from(full) {
            Ok(crate::cli::Cli {
                command: crate::cli::Command::Devnet(a),
                ..
            }) => a,
            other => panic!("{other:?}"),
        }
    }

    fn scratch(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("arke-devnet-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn gas_prices_and_addresses() {
        assert_eq!(parse_gas_price("0.025stake", "stake").unwrap(), 0.025);
        assert_eq!(parse_gas_price("0", "stake").unwrap(), 0.0);
        assert!(parse_gas_price("-1", "stake").is_err());
        assert_eq!(parse_optional_addr("none").unwrap(), None);
        assert_eq!(
            parse_listen_addr("tcp://127.0.0.1:5").unwrap(),
            "127.0.0.1:5".parse::<SocketAddr>().unwrap()
        );
    }

    #[test]
    fn mempool_size_takes_txs_and_bytes() {
        let config =
            build_config(parse(&["--chain-id", "d-1", "--mempool-size", "10,2048"])).unwrap();
        assert_eq!(
            (config.mempool_size, config.mempool_max_txs_bytes),
            (10, 2048)
        );
        let config = build_config(parse(&["--chain-id", "d-1", "--mempool-size", "7"])).unwrap();
        assert_eq!(
            (config.mempool_size, config.mempool_max_txs_bytes),
            (7, 1_073_741_824)
        );
        assert!(parse_mempool_size("0").is_err());
        assert!(parse_mempool_size("5,x").is_err());
    }

    #[test]
    fn flags_build_a_config() {
        let dir = scratch("flags");
        let m = dir.join("m.txt");
        std::fs::write(&m, format!("{ABANDON}\n")).unwrap();
        let spec = format!("relayer={}:1000000stake", m.display());
        let config = build_config(parse(&[
            "--chain-id",
            "devnet-7",
            "--rpc-addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "none",
            "--block-time",
            "200ms",
            "--genesis-account",
            &spec,
            "--min-gas-price",
            "0.5",
        ]))
        .unwrap();
        assert_eq!(config.chain_id, "devnet-7");
        assert_eq!(config.grpc_addr, None);
        assert_eq!(config.block_time, Duration::from_millis(200));
        assert_eq!(config.min_gas_price, 0.5);
        assert_eq!(config.accounts.len(), 1);
        assert_eq!(
            config.accounts[0].key.address("cosmos"),
            "cosmos19rl4cm2hmr8afy4kldpxz3fka4jguq0auqdal4"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn operator_flags_build_a_config() {
        let dir = scratch("operator");
        let m = dir.join("m.txt");
        std::fs::write(&m, format!("{ABANDON}\n")).unwrap();
        let spec = format!("relayer={}:1000000stake", m.display());
        let base = ["--chain-id", "d-1", "--genesis-account", spec.as_str()];
        let config = build_config(parse(&base)).unwrap();
        assert!(config.tx_index);
        assert_eq!(config.retain_blocks, 0);
        assert!(config.finalize_block_transfer.is_none());
        let mut args = base.to_vec();
        args.extend([
            "--no-tx-index",
            "--retain-blocks",
            "100",
            "--finalize-block-transfer",
            "5:relayer:transfer/channel-0:10stake:cosmos1receiver",
        ]);
        let config = build_config(parse(&args)).unwrap();
        assert!(!config.tx_index);
        assert_eq!(config.retain_blocks, 100);
        let p = config.finalize_block_transfer.unwrap();
        assert_eq!(p.every_n_blocks, 5);
        assert_eq!(
            p.transfer.sender,
            "cosmos19rl4cm2hmr8afy4kldpxz3fka4jguq0auqdal4"
        );
        assert_eq!(p.transfer.receiver, "cosmos1receiver");
        assert_eq!(
            (
                p.transfer.source_port.as_str(),
                p.transfer.source_channel.as_str()
            ),
            ("transfer", "channel-0")
        );
        assert_eq!(
            (p.transfer.denom.as_str(), p.transfer.amount),
            ("stake", 10)
        );
        for bad in [
            "0:relayer:transfer/channel-0:10stake",
            "5:nobody:transfer/channel-0:10",
            "5:relayer:channel-0:10",
        ] {
            let mut args = base.to_vec();
            args.extend(["--finalize-block-transfer", bad]);
            assert!(build_config(parse(&args)).is_err(), "{bad}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn file_problems_name_file_line_and_key() {
        let dir = scratch("file");
        let path = dir.join("devnet.toml");
        std::fs::write(&path, "chain_id = \"d-1\"\nblock_tim = \"1s\"\n").unwrap();
        let err = build_config(parse(&["--config", path.to_str().unwrap()]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("devnet.toml:2:1"), "{err}");
        assert!(err.contains("block_tim"), "{err}");

        std::fs::write(dir.join("m.txt"), "not a mnemonic at all").unwrap();
        std::fs::write(
            &path,
            "chain_id = \"d-1\"\n\nblock_time = \"soon\"\ngenesis_account = [\"a=m.txt:5\"]\n",
        )
        .unwrap();
        let err = build_config(parse(&["--config", path.to_str().unwrap()]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("devnet.toml:3:1: key `block_time`"), "{err}");
        assert!(
            err.contains("devnet.toml:4:1: key `genesis_account`"),
            "{err}"
        );
        assert!(err.contains("m.txt holds 5 words"), "{err}");

        // Flags override the file.
        std::fs::write(
            &path,
            "chain_id = \"d-1\"\nblock_time = \"3s\"\ngrpc_addr = \"off\"\n",
        )
        .unwrap();
        let config = build_config(parse(&[
            "--config",
            path.to_str().unwrap(),
            "--block-time",
            "100ms",
        ]))
        .unwrap();
        assert_eq!(config.chain_id, "d-1");
        assert_eq!(config.block_time, Duration::from_millis(100));
        assert_eq!(config.grpc_addr, None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn chain_id_is_required() {
        let err = build_config(parse(&[])).unwrap_err().to_string();
        assert!(err.contains("chain id is required"), "{err}");
    }
}
