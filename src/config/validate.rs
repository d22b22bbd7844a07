//! Loading and validation: reads the file, deserializes it into the raw schema, then checks
//! every key into the typed [`Config`], collecting every problem as a located [`ConfigIssue`]
//! instead of stopping at the first. Also the syntax checks other parts share (key names,
//! rates, denoms, loopback hosts).

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;

use super::defaults::{
    default_key_store, default_state_dir, derive_websocket_addr, resolve_path,
    DEFAULT_CLEAR_INTERVAL, DEFAULT_CLIENT_REFRESH_RATE, DEFAULT_CLOCK_DRIFT,
    DEFAULT_GAS_MULTIPLIER, DEFAULT_MAX_BLOCK_TIME, DEFAULT_MAX_CONCURRENT_REQUESTS,
    DEFAULT_MAX_GAS, DEFAULT_MAX_MSG_NUM, DEFAULT_MAX_TX_SIZE, DEFAULT_RPC_TIMEOUT,
    DEFAULT_SHUTDOWN_GRACE, MAX_TX_SIZE_LIMIT,
};
use super::defaults::{DEFAULT_BACKUP_DELAY, MAX_BACKUP_DELAY, MAX_PEERS};
use super::defaults::{DEFAULT_MAX_TXS_IN_FLIGHT, MAX_TXS_IN_FLIGHT_LIMIT};
use super::defaults::{DEFAULT_RESCAN_INTERVAL, MIN_RESCAN_INTERVAL};
use super::endpoints::{
    CaFile, EndpointAddrs, EndpointsConfig, DEFAULT_ENDPOINT_PROBE_INTERVAL,
    DEFAULT_MAX_ENDPOINT_LAG,
};
use super::errors::{deserialize_issue, ConfigError, ConfigIssue};
use super::raw::{RawChain, RawConfig, RawPeers, RawRelay, RawTelemetry};
use super::source::SourceMap;
use super::{
    parse_duration, ChainConfig, ChainPair, ChannelFilter, Config, DynamicGasPrice, HumanDuration,
    Pattern, ProofSpecs, RelayConfig, TelemetryConfig, TrustThreshold, DEFAULT_DEFAULT_GAS,
    DEFAULT_DYNAMIC_GAS_MAX, DEFAULT_DYNAMIC_GAS_MULTIPLIER, MAX_MEMO_PREFIX_CHARS,
};

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
            warnings: Vec::new(),
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
        let prefixes = [
            raw.chains.a.account_prefix.clone(),
            raw.chains.b.account_prefix.clone(),
        ];
        let a = check.chain("a", raw.chains.a, &base_dir);
        let b = check.chain("b", raw.chains.b, &base_dir);
        let relay = check.relay(raw.relay, path, &base_dir, &prefixes);
        let telemetry = check.telemetry(raw.telemetry);
        let mut issues = check.issues;
        issues.sort_by_key(|i| (i.line.unwrap_or(usize::MAX), i.column.unwrap_or(0)));
        match (a, b, issues.is_empty()) {
            (Some(a), Some(b), true) => Ok(Config {
                path: path.to_path_buf(),
                chains: ChainPair { a, b },
                relay,
                telemetry,
                warnings: check.warnings,
            }),
            _ => Err(ConfigError {
                file: path.to_path_buf(),
                issues,
            }),
        }
    }
}

/// Whether `host` names the loopback interface (`localhost`, `127.0.0.0/8`, `::1`).
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether `name` is an acceptable key name: 1–64 of `[A-Za-z0-9._-]`, not starting with `.`.
pub(crate) fn valid_key_name(name: &str) -> bool {
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
    /// Accepted, but worth telling the operator (keys that have no effect).
    warnings: Vec<ConfigIssue>,
}

impl Checker<'_, '_> {
    /// Records a problem at `key`, located at the key if present, else its nearest present parent.
    fn issue(&mut self, key: &str, message: impl Into<String>) {
        let issue = self.locate(key, message.into());
        self.issues.push(issue);
    }

    /// Records a warning at `key`, located as [`Self::issue`] locates problems.
    fn warning(&mut self, key: &str, message: impl Into<String>) {
        let warning = self.locate(key, message.into());
        self.warnings.push(warning);
    }

