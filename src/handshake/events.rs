//! Fetching a committed tx's ABCI events: the handshakes take new identifiers from them, and
//! `arke tx` reads its transfers' packets from them. Attribute access is `cosmos::events`.

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
