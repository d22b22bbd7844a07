//! IBC values the relayer passes between its parts: packets as seen in events, what kind of
//! relay message a packet needs, and a channel's two ends.

use ibc_proto::ibc::core::channel::v1::Packet;

/// A packet event observed on a chain, with the height of the block that holds it.
#[derive(Clone, Debug, PartialEq)]
pub enum PacketEvent {
    /// `send_packet` on the packet's source chain.
    Send {
        /// Block height.
        height: u64,
        /// The packet.
        packet: Packet,
    },
    /// `write_acknowledgement` on the packet's destination chain.
    WriteAck {
        /// Block height.
        height: u64,
        /// The packet.
        packet: Packet,
        /// Raw acknowledgement bytes (`packet_ack_hex` decoded).
        ack: Vec<u8>,
    },
    /// `recv_packet` on the destination (the packet was received, by anyone).
    Recv {
        /// Block height.
        height: u64,
        /// The packet.
        packet: Packet,
    },
    /// `acknowledge_packet` on the source (the packet's life is over).
    Acknowledged {
        /// Block height.
        height: u64,
        /// The packet (without data).
        packet: Packet,
    },
    /// `timeout_packet` on the source (the packet's life is over).
    TimedOut {
        /// Block height.
        height: u64,
        /// The packet (without data).
        packet: Packet,
    },
}

impl PacketEvent {
    /// The packet.
    pub fn packet(&self) -> &Packet {
        match self {
            Self::Send { packet, .. }
            | Self::WriteAck { packet, .. }
            | Self::Recv { packet, .. }
            | Self::Acknowledged { packet, .. }
            | Self::TimedOut { packet, .. } => packet,
        }
    }

    /// The block height.
    pub fn height(&self) -> u64 {
        match self {
            Self::Send { height, .. }
            | Self::WriteAck { height, .. }
            | Self::Recv { height, .. }
            | Self::Acknowledged { height, .. }
            | Self::TimedOut { height, .. } => *height,
        }
    }
}

/// What must be submitted for a packet. Every kind is submitted on one chain with a proof from
/// the other: `Recv` on the destination proving the commitment on the source; `Ack` on the source
/// proving the acknowledgement on the destination; `Timeout` on the source proving absence of
/// receipt (unordered) or `nextSequenceRecv` (ordered) on the destination; `TimeoutOnClose` on
/// the source proving the same and that the destination's channel end is CLOSED.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RelayKind {
    /// `MsgRecvPacket`.
    Recv,
    /// `MsgAcknowledgement`.
    Ack,
    /// `MsgTimeout`.
    Timeout,
    /// `MsgTimeoutOnClose`: the destination's channel end is CLOSED.
    TimeoutOnClose,
}

impl std::fmt::Display for RelayKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Recv => "recv",
            Self::Ack => "ack",
            Self::Timeout => "timeout",
            Self::TimeoutOnClose => "timeout_on_close",
        })
    }
}

/// One message to relay, before its proof is built.
#[derive(Clone, Debug, PartialEq)]
pub struct RelayItem {
    /// What to build.
    pub kind: RelayKind,
    /// The packet.
    pub packet: Packet,
    /// The acknowledgement bytes (for `Ack`).
    pub ack: Vec<u8>,
    /// Whether the channel is ordered (for `Timeout` and `TimeoutOnClose`).
    pub ordered: bool,
    /// The height, on the chain the proof comes from, of the event that made it provable: the
    /// `send_packet` of a `Recv`, the `write_acknowledgement` of an `Ack`. 0 when unknown (work
    /// found by clearing, retries) and for timeouts (they prove an absence at a later height).
    pub event_height: u64,
}

/// A step of a channel's life that changes whether it can be relayed: the handshake step that
/// opens an end, or the close of an end. Seen by the event hub in a delivered block; discovery
/// reacts to it instead of listing every channel again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelEvent {
    /// Block height.
    pub height: u64,
    /// What happened to the end.
    pub kind: ChannelEventKind,
    /// Port of the end on this chain.
    pub port: String,
    /// Channel id of the end on this chain.
    pub channel: String,
    /// Port of the counterparty end.
    pub counterparty_port: String,
    /// Channel id of the counterparty end (empty while it has none, after `OpenInit`).
    pub counterparty_channel: String,
}

/// The kinds of [`ChannelEvent`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelEventKind {
    /// `channel_open_ack` or `channel_open_confirm`: the end is OPEN.
    Opened,
    /// `channel_close_init` or `channel_close_confirm`: the end is CLOSED.
    Closed,
}
