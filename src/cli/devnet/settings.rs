//! The settings of `arke devnet`: the `--config` TOML file (with file, line and key in its
//! errors) and [`build_config`], which merges it with the flags and reports every problem at once.

use std::path::{Path, PathBuf};

use cosmos::coin::{parse_coins, parse_denom};
use devnet::{DevnetConfig, GenesisAccount};
use serde::Deserialize;

use super::values::{
    parse_account_spec, parse_gas_price, parse_listen_addr, parse_mempool_size,
    parse_optional_addr, read_account_key,
};
use super::{DevnetArgs, DEFAULT_BLOCK_TIME, DEFAULT_GRPC_ADDR, DEFAULT_RPC_ADDR};
use crate::cli::CliError;
use crate::config::source::line_col;
use crate::config::{
    format_duration, parse_duration, resolve_path, toml_issue, ConfigError, ConfigIssue,
};

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
    if args.fee_market {
        config.fee_market = Some(devnet::feemarket::FeeMarketParams::default());
    }

    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        let files = devnet::tls::TlsFiles { cert, key };
        match devnet::tls::server_config(&files) {
            Ok(_) => config.tls = Some(files),
            Err(devnet::tls::TlsError::File { path, message }) if path == files.key => {
                p.flag("tls-key", format!("{}: {message}", path.display()))
            }
            Err(e) => p.flag("tls-cert", e),
        }
    }
    config.rpc_latency = args.rpc_latency.unwrap_or_default();
    if let Some(text) = args.admin_addr {
        match parse_listen_addr(&text) {
            Ok(addr) if addr.ip().is_loopback() => config.admin_addr = Some(addr),
            Ok(addr) => p.flag(
                "admin-addr",
                format!(
                    "{addr} is not a loopback address; the admin endpoint has no \
                     authentication, so it listens on 127.0.0.1:PORT or [::1]:PORT only"
                ),
            ),
            Err(e) => p.flag("admin-addr", e),
        }
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
    config.validators = devnet::node::ValidatorParams {
        count: args.validators,
        rotate_every: args.rotate_every,
    };
    if let Err(e) = config.validators.validate() {
        p.flag("validators", e);
    }
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
