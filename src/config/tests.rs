//! Unit tests of loading and validation: defaults, located issues, and the value parsers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;

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
    assert_eq!(a.max_txs_in_flight, 16);
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
        .replace(
            "max_msg_num = 10",
            "max_msg_num = 101\nmax_txs_in_flight = 0",
        )
        .replace("rpc_timeout = \"3s\"", "rpc_timeout = \"3 parsecs\"")
        .replace("id = \"devnet-b\"", "id = \"devnet-a\"")
        .replace("\"channel-*\"", "\"chan nel\"");
    let err = parse(&text).unwrap_err();
    let keys: Vec<_> = err.issues.iter().filter_map(|i| i.key.clone()).collect();
    for k in [
        "chains.b.gas_multiplier",
        "chains.b.max_msg_num",
        "chains.b.max_txs_in_flight",
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

#[test]
fn grpc_addr_is_accepted_with_a_located_warning() {
    let c = parse(GOOD).unwrap();
    let line = GOOD
        .lines()
        .position(|l| l.starts_with("grpc_addr"))
        .unwrap()
        + 1;
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert_eq!(c.warnings[0].key.as_deref(), Some("chains.b.grpc_addr"));
    assert_eq!(c.warnings[0].line, Some(line));
    assert_eq!(
        c.warning_lines(),
        vec![format!(
            "/etc/arke/pair.toml:{line}:1: key `chains.b.grpc_addr`: is not used: Arke queries \
             the chain over its RPC endpoint (abci_query); remove the key"
        )]
    );
    let without = parse(&GOOD.replace("grpc_addr = \"http://127.0.0.1:9191\"\n", "")).unwrap();
    assert!(without.warnings.is_empty());
    assert!(without.warning_lines().is_empty());
    // Still a string key: another type is an error, located as any other.
    let issue = one_issue(&GOOD.replace("\"http://127.0.0.1:9191\"", "9191"));
    assert_eq!(issue.key.as_deref(), Some("chains.b.grpc_addr"));
    assert_eq!(issue.line, Some(line));
}

#[test]
fn fee_keys_defaults_and_errors() {
    let c = parse(GOOD).unwrap();
    let a = &c.chains.a;
    assert_eq!(a.dynamic_gas_price, DynamicGasPrice::default());
    assert!(!a.dynamic_gas_price.enabled);
    assert_eq!(a.default_gas, 100_000);
    assert_eq!(
        (a.fee_granter.as_deref(), a.memo_prefix.as_deref()),
        (None, None)
    );
    let granter = cosmos::address::encode_address("cosmos", &[7; 20]);
    let extra = format!(
        "max_gas = 50000\ndynamic_gas_price = {{ enabled = true, multiplier = 1.2, max = 0.5 }}\nfee_granter = \"{granter}\"\nmemo_prefix = \"ops team\"\n"
    );
    let text = GOOD.replace(
        "key_store_folder = \"keys\"\n",
        &format!("key_store_folder = \"keys\"\n{extra}"),
    );
    let a = parse(&text).unwrap().chains.a;
    assert_eq!(
        a.dynamic_gas_price,
        DynamicGasPrice {
            enabled: true,
            multiplier: 1.2,
            max: 0.5
        }
    );
    assert_eq!(a.default_gas, 50_000, "capped by max_gas");
    assert_eq!(a.fee_granter.as_deref(), Some(granter.as_str()));
    assert_eq!(a.memo_prefix.as_deref(), Some("ops team"));

    let osmo = cosmos::address::encode_address("osmo", &[7; 20]);
    let bad = GOOD.replace(
        "key_store_folder = \"keys\"\n",
        &format!(
            "key_store_folder = \"keys\"\ndynamic_gas_price = {{ enabled = true, multiplier = 0.5, max = 0.01 }}\ndefault_gas = 500000\nfee_granter = \"{osmo}\"\nmemo_prefix = \"{}\"\n",
            "x".repeat(MAX_MEMO_PREFIX_CHARS + 1)
        ),
    );
    let err = parse(&bad).unwrap_err();
    let keys: Vec<_> = err.issues.iter().filter_map(|i| i.key.clone()).collect();
    for k in [
        "chains.a.dynamic_gas_price.multiplier",
        "chains.a.dynamic_gas_price.max",
        "chains.a.default_gas",
        "chains.a.fee_granter",
        "chains.a.memo_prefix",
    ] {
        assert!(keys.iter().any(|x| x == k), "missing {k} in {keys:?}");
    }
    assert!(err.issues.iter().all(|i| i.line.is_some()), "{err}");
    let unknown = GOOD.replace(
        "key_store_folder = \"keys\"\n",
        "key_store_folder = \"keys\"\ndynamic_gas_price = { enable = true }\n",
    );
    assert!(parse(&unknown).is_err());
    let not_bech32 = GOOD.replace(
        "key_store_folder = \"keys\"\n",
        "key_store_folder = \"keys\"\nfee_granter = \"cosmos1nope\"\nmemo_prefix = \"a\\nb\"\n",
    );
    let err = parse(&not_bech32).unwrap_err().to_string();
    assert!(
        err.contains("chains.a.fee_granter") && err.contains("chains.a.memo_prefix"),
        "{err}"
    );
}

#[test]
fn state_dir_is_resolved_against_the_pair_file() {
    let text = GOOD.replace(
        "clear_interval = 50",
        "clear_interval = 50\nstate_dir = \"state\"",
    );
    let c = parse(&text).unwrap();
    assert_eq!(c.relay.state_dir, Some(PathBuf::from("/etc/arke/state")));
    let text = GOOD.replace(
        "clear_interval = 50",
        "clear_interval = 50\nstate_dir = \"/var/lib/arke/x\"",
    );
    assert_eq!(
        parse(&text).unwrap().relay.state_dir,
        Some(PathBuf::from("/var/lib/arke/x"))
    );
    let issue = one_issue(&GOOD.replace(
        "clear_interval = 50",
        "clear_interval = 50\nstate_dir = \" \"",
    ));
    assert_eq!(issue.key.as_deref(), Some("relay.state_dir"));
    // The default is named after the pair file, under the systemd, XDG or home state directory.
    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<std::ffi::OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| std::ffi::OsString::from(v))
        }
    }
    let pair = Path::new("/etc/arke/osmosis-hub.toml");
    let all = [
        ("STATE_DIRECTORY", "/var/lib/arke:/var/lib/other"),
        ("XDG_STATE_HOME", "/home/u/.state"),
        ("HOME", "/home/u"),
    ];
    assert_eq!(
        defaults::state_dir_from_env(pair, env(&all)),
        Some(PathBuf::from("/var/lib/arke/osmosis-hub"))
    );
    assert_eq!(
        defaults::state_dir_from_env(pair, env(&all[1..])),
        Some(PathBuf::from("/home/u/.state/arke/osmosis-hub"))
    );
    assert_eq!(
        defaults::state_dir_from_env(pair, env(&[("XDG_STATE_HOME", "rel"), ("HOME", "/home/u")])),
        Some(PathBuf::from("/home/u/.local/state/arke/osmosis-hub"))
    );
    assert_eq!(defaults::state_dir_from_env(pair, env(&[])), None);
}

