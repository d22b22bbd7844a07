//! The ibc-rs host context: `ValidationContext`, `ExecutionContext` and the client contexts
//! (including the tendermint client's `ExtClientValidationContext`) over an [`ExecState`] and the
//! host's [`HostInfo`], storing everything under ibc-go's keys (see [`super::keys`]).
//!
//! ibc-rs reads through `&self` while our store charges gas on reads (`&mut`), and the
//! transfer module needs the same state as the core handlers while both are borrowed by
//! `dispatch`. So the working state lives in a [`Shared`] (a `RefCell` around a copy of the
//! `ExecState`) that the core context and the router's modules borrow; the caller writes the
//! copy back when the message succeeds.

use std::cell::RefCell;
use std::time::Duration;

use ibc::clients::tendermint::client_state::ClientState as TmClientState;
use ibc::clients::tendermint::consensus_state::ConsensusState as TmConsensusState;
use ibc::clients::tendermint::types::ConsensusState as TmConsensusStateType;
use ibc::core::channel::types::channel::ChannelEnd;
use ibc::core::channel::types::commitment::{AcknowledgementCommitment, PacketCommitment};
use ibc::core::channel::types::packet::Receipt;
use ibc::core::client::context::{
    ClientExecutionContext, ClientValidationContext, ExtClientValidationContext,
};
use ibc::core::client::types::Height;
use ibc::core::commitment_types::commitment::{CommitmentPrefix, CommitmentRoot};
use ibc::core::commitment_types::specs::ProofSpecs;
use ibc::core::connection::types::ConnectionEnd;
use ibc::core::handler::types::events::IbcEvent;
use ibc::core::host::types::error::HostError;
use ibc::core::host::types::identifiers::{ClientId, ConnectionId, Sequence};
use ibc::core::host::types::path::{
    AckPath, ChannelEndPath, ClientConnectionPath, ClientConsensusStatePath, ClientStatePath,
    ClientUpdateHeightPath, ClientUpdateTimePath, CommitmentPath, ConnectionPath,
    NextChannelSequencePath, NextClientSequencePath, NextConnectionSequencePath, ReceiptPath,
    SeqAckPath, SeqRecvPath, SeqSendPath,
};
use ibc::core::host::{ExecutionContext, ValidationContext};
use ibc::core::primitives::proto::Protobuf;
use ibc::core::primitives::{Signer, Timestamp};
use ibc_proto::google::protobuf::Any;
use ibc_proto::ibc::core::channel::v1::Channel as RawChannel;
use ibc_proto::ibc::core::connection::v1::{ClientPaths, ConnectionEnd as RawConnectionEnd};
use prost::Message;

use super::keys::{
    consensus_path, decode_u64, encode_u64, height_of_iterate_key, iterate_key, iterate_prefix,
    revision_of_chain_id, IBC_STORE, RECEIPT_OK,
};
use super::HostInfo;
use crate::exec::ExecState;

/// The state and host facts one message executes (or one query reads) on, shared by the core
/// context and the router's modules.
pub struct Shared<'a> {
    /// The working copy of the state.
    pub exec: RefCell<ExecState>,
    /// The host.
    pub host: &'a HostInfo<'a>,
    /// The host's revision number (from the chain id).
    pub revision: u64,
    /// Bech32 prefix of the chain's addresses (escrow accounts).
    pub bech32_prefix: String,
    /// Events emitted so far, in ibc-rs order.
    pub events: RefCell<Vec<IbcEvent>>,
}

impl<'a> Shared<'a> {
    /// Wraps a copy of `exec` for executing on `host`.
    pub fn new(exec: ExecState, host: &'a HostInfo<'a>, bech32_prefix: &str) -> Self {
        Self {
            exec: RefCell::new(exec),
            host,
            revision: revision_of_chain_id(host.chain_id),
            bech32_prefix: bech32_prefix.to_string(),
            events: RefCell::new(Vec::new()),
        }
    }
}

/// The ibc-rs host context. `Copy`: it is a reference to the [`Shared`] state.
#[derive(Clone, Copy)]
pub struct IbcContext<'a> {
    /// The shared working state.
    pub shared: &'a Shared<'a>,
}

impl std::fmt::Debug for IbcContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IbcContext")
    }
}

fn decode_err(what: &str, key: &str, err: impl std::fmt::Display) -> HostError {
    HostError::failed_to_retrieve(format!("cannot decode {what} at `{key}`: {err}"))
}

