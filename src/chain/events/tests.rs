//! Unit tests of the hub's parts: frame parsing, completeness, packet extraction (also from
//! mainnet `block_results` captures) and the reconnect backoff.

use super::delivery::{route, HeightInProgress};
use super::pushes::{parse_frame, BlockPush, Frame, Push};
use super::records::{
    block_from_results, channel_events, packet_events, packet_events_counted, BlockRecord,
    RawEvent, TxOutcome,
};
use super::websocket::backoff;
use super::*;
use crate::chain::types::{ChannelEvent, ChannelEventKind};

const SEND: &str = r#"[
    {"key":"packet_data_hex","value":"7b7d","index":true},
    {"key":"packet_timeout_height","value":"0-100"},
    {"key":"packet_timeout_timestamp","value":"0"},
    {"key":"packet_sequence","value":"7"},
    {"key":"packet_src_port","value":"transfer"},
    {"key":"packet_src_channel","value":"channel-0"},
    {"key":"packet_dst_port","value":"transfer"},
    {"key":"packet_dst_channel","value":"channel-1"}]"#;

fn tx_push(code: u32, index: u32) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":1,"result":{{"query":"tm.event='Tx'","data":{{"type":"tendermint/event/Tx",
        "value":{{"TxResult":{{"height":"57","index":{index},"tx":"AA==","result":{{"code":{code},
        "events":[{{"type":"message","attributes":[]}},{{"type":"send_packet","attributes":{SEND}}}]}}}}}}}},"events":{{}}}}}}"#
    )
}

#[test]
fn parses_tx_pushes_and_extracts_packets() {
    let Ok(Frame::Push(Push::Tx(t))) = parse_frame(&tx_push(0, 1)) else {
        panic!("not a tx push");
    };
    assert_eq!((t.height, t.index, t.outcome.code), (57, 1, 0));
    let block = BlockRecord {
        height: 57,
        txs: vec![
            t.outcome.clone(),
            TxOutcome {
                code: 5,
                ..t.outcome
            },
        ],
        ..Default::default()
    };
    let events = packet_events("c", &block);
    assert_eq!(events.len(), 1, "failed txs do not count");
    let PacketEvent::Send { height, packet } = &events[0] else {
        panic!("not a send: {events:?}");
    };
    assert_eq!(
        (*height, packet.sequence, packet.data.as_slice()),
        (57, 7, &b"{}"[..])
    );
    assert_eq!(route(&events[0]), ("transfer".into(), "channel-0".into()));
}

#[test]
fn parses_new_block_and_judges_completeness() {
    let text = format!(
        r#"{{"jsonrpc":"2.0","id":2,"result":{{"data":{{"type":"tendermint/event/NewBlock","value":{{
        "block":{{"header":{{"height":"9"}},"data":{{"txs":["AA==","AQ=="]}}}},
        "result_finalize_block":{{"events":[{{"type":"timeout_packet","attributes":{SEND}}}],"tx_results":[{{}},{{"code":3}}]}}}}}}}}}}"#
    );
    let Ok(Frame::Push(Push::Block(b))) = parse_frame(&text) else {
        panic!("not a block push");
    };
    assert_eq!((b.height, b.tx_count), (9, 2));
    // The tx bytes give the hashes confirmations look for.
    assert_eq!(
        b.hashes,
        Some(vec![cosmos::tx_hash(&[0]), cosmos::tx_hash(&[1])])
    );
    let mut p = HeightInProgress::new();
    p.block = Some(b.clone());
    let rec = p.complete().expect("v0.38 push is complete");
    assert_eq!(rec.txs[1].code, 3);
    assert!(matches!(
        packet_events("c", &rec)[..],
        [PacketEvent::TimedOut { height: 9, .. }]
    ));
    // Without tx results (v0.37), completeness needs every tx push.
    let mut p = HeightInProgress::new();
    p.block = Some(BlockPush {
        tx_results: None,
        ..b
    });
    assert!(p.complete().is_none());
    p.txs.insert(1, TxOutcome::default());
    assert!(p.complete().is_none());
    p.txs.insert(0, TxOutcome::default());
    assert_eq!(p.complete().map(|r| r.txs.len()), Some(2));
}

