//! The JSON-RPC 2.0 envelope as CometBFT writes it (`rpc/jsonrpc/types/types.go`): request
//! parsing (single and batch), success and error responses, and the error codes and messages.

use serde_json::{json, Map, Value};

/// The id CometBFT uses for URI (GET) requests.
pub const URI_REQUEST_ID: i64 = -1;

/// A JSON-RPC error as CometBFT builds it: code, fixed message, and the Go error text as `data`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcError {
    /// -32700, -32600, -32601, -32602, -32603 or -32000.
    pub code: i64,
    /// The fixed message of the code.
    pub message: &'static str,
    /// The error text (omitted when empty).
    pub data: String,
}

impl RpcError {
    /// -32700: the body is not JSON.
    pub fn parse(detail: impl std::fmt::Display) -> Self {
        Self {
            code: -32700,
            message: "Parse error. Invalid JSON",
            data: detail.to_string(),
        }
    }

    /// -32600: the request is not a valid JSON-RPC request.
    pub fn invalid_request(detail: impl std::fmt::Display) -> Self {
        Self {
            code: -32600,
            message: "Invalid Request",
            data: detail.to_string(),
        }
    }

    /// -32601: no such method (CometBFT sends no data).
    pub fn method_not_found() -> Self {
        Self {
            code: -32601,
            message: "Method not found",
            data: String::new(),
        }
    }

    /// -32602: the params could not be decoded.
    pub fn invalid_params(detail: impl std::fmt::Display) -> Self {
        Self {
            code: -32602,
            message: "Invalid params",
            data: detail.to_string(),
        }
    }

    /// -32603: the handler failed; `detail` is CometBFT's error text.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self {
            code: -32603,
            message: "Internal error",
            data: detail.to_string(),
        }
    }

    /// -32000: a server-side condition, e.g. a canceled subscription.
    pub fn server(detail: impl std::fmt::Display) -> Self {
        Self {
            code: -32000,
            message: "Server error",
            data: detail.to_string(),
        }
    }

    /// The `error` object.
    pub fn to_value(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("code".into(), json!(self.code));
        obj.insert("message".into(), json!(self.message));
        if !self.data.is_empty() {
            obj.insert("data".into(), json!(self.data));
        }
        Value::Object(obj)
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.message, self.code, self.data)
    }
}

/// One decoded request.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// The id (number or string); `None` for a notification.
    pub id: Option<Value>,
    /// The method name.
    pub method: String,
    /// `params`: object, array, or null.
    pub params: Value,
}

/// What a POST body holds.
#[derive(Debug)]
pub enum Body {
    /// One request object.
    Single(Result<Request, (Value, RpcError)>),
    /// A batch (array) of requests.
    Batch(Vec<Result<Request, (Value, RpcError)>>),
}

/// Decodes a POST body into one request or a batch; a body that is not JSON is a parse error.
pub fn parse_body(bytes: &[u8]) -> Result<Body, RpcError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| RpcError::parse(format!("error unmarshaling request: {e}")))?;
    Ok(match value {
        Value::Array(items) => Body::Batch(items.into_iter().map(parse_request).collect()),
        other => Body::Single(parse_request(other)),
    })
}

/// Decodes one request object. On failure returns the id (or null) with the error.
pub fn parse_request(value: Value) -> Result<Request, (Value, RpcError)> {
    let Value::Object(mut obj) = value else {
        return Err((
            Value::Null,
            RpcError::invalid_request("request is not a JSON object"),
        ));
    };
    let id = match obj.remove("id") {
        None | Some(Value::Null) => None,
        Some(v @ (Value::Number(_) | Value::String(_))) => Some(v),
        Some(other) => {
            return Err((
                Value::Null,
                RpcError::invalid_request(format!("invalid id type {other}")),
            ))
        }
    };
    let id_value = id.clone().unwrap_or(Value::Null);
    if let Some(v) = obj.get("jsonrpc") {
        if v != "2.0" {
            return Err((
                id_value,
                RpcError::invalid_request(format!("jsonrpc must be 2.0, got {v}")),
            ));
        }
    }
    let method = match obj.remove("method") {
        Some(Value::String(m)) => m,
        _ => {
            return Err((
                id_value,
                RpcError::invalid_request("missing or non-string method"),
            ))
        }
    };
    let params = obj.remove("params").unwrap_or(Value::Null);
    Ok(Request { id, method, params })
}

/// `{"jsonrpc":"2.0","id":..,"result":..}`.
pub fn success(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// `{"jsonrpc":"2.0","id":..,"error":{code,message,data}}`.
pub fn failure(id: &Value, error: &RpcError) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": error.to_value()})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_envelope_matches_cometbft() {
        let e = RpcError::internal(
            "height 999 must be less than or equal to the current blockchain height 12",
        );
        assert_eq!(
            failure(&json!(1), &e),
            json!({"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"Internal error",
                "data":"height 999 must be less than or equal to the current blockchain height 12"}})
        );
        // Method not found carries no data.
        assert_eq!(
            failure(&json!("x"), &RpcError::method_not_found()),
            json!({"jsonrpc":"2.0","id":"x","error":{"code":-32601,"message":"Method not found"}})
        );
        assert_eq!(RpcError::invalid_params("x").code, -32602);
        assert_eq!(RpcError::invalid_params("x").message, "Invalid params");
    }

    #[test]
    fn the_capture_error_has_the_same_shape() {
        let capture = crate::rpc::fixtures::capture("block_at_height_0");
        let ours = failure(
            &capture["id"],
            &RpcError::internal("height must be greater than 0, but got 0"),
        );
        assert_eq!(ours, capture);
    }

    #[test]
    fn parses_single_batch_and_bad_bodies() {
        let Ok(Body::Single(Ok(r))) =
            parse_body(br#"{"jsonrpc":"2.0","id":7,"method":"status","params":{}}"#)
        else {
            panic!("single request");
        };
        assert_eq!(r.id, Some(json!(7)));
        assert_eq!(r.method, "status");

        let Ok(Body::Batch(items)) = parse_body(
            br#"[{"jsonrpc":"2.0","id":"a","method":"health"},{"jsonrpc":"2.0","id":2,"method":"block","params":["5"]},{"id":3}]"#,
        ) else {
            panic!("batch");
        };
        assert_eq!(items.len(), 3);
        assert!(items[0].is_ok());
        assert_eq!(
            items[1].as_ref().map(|r| r.params.clone()).ok(),
            Some(json!(["5"]))
        );
        assert!(matches!(&items[2], Err((id, e)) if *id == json!(3) && e.code == -32600));

        assert_eq!(parse_body(b"{not json").err().map(|e| e.code), Some(-32700));
        let Ok(Body::Single(Err((_, e)))) = parse_body(b"5") else {
            panic!("scalar body");
        };
        assert_eq!(e.code, -32600);
        let Ok(Body::Single(Ok(n))) = parse_body(br#"{"jsonrpc":"2.0","method":"health"}"#) else {
            panic!("notification");
        };
        assert_eq!(n.id, None);
    }
}