impl<'a> IbcContext<'a> {
    /// A context over `shared`.
    pub fn new(shared: &'a Shared<'a>) -> Self {
        Self { shared }
    }

    /// Reads `key` in the `ibc` store (gas-metered).
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.get_in(IBC_STORE, key.as_bytes())
    }

    /// Reads `key` in `store` (gas-metered).
    pub fn get_in(&self, store: &str, key: &[u8]) -> Option<Vec<u8>> {
        self.shared.exec.borrow_mut().get(store, key)
    }

    /// Writes `key` in the `ibc` store.
    pub fn set(&self, key: String, value: Vec<u8>) {
        self.set_in(IBC_STORE, key.into_bytes(), value);
    }

    /// Writes `key` in `store`.
    pub fn set_in(&self, store: &str, key: Vec<u8>, value: Vec<u8>) {
        self.shared.exec.borrow_mut().set(store, key, value);
    }

    /// Deletes `key` in the `ibc` store.
    pub fn delete(&self, key: &str) {
        self.shared
            .exec
            .borrow_mut()
            .delete(IBC_STORE, key.as_bytes());
    }

    /// Runs `f` on the working state (bank calls from the transfer module).
    pub fn with_exec<R>(&self, f: impl FnOnce(&mut ExecState) -> R) -> R {
        f(&mut self.shared.exec.borrow_mut())
    }

    /// Keys and values under `prefix` in `store`, starting at `start`, read without per-item gas
    /// (one iterator step is charged): bookkeeping scans such as consensus-state heights,
    /// where ibc-go's cost does not grow with the number of entries.
    pub fn scan_unmetered(
        &self,
        store: &str,
        prefix: &[u8],
        start: Option<&[u8]>,
        limit: usize,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut exec = self.shared.exec.borrow_mut();
        exec.gas.consume(crate::exec::cost::ITER_NEXT);
        exec.state
            .tree(store)
            .iter_prefix(prefix, start)
            .take(limit)
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect()
    }

    /// The host height as an IBC height (revision from the chain id).
    pub fn host_ibc_height(&self) -> Result<Height, HostError> {
        Height::new(self.shared.revision, self.shared.host.height).map_err(HostError::invalid_state)
    }

    /// The host block time.
    pub fn host_time(&self) -> Timestamp {
        Timestamp::from_nanoseconds(u64::try_from(self.shared.host.time_ns).unwrap_or(u64::MAX))
    }

    fn read_u64(&self, key: &str) -> Result<Option<u64>, HostError> {
        match self.get(key) {
            None => Ok(None),
            Some(raw) => decode_u64(&raw)
                .map(Some)
                .ok_or_else(|| decode_err("big-endian u64", key, "length is not 8")),
        }
    }

    fn read_sequence(&self, key: String, what: &str) -> Result<Sequence, HostError> {
        self.read_u64(&key)?
            .map(Sequence::from)
            .ok_or_else(|| HostError::missing_state(format!("{what} not found at `{key}`")))
    }

    fn increase_counter(&self, key: String) -> Result<(), HostError> {
        let next = self
            .read_u64(&key)?
            .unwrap_or(0)
            .checked_add(1)
            .ok_or_else(|| HostError::invalid_state(format!("counter `{key}` overflows")))?;
        self.set(key, encode_u64(next));
        Ok(())
    }

    /// The connection ids of `client_id` (ibc-go's `ClientPaths`).
    pub fn client_connections(&self, client_id: &ClientId) -> Result<Vec<String>, HostError> {
        let key = ClientConnectionPath::new(client_id.clone()).to_string();
        match self.get(&key) {
            None => Ok(Vec::new()),
            Some(raw) => ClientPaths::decode(raw.as_slice())
                .map(|p| p.paths)
                .map_err(|e| decode_err("ClientPaths", &key, e)),
        }
    }

    /// The heights of every consensus state of `client_id`, ascending.
    pub fn consensus_heights(&self, client_id: &ClientId) -> Vec<Height> {
        let prefix = iterate_prefix(client_id);
        self.scan_unmetered(IBC_STORE, &prefix, None, usize::MAX)
            .into_iter()
            .filter_map(|(k, _)| height_of_iterate_key(prefix.len(), &k))
            .collect()
    }

    fn consensus_state_at(
        &self,
        client_id: &ClientId,
        height: &Height,
    ) -> Result<TmConsensusState, HostError> {
        self.consensus_state(&consensus_path(client_id, height))
    }
}

