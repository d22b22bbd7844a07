//! Packing protobuf messages into `google.protobuf.Any`, the envelope every tx message, client
//! state, header and account travels in: the type URL is `/` + the message's full protobuf
//! name, the value its encoding.

use ibc_proto::google::protobuf::Any;
use prost::{Message, Name};

/// Packs a protobuf message as an `Any` with its type URL (`/` + full name).
pub fn to_any<M: Message + Name>(msg: &M) -> Any {
    Any {
        type_url: M::type_url(),
        value: msg.encode_to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ibc_proto::cosmos::bank::v1beta1::MsgSend;

    #[test]
    fn to_any_uses_the_type_url() {
        let msg = MsgSend {
            from_address: "a".into(),
            ..Default::default()
        };
        let any = to_any(&msg);
        assert_eq!(any.type_url, "/cosmos.bank.v1beta1.MsgSend");
        assert_eq!(MsgSend::decode(any.value.as_slice()).unwrap(), msg);
    }
}
