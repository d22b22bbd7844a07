//! `ibc.core.channel.v1.Query`, channel ends: one channel, all channels, a connection's
//! channels, a channel's client state.

use ibc::core::host::types::identifiers::{ChannelId, PortId};
use ibc::core::host::types::path::ChannelEndPath;
use ibc_proto::cosmos::base::query::v1beta1::{PageRequest, PageResponse};
use ibc_proto::ibc::core::channel::v1 as chan;
use prost::Message;

use super::page::paginate;
use super::{client_id, connection_id, decode, not_found, port_channel, suffix_str, Queries};
use crate::error::TxError;
use crate::ibc::keys::IBC_STORE;

impl Queries<'_, '_> {
    fn raw_channel(&self, port: &PortId, channel: &ChannelId) -> Result<chan::Channel, TxError> {
        let raw = self
            .ctx
            .get(&ChannelEndPath::new(port, channel).to_string())
            .ok_or_else(|| {
                not_found(format!(
                    "port-id: {port}, channel-id {channel}: channel not found"
                ))
            })?;
        chan::Channel::decode(raw.as_slice()).map_err(|e| not_found(format!("{channel}: {e}")))
    }

    pub(super) fn channel(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryChannelRequest = decode(request)?;
        let (p, c) = port_channel(&req.port_id, &req.channel_id)?;
        Ok(chan::QueryChannelResponse {
            channel: Some(self.raw_channel(&p, &c)?),
            proof: Vec::new(),
            proof_height: Some(self.height),
        }
        .encode_to_vec())
    }

    fn channel_pages(
        &self,
        page: Option<&PageRequest>,
        connection: Option<&str>,
    ) -> (Vec<chan::IdentifiedChannel>, PageResponse) {
        let keep = |k: &[u8], v: &[u8]| {
            let Some((_, rest)) = suffix_str(k).split_once("/channels/") else {
                return false;
            };
            if rest.contains('/') {
                return false;
            }
            match connection {
                None => true,
                Some(conn) => chan::Channel::decode(v)
                    .map(|c| c.connection_hops.first().map(String::as_str) == Some(conn))
                    .unwrap_or(false),
            }
        };
        let (items, pagination) = paginate(self.ctx, IBC_STORE, b"channelEnds/ports/", page, keep);
        let channels = items
            .into_iter()
            .filter_map(|(k, v)| {
                let (port, channel) = suffix_str(&k).split_once("/channels/")?;
                let c = chan::Channel::decode(v.as_slice()).ok()?;
                Some(chan::IdentifiedChannel {
                    state: c.state,
                    ordering: c.ordering,
                    counterparty: c.counterparty,
                    connection_hops: c.connection_hops,
                    version: c.version,
                    port_id: port.to_string(),
                    channel_id: channel.to_string(),
                    upgrade_sequence: c.upgrade_sequence,
                })
            })
            .collect();
        (channels, pagination)
    }

    pub(super) fn channels(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryChannelsRequest = decode(request)?;
        let (channels, pagination) = self.channel_pages(req.pagination.as_ref(), None);
        Ok(chan::QueryChannelsResponse {
            channels,
            pagination: Some(pagination),
            height: Some(self.height),
        }
        .encode_to_vec())
    }

    pub(super) fn connection_channels(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryConnectionChannelsRequest = decode(request)?;
        connection_id(&req.connection)?;
        let (channels, pagination) =
            self.channel_pages(req.pagination.as_ref(), Some(&req.connection));
        Ok(chan::QueryConnectionChannelsResponse {
            channels,
            pagination: Some(pagination),
            height: Some(self.height),
        }
        .encode_to_vec())
    }

    pub(super) fn channel_client_state(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryChannelClientStateRequest = decode(request)?;
        let (p, c) = port_channel(&req.port_id, &req.channel_id)?;
        let channel = self.raw_channel(&p, &c)?;
        let hop = channel
            .connection_hops
            .first()
            .ok_or_else(|| not_found(format!("{c}: channel has no connection hops")))?;
        let connection = self.raw_connection(hop)?;
        Ok(chan::QueryChannelClientStateResponse {
            identified_client_state: Some(
                self.identified_client(&client_id(&connection.client_id)?)?,
            ),
            proof: Vec::new(),
            proof_height: Some(self.height),
        }
        .encode_to_vec())
    }
}
