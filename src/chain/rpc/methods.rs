//! The CometBFT methods the relayer calls, one typed function each: request params in
//! CometBFT's JSON rules (64-bit integers as strings, `abci_query.data` as hex, tx bytes and tx
//! hashes as base64), answers decoded into `tendermint-rpc`'s types (blocks in the v0.38
//! dialect), paged methods followed to their end.

use base64::Engine as _;
use serde_json::{json, Value};
use tendermint::block::Height;
use tendermint::Hash;
#[cfg(test)]
use tendermint_rpc::endpoint::abci_info;
use tendermint_rpc::endpoint::{
    abci_query, block_results, broadcast, commit, status, tx, tx_search, validators,
};

use super::{RpcClient, RpcError};

/// `per_page` used when fetching every page (CometBFT's maximum).
pub(crate) const MAX_PER_PAGE: u8 = 100;

/// Result order of `tx_search`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// Oldest first.
    Ascending,
}

impl Order {
    fn as_str(self) -> &'static str {
        match self {
            Order::Ascending => "asc",
        }
    }
}

impl RpcClient {
    /// `/status`: node info, latest height and time, catching-up flag.
    pub(crate) async fn status(&self) -> Result<status::Response, RpcError> {
        self.call("status", json!({})).await
    }

    #[cfg(test)]
    /// `/abci_info`: the application's last block height and app hash.
    pub(crate) async fn abci_info(&self) -> Result<tendermint::abci::response::Info, RpcError> {
        let r: abci_info::Response = self.call("abci_info", json!({})).await?;
        Ok(r.response)
    }

    /// `/abci_query` on `path` with `data`, at `height` (latest when `None`), with a Merkle
    /// proof when `prove`. A non-zero `code` in the answer is returned as-is for the caller.
    pub(crate) async fn abci_query(
        &self,
        path: &str,
        data: &[u8],
        height: Option<Height>,
        prove: bool,
    ) -> Result<abci_query::AbciQuery, RpcError> {
        let mut params = json!({ "path": path, "data": hex::encode_upper(data), "prove": prove });
        if let Some(h) = height {
            params["height"] = json!(h.to_string());
        }
        let r: abci_query::Response = self.call("abci_query", params).await?;
        Ok(r.response)
    }

    /// `/block_results` at `height` (latest when `None`).
    pub(crate) async fn block_results(
        &self,
        height: Option<Height>,
    ) -> Result<block_results::Response, RpcError> {
        self.call("block_results", height_params(height)).await
    }

    /// `/commit` at `height` (latest when `None`; then `canonical` is false).
    pub(crate) async fn commit(
        &self,
        height: Option<Height>,
    ) -> Result<commit::Response, RpcError> {
        self.call("commit", height_params(height)).await
    }

    /// `/validators` at `height`, every page, in the node's order.
    pub(crate) async fn validators(
        &self,
        height: Height,
    ) -> Result<validators::Response, RpcError> {
        let mut all = Vec::new();
        let mut page: u32 = 1;
        loop {
            let params = json!({
                "height": height.to_string(),
                "page": page.to_string(),
                "per_page": MAX_PER_PAGE.to_string(),
            });
            let r: validators::Response = self.call("validators", params).await?;
            let got = r.validators.len();
            all.extend(r.validators);
            let total = usize::try_from(r.total).unwrap_or(0);
            if got == 0 || all.len() >= total {
                if all.len() < total {
                    return Err(self.decode_error(
                        "validators",
                        format!(
                            "node reported {total} validators but returned {}",
                            all.len()
                        ),
                    ));
                }
                return Ok(validators::Response::new(r.block_height, all, r.total));
            }
            page += 1;
        }
    }

    /// `/tx` by hash.
    pub(crate) async fn tx(&self, hash: Hash, prove: bool) -> Result<tx::Response, RpcError> {
        let params = json!({
            "hash": base64::engine::general_purpose::STANDARD.encode(hash.as_bytes()),
            "prove": prove,
        });
        self.call("tx", params).await
    }

    /// One page of `/tx_search` (`page` from 1, `per_page` up to 100).
    pub(crate) async fn tx_search(
        &self,
        query: &str,
        prove: bool,
        page: u32,
        per_page: u8,
        order: Order,
    ) -> Result<tx_search::Response, RpcError> {
        let params = json!({
            "query": query,
            "prove": prove,
            "page": page.to_string(),
            "per_page": per_page.to_string(),
            "order_by": order.as_str(),
        });
        self.call("tx_search", params).await
    }

    /// Every `/tx_search` result, page by page, up to `limit` txs.
    pub(crate) async fn tx_search_all(
        &self,
        query: &str,
        order: Order,
        limit: usize,
    ) -> Result<Vec<tx::Response>, RpcError> {
        let mut all = Vec::new();
        let mut page = 1;
        while all.len() < limit {
            let r = self
                .tx_search(query, false, page, MAX_PER_PAGE, order)
                .await?;
            let got = r.txs.len();
            all.extend(r.txs);
            if got == 0 || all.len() >= r.total_count as usize {
                break;
            }
            page += 1;
        }
        all.truncate(limit);
        Ok(all)
    }

    /// `/broadcast_tx_sync`: submits signed `TxRaw` bytes and returns the CheckTx result.
    pub(crate) async fn broadcast_tx_sync(
        &self,
        tx_bytes: &[u8],
    ) -> Result<broadcast::tx_sync::Response, RpcError> {
        let params = json!({ "tx": base64::engine::general_purpose::STANDARD.encode(tx_bytes) });
        // Not retried on another endpoint: the caller decides what a lost broadcast means.
        self.call_once("broadcast_tx_sync", params).await
    }

    /// `/unconfirmed_txs`: the first txs of the node's mempool, in its order (CometBFT returns
    /// up to `limit` + 1), and how many txs and bytes it holds in all. A tx that is not base64
    /// is `None` in its place (the caller counts and skips it).
    pub(crate) async fn unconfirmed_txs(&self, limit: u8) -> Result<UnconfirmedTxs, RpcError> {
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(default)]
            total: Option<String>,
            #[serde(default)]
            total_bytes: Option<String>,
            /// `null` for none.
            #[serde(default)]
            txs: Option<Vec<String>>,
        }
        let answer: Answer = self
            .call(
                "unconfirmed_txs",
                json!({ "limit": limit.max(1).to_string() }),
            )
            .await?;
        let number = |v: Option<String>| v.and_then(|s| s.parse().ok()).unwrap_or(0);
        Ok(UnconfirmedTxs {
            total: number(answer.total),
            total_bytes: number(answer.total_bytes),
            txs: answer
                .txs
                .unwrap_or_default()
                .iter()
                .map(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
                .collect(),
        })
    }

    fn decode_error(&self, method: &'static str, reason: String) -> RpcError {
        RpcError::Decode {
            endpoint: self.endpoint(),
            method,
            reason,
        }
    }
}

/// What `/unconfirmed_txs` answered.
#[derive(Debug, Clone, Default)]
pub(crate) struct UnconfirmedTxs {
    /// Txs in the mempool.
    pub(crate) total: u64,
    /// Bytes of the txs in the mempool.
    pub(crate) total_bytes: u64,
    /// The txs listed, in mempool order (`None`: not base64).
    pub(crate) txs: Vec<Option<Vec<u8>>>,
}

fn height_params(height: Option<Height>) -> Value {
    match height {
        Some(h) => json!({ "height": h.to_string() }),
        None => json!({}),
    }
}
