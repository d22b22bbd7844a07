//! The chain-pair config file: schema, defaults, and validation.
//!
//! One TOML file per chain pair (`[chains.a]`, `[chains.b]`, `[relay]`, `[telemetry]`). Key names
//! follow Hermes where the meaning is the same (`rpc_addr`, `key_name`, `gas_price`, `max_msg_num`,
//! `clock_drift`, …). Parsing happens in two steps: serde into private `Raw*` structs with
//! `deny_unknown_fields`, then validation into the public, fully-typed [`Config`]. Every problem
//! found in either step is reported as a [`ConfigIssue`] that names the file, the line and column,
//! and the dotted key (`chains.a.gas_multiplier`), so an operator can fix a file in one pass.

mod duration;
mod filter;
mod source;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;

pub use self::duration::{format_duration, parse_duration};
pub use self::filter::{ChannelFilter, FilterPolicy, Pattern};
use self::source::SourceMap;

/// Default `gas_multiplier`.
pub const DEFAULT_GAS_MULTIPLIER: f64 = 1.1;
/// Default `max_gas`.
pub const DEFAULT_MAX_GAS: u64 = 400_000;
/// Default `max_msg_num`.
pub const DEFAULT_MAX_MSG_NUM: usize = 30;
/// Default `max_tx_size`, in bytes.
pub const DEFAULT_MAX_TX_SIZE: usize = 180_000;
/// Upper bound on `max_tx_size` (8 MiB, as Hermes).
pub const MAX_TX_SIZE_LIMIT: usize = 8 * 1024 * 1024;
/// Default `max_concurrent_requests` per RPC endpoint.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 16;
/// Default `rpc_timeout`.
pub const DEFAULT_RPC_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `clock_drift`.
pub const DEFAULT_CLOCK_DRIFT: Duration = Duration::from_secs(5);
/// Default `max_block_time`.
pub const DEFAULT_MAX_BLOCK_TIME: Duration = Duration::from_secs(30);
/// Default `[relay] clear_interval`, in blocks.
pub const DEFAULT_CLEAR_INTERVAL: u64 = 100;
/// Default `[relay] shutdown_grace`.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Default `[relay] client_refresh_rate`: refresh a client once a third of its trusting period
/// has passed since its latest consensus state.
pub const DEFAULT_CLIENT_REFRESH_RATE: f64 = 1.0 / 3.0;
/// Default `[telemetry] port`.
pub const DEFAULT_TELEMETRY_PORT: u16 = 3001;

// ───────────────────────────── public, validated types ─────────────────────────────

/// A validated chain-pair config.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// The two chains.
    pub chains: ChainPair,
    /// Relaying policy.
    pub relay: RelayConfig,
    /// Metrics endpoint.
    pub telemetry: TelemetryConfig,
}

/// `[chains.a]` and `[chains.b]`.
#[derive(Debug, Clone)]
pub struct ChainPair {
    /// `[chains.a]`.
    pub a: ChainConfig,
    /// `[chains.b]`.
    pub b: ChainConfig,
}

impl ChainPair {
    /// Both chains, a first.
    pub fn iter(&self) -> impl Iterator<Item = &ChainConfig> {
        [&self.a, &self.b].into_iter()
    }

    /// The chain whose id or label (`a` / `b`) is `name`.
    pub fn get(&self, name: &str) -> Option<&ChainConfig> {
        self.iter().find(|c| c.id == name || c.label == name)
    }

    /// The other chain of the pair.
    pub fn counterparty_of(&self, chain_id: &str) -> Option<&ChainConfig> {
        if self.a.id == chain_id {
            Some(&self.b)
        } else if self.b.id == chain_id {
            Some(&self.a)
        } else {
            None
        }
    }
}