#[test]
fn malformed_frames_are_errors_not_panics() {
    for text in [
        "",
        "nope",
        "{}",
        r#"{"result":{"data":{"type":"tendermint/event/Tx"}}}"#,
        r#"{"result":{"data":{"type":"tendermint/event/Tx","value":{"TxResult":{"height":1,"result":{"events":7}}}}}}"#,
        r#"{"result":{"data":{"type":"tendermint/event/NewBlock","value":{"block":{}}}}}"#,
        r#"{"result":{"data":{"type":"x","value":{}}}}"#,
    ] {
        assert!(parse_frame(text).is_err(), "{text}");
    }
    assert_eq!(
        parse_frame(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#),
        Ok(Frame::Ack)
    );
    let canceled = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"Server error","data":"subscription was canceled (reason: client is not pulling messages fast enough)"}}"#;
    assert!(
        matches!(parse_frame(canceled), Ok(Frame::Error(e)) if e.contains("subscription was canceled"))
    );
    // A malformed packet event is skipped, not fatal.
    let block = BlockRecord {
        height: 1,
        end: vec![RawEvent {
            kind: "send_packet".into(),
            attributes: vec![("packet_sequence".into(), "x".into())],
        }],
        ..Default::default()
    };
    assert!(packet_events("c", &block).is_empty());
}

/// A mainnet `block_results` capture, decoded as the RPC client decodes it.
fn mainnet_block(relative: &str) -> BlockRecord {
    let body = crate::chain::fixtures::read(relative);
    let r: tendermint_rpc::endpoint::block_results::Response =
        crate::chain::rpc::decode_response("http://mainnet.invalid/", "block_results", &body)
            .unwrap_or_else(|e| panic!("{relative}: {e}"));
    block_from_results(&r)
}

fn kinds(events: &[RawEvent]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

fn count(events: &[RawEvent], kind: &str) -> usize {
    events.iter().filter(|e| e.kind == kind).count()
}

#[test]
fn decodes_mainnet_block_results() {
    // v0.34 shapes: begin/end block events, no finalize events.
    let gaia = mainnet_block("gaia_fixtures/incoming/block_results_at_height_4555980.json");
    assert_eq!(gaia.height, 4_555_980);
    assert_eq!(gaia.txs.len(), 4);
    assert!(gaia.txs.iter().all(|t| t.code == 0));
    assert_eq!(
        (gaia.begin.len(), count(&gaia.begin, "commission")),
        (62, 24)
    );
    assert_eq!(
        kinds(&gaia.end),
        ["injective.exchange.v1beta1.EventBatchDepositUpdate"]
    );
    assert_eq!(
        kinds(&gaia.txs[0].events),
        [
            "tx",
            "tx",
            "coin_spent",
            "coin_received",
            "transfer",
            "message",
            "tx",
            "message",
            "injective.exchange.v1beta1.EventCancelSpotOrder"
        ]
    );

    let osmosis = mainnet_block("osmosis_fixtures/incoming/block_results_at_height_10499831.json");
    assert_eq!(osmosis.height, 10_499_831);
    assert_eq!(osmosis.txs.len(), 8);
    assert_eq!(osmosis.begin.len(), 308);
    assert!(osmosis.end.is_empty());
    let recvs: Vec<usize> = osmosis
        .txs
        .iter()
        .map(|t| count(&t.events, "recv_packet"))
        .collect();
    assert_eq!(recvs, [0, 1, 3, 0, 0, 0, 0, 0]);
    // Its IBC traffic (v0.34: base64 attributes), read as the hub reads it.
    let events = packet_events("osmosis-1", &osmosis);
    let received: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            PacketEvent::Recv { packet, .. } => Some(packet),
            _ => None,
        })
        .collect();
    assert_eq!(received.len(), 4, "{events:?}");
    let first = received[0];
    assert_eq!(first.sequence, 146_549);
    assert_eq!(
        (
            first.source_channel.as_str(),
            first.destination_channel.as_str()
        ),
        ("channel-17", "channel-47")
    );
    let acks = events
        .iter()
        .filter(|e| matches!(e, PacketEvent::WriteAck { .. }))
        .count();
    assert_eq!(acks, 4);

    // v0.38: finalize block events (without a type), plain attributes.
    let dydx = mainnet_block("dydx_fixtures/incoming/block_results_at_height_12791634.json");
    assert_eq!((dydx.height, dydx.txs.len()), (12_791_634, 1));
    assert_eq!(kinds(&dydx.end), ["", "", "", ""]);
    assert_eq!(
        dydx.end[0].attributes,
        [(
            String::new(),
            "\n0/dydxprotocol.clob.MsgProposedOperationsResponse".to_string()
        )]
    );

    // Failed txs keep their code; their events never count.
    let sei = mainnet_block("sei_fixtures/incoming/block_results_with_failed_txs.json");
    assert_eq!(sei.txs.len(), 28);
    let codes: Vec<u32> = sei.txs.iter().map(|t| t.code).collect();
    assert_eq!(&codes[..3], [32, 32, 0]);
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), 26);
    assert_eq!((sei.end.len(), count(&sei.end, "rewards")), (81, 40));
}

