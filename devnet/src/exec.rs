//! The working state a transaction executes on, with deterministic gas metering.
//!
//! Every store access charges gas like the Cosmos SDK's default KV gas config, so the same tx
//! uses the same gas every time and `gas_wanted` is a real limit. Charging never aborts the
//! operation in progress; the app checks [`GasMeter::out_of_gas`] after each message and fails
//! the tx with sdk code 11, which keeps ibc-rs handlers free of gas plumbing.

use crate::store::State;

/// Gas charged per operation (the Cosmos SDK's `KVGasConfig` and auth defaults).
pub mod cost {
    /// Flat cost of a read.
    pub const READ_FLAT: u64 = 1000;
    /// Per byte read (key + value).
    pub const READ_PER_BYTE: u64 = 3;
    /// Flat cost of a write.
    pub const WRITE_FLAT: u64 = 2000;
    /// Per byte written (key + value).
    pub const WRITE_PER_BYTE: u64 = 30;
    /// Cost of a delete.
    pub const DELETE: u64 = 1000;
    /// Cost of each step of an iterator.
    pub const ITER_NEXT: u64 = 30;
    /// Per byte of the raw tx.
    pub const TX_SIZE_PER_BYTE: u64 = 10;
    /// Verifying one secp256k1 signature.
    pub const SIG_VERIFY_SECP256K1: u64 = 1000;
}

/// Counts gas against a limit.
#[derive(Clone, Debug)]
pub struct GasMeter {
    limit: u64,
    used: u64,
}

impl GasMeter {
    /// A meter that fails past `limit`.
    pub fn new(limit: u64) -> Self {
        Self { limit, used: 0 }
    }

    /// A meter without a limit (queries, genesis, simulation).
    pub fn infinite() -> Self {
        Self::new(u64::MAX)
    }

    /// Adds `amount` to the gas used.
    pub fn consume(&mut self, amount: u64) {
        self.used = self.used.saturating_add(amount);
    }

    /// Gas used so far.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// The limit.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// True once more gas was used than the limit allows.
    pub fn out_of_gas(&self) -> bool {
        self.used > self.limit
    }
}

/// A state being executed on, with its gas meter. Cloning is cheap (persistent trees), which is
/// how a tx is made atomic: execute on a clone, keep it only on success.
#[derive(Clone, Debug)]
pub struct ExecState {
    /// The state.
    pub state: State,
    /// Gas consumed by reads and writes through this wrapper.
    pub gas: GasMeter,
}

impl ExecState {
    /// Wraps `state` with `gas`.
    pub fn new(state: State, gas: GasMeter) -> Self {
        Self { state, gas }
    }

    /// Reads `key` from `store`, charging read gas.
    pub fn get(&mut self, store: &str, key: &[u8]) -> Option<Vec<u8>> {
        let value = self.state.tree(store).get(key).map(<[u8]>::to_vec);
        let len = key.len() + value.as_ref().map_or(0, Vec::len);
        self.gas
            .consume(cost::READ_FLAT + cost::READ_PER_BYTE * len as u64);
        value
    }

    /// Reads without charging gas (queries and bookkeeping that a chain does not meter).
    pub fn peek(&self, store: &str, key: &[u8]) -> Option<Vec<u8>> {
        self.state.tree(store).get(key).map(<[u8]>::to_vec)
    }

    /// Writes `key` in `store`, charging write gas.
    pub fn set(&mut self, store: &str, key: Vec<u8>, value: Vec<u8>) {
        self.gas
            .consume(cost::WRITE_FLAT + cost::WRITE_PER_BYTE * (key.len() + value.len()) as u64);
        self.state.tree_mut(store).set(key, value);
    }

    /// Deletes `key` in `store`, charging delete gas.
    pub fn delete(&mut self, store: &str, key: &[u8]) {
        self.gas.consume(cost::DELETE);
        self.state.tree_mut(store).remove(key);
    }

    /// All keys and values under `prefix` in ascending order, charging per step.
    pub fn scan_prefix(&mut self, store: &str, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let items: Vec<(Vec<u8>, Vec<u8>)> = self
            .state
            .tree(store)
            .iter_prefix(prefix, None)
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect();
        self.gas.consume(cost::ITER_NEXT * (items.len() as u64 + 1));
        items
    }
}