/// One chain of the pair.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// `a` or `b`: the table it came from.
    pub label: String,
    /// Chain id (`network` in `/status`).
    pub id: String,
    /// CometBFT JSON-RPC endpoint.
    pub rpc_addr: Url,
    /// Websocket endpoint; derived from `rpc_addr` when absent (`ws[s]://…/websocket`).
    pub websocket_addr: Url,
    /// Optional gRPC endpoint.
    pub grpc_addr: Option<Url>,
    /// Bech32 prefix of account addresses.
    pub account_prefix: String,
    /// Name of the signing key in the key store.
    pub key_name: String,
    /// Key store directory (absolute).
    pub key_store_folder: PathBuf,
    /// Fee price.
    pub gas_price: GasPrice,
    /// Multiplier applied to simulated gas.
    pub gas_multiplier: f64,
    /// Gas cap per tx.
    pub max_gas: u64,
    /// Messages per tx, 1..=100.
    pub max_msg_num: usize,
    /// Tx size cap in bytes.
    pub max_tx_size: usize,
    /// Permits of the RPC endpoint's semaphore.
    pub max_concurrent_requests: usize,
    /// Timeout of each RPC request.
    pub rpc_timeout: Duration,
    /// Tolerated clock drift (light client).
    pub clock_drift: Duration,
    /// Expected upper bound on block time (light client).
    pub max_block_time: Duration,
    /// Client trusting period; `None` means 2/3 of the unbonding period, queried at creation.
    pub trusting_period: Option<Duration>,
    /// Light-client trust threshold.
    pub trust_threshold: TrustThreshold,
    /// ICS-23 proof specs of the chain's store.
    pub proof_specs: ProofSpecs,
}

/// `gas_price = { price = 0.025, denom = "stake" }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GasPrice {
    /// Price per unit of gas.
    pub price: f64,
    /// Fee denom.
    pub denom: String,
}

/// A fraction in [1/3, 1], written `"2/3"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustThreshold {
    /// Numerator.
    pub numerator: u64,
    /// Denominator (non-zero).
    pub denominator: u64,
}

impl Default for TrustThreshold {
    fn default() -> Self {
        Self {
            numerator: 2,
            denominator: 3,
        }
    }
}

impl fmt::Display for TrustThreshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.numerator, self.denominator)
    }
}

impl TrustThreshold {
    /// Parses `"n/d"` and checks 1/3 ≤ n/d ≤ 1.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (n, d) = text
            .split_once('/')
            .ok_or_else(|| format!("expected a fraction like \"2/3\", got {text:?}"))?;
        let numerator: u64 = n
            .trim()
            .parse()
            .map_err(|_| format!("bad numerator in {text:?}"))?;
        let denominator: u64 = d
            .trim()
            .parse()
            .map_err(|_| format!("bad denominator in {text:?}"))?;
        if denominator == 0 {
            return Err(format!("zero denominator in {text:?}"));
        }
        // 1/3 <= n/d <= 1  ⇔  d <= 3n and n <= d (in u128 to avoid overflow).
        if u128::from(denominator) > 3 * u128::from(numerator) || numerator > denominator {
            return Err(format!("{text} is outside the valid range [1/3, 1]"));
        }
        Ok(Self {
            numerator,
            denominator,
        })
    }
}

/// The ICS-23 proof specs used to verify the chain's membership proofs.
#[derive(Debug, Clone, PartialEq)]
pub struct ProofSpecs(pub Vec<ics23::ProofSpec>);

impl ProofSpecs {
    /// The Cosmos SDK specs: IAVL (module stores) then Tendermint (the multistore).
    pub fn cosmos_sdk() -> Self {
        Self(vec![ics23::iavl_spec(), ics23::tendermint_spec()])
    }

    /// `"cosmos-sdk"`, or a JSON list of ICS-23 `ProofSpec`s (the format Hermes accepts).
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("cosmos-sdk") || t.eq_ignore_ascii_case("cosmos") {
            return Ok(Self::cosmos_sdk());
        }
        if t.starts_with('[') {
            let specs: Vec<ics23::ProofSpec> = serde_json::from_str(t)
                .map_err(|e| format!("invalid ICS-23 proof specs JSON: {e}"))?;
            if specs.is_empty() {
                return Err("proof specs list is empty".into());
            }
            return Ok(Self(specs));
        }
        Err(format!(
            "expected \"cosmos-sdk\" or a JSON list of ICS-23 ProofSpec objects, got {text:?}"
        ))
    }
}

impl Default for ProofSpecs {
    fn default() -> Self {
        Self::cosmos_sdk()
    }
}

/// `[relay]`.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Which channels to relay.
    pub channels: ChannelFilter,
    /// Clear pending packets every N blocks (0 disables periodic clearing).
    pub clear_interval: u64,
    /// Clear pending packets when the daemon starts.
    pub clear_on_start: bool,
    /// How long SIGTERM waits for in-flight work.
    pub shutdown_grace: Duration,
    /// Fraction of a client's trusting period after which the daemon updates it, in (0, 1).
    pub client_refresh_rate: f64,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            channels: ChannelFilter::default(),
            clear_interval: DEFAULT_CLEAR_INTERVAL,
            clear_on_start: true,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            client_refresh_rate: DEFAULT_CLIENT_REFRESH_RATE,
        }
    }
}

