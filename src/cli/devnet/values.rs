//! Parsers for the single values a flag or file key holds: listen addresses, gas price,
//! mempool size, genesis accounts and their mnemonic files.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use cosmos::{AccountKey, COSMOS_HD_PATH};

use crate::config::resolve_path;

/// Parses `HOST:PORT` (optionally `tcp://` or `http://` in front) to the first address it
/// resolves to.
pub(super) fn parse_listen_addr(text: &str) -> Result<SocketAddr, String> {
    let trimmed = text.trim();
    let bare = ["tcp://", "http://"]
        .iter()
        .find_map(|p| trimmed.strip_prefix(p))
        .unwrap_or(trimmed)
        .trim_end_matches('/');
    if let Ok(addr) = bare.parse::<SocketAddr>() {
        return Ok(addr);
    }
    bare.to_socket_addrs()
        .map_err(|e| format!("invalid listen address {text:?} (expected HOST:PORT): {e}"))?
        .next()
        .ok_or_else(|| format!("listen address {text:?} resolves to nothing"))
}

/// Like [`parse_listen_addr`], but `none`, `off`, `false` or an empty string disable the server.
pub(super) fn parse_optional_addr(text: &str) -> Result<Option<SocketAddr>, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "none" | "off" | "false" | "disabled" => Ok(None),
        _ => parse_listen_addr(text).map(Some),
    }
}

/// Parses `0.025` or `0.025<denom>`.
pub(super) fn parse_gas_price(text: &str, denom: &str) -> Result<f64, String> {
    let t = text.trim();
    let number = t.strip_suffix(denom).unwrap_or(t).trim();
    match number.parse::<f64>() {
        Ok(p) if p.is_finite() && p >= 0.0 => Ok(p),
        _ => Err(format!(
            "invalid minimum gas price {text:?}: expected a non-negative number, optionally followed by {denom}"
        )),
    }
}

/// Parses `TXS` or `TXS,BYTES`, both positive.
pub(super) fn parse_mempool_size(text: &str) -> Result<(usize, Option<u64>), String> {
    let bad =
        || format!("invalid mempool size {text:?}: expected TXS or TXS,BYTES (positive integers)");
    let (txs, bytes) = match text.split_once(',') {
        Some((t, b)) => (t, Some(b)),
        None => (text, None),
    };
    let txs = match txs.trim().parse::<usize>() {
        Ok(n) if n > 0 => n,
        _ => return Err(bad()),
    };
    let bytes = match bytes.map(|b| b.trim().parse::<u64>()) {
        None => None,
        Some(Ok(n)) if n > 0 => Some(n),
        Some(_) => return Err(bad()),
    };
    Ok((txs, bytes))
}

/// A `NAME=MNEMONIC_FILE:AMOUNT` specification, split but not yet read.
pub(super) struct AccountSpec {
    pub(super) name: String,
    pub(super) mnemonic_file: PathBuf,
    pub(super) amount: String,
}

pub(super) fn parse_account_spec(text: &str, base: Option<&Path>) -> Result<AccountSpec, String> {
    let bad = || {
        format!("invalid genesis account {text:?}: expected NAME=MNEMONIC_FILE:AMOUNT, e.g. relayer=relayer.mnemonic:1000000stake")
    };
    let (name, rest) = text.split_once('=').ok_or_else(bad)?;
    let (file, amount) = rest.rsplit_once(':').ok_or_else(bad)?;
    let name = name.trim();
    if name.is_empty() || file.trim().is_empty() || amount.trim().is_empty() {
        return Err(bad());
    }
    if name.chars().any(char::is_whitespace) {
        return Err(format!(
            "invalid genesis account name {name:?}: no spaces allowed"
        ));
    }
    let file = file.trim();
    let mnemonic_file = match base {
        Some(base) => resolve_path(file, base).unwrap_or_else(|| PathBuf::from(file)),
        None => PathBuf::from(file),
    };
    Ok(AccountSpec {
        name: name.to_string(),
        mnemonic_file,
        amount: amount.trim().to_string(),
    })
}

/// Reads a mnemonic file and derives the account key. Errors name the file, never the words.
pub(super) fn read_account_key(path: &Path) -> Result<AccountKey, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read mnemonic file {}: {e}", path.display()))?;
    let words = text.split_whitespace().count();
    if ![12, 15, 18, 21, 24].contains(&words) {
        return Err(format!(
            "mnemonic file {} holds {words} words; a BIP-39 mnemonic has 12, 15, 18, 21 or 24",
            path.display()
        ));
    }
    AccountKey::from_mnemonic(&text, COSMOS_HD_PATH)
        .map_err(|e| format!("mnemonic file {}: {e}", path.display()))
}
