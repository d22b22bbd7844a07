//! `abci_query` paths as a Cosmos SDK 0.50 node routes them (baseapp's `Query`): gRPC method
//! paths first (answered by [`crate::app::App`]), then the path split on `/` (so a leading `/` is
//! optional: `store/ibc/key` and `/store/ibc/key` are the same query) and routed by its first
//! segment: `app` (`simulate`, `version`), `store` (`<store>/key`, `<store>/subspace`, as the
//! root multistore and its IAVL stores answer them) and `p2p` (peer filters, none installed).
//! Anything else, `/custom/...` included (SDK 0.47 removed the legacy querier route), is
//! `unknown query path`. A failure carries only code, codespace and log, as baseapp's
//! `queryResult` builds it: no height, no key.

use base64::Engine;
use ibc_proto::google::protobuf::Any;
use prost::Message;
use serde_json::{json, Value};
use tendermint::abci::response::Query;
use tendermint::abci::Event;

use crate::app::DeliverOutcome;
use crate::error::TxError;
use crate::ibc::HostInfo;
use crate::store::{ProofOp, State};

/// baseapp's `QueryPathBroadcastTx`: refused, since a query cannot broadcast.
pub const BROADCAST_TX_PATH: &str = "/cosmos.tx.v1beta1.Service/BroadcastTx";
/// What an IAVL store logs (with code 0) for a height it does not hold.
pub const VERSION_DOES_NOT_EXIST: &str = "version does not exist";
/// The name baseapp's "not ready" and similar texts use.
pub const APP_NAME: &str = "devnet";

/// What one `abci_query` is answered from.
pub struct QueryEnv<'a> {
    /// The height asked for (0 already replaced by the latest).
    pub height: u64,
    /// The latest committed height.
    pub latest: u64,
    /// The state after block `height`, when the node holds it (`None` for a future or pruned
    /// height).
    pub state: Option<&'a State>,
    /// The state after the latest block (what an IAVL `subspace` query iterates).
    pub latest_state: &'a State,
    /// The host at `height` (at the latest height when `height` is in the future).
    pub host: HostInfo<'a>,
    /// The check state (committed state plus every tx that passed CheckTx since), which
    /// simulation runs on as baseapp's does; `None` when the path does not simulate, and then
    /// the committed state stands in.
    pub check_state: Option<&'a State>,
    /// The host of the latest committed block (the check state's context).
    pub check_host: HostInfo<'a>,
}

/// baseapp's `SplitABCIQueryPath`: split on `/`, dropping one leading empty segment.
pub fn split_path(path: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = path.split('/').collect();
    if parts.first() == Some(&"") {
        parts.remove(0);
    }
    parts
}

/// `errorsmod.Wrap(sdkerrors.ErrUnknownRequest, detail)`.
pub fn unknown_request(detail: impl std::fmt::Display) -> TxError {
    TxError::sdk(6, format!("{detail}: unknown request"))
}

/// An answer with nothing set (height 0: `Query::default()` says height 1).
pub fn empty() -> Query {
    Query {
        height: height_of(0),
        ..Default::default()
    }
}

/// A failed query as baseapp's `queryResult` builds it: code, codespace and log only.
pub fn failure(e: &TxError) -> Query {
    Query {
        code: e.code.into(),
        codespace: e.codespace.to_string(),
        log: e.log.clone(),
        ..empty()
    }
}

/// A failed gRPC query: baseapp adds the query height.
pub fn failure_at(e: &TxError, height: u64) -> Query {
    Query {
        height: height_of(height),
        ..failure(e)
    }
}

/// A gRPC answer: the response bytes at the query height.
pub fn answer(value: Vec<u8>, height: u64) -> Query {
    Query {
        value: value.into(),
        height: height_of(height),
        ..Default::default()
    }
}

/// An `app/...` answer: baseapp stamps these with the `sdk` codespace even on success.
pub fn app_answer(value: Vec<u8>, height: u64) -> Query {
    Query {
        codespace: "sdk".to_string(),
        ..answer(value, height)
    }
}

fn height_of(height: u64) -> tendermint::block::Height {
    tendermint::block::Height::try_from(height).unwrap_or_default()
}

