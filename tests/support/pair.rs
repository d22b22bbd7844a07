//! The pair config file of two test chains.

use std::path::Path;

use arke::config::Config;
use devnet::harness::TestChain;

/// A pair config for chains `a` and `b` (keys under `dir/keys`, cursors under `dir/state`, zero
/// gas price, generous tx limits) with `extra_relay` appended to its `[relay]` section.
pub fn pair_config(a: &TestChain, b: &TestChain, dir: &Path, extra_relay: &str) -> Config {
    let text = pair_config_text(a, b, dir, extra_relay);
    Config::from_toml_str(&text, &dir.join("pair.toml")).expect("valid config")
}

/// The text of [`pair_config`].
pub fn pair_config_text(a: &TestChain, b: &TestChain, dir: &Path, extra_relay: &str) -> String {
    format!(
        r#"
[chains.a]
id = "{a_id}"
rpc_addr = "{a_rpc}"
account_prefix = "cosmos"
key_name = "relayer"
key_store_folder = "{keys}"
gas_price = {{ price = 0.0, denom = "stake" }}
max_gas = 50000000
max_msg_num = 50
max_tx_size = 2000000
rpc_timeout = "5s"

[chains.b]
id = "{b_id}"
rpc_addr = "{b_rpc}"
account_prefix = "cosmos"
key_name = "relayer"
key_store_folder = "{keys}"
gas_price = {{ price = 0.0, denom = "stake" }}
max_gas = 50000000
max_msg_num = 50
max_tx_size = 2000000
rpc_timeout = "5s"

[relay]
{clear_interval}shutdown_grace = "10s"
state_dir = "{state}"
{extra_relay}
"#,
        a_id = a.devnet.chain_id(),
        a_rpc = a.devnet.rpc_url(),
        b_id = b.devnet.chain_id(),
        b_rpc = b.devnet.rpc_url(),
        keys = dir.join("keys").display(),
        state = dir.join("state").display(),
        // 20 blocks unless `extra_relay` says otherwise.
        clear_interval = if extra_relay.contains("clear_interval") {
            ""
        } else {
            "clear_interval = 20\n"
        },
    )
}
