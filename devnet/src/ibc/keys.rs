//! The `ibc` store's key layout and value encodings, which are ibc-go's (24-host) so that
//! counterparty proofs and relayer queries of `store/ibc/key` see what a Cosmos SDK chain has.
//!
//! Paths are printed by ibc-rs's path types (`clients/07-tendermint-0/clientState`,
//! `commitments/ports/transfer/channels/channel-0/sequences/1`, ...). Values:
//! client and consensus states are Any-encoded protobuf, connection and channel ends protobuf,
//! counters and next sequences 8-byte big-endian, receipts the single byte `0x01`, packet and
//! acknowledgement commitments their 32-byte hashes, processed times big-endian nanoseconds and
//! processed heights `"{revision}-{height}"` strings. Next to each consensus state ibc-go keeps
//! an iteration key `clients/{id}/iterateConsensusStates{BE rev}{BE height}` whose value is the
//! consensus state's key; it orders consensus states numerically.

use ibc::core::client::types::Height;
use ibc::core::host::types::identifiers::ClientId;
use ibc::core::host::types::path::{ClientConsensusStatePath, ITERATE_CONSENSUS_STATE_PREFIX};

/// The store holding IBC core state.
pub const IBC_STORE: &str = "ibc";

/// The store holding ICS-20 denom traces.
pub const TRANSFER_STORE: &str = "transfer";

/// The value of a packet receipt.
pub const RECEIPT_OK: &[u8] = &[1];

/// A u64 as ibc-go stores counters and sequences: 8 bytes big-endian.
pub fn encode_u64(value: u64) -> Vec<u8> {
    value.to_be_bytes().to_vec()
}