/// `[telemetry]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// Serve metrics.
    pub enabled: bool,
    /// Listen host.
    pub host: String,
    /// Listen port.
    pub port: u16,
    /// Allow a non-loopback `host` (the server has no authentication and `POST /clear`).
    pub allow_remote: bool,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            host: "127.0.0.1".into(),
            port: DEFAULT_TELEMETRY_PORT,
            allow_remote: false,
        }
    }
}

/// Whether `host` names the loopback interface (`localhost`, `127.0.0.0/8`, `::1`).
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

// ───────────────────────────── errors ─────────────────────────────

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Dotted key path, when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// All problems found in one config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// Its problems, in file order.
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.file.display())?;
            if let Some(line) = issue.line {
                write!(f, ":{line}")?;
                if let Some(col) = issue.column {
                    write!(f, ":{col}")?;
                }
            }
            write!(f, ": ")?;
            if let Some(key) = &issue.key {
                write!(f, "key `{key}`: ")?;
            }
            write!(f, "{}", issue.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    fn whole_file(file: &Path, message: String) -> Self {
        Self {
            file: file.to_path_buf(),
            issues: vec![ConfigIssue {
                line: None,
                column: None,
                key: None,
                message,
            }],
        }
    }
}

// ───────────────────────────── raw serde schema ─────────────────────────────

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    chains: RawChains,
    #[serde(default)]
    relay: RawRelay,
    #[serde(default)]
    telemetry: RawTelemetry,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChains {
    a: RawChain,
    b: RawChain,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChain {
    id: String,
    rpc_addr: String,
    websocket_addr: Option<String>,
    grpc_addr: Option<String>,
    account_prefix: String,
    #[serde(alias = "key")]
    key_name: String,
    #[serde(alias = "key_store")]
    key_store_folder: Option<String>,
    gas_price: GasPrice,
    gas_multiplier: Option<f64>,
    max_gas: Option<u64>,
    max_msg_num: Option<u64>,
    max_tx_size: Option<u64>,
    max_concurrent_requests: Option<u64>,
    rpc_timeout: Option<String>,
    clock_drift: Option<String>,
    max_block_time: Option<String>,
    trusting_period: Option<String>,
    trust_threshold: Option<String>,
    proof_specs: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRelay {
    channels: Option<RawFilter>,
    clear_interval: Option<u64>,
    clear_on_start: Option<bool>,
    shutdown_grace: Option<String>,
    client_refresh_rate: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFilter {
    policy: FilterPolicy,
    #[serde(default)]
    list: Vec<(String, String)>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTelemetry {
    enabled: Option<bool>,
    host: Option<String>,
    port: Option<u16>,
    allow_remote: Option<bool>,
}

// ───────────────────────────── loading ─────────────────────────────

impl Config {
    /// Reads, parses and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::whole_file(path, format!("cannot read config file: {e}")))?;
        Self::from_toml_str(&text, path)
    }

    /// Parses and validates `text`, reporting problems against `path`.
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let map = SourceMap::new(text);
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            issues: vec![deserialize_issue(&e, &map)],
        })?;
        let mut check = Checker {
            map: &map,
            issues: Vec::new(),
        };
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        if !raw.chains.a.id.is_empty() && raw.chains.a.id == raw.chains.b.id {
            check.issue(
                "chains.b.id",
                format!(
                    "chains a and b have the same id {:?}; a pair needs two chains",
                    raw.chains.a.id
                ),
            );
        }
        let a = check.chain("a", raw.chains.a, &base_dir);
        let b = check.chain("b", raw.chains.b, &base_dir);
        let relay = check.relay(raw.relay);
        let telemetry = check.telemetry(raw.telemetry);
        let mut issues = check.issues;
        issues.sort_by_key(|i| (i.line.unwrap_or(usize::MAX), i.column.unwrap_or(0)));
        match (a, b, issues.is_empty()) {
            (Some(a), Some(b), true) => Ok(Config {
                path: path.to_path_buf(),
                chains: ChainPair { a, b },
                relay,
                telemetry,
            }),
            _ => Err(ConfigError {
                file: path.to_path_buf(),
                issues,
            }),
        }
    }
}

