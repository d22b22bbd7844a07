//! The endpoint keys of a chain: backup RPC endpoints (failover, in order of preference after
//! `rpc_addr`), how they are probed, and `ca_file`, extra TLS trust roots for `https://` and
//! `wss://`. Checked here into [`EndpointsConfig`]; `chain::rpc` turns it into clients.
//!
//! ```toml
//! rpc_addr = "https://rpc-1.example.com"
//! backup_rpc_addrs = ["https://rpc-2.example.com", "https://rpc-3.example.com:443/cosmos"]
//! # Optional, one per backup; each derived from its RPC address when absent.
//! # backup_websocket_addrs = ["wss://rpc-2.example.com/websocket", "wss://…"]
//! endpoint_probe_interval = "5s"
//! max_endpoint_lag = 5
//! ca_file = "private-ca.pem"
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// Default `endpoint_probe_interval`.
pub(crate) const DEFAULT_ENDPOINT_PROBE_INTERVAL: Duration = Duration::from_secs(5);
/// Default `max_endpoint_lag`, in blocks.
pub(crate) const DEFAULT_MAX_ENDPOINT_LAG: u64 = 5;

/// One RPC endpoint and the websocket of the same node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointAddrs {
    /// CometBFT JSON-RPC URL.
    pub rpc: Url,
    /// Its `/websocket`.
    pub websocket: Url,
}

/// The failover and TLS keys of one chain.
#[derive(Debug, Clone)]
pub struct EndpointsConfig {
    /// `backup_rpc_addrs` (with `backup_websocket_addrs`), after `rpc_addr` in preference.
    pub backups: Vec<EndpointAddrs>,
    /// How often every endpoint's `/status` is probed (health, height, chain id).
    pub probe_interval: Duration,
    /// An endpoint more than this many blocks behind the highest one is not used.
    pub max_lag: u64,
    /// Extra trust roots for TLS, besides the system's.
    pub ca_file: Option<CaFile>,
}

impl Default for EndpointsConfig {
    fn default() -> Self {
        Self {
            backups: Vec::new(),
            probe_interval: DEFAULT_ENDPOINT_PROBE_INTERVAL,
            max_lag: DEFAULT_MAX_ENDPOINT_LAG,
            ca_file: None,
        }
    }
}

/// A PEM file of CA certificates, read and checked when the config is loaded.
#[derive(Debug, Clone)]
pub struct CaFile {
    /// The file (absolute).
    pub path: PathBuf,
    /// Its certificates (DER).
    pub(crate) certs: Vec<CertificateDer<'static>>,
}

impl CaFile {
    /// Reads `path` and checks that it holds at least one usable PEM certificate.
    pub fn load(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?;
        let certs = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{} is not a PEM certificate file: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "{} holds no PEM certificate (expected \"-----BEGIN CERTIFICATE-----\" blocks)",
                path.display()
            ));
        }
        let mut roots = rustls::RootCertStore::empty();
        for (i, cert) in certs.iter().enumerate() {
            roots.add(cert.clone()).map_err(|e| {
                format!(
                    "{}: certificate {} cannot be a trust root: {e}",
                    path.display(),
                    i + 1
                )
            })?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            certs,
        })
    }

    /// The certificates.
    pub(crate) fn certs(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Config, ConfigError};

    const CHAIN_B: &str = r#"
