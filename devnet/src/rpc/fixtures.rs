//! The real CometBFT responses the tests compare with: the captures the `tendermint-rpc` crate
//! ships in its package (`tests/kvstore_fixtures/v0_38/incoming/*.json`, recorded from a
//! CometBFT v0.38 kvstore node, and mainnet captures beside them). The package is the one this
//! crate depends on in the lockfile, found once through `cargo metadata`, so a fresh clone runs
//! every comparison. A capture that cannot be found or read fails the test that asked for it.
//!
//! Public so that the relayer's unit tests (which have the devnet as a dev-dependency) read the
//! same captures through the same lookup; nothing here runs outside tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

/// The CometBFT v0.38 capture `name` (file name without `.json`), e.g. `block_at_height_10`.
pub fn capture(name: &str) -> Value {
    json(&format!("kvstore_fixtures/v0_38/incoming/{name}.json"))
}

/// The JSON file at `relative` under the package's `tests/` directory.
pub fn json(relative: &str) -> Value {
    let bytes = read(relative);
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("fixture {relative} is not JSON: {e}"))
}

/// The bytes of the file at `relative` under the package's `tests/` directory; a missing or
/// unreadable file fails the calling test.
pub fn read(relative: &str) -> Vec<u8> {
    let path = package_dir().join("tests").join(relative);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "fixture {relative} is missing: cannot read {}: {e}",
            path.display()
        )
    })
}

/// The root of the `tendermint-rpc` package this crate is built with (looked up once).
pub fn package_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        find_package_dir("tendermint_rpc").unwrap_or_else(|e| {
            panic!("cannot locate the tendermint-rpc package and its test fixtures: {e}")
        })
    })
}

/// Asks `cargo metadata` (for this crate's manifest, with the lockfile as it is) which package
/// this crate's dependency `dep` (its name in Rust, with `_`) resolves to, and returns its root.
fn find_package_dir(dep: &str) -> Result<PathBuf, String> {
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
    let node = meta["resolve"]["nodes"]
        .as_array()
        .ok_or("no `resolve.nodes`")?
        .iter()
        .find(|n| n["id"] == own["id"])
        .ok_or("this crate is not in the resolve graph")?;
    let dep_id = node["deps"]
        .as_array()
        .ok_or("no `deps`")?
        .iter()
        .find(|d| d["name"] == dep)
        .map(|d| &d["pkg"])
        .ok_or_else(|| format!("this crate does not depend on {dep}"))?;
    let manifest_path = packages
        .iter()
        .find(|p| &p["id"] == dep_id)
        .and_then(|p| p["manifest_path"].as_str())
        .ok_or_else(|| format!("no manifest path for {dep_id}"))?;
    let dir = Path::new(manifest_path)
        .parent()
        .ok_or_else(|| format!("manifest path {manifest_path} has no parent"))?;
    Ok(dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_locked_package_and_its_captures() {
        let dir = package_dir();
        assert!(dir.join("Cargo.toml").is_file(), "{}", dir.display());
        let status = capture("status");
        assert_eq!(status["result"]["node_info"]["network"], "dockerchain");
    }

    #[test]
    #[should_panic(
        expected = "fixture kvstore_fixtures/v0_38/incoming/no_such_capture.json is missing"
    )]
    fn a_missing_capture_fails_loudly() {
        capture("no_such_capture");
    }
}