/// Turns a `toml`/serde error into an issue with line, column and key.
fn deserialize_issue(err: &toml::de::Error, map: &SourceMap<'_>) -> ConfigIssue {
    // toml's messages can span lines ("invalid string\nexpected `\"`"): keep one line per issue.
    let message = err
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(": ");
    let Some(span) = err.span() else {
        return ConfigIssue {
            line: None,
            column: None,
            key: backticked(&message, "missing field `"),
            message,
        };
    };
    let (line, column) = map.line_col(span.start);
    let mut key = map.key_at(&span).or_else(|| map.key_by_lines(span.start));
    if let Some(field) = backticked(&message, "missing field `") {
        // The span covers the table that lacks the field.
        key = Some(match key {
            Some(table) => format!("{table}.{field}"),
            None => field,
        });
    } else if let Some(field) = backticked(&message, "unknown field `") {
        // The span covers the unknown key itself; make sure it is named even in odd layouts.
        if key.as_deref().is_none_or(|k| !k.ends_with(&field)) {
            key = Some(field);
        }
    }
    ConfigIssue {
        line: Some(line),
        column: Some(column),
        key,
        message,
    }
}

/// The text between `prefix` and the next backtick in `message`.
fn backticked(message: &str, prefix: &str) -> Option<String> {
    let rest = &message[message.find(prefix)? + prefix.len()..];
    Some(rest[..rest.find('`')?].to_string())
}

/// The default key store: `$XDG_DATA_HOME/arke/keys`, else `~/.local/share/arke/keys`.
pub fn default_key_store() -> Option<PathBuf> {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME") {
        let xdg = PathBuf::from(xdg);
        if xdg.is_absolute() {
            return Some(xdg.join("arke").join("keys"));
        }
    }
    home_dir().map(|h| h.join(".local/share/arke/keys"))
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Expands a leading `~/` and makes relative paths relative to `base`.
pub fn resolve_path(text: &str, base: &Path) -> Option<PathBuf> {
    let p = if text == "~" {
        home_dir()?
    } else if let Some(rest) = text.strip_prefix("~/") {
        home_dir()?.join(rest)
    } else {
        PathBuf::from(text)
    };
    Some(if p.is_absolute() { p } else { base.join(p) })
}

/// Derives the websocket URL from the RPC URL: http→ws, https→wss, path `/websocket`.
pub fn derive_websocket_addr(rpc: &Url) -> Result<Url, String> {
    let scheme = match rpc.scheme() {
        "http" => "ws",
        "https" => "wss",
        other => {
            return Err(format!(
                "cannot derive a websocket URL from scheme {other:?}"
            ))
        }
    };
    let mut ws = rpc.clone();
    ws.set_scheme(scheme)
        .map_err(|()| format!("cannot derive a websocket URL from {rpc}"))?;
    let path = format!("{}/websocket", rpc.path().trim_end_matches('/'));
    ws.set_path(&path);
    ws.set_query(None);
    Ok(ws)
}

/// Whether `name` is an acceptable key name: 1–64 of `[A-Za-z0-9._-]`, not starting with `.`.
pub fn valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

struct Checker<'m, 't> {
    map: &'m SourceMap<'t>,
    issues: Vec<ConfigIssue>,
}

