//! Packet sequences on a channel end: commitments and acknowledgements (all pages), the
//! unreceived packets and acks among a counterparty's sequences (in bounded chunks), and the
//! next sequence to receive.

use ibc_proto::ibc::core::channel::v1::{
    QueryNextSequenceReceiveRequest, QueryNextSequenceReceiveResponse,
    QueryPacketAcknowledgementsRequest, QueryPacketAcknowledgementsResponse,
    QueryPacketCommitmentsRequest, QueryPacketCommitmentsResponse, QueryUnreceivedAcksRequest,
    QueryUnreceivedAcksResponse, QueryUnreceivedPacketsRequest, QueryUnreceivedPacketsResponse,
};

use super::{IbcQuerier, QueryError};

/// At most this many sequences go into one `UnreceivedPackets` / `UnreceivedAcks` request.
const SEQUENCES_PER_REQUEST: usize = 1000;

impl IbcQuerier {
    /// Sequences with a packet commitment on `port/channel` (all pages, ascending).
    pub async fn packet_commitments(
        &self,
        port: &str,
        channel: &str,
    ) -> Result<Vec<u64>, QueryError> {
        let seqs = self
            .grpc_all(
                "/ibc.core.channel.v1.Query/PacketCommitments",
                |page| QueryPacketCommitmentsRequest {
                    port_id: port.to_string(),
                    channel_id: channel.to_string(),
                    pagination: Some(page),
                },
                |r: QueryPacketCommitmentsResponse| {
                    (
                        r.commitments.into_iter().map(|c| c.sequence).collect(),
                        r.pagination.map(|p| p.next_key).unwrap_or_default(),
                    )
                },
            )
            .await?;
        Ok(sorted_unique(seqs))
    }

    /// Of `sequences` (sent on the counterparty), those not yet received on `port/channel` here.
    pub async fn unreceived_packets(
        &self,
        port: &str,
        channel: &str,
        sequences: &[u64],
    ) -> Result<Vec<u64>, QueryError> {
        in_chunks(sequences, |chunk| async move {
            let req = QueryUnreceivedPacketsRequest {
                port_id: port.to_string(),
                channel_id: channel.to_string(),
                packet_commitment_sequences: chunk,
            };
            let resp: QueryUnreceivedPacketsResponse = self
                .grpc("/ibc.core.channel.v1.Query/UnreceivedPackets", &req)
                .await?;
            Ok(resp.sequences)
        })
        .await
    }

    /// Sequences with an acknowledgement written on `port/channel` (all pages, ascending).
    pub async fn packet_acknowledgements(
        &self,
        port: &str,
        channel: &str,
    ) -> Result<Vec<u64>, QueryError> {
        let seqs = self
            .grpc_all(
                "/ibc.core.channel.v1.Query/PacketAcknowledgements",
                |page| QueryPacketAcknowledgementsRequest {
                    port_id: port.to_string(),
                    channel_id: channel.to_string(),
                    pagination: Some(page),
                    packet_commitment_sequences: Vec::new(),
                },
                |r: QueryPacketAcknowledgementsResponse| {
                    (
                        r.acknowledgements.into_iter().map(|a| a.sequence).collect(),
                        r.pagination.map(|p| p.next_key).unwrap_or_default(),
                    )
                },
            )
            .await?;
        Ok(sorted_unique(seqs))
    }

    /// Of `sequences`, those with an acknowledgement written on `port/channel` (ascending): one
    /// request per 1000 sequences, whatever the number of acknowledgements ever written.
    pub async fn acknowledgements_among(
        &self,
        port: &str,
        channel: &str,
        sequences: &[u64],
    ) -> Result<Vec<u64>, QueryError> {
        in_chunks(sequences, |chunk| async move {
            let req = QueryPacketAcknowledgementsRequest {
                port_id: port.to_string(),
                channel_id: channel.to_string(),
                pagination: None,
                packet_commitment_sequences: chunk,
            };
            let resp: QueryPacketAcknowledgementsResponse = self
                .grpc("/ibc.core.channel.v1.Query/PacketAcknowledgements", &req)
                .await?;
            Ok(resp
                .acknowledgements
                .into_iter()
                .map(|a| a.sequence)
                .collect())
        })
        .await
    }

    /// Of `sequences` (acked on the counterparty), those whose commitment still exists here.
    pub async fn unreceived_acks(
        &self,
        port: &str,
        channel: &str,
        sequences: &[u64],
    ) -> Result<Vec<u64>, QueryError> {
        in_chunks(sequences, |chunk| async move {
            let req = QueryUnreceivedAcksRequest {
                port_id: port.to_string(),
                channel_id: channel.to_string(),
                packet_ack_sequences: chunk,
            };
            let resp: QueryUnreceivedAcksResponse = self
                .grpc("/ibc.core.channel.v1.Query/UnreceivedAcks", &req)
                .await?;
            Ok(resp.sequences)
        })
        .await
    }

    /// The next sequence expected on `port/channel` here (what an ordered channel's timeout
    /// proves against).
    pub async fn next_sequence_recv(&self, port: &str, channel: &str) -> Result<u64, QueryError> {
        let req = QueryNextSequenceReceiveRequest {
            port_id: port.to_string(),
            channel_id: channel.to_string(),
        };
        let resp: QueryNextSequenceReceiveResponse = self
            .grpc("/ibc.core.channel.v1.Query/NextSequenceReceive", &req)
            .await?;
        Ok(resp.next_sequence_receive)
    }
}

/// `seqs` sorted ascending without repeats.
fn sorted_unique(mut seqs: Vec<u64>) -> Vec<u64> {
    seqs.sort_unstable();
    seqs.dedup();
    seqs
}

/// Runs `query` over the distinct `sequences` in requests of at most
/// [`SEQUENCES_PER_REQUEST`], and returns the union of the answers, sorted.
async fn in_chunks<F, Fut>(sequences: &[u64], mut query: F) -> Result<Vec<u64>, QueryError>
where
    F: FnMut(Vec<u64>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<u64>, QueryError>>,
{
    let wanted = sorted_unique(sequences.to_vec());
    let mut out = Vec::new();
    for chunk in wanted.chunks(SEQUENCES_PER_REQUEST) {
        out.extend(query(chunk.to_vec()).await?);
    }
    Ok(sorted_unique(out))
}
