//! The ibc-rs host context: `ValidationContext`, `ExecutionContext` and the client contexts
//! (including the tendermint client's `ExtClientValidationContext`) over an [`ExecState`] and the
//! host's [`HostInfo`], storing everything under ibc-go's keys (see [`super::keys`]).
//!
//! ibc-rs reads through `&self` while our store charges gas on reads (`&mut`), and the
//! transfer module needs the same state as the core handlers while both are borrowed by
//! `dispatch`. So the working state lives in a [`Shared`] (a `RefCell` around a copy of the
//! `ExecState`) that the core context and the router's modules borrow; the caller writes the
//! copy back when the message succeeds.
//!
//! The ibc-rs traits are implemented in `clients` (the client contexts) and `host` (core
//! validation and execution: connections, channels, packets, counters, events); `self_client`
//! is the host as a counterparty's client sees it.

mod clients;
mod host;
mod self_client;

use std::cell::RefCell;

use ibc::clients::tendermint::consensus_state::ConsensusState as TmConsensusState;
use ibc::core::client::context::ClientValidationContext;
use ibc::core::client::types::Height;
use ibc::core::handler::types::events::IbcEvent;
use ibc::core::host::types::error::HostError;
use ibc::core::host::types::identifiers::{ClientId, Sequence};
use ibc::core::host::types::path::ClientConnectionPath;
use ibc::core::primitives::Timestamp;
use ibc_proto::ibc::core::connection::v1::ClientPaths;
use prost::Message;

use super::keys::{
    consensus_path, decode_u64, encode_u64, height_of_iterate_key, iterate_prefix,
    revision_of_chain_id, IBC_STORE,
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
