//! Relaying: the supervisor of a chain pair, its channel workers, the sequence cache and
//! clearing. See `ARCHITECTURE.md` for how they fit together.
//!
//! - [`channel`]: a relayed channel, its two ends ([`channel::Side::A`]/[`channel::Side::B`])
//!   and the jobs on it;
//! - `discovery`: the open channels of the pair that the filter allows;
//! - [`supervisor`]: connects, discovers, runs and restarts one [`worker`] per channel;
//! - [`worker`]: the source, pump and sweep tasks of one channel; `schedule`: when it clears
//!   periodically (not while the channel is quiet);
//! - `step`: the message a job needs and the TxEngine that submits it; `ordered`: strict
//!   sequence order of the jobs of an ORDERED channel;
//! - [`cache`]: what was done or is in flight, so nothing is submitted twice;
//! - [`clearing`]: unfinished work from chain state alone; [`clear`] runs it to the end once
//!   (`arke clear`); `cursor`: the per-chain cursor file a restart scans `block_results` from;
//! - [`refresh`]: keeps idle clients from expiring;
//! - `memory`: the daemon's malloc arenas, and freed heap memory handed back once work settles;
//! - `sampler` and `report`: the numbers and states handed to telemetry;
//! - `shard`: which of several Arke instances relays a packet step first, and when a backup
//!   takes over;
//! - `close`: `MsgChannelCloseConfirm` after an ordered timeout closed a channel end;
//! - [`reload`] and `signals`: reloading the pair file, and the process signals of the daemon.

pub(crate) mod cache;
pub(crate) mod channel;
pub mod clear;
pub mod clearing;
pub(crate) mod close;
pub(crate) mod cursor;
pub(crate) mod discovery;
pub(crate) mod memory;
pub(crate) mod ordered;
pub(crate) mod refresh;
pub mod reload;
pub(crate) mod report;
pub(crate) mod sampler;
pub(crate) mod schedule;
pub(crate) mod shard;
pub(crate) mod signals;
pub(crate) mod step;
pub mod supervisor;
pub(crate) mod worker;

use crate::chain::events::EventHub;
use crate::chain::query::IbcQuerier;
use crate::config::ChainConfig;
use crate::tx::engine::TxEngine;

/// Everything the workers use to reach one chain: its settings, queries, event hub and TxEngine.
pub(crate) struct ChainHandle {
    /// The chain's settings.
    pub(crate) config: ChainConfig,
    /// IBC queries and proofs.
    pub(crate) query: IbcQuerier,
    /// Packet events, demultiplexed by channel.
    pub(crate) hub: EventHub,
    /// Batching, signing and broadcasting on this chain.
    pub(crate) engine: TxEngine,
    /// The relayer's address on this chain (the engine's signer).
    pub(crate) signer: String,
    /// The signers of packet messages, each with its own TxEngine (and so its own sequence):
    /// the first is `engine`, the others come from `key_names`.
    pub(crate) packet_signers: Vec<PacketSigner>,
    /// The ranking among this instance's signers and the `[relay] peers` of this chain;
    /// `None` without peers (every step is submitted at once).
    pub(crate) shard: Option<std::sync::Arc<shard::ChainShard>>,
    /// The chain's mempool view (shared with its engines): a backup does not take over a step
    /// a peer's pending tx carries.
    pub(crate) mempool: Option<crate::chain::mempool::MempoolView>,
}

/// One signer of packet messages on a chain.
#[derive(Clone, Debug)]
pub(crate) struct PacketSigner {
    pub(crate) engine: TxEngine,
    pub(crate) address: String,
}

impl ChainHandle {
    /// The engine that submits the packet `(port, channel, sequence)` on this chain. Packets
    /// are shared out among the signers by a hash of the three, so each signer's sequence
    /// carries its share and one signer's trouble delays only that share; all packets of an
    /// ORDERED channel go to one signer (txs of different signers may land in any order).
    pub(crate) fn engine_for(
        &self,
        port: &str,
        channel: &str,
        sequence: u64,
        ordered: bool,
    ) -> &TxEngine {
        use std::hash::{Hash, Hasher};
        let n = self.packet_signers.len();
        if n <= 1 {
            return &self.engine;
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (port, channel).hash(&mut h);
        if !ordered {
            sequence.hash(&mut h);
        }
        let i = (h.finish() % n as u64) as usize;
        &self.packet_signers[i].engine
    }
}
