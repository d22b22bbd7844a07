//! Request parameters, decoded as CometBFT does for both transports: JSON-RPC `params` (an object
//! by name, or a positional array in the route's argument order) and URI query strings (integers
//! bare or quoted, strings `"quoted"`, bytes `0x`-hex or a `"quoted"` literal).
//!
//! CometBFT's own decoder insists on 64-bit integers as JSON strings; this one also takes bare
//! numbers, which is what the brief asks for and what lenient clients send.

use std::collections::HashMap;

use base64::Engine;
use serde_json::{Map, Value};

use super::jsonrpc::RpcError;

/// Where the params came from; decides the decoding rules and the error prefix.
#[derive(Clone, Debug)]
pub enum Params {
    /// JSON-RPC params by name.
    Json(Map<String, Value>),
    /// URI query parameters by name (already percent-decoded).
    Uri(HashMap<String, String>),
}

impl Params {
    /// Params from a JSON-RPC request; `names` is the route's argument order for arrays.
    pub fn from_json(params: Value, names: &[&str]) -> Result<Params, RpcError> {
        match params {
            Value::Null => Ok(Params::Json(Map::new())),
            Value::Object(map) => Ok(Params::Json(map)),
            Value::Array(items) => {
                if items.len() > names.len() {
                    return Err(RpcError::invalid_params(format!(
                        "error converting json params to arguments: expected {} parameters ({}), got {} ({})",
                        names.len(),
                        names.join(","),
                        items.len(),
                        Value::Array(items.clone())
                    )));
                }
                let map = names
                    .iter()
                    .zip(items)
                    .map(|(n, v)| (n.to_string(), v))
                    .collect();
                Ok(Params::Json(map))
            }
            other => Err(RpcError::invalid_params(format!(
                "error converting json params to arguments: unknown type for JSON params {other}"
            ))),
        }
    }

