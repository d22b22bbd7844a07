//! Reading a committed tx's ABCI events: the handshakes take new identifiers from them, and
//! `arke tx` reads its transfers' packets from them.

use crate::chain::query::IbcQuerier;

/// The events of the committed tx `tx_hash` (upper-case hex).
pub(crate) async fn tx_events(
    q: &IbcQuerier,
    tx_hash: &str,
) -> std::result::Result<Vec<tendermint::abci::Event>, String> {
    let bytes = hex::decode(tx_hash).map_err(|e| format!("bad tx hash {tx_hash}: {e}"))?;
    let hash = tendermint::Hash::from_bytes(tendermint::hash::Algorithm::Sha256, &bytes)
        .map_err(|e| format!("bad tx hash {tx_hash}: {e}"))?;
    let tx = q
        .rpc()
        .tx(hash, false)
        .await
        .map_err(|e| format!("tx {tx_hash}: {e}"))?;
    Ok(tx.tx_result.events)
}

/// The value of attribute `key` of the first event of kind `kind`.
pub(crate) fn event_attr(events: &[tendermint::abci::Event], kind: &str, key: &str) -> Option<String> {
    events
        .iter()
        .filter(|e| e.kind == kind)
        .flat_map(|e| e.attributes.iter())
        .find(|a| a.key_bytes() == key.as_bytes())
        .and_then(|a| a.value_str().ok().map(str::to_string))
}

/// The values of attribute `key` of every event of kind `kind`, in order.
pub(crate) fn event_attrs(events: &[tendermint::abci::Event], kind: &str, key: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.kind == kind)
        .filter_map(|e| {
            e.attributes
                .iter()
                .find(|a| a.key_bytes() == key.as_bytes())
                .and_then(|a| a.value_str().ok().map(str::to_string))
        })
        .collect()
}