impl Checker<'_, '_> {
    /// Records a problem at `key`, located at the key if present, else its nearest present parent.
    fn issue(&mut self, key: &str, message: impl Into<String>) {
        let mut path = key;
        let span = loop {
            if let Some(span) = self.map.span_of(path) {
                break Some(span);
            }
            match path.rfind('.') {
                Some(i) => path = &path[..i],
                None => break None,
            }
        };
        let (line, column) = match span {
            Some(s) => {
                let (l, c) = self.map.line_col(s.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        self.issues.push(ConfigIssue {
            line,
            column,
            key: Some(key.to_string()),
            message: message.into(),
        });
    }

    fn url(&mut self, key: &str, text: &str, schemes: &[&str]) -> Option<Url> {
        match Url::parse(text) {
            Ok(u) if !schemes.contains(&u.scheme()) => {
                self.issue(
                    key,
                    format!(
                        "URL {text:?} has scheme {:?}; expected {}",
                        u.scheme(),
                        schemes.join(" or ")
                    ),
                );
                None
            }
            Ok(u) if u.host_str().is_none_or(str::is_empty) => {
                self.issue(key, format!("URL {text:?} has no host"));
                None
            }
            Ok(u) => Some(u),
            Err(e) => {
                self.issue(key, format!("invalid URL {text:?}: {e}"));
                None
            }
        }
    }

    fn duration(&mut self, key: &str, text: Option<&str>, default: Duration) -> Duration {
        match text.map(parse_duration) {
            None => default,
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                self.issue(key, e);
                default
            }
        }
    }

    fn positive_duration(&mut self, key: &str, text: Option<&str>, default: Duration) -> Duration {
        let d = self.duration(key, text, default);
        if d.is_zero() && text.is_some() {
            self.issue(key, "must be greater than zero");
        }
        d
    }

    fn range(
        &mut self,
        key: &str,
        value: Option<u64>,
        default: usize,
        min: u64,
        max: u64,
    ) -> usize {
        match value {
            None => default,
            Some(v) if v < min || v > max => {
                self.issue(key, format!("must be between {min} and {max}, got {v}"));
                default
            }
            Some(v) => usize::try_from(v).unwrap_or(default),
        }
    }

    fn chain(&mut self, label: &str, raw: RawChain, base_dir: &Path) -> Option<ChainConfig> {
        let k = |field: &str| format!("chains.{label}.{field}");
        let before = self.issues.len();

        if raw.id.trim().is_empty() {
            self.issue(&k("id"), "chain id must not be empty");
        } else if raw.id.len() > 50 || raw.id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.issue(
                &k("id"),
                format!(
                    "{:?} is not a valid chain id (at most 50 characters, no whitespace)",
                    raw.id
                ),
            );
        }

        let rpc_addr = self.url(&k("rpc_addr"), &raw.rpc_addr, &["http", "https"]);
        let websocket_addr = match (&raw.websocket_addr, &rpc_addr) {
            (Some(ws), _) => self.url(&k("websocket_addr"), ws, &["ws", "wss"]),
            (None, Some(rpc)) => match derive_websocket_addr(rpc) {
                Ok(u) => Some(u),
                Err(e) => {
                    self.issue(&k("rpc_addr"), e);
                    None
                }
            },
            (None, None) => None,
        };
        let grpc_addr = raw
            .grpc_addr
            .as_deref()
            .and_then(|g| self.url(&k("grpc_addr"), g, &["http", "https"]));

        let prefix_ok = !raw.account_prefix.is_empty()
            && raw.account_prefix.len() <= 32
            && raw
                .account_prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !prefix_ok {
            self.issue(
                &k("account_prefix"),
                format!(
                    "{:?} is not a valid bech32 prefix (lower-case letters and digits, e.g. \"cosmos\")",
                    raw.account_prefix
                ),
            );
        }

        if !valid_key_name(&raw.key_name) {
            self.issue(
                &k("key_name"),
                format!(
                    "{:?} is not a valid key name (1-64 of letters, digits, '.', '_', '-')",
                    raw.key_name
                ),
            );
        }

        let key_store_folder = match &raw.key_store_folder {
            Some(dir) if dir.trim().is_empty() => {
                self.issue(&k("key_store_folder"), "must not be empty");
                None
            }
            Some(dir) => resolve_path(dir, base_dir).or_else(|| {
                self.issue(&k("key_store_folder"), "cannot expand `~`: HOME is not set");
                None
            }),
            None => default_key_store().or_else(|| {
                self.issue(
                    &k("key_store_folder"),
                    "no default key store: neither XDG_DATA_HOME nor HOME is set; set key_store_folder",
                );
                None
            }),
        };

        if !raw.gas_price.price.is_finite() || raw.gas_price.price < 0.0 {
            self.issue(
                &k("gas_price.price"),
                format!("must be a non-negative number, got {}", raw.gas_price.price),
            );
        }
        if !cosmos::coin::valid_denom(&raw.gas_price.denom) {
            self.issue(
                &k("gas_price.denom"),
                format!("{:?} is not a valid denom", raw.gas_price.denom),
            );
        }

        let gas_multiplier = raw.gas_multiplier.unwrap_or(DEFAULT_GAS_MULTIPLIER);
        if !gas_multiplier.is_finite() || !(1.0..=10.0).contains(&gas_multiplier) {
            self.issue(
                &k("gas_multiplier"),
                format!("must be between 1.0 and 10.0, got {gas_multiplier}"),
            );
        }
        let max_gas = raw.max_gas.unwrap_or(DEFAULT_MAX_GAS);
        if max_gas == 0 {
            self.issue(&k("max_gas"), "must be greater than zero");
        }
        let max_msg_num = self.range(
            &k("max_msg_num"),
            raw.max_msg_num,
            DEFAULT_MAX_MSG_NUM,
            1,
            100,
        );
        let max_tx_size = self.range(
            &k("max_tx_size"),
            raw.max_tx_size,
            DEFAULT_MAX_TX_SIZE,
            1,
            MAX_TX_SIZE_LIMIT as u64,
        );
        let max_concurrent_requests = self.range(
            &k("max_concurrent_requests"),
            raw.max_concurrent_requests,
            DEFAULT_MAX_CONCURRENT_REQUESTS,
            1,
            1024,
        );
        let rpc_timeout = self.positive_duration(
            &k("rpc_timeout"),
            raw.rpc_timeout.as_deref(),
            DEFAULT_RPC_TIMEOUT,
        );
        let clock_drift = self.duration(
            &k("clock_drift"),
            raw.clock_drift.as_deref(),
            DEFAULT_CLOCK_DRIFT,
        );
        let max_block_time = self.positive_duration(
            &k("max_block_time"),
            raw.max_block_time.as_deref(),
            DEFAULT_MAX_BLOCK_TIME,
        );
        let trusting_period = raw
            .trusting_period
            .as_deref()
            .map(|t| self.positive_duration(&k("trusting_period"), Some(t), Duration::ZERO));
        let trust_threshold = match raw.trust_threshold.as_deref().map(TrustThreshold::parse) {
            None => TrustThreshold::default(),
            Some(Ok(t)) => t,
            Some(Err(e)) => {
                self.issue(&k("trust_threshold"), e);
                TrustThreshold::default()
            }
        };
        let proof_specs = match raw.proof_specs.as_deref().map(ProofSpecs::parse) {
            None => ProofSpecs::default(),
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                self.issue(&k("proof_specs"), e);
                ProofSpecs::default()
            }
        };

        if self.issues.len() != before {
            return None;
        }
        Some(ChainConfig {
            label: label.to_string(),
            id: raw.id,
            rpc_addr: rpc_addr?,
            websocket_addr: websocket_addr?,
            grpc_addr,
            account_prefix: raw.account_prefix,
            key_name: raw.key_name,
            key_store_folder: key_store_folder?,
            gas_price: raw.gas_price,
            gas_multiplier,
            max_gas,
            max_msg_num,
            max_tx_size,
            max_concurrent_requests,
            rpc_timeout,
            clock_drift,
            max_block_time,
            trusting_period,
            trust_threshold,
            proof_specs,
        })
    }

