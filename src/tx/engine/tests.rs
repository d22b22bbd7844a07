//! Unit tests of the engine's pure parts: NOOP responses, CheckTx codes, plan splitting, blame and
//! settling.

use cosmos::to_any;
use ibc_proto::cosmos::base::abci::v1beta1::TxMsgData;
use ibc_proto::google::protobuf::Any;
use ibc_proto::ibc::core::channel::v1::{MsgRecvPacketResponse, ResponseResultType};
use prost::Message;
use tokio::sync::oneshot;

use super::broadcast::{is_redundant, retryable_check};
use super::plan::{noop_responses, result_data, Effect, TxPlan, Waiter};
use super::Outcome;

use ibc_proto::ibc::core::channel::v1::MsgAcknowledgementResponse;

fn any<M: prost::Name + Message>(m: &M) -> Any {
    to_any(m)
}

#[test]
fn noop_responses_are_found() {
    let data = TxMsgData {
        msg_responses: vec![
            Any {
                type_url: "/ibc.core.client.v1.MsgUpdateClientResponse".into(),
                value: vec![],
            },
            any(&MsgRecvPacketResponse {
                result: ResponseResultType::Noop as i32,
            }),
            any(&MsgRecvPacketResponse {
                result: ResponseResultType::Success as i32,
            }),
            any(&MsgAcknowledgementResponse {
                result: ResponseResultType::Noop as i32,
            }),
        ],
        ..Default::default()
    }
    .encode_to_vec();
    assert_eq!(noop_responses(&data), vec![false, true, false, true]);
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(&data);
    assert_eq!(result_data(text.as_bytes()), data);
    assert_eq!(result_data(&data), data);
    assert!(noop_responses(b"\xff\xff").is_empty());
}

#[test]
fn check_codes() {
    assert!(is_redundant(22, "channel", ""));
    assert!(!is_redundant(22, "sdk", "other"));
    assert!(is_redundant(1, "x", "packet messages are redundant"));
    assert!(retryable_check(11, "sdk"));
    assert!(retryable_check(13, "sdk"));
    assert!(!retryable_check(4, "sdk"));
    assert!(!retryable_check(21, "sdk"));
    assert!(retryable_check(4, "client"));
}

#[test]
fn plans_split_and_settle() {
    let (tx1, mut rx1) = oneshot::channel();
    let (tx2, mut rx2) = oneshot::channel();
    let (tx3, mut rx3) = oneshot::channel();
    let lead = Any {
        type_url: "u".into(),
        value: vec![],
    };
    let m = |n: u8| Any {
        type_url: "m".into(),
        value: vec![n],
    };
    let w = |reply| Waiter {
        reply,
        effect: Effect {
            received: true,
            port: "transfer".into(),
            channel: "channel-0".into(),
            sequence: 1,
        },
    };
    let plan = TxPlan {
        lead: vec![lead],
        items: vec![(m(1), w(tx1)), (m(2), w(tx2)), (m(3), w(tx3))],
        whole: None,
        update: None,
        mode: Default::default(),
    };
    assert_eq!(plan.len(), 4);
    let (a, b) = plan.split();
    assert_eq!((a.items.len(), b.items.len()), (1, 2));
    assert_eq!(b.msgs().len(), 3);
    let data = TxMsgData {
        msg_responses: vec![
            Any::default(),
            any(&MsgRecvPacketResponse {
                result: ResponseResultType::Noop as i32,
            }),
            any(&MsgRecvPacketResponse {
                result: ResponseResultType::Success as i32,
            }),
        ],
        ..Default::default()
    }
    .encode_to_vec();
    b.settle_executed("AB", 7, &data);
    a.settle_all(Outcome::failed("x", true));
    assert_eq!(rx1.try_recv().unwrap(), Outcome::failed("x", true));
    assert_eq!(rx2.try_recv().unwrap(), Outcome::Redundant);
    assert_eq!(
        rx3.try_recv().unwrap(),
        Outcome::Done {
            tx_hash: "AB".into(),
            height: 7
        }
    );
}

