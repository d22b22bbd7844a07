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
