//! ibc-rs events turned into the ABCI events ibc-go emits: ibc-go writes each core event
//! *before* its `message{module=ibc_*}` companion (ibc-rs emits the message first), and adds a
//! `connection_id` attribute to packet events next to the deprecated `packet_connection`.

use cosmos::events::attribute;
use ibc::core::handler::types::events::{IbcEvent, MessageEvent};
use tendermint::abci::{Event, EventAttribute, EventAttributeIndexExt};

use crate::error::TxError;

const PACKET_EVENTS: &[&str] = &[
    "send_packet",
    "recv_packet",
    "write_acknowledgement",
    "acknowledge_packet",
    "timeout_packet",
];

fn is_core_message(event: &IbcEvent) -> bool {
    matches!(
        event,
        IbcEvent::Message(MessageEvent::Client | MessageEvent::Connection | MessageEvent::Channel)
    )
}

/// Puts events in ibc-go's order: each core `message` event after the event it accompanies,
/// and the application's events of a received packet (emitted by ibc-go's `OnRecvPacket`)
/// before `write_acknowledgement`.
pub fn reorder(events: Vec<IbcEvent>) -> Vec<IbcEvent> {
    let mut out = companions_after(events);
    if let Some(ack) = out
        .iter()
        .position(|e| matches!(e, IbcEvent::WriteAcknowledgement(_)))
    {
        // [.., write_acknowledgement, message, module events..] → [.., module events.., write_acknowledgement, message]
        let ack_len = match out.get(ack + 1) {
            Some(IbcEvent::Message(_)) => 2,
            _ => 1,
        };
        let module_end = out[ack + ack_len..]
            .iter()
            .position(|e| !matches!(e, IbcEvent::Module(_)))
            .map_or(out.len(), |i| ack + ack_len + i);
        out[ack..module_end].rotate_left(ack_len);
    }
    out
}

/// Puts each core `message` event after the event it accompanies.
fn companions_after(events: Vec<IbcEvent>) -> Vec<IbcEvent> {
    let mut out = Vec::with_capacity(events.len());
    let mut iter = events.into_iter().peekable();
    while let Some(event) = iter.next() {
        let next_is_companion = iter
            .peek()
            .is_some_and(|next| !matches!(next, IbcEvent::Message(_)));
        if is_core_message(&event) && next_is_companion {
            if let Some(next) = iter.next() {
                out.push(next);
            }
        }
        out.push(event);
    }
    out
}

/// Converts ibc-rs events (in ibc-rs order) to ABCI events in ibc-go's order and shape.
pub fn to_abci(events: Vec<IbcEvent>) -> Result<Vec<Event>, TxError> {
    reorder(events)
        .into_iter()
        .map(|e| {
            let mut event = Event::try_from(e).map_err(|err| {
                TxError::sdk(1, format!("cannot encode IBC event: {err}: internal"))
            })?;
            if PACKET_EVENTS.contains(&event.kind.as_str())
                && attribute(&event, "connection_id").is_none()
            {
                if let Some(conn) = attribute(&event, "packet_connection").map(str::to_string) {
                    let attr: EventAttribute = ("connection_id", conn).index().into();
                    event.attributes.push(attr);
                }
            }
            Ok(event)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use ibc::core::router::types::event::ModuleEvent;

    use super::*;

    fn module(kind: &str) -> IbcEvent {
        IbcEvent::Module(ModuleEvent {
            kind: kind.to_string(),
            attributes: vec![("k", "v").into()],
        })
    }

    #[test]
    fn core_message_events_follow_their_event() {
        let events = vec![
            IbcEvent::Message(MessageEvent::Channel),
            module("recv_packet"),
            IbcEvent::Message(MessageEvent::Channel),
            module("write_acknowledgement"),
            module("fungible_token_packet"),
            module("ibc_transfer"),
            IbcEvent::Message(MessageEvent::Module("transfer".to_string())),
        ];
        let kinds: Vec<String> = to_abci(events)
            .unwrap()
            .into_iter()
            .map(|e| {
                if e.kind == "message" {
                    format!("message:{}", attribute(&e, "module").unwrap_or_default())
                } else {
                    e.kind
                }
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "recv_packet",
                "message:ibc_channel",
                "write_acknowledgement",
                "message:ibc_channel",
                "fungible_token_packet",
                "ibc_transfer",
                "message:transfer",
            ]
        );
    }
}
