//! A relayed channel and the work on it: its two ends ([`Side::A`] on chain A of the pair,
//! [`Side::B`] on chain B), and the [`Job`]s that the channel's worker, clearing and the one-shot
//! `arke clear` hand around. Every other relay module speaks in these types.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ibc_proto::ibc::core::channel::v1::Packet;

use super::ChainHandle;

/// Which end of the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Side {
    /// Chain A of the pair.
    A,
    /// Chain B of the pair.
    B,
}

impl Side {
    /// The other end.
    pub(crate) fn other(self) -> Self {
        match self {
            Self::A => Self::B,
            Self::B => Self::A,
        }
    }

    /// 0 for A, 1 for B (to index per-side arrays).
    pub(crate) fn index(self) -> usize {
        match self {
            Self::A => 0,
            Self::B => 1,
        }
    }
}

/// One end of a channel.
#[derive(Clone)]
pub(crate) struct ChannelEnd {
    /// The chain.
    pub(crate) chain: Arc<ChainHandle>,
    /// Port id on this chain.
    pub(crate) port: String,
    /// Channel id on this chain.
    pub(crate) channel: String,
    /// The counterparty's client on this chain (what proofs from the other end verify with).
    pub(crate) client_id: String,
}

/// A channel the worker relays.
#[derive(Clone)]
pub(crate) struct ChannelSpec {
    /// End on chain A.
    pub(crate) a: ChannelEnd,
    /// End on chain B.
    pub(crate) b: ChannelEnd,
    /// ORDERED channel.
    pub(crate) ordered: bool,
    /// Clear every this many blocks of chain A (0 = never).
    pub(crate) clear_interval: u64,
    /// Clear when the worker starts.
    pub(crate) clear_on_start: bool,
    /// How often the worker clears the channel while it is quiet (see `relay::schedule`).
    pub(crate) rescan_interval: std::time::Duration,
    /// Which ends (by [`Side::index`]) are known to be CLOSED: set by discovery and by the
    /// worker when a delivery fails on a closed end or its own timeout closes one. Shared by
    /// the clones of a spec.
    pub(crate) closed: Arc<[AtomicBool; 2]>,
}

impl ChannelSpec {
    /// The end on `side`.
    pub(crate) fn end(&self, side: Side) -> &ChannelEnd {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }

    /// Whether the end on `side` is known to be CLOSED (it never opens again).
    pub(crate) fn is_closed(&self, side: Side) -> bool {
        self.closed[side.index()].load(Ordering::Relaxed)
    }

    /// The end on `side` is CLOSED.
    pub(crate) fn set_closed(&self, side: Side) {
        self.closed[side.index()].store(true, Ordering::Relaxed);
    }

    /// A short name for logs: `transfer/channel-0`.
    pub(crate) fn name(&self) -> String {
        format!("{}/{}", self.a.port, self.a.channel)
    }
}

/// A unit of work: a packet sent from `from`, with the ack when it is one to return.
#[derive(Clone, Debug)]
pub(crate) struct Job {
    /// The side the packet was sent from.
    pub(crate) from: Side,
    /// The packet.
    pub(crate) packet: Packet,
    /// The acknowledgement (sweep jobs).
    pub(crate) ack: Vec<u8>,
    /// Height of the event on the chain the proof comes from (0 when it came from clearing).
    pub(crate) event_height: u64,
}
