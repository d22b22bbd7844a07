//! A relayed channel and the work on it: its two ends ([`Side::A`] on chain A of the pair,
//! [`Side::B`] on chain B), and the [`Job`]s that the channel's worker, clearing and the one-shot
//! `arke clear` hand around. Every other relay module speaks in these types.

use std::sync::Arc;

use ibc_proto::ibc::core::channel::v1::Packet;

use super::ChainHandle;

/// Which end of the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Chain A of the pair.
    A,
    /// Chain B of the pair.
    B,
}

impl Side {
    /// The other end.
    pub fn other(self) -> Self {
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
pub struct ChannelEnd {
    /// The chain.
    pub chain: Arc<ChainHandle>,
    /// Port id on this chain.
    pub port: String,
    /// Channel id on this chain.
    pub channel: String,
    /// The counterparty's client on this chain (what proofs from the other end verify with).
    pub client_id: String,
}

/// A channel the worker relays.
#[derive(Clone)]
pub struct ChannelSpec {
    /// End on chain A.
    pub a: ChannelEnd,
    /// End on chain B.
    pub b: ChannelEnd,
    /// ORDERED channel.
    pub ordered: bool,
    /// Clear every this many blocks of chain A (0 = never).
    pub clear_interval: u64,
    /// Clear when the worker starts.
    pub clear_on_start: bool,
}

impl ChannelSpec {
    /// The end on `side`.
    pub fn end(&self, side: Side) -> &ChannelEnd {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }

    /// A short name for logs: `transfer/channel-0`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.a.port, self.a.channel)
    }
}

/// A unit of work: a packet sent from `from`, with the ack when it is one to return.
#[derive(Clone, Debug)]
pub struct Job {
    /// The side the packet was sent from.
    pub from: Side,
    /// The packet.
    pub packet: Packet,
    /// The acknowledgement (sweep jobs).
    pub ack: Vec<u8>,
    /// Height of the event on the chain the proof comes from (0 when it came from clearing).
    pub event_height: u64,
}
