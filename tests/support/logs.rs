//! Test logs: the library's tracing output under `RUST_LOG` (e.g. `RUST_LOG=arke=debug`),
//! captured per test by the test harness.

/// Installs the subscriber once per test binary; later calls do nothing.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
