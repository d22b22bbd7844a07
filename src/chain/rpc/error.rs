//! [`RpcError`]: what went wrong with an RPC call, naming the endpoint and the method, and
//! telling transport failures, timeouts, HTTP errors, JSON-RPC errors and undecodable answers
//! apart (so callers can tell a transient failure from a request the node always refuses).

use std::time::Duration;

/// What went wrong with an RPC call. Every variant names the endpoint and the method.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// Connection or protocol failure below JSON-RPC.
    #[error("{method} on {endpoint}: transport error: {detail}")]
    Transport {
        /// The endpoint URL.
        endpoint: String,
        /// The JSON-RPC method.
        method: &'static str,
        /// The cause, with its whole chain of causes.
        detail: String,
    },
    /// The TLS handshake failed (an untrusted or invalid certificate, a protocol mismatch).
    #[error(
        "{method} on {endpoint}: TLS handshake failed: {reason} ({})",
        super::tls::TLS_HINT
    )]
    Tls {
        /// The endpoint URL.
        endpoint: String,
        /// The JSON-RPC method.
        method: &'static str,
        /// rustls's reason, with its chain of causes.
        reason: String,
    },
    /// A non-success HTTP status without a JSON-RPC body.
    #[error("{method} on {endpoint}: HTTP {status}: {body}")]
    Http {
        /// The endpoint URL.
        endpoint: String,
        /// The JSON-RPC method.
        method: &'static str,
        /// The HTTP status code.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// No complete answer within `rpc_timeout`.
    #[error("{method} on {endpoint}: no answer within {timeout:?}")]
    Timeout {
        /// The endpoint URL.
        endpoint: String,
        /// The JSON-RPC method.
        method: &'static str,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// The node answered with a JSON-RPC error object.
    #[error("{method} on {endpoint}: JSON-RPC error {code}: {message}{}", data.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    JsonRpc {
        /// The endpoint URL.
        endpoint: String,
        /// The JSON-RPC method.
        method: &'static str,
        /// JSON-RPC error code (-32603 internal error, -32602 invalid params, …).
        code: i64,
        /// JSON-RPC error message.
        message: String,
        /// CometBFT's detail string (the handler's error), if any.
        data: Option<String>,
    },
    /// The answer could not be decoded into the expected type.
    #[error("{method} on {endpoint}: cannot decode response: {reason}")]
    Decode {
        /// The endpoint URL.
        endpoint: String,
        /// The JSON-RPC method.
        method: &'static str,
        /// The decoder's message.
        reason: String,
    },
    /// The client's semaphore was closed (the client is shutting down).
    #[error("{method} on {endpoint}: client is shut down")]
    Closed {
        /// The endpoint URL.
        endpoint: String,
        /// The JSON-RPC method.
        method: &'static str,
    },
    /// The endpoint itself is unusable.
    #[error("invalid RPC endpoint {endpoint}: {reason}")]
    InvalidEndpoint {
        /// The endpoint URL.
        endpoint: String,
        /// Why.
        reason: String,
    },
}

impl RpcError {
    #[cfg(test)]
    /// Whether retrying the same request later may succeed (transport trouble, timeouts, 5xx,
    /// 429, internal errors), as opposed to a request the node will always refuse.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            RpcError::Transport { .. } | RpcError::Timeout { .. } => true,
            RpcError::Tls { .. } => false,
            RpcError::Http { status, .. } => *status == 429 || *status >= 500,
            RpcError::JsonRpc { code, .. } => *code == -32603,
            RpcError::Decode { .. }
            | RpcError::Closed { .. }
            | RpcError::InvalidEndpoint { .. } => false,
        }
    }

    /// Whether the endpoint itself failed (no answer, a TLS failure, a timeout, an HTTP 429 or
    /// 5xx without a JSON-RPC body), so another endpoint of the chain should be tried. A
    /// JSON-RPC error or an undecodable answer is the node's answer, not an endpoint failure.
    pub(crate) fn is_endpoint_failure(&self) -> bool {
        match self {
            RpcError::Transport { .. } | RpcError::Tls { .. } | RpcError::Timeout { .. } => true,
            RpcError::Http { status, .. } => *status == 429 || *status >= 500,
            RpcError::JsonRpc { .. }
            | RpcError::Decode { .. }
            | RpcError::Closed { .. }
            | RpcError::InvalidEndpoint { .. } => false,
        }
    }

    /// A short name of the variant, the `kind` label of `arke_rpc_errors_total`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            RpcError::Transport { .. } => "transport",
            RpcError::Tls { .. } => "tls",
            RpcError::Http { .. } => "http",
            RpcError::Timeout { .. } => "timeout",
            RpcError::JsonRpc { .. } => "jsonrpc",
            RpcError::Decode { .. } => "decode",
            RpcError::Closed { .. } => "closed",
            RpcError::InvalidEndpoint { .. } => "invalid_endpoint",
        }
    }
}

/// The number written right after the first `marker` in `text` (spaces skipped): how nodes and
/// the SDK put numbers in their error texts ("expected 17", "message index: 3", "lowest height
/// is 58").
pub(crate) fn number_after(text: &str, marker: &str) -> Option<u64> {
    let rest = &text[text.find(marker)? + marker.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}