/// Every `block_results` capture and every websocket capture (`subscribe_*`) the tendermint-rpc
/// package ships decodes as the hub decodes it, and every named network contributes events.
#[test]
fn decodes_every_shipped_capture() {
    use std::collections::BTreeMap;
    // Per network: (files decoded, events read).
    let mut seen: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let files = crate::chain::fixtures::captures(&["block_results", "subscribe_"]);
    assert!(
        !files.is_empty(),
        "no captures found in the tendermint-rpc package"
    );
    for (network, name, body) in &files {
        let events = if name.starts_with("block_results") {
            let r: tendermint_rpc::endpoint::block_results::Response =
                crate::chain::rpc::decode_response(
                    "http://capture.invalid/",
                    "block_results",
                    body,
                )
                .unwrap_or_else(|e| panic!("{network}/{name}: {e}"));
            let block = block_from_results(&r);
            assert_eq!(block.height, r.height.value(), "{network}/{name}");
            assert!(block.height > 0, "{network}/{name}");
            // Extraction never fails on real data (malformed packet events would be logged).
            let _ = packet_events(network, &block);
            block.begin.len()
                + block.end.len()
                + block.txs.iter().map(|t| t.events.len()).sum::<usize>()
        } else {
            let value: serde_json::Value =
                serde_json::from_slice(body).unwrap_or_else(|e| panic!("{network}/{name}: {e}"));
            // A subscription's answer is captured as its bare `result` (`{}`); on the wire it
            // came in the JSON-RPC envelope.
            let text = if value.get("jsonrpc").is_some() {
                value.to_string()
            } else {
                serde_json::json!({"jsonrpc": "2.0", "id": 1, "result": value}).to_string()
            };
            match parse_frame(&text).unwrap_or_else(|e| panic!("{network}/{name}: {e}")) {
                Frame::Push(Push::Block(b)) => {
                    assert!(b.height > 0, "{network}/{name}");
                    b.begin.len()
                        + b.end.len()
                        + b.tx_results
                            .iter()
                            .flatten()
                            .map(|t| t.events.len())
                            .sum::<usize>()
                }
                Frame::Push(Push::Tx(t)) => {
                    assert!(t.height > 0, "{network}/{name}");
                    t.outcome.events.len()
                }
                Frame::Ack | Frame::Error(_) => 0,
                Frame::Push(other) => panic!("{network}/{name}: unexpected {other:?}"),
            }
        };
        let entry = seen.entry(network.clone()).or_default();
        entry.0 += 1;
        entry.1 += events;
    }
    for network in crate::chain::fixtures::NETWORKS {
        let (files, events) = seen.get(*network).copied().unwrap_or_default();
        assert!(files > 0, "no capture of {network} decoded; found {seen:?}");
        assert!(
            events > 0,
            "the captures of {network} gave no events: {seen:?}"
        );
    }
}

