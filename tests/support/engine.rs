//! What the TxEngine tests hand an engine: transfers whose packets to relay, and the relay item
//! of a packet's delivery.

use std::time::Duration;

use arke::chain::types::{RelayItem, RelayKind};
use cosmos::events::events_of;
use cosmos::Coin;
use devnet::harness::{packet_from_event, transfer_msg};
use devnet::testing::ConnectedChains;
use ibc_proto::ibc::core::channel::v1::Packet;

/// `n` transfers of 1 stake from A's user to B's user, in one tx; the packets.
pub async fn transfers(chains: &ConnectedChains, n: usize) -> Vec<Packet> {
    let (a, b) = (&chains.a, &chains.b);
    let msgs = (0..n)
        .map(|_| {
            transfer_msg(
                &a.address(&a.user),
                &b.address(&b.user),
                &chains.path.channel_a,
                &Coin::new("stake", 1),
                None,
                u64::MAX / 2,
            )
        })
        .collect();
    let tx = super::bounded(
        Duration::from_secs(120),
        "transfers",
        a.submit_ok(&a.user, msgs),
    )
    .await
    .unwrap();
    events_of(&tx.result.events, "send_packet")
        .iter()
        .map(|attrs| packet_from_event(attrs).unwrap())
        .collect()
}

/// The delivery (`MsgRecvPacket`) of `packet` on an unordered channel.
pub fn recv_item(packet: &Packet) -> RelayItem {
    RelayItem {
        kind: RelayKind::Recv,
        packet: packet.clone(),
        ack: Vec::new(),
        ordered: false,
        event_height: 0,
    }
}
