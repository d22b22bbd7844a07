//! Reading ABCI events: the attributes of an event as strings, and the lookups relayers and
//! tests make on a tx's events (the `client_id` of `create_client`, the `packet_sequence` of
//! every `send_packet`, every `write_acknowledgement` as a key → value map).
//!
//! CometBFT v0.37+ attributes are plain strings, but the type allows bytes: an attribute whose
//! key or value is not UTF-8 is skipped (a lookup of its key finds no value).

use std::collections::BTreeMap;

use tendermint::abci::Event;

/// The attributes of `event` as `(key, value)` string pairs, in order.
pub fn attribute_pairs(event: &Event) -> impl Iterator<Item = (&str, &str)> {
    event
        .attributes
        .iter()
        .filter_map(|a| Some((a.key_str().ok()?, a.value_str().ok()?)))
}

/// The attributes of `event` as a key → value map (for a repeated key, the last value).
pub fn attributes(event: &Event) -> BTreeMap<String, String> {
    attribute_pairs(event)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The value of the first attribute of `event` with `key`.
pub fn attribute<'e>(event: &'e Event, key: &str) -> Option<&'e str> {
    event
        .attributes
        .iter()
        .find(|a| a.key_bytes() == key.as_bytes())
        .and_then(|a| a.value_str().ok())
}

/// Every event of type `kind`, each as a key → value map, in order.
pub fn events_of(events: &[Event], kind: &str) -> Vec<BTreeMap<String, String>> {
    events
        .iter()
        .filter(|e| e.kind == kind)
        .map(attributes)
        .collect()
}

/// The value of the first attribute `key` among the events of type `kind`.
pub fn event_attr(events: &[Event], kind: &str, key: &str) -> Option<String> {
    events
        .iter()
        .filter(|e| e.kind == kind)
        .flat_map(|e| e.attributes.iter())
        .find(|a| a.key_bytes() == key.as_bytes())
        .and_then(|a| a.value_str().ok().map(str::to_string))
}

/// The value of attribute `key` of every event of type `kind` that has it, in order.
pub fn event_attrs(events: &[Event], kind: &str, key: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.kind == kind)
        .filter_map(|e| attribute(e, key).map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tendermint::abci::{EventAttribute, EventAttributeIndexExt};

    fn events() -> Vec<Event> {
        vec![
            Event::new("message", [("module", "ibc_channel").index()]),
            Event::new(
                "send_packet",
                [
                    ("packet_sequence", "1").index(),
                    ("packet_src_channel", "channel-0").index(),
                ],
            ),
            Event::new(
                "send_packet",
                [
                    ("packet_sequence", "2").index(),
                    ("packet_src_channel", "channel-0").index(),
                ],
            ),
            Event::new(
                "create_client",
                [("client_id", "07-tendermint-0").no_index()],
            ),
        ]
    }

    #[test]
    fn lookups() {
        let events = events();
        assert_eq!(
            event_attr(&events, "create_client", "client_id").as_deref(),
            Some("07-tendermint-0")
        );
        assert_eq!(
            event_attr(&events, "send_packet", "packet_sequence").as_deref(),
            Some("1")
        );
        assert_eq!(event_attr(&events, "send_packet", "client_id"), None);
        assert_eq!(
            event_attrs(&events, "send_packet", "packet_sequence"),
            vec!["1", "2"]
        );
        let sent = events_of(&events, "send_packet");
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[1]["packet_sequence"], "2");
        assert_eq!(sent[1]["packet_src_channel"], "channel-0");
        assert_eq!(attribute(&events[0], "module"), Some("ibc_channel"));
        assert_eq!(
            attribute_pairs(&events[1]).collect::<Vec<_>>(),
            vec![
                ("packet_sequence", "1"),
                ("packet_src_channel", "channel-0")
            ]
        );
    }

    #[test]
    fn attributes_that_are_not_utf8_are_skipped() {
        let mut event = Event::new("x", [("a", "1").index()]);
        event.attributes.push(EventAttribute::V034(
            tendermint::abci::v0_34::EventAttribute {
                key: b"b".to_vec(),
                value: vec![0xff, 0xfe],
                index: false,
            },
        ));
        assert_eq!(attribute_pairs(&event).count(), 1);
        assert_eq!(attributes(&event).len(), 1);
        assert_eq!(attribute(&event, "a"), Some("1"));
        assert_eq!(attribute(&event, "b"), None);
        assert_eq!(event_attr(&[event], "x", "b"), None);
    }
}
