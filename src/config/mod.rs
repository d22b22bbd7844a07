//! The chain-pair config file: its schema (the public, fully-typed [`Config`] and its parts).
//!
//! One TOML file per chain pair (`[chains.a]`, `[chains.b]`, `[relay]`, `[telemetry]`). Key names
//! follow Hermes where the meaning is the same (`rpc_addr`, `key_name`, `gas_price`, `max_msg_num`,
//! `clock_drift`, …). Parsing happens in two steps: serde into private `Raw*` structs with
//! `deny_unknown_fields` (`raw`), then validation into [`Config`] (`validate`). Every problem
//! found in either step is reported as a [`ConfigIssue`] that names the file, the line and column,
//! and the dotted key (`chains.a.gas_multiplier`), so an operator can fix a file in one pass
//! (`errors`). Defaults and derived values live in `defaults`.

mod defaults;
mod duration;
mod endpoints;
mod errors;
mod filter;
mod raw;
pub(crate) mod source;
mod validate;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;

pub(crate) use self::defaults::derive_websocket_addr;
#[cfg(feature = "devnet")]
pub(crate) use self::defaults::resolve_path;
pub use self::defaults::DEFAULT_MAX_TX_SIZE;
pub(crate) use self::defaults::DEFAULT_RESCAN_INTERVAL;
pub(crate) use self::defaults::{
    default_key_store, DEFAULT_CLEAR_INTERVAL, DEFAULT_CLIENT_REFRESH_RATE, DEFAULT_SHUTDOWN_GRACE,
    DEFAULT_TELEMETRY_PORT,
};
pub(crate) use self::defaults::{DEFAULT_BACKUP_DELAY, MAX_PEERS};
pub(crate) use self::defaults::{
    DEFAULT_DEFAULT_GAS, DEFAULT_DYNAMIC_GAS_MAX, DEFAULT_DYNAMIC_GAS_MULTIPLIER,
    MAX_MEMO_PREFIX_CHARS,
};
#[cfg(test)]
pub(crate) use self::defaults::{DEFAULT_GAS_MULTIPLIER, DEFAULT_MAX_GAS};
// `arke devnet` reads its own settings file and reports its problems in the same form.
#[cfg(feature = "devnet")]
pub(crate) use self::duration::format_duration;
pub(crate) use self::duration::{parse_duration, HumanDuration};
pub use self::endpoints::{CaFile, EndpointAddrs, EndpointsConfig};
#[cfg(feature = "devnet")]
pub(crate) use self::errors::toml_issue;
pub(crate) use self::errors::ConfigError;
pub(crate) use self::errors::ConfigIssue;
pub(crate) use self::filter::{ChannelFilter, FilterPolicy, Pattern};
pub(crate) use self::validate::valid_key_name;
#[cfg(test)]
pub(crate) use self::validate::{is_loopback_host, parse_rate};

/// A validated chain-pair config.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub(crate) path: PathBuf,
    /// The two chains.
    pub chains: ChainPair,
    /// Relaying policy.
    pub(crate) relay: RelayConfig,
    /// Metrics endpoint.
    pub telemetry: TelemetryConfig,
    /// Keys that were accepted but have no effect (`grpc_addr`), located like errors.
    pub(crate) warnings: Vec<ConfigIssue>,
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
    pub(crate) fn iter(&self) -> impl Iterator<Item = &ChainConfig> {
        [&self.a, &self.b].into_iter()
    }

    /// The chain whose id or label (`a` / `b`) is `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&ChainConfig> {
        self.iter().find(|c| c.id == name || c.label == name)
    }

    #[cfg(test)]
    /// The other chain of the pair.
    pub(crate) fn counterparty_of(&self, chain_id: &str) -> Option<&ChainConfig> {
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
    /// Bech32 prefix of account addresses.
    pub account_prefix: String,
    /// Name of the signing key in the key store (the first of `key_names`): it signs
    /// handshakes, client refreshes and channel closes.
    pub key_name: String,
    /// Every signer of packet messages on this chain (`key_names`, or just `key_name`); packets
    /// are shared out among them.
    pub key_names: Vec<String>,
    /// Key store directory (absolute).
    pub key_store_folder: PathBuf,
    /// Fee price.
    pub gas_price: GasPrice,
    /// Multiplier applied to simulated gas.
    pub gas_multiplier: f64,
    /// Gas cap per tx.
    pub max_gas: u64,
    /// `dynamic_gas_price`: pay the chain's current base gas price (fee market) times a
    /// multiplier, capped; off by default.
    pub dynamic_gas_price: DynamicGasPrice,
    /// Gas limit of a tx whose simulation failed for another reason than a sequence mismatch
    /// (at most `max_gas`).
    pub default_gas: u64,
    /// Account whose fee grant (x/feegrant) pays the fees; `None`: the signer pays.
    pub fee_granter: Option<String>,
    /// Text put in front of every tx memo.
    pub memo_prefix: Option<String>,
    /// Messages per tx, 1..=100.
    pub max_msg_num: usize,
    /// Tx size cap in bytes.
    pub max_tx_size: usize,
    /// Broadcast txs of one signer that may wait for their block at once, 1..=1000.
    pub max_txs_in_flight: usize,
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
    /// Backup endpoints, their probing, and extra TLS trust roots.
    pub endpoints: EndpointsConfig,
}

