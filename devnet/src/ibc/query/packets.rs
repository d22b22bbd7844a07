//! `ibc.core.channel.v1.Query`, packets: commitments, receipts, acknowledgements, the
//! unreceived packets and acks of a channel, and its next sequences.

use ibc::core::channel::types::channel::Order;
use ibc::core::host::types::identifiers::{ChannelId, PortId, Sequence};
use ibc::core::host::types::path::{
    AckPath, ChannelEndPath, CommitmentPath, ReceiptPath, SeqRecvPath, SeqSendPath,
};
use ibc::core::host::ValidationContext;
use ibc_proto::cosmos::base::query::v1beta1::{PageRequest, PageResponse};
use ibc_proto::ibc::core::channel::v1 as chan;
use prost::Message;

use super::page::paginate;
use super::{decode, invalid_argument, not_found, port_channel, suffix_str, Queries};
use crate::error::TxError;
use crate::ibc::keys::{decode_u64, IBC_STORE};

impl Queries<'_, '_> {
    fn packet_key<F>(
        &self,
        port: &str,
        channel: &str,
        sequence: u64,
        path: F,
    ) -> Result<String, TxError>
    where
        F: Fn(&PortId, &ChannelId, Sequence) -> String,
    {
        let (p, c) = port_channel(port, channel)?;
        if sequence == 0 {
            return Err(invalid_argument("packet sequence cannot be 0"));
        }
        Ok(path(&p, &c, Sequence::from(sequence)))
    }

    pub(super) fn packet_commitment(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryPacketCommitmentRequest = decode(request)?;
        let key = self.packet_key(&req.port_id, &req.channel_id, req.sequence, |p, c, s| {
            CommitmentPath::new(p, c, s).to_string()
        })?;
        let commitment = self
            .ctx
            .get(&key)
            .ok_or_else(|| not_found("packet commitment hash not found"))?;
        Ok(chan::QueryPacketCommitmentResponse {
            commitment,
            proof: Vec::new(),
            proof_height: Some(self.height),
        }
        .encode_to_vec())
    }

    fn packet_states(
        &self,
        prefix_path: &str,
        port: &str,
        channel: &str,
        page: Option<&PageRequest>,
    ) -> Result<(Vec<chan::PacketState>, PageResponse), TxError> {
        let (p, c) = port_channel(port, channel)?;
        let prefix = format!("{prefix_path}/ports/{p}/channels/{c}/sequences/");
        let (items, pagination) = paginate(self.ctx, IBC_STORE, prefix.as_bytes(), page, |k, _| {
            suffix_str(k).parse::<u64>().is_ok()
        });
        let states = items
            .into_iter()
            .filter_map(|(k, v)| {
                Some(chan::PacketState {
                    port_id: p.to_string(),
                    channel_id: c.to_string(),
                    sequence: suffix_str(&k).parse().ok()?,
                    data: v,
                })
            })
            .collect();
        Ok((states, pagination))
    }

    pub(super) fn packet_commitments(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryPacketCommitmentsRequest = decode(request)?;
        let (commitments, pagination) = self.packet_states(
            "commitments",
            &req.port_id,
            &req.channel_id,
            req.pagination.as_ref(),
        )?;
        Ok(chan::QueryPacketCommitmentsResponse {
            commitments,
            pagination: Some(pagination),
            height: Some(self.height),
        }
        .encode_to_vec())
    }

    pub(super) fn packet_receipt(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryPacketReceiptRequest = decode(request)?;
        let key = self.packet_key(&req.port_id, &req.channel_id, req.sequence, |p, c, s| {
            ReceiptPath::new(p, c, s).to_string()
        })?;
        Ok(chan::QueryPacketReceiptResponse {
            received: self.ctx.get(&key).is_some(),
            proof: Vec::new(),
            proof_height: Some(self.height),
        }
        .encode_to_vec())
    }

    pub(super) fn packet_acknowledgement(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryPacketAcknowledgementRequest = decode(request)?;
        let key = self.packet_key(&req.port_id, &req.channel_id, req.sequence, |p, c, s| {
            AckPath::new(p, c, s).to_string()
        })?;
        let acknowledgement = self
            .ctx
            .get(&key)
            .ok_or_else(|| not_found("packet acknowledgement hash not found"))?;
        Ok(chan::QueryPacketAcknowledgementResponse {
            acknowledgement,
            proof: Vec::new(),
            proof_height: Some(self.height),
        }
        .encode_to_vec())
    }

