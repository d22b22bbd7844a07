//! ibc-go packet event attributes (`send_packet`, `recv_packet`, `write_acknowledgement`, …)
//! read into a protobuf `Packet` and acknowledgement bytes. The event hub and packet data
//! recovery both use these, so a packet looks the same whether it came from a subscription,
//! from `block_results` or from `tx_search`.

use std::collections::BTreeMap;

use ibc_proto::ibc::core::channel::v1::Packet;
use ibc_proto::ibc::core::client::v1::Height;

/// A packet event attribute that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("packet event attribute {key}: {what}")]
pub struct PacketAttributeError {
    /// The attribute key.
    pub(crate) key: &'static str,
    /// What is wrong with it.
    pub(crate) what: String,
}

/// Builds a `Packet` from the attributes of an ibc-go packet event (`send_packet`,
/// `recv_packet`, `write_acknowledgement`, `acknowledge_packet`, `timeout_packet`), given as
/// `(key, value)` string pairs (CometBFT v0.37+ attributes are plain strings).
///
/// The data comes from `packet_data_hex`, else from the raw `packet_data` string, else is empty
/// (acknowledge and timeout events carry no data). `packet_timeout_height` is `"{rev}-{h}"`.
pub fn packet_from_attributes<K, V>(
    attributes: impl IntoIterator<Item = (K, V)>,
) -> Result<Packet, PacketAttributeError>
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let attrs: BTreeMap<String, String> = attributes
        .into_iter()
        .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string()))
        .collect();
    packet_from_map(&attrs)
}

/// The raw acknowledgement bytes of a `write_acknowledgement` event (`packet_ack_hex`, else the
/// raw `packet_ack` string).
pub(crate) fn ack_from_attributes<K, V>(
    attributes: impl IntoIterator<Item = (K, V)>,
) -> Result<Vec<u8>, PacketAttributeError>
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let attrs: BTreeMap<String, String> = attributes
        .into_iter()
        .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string()))
        .collect();
    ack_from_map(&attrs)
}

pub(super) fn packet_from_map(
    attrs: &BTreeMap<String, String>,
) -> Result<Packet, PacketAttributeError> {
    let get = |key: &'static str| {
        attrs.get(key).ok_or(PacketAttributeError {
            key,
            what: "missing".into(),
        })
    };
    let parse_u64 = |key: &'static str| {
        let v = get(key)?;
        v.parse::<u64>().map_err(|e| PacketAttributeError {
            key,
            what: format!("{v:?} is not a u64: {e}"),
        })
    };
    let timeout_height = {
        let key = "packet_timeout_height";
        let v = get(key)?;
        parse_height(v).ok_or_else(|| PacketAttributeError {
            key,
            what: format!("{v:?} is not {{revision}}-{{height}}"),
        })?
    };
    let data = if let Some(hex_data) = attrs.get("packet_data_hex") {
        hex::decode(hex_data).map_err(|e| PacketAttributeError {
            key: "packet_data_hex",
            what: format!("not hex: {e}"),
        })?
    } else if let Some(raw) = attrs.get("packet_data") {
        raw.as_bytes().to_vec()
    } else {
        Vec::new()
    };
    Ok(Packet {
        sequence: parse_u64("packet_sequence")?,
        source_port: get("packet_src_port")?.clone(),
        source_channel: get("packet_src_channel")?.clone(),
        destination_port: get("packet_dst_port")?.clone(),
        destination_channel: get("packet_dst_channel")?.clone(),
        data,
        timeout_height: Some(timeout_height),
        timeout_timestamp: parse_u64("packet_timeout_timestamp")?,
    })
}

pub(super) fn ack_from_map(
    attrs: &BTreeMap<String, String>,
) -> Result<Vec<u8>, PacketAttributeError> {
    if let Some(hex_ack) = attrs.get("packet_ack_hex") {
        hex::decode(hex_ack).map_err(|e| PacketAttributeError {
            key: "packet_ack_hex",
            what: format!("not hex: {e}"),
        })
    } else if let Some(raw) = attrs.get("packet_ack") {
        Ok(raw.as_bytes().to_vec())
    } else {
        Err(PacketAttributeError {
            key: "packet_ack_hex",
            what: "missing".into(),
        })
    }
}

