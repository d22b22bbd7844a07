//! Packets on a [`TestChain`]: ICS-20 transfer messages, packets read back from `send_packet`
//! events, and the chain's packet history from its committed blocks (which sequences were
//! received and when, which commitments remain, how many packets timed out), which is what
//! `arke demo` reports and the end-to-end tests check.

use std::collections::BTreeMap;

use cosmos::events::events_of;
use cosmos::{to_any, Coin};
use ibc_proto::google::protobuf::Any;
use ibc_proto::ibc::core::channel::v1::Packet;
use ibc_proto::ibc::core::client::v1 as client;
use sha2::{Digest, Sha256};

use super::TestChain;

/// Builds an ICS-20 `MsgTransfer` from `sender` over `transfer/channel`.
pub fn transfer_msg(
    sender: &str,
    receiver: &str,
    channel: &str,
    coin: &Coin,
    timeout_height: Option<client::Height>,
    timeout_timestamp_ns: u64,
) -> Any {
    transfer_msg_on(
        "transfer",
        sender,
        receiver,
        channel,
        coin,
        timeout_height,
        timeout_timestamp_ns,
    )
}

/// Builds an ICS-20 `MsgTransfer` from `sender` over `port/channel`.
pub fn transfer_msg_on(
    port: &str,
    sender: &str,
    receiver: &str,
    channel: &str,
    coin: &Coin,
    timeout_height: Option<client::Height>,
    timeout_timestamp_ns: u64,
) -> Any {
    let msg = ibc_proto::ibc::applications::transfer::v1::MsgTransfer {
        source_port: port.to_string(),
        source_channel: channel.to_string(),
        token: Some(coin.to_proto()),
        sender: sender.to_string(),
        receiver: receiver.to_string(),
        timeout_height,
        timeout_timestamp: timeout_timestamp_ns,
        memo: String::new(),
    };
    to_any(&msg)
}

/// A packet from a `send_packet` (or `write_acknowledgement`) event's attributes.
pub fn packet_from_event(
    attrs: &std::collections::BTreeMap<String, String>,
) -> Result<Packet, String> {
    let get = |k: &str| {
        attrs
            .get(k)
            .cloned()
            .ok_or_else(|| format!("event lacks {k}"))
    };
    let timeout_height = {
        let s = get("packet_timeout_height")?;
        let (rev, h) = s.split_once('-').ok_or("bad timeout height")?;
        client::Height {
            revision_number: rev.parse().map_err(|_| "bad timeout height")?,
            revision_height: h.parse().map_err(|_| "bad timeout height")?,
        }
    };
    Ok(Packet {
        sequence: get("packet_sequence")?
            .parse()
            .map_err(|_| "bad sequence")?,
        source_port: get("packet_src_port")?,
        source_channel: get("packet_src_channel")?,
        destination_port: get("packet_dst_port")?,
        destination_channel: get("packet_dst_channel")?,
        data: hex::decode(get("packet_data_hex")?).map_err(|e| e.to_string())?,
        timeout_height: Some(timeout_height),
        timeout_timestamp: get("packet_timeout_timestamp")?
            .parse()
            .map_err(|_| "bad timeout timestamp")?,
    })
}

/// Whether `chain` (the packet's source) still holds the packet's commitment.
pub fn has_commitment(chain: &TestChain, packet: &Packet) -> bool {
    let path = format!(
        "commitments/ports/{}/channels/{}/sequences/{}",
        packet.source_port, packet.source_channel, packet.sequence
    );
    !chain
        .node()
        .abci_query("store/ibc/key", path.as_bytes(), 0, false)
        .value
        .is_empty()
}

/// A tx event read back from a committed block.
#[derive(Clone, Debug)]
pub struct BlockEvent {
    /// The event's attributes.
    pub attrs: BTreeMap<String, String>,
    /// The height of the block.
    pub height: u64,
    /// The block time (ns).
    pub time: i128,
    /// The address that signed the tx (from its `tx` event's `acc_seq`, `address/sequence`).
    pub signer: String,
}

/// Every event of type `kind` in the successful txs of `chain`'s blocks from height `from` to
/// the latest, in block order.
pub fn block_events(chain: &TestChain, from: u64, kind: &str) -> Vec<BlockEvent> {
    let mut found = Vec::new();
    for height in from.max(1)..=chain.node().latest_height() {
        let Some(block) = chain.node().block(height) else {
            continue;
        };
        let time = block.block.header.time.unix_timestamp_nanos();
        for tx in chain.node().block_txs(height) {
            if tx.result.code.value() != 0 {
                continue;
            }
            let events = events_of(&tx.result.events, kind);
            if events.is_empty() {
                continue;
            }
            let signer = events_of(&tx.result.events, "tx")
                .into_iter()
                .find_map(|e| {
                    let acc_seq = e.get("acc_seq")?;
                    Some(acc_seq.split('/').next().unwrap_or_default().to_string())
                })
                .unwrap_or_default();
            found.extend(events.into_iter().map(|attrs| BlockEvent {
                attrs,
                height,
                time,
                signer: signer.clone(),
            }));
        }
    }
    found
}

/// Every successful tx event of type `kind` on `chain` whose `attr` equals `value`, with the
/// block time (ns) it was committed at.
pub fn events_with_time(
    chain: &TestChain,
    kind: &str,
    attr: &str,
    value: &str,
) -> Vec<(BTreeMap<String, String>, i128)> {
    block_events(chain, 1, kind)
        .into_iter()
        .filter(|e| e.attrs.get(attr).map(String::as_str) == Some(value))
        .map(|e| (e.attrs, e.time))
        .collect()
}

/// How many times each sequence was received on `chain` over `dst_channel`.
pub fn receive_counts(chain: &TestChain, dst_channel: &str) -> BTreeMap<u64, usize> {
    let mut counts = BTreeMap::new();
    for (e, _) in events_with_time(chain, "recv_packet", "packet_dst_channel", dst_channel) {
        if let Some(seq) = e.get("packet_sequence").and_then(|s| s.parse().ok()) {
            *counts.entry(seq).or_insert(0) += 1;
        }
    }
    counts
}

fn seq_times(events: Vec<(BTreeMap<String, String>, i128)>) -> BTreeMap<u64, i128> {
    events
        .into_iter()
        .filter_map(|(e, t)| Some((e.get("packet_sequence")?.parse().ok()?, t)))
        .collect()
}

/// The block time (ns) at which each sequence was received on `chain` over `dst_channel`.
pub fn receive_times(chain: &TestChain, dst_channel: &str) -> BTreeMap<u64, i128> {
    seq_times(events_with_time(
        chain,
        "recv_packet",
        "packet_dst_channel",
        dst_channel,
    ))
}

/// The block time (ns) at which each sequence was sent from `chain` over `src_channel`.
pub fn send_times(chain: &TestChain, src_channel: &str) -> BTreeMap<u64, i128> {
    seq_times(events_with_time(
        chain,
        "send_packet",
        "packet_src_channel",
        src_channel,
    ))
}

/// How many packets sent over `src_channel` timed out on `chain`.
pub fn timeouts(chain: &TestChain, src_channel: &str) -> usize {
    events_with_time(chain, "timeout_packet", "packet_src_channel", src_channel).len()
}

/// `ibc/HASH` of the voucher for `base` received over `port/channel`.
pub fn voucher(port: &str, channel: &str, base: &str) -> String {
    let trace = format!("{port}/{channel}/{base}");
    format!(
        "ibc/{}",
        hex::encode_upper(Sha256::digest(trace.as_bytes()))
    )
}
