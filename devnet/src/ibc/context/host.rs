//! ibc-rs's core `ValidationContext` and `ExecutionContext`: host height and time, connection
//! and channel ends, packet commitments, receipts and acknowledgements, sequences, counters and
//! emitted events, all under ibc-go's keys.

use std::time::Duration;

use ibc::clients::tendermint::client_state::ClientState as TmClientState;
use ibc::clients::tendermint::consensus_state::ConsensusState as TmConsensusState;
use ibc::core::channel::types::channel::ChannelEnd;
use ibc::core::channel::types::commitment::{AcknowledgementCommitment, PacketCommitment};
use ibc::core::channel::types::packet::Receipt;
use ibc::core::client::types::Height;
use ibc::core::commitment_types::commitment::CommitmentPrefix;
use ibc::core::connection::types::ConnectionEnd;
use ibc::core::handler::types::events::IbcEvent;
use ibc::core::host::types::error::HostError;
use ibc::core::host::types::identifiers::{ConnectionId, Sequence};
use ibc::core::host::types::path::{
    AckPath, ChannelEndPath, ClientConnectionPath, CommitmentPath, ConnectionPath,
    NextChannelSequencePath, NextClientSequencePath, NextConnectionSequencePath, ReceiptPath,
    SeqAckPath, SeqRecvPath, SeqSendPath,
};
use ibc::core::host::{ExecutionContext, ValidationContext};
use ibc::core::primitives::proto::Protobuf;
use ibc::core::primitives::{Signer, Timestamp};
use ibc_proto::ibc::core::channel::v1::Channel as RawChannel;
use ibc_proto::ibc::core::connection::v1::{ClientPaths, ConnectionEnd as RawConnectionEnd};
use prost::Message;

use super::self_client::{host_consensus_state, validate_self_client};
use super::{decode_err, IbcContext};
use crate::ibc::keys::{encode_u64, IBC_STORE, RECEIPT_OK};

impl ValidationContext for IbcContext<'_> {
    type V = Self;
    type HostClientState = TmClientState;
    type HostConsensusState = TmConsensusState;

    fn get_client_validation_context(&self) -> &Self::V {
        self
    }

    fn host_height(&self) -> Result<Height, HostError> {
        self.host_ibc_height()
    }

    fn host_timestamp(&self) -> Result<Timestamp, HostError> {
        Ok(self.host_time())
    }

    fn host_consensus_state(&self, height: &Height) -> Result<Self::HostConsensusState, HostError> {
        if height.revision_number() != self.shared.revision {
            return Err(HostError::missing_state(format!(
                "no host consensus state at {height}: host revision is {}",
                self.shared.revision
            )));
        }
        let c = self
            .shared
            .host
            .history
            .consensus_at(height.revision_height())
            .ok_or_else(|| {
                HostError::missing_state(format!("no host consensus state at {height}"))
            })?;
        host_consensus_state(&c).map(TmConsensusState::from)
    }

    fn client_counter(&self) -> Result<u64, HostError> {
        Ok(self
            .read_u64(&NextClientSequencePath.to_string())?
            .unwrap_or(0))
    }

    fn connection_end(&self, conn_id: &ConnectionId) -> Result<ConnectionEnd, HostError> {
        let key = ConnectionPath::new(conn_id).to_string();
        let raw = self
            .get(&key)
            .ok_or_else(|| HostError::missing_state(format!("connection `{conn_id}` not found")))?;
        let raw = RawConnectionEnd::decode(raw.as_slice())
            .map_err(|e| decode_err("connection end", &key, e))?;
        ConnectionEnd::try_from(raw).map_err(|e| decode_err("connection end", &key, e))
    }

    fn validate_self_client(&self, client_state: Self::HostClientState) -> Result<(), HostError> {
        validate_self_client(self, client_state.inner())
    }

    fn commitment_prefix(&self) -> CommitmentPrefix {
        CommitmentPrefix::from_bytes(IBC_STORE.as_bytes())
    }

    fn connection_counter(&self) -> Result<u64, HostError> {
        Ok(self
            .read_u64(&NextConnectionSequencePath.to_string())?
            .unwrap_or(0))
    }

    fn channel_end(&self, path: &ChannelEndPath) -> Result<ChannelEnd, HostError> {
        let key = path.to_string();
        let raw = self.get(&key).ok_or_else(|| {
            HostError::missing_state(format!(
                "channel `{}` on port `{}` not found",
                path.1, path.0
            ))
        })?;
        let raw =
            RawChannel::decode(raw.as_slice()).map_err(|e| decode_err("channel end", &key, e))?;
        ChannelEnd::try_from(raw).map_err(|e| decode_err("channel end", &key, e))
    }

    fn get_next_sequence_send(&self, path: &SeqSendPath) -> Result<Sequence, HostError> {
        self.read_sequence(path.to_string(), "next send sequence")
    }

    fn get_next_sequence_recv(&self, path: &SeqRecvPath) -> Result<Sequence, HostError> {
        self.read_sequence(path.to_string(), "next receive sequence")
    }

    fn get_next_sequence_ack(&self, path: &SeqAckPath) -> Result<Sequence, HostError> {
        self.read_sequence(path.to_string(), "next acknowledgement sequence")
    }

    fn get_packet_commitment(&self, path: &CommitmentPath) -> Result<PacketCommitment, HostError> {
        self.get(&path.to_string())
            .map(PacketCommitment::from)
            .ok_or_else(|| {
                HostError::missing_state(format!(
                    "packet commitment not found for sequence {}",
                    path.sequence
                ))
            })
    }

    fn get_packet_receipt(&self, path: &ReceiptPath) -> Result<Receipt, HostError> {
        Ok(match self.get(&path.to_string()) {
            Some(_) => Receipt::Ok,
            None => Receipt::None,
        })
    }

    fn get_packet_acknowledgement(
        &self,
        path: &AckPath,
    ) -> Result<AcknowledgementCommitment, HostError> {
        self.get(&path.to_string())
            .map(AcknowledgementCommitment::from)
            .ok_or_else(|| {
                HostError::missing_state(format!(
                    "packet acknowledgement not found for sequence {}",
                    path.sequence
                ))
            })
    }

    fn channel_counter(&self) -> Result<u64, HostError> {
        Ok(self
            .read_u64(&NextChannelSequencePath.to_string())?
            .unwrap_or(0))
    }

    fn max_expected_time_per_block(&self) -> Duration {
        self.shared.host.max_expected_time_per_block
    }

    fn validate_message_signer(&self, signer: &Signer) -> Result<(), HostError> {
        bech32::decode(signer.as_ref())
            .map(|_| ())
            .map_err(|e| HostError::invalid_state(format!("invalid signer `{signer}`: {e}")))
    }
}