impl ClientValidationContext for IbcContext<'_> {
    type ClientStateRef = TmClientState;
    type ConsensusStateRef = TmConsensusState;

    fn client_state(&self, client_id: &ClientId) -> Result<Self::ClientStateRef, HostError> {
        let key = ClientStatePath::new(client_id.clone()).to_string();
        let raw = self
            .get(&key)
            .ok_or_else(|| HostError::missing_state(format!("client `{client_id}` not found")))?;
        let any = Any::decode(raw.as_slice()).map_err(|e| decode_err("client state", &key, e))?;
        TmClientState::try_from(any).map_err(|e| decode_err("client state", &key, e))
    }

    fn consensus_state(
        &self,
        path: &ClientConsensusStatePath,
    ) -> Result<Self::ConsensusStateRef, HostError> {
        let key = path.to_string();
        let raw = self.get(&key).ok_or_else(|| {
            HostError::missing_state(format!(
                "consensus state of client `{}` at height {}-{} not found",
                path.client_id, path.revision_number, path.revision_height
            ))
        })?;
        let any =
            Any::decode(raw.as_slice()).map_err(|e| decode_err("consensus state", &key, e))?;
        TmConsensusState::try_from(any).map_err(|e| decode_err("consensus state", &key, e))
    }

    fn client_update_meta(
        &self,
        client_id: &ClientId,
        height: &Height,
    ) -> Result<(Timestamp, Height), HostError> {
        let (rev, h) = (height.revision_number(), height.revision_height());
        let time_key = ClientUpdateTimePath::new(client_id.clone(), rev, h).to_string();
        let height_key = ClientUpdateHeightPath::new(client_id.clone(), rev, h).to_string();
        let time = self.read_u64(&time_key)?.ok_or_else(|| {
            HostError::missing_state(format!(
                "processed time of client `{client_id}` at {height} not found"
            ))
        })?;
        let raw_height = self.get(&height_key).ok_or_else(|| {
            HostError::missing_state(format!(
                "processed height of client `{client_id}` at {height} not found"
            ))
        })?;
        let processed = std::str::from_utf8(&raw_height)
            .ok()
            .and_then(|s| s.parse::<Height>().ok())
            .ok_or_else(|| decode_err("processed height", &height_key, "not `{rev}-{height}`"))?;
        Ok((Timestamp::from_nanoseconds(time), processed))
    }
}

impl ClientExecutionContext for IbcContext<'_> {
    type ClientStateMut = TmClientState;

    fn store_client_state(
        &mut self,
        path: ClientStatePath,
        client_state: Self::ClientStateRef,
    ) -> Result<(), HostError> {
        self.set(path.to_string(), Any::from(client_state).encode_to_vec());
        Ok(())
    }

    fn store_consensus_state(
        &mut self,
        path: ClientConsensusStatePath,
        consensus_state: Self::ConsensusStateRef,
    ) -> Result<(), HostError> {
        let key = path.to_string();
        self.set_in(
            IBC_STORE,
            iterate_key(&path.client_id, path.revision_number, path.revision_height),
            key.clone().into_bytes(),
        );
        self.set(key, Any::from(consensus_state).encode_to_vec());
        Ok(())
    }

    fn delete_consensus_state(&mut self, path: ClientConsensusStatePath) -> Result<(), HostError> {
        self.shared.exec.borrow_mut().delete(
            IBC_STORE,
            &iterate_key(&path.client_id, path.revision_number, path.revision_height),
        );
        self.delete(&path.to_string());
        Ok(())
    }

    fn store_update_meta(
        &mut self,
        client_id: ClientId,
        height: Height,
        host_timestamp: Timestamp,
        host_height: Height,
    ) -> Result<(), HostError> {
        let (rev, h) = (height.revision_number(), height.revision_height());
        self.set(
            ClientUpdateTimePath::new(client_id.clone(), rev, h).to_string(),
            encode_u64(host_timestamp.nanoseconds()),
        );
        self.set(
            ClientUpdateHeightPath::new(client_id, rev, h).to_string(),
            host_height.to_string().into_bytes(),
        );
        Ok(())
    }

    fn delete_update_meta(&mut self, client_id: ClientId, height: Height) -> Result<(), HostError> {
        let (rev, h) = (height.revision_number(), height.revision_height());
        self.delete(&ClientUpdateTimePath::new(client_id.clone(), rev, h).to_string());
        self.delete(&ClientUpdateHeightPath::new(client_id, rev, h).to_string());
        Ok(())
    }
}