    /// Params from a raw URI query string (`a=1&b=%22x%22`).
    pub fn from_uri(query: &str) -> Params {
        let mut map = HashMap::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key = percent_decode(k);
            // The first occurrence wins, as Go's `url.Values.Get` does.
            map.entry(key).or_insert_with(|| percent_decode(v));
        }
        Params::Uri(map)
    }

    fn err(&self, name: &str, detail: impl std::fmt::Display) -> RpcError {
        let transport = match self {
            Params::Json(_) => "json",
            Params::Uri(_) => "http",
        };
        RpcError::invalid_params(format!(
            "error converting {transport} params to arguments: {name}: {detail}"
        ))
    }

    /// The raw JSON value of `name`, treating null as absent.
    fn json(&self, name: &str) -> Option<&Value> {
        match self {
            Params::Json(m) => m.get(name).filter(|v| !v.is_null()),
            Params::Uri(_) => None,
        }
    }

    /// The raw URI text of `name`, treating an empty value as absent.
    fn uri(&self, name: &str) -> Option<&str> {
        match self {
            Params::Uri(m) => m.get(name).map(String::as_str).filter(|s| !s.is_empty()),
            Params::Json(_) => None,
        }
    }

    /// A 64-bit integer: `"41"` or `41` (JSON), `41` or `"41"` (URI).
    pub fn int(&self, name: &str) -> Result<Option<i64>, RpcError> {
        if let Some(v) = self.json(name) {
            return match v {
                Value::String(s) => s
                    .trim()
                    .parse::<i64>()
                    .map(Some)
                    .map_err(|e| self.err(name, format!("invalid 64-bit integer {s:?}: {e}"))),
                Value::Number(n) => n
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| self.err(name, format!("invalid integer {n}"))),
                other => Err(self.err(name, format!("expected integer, got {other}"))),
            };
        }
        match self.uri(name) {
            None => Ok(None),
            Some(s) => unquote(s)
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|e| self.err(name, format!("invalid integer {s:?}: {e}"))),
        }
    }

    /// A boolean: `true`/`false`, also as strings.
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, RpcError> {
        let text = match self.json(name) {
            Some(Value::Bool(b)) => return Ok(Some(*b)),
            Some(Value::String(s)) => s.as_str(),
            Some(other) => return Err(self.err(name, format!("expected bool, got {other}"))),
            None => match self.uri(name) {
                Some(s) => unquote(s),
                None => return Ok(None),
            },
        };
        match text {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            other => Err(self.err(name, format!("expected bool, got {other:?}"))),
        }
    }

    /// A string: JSON string; URI `"quoted"` (JSON-unescaped), `0x`-hex of UTF-8, or bare text.
    pub fn string(&self, name: &str) -> Result<Option<String>, RpcError> {
        if let Some(v) = self.json(name) {
            return match v {
                Value::String(s) => Ok(Some(s.clone())),
                other => Err(self.err(name, format!("expected string, got {other}"))),
            };
        }
        let Some(s) = self.uri(name) else {
            return Ok(None);
        };
        if is_quoted(s) {
            return serde_json::from_str::<String>(s)
                .map(Some)
                .map_err(|e| self.err(name, e));
        }
        if let Some(h) = strip_0x(s) {
            let bytes = hex::decode(h).map_err(|e| self.err(name, e))?;
            return String::from_utf8(bytes)
                .map(Some)
                .map_err(|e| self.err(name, e));
        }
        Ok(Some(s.to_string()))
    }

    /// Go `[]byte`: base64 in JSON; URI `0x`-hex or a `"quoted"` literal.
    pub fn bytes(&self, name: &str) -> Result<Option<Vec<u8>>, RpcError> {
        if let Some(v) = self.json(name) {
            let Value::String(s) = v else {
                return Err(self.err(name, format!("expected base64 string, got {v}")));
            };
            return base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .map(Some)
                .map_err(|e| self.err(name, format!("illegal base64 data: {e}")));
        }
        self.uri_bytes(name)
    }

    /// `HexBytes`: hex (with or without `0x`) in JSON; URI `0x`-hex or a `"quoted"` literal.
    pub fn hex_bytes(&self, name: &str) -> Result<Option<Vec<u8>>, RpcError> {
        if let Some(v) = self.json(name) {
            let Value::String(s) = v else {
                return Err(self.err(name, format!("expected hex string, got {v}")));
            };
            let h = strip_0x(s).unwrap_or(s);
            return hex::decode(h)
                .map(Some)
                .map_err(|e| self.err(name, format!("invalid hex {s:?}: {e}")));
        }
        self.uri_bytes(name)
    }

    /// A 32-byte hash: base64 (what CometBFT's `[]byte` expects) or hex, whichever gives 32 bytes.
    pub fn hash(&self, name: &str) -> Result<Option<Vec<u8>>, RpcError> {
        if let Some(v) = self.json(name) {
            let Value::String(s) = v else {
                return Err(self.err(name, format!("expected hash string, got {v}")));
            };
            let s = s.trim();
            if let Ok(b) = base64::engine::general_purpose::STANDARD.decode(s) {
                if b.len() == 32 {
                    return Ok(Some(b));
                }
            }
            let h = strip_0x(s).unwrap_or(s);
            return match hex::decode(h) {
                Ok(b) => Ok(Some(b)),
                Err(_) => base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map(Some)
                    .map_err(|e| self.err(name, format!("illegal base64 data: {e}"))),
            };
        }
        match self.uri(name) {
            Some(s) if !is_quoted(s) && strip_0x(s).is_none() => hex::decode(s)
                .map(Some)
                .map_err(|e| self.err(name, format!("invalid hex {s:?}: {e}"))),
            _ => self.uri_bytes(name),
        }
    }

    fn uri_bytes(&self, name: &str) -> Result<Option<Vec<u8>>, RpcError> {
        let Some(s) = self.uri(name) else {
            return Ok(None);
        };
        if let Some(h) = strip_0x(s) {
            return hex::decode(h)
                .map(Some)
                .map_err(|e| self.err(name, format!("invalid hex {s:?}: {e}")));
        }
        if is_quoted(s) {
            return serde_json::from_str::<String>(s)
                .map(|t| Some(t.into_bytes()))
                .map_err(|e| self.err(name, e));
        }
        // Not CometBFT (it wants JSON here), but base64 is what a JSON body would carry.
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(Some)
            .map_err(|e| self.err(name, format!("expected 0x-hex or a quoted string: {e}")))
    }
}

fn is_quoted(s: &str) -> bool {
    s.len() >= 2 && s.starts_with('"') && s.ends_with('"')
}

