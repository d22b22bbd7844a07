//! `ibc.core.connection.v1.Query`: connection ends, a client's connections, a connection's
//! client state. (`ConnectionParams` is answered in `answer` from the host.)

use ibc::core::host::types::path::{ClientConnectionPath, ConnectionPath};
use ibc_proto::ibc::core::connection::v1 as conn;
use prost::Message;

use super::page::paginate;
use super::{client_id, connection_id, decode, not_found, suffix_str, Queries};
use crate::error::TxError;
use crate::ibc::keys::IBC_STORE;

impl Queries<'_, '_> {
    pub(super) fn raw_connection(&self, id: &str) -> Result<conn::ConnectionEnd, TxError> {
        let cid = connection_id(id)?;
        let raw = self
            .ctx
            .get(&ConnectionPath::new(&cid).to_string())
            .ok_or_else(|| not_found(format!("{id}: connection not found")))?;
        conn::ConnectionEnd::decode(raw.as_slice()).map_err(|e| not_found(format!("{id}: {e}")))
    }

    pub(super) fn connection(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: conn::QueryConnectionRequest = decode(request)?;
        Ok(conn::QueryConnectionResponse {
            connection: Some(self.raw_connection(&req.connection_id)?),
            proof: Vec::new(),
            proof_height: Some(self.height),
        }
        .encode_to_vec())
    }

    pub(super) fn connections(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: conn::QueryConnectionsRequest = decode(request)?;
        let (items, pagination) = paginate(
            self.ctx,
            IBC_STORE,
            b"connections/",
            req.pagination.as_ref(),
            |k, _| !k.contains(&b'/'),
        );
        let connections = items
            .into_iter()
            .filter_map(|(k, v)| {
                let c = conn::ConnectionEnd::decode(v.as_slice()).ok()?;
                Some(conn::IdentifiedConnection {
                    id: suffix_str(&k).to_string(),
                    client_id: c.client_id,
                    versions: c.versions,
                    state: c.state,
                    counterparty: c.counterparty,
                    delay_period: c.delay_period,
                })
            })
            .collect();
        Ok(conn::QueryConnectionsResponse {
            connections,
            pagination: Some(pagination),
            height: Some(self.height),
        }
        .encode_to_vec())
    }

    pub(super) fn client_connections(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: conn::QueryClientConnectionsRequest = decode(request)?;
        let id = client_id(&req.client_id)?;
        let raw = self
            .ctx
            .get(&ClientConnectionPath::new(id.clone()).to_string())
            .ok_or_else(|| not_found(format!("{id}: light client connection paths not found")))?;
        let paths = conn::ClientPaths::decode(raw.as_slice())
            .map_err(|e| not_found(format!("{id}: {e}")))?;
        Ok(conn::QueryClientConnectionsResponse {
            connection_paths: paths.paths,
            proof: Vec::new(),
            proof_height: Some(self.height),
        }
        .encode_to_vec())
    }

    pub(super) fn connection_client_state(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: conn::QueryConnectionClientStateRequest = decode(request)?;
        let c = self.raw_connection(&req.connection_id)?;
        Ok(conn::QueryConnectionClientStateResponse {
            identified_client_state: Some(self.identified_client(&client_id(&c.client_id)?)?),
            proof: Vec::new(),
            proof_height: Some(self.height),
        }
        .encode_to_vec())
    }
}
