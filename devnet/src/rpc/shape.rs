//! JSON shape helpers: listing the key paths of a value (to check a response carries every key a
//! real CometBFT capture has) and the small rewrites that turn tendermint-rs serialization into what
//! a CometBFT v0.38 node writes.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// Every key path in `value`: object keys joined by `.`, array elements as `[]` (all elements
/// merged). `{"a":{"b":[{"c":1}]}}` gives `a`, `a.b`, `a.b[]`, `a.b[].c`.
pub fn key_paths(value: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    collect(value, String::new(), &mut out);
    out
}

fn collect(value: &Value, prefix: String, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(path.clone());
                collect(v, path, out);
            }
        }
        Value::Array(items) => {
            let path = format!("{prefix}[]");
            for item in items {
                if item.is_object() || item.is_array() {
                    out.insert(path.clone());
                }
                collect(item, path.clone(), out);
            }
        }
        _ => {}
    }
}

/// The key paths `reference` has and `candidate` lacks.
pub fn missing_paths(reference: &Value, candidate: &Value) -> Vec<String> {
    let have = key_paths(candidate);
    key_paths(reference)
        .into_iter()
        .filter(|p| !have.contains(p))
        .collect()
}

/// Renames key `from` to `to` in `obj` when present.
pub fn rename_key(obj: &mut Value, from: &str, to: &str) {
    if let Some(map) = obj.as_object_mut() {
        if let Some(v) = map.remove(from) {
            map.insert(to.to_string(), v);
        }
    }
}

/// Removes `key` from `obj` when present.
pub fn remove_key(obj: &mut Value, key: &str) {
    if let Some(map) = obj.as_object_mut() {
        map.remove(key);
    }
}

/// Removes the keys whose value is a "zero" (0, "0", "", false, null, [] ) — what Go's
/// `omitempty` does on protobuf structs.
pub fn omit_empty(obj: &mut Value, keys: &[&str]) {
    if let Some(map) = obj.as_object_mut() {
        for key in keys {
            if map.get(*key).is_some_and(is_zero) {
                map.remove(*key);
            }
        }
    }
}

/// Whether a JSON value is what Go writes for a zero value.
pub fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty() || s == "0",
        Value::Array(a) => a.is_empty(),
        Value::Object(_) => false,
    }
}

/// Sets `key` to `value` in `obj` when the key is absent.
pub fn default_key(obj: &mut Value, key: &str, value: Value) {
    if let Some(map) = obj.as_object_mut() {
        map.entry(key.to_string()).or_insert(value);
    }
}

/// An empty JSON object.
pub fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// Rewrites an ABCI `ExecTxResult` as CometBFT writes it in `tx`, `tx_search` and
/// `broadcast_tx_commit`: every field present, `data` null when empty, events with string
/// attributes.
pub fn exec_tx_result(v: &mut Value) {
    if let Some(map) = v.as_object_mut() {
        if map.get("data").is_some_and(|d| d.as_str() == Some("")) {
            map.insert("data".into(), Value::Null);
        }
        map.entry("events").or_insert_with(|| Value::Array(vec![]));
        map.entry("codespace")
            .or_insert_with(|| Value::String(String::new()));
    }
}

/// Rewrites an `ExecTxResult` as it appears inside a pushed `Tx` event and in `block_results`
/// (`omitempty` applied, as the capture of a `Tx` event shows).
pub fn exec_tx_result_compact(v: &mut Value) {
    omit_empty(
        v,
        &[
            "code",
            "data",
            "log",
            "info",
            "gas_wanted",
            "gas_used",
            "codespace",
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_paths_of_nested_values() {
        let v = json!({"a":{"b":[{"c":1},{"d":2}]},"e":[1,2]});
        let paths: Vec<_> = key_paths(&v).into_iter().collect();
        assert_eq!(paths, vec!["a", "a.b", "a.b[]", "a.b[].c", "a.b[].d", "e"]);
    }

    #[test]
    fn missing_paths_lists_only_absent_keys() {
        let reference = json!({"a":1,"b":{"c":2}});
        let candidate = json!({"a":5,"b":{},"x":1});
        assert_eq!(missing_paths(&reference, &candidate), vec!["b.c"]);
    }

    #[test]
    fn omit_empty_drops_go_zero_values() {
        let mut v = json!({"code":0,"log":"","gas_used":"0","data":null,"events":[],"info":"x"});
        omit_empty(
            &mut v,
            &["code", "log", "gas_used", "data", "events", "info"],
        );
        assert_eq!(v, json!({"info":"x"}));
    }

    #[test]
    fn exec_tx_result_fills_cometbft_fields() {
        let mut v = json!({"code":0,"data":"","log":"","info":"","gas_wanted":"1","gas_used":"0"});
        exec_tx_result(&mut v);
        assert_eq!(v["data"], Value::Null);
        assert_eq!(v["events"], json!([]));
        assert_eq!(v["codespace"], json!(""));
    }
}
