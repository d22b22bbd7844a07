//! The JSON-RPC 2.0 response envelope: a body decoded into its `result`, or into a typed
//! [`RpcError`] for an `error` object or an undecodable answer.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::RpcError;

/// The JSON-RPC 2.0 response envelope.
#[derive(Deserialize)]
struct Envelope<R> {
    result: Option<R>,
    error: Option<ErrorObject>,
}

#[derive(Deserialize)]
struct ErrorObject {
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    data: Option<Value>,
}

/// Decodes a JSON-RPC response body into `R`.
pub(crate) fn decode_response<R: DeserializeOwned>(
    endpoint: &str,
    method: &'static str,
    body: &[u8],
) -> Result<R, RpcError> {
    let decode = |reason: String| RpcError::Decode {
        endpoint: endpoint.to_string(),
        method,
        reason,
    };
    let envelope: Envelope<R> = serde_json::from_slice(body).map_err(|e| decode(e.to_string()))?;
    if let Some(err) = envelope.error {
        return Err(RpcError::JsonRpc {
            endpoint: endpoint.to_string(),
            method,
            code: err.code,
            message: err.message,
            data: err.data.and_then(|d| match d {
                Value::Null => None,
                Value::String(s) if s.is_empty() => None,
                Value::String(s) => Some(s),
                other => Some(other.to_string()),
            }),
        });
    }
    envelope
        .result
        .ok_or_else(|| decode("envelope has neither `result` nor `error`".into()))
}
