//! gRPC queries over CometBFT RPC: a method `/pkg.Service/Method` is reached with
//! `abci_query(path = "/pkg.Service/Method", data = request bytes)`, as baseapp routes gRPC paths
//! first. A gRPC `NotFound` arrives as the SDK's `ErrKeyNotFound` code; paginated queries are
//! followed to their last page.

use ibc_proto::cosmos::base::query::v1beta1::PageRequest;
use prost::Message;

use super::{IbcQuerier, QueryError};

/// SDK code of `ErrKeyNotFound`, what a gRPC `NotFound` status becomes in `abci_query`.
const SDK_NOT_FOUND: u32 = 38;

impl IbcQuerier {
    /// Runs a gRPC query through `abci_query` at the latest height. `Ok(None)` when the chain
    /// answers NotFound.
    pub(super) async fn grpc_opt<Req: Message, Resp: Message + Default>(
        &self,
        path: &str,
        request: &Req,
    ) -> Result<Option<Resp>, QueryError> {
        let q = self
            .rpc
            .abci_query(path, &request.encode_to_vec(), None, false)
            .await?;
        let code = q.code.value();
        if code == SDK_NOT_FOUND {
            return Ok(None);
        }
        if code != 0 {
            return Err(QueryError::Abci {
                chain: self.chain_id.clone(),
                path: path.to_string(),
                code,
                log: q.log,
            });
        }
        Resp::decode(q.value.as_slice())
            .map(Some)
            .map_err(|e| self.decode_error(format!("cannot decode the answer to {path}: {e}")))
    }

    /// Runs a gRPC query; NotFound is an error.
    pub(super) async fn grpc<Req: Message, Resp: Message + Default>(
        &self,
        path: &str,
        request: &Req,
    ) -> Result<Resp, QueryError> {
        self.grpc_opt(path, request)
            .await?
            .ok_or_else(|| QueryError::Abci {
                chain: self.chain_id.clone(),
                path: path.to_string(),
                code: SDK_NOT_FOUND,
                log: "not found".into(),
            })
    }

    /// Runs a paginated gRPC query to the end: `make` builds the request for a page, `split`
    /// returns a page's items and its `next_key`.
    pub(super) async fn grpc_all<Req, Resp, T>(
        &self,
        path: &str,
        make: impl Fn(PageRequest) -> Req,
        split: impl Fn(Resp) -> (Vec<T>, Vec<u8>),
    ) -> Result<Vec<T>, QueryError>
    where
        Req: Message,
        Resp: Message + Default,
    {
        let mut all = Vec::new();
        let mut key = Vec::new();
        loop {
            let page = PageRequest {
                key: key.clone(),
                limit: self.page_limit,
                ..Default::default()
            };
            let resp: Resp = self.grpc(path, &make(page)).await?;
            let (items, next_key) = split(resp);
            all.extend(items);
            if next_key.is_empty() {
                return Ok(all);
            }
            if next_key == key {
                return Err(self.decode_error(format!(
                    "{path}: pagination does not advance (next_key {})",
                    hex::encode(&next_key)
                )));
            }
            key = next_key;
        }
    }
}
