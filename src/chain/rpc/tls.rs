//! TLS trust of a chain's connections: one rustls client configuration per chain, used by both
//! the HTTP client (`https://`) and the event websocket (`wss://`), so the two can never trust
//! different roots.
//!
//! The roots are the system's (rustls-native-certs: the platform store, or `SSL_CERT_FILE` /
//! `SSL_CERT_DIR` when set), loaded once per process; when the system has none (a minimal
//! container without `ca-certificates`) the bundled Mozilla roots (webpki-roots) are used
//! instead. A chain's `ca_file` adds its certificates on top, for nodes behind a private CA.
//! The crypto backend is ring, as in the rest of the dependency tree.

use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

/// The system's trust roots (or the bundled ones when the system has none), loaded once.
fn base_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let loaded = rustls_native_certs::load_native_certs();
        for e in &loaded.errors {
            tracing::debug!(error = %e, "a system trust root could not be loaded");
        }
        let mut roots = RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(loaded.certs);
        if added == 0 {
            tracing::info!("no system trust roots found; using the bundled Mozilla roots");
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        roots
    })
}

/// Loads the system's trust roots now, so that the first TLS client does not read them on an
/// async task. Blocking: call it from `spawn_blocking` or before the runtime starts.
pub(crate) fn preload_roots() {
    let _ = base_roots();
}

/// A rustls client configuration trusting the system's roots plus `extra` (a `ca_file`'s
/// certificates, already checked when the config was loaded).
pub(crate) fn client_config(
    extra: &[CertificateDer<'static>],
) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = base_roots().clone();
    for cert in extra {
        roots
            .add(cert.clone())
            .map_err(|e| format!("CA certificate cannot be a trust root: {e}"))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS configuration: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The whole cause chain of `error` in one line, looking inside I/O errors (whose `source`
/// skips the error they wrap), so a TLS failure shows rustls's reason ("invalid peer
/// certificate: UnknownIssuer") instead of only "error sending request".
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut next = inner(error);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = inner(e);
    }
    parts.join(": ")
}

fn inner<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a (dyn std::error::Error + 'static)> {
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        if let Some(wrapped) = io.get_ref() {
            return Some(wrapped);
        }
    }
    e.source()
}

/// Whether the cause chain of `error` holds a TLS failure (certificate, handshake, alert).
pub(crate) fn is_tls_failure(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        next = inner(e);
    }
    false
}

/// A hint for a TLS failure, naming the config key that fixes the usual cause.
pub(crate) const TLS_HINT: &str = "if the node's certificate is signed by a private CA, set `ca_file` to that CA's PEM certificate";
