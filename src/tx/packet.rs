//! Packet messages: which counterparty store path proves a [`RelayItem`], and the
//! `MsgRecvPacket` / `MsgAcknowledgement` / `MsgTimeout` / `MsgTimeoutOnClose` built from that
//! proof (`MsgTimeoutOnClose` also carries the proof of the counterparty's CLOSED channel end,
//! [`close_proof_path`]).
//!
//! Every proof is queried at height `H` on the counterparty and verified against header `H + 1`
//! (ibc-wire.md §3), so `proof_height` is always `{revision of the counterparty, H + 1}`. What the
//! proven value says also decides whether the message can be built at all: a commitment or
//! acknowledgement that is absent at `H` cannot be proven yet (or any more), and a receipt that
//! exists means the packet can no longer time out.

use cosmos::to_any;
use ibc_proto::google::protobuf::Any;
use ibc_proto::ibc::core::channel::v1::{
    Channel, MsgAcknowledgement, MsgRecvPacket, MsgTimeout, MsgTimeoutOnClose, State,
};
use ibc_proto::ibc::core::client::v1::Height;
use prost::Message;

use crate::chain::types::{RelayItem, RelayKind};

/// The counterparty store path whose proof the message for `item` carries.
pub(crate) fn proof_path(item: &RelayItem) -> String {
    let p = &item.packet;
    match item.kind {
        RelayKind::Recv => format!(
            "commitments/ports/{}/channels/{}/sequences/{}",
            p.source_port, p.source_channel, p.sequence
        ),
        RelayKind::Ack => format!(
            "acks/ports/{}/channels/{}/sequences/{}",
            p.destination_port, p.destination_channel, p.sequence
        ),
        RelayKind::Timeout | RelayKind::TimeoutOnClose if item.ordered => format!(
            "nextSequenceRecv/ports/{}/channels/{}",
            p.destination_port, p.destination_channel
        ),
        RelayKind::Timeout | RelayKind::TimeoutOnClose => format!(
            "receipts/ports/{}/channels/{}/sequences/{}",
            p.destination_port, p.destination_channel, p.sequence
        ),
    }
}

/// The second counterparty path a message proves: the destination's channel end, for
/// `MsgTimeoutOnClose` (proven at the same height as [`proof_path`]).
pub(crate) fn close_proof_path(item: &RelayItem) -> Option<String> {
    let p = &item.packet;
    (item.kind == RelayKind::TimeoutOnClose).then(|| {
        format!(
            "channelEnds/ports/{}/channels/{}",
            p.destination_port, p.destination_channel
        )
    })
}

/// Why a message could not be built from a proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unbuildable {
    /// The commitment or acknowledgement to prove is absent at the queried height: not written
    /// yet at that height, or already cleared (the packet's life is over); for
    /// `MsgTimeoutOnClose`, the counterparty's channel end is not CLOSED at that height.
    Absent,
    /// The packet was received on the counterparty, so it cannot time out.
    Received,
    /// The proven value makes no sense (e.g. `nextSequenceRecv` not 8 bytes).
    Malformed(String),
}