impl ChainConfig {
    /// Every endpoint in order of preference: `rpc_addr` / `websocket_addr`, then the backups.
    pub(crate) fn all_endpoints(&self) -> Vec<EndpointAddrs> {
        let mut all = vec![EndpointAddrs {
            rpc: self.rpc_addr.clone(),
            websocket: self.websocket_addr.clone(),
        }];
        all.extend(self.endpoints.backups.iter().cloned());
        all
    }
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

/// `dynamic_gas_price = { enabled = true, multiplier = 1.1, max = 0.6 }`: the fee follows the
/// chain's base gas price (the feemarket module's `GasPrice` or Osmosis's EIP-1559 base fee):
/// `clamp(base × multiplier, gas_price.price, max)`. When off, or while the chain's price cannot
/// be read, the fee is `gas_price`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DynamicGasPrice {
    /// Follow the chain's price.
    pub enabled: bool,
    /// Factor on the chain's price (1.0..=10.0).
    pub multiplier: f64,
    /// Highest price paid, in `gas_price.denom` per gas.
    pub max: f64,
}

impl Default for DynamicGasPrice {
    fn default() -> Self {
        Self {
            enabled: false,
            multiplier: DEFAULT_DYNAMIC_GAS_MULTIPLIER,
            max: DEFAULT_DYNAMIC_GAS_MAX,
        }
    }
}

/// A fraction in [1/3, 1], written `"2/3"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustThreshold {
    /// Numerator.
    pub(crate) numerator: u64,
    /// Denominator (non-zero).
    pub(crate) denominator: u64,
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
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
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
    pub(crate) fn cosmos_sdk() -> Self {
        Self(vec![ics23::iavl_spec(), ics23::tendermint_spec()])
    }

    /// `"cosmos-sdk"`, or a JSON list of ICS-23 `ProofSpec`s (the format Hermes accepts).
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
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
pub(crate) struct RelayConfig {
    /// Which channels to relay.
    pub(crate) channels: ChannelFilter,
    /// Clear pending packets every N blocks (0 disables periodic clearing).
    pub(crate) clear_interval: u64,
    /// Clear pending packets when the daemon starts.
    pub(crate) clear_on_start: bool,
    /// How long SIGTERM waits for in-flight work.
    pub(crate) shutdown_grace: Duration,
    /// Fraction of a client's trusting period after which the daemon updates it, in (0, 1).
    pub(crate) client_refresh_rate: f64,
    /// Where the per-chain cursors live (`[relay] state_dir`, else the default of
    /// `defaults::default_state_dir`); `None` when no such directory can be named.
    pub(crate) state_dir: Option<PathBuf>,
    /// How often discovery lists every channel and a quiet channel is cleared anyway, without
    /// an event asking for it (the safety net of event-driven discovery and clearing).
    pub(crate) rescan_interval: Duration,
    /// The other instances' signers on each chain (by [`ChainPair`] order: a, then b), what
    /// `relay::shard` ranks with this instance's own signers. Empty: no sharding on that chain.
    pub(crate) peers: [Vec<String>; 2],
    /// Blocks a backup of rank `k` waits, `k` times, before relaying a packet no one relayed.
    pub(crate) backup_delay: u64,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            channels: ChannelFilter::default(),
            clear_interval: DEFAULT_CLEAR_INTERVAL,
            clear_on_start: true,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            client_refresh_rate: DEFAULT_CLIENT_REFRESH_RATE,
            state_dir: None,
            rescan_interval: DEFAULT_RESCAN_INTERVAL,
            peers: [Vec::new(), Vec::new()],
            backup_delay: DEFAULT_BACKUP_DELAY,
        }
    }
}

/// `[telemetry]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// Serve metrics.
    pub enabled: bool,
    /// Listen host.
    pub(crate) host: String,
    /// Listen port.
    pub port: u16,
    /// Allow a non-loopback `host` (the server has no authentication and `POST /clear`).
    pub(crate) allow_remote: bool,
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

#[cfg(test)]
mod tests;
