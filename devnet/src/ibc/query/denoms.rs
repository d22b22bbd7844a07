//! `ibc.applications.transfer.v1.Query`: the denom traces of ICS-20 vouchers and their hashes.

use ibc_proto::ibc::applications::transfer::v1 as transfer;
use prost::Message;

use super::page::paginate;
use super::{decode, invalid_argument, not_found, Queries};
use crate::error::TxError;
use crate::ibc::keys::{DENOM_TRACE_PREFIX, TRANSFER_STORE};
use crate::ibc::transfer::denom_hash;

impl Queries<'_, '_> {
    pub(super) fn denom_trace(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: transfer::QueryDenomTraceRequest = decode(request)?;
        let hash = req.hash.strip_prefix("ibc/").unwrap_or(&req.hash);
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid_argument(format!(
                "invalid denom trace hash: {}",
                req.hash
            )));
        }
        let trace = self
            .ctx
            .denom_trace(hash)
            .ok_or_else(|| not_found(format!("{}: denomination trace not found", req.hash)))?;
        Ok(transfer::QueryDenomTraceResponse {
            denom_trace: Some(trace),
        }
        .encode_to_vec())
    }

    pub(super) fn denom_traces(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: transfer::QueryDenomTracesRequest = decode(request)?;
        let (items, pagination) = paginate(
            self.ctx,
            TRANSFER_STORE,
            DENOM_TRACE_PREFIX,
            req.pagination.as_ref(),
            |_, _| true,
        );
        Ok(transfer::QueryDenomTracesResponse {
            denom_traces: items
                .into_iter()
                .filter_map(|(_, v)| transfer::DenomTrace::decode(v.as_slice()).ok())
                .collect(),
            pagination: Some(pagination),
        }
        .encode_to_vec())
    }

    pub(super) fn denom_hash(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: transfer::QueryDenomHashRequest = decode(request)?;
        let trace = req
            .trace
            .strip_prefix("ibc/")
            .map_or(req.trace.as_str(), |_| "");
        if trace.is_empty() {
            return Err(invalid_argument(format!(
                "invalid denom trace: {}",
                req.trace
            )));
        }
        let hash = denom_hash(trace);
        if self.ctx.denom_trace(&hash).is_none() {
            return Err(not_found(format!(
                "{}: denomination trace not found",
                req.trace
            )));
        }
        Ok(transfer::QueryDenomHashResponse { hash }.encode_to_vec())
    }
}
