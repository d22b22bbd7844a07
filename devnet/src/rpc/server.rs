//! The HTTP side of the RPC: the axum router (JSON-RPC POST `/`, URI GET `/<method>`,
//! `/websocket`), fault injection on every request, the standing answer delay of a node far away
//! ([`delay_answer`]), and [`serve`], which owns the indexer task and every websocket task and
//! ends them all on shutdown. With a TLS configuration it serves `https://` and `wss://`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::index::Indexer;
use super::jsonrpc::{self, Body, RpcError, URI_REQUEST_ID};
use super::methods::{self, Ctx, DEFAULT_COMMIT_TIMEOUT};
use super::params::Params;
use super::ws;
use crate::node::{Node, RpcFault};

/// Largest request body accepted (CometBFT's `max_body_bytes` is 1 MB; txs here can be larger).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

#[derive(Clone)]
struct AppState {
    ctx: Ctx,
    tracker: TaskTracker,
}

/// The error an injected RPC outage answers with.
pub fn injected_fault() -> RpcError {
    RpcError::internal("service unavailable (injected fault)")
}

/// Delays every answer by the node's standing RPC latency
/// ([`Faults::set_rpc_latency`](crate::faults::Faults::set_rpc_latency)): the request is
/// handled at once, its answer leaves `latency` later. A layer of both the RPC and gRPC routers.
pub async fn delay_answer(State(node): State<Node>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let latency = node.faults().rpc_latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    response
}

/// Serves CometBFT's JSON-RPC for `node` on `listener` until `shutdown`, over TLS when `tls`
/// is given; keeps a tx/block index for `tx_search` / `block_search`. Returns after the
/// listener, the indexer and every websocket connection have stopped.
pub async fn serve(
    node: Node,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let inner = shutdown.child_token();
    let tracker = TaskTracker::new();
    let index = Arc::new(Indexer::default());
    tracker.spawn(index.clone().run(node.clone(), inner.clone()));
    let state = AppState {
        ctx: Ctx {
            node,
            index,
            commit_timeout: DEFAULT_COMMIT_TIMEOUT,
            shutdown: inner.clone(),
        },
        tracker: tracker.clone(),
    };
    let app = router(state);
    let result = match tls {
        Some(config) => crate::tls::serve_tls(listener, app, config, inner.clone()).await,
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(inner.clone().cancelled_owned())
                .await
        }
    };
    inner.cancel();
    tracker.close();
    tracker.wait().await;
    result
}

fn router(state: AppState) -> Router {
    let node = state.ctx.node.clone();
    Router::new()
        .route("/", get(list_routes).post(json_rpc))
        .route("/websocket", get(websocket))
        .route("/:method", any(uri_call))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(node, delay_answer))
        .with_state(state)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Sleeps for a `Slow` fault; returns true for an `Error` fault.
async fn fault_is_outage(node: &Node) -> bool {
    match node.faults().rpc_fault() {
        RpcFault::None => false,
        RpcFault::Error => true,
        RpcFault::Slow(d) => {
            tokio::time::sleep(d).await;
            false
        }
    }
}

async fn list_routes() -> Response {
    let mut html = String::from("<html><body><br>Available endpoints:<br>");
    for (method, args) in methods::ROUTES {
        if methods::is_ws_only(method) {
            continue;
        }
        let q: Vec<String> = args.iter().map(|a| format!("{a}=_")).collect();
        html.push_str(&format!(
            "<a href=\"/{method}\">/{method}?{}</a></br>",
            q.join("&")
        ));
    }
    html.push_str("</body></html>");
    ([(header::CONTENT_TYPE, "text/html")], html).into_response()
}

async fn answer(ctx: &Ctx, req: jsonrpc::Request) -> Option<Value> {
    let id = req.id?;
    let Some(names) = methods::arg_names(&req.method).filter(|_| !methods::is_ws_only(&req.method))
    else {
        return Some(jsonrpc::failure(&id, &RpcError::method_not_found()));
    };
    let result = match Params::from_json(req.params, names) {
        Ok(p) => methods::call(ctx, &req.method, &p).await,
        Err(e) => Err(e),
    };
    Some(match result {
        Ok(v) => jsonrpc::success(&id, v),
        Err(e) => jsonrpc::failure(&id, &e),
    })
}

async fn json_rpc(State(st): State<AppState>, body: Bytes) -> Response {
    if body.is_empty() {
        return list_routes().await;
    }
    let parsed = match jsonrpc::parse_body(&body) {
        Ok(b) => b,
        Err(e) => {
            return json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &jsonrpc::failure(&Value::Null, &e),
            )
        }
    };
    let requests = match parsed {
        Body::Single(r) => vec![r],
        Body::Batch(rs) => rs,
    };
    if fault_is_outage(&st.ctx.node).await {
        let id = match requests.first() {
            Some(Ok(r)) => r.id.clone().unwrap_or(Value::Null),
            _ => Value::Null,
        };
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &jsonrpc::failure(&id, &injected_fault()),
        );
    }
    let mut responses = Vec::new();
    for r in requests {
        match r {
            Err((id, e)) => responses.push(jsonrpc::failure(&id, &e)),
            Ok(req) => {
                if let Some(v) = answer(&st.ctx, req).await {
                    responses.push(v);
                }
            }
        }
    }
    // CometBFT writes one response as an object and several as an array.
    match responses.len() {
        0 => StatusCode::OK.into_response(),
        1 => json_response(StatusCode::OK, &responses[0]),
        _ => json_response(StatusCode::OK, &Value::Array(responses)),
    }
}

async fn uri_call(
    State(st): State<AppState>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let id = Value::from(URI_REQUEST_ID);
    if methods::arg_names(&method).is_none() {
        return (StatusCode::NOT_FOUND, "404 page not found\n").into_response();
    }
    if methods::is_ws_only(&method) {
        return json_response(
            StatusCode::NOT_FOUND,
            &jsonrpc::failure(&id, &RpcError::method_not_found()),
        );
    }
    if fault_is_outage(&st.ctx.node).await {
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &jsonrpc::failure(&id, &injected_fault()),
        );
    }
    let params = Params::from_uri(query.as_deref().unwrap_or(""));
    match methods::call(&st.ctx, &method, &params).await {
        Ok(v) => json_response(StatusCode::OK, &jsonrpc::success(&id, v)),
        Err(e) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &jsonrpc::failure(&id, &e),
        ),
    }
}

async fn websocket(State(st): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    if st.ctx.node.faults().rpc_fault() == RpcFault::Error {
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &jsonrpc::failure(&Value::Null, &injected_fault()),
        );
    }
    let ctx = st.ctx.clone();
    let tracker = st.tracker.clone();
    let shutdown = ctx.shutdown.clone();
    upgrade.on_upgrade(move |socket| tracker.track_future(ws::handle_socket(socket, ctx, shutdown)))
}
