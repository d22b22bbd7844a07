//! The plan of one tx: its leading messages, its packet messages with the items waiting for
//! them, and how an executed tx's result settles each waiter (`Done`, or `Redundant` for a NOOP
//! response).

use ibc_proto::cosmos::base::abci::v1beta1::TxMsgData;
use ibc_proto::google::protobuf::Any;
use ibc_proto::ibc::core::channel::v1::{MsgRecvPacketResponse, ResponseResultType};
use prost::Message;
use tokio::sync::oneshot;

use crate::chain::types::{RelayItem, RelayKind};

use super::carriers::UpdateMode;
use super::updates::UpdateNeed;
use super::Outcome;

/// Where the effect of a packet message shows on the host chain: a receipt (or
/// `nextSequenceRecv`) for `Recv`, the deletion of the packet commitment for `Ack` and `Timeout`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Effect {
    pub(super) received: bool,
    pub(super) port: String,
    pub(super) channel: String,
    pub(super) sequence: u64,
}

impl Effect {
    pub(super) fn of(item: &RelayItem) -> Self {
        let p = &item.packet;
        match item.kind {
            RelayKind::Recv => Self {
                received: true,
                port: p.destination_port.clone(),
                channel: p.destination_channel.clone(),
                sequence: p.sequence,
            },
            RelayKind::Ack | RelayKind::Timeout | RelayKind::TimeoutOnClose => Self {
                received: false,
                port: p.source_port.clone(),
                channel: p.source_channel.clone(),
                sequence: p.sequence,
            },
        }
    }
}

/// An item waiting for its tx.
pub(super) struct Waiter {
    pub(super) reply: oneshot::Sender<Outcome>,
    pub(super) effect: Effect,
}

/// The messages of one tx and who waits for them.
pub(super) struct TxPlan {
    /// Messages leading the tx (the client update, or a `submit_msgs` set).
    pub(super) lead: Vec<Any>,
    /// Packet messages and the items waiting for them.
    pub(super) items: Vec<(Any, Waiter)>,
    /// The waiter of a `submit_msgs` set.
    pub(super) whole: Option<oneshot::Sender<Outcome>>,
    /// The client update the packet messages need; `lead` holds it or, while an earlier
    /// accepted tx carries it, not ([`super::updates`]).
    pub(super) update: Option<UpdateNeed>,
    /// Whether it may go without its update: for an earlier tx of ours, for another signer's
    /// ([`super::carriers`]), or not at all.
    pub(super) mode: UpdateMode,
}

impl TxPlan {
    pub(super) fn msgs(&self) -> Vec<Any> {
        self.lead
            .iter()
            .cloned()
            .chain(self.items.iter().map(|(m, _)| m.clone()))
            .collect()
    }

    pub(super) fn len(&self) -> usize {
        self.lead.len() + self.items.len()
    }

    /// The index of the first packet message in [`TxPlan::msgs`] (`usize::MAX` for a message
    /// set, whose messages are all its own).
    pub(super) fn packet_msgs_from(&self) -> usize {
        if self.whole.is_some() || self.items.is_empty() {
            usize::MAX
        } else {
            self.lead.len()
        }
    }

    /// Whether the packet messages need a client update this tx does not carry.
    pub(super) fn without_its_update(&self) -> bool {
        self.update.is_some() && self.lead.is_empty()
    }

    /// Two plans with the same lead and half of the items each.
    pub(super) fn split(mut self) -> (TxPlan, TxPlan) {
        let back = self.items.split_off(self.items.len() / 2);
        let second = TxPlan {
            lead: self.lead.clone(),
            items: back,
            whole: None,
            update: self.update.clone(),
            mode: self.mode.clone(),
        };
        (self, second)
    }

    /// Gives every waiter `outcome`.
    pub(super) fn settle_all(self, outcome: Outcome) {
        for (_, waiter) in self.items {
            let _ = waiter.reply.send(outcome.clone());
        }
        if let Some(reply) = self.whole {
            let _ = reply.send(outcome);
        }
    }

