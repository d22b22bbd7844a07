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