    pub(super) fn packet_acknowledgements(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryPacketAcknowledgementsRequest = decode(request)?;
        if req.packet_commitment_sequences.is_empty() {
            let (acknowledgements, pagination) = self.packet_states(
                "acks",
                &req.port_id,
                &req.channel_id,
                req.pagination.as_ref(),
            )?;
            return Ok(chan::QueryPacketAcknowledgementsResponse {
                acknowledgements,
                pagination: Some(pagination),
                height: Some(self.height),
            }
            .encode_to_vec());
        }
        let (p, c) = port_channel(&req.port_id, &req.channel_id)?;
        let acknowledgements = req
            .packet_commitment_sequences
            .iter()
            .filter_map(|&seq| {
                let data = self
                    .ctx
                    .get(&AckPath::new(&p, &c, Sequence::from(seq)).to_string())?;
                Some(chan::PacketState {
                    port_id: p.to_string(),
                    channel_id: c.to_string(),
                    sequence: seq,
                    data,
                })
            })
            .collect();
        Ok(chan::QueryPacketAcknowledgementsResponse {
            acknowledgements,
            pagination: None,
            height: Some(self.height),
        }
        .encode_to_vec())
    }

    pub(super) fn unreceived_packets(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryUnreceivedPacketsRequest = decode(request)?;
        let (p, c) = port_channel(&req.port_id, &req.channel_id)?;
        let channel = self
            .ctx
            .channel_end(&ChannelEndPath::new(&p, &c))
            .map_err(|e| {
                not_found(format!(
                    "port-id: {p}, channel-id {c}: {e}: channel not found"
                ))
            })?;
        if req.packet_commitment_sequences.contains(&0) {
            return Err(invalid_argument("packet sequence 0 cannot be 0"));
        }
        let sequences = match channel.ordering {
            Order::Ordered => {
                let next = self
                    .ctx
                    .get_next_sequence_recv(&SeqRecvPath::new(&p, &c))
                    .map_err(|e| not_found(format!("{e}: sequence receive not found")))?
                    .value();
                req.packet_commitment_sequences
                    .into_iter()
                    .filter(|s| *s >= next)
                    .collect()
            }
            _ => req
                .packet_commitment_sequences
                .into_iter()
                .filter(|&s| {
                    self.ctx
                        .get(&ReceiptPath::new(&p, &c, Sequence::from(s)).to_string())
                        .is_none()
                })
                .collect(),
        };
        Ok(chan::QueryUnreceivedPacketsResponse {
            sequences,
            height: Some(self.height),
        }
        .encode_to_vec())
    }

    pub(super) fn unreceived_acks(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryUnreceivedAcksRequest = decode(request)?;
        let (p, c) = port_channel(&req.port_id, &req.channel_id)?;
        if req.packet_ack_sequences.contains(&0) {
            return Err(invalid_argument("packet sequence 0 cannot be 0"));
        }
        let sequences = req
            .packet_ack_sequences
            .into_iter()
            .filter(|&s| {
                self.ctx
                    .get(&CommitmentPath::new(&p, &c, Sequence::from(s)).to_string())
                    .is_some()
            })
            .collect();
        Ok(chan::QueryUnreceivedAcksResponse {
            sequences,
            height: Some(self.height),
        }
        .encode_to_vec())
    }

    fn next_sequence(&self, key: String, what: &str) -> Result<u64, TxError> {
        let raw = self
            .ctx
            .get(&key)
            .ok_or_else(|| not_found(format!("{key}: {what} not found")))?;
        decode_u64(&raw).ok_or_else(|| not_found(format!("{key}: corrupt {what}")))
    }

    pub(super) fn next_sequence_receive(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryNextSequenceReceiveRequest = decode(request)?;
        let (p, c) = port_channel(&req.port_id, &req.channel_id)?;
        Ok(chan::QueryNextSequenceReceiveResponse {
            next_sequence_receive: self
                .next_sequence(SeqRecvPath::new(&p, &c).to_string(), "sequence receive")?,
            proof: Vec::new(),
            proof_height: Some(self.height),
        }
        .encode_to_vec())
    }

    pub(super) fn next_sequence_send(&self, request: &[u8]) -> Result<Vec<u8>, TxError> {
        let req: chan::QueryNextSequenceSendRequest = decode(request)?;
        let (p, c) = port_channel(&req.port_id, &req.channel_id)?;
        Ok(chan::QueryNextSequenceSendResponse {
            next_sequence_send: self
                .next_sequence(SeqSendPath::new(&p, &c).to_string(), "sequence send")?,
            proof: Vec::new(),
            proof_height: Some(self.height),
        }
        .encode_to_vec())
    }
}