#[test]
fn several_signers() {
    let text = GOOD.replace(
        "key_name = \"relayer-a\"",
        "key_names = [\"relayer-1\", \"relayer-2\", \"relayer-3\"]",
    );
    let config = parse(&text).expect("key_names");
    let a = &config.chains.a;
    assert_eq!(a.key_name, "relayer-1", "the first signs handshakes");
    assert_eq!(a.key_names, ["relayer-1", "relayer-2", "relayer-3"]);
    assert_eq!(config.chains.b.key_names, ["relayer-b"]);

    let both = GOOD.replace(
        "key_name = \"relayer-a\"",
        "key_name = \"relayer-a\"\nkey_names = [\"relayer-2\"]",
    );
    let issue = one_issue(&both);
    assert_eq!(issue.key.as_deref(), Some("chains.a.key_names"));
    assert!(issue.message.contains("not both"), "{}", issue.message);

    let twice = GOOD.replace(
        "key_name = \"relayer-a\"",
        "key_names = [\"relayer-1\", \"relayer-1\"]",
    );
    let issue = one_issue(&twice);
    assert!(issue.message.contains("named twice"), "{}", issue.message);
    assert_eq!(issue.line, Some(6));

    let none = GOOD.replace("key_name = \"relayer-a\"\n", "");
    let issue = one_issue(&none);
    assert_eq!(issue.key.as_deref(), Some("chains.a.key_name"));
    assert!(issue.message.contains("missing"), "{}", issue.message);

    let empty = GOOD.replace("key_name = \"relayer-a\"", "key_names = []");
    assert!(one_issue(&empty).message.contains("at least one"));
}

#[test]
fn peers_and_backup_delay() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.relay.peers, [Vec::<String>::new(), Vec::new()]);
    assert_eq!(c.relay.backup_delay, 2);

    let x = cosmos::AccountKey::random().address("cosmos");
    let y = cosmos::AccountKey::random().address("cosmos");
    let text =
        format!("{GOOD}peers = {{ a = [\"{x}\", \"{y}\"], b = [\"{y}\"] }}\nbackup_delay = 3\n");
    let c = parse(&text).unwrap();
    assert_eq!(c.relay.peers, [vec![x.clone(), y.clone()], vec![y.clone()]]);
    assert_eq!(c.relay.backup_delay, 3);
    assert!(c
        .warnings
        .iter()
        .all(|w| w.key.as_deref() != Some("relay.backup_delay")));

    // Each address located by its place in the list.
    let osmo = cosmos::AccountKey::random().address("osmo");
    let text = format!(
        "{GOOD}backup_delay = 0\n[relay.peers]\na = [\n  \"{x}\",\n  \"{x}\",\n  \"{osmo}\",\n  \"nonsense\",\n]\n"
    );
    let err = parse(&text).unwrap_err();
    let line = |needle: &str, nth: usize| {
        text.lines()
            .enumerate()
            .filter(|(_, l)| l.contains(needle))
            .nth(nth)
            .map(|(i, _)| i + 1)
    };
    let found: Vec<(Option<&str>, Option<usize>)> = err
        .issues
        .iter()
        .map(|i| (i.key.as_deref(), i.line))
        .collect();
    assert_eq!(
        found,
        vec![
            (Some("relay.backup_delay"), line("backup_delay", 0)),
            (Some("relay.peers.a[1]"), line(&x, 1)),
            (Some("relay.peers.a[2]"), line(&osmo, 0)),
            (Some("relay.peers.a[3]"), line("nonsense", 0)),
        ],
        "{err}"
    );
    assert!(err.issues[0].message.contains("between 1 and 100"), "{err}");
    assert!(err.issues[1].message.contains("listed twice"), "{err}");
    assert!(err.issues[2].message.contains("account_prefix"), "{err}");
    assert!(err.issues[3].message.contains("bech32"), "{err}");

    // Unknown chains are refused; a delay without peers is a warning.
    let issue = one_issue(&format!("{GOOD}peers = {{ c = [] }}\n"));
    assert_eq!(issue.key.as_deref(), Some("relay.peers.c"), "{issue:?}");
    let c = parse(&format!("{GOOD}backup_delay = 4\n")).unwrap();
    assert!(c
        .warnings
        .iter()
        .any(|w| w.key.as_deref() == Some("relay.backup_delay")));
}
