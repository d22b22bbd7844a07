//! Redundant packet messages, and what CheckTx remembers of packet messages still pending.
//!
//! A packet message is redundant when the packet was already relayed: received (a receipt, or on
//! an ordered channel a `nextSequenceRecv` past it), or, for acknowledgements and timeouts, its
//! commitment is gone. Executed, such a message is a no-op (`NOOP` response); at CheckTx a tx
//! whose packet messages are all redundant is refused (ibc-go's `RedundantRelayDecorator`).
//!
//! ibc-go's decorator runs the core packet handlers on the CheckTx state, so a tx that passed
//! CheckTx leaves its receipts (and deleted commitments) in that state while it waits in the
//! mempool, and a second tx for the same packets is refused as redundant before either is in a
//! block. [`record_pending`] writes those effects into the check state. It does not verify the
//! proofs (ibc-go does, in CheckTx): a tx with a bad proof passes CheckTx here and fails in its
//! block, after which the recheck drops what it recorded.

use ibc_proto::google::protobuf::Any;
use ibc_proto::ibc::core::channel::v1 as chan;
use prost::Message;

use super::keys::{decode_u64, encode_u64, IBC_STORE, RECEIPT_OK};
use super::{MSG_ACKNOWLEDGEMENT, MSG_RECV_PACKET, MSG_TIMEOUT, MSG_TIMEOUT_ON_CLOSE};
use crate::exec::ExecState;

/// What a packet message acts on: (port, channel, sequence, whether it is a receive) on the
/// chain it is sent to; `Some(None)` when it does not decode, `None` for other messages.
fn target(msg: &Any) -> Option<Option<(String, String, u64, bool)>> {
    let value = msg.value.as_slice();
    let (path, is_recv) = match msg.type_url.as_str() {
        MSG_RECV_PACKET => (
            chan::MsgRecvPacket::decode(value)
                .ok()
                .and_then(|m| packet_path(m.packet.as_ref(), true)),
            true,
        ),
        MSG_ACKNOWLEDGEMENT => (
            chan::MsgAcknowledgement::decode(value)
                .ok()
                .and_then(|m| packet_path(m.packet.as_ref(), false)),
            false,
        ),
        MSG_TIMEOUT => (
            chan::MsgTimeout::decode(value)
                .ok()
                .and_then(|m| packet_path(m.packet.as_ref(), false)),
            false,
        ),
        MSG_TIMEOUT_ON_CLOSE => (
            chan::MsgTimeoutOnClose::decode(value)
                .ok()
                .and_then(|m| packet_path(m.packet.as_ref(), false)),
            false,
        ),
        _ => return None,
    };
    Some(path.map(|(port, channel, sequence)| (port, channel, sequence, is_recv)))
}

fn packet_path(packet: Option<&chan::Packet>, destination: bool) -> Option<(String, String, u64)> {
    let p = packet?;
    Some(if destination {
        (
            p.destination_port.clone(),
            p.destination_channel.clone(),
            p.sequence,
        )
    } else {
        (p.source_port.clone(), p.source_channel.clone(), p.sequence)
    })
}

/// For a packet message (recv, ack, timeout, timeout-on-close): whether executing it would be a
/// no-op because the packet was already relayed. `None` for any other message.
pub fn is_redundant(state: &mut ExecState, msg: &Any) -> Option<bool> {
    let (port, channel, sequence, is_recv) = match target(msg)? {
        Some(t) => t,
        // An undecodable message is not redundant: executing it reports the real error.
        None => return Some(false),
    };
    let key = |kind: &str| format!("{kind}/ports/{port}/channels/{channel}");
    if !is_recv {
        let commitment = state.get(
            IBC_STORE,
            format!("{}/sequences/{sequence}", key("commitments")).as_bytes(),
        );
        return Some(commitment.is_none());
    }
    let Some(raw_channel) = state.get(IBC_STORE, key("channelEnds").as_bytes()) else {
        return Some(false);
    };
    let Ok(channel_end) = chan::Channel::decode(raw_channel.as_slice()) else {
        return Some(false);
    };
    if channel_end.ordering == chan::Order::Ordered as i32 {
        let next = state
            .get(IBC_STORE, key("nextSequenceRecv").as_bytes())
            .and_then(|raw| decode_u64(&raw));
        Some(next.is_some_and(|next| sequence < next))
    } else {
        let receipt = state.get(
            IBC_STORE,
            format!("{}/sequences/{sequence}", key("receipts")).as_bytes(),
        );
        Some(receipt.is_some())
    }
}

/// Records in a CheckTx `state` what packet message `msg`, in a tx that passed CheckTx, will do
/// once executed: the receipt (unordered) or the advanced `nextSequenceRecv` (ordered) of a
/// receive, the deleted commitment of an acknowledgement or timeout. The caller has found `msg`
/// not redundant ([`is_redundant`]); other messages and undecodable ones leave the state as it is.
pub fn record_pending(state: &mut ExecState, msg: &Any) {
    let Some(Some((port, channel, sequence, is_recv))) = target(msg) else {
        return;
    };
    let key = |kind: &str| format!("{kind}/ports/{port}/channels/{channel}");
    if !is_recv {
        let path = format!("{}/sequences/{sequence}", key("commitments"));
        state.delete(IBC_STORE, path.as_bytes());
        return;
    }
    let ordered = state
        .get(IBC_STORE, key("channelEnds").as_bytes())
        .and_then(|raw| chan::Channel::decode(raw.as_slice()).ok())
        .is_some_and(|c| c.ordering == chan::Order::Ordered as i32);
    if ordered {
        state.set(
            IBC_STORE,
            key("nextSequenceRecv").into_bytes(),
            encode_u64(sequence + 1),
        );
    } else {
        let path = format!("{}/sequences/{sequence}", key("receipts"));
        state.set(IBC_STORE, path.into_bytes(), RECEIPT_OK.to_vec());
    }
}