/// A plan of a lead and `n` packet messages, with the receivers of its items.
fn plan_of(n: u8) -> (TxPlan, Vec<oneshot::Receiver<Outcome>>) {
    let mut items = Vec::new();
    let mut rxs = Vec::new();
    for i in 0..n {
        let (reply, rx) = oneshot::channel();
        let effect = Effect {
            received: true,
            port: "transfer".into(),
            channel: "channel-0".into(),
            sequence: u64::from(i) + 1,
        };
        let msg = Any {
            type_url: "m".into(),
            value: vec![i],
        };
        items.push((msg, Waiter { reply, effect }));
        rxs.push(rx);
    }
    let lead = vec![Any {
        type_url: "/ibc.core.client.v1.MsgUpdateClient".into(),
        value: vec![],
    }];
    let plan = TxPlan {
        lead,
        items,
        whole: None,
        update: None,
        mode: Default::default(),
    };
    (plan, rxs)
}

#[test]
fn a_failed_tx_blames_one_message() {
    // Message 3 is the third packet message (after the lead): it alone fails, for good.
    let (plan, mut rxs) = plan_of(4);
    let again = plan.blame(Some(3), "boom");
    assert_eq!(again.len(), 1);
    let sequences: Vec<u64> = again[0]
        .items
        .iter()
        .map(|(_, w)| w.effect.sequence)
        .collect();
    assert_eq!(sequences, vec![1, 2, 4]);
    assert_eq!(again[0].lead.len(), 1, "the client update leads the retry");
    assert_eq!(rxs[2].try_recv().unwrap(), Outcome::failed("boom", false));
    assert!(rxs[0].try_recv().is_err(), "not settled: sent again");

    // The lead to blame: every item fails, retryable.
    let (plan, mut rxs) = plan_of(3);
    assert!(plan.blame(Some(0), "header").is_empty());
    for rx in &mut rxs {
        assert_eq!(rx.try_recv().unwrap(), Outcome::failed("header", true));
    }

    // No index (or one out of range): halves.
    let (plan, _rxs) = plan_of(5);
    let again = plan.blame(None, "?");
    assert_eq!(
        again.iter().map(|p| p.items.len()).collect::<Vec<_>>(),
        vec![2, 3]
    );
    let (plan, _rxs) = plan_of(2);
    assert_eq!(plan.blame(Some(9), "?").len(), 2);

    // A single item, or the only item blamed: nothing is sent again.
    let (plan, mut rxs) = plan_of(1);
    assert!(plan.blame(None, "alone").is_empty());
    assert_eq!(rxs[0].try_recv().unwrap(), Outcome::failed("alone", false));
    let (plan, mut rxs) = plan_of(1);
    assert!(plan.blame(Some(1), "it").is_empty());
    assert_eq!(rxs[0].try_recv().unwrap(), Outcome::failed("it", false));

    // A message set fails as a whole.
    let (reply, mut rx) = oneshot::channel();
    let set = TxPlan {
        lead: vec![Any::default(), Any::default()],
        items: Vec::new(),
        whole: Some(reply),
        update: None,
        mode: Default::default(),
    };
    assert!(set.blame(Some(1), "set").is_empty());
    assert_eq!(rx.try_recv().unwrap(), Outcome::failed("set", true));
}

#[test]
fn the_engine_waits_within_the_daemon_grace() {
    use std::time::Duration;
    let o = super::TxEngineOptions::within_grace(Duration::from_secs(30));
    assert_eq!(o.shutdown_grace, Duration::from_secs(27));
    assert!(o.shutdown_grace < o.confirm_timeout);
    let o = super::TxEngineOptions::within_grace(Duration::from_secs(2));
    assert_eq!(o.shutdown_grace, Duration::from_millis(1500));
    let o = super::TxEngineOptions::within_grace(Duration::ZERO);
    assert_eq!(o.shutdown_grace, Duration::ZERO);
}