    /// After this plan's tx failed in its block (it paid its fee) with `reason`, the SDK naming
    /// message `blamed` (`None`: no "message index" in the log): the plans to send again at
    /// once, whose items are free of blame and not charged an attempt.
    ///
    /// - A failing packet message fails its item, not retryable (clearing finds it again and the
    ///   relay step decides afresh, e.g. a timeout for a packet that expired); the others go
    ///   again without it.
    /// - A failing lead (the client update) fails every item, retryable: the next batch builds
    ///   a fresh header.
    /// - Without an index the plan is split in halves for the retry; a single item fails, not
    ///   retryable.
    /// - A message set (`submit_msgs`) fails as a whole, retryable: its caller decides.
    pub(super) fn blame(mut self, blamed: Option<usize>, reason: &str) -> Vec<TxPlan> {
        if self.whole.is_some() {
            self.settle_all(Outcome::failed(reason, true));
            return Vec::new();
        }
        let lead = self.lead.len();
        match blamed {
            Some(i) if i < lead => {
                self.settle_all(Outcome::failed(reason, true));
                Vec::new()
            }
            Some(i) if i - lead < self.items.len() => {
                let (_, waiter) = self.items.remove(i - lead);
                let _ = waiter.reply.send(Outcome::failed(reason, false));
                if self.items.is_empty() {
                    Vec::new()
                } else {
                    vec![self]
                }
            }
            _ if self.items.len() > 1 => {
                let (a, b) = self.split();
                vec![a, b]
            }
            _ => {
                self.settle_all(Outcome::failed(reason, false));
                Vec::new()
            }
        }
    }

    /// Gives every waiter the outcome of an executed tx with code 0: `Done`, or `Redundant` for
    /// an item whose message response is NOOP.
    /// Settles the waiters of an executed tx; returns how many of its packet messages were
    /// NOOP (redundant) and how many it carried.
    pub(super) fn settle_executed(self, tx_hash: &str, height: u64, data: &[u8]) -> (usize, usize) {
        let noops = noop_responses(data);
        let carried = self.items.len();
        let mut redundant = 0;
        let done = Outcome::Done {
            tx_hash: tx_hash.to_string(),
            height,
        };
        let lead = self.lead.len();
        for (i, (_, waiter)) in self.items.into_iter().enumerate() {
            let noop = noops.get(lead + i).copied().unwrap_or(false);
            redundant += usize::from(noop);
            let _ = waiter.reply.send(if noop {
                Outcome::Redundant
            } else {
                done.clone()
            });
        }
        if let Some(reply) = self.whole {
            let _ = reply.send(done);
        }
        (redundant, carried)
    }
}

/// For each message response, whether it is a packet message response with result NOOP.
pub(super) fn noop_msg_responses(responses: &[Any]) -> Vec<bool> {
    const PACKET_RESPONSES: [&str; 4] = [
        "/ibc.core.channel.v1.MsgRecvPacketResponse",
        "/ibc.core.channel.v1.MsgAcknowledgementResponse",
        "/ibc.core.channel.v1.MsgTimeoutResponse",
        "/ibc.core.channel.v1.MsgTimeoutOnCloseResponse",
    ];
    responses
        .iter()
        .map(|any| PACKET_RESPONSES.contains(&any.type_url.as_str()) && is_noop(&any.value))
        .collect()
}

/// Whether a packet message response (`{ result: ResponseResultType = 1 }`) says NOOP.
fn is_noop(bytes: &[u8]) -> bool {
    MsgRecvPacketResponse::decode(bytes)
        .map(|r| r.result == ResponseResultType::Noop as i32)
        .unwrap_or(false)
}

/// For each message of an executed tx (from its `TxMsgData`), whether its response is a packet
/// message response with result NOOP. Undecodable data gives an empty list (nothing is NOOP).
pub(super) fn noop_responses(data: &[u8]) -> Vec<bool> {
    const PACKET_MSGS: [&str; 4] = [
        "/ibc.core.channel.v1.MsgRecvPacket",
        "/ibc.core.channel.v1.MsgAcknowledgement",
        "/ibc.core.channel.v1.MsgTimeout",
        "/ibc.core.channel.v1.MsgTimeoutOnClose",
    ];
    let Ok(msg_data) = TxMsgData::decode(data) else {
        return Vec::new();
    };
    if !msg_data.msg_responses.is_empty() {
        return noop_msg_responses(&msg_data.msg_responses);
    }
    // SDK < 0.46: `data: [MsgData{msg_type, data}]`.
    #[allow(deprecated)]
    let legacy = msg_data
        .data
        .iter()
        .map(|d| PACKET_MSGS.contains(&d.msg_type.as_str()) && is_noop(&d.data))
        .collect();
    legacy
}

/// The raw bytes of a tx result's `data`. tendermint-rpc 0.40 decodes that JSON field with
/// `bytes::Bytes`' own serde, which keeps the base64 text as it is; protobuf `TxMsgData` never
/// starts with a base64 character (its first byte is a field tag, 0x0a or 0x12), so text that is
/// all base64 is decoded and anything else is taken as raw.
pub(super) fn result_data(data: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let is_b64 = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    if !data.is_empty() && data.iter().all(is_b64) {
        if let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(data) {
            return raw;
        }
    }
    data.to_vec()
}
