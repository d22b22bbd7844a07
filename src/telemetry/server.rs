//! The telemetry HTTP server (axum) on `[telemetry] host:port`:
//!
//! - `GET /metrics`: every metric, Prometheus text format 0.0.4;
//! - `GET /health`: 200 when every chain answers and every worker runs, else 503; a JSON body
//!   with the reasons either way;
//! - `GET /state`: chains, workers, channels, backlogs and last errors, as JSON;
//! - `POST /clear?channel=channel-0[&port=transfer]`: a clearing round now in the worker of that
//!   channel (matched on either end); 404 when no worker relays it.
//!
//! The listener is bound before the server task starts, so a taken port is an error of
//! `arke start`, not a log line. [`ask_health`] is the other side of `/health`, for
//! `arke health`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::metrics::metrics;
use super::state::DaemonState;

/// The content type of the text exposition format.
pub(crate) const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A bound, not yet serving, telemetry server.
pub(crate) struct TelemetryServer {
    listener: tokio::net::TcpListener,
    state: Arc<DaemonState>,
}

impl TelemetryServer {
    /// Binds `host:port`.
    pub(crate) async fn bind(
        host: &str,
        port: u16,
        state: Arc<DaemonState>,
    ) -> Result<Self, std::io::Error> {
        let listener = tokio::net::TcpListener::bind((host, port)).await?;
        Ok(Self { listener, state })
    }

    /// The bound address.
    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until `shutdown` is cancelled.
    pub(crate) async fn serve(self, shutdown: CancellationToken) {
        let addr = self.local_addr();
        let app = router(self.state);
        tracing::info!(addr = ?addr, "telemetry server listening");
        if let Err(e) = axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
        {
            tracing::error!(error = %e, "telemetry server failed");
        }
    }
}

/// The routes, over `state`.
pub(crate) fn router(state: Arc<DaemonState>) -> Router {
    Router::new()
        .route("/metrics", get(get_metrics))
        .route("/health", get(get_health))
        .route("/state", get(get_state))
        .route("/clear", post(post_clear))
        .with_state(state)
}

async fn get_metrics() -> Response {
    (
        [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        metrics().render(),
    )
        .into_response()
}

async fn get_health(State(state): State<Arc<DaemonState>>) -> Response {
    let (ok, body) = state.health().await;
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

async fn get_state(State(state): State<Arc<DaemonState>>) -> Response {
    Json(state.snapshot()).into_response()
}

async fn post_clear(
    State(state): State<Arc<DaemonState>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let Some(channel) = params.get("channel").filter(|c| !c.is_empty()) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "missing query parameter `channel`" })),
        )
            .into_response();
    };
    let port = params.get("port").map(String::as_str);
    let channels = state.find_workers(channel, port);
    if channels.is_empty() {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no worker relays channel {channel}") })),
        )
            .into_response();
    }
    let mut triggered = Vec::new();
    for c in channels {
        super::clear_trigger(&c).notify_one();
        triggered.push(c.name.clone());
    }
    tracing::info!(?triggered, "clearing requested over HTTP");
    (StatusCode::ACCEPTED, Json(json!({ "clearing": triggered }))).into_response()
}

/// What a daemon's `/health` answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HealthAnswer {
    /// The HTTP status (200 when healthy, 503 when not).
    pub(crate) status: reqwest::StatusCode,
    /// The JSON body with the reasons.
    pub(crate) body: String,
}

/// Why `/health` could not be asked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HealthProbeError {
    /// No HTTP client could be built.
    #[error("cannot build an HTTP client: {0}")]
    Client(reqwest::Error),
    /// The request failed (no answer, or not within the timeout).
    #[error("{url}: {source}")]
    Request {
        /// The endpoint asked.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
}

/// Asks the health endpoint at `url`, waiting at most `timeout`.
pub(crate) async fn ask_health(
    url: &str,
    timeout: Duration,
) -> Result<HealthAnswer, HealthProbeError> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(HealthProbeError::Client)?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|source| HealthProbeError::Request {
            url: url.to_string(),
            source,
        })?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    Ok(HealthAnswer { status, body })
}
