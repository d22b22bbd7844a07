//! One `/websocket` connection: JSON-RPC requests over text frames, and event subscriptions
//! (`subscribe` / `unsubscribe` / `unsubscribe_all`) whose pushes reuse the subscribe request's id.
//!
//! Shape of a connection: the connection task reads frames, answers subscription requests
//! itself, spawns other requests into a bounded [`JoinSet`], and matches node events against the
//! subscriptions. One writer task owns the socket's sink and drains two bounded queues: data
//! (responses and events) first, then control notices. A client that stops reading fills the
//! data queue; its subscriptions are then canceled with CometBFT's message, as CometBFT does with
//! a subscriber that is not pulling messages fast enough. The connection ends on client close,
//! server shutdown, or a change of the fault injector's websocket epoch. With a standing RPC latency
//! (a node far away), the writer holds each message until that long after it was queued.

use std::collections::VecDeque;

use axum::extract::ws::{Message, WebSocket};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::jsonrpc::{self, RpcError};
use super::methods::{self, Ctx, MAX_QUERY_LENGTH};
use super::params::Params;
use super::query::Query;
use super::render;
use crate::node::{ChainEvent, RpcFault};

/// `max_subscriptions_per_client` default.
pub const MAX_SUBSCRIPTIONS_PER_CLIENT: usize = 5;
/// Messages queued for a client before it counts as slow.
pub const OUT_QUEUE: usize = 100;
/// Requests of one connection answered concurrently.
pub const MAX_IN_FLIGHT: usize = 16;
/// The reason CometBFT gives when it drops a slow subscriber.
pub const SLOW_CLIENT_REASON: &str = "client is not pulling messages fast enough";

struct Subscription {
    /// The query as the client wrote it (echoed in pushes).
    text: String,
    /// The parsed query; its normalized form identifies the subscription.
    query: Query,
    /// The subscribe request's id, reused by every push.
    id: Value,
}

/// Serves one upgraded websocket until the client leaves, `shutdown`, or a websocket drop fault.
pub async fn handle_socket(socket: WebSocket, ctx: Ctx, shutdown: CancellationToken) {
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<String>(OUT_QUEUE);
    let (ctrl_tx, mut ctrl_rx) = mpsc::channel::<String>(MAX_SUBSCRIPTIONS_PER_CLIENT * 2);
    let node = ctx.node.clone();
    let mut writer = tokio::spawn(async move {
        // Messages wait here until the node's standing latency has passed since they were
        // queued (at once when there is none); at most `OUT_QUEUE` wait, so a client that stops
        // reading still fills the data queue.
        let mut delayed: VecDeque<(Instant, String)> = VecDeque::new();
        loop {
            let due = delayed.front().map(|(at, _)| *at);
            let room = delayed.len() < OUT_QUEUE;
            tokio::select! {
                biased;
                _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    let Some((_, text)) = delayed.pop_front() else { continue };
                    if sink.send(Message::Text(text)).await.is_err() {
                        break;
                    }
                }
                Some(t) = out_rx.recv(), if room => {
                    delayed.push_back((Instant::now() + node.faults().rpc_latency(), t));
                }
                Some(t) = ctrl_rx.recv(), if room => {
                    delayed.push_back((Instant::now() + node.faults().rpc_latency(), t));
                }
                else => break,
            }
        }
        let _ = sink.close().await;
    });

    let mut epoch = ctx.node.faults().ws_epoch();
    epoch.mark_unchanged();
    let mut events = ctx.node.subscribe();
    let mut subs: Vec<Subscription> = Vec::new();
    let mut handlers: JoinSet<()> = JoinSet::new();
    let mut writer_done = false;

    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            changed = epoch.changed() => {
                let _ = changed;
                break;
            }
            _ = &mut writer => {
                writer_done = true;
                break;
            }
            Some(_) = handlers.join_next(), if !handlers.is_empty() => {}
            frame = stream.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                };
                while handlers.len() >= MAX_IN_FLIGHT {
                    handlers.join_next().await;
                }
                on_request(&text, &ctx, &mut subs, &mut handlers, &out_tx).await;
            }
            event = events.recv() => match event {
                Ok(ev) => {
                    if !dispatch(&ev, &mut subs, &out_tx) {
                        cancel_all(&mut subs, &ctrl_tx, SLOW_CLIENT_REASON);
                    }
                }
                Err(RecvError::Lagged(_)) => cancel_all(&mut subs, &ctrl_tx, SLOW_CLIENT_REASON),
                Err(RecvError::Closed) => {
                    cancel_all(&mut subs, &ctrl_tx, "CometBFT exited");
                    break;
                }
            },
        }
    }
    handlers.abort_all();
    while handlers.join_next().await.is_some() {}
    drop(out_tx);
    drop(ctrl_tx);
    if !writer_done {
        writer.abort();
        let _ = writer.await;
    }
}