/// Reads an 8-byte big-endian u64; `None` for any other length.
pub fn decode_u64(raw: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = raw.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// `clients/{id}/iterateConsensusStates`: the prefix of a client's iteration keys.
pub fn iterate_prefix(client_id: &ClientId) -> Vec<u8> {
    format!("clients/{client_id}/{ITERATE_CONSENSUS_STATE_PREFIX}").into_bytes()
}

/// The iteration key of a client's consensus state at `height`.
pub fn iterate_key(client_id: &ClientId, revision_number: u64, revision_height: u64) -> Vec<u8> {
    let mut key = iterate_prefix(client_id);
    key.extend_from_slice(&revision_number.to_be_bytes());
    key.extend_from_slice(&revision_height.to_be_bytes());
    key
}

/// The height an iteration key ends with.
pub fn height_of_iterate_key(prefix_len: usize, key: &[u8]) -> Option<Height> {
    let rest = key.get(prefix_len..)?;
    let rev = decode_u64(rest.get(..8)?)?;
    let height = decode_u64(rest.get(8..)?)?;
    Height::new(rev, height).ok()
}

/// The consensus-state path of `client_id` at `height`.
pub fn consensus_path(client_id: &ClientId, height: &Height) -> ClientConsensusStatePath {
    ClientConsensusStatePath::new(
        client_id.clone(),
        height.revision_number(),
        height.revision_height(),
    )
}

/// ICS-20 denom trace key in the `transfer` store: `denomTraces/{UPPERHEX hash}`.
pub fn denom_trace_key(hash_hex: &str) -> Vec<u8> {
    format!("denomTraces/{hash_hex}").into_bytes()
}

/// The prefix of every denom trace key.
pub const DENOM_TRACE_PREFIX: &[u8] = b"denomTraces/";

/// The revision number of a chain id as ibc-go parses it (`^.*[^\n-]-{1}[1-9][0-9]*$`): the
/// trailing `-N` with N not starting with 0, else 0.
pub fn revision_of_chain_id(chain_id: &str) -> u64 {
    let Some((head, tail)) = chain_id.rsplit_once('-') else {
        return 0;
    };
    if head.is_empty() || head.ends_with('-') || tail.starts_with('0') {
        return 0;
    }
    if tail.is_empty() || !tail.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    tail.parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use ibc::core::host::types::identifiers::{ChannelId, ConnectionId, PortId, Sequence};
    use ibc::core::host::types::path::{
        AckPath, ChannelEndPath, ClientConnectionPath, ClientStatePath, ClientUpdateHeightPath,
        ClientUpdateTimePath, CommitmentPath, ConnectionPath, NextChannelSequencePath,
        NextClientSequencePath, NextConnectionSequencePath, ReceiptPath, SeqAckPath, SeqRecvPath,
        SeqSendPath,
    };

    use super::*;

    #[test]
    fn paths_are_ibc_go_keys() {
        let client = ClientId::new("07-tendermint", 0).unwrap();
        let port = PortId::transfer();
        let chan = ChannelId::new(3);
        let seq = Sequence::from(12);
        let cases: Vec<(String, &str)> = vec![
            (
                ClientStatePath::new(client.clone()).to_string(),
                "clients/07-tendermint-0/clientState",
            ),
            (
                ClientConsensusStatePath::new(client.clone(), 1, 42).to_string(),
                "clients/07-tendermint-0/consensusStates/1-42",
            ),
            (
                ClientUpdateTimePath::new(client.clone(), 1, 42).to_string(),
                "clients/07-tendermint-0/consensusStates/1-42/processedTime",
            ),
            (
                ClientUpdateHeightPath::new(client.clone(), 1, 42).to_string(),
                "clients/07-tendermint-0/consensusStates/1-42/processedHeight",
            ),
            (
                ClientConnectionPath::new(client.clone()).to_string(),
                "clients/07-tendermint-0/connections",
            ),
            (
                ConnectionPath::new(&ConnectionId::new(5)).to_string(),
                "connections/connection-5",
            ),
            (
                ChannelEndPath::new(&port, &chan).to_string(),
                "channelEnds/ports/transfer/channels/channel-3",
            ),
            (
                SeqSendPath::new(&port, &chan).to_string(),
                "nextSequenceSend/ports/transfer/channels/channel-3",
            ),
            (
                SeqRecvPath::new(&port, &chan).to_string(),
                "nextSequenceRecv/ports/transfer/channels/channel-3",
            ),
            (
                SeqAckPath::new(&port, &chan).to_string(),
                "nextSequenceAck/ports/transfer/channels/channel-3",
            ),
            (
                CommitmentPath::new(&port, &chan, seq).to_string(),
                "commitments/ports/transfer/channels/channel-3/sequences/12",
            ),
            (
                ReceiptPath::new(&port, &chan, seq).to_string(),
                "receipts/ports/transfer/channels/channel-3/sequences/12",
            ),
            (
                AckPath::new(&port, &chan, seq).to_string(),
                "acks/ports/transfer/channels/channel-3/sequences/12",
            ),
            (NextClientSequencePath.to_string(), "nextClientSequence"),
            (
                NextConnectionSequencePath.to_string(),
                "nextConnectionSequence",
            ),
            (NextChannelSequencePath.to_string(), "nextChannelSequence"),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn sequences_are_big_endian_and_round_trip() {
        assert_eq!(encode_u64(1), vec![0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(encode_u64(0x0102), vec![0, 0, 0, 0, 0, 0, 1, 2]);
        for v in [0, 1, 255, 256, u64::from(u32::MAX) + 7, u64::MAX] {
            assert_eq!(decode_u64(&encode_u64(v)), Some(v));
        }
        assert_eq!(decode_u64(&[1, 2, 3]), None);
        assert_eq!(decode_u64(b"{\"seq\":1}"), None);
    }

    #[test]
    fn iteration_keys_order_numerically() {
        let client = ClientId::new("07-tendermint", 2).unwrap();
        let a = iterate_key(&client, 1, 9);
        let b = iterate_key(&client, 1, 10);
        let c = iterate_key(&client, 2, 1);
        assert!(a < b && b < c);
        let prefix = iterate_prefix(&client);
        assert!(a.starts_with(&prefix));
        assert_eq!(
            height_of_iterate_key(prefix.len(), &b),
            Some(Height::new(1, 10).unwrap())
        );
        // The string keys would order 1-10 before 1-9; the iteration keys do not.
        assert!(b"1-10".as_slice() < b"1-9".as_slice());
    }

    #[test]
    fn revision_numbers_parse_like_ibc_go() {
        assert_eq!(revision_of_chain_id("devnet-1"), 1);
        assert_eq!(revision_of_chain_id("cosmoshub-4"), 4);
        assert_eq!(revision_of_chain_id("chain-a-12"), 12);
        assert_eq!(revision_of_chain_id("devnet"), 0);
        assert_eq!(revision_of_chain_id("devnet-0"), 0);
        assert_eq!(revision_of_chain_id("devnet-01"), 0);
        assert_eq!(revision_of_chain_id("devnet--1"), 0);
        assert_eq!(revision_of_chain_id("-1"), 0);
        assert_eq!(revision_of_chain_id("devnet-x"), 0);
    }
}