/// The message for `item` from the proven `value` and `proof` of [`proof_path`] (and, for
/// `MsgTimeoutOnClose`, the proven value and proof of [`close_proof_path`] in `close`), with
/// `proof_height` (the counterparty's `H + 1`) and `signer`.
pub(crate) fn build_message(
    item: &RelayItem,
    value: &[u8],
    proof: Vec<u8>,
    close: Option<(Vec<u8>, Vec<u8>)>,
    proof_height: Height,
    signer: &str,
) -> Result<Any, Unbuildable> {
    let packet = Some(item.packet.clone());
    let proof_height = Some(proof_height);
    let signer = signer.to_string();
    match item.kind {
        RelayKind::Recv => {
            if value.is_empty() {
                return Err(Unbuildable::Absent);
            }
            Ok(to_any(&MsgRecvPacket {
                packet,
                proof_commitment: proof,
                proof_height,
                signer,
            }))
        }
        RelayKind::Ack => {
            if value.is_empty() {
                return Err(Unbuildable::Absent);
            }
            Ok(to_any(&MsgAcknowledgement {
                packet,
                acknowledgement: item.ack.clone(),
                proof_acked: proof,
                proof_height,
                signer,
            }))
        }
        RelayKind::Timeout | RelayKind::TimeoutOnClose => {
            let next_sequence_recv = if item.ordered {
                let bytes: [u8; 8] = value.try_into().map_err(|_| {
                    Unbuildable::Malformed(format!(
                        "nextSequenceRecv is {} bytes, not 8",
                        value.len()
                    ))
                })?;
                let next = u64::from_be_bytes(bytes);
                if next > item.packet.sequence {
                    return Err(Unbuildable::Received);
                }
                next
            } else {
                if !value.is_empty() {
                    return Err(Unbuildable::Received);
                }
                item.packet.sequence
            };
            if item.kind == RelayKind::TimeoutOnClose {
                let (end, proof_close) = close.ok_or_else(|| {
                    Unbuildable::Malformed("no proof of the counterparty channel end".into())
                })?;
                // Not CLOSED at this height (yet: the close may be in a later block than the
                // one proven) is waited for like an absent value.
                let state = Channel::decode(end.as_slice()).map(|c| c.state);
                if state != Ok(State::Closed as i32) {
                    return Err(Unbuildable::Absent);
                }
                return Ok(to_any(&MsgTimeoutOnClose {
                    packet,
                    proof_unreceived: proof,
                    proof_close,
                    proof_height,
                    next_sequence_recv,
                    signer,
                    counterparty_upgrade_sequence: 0,
                }));
            }
            Ok(to_any(&MsgTimeout {
                packet,
                proof_unreceived: proof,
                proof_height,
                next_sequence_recv,
                signer,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ibc_proto::ibc::core::channel::v1::Packet;

    fn item(kind: RelayKind, ordered: bool) -> RelayItem {
        RelayItem {
            kind,
            packet: Packet {
                sequence: 5,
                source_port: "transfer".into(),
                source_channel: "channel-0".into(),
                destination_port: "transfer".into(),
                destination_channel: "channel-1".into(),
                ..Default::default()
            },
            ack: b"{\"result\":\"AQ==\"}".to_vec(),
            ordered,
            event_height: 0,
        }
    }

    fn h() -> Height {
        Height {
            revision_number: 2,
            revision_height: 11,
        }
    }

    #[test]
    fn paths() {
        assert_eq!(
            proof_path(&item(RelayKind::Recv, false)),
            "commitments/ports/transfer/channels/channel-0/sequences/5"
        );
        assert_eq!(
            proof_path(&item(RelayKind::Ack, false)),
            "acks/ports/transfer/channels/channel-1/sequences/5"
        );
        assert_eq!(
            proof_path(&item(RelayKind::Timeout, false)),
            "receipts/ports/transfer/channels/channel-1/sequences/5"
        );
        assert_eq!(
            proof_path(&item(RelayKind::Timeout, true)),
            "nextSequenceRecv/ports/transfer/channels/channel-1"
        );
    }

    #[test]
    fn messages() {
        let any =
            build_message(&item(RelayKind::Recv, false), b"c", vec![1], None, h(), "s").unwrap();
        assert_eq!(any.type_url, "/ibc.core.channel.v1.MsgRecvPacket");
        let m = MsgRecvPacket::decode(any.value.as_slice()).unwrap();
        assert_eq!(m.proof_height, Some(h()));
        assert_eq!(m.proof_commitment, vec![1]);
        assert_eq!(m.signer, "s");
        assert_eq!(
            build_message(&item(RelayKind::Recv, false), b"", vec![], None, h(), "s"),
            Err(Unbuildable::Absent)
        );

        let any =
            build_message(&item(RelayKind::Ack, false), b"a", vec![2], None, h(), "s").unwrap();
        assert_eq!(any.type_url, "/ibc.core.channel.v1.MsgAcknowledgement");
        let m = MsgAcknowledgement::decode(any.value.as_slice()).unwrap();
        assert_eq!(m.acknowledgement, b"{\"result\":\"AQ==\"}".to_vec());

        let any = build_message(
            &item(RelayKind::Timeout, false),
            b"",
            vec![3],
            None,
            h(),
            "s",
        )
        .unwrap();
        let m = MsgTimeout::decode(any.value.as_slice()).unwrap();
        assert_eq!(any.type_url, "/ibc.core.channel.v1.MsgTimeout");
        assert_eq!(m.next_sequence_recv, 5);
        assert_eq!(
            build_message(
                &item(RelayKind::Timeout, false),
                &[1],
                vec![],
                None,
                h(),
                "s"
            ),
            Err(Unbuildable::Received)
        );

        let any = build_message(
            &item(RelayKind::Timeout, true),
            &4u64.to_be_bytes(),
            vec![],
            None,
            h(),
            "s",
        )
        .unwrap();
        assert_eq!(
            MsgTimeout::decode(any.value.as_slice())
                .unwrap()
                .next_sequence_recv,
            4
        );
        assert_eq!(
            build_message(
                &item(RelayKind::Timeout, true),
                &6u64.to_be_bytes(),
                vec![],
                None,
                h(),
                "s"
            ),
            Err(Unbuildable::Received)
        );
        assert!(matches!(
            build_message(
                &item(RelayKind::Timeout, true),
                &[1],
                vec![],
                None,
                h(),
                "s"
            ),
            Err(Unbuildable::Malformed(_))
        ));
    }

    #[test]
    fn timeout_on_close() {
        let it = item(RelayKind::TimeoutOnClose, false);
        assert_eq!(
            proof_path(&it),
            "receipts/ports/transfer/channels/channel-1/sequences/5"
        );
        assert_eq!(
            close_proof_path(&it).as_deref(),
            Some("channelEnds/ports/transfer/channels/channel-1")
        );
        assert_eq!(close_proof_path(&item(RelayKind::Timeout, false)), None);
        let end = |state: State| {
            Channel {
                state: state as i32,
                ..Default::default()
            }
            .encode_to_vec()
        };
        let closed = Some((end(State::Closed), vec![9]));
        let any = build_message(&it, b"", vec![3], closed.clone(), h(), "s").unwrap();
        assert_eq!(any.type_url, "/ibc.core.channel.v1.MsgTimeoutOnClose");
        let m = MsgTimeoutOnClose::decode(any.value.as_slice()).unwrap();
        assert_eq!((m.proof_unreceived, m.proof_close), (vec![3], vec![9]));
        assert_eq!(m.next_sequence_recv, 5);
        assert_eq!(m.proof_height, Some(h()));
        // Not closed (or no proof of it): nothing to build.
        let open = Some((end(State::Open), vec![9]));
        assert_eq!(
            build_message(&it, b"", vec![3], open, h(), "s"),
            Err(Unbuildable::Absent)
        );
        assert!(matches!(
            build_message(&it, b"", vec![3], None, h(), "s"),
            Err(Unbuildable::Malformed(_))
        ));
        // Received already: it cannot time out.
        assert_eq!(
            build_message(&it, &[1], vec![3], closed, h(), "s"),
            Err(Unbuildable::Received)
        );
    }
}