/// Cancels every subscription, telling the client why (best effort, as CometBFT's
/// `TryWriteRPCResponse`).
fn cancel_all(subs: &mut Vec<Subscription>, ctrl: &mpsc::Sender<String>, reason: &str) {
    for sub in subs.drain(..) {
        let err = RpcError::server(format!("subscription was canceled (reason: {reason})"));
        let _ = ctrl.try_send(jsonrpc::failure(&sub.id, &err).to_string());
    }
}

/// Pushes `ev` to the matching subscriptions; `false` when the client is too slow.
fn dispatch(ev: &ChainEvent, subs: &mut [Subscription], out: &mpsc::Sender<String>) -> bool {
    if subs.is_empty() {
        return true;
    }
    let (data, map) = match ev {
        ChainEvent::Tx(rec) => (render::tx_event_data(rec), render::tx_event_map(rec)),
        ChainEvent::NewBlock(rec) => (
            render::new_block_event_data(rec),
            render::new_block_event_map(rec),
        ),
    };
    for sub in subs.iter().filter(|s| s.query.matches(&map)) {
        let msg = jsonrpc::success(
            &sub.id,
            render::event_message(&sub.text, data.clone(), &map),
        );
        match out.try_send(msg.to_string()) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => return false,
            Err(mpsc::error::TrySendError::Closed(_)) => return true,
        }
    }
    true
}

async fn send(out: &mpsc::Sender<String>, v: Value) {
    let _ = out.send(v.to_string()).await;
}

async fn on_request(
    text: &str,
    ctx: &Ctx,
    subs: &mut Vec<Subscription>,
    handlers: &mut JoinSet<()>,
    out: &mpsc::Sender<String>,
) {
    let req = match serde_json::from_str::<Value>(text) {
        Err(e) => {
            let err = RpcError::parse(format!("error unmarshaling request: {e}"));
            return send(out, jsonrpc::failure(&Value::Null, &err)).await;
        }
        Ok(v) => match jsonrpc::parse_request(v) {
            Err((id, err)) => return send(out, jsonrpc::failure(&id, &err)).await,
            Ok(r) => r,
        },
    };
    // CometBFT ignores notifications (requests without an id).
    let Some(id) = req.id else { return };
    let Some(names) = methods::arg_names(&req.method) else {
        return send(out, jsonrpc::failure(&id, &RpcError::method_not_found())).await;
    };
    let params = match Params::from_json(req.params, names) {
        Ok(p) => p,
        Err(e) => return send(out, jsonrpc::failure(&id, &e)).await,
    };
    let fault = ctx.node.faults().rpc_fault();
    if fault == RpcFault::Error {
        return send(out, jsonrpc::failure(&id, &super::server::injected_fault())).await;
    }
    if methods::is_ws_only(&req.method) {
        // Logged with its query, so a test can tell which subscription a client ended.
        let query = params.string("query").ok().flatten();
        ctx.node.requests().record(&req.method, query.as_deref());
        if let RpcFault::Slow(d) = fault {
            tokio::time::sleep(d).await;
        }
        let answer = match req.method.as_str() {
            "subscribe" => subscribe(&params, &id, subs),
            "unsubscribe" => unsubscribe(&params, subs),
            _ => unsubscribe_all(subs),
        };
        let v = match answer {
            Ok(r) => jsonrpc::success(&id, r),
            Err(e) => jsonrpc::failure(&id, &e),
        };
        return send(out, v).await;
    }
    let ctx = ctx.clone();
    let out = out.clone();
    handlers.spawn(async move {
        if let RpcFault::Slow(d) = fault {
            tokio::time::sleep(d).await;
        }
        let v = match methods::call(&ctx, &req.method, &params).await {
            Ok(r) => jsonrpc::success(&id, r),
            Err(e) => jsonrpc::failure(&id, &e),
        };
        send(&out, v).await;
    });
}

