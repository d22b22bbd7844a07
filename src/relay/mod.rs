//! Relaying: the supervisor of a chain pair, its channel workers, the sequence cache and
//! clearing. See `ARCHITECTURE.md` for how they fit together.

pub mod cache;
pub mod clearing;
pub mod refresh;
pub mod reload;
pub mod supervisor;
pub mod worker;

use crate::chain::events::EventHub;
use crate::chain::query::IbcQuerier;
use crate::config::ChainConfig;
use crate::tx::engine::TxEngine;

/// Everything the workers use to reach one chain: its settings, queries, event hub and TxEngine.
pub struct ChainHandle {
    /// The chain's settings.
    pub config: ChainConfig,
    /// IBC queries and proofs.
    pub query: IbcQuerier,
    /// Packet events, demultiplexed by channel.
    pub hub: EventHub,
    /// Batching, signing and broadcasting on this chain.
    pub engine: TxEngine,
}