/// baseapp's `CreateQueryContext` checks before a gRPC route runs: the state at the height.
/// (Before the first block the devnet answers from genesis, where baseapp says it is not ready.)
pub fn grpc_state<'a>(env: &QueryEnv<'a>, prove: bool) -> Result<&'a State, TxError> {
    if env.height > env.latest {
        return Err(TxError::sdk(
            26,
            "cannot query with height in the future; please provide a valid height: invalid height",
        ));
    }
    if env.height <= 1 && prove {
        return Err(proof_at_low_height());
    }
    env.state.ok_or_else(|| {
        TxError::invalid_request(format!(
            "failed to load state at height {}; {VERSION_DOES_NOT_EXIST} (latest height: {})",
            env.height, env.latest
        ))
    })
}

fn proof_at_low_height() -> TxError {
    TxError::invalid_request(
        "cannot query with proof when height <= 1; please provide a valid height",
    )
}

/// `store/<name>/<subpath>` (`parts` is the split path, `parts[0] == "store"`): baseapp's
/// `handleQueryStore`, the root multistore's `Query` and the IAVL store's `Query`.
pub fn store(env: &QueryEnv<'_>, parts: &[&str], data: &[u8], prove: bool) -> Query {
    if env.height <= 1 && prove {
        return failure(&proof_at_low_height());
    }
    // The multistore's `parsePath` on "/" + the rest: the store name, then "/" + the subpath.
    let rest = parts.get(1..).unwrap_or_default().join("/");
    let (name, subpath) = match rest.split_once('/') {
        Some((name, sub)) => (name.to_string(), format!("/{sub}")),
        None => (rest, String::new()),
    };
    if env.latest_state.get_tree(&name).is_none() {
        return failure(&unknown_request(format!("no such store: {name}")));
    }
    let proof_required = prove && subpath == "/key";
    // Without a proof, an IAVL error is the answer; a `/key` query asked to prove that has no
    // proof fails the multistore's check instead.
    let no_proof = || {
        failure(&TxError::invalid_request(
            "proof is unexpectedly empty; ensure height has not been pruned",
        ))
    };
    if data.is_empty() {
        if proof_required {
            return no_proof();
        }
        return failure(&TxError::tx_decode("query cannot be zero length"));
    }
    let mut q = Query {
        key: data.to_vec().into(),
        height: height_of(env.height),
        ..Default::default()
    };
    match subpath.as_str() {
        "/key" => {
            let Some(found) = env.state.and_then(|s| s.query(&name, data, prove)) else {
                if proof_required {
                    return no_proof();
                }
                q.log = VERSION_DOES_NOT_EXIST.to_string();
                return q;
            };
            q.value = found.value.unwrap_or_default().into();
            if prove {
                q.proof = Some(proof_ops(found.proof_ops));
            }
            q
        }
        "/subspace" => {
            let pairs = env
                .latest_state
                .get_tree(&name)
                .map(|tree| {
                    tree.iter_prefix(data, None)
                        .map(|(key, value)| KvPair {
                            key: key.to_vec(),
                            value: value.to_vec(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            q.value = KvPairs { pairs }.encode_to_vec().into();
            q
        }
        other => failure(&unknown_request(format!("unexpected query path: {other}"))),
    }
}

fn proof_ops(ops: Vec<ProofOp>) -> tendermint::merkle::proof::ProofOps {
    tendermint::merkle::proof::ProofOps {
        ops: ops
            .into_iter()
            .map(|op| tendermint::merkle::proof::ProofOp {
                field_type: op.field_type,
                key: op.key,
                data: op.data,
            })
            .collect(),
    }
}

/// `cosmos.store.internal.kv.v1beta1.Pairs`, what a `subspace` query returns.
#[derive(Clone, PartialEq, prost::Message)]
struct KvPairs {
    #[prost(message, repeated, tag = "1")]
    pairs: Vec<KvPair>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct KvPair {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// `p2p/filter/<addr|id>/<arg>`: baseapp's `handleQueryP2P` with no peer filter installed
/// (every peer is accepted: an empty answer).
pub fn p2p(parts: &[&str]) -> Query {
    if parts.len() < 4 {
        return failure(&unknown_request(
            "path should be p2p filter <addr|id> <parameter>",
        ));
    }
    if parts[1] != "filter" {
        return failure(&unknown_request("expected second parameter to be 'filter'"));
    }
    empty()
}

/// The answer of `app/simulate`: `SimulationResponse` as the SDK's `codec.ProtoMarshalJSON`
/// writes it (proto field names, defaults included, 64-bit integers as strings, `Any` expanded).
pub fn simulation_json(out: &DeliverOutcome) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let events: Vec<Value> = out.events.iter().map(event_json).collect();
    let responses: Vec<Value> = out.msg_responses.iter().map(any_json).collect();
    json!({
        "gas_info": {
            "gas_wanted": out.gas_wanted.to_string(),
            "gas_used": out.gas_used.to_string(),
        },
        "result": {
            "data": b64.encode(&out.data),
            "log": "",
            "events": events,
            "msg_responses": responses,
        },
    })
    .to_string()
    .into_bytes()
}

fn event_json(event: &Event) -> Value {
    let attributes: Vec<Value> = event
        .attributes
        .iter()
        .map(|a| {
            json!({
                "key": a.key_str().unwrap_or_default(),
                "value": a.value_str().unwrap_or_default(),
                "index": a.index(),
            })
        })
        .collect();
    json!({ "type": event.kind, "attributes": attributes })
}

/// A message response as JSON with its `@type`; the fields of the responses the devnet's
/// messages return.
fn any_json(any: &Any) -> Value {
    use ibc_proto::ibc::applications::transfer::v1::MsgTransferResponse;
    use ibc_proto::ibc::core::channel::v1 as chan;
    let mut out = serde_json::Map::new();
    out.insert("@type".into(), Value::String(any.type_url.clone()));
    let bytes = any.value.as_slice();
    let result_name = |result: i32| match chan::ResponseResultType::try_from(result) {
        Ok(r) => Value::String(r.as_str_name().to_string()),
        Err(_) => Value::from(result),
    };
    let fields: Vec<(&str, Value)> = match any.type_url.trim_start_matches('/') {
        "ibc.applications.transfer.v1.MsgTransferResponse" => MsgTransferResponse::decode(bytes)
            .map(|r| vec![("sequence", Value::String(r.sequence.to_string()))])
            .unwrap_or_default(),
        "ibc.core.channel.v1.MsgRecvPacketResponse" => chan::MsgRecvPacketResponse::decode(bytes)
            .map(|r| vec![("result", result_name(r.result))])
            .unwrap_or_default(),
        "ibc.core.channel.v1.MsgAcknowledgementResponse" => {
            chan::MsgAcknowledgementResponse::decode(bytes)
                .map(|r| vec![("result", result_name(r.result))])
                .unwrap_or_default()
        }
        "ibc.core.channel.v1.MsgTimeoutResponse" => chan::MsgTimeoutResponse::decode(bytes)
            .map(|r| vec![("result", result_name(r.result))])
            .unwrap_or_default(),
        "ibc.core.channel.v1.MsgTimeoutOnCloseResponse" => {
            chan::MsgTimeoutOnCloseResponse::decode(bytes)
                .map(|r| vec![("result", result_name(r.result))])
                .unwrap_or_default()
        }
        "ibc.core.channel.v1.MsgChannelOpenInitResponse" => {
            chan::MsgChannelOpenInitResponse::decode(bytes)
                .map(|r| {
                    vec![
                        ("channel_id", Value::String(r.channel_id)),
                        ("version", Value::String(r.version)),
                    ]
                })
                .unwrap_or_default()
        }
        "ibc.core.channel.v1.MsgChannelOpenTryResponse" => {
            chan::MsgChannelOpenTryResponse::decode(bytes)
                .map(|r| {
                    vec![
                        ("version", Value::String(r.version)),
                        ("channel_id", Value::String(r.channel_id)),
                    ]
                })
                .unwrap_or_default()
        }
        _ => Vec::new(),
    };
    for (key, value) in fields {
        out.insert(key.to_string(), value);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_baseapp() {
        assert_eq!(split_path("/store/ibc/key"), ["store", "ibc", "key"]);
        assert_eq!(split_path("store/ibc/key"), ["store", "ibc", "key"]);
        assert!(split_path("").is_empty());
        assert_eq!(split_path("/"), [""]);
        assert_eq!(split_path("//store"), ["", "store"]);
    }

    #[test]
    fn p2p_filters_accept_everyone() {
        assert_eq!(p2p(&["p2p", "filter", "id", "abc"]).code.value(), 0);
        let short = p2p(&["p2p", "filter"]);
        assert_eq!(short.code.value(), 6);
        assert_eq!(
            short.log,
            "path should be p2p filter <addr|id> <parameter>: unknown request"
        );
        assert_eq!(
            p2p(&["p2p", "x", "id", "abc"]).log,
            "expected second parameter to be 'filter': unknown request"
        );
    }
}