fn subscribe(p: &Params, id: &Value, subs: &mut Vec<Subscription>) -> Result<Value, RpcError> {
    let text = p.string("query")?.unwrap_or_default();
    if subs.len() >= MAX_SUBSCRIPTIONS_PER_CLIENT {
        return Err(RpcError::internal(format!(
            "max_subscriptions_per_client {MAX_SUBSCRIPTIONS_PER_CLIENT} reached"
        )));
    }
    if text.len() > MAX_QUERY_LENGTH {
        return Err(RpcError::internal("maximum query length exceeded"));
    }
    let query = Query::parse(&text)
        .map_err(|e| RpcError::internal(format!("failed to parse query: {e}")))?;
    let key = query.to_string();
    if subs.iter().any(|s| s.query.to_string() == key) {
        return Err(RpcError::internal("already subscribed"));
    }
    subs.push(Subscription {
        text,
        query,
        id: id.clone(),
    });
    Ok(json!({}))
}

fn unsubscribe(p: &Params, subs: &mut Vec<Subscription>) -> Result<Value, RpcError> {
    let text = p.string("query")?.unwrap_or_default();
    let query = Query::parse(&text)
        .map_err(|e| RpcError::internal(format!("failed to parse query: {e}")))?;
    let key = query.to_string();
    let before = subs.len();
    subs.retain(|s| s.query.to_string() != key);
    if subs.len() == before {
        return Err(RpcError::internal("subscription not found"));
    }
    Ok(json!({}))
}

fn unsubscribe_all(subs: &mut Vec<Subscription>) -> Result<Value, RpcError> {
    if subs.is_empty() {
        return Err(RpcError::internal("subscription not found"));
    }
    subs.clear();
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_limits_and_errors() {
        let mut subs = Vec::new();
        let q = |s: &str| Params::from_json(json!({ "query": s }), &["query"]).unwrap();
        for i in 0..MAX_SUBSCRIPTIONS_PER_CLIENT {
            let r = subscribe(&q(&format!("a.b = '{i}'")), &json!(i), &mut subs);
            assert_eq!(r, Ok(json!({})));
        }
        let e = subscribe(&q("tm.event = 'Tx'"), &json!(9), &mut subs).unwrap_err();
        assert_eq!(e.data, "max_subscriptions_per_client 5 reached");
        assert_eq!(unsubscribe(&q("a.b='0'"), &mut subs), Ok(json!({})));
        let e = subscribe(&q("a.b = '1'"), &json!(1), &mut subs).unwrap_err();
        assert_eq!(e.data, "already subscribed");
        let e = subscribe(&q("malformed query"), &json!(1), &mut subs).unwrap_err();
        assert_eq!(e.code, -32603);
        assert_eq!(e.data, "failed to parse query: offset 10: got tag, wanted <= operator, >= operator, < operator, > operator, = operator, CONTAINS operator or EXISTS operator");
        assert_eq!(
            unsubscribe(&q("x.y = '1'"), &mut subs).unwrap_err().data,
            "subscription not found"
        );
        assert_eq!(unsubscribe_all(&mut subs), Ok(json!({})));
        assert!(unsubscribe_all(&mut subs).is_err());
    }

    #[test]
    fn malformed_subscribe_matches_the_capture() {
        let c = crate::rpc::fixtures::capture("subscribe_malformed");
        let mut subs = Vec::new();
        let p = Params::from_json(json!(["malformed query"]), &["query"]).unwrap();
        let e = subscribe(&p, &c["id"], &mut subs).unwrap_err();
        assert_eq!(jsonrpc::failure(&c["id"], &e), c);
    }

    #[test]
    fn a_full_queue_reports_a_slow_client() {
        let (tx, _rx) = mpsc::channel(1);
        let (ctrl, mut ctrl_rx) = mpsc::channel(4);
        let mut subs = vec![Subscription {
            text: "tm.event = 'Tx'".into(),
            query: Query::parse("tm.event = 'Tx'").unwrap(),
            id: json!("sub-1"),
        }];
        let rec = std::sync::Arc::new(crate::node::TxRecord {
            hash: [1; 32],
            height: 3,
            index: 0,
            tx: vec![1],
            result: Default::default(),
        });
        let ev = ChainEvent::Tx(rec);
        assert!(dispatch(&ev, &mut subs, &tx));
        assert!(!dispatch(&ev, &mut subs, &tx));
        cancel_all(&mut subs, &ctrl, SLOW_CLIENT_REASON);
        assert!(subs.is_empty());
        let msg: Value = serde_json::from_str(&ctrl_rx.try_recv().unwrap()).unwrap();
        assert_eq!(msg["id"], "sub-1");
        assert_eq!(
            msg["error"]["data"],
            "subscription was canceled (reason: client is not pulling messages fast enough)"
        );
    }
}
