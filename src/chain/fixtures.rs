//! Real CometBFT responses for the chain layer's decoding tests: the captures the
//! `tendermint-rpc` crate ships in its package (`tests/kvstore_fixtures/v0_38/incoming/`, from a
//! CometBFT v0.38 kvstore node, and the mainnet `block_results` of `tests/gaia_fixtures`,
//! `tests/osmosis_fixtures`, `tests/dydx_fixtures`, `tests/sei_fixtures`). The package is the
//! one this crate depends on in the lockfile, found once through `cargo metadata`. A fixture
//! that cannot be found or read fails the test that asked for it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

/// The bytes of the CometBFT v0.38 capture `file` (e.g. `status.json`).
pub(crate) fn cometbft_0_38(file: &str) -> Vec<u8> {
    read(&format!("kvstore_fixtures/v0_38/incoming/{file}"))
}

/// The bytes of the file at `relative` under the package's `tests/` directory.
pub(crate) fn read(relative: &str) -> Vec<u8> {
    let path = package_dir().join("tests").join(relative);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "fixture {relative} is missing: cannot read {}: {e}",
            path.display()
        )
    })
}

/// The root of the `tendermint-rpc` package this crate is built with (looked up once).
fn package_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        locate("tendermint_rpc").unwrap_or_else(|e| {
            panic!("cannot locate the tendermint-rpc package and its test fixtures: {e}")
        })
    })
}

/// The root of the package this crate's dependency `dep` (its Rust name) resolves to, as
/// `cargo metadata` reports it for this crate's manifest and the lockfile as it stands.
fn locate(dep: &str) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let out = Command::new(&cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .map_err(|e| format!("running {}: {e}", Path::new(&cargo).display()))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let meta: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("cargo metadata printed no JSON: {e}"))?;
    let packages = meta["packages"].as_array().ok_or("no `packages`")?;
    let members = meta["workspace_members"]
        .as_array()
        .ok_or("no `workspace_members`")?;
    let own = packages
        .iter()
        .find(|p| p["name"] == env!("CARGO_PKG_NAME") && members.contains(&p["id"]))
        .ok_or(concat!(
            "package ",
            env!("CARGO_PKG_NAME"),
            " not in the workspace"
        ))?;
    let deps = meta["resolve"]["nodes"]
        .as_array()
        .ok_or("no `resolve.nodes`")?
        .iter()
        .find(|n| n["id"] == own["id"])
        .and_then(|n| n["deps"].as_array())
        .ok_or("this crate has no dependencies in the resolve graph")?;
    let dep_id = deps
        .iter()
        .find(|d| d["name"] == dep)
        .map(|d| &d["pkg"])
        .ok_or_else(|| format!("this crate does not depend on {dep}"))?;
    let manifest_path = packages
        .iter()
        .find(|p| &p["id"] == dep_id)
        .and_then(|p| p["manifest_path"].as_str())
        .ok_or_else(|| format!("no manifest path for {dep_id}"))?;
    Path::new(manifest_path)
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("manifest path {manifest_path} has no parent"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "fixture kvstore_fixtures/v0_38/incoming/absent.json is missing")]
    fn a_missing_fixture_fails_loudly() {
        cometbft_0_38("absent.json");
    }
}
