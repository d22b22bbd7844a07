//! Real CometBFT responses for the chain layer's decoding tests: the captures the
//! `tendermint-rpc` crate ships in its package (`tests/kvstore_fixtures/v0_38/incoming/`, from a
//! CometBFT v0.38 kvstore node, and the mainnet `block_results` of `tests/gaia_fixtures`,
//! `tests/osmosis_fixtures`, `tests/dydx_fixtures`, `tests/sei_fixtures`). They are found by the
//! devnet's lookup (a dev-dependency here, so the relayer itself never links it); a fixture that
//! cannot be found or read fails the test that asked for it.

/// The bytes of the CometBFT v0.38 capture `file` (e.g. `status.json`).
pub(crate) fn cometbft_0_38(file: &str) -> Vec<u8> {
    read(&format!("kvstore_fixtures/v0_38/incoming/{file}"))
}

/// The bytes of the file at `relative` under the package's `tests/` directory.
pub(crate) fn read(relative: &str) -> Vec<u8> {
    devnet::rpc::fixtures::read(relative)
}

/// The networks whose captures the package must ship: each must yield decoded captures.
pub(crate) const NETWORKS: &[&str] = &[
    "kvstore_fixtures/v0_34",
    "kvstore_fixtures/v0_37",
    "kvstore_fixtures/v0_38",
    "gaia_fixtures",
    "osmosis_fixtures",
    "dydx_fixtures",
    "sei_fixtures",
];

/// Every answer capture (`…/incoming/*.json`) the package ships whose file name starts with one
/// of `prefixes`, as (network, file name, bytes), the network being the directory above
/// `incoming` relative to `tests/` (`kvstore_fixtures/v0_38`, `gaia_fixtures`, …). Fails the
/// test when the directory cannot be read.
pub(crate) fn captures(prefixes: &[&str]) -> Vec<(String, String, Vec<u8>)> {
    let root = devnet::rpc::fixtures::package_dir().join("tests");
    let mut out = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list fixtures in {}: {e}", dir.display()));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
                .path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            let in_incoming = path
                .parent()
                .and_then(|p| p.file_name())
                .is_some_and(|n| n == "incoming");
            if !in_incoming
                || !name.ends_with(".json")
                || !prefixes.iter().any(|p| name.starts_with(p))
            {
                continue;
            }
            let network = path
                .parent()
                .and_then(|p| p.parent())
                .and_then(|p| p.strip_prefix(&root).ok())
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            out.push((network, name, bytes));
        }
    }
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}