/// The attributes of an event as plain text. CometBFT v0.37+ writes them plain; v0.34 wrote keys
/// and values in base64. An event none of whose keys is a `packet_*` name but all of whose keys
/// decode from base64 to text, one of them a `packet_*` name, is a v0.34 packet event: it is
/// returned decoded. Anything else is returned as it is.
pub(crate) fn plain_packet_attributes(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    use base64::Engine as _;
    let is_packet_key = |k: &str| k.starts_with("packet_");
    if pairs.is_empty() || pairs.iter().any(|(k, _)| is_packet_key(k)) {
        return pairs;
    }
    let text = |s: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
    };
    let decoded: Option<Vec<(String, String)>> = pairs
        .iter()
        .map(|(k, v)| Some((text(k)?, text(v)?)))
        .collect();
    match decoded {
        Some(d) if d.iter().any(|(k, _)| is_packet_key(k)) => d,
        _ => pairs,
    }
}

/// Parses an IBC height written `"{revision}-{height}"`.
pub(crate) fn parse_height(s: &str) -> Option<Height> {
    let (rev, h) = s.split_once('-')?;
    Some(Height {
        revision_number: rev.parse().ok()?,
        revision_height: h.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v0_34_attributes_are_decoded() {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let plain = vec![
            ("packet_sequence".to_string(), "7".to_string()),
            ("packet_src_port".to_string(), "transfer".to_string()),
        ];
        let encoded: Vec<(String, String)> = plain.iter().map(|(k, v)| (b64(k), b64(v))).collect();
        assert_eq!(plain_packet_attributes(encoded), plain);
        assert_eq!(plain_packet_attributes(plain.clone()), plain);
        // Not a packet event, or not base64: unchanged.
        let other = vec![(b64("module"), b64("bank"))];
        assert_eq!(plain_packet_attributes(other.clone()), other);
        let odd = vec![("k!".to_string(), "v".to_string())];
        assert_eq!(plain_packet_attributes(odd.clone()), odd);
    }

    #[test]
    fn packets_from_attributes() {
        let attrs = [
            ("packet_data_hex", "7b7d"),
            ("packet_timeout_height", "1-120"),
            ("packet_timeout_timestamp", "1700000000000000000"),
            ("packet_sequence", "42"),
            ("packet_src_port", "transfer"),
            ("packet_src_channel", "channel-0"),
            ("packet_dst_port", "transfer"),
            ("packet_dst_channel", "channel-3"),
            ("packet_ack_hex", "7b22726573756c74223a2241513d3d227d"),
        ];
        let p = packet_from_attributes(attrs).unwrap();
        assert_eq!(p.sequence, 42);
        assert_eq!(p.data, b"{}");
        assert_eq!(
            p.timeout_height,
            Some(Height {
                revision_number: 1,
                revision_height: 120
            })
        );
        assert_eq!(p.timeout_timestamp, 1_700_000_000_000_000_000);
        assert_eq!(p.destination_channel, "channel-3");
        assert_eq!(ack_from_attributes(attrs).unwrap(), br#"{"result":"AQ=="}"#);

        let err = packet_from_attributes(
            attrs
                .iter()
                .copied()
                .filter(|(k, _)| *k != "packet_sequence"),
        )
        .unwrap_err();
        assert_eq!(err.key, "packet_sequence");
        let err = packet_from_attributes(attrs.iter().map(|(k, v)| {
            (
                *k,
                if *k == "packet_timeout_height" {
                    "12"
                } else {
                    v
                },
            )
        }))
        .unwrap_err();
        assert_eq!(err.key, "packet_timeout_height");
        // Acknowledge / timeout events carry no data.
        let no_data = packet_from_attributes(
            attrs
                .iter()
                .copied()
                .filter(|(k, _)| *k != "packet_data_hex"),
        )
        .unwrap();
        assert!(no_data.data.is_empty());
    }
}
