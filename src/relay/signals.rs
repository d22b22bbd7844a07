//! The daemon's process signals: SIGTERM and SIGINT stop it ([`wait_for_signal`]), SIGHUP
//! reloads the pair file ([`reload_on_sighup`]). Outside Unix only Ctrl-C is heard.

use super::reload::ReloadHandle;

/// Reloads the pair file on every SIGHUP, logging the outcome.
pub(crate) async fn reload_on_sighup(reloader: ReloadHandle) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reloads are disabled");
                return;
            }
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP received: reloading the pair file");
            match reloader.reload().await {
                Ok(report) => tracing::info!(
                    started = ?report.started,
                    stopped = ?report.stopped,
                    ignored = ?report.ignored,
                    "reload applied"
                ),
                // The supervisor already logged why; the old config stays.
                Err(e) => tracing::debug!(error = %e, "reload rejected"),
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = reloader;
    }
}

/// Resolves on SIGTERM or SIGINT.
pub(crate) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