    fn relay(&mut self, raw: RawRelay) -> RelayConfig {
        let mut channels = ChannelFilter::default();
        if let Some(filter) = raw.channels {
            channels.policy = filter.policy;
            for (i, (port, channel)) in filter.list.iter().enumerate() {
                let port = Pattern::new(port)
                    .map_err(|e| self.issue(&format!("relay.channels.list[{i}][0]"), e))
                    .ok();
                let channel = Pattern::new(channel)
                    .map_err(|e| self.issue(&format!("relay.channels.list[{i}][1]"), e))
                    .ok();
                if let (Some(p), Some(c)) = (port, channel) {
                    channels.list.push((p, c));
                }
            }
        }
        RelayConfig {
            channels,
            clear_interval: raw.clear_interval.unwrap_or(DEFAULT_CLEAR_INTERVAL),
            clear_on_start: raw.clear_on_start.unwrap_or(true),
            shutdown_grace: self.duration(
                "relay.shutdown_grace",
                raw.shutdown_grace.as_deref(),
                DEFAULT_SHUTDOWN_GRACE,
            ),
            client_refresh_rate: match raw.client_refresh_rate.as_deref().map(parse_rate) {
                None => DEFAULT_CLIENT_REFRESH_RATE,
                Some(Ok(r)) => r,
                Some(Err(e)) => {
                    self.issue("relay.client_refresh_rate", e);
                    DEFAULT_CLIENT_REFRESH_RATE
                }
            },
        }
    }

    fn telemetry(&mut self, raw: RawTelemetry) -> TelemetryConfig {
        let d = TelemetryConfig::default();
        let t = TelemetryConfig {
            enabled: raw.enabled.unwrap_or(d.enabled),
            host: raw.host.unwrap_or(d.host),
            port: raw.port.unwrap_or(d.port),
            allow_remote: raw.allow_remote.unwrap_or(d.allow_remote),
        };
        if !t.allow_remote && !is_loopback_host(&t.host) {
            self.issue(
                "telemetry.host",
                format!(
                    "{:?} is not a loopback address; the status server has no authentication, so \
                     set `allow_remote = true` to listen on other interfaces",
                    t.host
                ),
            );
        }
        if t.host.trim().is_empty() || t.host.contains(char::is_whitespace) {
            self.issue(
                "telemetry.host",
                format!("{:?} is not a valid host", t.host),
            );
        }
        if t.enabled && t.port == 0 {
            self.issue("telemetry.port", "must not be 0 when telemetry is enabled");
        }
        t
    }
}