    fn locate(&self, key: &str, message: String) -> ConfigIssue {
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
        ConfigIssue {
            line,
            column,
            key: Some(key.to_string()),
            message,
        }
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
        // Accepted so that a chain section written for Hermes loads unchanged, but nothing would
        // use it: every query goes through the RPC endpoint (`abci_query`).
        if raw.grpc_addr.is_some() {
            self.warning(
                &k("grpc_addr"),
                "is not used: Arke queries the chain over its RPC endpoint (abci_query); remove the key",
            );
        }

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

        // One signer (`key_name`) or several (`key_names`), each a valid, distinct name.
        let (names, key) = match (&raw.key_name, &raw.key_names) {
            (Some(one), None) => (vec![one.clone()], "key_name"),
            (None, Some(many)) => (many.clone(), "key_names"),
            (Some(_), Some(_)) => {
                self.issue(
                    &k("key_names"),
                    "give either key_name or key_names, not both",
                );
                (Vec::new(), "key_names")
            }
            (None, None) => {
                self.issue(
                    &k("key_name"),
                    "missing: the signing key's name (key_name = \"relayer\", or key_names = [\"relayer-1\", \"relayer-2\"])",
                );
                (Vec::new(), "key_name")
            }
        };
        if key == "key_names" && raw.key_names.as_ref().is_some_and(Vec::is_empty) {
            self.issue(&k("key_names"), "must name at least one key");
        }
        for (i, name) in names.iter().enumerate() {
            if !valid_key_name(name) {
                self.issue(
                    &k(key),
                    format!(
                        "{name:?} is not a valid key name (1-64 of letters, digits, '.', '_', '-')"
                    ),
                );
            } else if names[..i].contains(name) {
                self.issue(&k(key), format!("{name:?} is named twice"));
            }
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
        let (dynamic_gas_price, default_gas, fee_granter, memo_prefix) =
            self.fee_keys(label, &raw, max_gas);
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
        let max_txs_in_flight = self.range(
            &k("max_txs_in_flight"),
            raw.max_txs_in_flight,
            DEFAULT_MAX_TXS_IN_FLIGHT,
            1,
            MAX_TXS_IN_FLIGHT_LIMIT,
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

        let endpoints = self.endpoints(label, &raw, rpc_addr.as_ref(), base_dir);

        if self.issues.len() != before {
            return None;
        }
        Some(ChainConfig {
            label: label.to_string(),
            id: raw.id,
            rpc_addr: rpc_addr?,
            websocket_addr: websocket_addr?,
            account_prefix: raw.account_prefix,
            key_name: names.first().cloned()?,
            key_names: names,
            key_store_folder: key_store_folder?,
            gas_price: raw.gas_price,
            gas_multiplier,
            max_gas,
            dynamic_gas_price,
            default_gas,
            fee_granter,
            memo_prefix,
            max_msg_num,
            max_tx_size,
            max_txs_in_flight,
            max_concurrent_requests,
            rpc_timeout,
            clock_drift,
            max_block_time,
            trusting_period,
            trust_threshold,
            proof_specs,
            endpoints,
        })
    }

    /// `backup_rpc_addrs`, `backup_websocket_addrs`, `endpoint_probe_interval`,
    /// `max_endpoint_lag` and `ca_file` of chain `label`.
    fn endpoints(
        &mut self,
        label: &str,
        raw: &RawChain,
        rpc_addr: Option<&Url>,
        base_dir: &Path,
    ) -> EndpointsConfig {
        let k = |field: &str| format!("chains.{label}.{field}");
        let rpcs = raw.backup_rpc_addrs.as_deref().unwrap_or_default();
        let sockets = raw.backup_websocket_addrs.as_deref();
        if let Some(ws) = sockets {
            if ws.len() != rpcs.len() {
                self.issue(
                    &k("backup_websocket_addrs"),
                    format!(
                        "has {} entries but backup_rpc_addrs has {}; give one websocket per backup (or none to derive them)",
                        ws.len(),
                        rpcs.len()
                    ),
                );
            }
        }
        let mut backups = Vec::new();
        let mut seen: Vec<Url> = rpc_addr.cloned().into_iter().collect();
        for (i, text) in rpcs.iter().enumerate() {
            let key = format!("{}[{i}]", k("backup_rpc_addrs"));
            let Some(rpc) = self.url(&key, text, &["http", "https"]) else {
                continue;
            };
            if seen.contains(&rpc) {
                self.issue(
                    &key,
                    format!("{rpc} is listed twice among the chain's endpoints"),
                );
                continue;
            }
            seen.push(rpc.clone());
            let websocket = match sockets.and_then(|s| s.get(i)) {
                Some(ws) => {
                    let key = format!("{}[{i}]", k("backup_websocket_addrs"));
                    self.url(&key, ws, &["ws", "wss"])
                }
                None => derive_websocket_addr(&rpc)
                    .map_err(|e| self.issue(&key, e))
                    .ok(),
            };
            if let Some(websocket) = websocket {
                backups.push(EndpointAddrs { rpc, websocket });
            }
        }
        let probe_interval = self.positive_duration(
            &k("endpoint_probe_interval"),
            raw.endpoint_probe_interval.as_deref(),
            DEFAULT_ENDPOINT_PROBE_INTERVAL,
        );
        let max_lag = raw.max_endpoint_lag.unwrap_or(DEFAULT_MAX_ENDPOINT_LAG);
        let ca_file = match raw.ca_file.as_deref() {
            None => None,
            Some(t) if t.trim().is_empty() => {
                self.issue(&k("ca_file"), "must not be empty");
                None
            }
            Some(t) => match resolve_path(t, base_dir) {
                None => {
                    self.issue(&k("ca_file"), "cannot expand `~`: HOME is not set");
                    None
                }
                Some(path) => CaFile::load(&path)
                    .map_err(|e| self.issue(&k("ca_file"), e))
                    .ok(),
            },
        };
        EndpointsConfig {
            backups,
            probe_interval,
            max_lag,
            ca_file,
        }
    }

    /// `dynamic_gas_price`, `default_gas`, `fee_granter` and `memo_prefix` of one chain.
    fn fee_keys(
        &mut self,
        label: &str,
        raw: &RawChain,
        max_gas: u64,
    ) -> (DynamicGasPrice, u64, Option<String>, Option<String>) {
        let k = |field: &str| format!("chains.{label}.{field}");
        let mut dynamic = DynamicGasPrice::default();
        if let Some(d) = &raw.dynamic_gas_price {
            dynamic.enabled = d.enabled.unwrap_or(false);
            dynamic.multiplier = d.multiplier.unwrap_or(DEFAULT_DYNAMIC_GAS_MULTIPLIER);
            dynamic.max = d.max.unwrap_or(DEFAULT_DYNAMIC_GAS_MAX);
            if !dynamic.multiplier.is_finite() || !(1.0..=10.0).contains(&dynamic.multiplier) {
                self.issue(
                    &k("dynamic_gas_price.multiplier"),
                    format!("must be between 1.0 and 10.0, got {}", dynamic.multiplier),
                );
            }
            if !dynamic.max.is_finite() || dynamic.max <= 0.0 {
                self.issue(
                    &k("dynamic_gas_price.max"),
                    format!("must be a positive number, got {}", dynamic.max),
                );
            } else if dynamic.enabled && dynamic.max < raw.gas_price.price {
                self.issue(
                    &k("dynamic_gas_price.max"),
                    format!(
                        "{} is below gas_price.price {}, the lowest price paid",
                        dynamic.max, raw.gas_price.price
                    ),
                );
            }
        }
        let default_gas = match raw.default_gas {
            None => DEFAULT_DEFAULT_GAS.min(max_gas),
            Some(0) => {
                self.issue(&k("default_gas"), "must be greater than zero");
                1
            }
            Some(g) if g > max_gas => {
                self.issue(&k("default_gas"), format!("{g} is above max_gas {max_gas}"));
                max_gas
            }
            Some(g) => g,
        };
        let fee_granter =
            raw.fee_granter
                .as_ref()
                .and_then(|g| match cosmos::address::decode_address(g) {
                    Ok((hrp, _)) if hrp == raw.account_prefix => Some(g.clone()),
                    Ok((hrp, _)) => {
                        self.issue(
                            &k("fee_granter"),
                            format!(
                                "{g:?} has prefix {hrp:?}, not the chain's account_prefix {:?}",
                                raw.account_prefix
                            ),
                        );
                        None
                    }
                    Err(e) => {
                        self.issue(
                            &k("fee_granter"),
                            format!("{g:?} is not a bech32 address: {e}"),
                        );
                        None
                    }
                });
        let memo_prefix = raw.memo_prefix.as_ref().and_then(|m| {
            let chars = m.chars().count();
            if chars > MAX_MEMO_PREFIX_CHARS {
                self.issue(
                    &k("memo_prefix"),
                    format!("is {chars} characters long; at most {MAX_MEMO_PREFIX_CHARS}"),
                );
                None
            } else if m.chars().any(char::is_control) {
                self.issue(&k("memo_prefix"), "must not contain control characters");
                None
            } else {
                Some(m.clone()).filter(|m| !m.trim().is_empty())
            }
        });
        (dynamic, default_gas, fee_granter, memo_prefix)
    }

    /// `peers` and `backup_delay`: each peer a bech32 address with its chain's prefix, listed
    /// once, at most [`MAX_PEERS`] per chain.
    fn peers(
        &mut self,
        raw: Option<RawPeers>,
        backup_delay: Option<u64>,
        prefixes: &[String; 2],
    ) -> ([Vec<String>; 2], u64) {
        let given = raw.is_some();
        let raw = raw.unwrap_or_default();
        let mut peers = [Vec::new(), Vec::new()];
        for (i, (label, list)) in [("a", raw.a), ("b", raw.b)].into_iter().enumerate() {
            let key = format!("relay.peers.{label}");
            if list.len() > MAX_PEERS {
                self.issue(
                    &key,
                    format!("lists {} peers; at most {MAX_PEERS}", list.len()),
                );
                continue;
            }
            for (j, address) in list.into_iter().enumerate() {
                let at = format!("{key}[{j}]");
                match cosmos::address::decode_address(&address) {
                    Ok((hrp, _)) if hrp != prefixes[i] => self.issue(
                        &at,
                        format!(
                            "{address:?} has prefix {hrp:?}, not chain {label}'s account_prefix {:?}",
                            prefixes[i]
                        ),
                    ),
                    Ok(_) if peers[i].contains(&address) => {
                        self.issue(&at, format!("{address:?} is listed twice"))
                    }
                    Ok(_) => peers[i].push(address),
                    Err(e) => self.issue(&at, format!("{address:?} is not a bech32 address: {e}")),
                }
            }
        }
        let delay = match backup_delay {
            None => DEFAULT_BACKUP_DELAY,
            Some(d) if !(1..=MAX_BACKUP_DELAY).contains(&d) => {
                self.issue(
                    "relay.backup_delay",
                    format!("must be between 1 and {MAX_BACKUP_DELAY} blocks, got {d}"),
                );
                DEFAULT_BACKUP_DELAY
            }
            Some(d) => d,
        };
        if backup_delay.is_some() && !given {
            self.warning(
                "relay.backup_delay",
                "has no effect without `peers`: this instance relays every packet at once",
            );
        }
        (peers, delay)
    }

    fn relay(
        &mut self,
        raw: RawRelay,
        path: &Path,
        base_dir: &Path,
        prefixes: &[String; 2],
    ) -> RelayConfig {
        let (peers, backup_delay) = self.peers(raw.peers, raw.backup_delay, prefixes);
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
            state_dir: match raw.state_dir.as_deref().map(str::trim) {
                None => default_state_dir(path),
                Some("") => {
                    self.issue("relay.state_dir", "must not be empty");
                    None
                }
                Some(dir) => {
                    let resolved = resolve_path(dir, base_dir);
                    if resolved.is_none() {
                        self.issue(
                            "relay.state_dir",
                            format!("cannot expand {dir:?}: HOME is not set"),
                        );
                    }
                    resolved
                }
            },
            rescan_interval: {
                let key = "relay.rescan_interval";
                let d = self.duration(key, raw.rescan_interval.as_deref(), DEFAULT_RESCAN_INTERVAL);
                if d < MIN_RESCAN_INTERVAL {
                    self.issue(
                        key,
                        format!("must be at least {}", HumanDuration(MIN_RESCAN_INTERVAL)),
                    );
                }
                d
            },
            peers,
            backup_delay,
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
pub(crate) fn parse_rate(text: &str) -> Result<f64, String> {
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