#[test]
fn backoff_grows_to_the_cap_with_jitter() {
    let (min, max) = (Duration::from_millis(100), Duration::from_secs(5));
    for attempt in 0..40 {
        let d = backoff(attempt, min, max);
        let full = (min * 2u32.saturating_pow(attempt.min(16))).min(max);
        assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
    }
}

fn raw(kind: &str, attrs: &[(&str, &str)]) -> RawEvent {
    RawEvent {
        kind: kind.into(),
        attributes: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

#[test]
fn channel_events_that_open_or_close_an_end_are_extracted() {
    let end = |kind: &str, channel: &str| {
        raw(
            kind,
            &[
                ("port_id", "transfer"),
                ("channel_id", channel),
                ("counterparty_port_id", "transfer"),
                ("counterparty_channel_id", "channel-9"),
                ("connection_id", "connection-0"),
            ],
        )
    };
    let ok = |events| TxOutcome {
        events,
        ..Default::default()
    };
    let block = BlockRecord {
        height: 12,
        txs: vec![
            ok(vec![
                end("channel_open_init", "channel-1"),
                end("channel_open_ack", "channel-2"),
                end("channel_open_confirm", "channel-3"),
            ]),
            // A failed tx opens nothing.
            TxOutcome {
                code: 7,
                events: vec![end("channel_open_ack", "channel-4")],
                ..Default::default()
            },
            ok(vec![
                end("channel_close_init", "channel-5"),
                raw("channel_close_confirm", &[("port_id", "transfer")]),
            ]),
        ],
        end: vec![end("channel_close_confirm", "channel-6")],
        ..Default::default()
    };
    let got: Vec<(ChannelEventKind, String)> = channel_events(&block)
        .into_iter()
        .map(|e| (e.kind, e.channel))
        .collect();
    use ChannelEventKind::{Closed, Opened};
    assert_eq!(
        got,
        [
            (Opened, "channel-2".to_string()),
            (Opened, "channel-3".to_string()),
            (Closed, "channel-5".to_string()),
            (Closed, "channel-6".to_string()),
        ]
    );
    assert_eq!(
        channel_events(&block)[0],
        ChannelEvent {
            height: 12,
            kind: Opened,
            port: "transfer".into(),
            channel: "channel-2".into(),
            counterparty_port: "transfer".into(),
            counterparty_channel: "channel-9".into(),
        }
    );
}

#[test]
fn malformed_packet_events_are_counted() {
    let block = BlockRecord {
        height: 3,
        txs: vec![TxOutcome {
            events: vec![raw("send_packet", &[("packet_sequence", "x")])],
            ..Default::default()
        }],
        ..Default::default()
    };
    let (events, malformed) = packet_events_counted("c", &block);
    assert!(events.is_empty());
    assert_eq!(malformed, 1);
}

#[test]
fn pushes_keep_the_attributes_of_packet_events_only() {
    let Ok(Frame::Push(Push::Tx(t))) = parse_frame(&tx_push(0, 0)) else {
        panic!("not a tx push");
    };
    let kinds: Vec<&str> = t.outcome.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["message", "send_packet"]);
    assert!(t.outcome.events[0].attributes.is_empty());
    assert_eq!(t.outcome.events[1].attributes.len(), 8);
    // A non-packet event's odd attributes are not even looked at; a packet event's odd fields
    // read as empty strings, as before.
    let text = r#"{"jsonrpc":"2.0","id":1,"result":{"data":{"type":"tendermint/event/Tx","value":{"TxResult":{"height":"3","result":{"events":[
        {"type":"coin_spent","attributes":[{"key":{"x":[1]},"value":7}]},
        {"type":"recv_packet","attributes":[{"key":"packet_sequence","value":null},{"value":"x"}]}]}}}}},"events":{"tm.event":["Tx"]}}"#;
    let Ok(Frame::Push(Push::Tx(t))) = parse_frame(text) else {
        panic!("not a tx push");
    };
    assert!(t.outcome.events[0].attributes.is_empty());
    assert_eq!(
        t.outcome.events[1].attributes,
        [
            ("packet_sequence".to_string(), String::new()),
            (String::new(), "x".to_string())
        ]
    );
}