impl ExtClientValidationContext for IbcContext<'_> {
    fn host_timestamp(&self) -> Result<Timestamp, HostError> {
        Ok(self.host_time())
    }

    fn host_height(&self) -> Result<Height, HostError> {
        self.host_ibc_height()
    }

    fn consensus_state_heights(&self, client_id: &ClientId) -> Result<Vec<Height>, HostError> {
        Ok(self.consensus_heights(client_id))
    }

    fn next_consensus_state(
        &self,
        client_id: &ClientId,
        height: &Height,
    ) -> Result<Option<Self::ConsensusStateRef>, HostError> {
        let prefix = iterate_prefix(client_id);
        let start = iterate_key(
            client_id,
            height.revision_number(),
            height.revision_height().saturating_add(1),
        );
        let next = self
            .scan_unmetered(IBC_STORE, &prefix, Some(&start), 1)
            .into_iter()
            .find_map(|(k, _)| height_of_iterate_key(prefix.len(), &k))
            .filter(|h| h > height);
        next.map(|h| self.consensus_state_at(client_id, &h))
            .transpose()
    }

    fn prev_consensus_state(
        &self,
        client_id: &ClientId,
        height: &Height,
    ) -> Result<Option<Self::ConsensusStateRef>, HostError> {
        let prev = self
            .consensus_heights(client_id)
            .into_iter()
            .take_while(|h| h < height)
            .last();
        prev.map(|h| self.consensus_state_at(client_id, &h))
            .transpose()
    }
}

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

/// The host's tendermint consensus state built from one of its headers.
pub fn host_consensus_state(c: &super::HostConsensus) -> Result<TmConsensusStateType, HostError> {
    let secs = i64::try_from(c.time_ns / 1_000_000_000).map_err(HostError::invalid_state)?;
    let nanos = u32::try_from(c.time_ns % 1_000_000_000).map_err(HostError::invalid_state)?;
    let time =
        tendermint::Time::from_unix_timestamp(secs, nanos).map_err(HostError::invalid_state)?;
    let next_validators_hash =
        tendermint::Hash::from_bytes(tendermint::hash::Algorithm::Sha256, &c.next_validators_hash)
            .map_err(HostError::invalid_state)?;
    Ok(TmConsensusStateType::new(
        CommitmentRoot::from_bytes(&c.app_hash),
        time,
        next_validators_hash,
    ))
}

/// What ibc-go's `ValidateSelfClient` checks that matters here: a tendermint client of this
/// chain, not frozen, same chain id and revision, latest height below the host height, a
/// valid trust level, and the Cosmos SDK proof specs (our store proves like the SDK's IAVL).
fn validate_self_client(
    ctx: &IbcContext<'_>,
    cs: &ibc::clients::tendermint::types::ClientState,
) -> Result<(), HostError> {
    let invalid = |msg: String| HostError::invalid_state(format!("invalid self client: {msg}"));
    if cs.is_frozen() {
        return Err(invalid("client is frozen".to_string()));
    }
    let host_chain_id = ctx.shared.host.chain_id;
    if cs.chain_id.as_str() != host_chain_id {
        return Err(invalid(format!(
            "invalid chain-id. expected: {host_chain_id}, got: {}",
            cs.chain_id
        )));
    }
    let host_height = ctx.host_ibc_height()?;
    if cs.latest_height.revision_number() != host_height.revision_number() {
        return Err(invalid(format!(
            "client is not in the same revision as the chain. expected revision: {}, got: {}",
            host_height.revision_number(),
            cs.latest_height.revision_number()
        )));
    }
    if cs.latest_height >= host_height {
        return Err(invalid(format!(
            "client has LatestHeight {} greater than or equal to chain height {host_height}",
            cs.latest_height
        )));
    }
    let (num, den) = (cs.trust_level.numerator(), cs.trust_level.denominator());
    if den == 0 || num == 0 || num > den || num.saturating_mul(3) < den {
        return Err(invalid(format!("trust level {num}/{den} is invalid")));
    }
    if cs.proof_specs != ProofSpecs::cosmos() {
        return Err(invalid(
            "client has invalid proof specs, expected the Cosmos SDK specs".to_string(),
        ));
    }
    if cs.unbonding_period < cs.trusting_period {
        return Err(invalid(format!(
            "unbonding period must be greater than trusting period. unbonding period ({:?}) < trusting period ({:?})",
            cs.unbonding_period, cs.trusting_period
        )));
    }
    Ok(())
}
