//! Unit tests of the engine's pure parts: NOOP responses, CheckTx codes, plan splitting and
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