impl ExecutionContext for IbcContext<'_> {
    type E = Self;

    fn get_client_execution_context(&mut self) -> &mut Self::E {
        self
    }

    fn increase_client_counter(&mut self) -> Result<(), HostError> {
        self.increase_counter(NextClientSequencePath.to_string())
    }

    fn store_connection(
        &mut self,
        path: &ConnectionPath,
        connection_end: ConnectionEnd,
    ) -> Result<(), HostError> {
        self.set(path.to_string(), connection_end.encode_vec());
        Ok(())
    }

    fn store_connection_to_client(
        &mut self,
        path: &ClientConnectionPath,
        conn_id: ConnectionId,
    ) -> Result<(), HostError> {
        let mut paths = self.client_connections(&path.0)?;
        let id = conn_id.to_string();
        if !paths.contains(&id) {
            paths.push(id);
        }
        self.set(path.to_string(), ClientPaths { paths }.encode_to_vec());
        Ok(())
    }

    fn increase_connection_counter(&mut self) -> Result<(), HostError> {
        self.increase_counter(NextConnectionSequencePath.to_string())
    }

    fn store_packet_commitment(
        &mut self,
        path: &CommitmentPath,
        commitment: PacketCommitment,
    ) -> Result<(), HostError> {
        self.set(path.to_string(), commitment.into_vec());
        Ok(())
    }

    fn delete_packet_commitment(&mut self, path: &CommitmentPath) -> Result<(), HostError> {
        self.delete(&path.to_string());
        Ok(())
    }

    fn store_packet_receipt(
        &mut self,
        path: &ReceiptPath,
        receipt: Receipt,
    ) -> Result<(), HostError> {
        if matches!(receipt, Receipt::Ok) {
            self.set(path.to_string(), RECEIPT_OK.to_vec());
        }
        Ok(())
    }

    fn store_packet_acknowledgement(
        &mut self,
        path: &AckPath,
        ack_commitment: AcknowledgementCommitment,
    ) -> Result<(), HostError> {
        self.set(path.to_string(), ack_commitment.into_vec());
        Ok(())
    }

    fn delete_packet_acknowledgement(&mut self, path: &AckPath) -> Result<(), HostError> {
        self.delete(&path.to_string());
        Ok(())
    }

    fn store_channel(
        &mut self,
        path: &ChannelEndPath,
        channel_end: ChannelEnd,
    ) -> Result<(), HostError> {
        self.set(path.to_string(), channel_end.encode_vec());
        Ok(())
    }

    fn store_next_sequence_send(
        &mut self,
        path: &SeqSendPath,
        seq: Sequence,
    ) -> Result<(), HostError> {
        self.set(path.to_string(), encode_u64(seq.value()));
        Ok(())
    }

    fn store_next_sequence_recv(
        &mut self,
        path: &SeqRecvPath,
        seq: Sequence,
    ) -> Result<(), HostError> {
        self.set(path.to_string(), encode_u64(seq.value()));
        Ok(())
    }

    fn store_next_sequence_ack(
        &mut self,
        path: &SeqAckPath,
        seq: Sequence,
    ) -> Result<(), HostError> {
        self.set(path.to_string(), encode_u64(seq.value()));
        Ok(())
    }

    fn increase_channel_counter(&mut self) -> Result<(), HostError> {
        self.increase_counter(NextChannelSequencePath.to_string())
    }

    fn emit_ibc_event(&mut self, event: IbcEvent) -> Result<(), HostError> {
        self.shared.events.borrow_mut().push(event);
        Ok(())
    }

    fn log_message(&mut self, _message: String) -> Result<(), HostError> {
        Ok(())
    }
}
