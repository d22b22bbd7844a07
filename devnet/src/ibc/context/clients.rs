//! The client contexts of ibc-rs (`ClientValidationContext`, `ClientExecutionContext`, and the
//! tendermint client's `ExtClientValidationContext`): client and consensus states, their update
//! metadata, and the ordered consensus-state heights under ibc-go's iteration keys.

use ibc::clients::tendermint::client_state::ClientState as TmClientState;
use ibc::clients::tendermint::consensus_state::ConsensusState as TmConsensusState;
use ibc::core::client::context::{
    ClientExecutionContext, ClientValidationContext, ExtClientValidationContext,
};
use ibc::core::client::types::Height;
use ibc::core::host::types::error::HostError;
use ibc::core::host::types::identifiers::ClientId;
use ibc::core::host::types::path::{
    ClientConsensusStatePath, ClientStatePath, ClientUpdateHeightPath, ClientUpdateTimePath,
};
use ibc::core::primitives::Timestamp;
use ibc_proto::google::protobuf::Any;
use prost::Message;

use super::{decode_err, IbcContext};
use crate::ibc::keys::{encode_u64, height_of_iterate_key, iterate_key, iterate_prefix, IBC_STORE};

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
