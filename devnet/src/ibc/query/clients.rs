//! `ibc.core.client.v1.Query`: client states, consensus states and their heights, client status.

use ibc::core::client::context::client_state::ClientStateValidation;
use ibc::core::client::context::ClientValidationContext;
use ibc::core::host::types::identifiers::ClientId;
use ibc::core::host::types::path::ClientStatePath;
use ibc_proto::cosmos::base::query::v1beta1::{PageRequest, PageResponse};
use ibc_proto::google::protobuf::Any;
use ibc_proto::ibc::core::client::v1 as client;
use prost::Message;

use super::page::paginate;
use super::{client_id, decode, invalid_argument, not_found, suffix_str, Queries};
use crate::error::TxError;
use crate::ibc::keys::IBC_STORE;

impl Queries<'_, '_> {
    pub(super) fn raw_client_state(&self, id: &ClientId) -> Result<Any, TxError> {
        let raw = self
            .ctx
            .get(&ClientStatePath::new(id.clone()).to_string())
            .ok_or_else(|| not_found(format!("{id}: light client not found")))?;
        Any::decode(raw.as_slice()).map_err(|e| not_found(format!("{id}: {e}")))
    }

    pub(super) fn identified_client(
        &self,
        id: &ClientId,
    ) -> Result<client::IdentifiedClientState, TxError> {
        Ok(client::IdentifiedClientState {
            client_id: id.to_string(),
            client_state: Some(self.raw_client_state(id)?),
        })
    }

    pub(super) fn client_state(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: client::QueryClientStateRequest = decode(request)?;
        let id = client_id(&req.client_id)?;
        Ok(client::QueryClientStateResponse {
            client_state: Some(self.raw_client_state(&id)?),
            proof: Vec::new(),
            proof_height: Some(self.height),
        }
        .encode_to_vec())
    }

    pub(super) fn client_states(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: client::QueryClientStatesRequest = decode(request)?;
        let (items, pagination) = paginate(
            self.ctx,
            IBC_STORE,
            b"clients/",
            req.pagination.as_ref(),
            |k, _| {
                suffix_str(k).ends_with("/clientState") && suffix_str(k).matches('/').count() == 1
            },
        );
        let client_states = items
            .into_iter()
            .filter_map(|(k, v)| {
                let id = suffix_str(&k).strip_suffix("/clientState")?.to_string();
                Some(client::IdentifiedClientState {
                    client_id: id,
                    client_state: Any::decode(v.as_slice()).ok(),
                })
            })
            .collect();
        Ok(client::QueryClientStatesResponse {
            client_states,
            pagination: Some(pagination),
        }
        .encode_to_vec())
    }

    pub(super) fn consensus_state(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: client::QueryConsensusStateRequest = decode(request)?;
        let id = client_id(&req.client_id)?;
        let (rev, h) = if req.latest_height {
            let cs = self
                .ctx
                .client_state(&id)
                .map_err(|e| not_found(format!("{id}: {e}: light client not found")))?;
            let latest = cs.inner().latest_height;
            (latest.revision_number(), latest.revision_height())
        } else {
            if req.revision_height == 0 {
                return Err(invalid_argument("consensus state height cannot be 0"));
            }
            (req.revision_number, req.revision_height)
        };
        let key = format!("clients/{id}/consensusStates/{rev}-{h}");
        let raw = self.ctx.get(&key).ok_or_else(|| {
            not_found(format!(
                "client-id: {id}, height: {rev}-{h}: consensus state not found"
            ))
        })?;
        Ok(client::QueryConsensusStateResponse {
            consensus_state: Any::decode(raw.as_slice()).ok(),
            proof: Vec::new(),
            proof_height: Some(self.height),
        }
        .encode_to_vec())
    }

    fn consensus_pages(
        &self,
        id: &ClientId,
        page: Option<&PageRequest>,
    ) -> (Vec<(client::Height, Vec<u8>)>, PageResponse) {
        let prefix = format!("clients/{id}/consensusStates/");
        let (items, pagination) = paginate(self.ctx, IBC_STORE, prefix.as_bytes(), page, |k, _| {
            !k.contains(&b'/')
        });
        let heights = items
            .into_iter()
            .filter_map(|(k, v)| {
                let (rev, h) = suffix_str(&k).split_once('-')?;
                Some((
                    client::Height {
                        revision_number: rev.parse().ok()?,
                        revision_height: h.parse().ok()?,
                    },
                    v,
                ))
            })
            .collect();
        (heights, pagination)
    }

    pub(super) fn consensus_states(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: client::QueryConsensusStatesRequest = decode(request)?;
        let id = client_id(&req.client_id)?;
        let (items, pagination) = self.consensus_pages(&id, req.pagination.as_ref());
        Ok(client::QueryConsensusStatesResponse {
            consensus_states: items
                .into_iter()
                .map(|(height, v)| client::ConsensusStateWithHeight {
                    height: Some(height),
                    consensus_state: Any::decode(v.as_slice()).ok(),
                })
                .collect(),
            pagination: Some(pagination),
        }
        .encode_to_vec())
    }

    pub(super) fn consensus_state_heights(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: client::QueryConsensusStateHeightsRequest = decode(request)?;
        let id = client_id(&req.client_id)?;
        let (items, pagination) = self.consensus_pages(&id, req.pagination.as_ref());
        Ok(client::QueryConsensusStateHeightsResponse {
            consensus_state_heights: items.into_iter().map(|(h, _)| h).collect(),
            pagination: Some(pagination),
        }
        .encode_to_vec())
    }

    pub(super) fn client_status(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: client::QueryClientStatusRequest = decode(request)?;
        let id = client_id(&req.client_id)?;
        let cs = self
            .ctx
            .client_state(&id)
            .map_err(|e| not_found(format!("{id}: {e}: light client not found")))?;
        let status = cs
            .status(self.ctx, &id)
            .map_err(|e| not_found(format!("{id}: {e}")))?;
        Ok(client::QueryClientStatusResponse {
            status: status.to_string(),
        }
        .encode_to_vec())
    }
}