/// Cosmos SDK denom syntax: `[a-zA-Z][a-zA-Z0-9/:._-]{2,127}`.
/// Parses a fraction strictly between 0 and 1, written `"1/3"` or `"0.33"`.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let value = match t.split_once('/') {
        Some((n, d)) => {
            let n: f64 = n
                .trim()
                .parse()
                .map_err(|_| format!("bad numerator in {text:?}"))?;
            let d: f64 = d
                .trim()
                .parse()
                .map_err(|_| format!("bad denominator in {text:?}"))?;
            if d == 0.0 {
                return Err(format!("zero denominator in {text:?}"));
            }
            n / d
        }
        None => t
            .parse()
            .map_err(|_| format!("expected a fraction like \"1/3\" or \"0.33\", got {text:?}"))?,
    };
    if !(value > 0.0 && value < 1.0) {
        return Err(format!("{text} must be between 0 and 1 (exclusive)"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[chains.a]
id = "devnet-a"
rpc_addr = "http://127.0.0.1:26657"
account_prefix = "cosmos"
key_name = "relayer-a"
key_store_folder = "keys"
gas_price = { price = 0.025, denom = "stake" }

[chains.b]
id = "devnet-b"
rpc_addr = "https://rpc.example.com/b/"
grpc_addr = "http://127.0.0.1:9191"
account_prefix = "cosmos"
key = "relayer-b"
gas_price = { price = 0, denom = "stake" }
gas_multiplier = 1.3
max_msg_num = 10
rpc_timeout = "3s"
trusting_period = "14days"
trust_threshold = "1/3"

[relay]
channels = { policy = "allow", list = [["transfer", "channel-*"]] }
clear_interval = 50
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(text, Path::new("/etc/arke/pair.toml"))
    }

    #[test]
    fn good_config_with_defaults() {
        let c = parse(GOOD).unwrap();
        let a = &c.chains.a;
        assert_eq!(a.websocket_addr.as_str(), "ws://127.0.0.1:26657/websocket");
        assert_eq!(a.key_store_folder, PathBuf::from("/etc/arke/keys"));
        assert_eq!(a.gas_multiplier, DEFAULT_GAS_MULTIPLIER);
        assert_eq!(a.max_gas, DEFAULT_MAX_GAS);
        assert_eq!(a.max_msg_num, 30);
        assert_eq!(a.max_tx_size, 180_000);
        assert_eq!(a.max_concurrent_requests, 16);
        assert_eq!(a.rpc_timeout, Duration::from_secs(10));
        assert_eq!(a.trust_threshold, TrustThreshold::default());
        assert_eq!(a.proof_specs, ProofSpecs::cosmos_sdk());
        let b = &c.chains.b;
        assert_eq!(
            b.websocket_addr.as_str(),
            "wss://rpc.example.com/b/websocket"
        );
        assert_eq!(b.key_name, "relayer-b");
        assert_eq!(b.trusting_period, Some(Duration::from_secs(14 * 86_400)));
        assert_eq!(b.max_msg_num, 10);
        assert!(c.relay.channels.permits("transfer", "channel-3"));
        assert!(!c.relay.channels.permits("icahost", "channel-3"));
        assert_eq!(c.relay.clear_interval, 50);
        assert!(c.relay.clear_on_start);
        assert_eq!(c.telemetry, TelemetryConfig::default());
        assert_eq!(
            c.chains.get("devnet-b").map(|c| c.label.as_str()),
            Some("b")
        );
        assert_eq!(
            c.chains.counterparty_of("devnet-a").map(|c| c.id.as_str()),
            Some("devnet-b")
        );
    }

    fn one_issue(text: &str) -> ConfigIssue {
        let err = parse(text).unwrap_err();
        assert_eq!(err.issues.len(), 1, "{err}");
        err.issues[0].clone()
    }

    #[test]
    fn unknown_key_is_located() {
        let text = GOOD.replace("max_msg_num = 10", "max_msg_num = 10\nmax_msgs = 3");
        let issue = one_issue(&text);
        assert_eq!(issue.key.as_deref(), Some("chains.b.max_msgs"));
        assert_eq!(issue.line, Some(19));
        assert!(issue.message.contains("unknown field"), "{}", issue.message);
    }

    #[test]
    fn missing_key_is_located() {
        let text = GOOD.replace("account_prefix = \"cosmos\"\nkey_name", "key_name");
        let issue = one_issue(&text);
        assert_eq!(
            issue.key.as_deref(),
            Some("chains.a.account_prefix"),
            "{issue:?}"
        );
        assert!(issue.line.is_some());
    }

    #[test]
    fn bad_type_is_located() {
        let text = GOOD.replace("max_msg_num = 10", "max_msg_num = \"ten\"");
        let issue = one_issue(&text);
        assert_eq!(issue.key.as_deref(), Some("chains.b.max_msg_num"));
        assert_eq!(issue.line, Some(18));
    }

    #[test]
    fn semantic_errors_are_all_reported() {
        let text = GOOD
            .replace("gas_multiplier = 1.3", "gas_multiplier = 0.9")
            .replace("max_msg_num = 10", "max_msg_num = 101")
            .replace("rpc_timeout = \"3s\"", "rpc_timeout = \"3 parsecs\"")
            .replace("id = \"devnet-b\"", "id = \"devnet-a\"")
            .replace("\"channel-*\"", "\"chan nel\"");
        let err = parse(&text).unwrap_err();
        let keys: Vec<_> = err.issues.iter().filter_map(|i| i.key.clone()).collect();
        for k in [
            "chains.b.gas_multiplier",
            "chains.b.max_msg_num",
            "chains.b.rpc_timeout",
            "chains.b.id",
            "relay.channels.list[0][1]",
        ] {
            assert!(keys.iter().any(|x| x == k), "missing {k} in {keys:?}");
        }
        assert!(err.issues.iter().all(|i| i.line.is_some()));
        let shown = err.to_string();
        assert!(shown.contains("/etc/arke/pair.toml:11:"), "{shown}");
    }

    #[test]
    fn bad_urls_and_thresholds() {
        let text = GOOD
            .replace("http://127.0.0.1:26657", "127.0.0.1:26657")
            .replace("trust_threshold = \"1/3\"", "trust_threshold = \"1/4\"");
        let err = parse(&text).unwrap_err();
        let keys: Vec<_> = err.issues.iter().filter_map(|i| i.key.clone()).collect();
        assert!(keys.contains(&"chains.a.rpc_addr".to_string()), "{keys:?}");
        assert!(
            keys.contains(&"chains.b.trust_threshold".to_string()),
            "{keys:?}"
        );
    }

    #[test]
    fn syntax_error_is_located() {
        let issue = one_issue("[chains.a]\nid = \n");
        assert_eq!(issue.line, Some(2));
        assert_eq!(issue.key.as_deref(), Some("chains.a.id"));
    }

    #[test]
    fn proof_specs_forms() {
        assert_eq!(
            ProofSpecs::parse("cosmos-sdk"),
            Ok(ProofSpecs::cosmos_sdk())
        );
        assert!(ProofSpecs::parse("nope").is_err());
        assert!(ProofSpecs::parse("[]").is_err());
        let json = serde_json::to_string(&ProofSpecs::cosmos_sdk().0).unwrap();
        assert_eq!(ProofSpecs::parse(&json), Ok(ProofSpecs::cosmos_sdk()));
    }

    #[test]
    fn websocket_derivation() {
        let u = |s: &str| {
            derive_websocket_addr(&Url::parse(s).unwrap())
                .unwrap()
                .to_string()
        };
        assert_eq!(u("http://h:1"), "ws://h:1/websocket");
        assert_eq!(u("https://h/x/"), "wss://h/x/websocket");
    }

    #[test]
    fn key_names() {
        assert!(valid_key_name("relayer-a_1.x"));
        assert!(!valid_key_name(""));
        assert!(!valid_key_name("../etc"));
        assert!(!valid_key_name("a/b"));
        assert!(!valid_key_name(".hidden"));
    }

    #[test]
    fn refresh_rates() {
        assert!((parse_rate("1/3").unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(parse_rate(" 0.5 ").unwrap(), 0.5);
        for bad in ["0", "1", "3/2", "1/0", "x", "-0.1", "NaN"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        assert_eq!(
            RelayConfig::default().client_refresh_rate,
            DEFAULT_CLIENT_REFRESH_RATE
        );
        let c = parse(&GOOD.replace("[relay]", "[relay]\nclient_refresh_rate = \"1/4\"")).unwrap();
        assert_eq!(c.relay.client_refresh_rate, 0.25);
    }
}