[chains.b]
id = "devnet-b"
rpc_addr = "http://127.0.0.1:26757"
account_prefix = "cosmos"
key_name = "relayer-b"
key_store_folder = "keys"
gas_price = { price = 0, denom = "stake" }
"#;

    fn with_a(dir: &Path, extra: &str) -> Result<Config, ConfigError> {
        let text = format!(
            r#"
[chains.a]
id = "devnet-a"
rpc_addr = "https://rpc-1.example.com"
account_prefix = "cosmos"
key_name = "relayer-a"
key_store_folder = "keys"
gas_price = {{ price = 0.025, denom = "stake" }}
{extra}
{CHAIN_B}"#
        );
        Config::from_toml_str(&text, &dir.join("pair.toml"))
    }

    fn scratch() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "arke-config-endpoints-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn backups_in_order_with_derived_or_given_websockets() {
        let dir = scratch();
        let c = with_a(
            &dir,
            r#"backup_rpc_addrs = ["https://rpc-2.example.com/cosmos/", "http://10.0.0.3:26657"]
endpoint_probe_interval = "2s"
max_endpoint_lag = 3"#,
        )
        .unwrap();
        let a = &c.chains.a;
        let all: Vec<(String, String)> = a
            .all_endpoints()
            .iter()
            .map(|e| (e.rpc.to_string(), e.websocket.to_string()))
            .collect();
        assert_eq!(
            all,
            [
                (
                    "https://rpc-1.example.com/",
                    "wss://rpc-1.example.com/websocket"
                ),
                (
                    "https://rpc-2.example.com/cosmos/",
                    "wss://rpc-2.example.com/cosmos/websocket"
                ),
                ("http://10.0.0.3:26657/", "ws://10.0.0.3:26657/websocket"),
            ]
            .map(|(r, w)| (r.to_string(), w.to_string()))
        );
        assert_eq!(
            a.endpoints.probe_interval,
            std::time::Duration::from_secs(2)
        );
        assert_eq!(a.endpoints.max_lag, 3);
        assert!(a.endpoints.ca_file.is_none());
        // Defaults: no backups.
        let b = &c.chains.b;
        assert_eq!(b.all_endpoints().len(), 1);
        assert_eq!(
            b.endpoints.probe_interval,
            super::DEFAULT_ENDPOINT_PROBE_INTERVAL
        );

        let c = with_a(
            &dir,
            r#"backup_rpc_addrs = ["https://rpc-2.example.com"]
backup_websocket_addrs = ["wss://events.example.com/ws"]"#,
        )
        .unwrap();
        assert_eq!(
            c.chains.a.endpoints.backups[0].websocket.as_str(),
            "wss://events.example.com/ws"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_backups_are_located() {
        let dir = scratch();
        let err = with_a(
            &dir,
            r#"backup_rpc_addrs = ["ftp://x.example.com", "https://rpc-1.example.com"]
backup_websocket_addrs = ["wss://a.example.com/websocket"]
endpoint_probe_interval = "0s""#,
        )
        .unwrap_err()
        .to_string();
        for want in [
            "key `chains.a.backup_rpc_addrs[0]`: URL \"ftp://x.example.com\" has scheme \"ftp\"",
            "key `chains.a.backup_rpc_addrs[1]`: https://rpc-1.example.com/ is listed twice",
            "key `chains.a.backup_websocket_addrs`: has 1 entries but backup_rpc_addrs has 2",
            "key `chains.a.endpoint_probe_interval`: must be greater than zero",
        ] {
            assert!(err.contains(want), "missing {want:?} in:\n{err}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn ca_file_is_read_and_checked_when_loading() {
        let dir = scratch();
        let certs = devnet::tls::write_test_certs(&dir.join("tls")).unwrap();
        // Relative to the config file.
        let c = with_a(&dir, r#"ca_file = "tls/ca.pem""#).unwrap();
        let ca = c.chains.a.endpoints.ca_file.as_ref().expect("ca_file");
        assert_eq!(ca.path, certs.ca_cert);
        assert_eq!(ca.certs().len(), 1);

        let missing = with_a(&dir, r#"ca_file = "tls/nope.pem""#)
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("key `chains.a.ca_file`: cannot read CA file")
                && missing.contains("nope.pem"),
            "{missing}"
        );
        // A key is PEM, but no certificate.
        let key = with_a(&dir, r#"ca_file = "tls/key.pem""#)
            .unwrap_err()
            .to_string();
        assert!(
            key.contains("key `chains.a.ca_file`") && key.contains("holds no PEM certificate"),
            "{key}"
        );
        std::fs::write(dir.join("junk.pem"), "not a certificate\n").unwrap();
        let junk = with_a(&dir, r#"ca_file = "junk.pem""#)
            .unwrap_err()
            .to_string();
        assert!(
            junk.contains("key `chains.a.ca_file`") && junk.contains("junk.pem"),
            "{junk}"
        );
        std::fs::write(
            dir.join("broken.pem"),
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let broken = with_a(&dir, r#"ca_file = "broken.pem""#)
            .unwrap_err()
            .to_string();
        assert!(
            broken.contains("key `chains.a.ca_file`") && broken.contains("broken.pem"),
            "{broken}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
