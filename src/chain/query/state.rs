//! The IBC objects in the host's store: channel and connection ends, Tendermint client and
//! consensus states (decoded from their `Any`, other client types refused).

use ibc_proto::ibc::core::channel::v1::{
    Channel, IdentifiedChannel, QueryChannelRequest, QueryChannelResponse, QueryChannelsRequest,
    QueryChannelsResponse,
};
use ibc_proto::ibc::core::client::v1::{
    Height, QueryClientStateRequest, QueryClientStateResponse, QueryConsensusStateHeightsRequest,
    QueryConsensusStateHeightsResponse, QueryConsensusStateRequest, QueryConsensusStateResponse,
};
use ibc_proto::ibc::core::connection::v1::{
    ConnectionEnd, QueryConnectionRequest, QueryConnectionResponse,
};
use ibc_proto::ibc::lightclients::tendermint::v1::{ClientState, ConsensusState};
use prost::{Message, Name};

use super::{IbcQuerier, QueryError};

impl IbcQuerier {
    /// A channel end (`None` when it does not exist).
    pub async fn channel(&self, port: &str, channel: &str) -> Result<Option<Channel>, QueryError> {
        let req = QueryChannelRequest {
            port_id: port.to_string(),
            channel_id: channel.to_string(),
        };
        let resp: Option<QueryChannelResponse> = self
            .grpc_opt("/ibc.core.channel.v1.Query/Channel", &req)
            .await?;
        Ok(resp.and_then(|r| r.channel))
    }

    /// Every channel on the chain (all pages).
    pub async fn channels(&self) -> Result<Vec<IdentifiedChannel>, QueryError> {
        self.grpc_all(
            "/ibc.core.channel.v1.Query/Channels",
            |page| QueryChannelsRequest {
                pagination: Some(page),
            },
            |r: QueryChannelsResponse| {
                (
                    r.channels,
                    r.pagination.map(|p| p.next_key).unwrap_or_default(),
                )
            },
        )
        .await
    }

    /// A connection end.
    pub async fn connection(
        &self,
        connection_id: &str,
    ) -> Result<Option<ConnectionEnd>, QueryError> {
        let req = QueryConnectionRequest {
            connection_id: connection_id.to_string(),
        };
        let resp: Option<QueryConnectionResponse> = self
            .grpc_opt("/ibc.core.connection.v1.Query/Connection", &req)
            .await?;
        Ok(resp.and_then(|r| r.connection))
    }

    /// A Tendermint client state (`None` when absent).
    pub async fn client_state(&self, client_id: &str) -> Result<Option<ClientState>, QueryError> {
        let req = QueryClientStateRequest {
            client_id: client_id.to_string(),
        };
        let resp: Option<QueryClientStateResponse> = self
            .grpc_opt("/ibc.core.client.v1.Query/ClientState", &req)
            .await?;
        let Some(any) = resp.and_then(|r| r.client_state) else {
            return Ok(None);
        };
        if any.type_url != ClientState::type_url() {
            return Err(self.decode_error(format!(
                "client {client_id} is a {}, not a Tendermint client",
                any.type_url
            )));
        }
        ClientState::decode(any.value.as_slice())
            .map(Some)
            .map_err(|e| self.decode_error(format!("client state of {client_id}: {e}")))
    }

    /// The latest height of client `client_id` (an error when the client does not exist).
    pub async fn client_latest_height(&self, client_id: &str) -> Result<Height, QueryError> {
        let cs = self
            .client_state(client_id)
            .await?
            .ok_or_else(|| self.decode_error(format!("client {client_id} does not exist")))?;
        cs.latest_height
            .ok_or_else(|| self.decode_error(format!("client {client_id} has no latest height")))
    }

    /// The Tendermint consensus state of `client_id` at `height` (`None` when absent).
    pub async fn consensus_state(
        &self,
        client_id: &str,
        height: Height,
    ) -> Result<Option<ConsensusState>, QueryError> {
        let req = QueryConsensusStateRequest {
            client_id: client_id.to_string(),
            revision_number: height.revision_number,
            revision_height: height.revision_height,
            latest_height: false,
        };
        let resp: Option<QueryConsensusStateResponse> = self
            .grpc_opt("/ibc.core.client.v1.Query/ConsensusState", &req)
            .await?;
        let Some(any) = resp.and_then(|r| r.consensus_state) else {
            return Ok(None);
        };
        if any.type_url != ConsensusState::type_url() {
            return Err(self.decode_error(format!(
                "consensus state of {client_id} is a {}, not a Tendermint one",
                any.type_url
            )));
        }
        ConsensusState::decode(any.value.as_slice())
            .map(Some)
            .map_err(|e| self.decode_error(format!("consensus state of {client_id}: {e}")))
    }

    /// The heights of every consensus state of `client_id` (all pages, ascending).
    pub async fn consensus_state_heights(
        &self,
        client_id: &str,
    ) -> Result<Vec<Height>, QueryError> {
        let mut heights = self
            .grpc_all(
                "/ibc.core.client.v1.Query/ConsensusStateHeights",
                |page| QueryConsensusStateHeightsRequest {
                    client_id: client_id.to_string(),
                    pagination: Some(page),
                },
                |r: QueryConsensusStateHeightsResponse| {
                    (
                        r.consensus_state_heights,
                        r.pagination.map(|p| p.next_key).unwrap_or_default(),
                    )
                },
            )
            .await?;
        heights.sort_by_key(|h| (h.revision_number, h.revision_height));
        heights.dedup();
        Ok(heights)
    }
}