fn unquote(s: &str) -> &str {
    if is_quoted(s) {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

fn strip_0x(s: &str) -> Option<&str> {
    s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))
}

/// Decodes `%XX` escapes and `+` (as a space); invalid escapes are kept as written.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len() => match hex::decode(&bytes[i + 1..i + 3]) {
                Ok(b) => {
                    out.extend_from_slice(&b);
                    i += 3;
                }
                Err(_) => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_ints_as_strings_or_numbers() {
        let p =
            Params::from_json(json!({"height":"41","page":2,"bad":"x","neg":"-3"}), &[]).unwrap();
        assert_eq!(p.int("height").unwrap(), Some(41));
        assert_eq!(p.int("page").unwrap(), Some(2));
        assert_eq!(p.int("absent").unwrap(), None);
        assert_eq!(p.int("neg").unwrap(), Some(-3));
        let e = p.int("bad").unwrap_err();
        assert_eq!(e.code, -32602);
        assert!(e
            .data
            .starts_with("error converting json params to arguments"));
    }

    #[test]
    fn positional_params_follow_route_order() {
        let p = Params::from_json(json!(["5", true]), &["height", "prove", "x"]).unwrap();
        assert_eq!(p.int("height").unwrap(), Some(5));
        assert_eq!(p.boolean("prove").unwrap(), Some(true));
        assert!(Params::from_json(json!([1, 2]), &["height"]).is_err());
        assert!(Params::from_json(json!(5), &["height"]).is_err());
        let null = Params::from_json(Value::Null, &["height"]).unwrap();
        assert_eq!(null.int("height").unwrap(), None);
    }

    #[test]
    fn uri_conventions() {
        let p = Params::from_uri(
            "path=%22store/ibc/key%22&data=0x0a0b&prove=true&height=7&q=%22tm.event%3D'Tx'%22&h2=%225%22&s=0x6869&empty=",
        );
        assert_eq!(p.string("path").unwrap().as_deref(), Some("store/ibc/key"));
        assert_eq!(p.hex_bytes("data").unwrap(), Some(vec![0x0a, 0x0b]));
        assert_eq!(p.boolean("prove").unwrap(), Some(true));
        assert_eq!(p.int("height").unwrap(), Some(7));
        assert_eq!(p.int("h2").unwrap(), Some(5));
        assert_eq!(p.string("q").unwrap().as_deref(), Some("tm.event='Tx'"));
        assert_eq!(p.string("s").unwrap().as_deref(), Some("hi"));
        assert_eq!(p.int("empty").unwrap(), None);
        let e = Params::from_uri("height=abc").int("height").unwrap_err();
        assert!(e
            .data
            .starts_with("error converting http params to arguments"));
        let tx = Params::from_uri("tx=%22abc%22");
        assert_eq!(tx.bytes("tx").unwrap(), Some(b"abc".to_vec()));
    }

    #[test]
    fn bytes_and_hashes() {
        let hash = [0xABu8; 32];
        let b64 = base64::engine::general_purpose::STANDARD.encode(hash);
        let p = Params::from_json(
            json!({"tx":"aGk=","data":"0A0B","h1":b64,"h2":hex::encode_upper(hash),"bad":"%%"}),
            &[],
        )
        .unwrap();
        assert_eq!(p.bytes("tx").unwrap(), Some(b"hi".to_vec()));
        assert_eq!(p.hex_bytes("data").unwrap(), Some(vec![10, 11]));
        assert_eq!(p.hash("h1").unwrap(), Some(hash.to_vec()));
        assert_eq!(p.hash("h2").unwrap(), Some(hash.to_vec()));
        assert!(p.bytes("bad").is_err());
        assert!(p.hex_bytes("bad").is_err());
        let u = Params::from_uri(&format!("hash=0x{}", hex::encode(hash)));
        assert_eq!(u.hash("hash").unwrap(), Some(hash.to_vec()));
        let bare = Params::from_uri(&format!("hash={}", hex::encode(hash)));
        assert_eq!(bare.hash("hash").unwrap(), Some(hash.to_vec()));
    }

    #[test]
    fn percent_decoding_never_panics() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%e2%82%ac"), "€");
    }
}
