//! Unit tests of the flags and settings of `arke devnet`.

use super::values::{parse_gas_price, parse_listen_addr, parse_mempool_size, parse_optional_addr};
use super::*;
use clap::Parser;
use std::net::SocketAddr;

const ABANDON: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

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
    let dir = std::env::temp_dir().join(format!("arke-devnet-cli-{tag}-{}", std::process::id()));
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
fn fee_market_is_off_unless_asked() {
    let config = build_config(parse(&["--chain-id", "d-1"])).unwrap();
    assert_eq!(config.fee_market, None);
    let config = build_config(parse(&["--chain-id", "d-1", "--fee-market"])).unwrap();
    assert_eq!(
        config.fee_market,
        Some(devnet::feemarket::FeeMarketParams::default())
    );
}

#[test]
fn validators_and_rotation() {
    let config = build_config(parse(&["--chain-id", "d-1"])).unwrap();
    assert_eq!(config.validators, devnet::node::ValidatorParams::default());
    let config = build_config(parse(&[
        "--chain-id",
        "d-1",
        "--validators",
        "4",
        "--rotate-every",
        "5",
    ]))
    .unwrap();
    assert_eq!(
        config.validators,
        devnet::node::ValidatorParams {
            count: 4,
            rotate_every: 5
        }
    );
    let err = build_config(parse(&["--chain-id", "d-1", "--validators", "0"]))
        .expect_err("zero validators is refused")
        .to_string();
    assert!(
        err.contains("--validators: validators must be between 1 and 100"),
        "{err}"
    );
}

#[test]
fn mempool_size_takes_txs_and_bytes() {
    let config = build_config(parse(&["--chain-id", "d-1", "--mempool-size", "10,2048"])).unwrap();
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
fn tls_latency_and_admin_flags() {
    let dir = scratch("tls");
    let certs = devnet::tls::write_test_certs(&dir).unwrap();
    let (cert, key) = (certs.cert.to_str().unwrap(), certs.key.to_str().unwrap());
    let config = build_config(parse(&[
        "--chain-id",
        "d-1",
        "--tls-cert",
        cert,
        "--tls-key",
        key,
        "--rpc-latency",
        "50ms",
        "--admin-addr",
        "127.0.0.1:0",
    ]))
    .unwrap();
    assert_eq!(config.tls, Some(certs.files()));
    assert_eq!(config.rpc_latency, Duration::from_millis(50));
    assert_eq!(config.admin_addr, Some("127.0.0.1:0".parse().unwrap()));
    let err = build_config(parse(&[
        "--chain-id",
        "d-1",
        "--tls-cert",
        cert,
        "--tls-key",
        cert,
    ]))
    .unwrap_err()
    .to_string();
    assert!(err.contains("--tls-key"), "{err}");
    let err = build_config(parse(&["--chain-id", "d-1", "--admin-addr", "0.0.0.0:1"]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--admin-addr") && err.contains("loopback"),
        "{err}"
    );
    let alone = crate::cli::Cli::try_parse_from(["arke", "devnet", "--tls-cert", cert]);
    assert!(alone.is_err(), "--tls-cert needs --tls-key");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn chain_id_is_required() {
    let err = build_config(parse(&[])).unwrap_err().to_string();
    assert!(err.contains("chain id is required"), "{err}");
}
