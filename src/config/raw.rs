//! The raw serde schema: the file as written, every optional key an `Option`, unknown keys
//! refused (`deny_unknown_fields`). [`super::validate`] turns it into the typed [`super::Config`].

use serde::Deserialize;

use super::{FilterPolicy, GasPrice};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) chains: RawChains,
    #[serde(default)]
    pub(super) relay: RawRelay,
    #[serde(default)]
    pub(super) telemetry: RawTelemetry,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChains {
    pub(super) a: RawChain,
    pub(super) b: RawChain,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChain {
    pub(super) id: String,
    pub(super) rpc_addr: String,
    pub(super) websocket_addr: Option<String>,
    pub(super) grpc_addr: Option<String>,
    pub(super) account_prefix: String,
    #[serde(alias = "key")]
    pub(super) key_name: Option<String>,
    /// Several signers (instead of `key_name`).
    pub(super) key_names: Option<Vec<String>>,
    #[serde(alias = "key_store")]
    pub(super) key_store_folder: Option<String>,
    pub(super) gas_price: GasPrice,
    pub(super) gas_multiplier: Option<f64>,
    pub(super) max_gas: Option<u64>,
    pub(super) dynamic_gas_price: Option<RawDynamicGasPrice>,
    pub(super) default_gas: Option<u64>,
    pub(super) fee_granter: Option<String>,
    pub(super) memo_prefix: Option<String>,
    pub(super) max_msg_num: Option<u64>,
    pub(super) max_tx_size: Option<u64>,
    pub(super) max_txs_in_flight: Option<u64>,
    pub(super) max_concurrent_requests: Option<u64>,
    pub(super) rpc_timeout: Option<String>,
    pub(super) clock_drift: Option<String>,
    pub(super) max_block_time: Option<String>,
    pub(super) trusting_period: Option<String>,
    pub(super) trust_threshold: Option<String>,
    pub(super) proof_specs: Option<String>,
    // Failover and TLS (`super::endpoints`).
    pub(super) backup_rpc_addrs: Option<Vec<String>>,
    pub(super) backup_websocket_addrs: Option<Vec<String>>,
    pub(super) endpoint_probe_interval: Option<String>,
    pub(super) max_endpoint_lag: Option<u64>,
    pub(super) ca_file: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDynamicGasPrice {
    pub(super) enabled: Option<bool>,
    pub(super) multiplier: Option<f64>,
    pub(super) max: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRelay {
    pub(super) channels: Option<RawFilter>,
    pub(super) clear_interval: Option<u64>,
    pub(super) clear_on_start: Option<bool>,
    pub(super) shutdown_grace: Option<String>,
    pub(super) client_refresh_rate: Option<String>,
    pub(super) state_dir: Option<String>,
    // Idle cost.
    pub(super) rescan_interval: Option<String>,
    // Sharding between instances (`relay::shard`).
    pub(super) peers: Option<RawPeers>,
    pub(super) backup_delay: Option<u64>,
}

/// `peers = { a = ["cosmos1…"], b = ["cosmos1…"] }`: the other instances' signers per chain.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPeers {
    #[serde(default)]
    pub(super) a: Vec<String>,
    #[serde(default)]
    pub(super) b: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFilter {
    pub(super) policy: FilterPolicy,
    #[serde(default)]
    pub(super) list: Vec<(String, String)>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTelemetry {
    pub(super) enabled: Option<bool>,
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) allow_remote: Option<bool>,
}
