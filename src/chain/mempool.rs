//! A chain's mempool as the relayer sees it: which packet messages other signers' txs waiting
//! there already carry, so that a TxEngine holds back its own copies instead of racing them.
//!
//! The view is one per chain, shared by the engines of all its signers and all its channels. It
//! is fetched lazily, only when an engine asks (an engine asks only while it has packet messages
//! to submit), and at most once per block: a look is keyed by the height the chain's event hub
//! delivered last, and every ask at that height gets the same [`Snapshot`]. One look is one
//! CometBFT `unconfirmed_txs` request of at most [`LIST_LIMIT`] txs (CometBFT's largest page);
//! of those at most [`MAX_DECODED_BYTES`] are decoded. Each `TxRaw` is decoded to its messages
//! (`cosmos::tx::tx_messages`) and each `MsgRecvPacket`, `MsgAcknowledgement`, `MsgTimeout`
//! and `MsgTimeoutOnClose` to the channel end it acts on and its sequence; messages signed by
//! one of our own signers are ignored (the sequence cache keeps us from racing ourselves). A tx
//! that does not decode is skipped and counted, never fatal; a node that does not serve
//! `unconfirmed_txs` ("method not found") is not asked again, and a failed look is an empty
//! snapshot: nothing is held back, the relayer behaves as without the view.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ibc_proto::ibc::core::channel::v1::{
    MsgAcknowledgement, MsgRecvPacket, MsgTimeout, MsgTimeoutOnClose, Packet,
};
use prost::Message;
use tokio::sync::watch;

use crate::chain::rpc::{RpcClient, RpcError};

/// Txs listed per look (`unconfirmed_txs` `limit`; CometBFT caps it at 100).
pub const LIST_LIMIT: u8 = 100;

/// Bytes of listed txs decoded per look; the txs beyond are skipped (counted `over_budget`).
pub const MAX_DECODED_BYTES: usize = 8 << 20;

/// Which packet message a pending tx carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketMsgKind {
    /// `MsgRecvPacket`.
    Recv,
    /// `MsgAcknowledgement`.
    Ack,
    /// `MsgTimeout`.
    Timeout,
    /// `MsgTimeoutOnClose`.
    TimeoutOnClose,
}

impl PacketMsgKind {
    /// Whether the message's effect is a receipt on this chain (`Recv`) rather than the deletion
    /// of a commitment (the others).
    pub fn receives(self) -> bool {
        self == Self::Recv
    }
}

/// One packet message of a pending tx: the end on this chain it acts on (the packet's
/// destination for `Recv`, its source otherwise), its sequence and its signer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingPacket {
    /// Which message.
    pub kind: PacketMsgKind,
    /// Port on this chain.
    pub port: String,
    /// Channel on this chain.
    pub channel: String,
    /// Packet sequence.
    pub sequence: u64,
    /// The message's signer.
    pub signer: String,
}

/// Why a pending tx could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TxDecodeError {
    /// Not a `TxRaw` with a `TxBody`.
    #[error("not a tx: {0}")]
    Tx(#[source] prost::DecodeError),
    /// A packet message that does not decode.
    #[error("{type_url}: {source}")]
    Msg {
        /// The message's type URL.
        type_url: String,
        /// The decoding error.
        #[source]
        source: prost::DecodeError,
    },
    /// A packet message without its packet.
    #[error("{0} without a packet")]
    NoPacket(String),
}

/// The packet messages of one signed tx (other messages, the client update among them, are
/// passed over).
pub fn packet_messages(tx: &[u8]) -> Result<Vec<PendingPacket>, TxDecodeError> {
    let msgs = cosmos::tx::tx_messages(tx).map_err(TxDecodeError::Tx)?;
    let mut found = Vec::new();
    for any in msgs {
        let bad = |source| TxDecodeError::Msg {
            type_url: any.type_url.clone(),
            source,
        };
        let (kind, packet, signer) = match any.type_url.as_str() {
            "/ibc.core.channel.v1.MsgRecvPacket" => {
                let m = MsgRecvPacket::decode(any.value.as_slice()).map_err(bad)?;
                (PacketMsgKind::Recv, m.packet, m.signer)
            }
            "/ibc.core.channel.v1.MsgAcknowledgement" => {
                let m = MsgAcknowledgement::decode(any.value.as_slice()).map_err(bad)?;
                (PacketMsgKind::Ack, m.packet, m.signer)
            }
            "/ibc.core.channel.v1.MsgTimeout" => {
                let m = MsgTimeout::decode(any.value.as_slice()).map_err(bad)?;
                (PacketMsgKind::Timeout, m.packet, m.signer)
            }
            "/ibc.core.channel.v1.MsgTimeoutOnClose" => {
                let m = MsgTimeoutOnClose::decode(any.value.as_slice()).map_err(bad)?;
                (PacketMsgKind::TimeoutOnClose, m.packet, m.signer)
            }
            _ => continue,
        };
        let Packet {
            sequence,
            source_port,
            source_channel,
            destination_port,
            destination_channel,
            ..
        } = packet.ok_or_else(|| TxDecodeError::NoPacket(any.type_url.clone()))?;
        let (port, channel) = if kind.receives() {
            (destination_port, destination_channel)
        } else {
            (source_port, source_channel)
        };
        found.push(PendingPacket {
            kind,
            port,
            channel,
            sequence,
            signer,
        });
    }
    Ok(found)
}

/// Where a packet message's effect lands: (a receipt?, port, channel, sequence).
type EffectKey = (bool, String, String, u64);

/// Listed txs not looked into.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Txs that did not decode.
    pub undecodable: usize,
    /// Txs beyond [`MAX_DECODED_BYTES`].
    pub over_budget: usize,
}

/// One look at the mempool: the packet messages other signers' pending txs carry.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The height (delivered by the event hub) the look was taken at.
    pub height: u64,
    /// For each packet effect some other signer's tx carries, the first such tx's hash.
    carried: HashMap<EffectKey, [u8; 32]>,
    /// What was skipped.
    pub skipped: Skipped,
}

impl Snapshot {
    /// An empty look at `height` (the node could not be asked).
    pub fn empty(height: u64) -> Self {
        Self {
            height,
            ..Self::default()
        }
    }

    /// The look made of `txs` (in mempool order; `None`: unreadable), ignoring the messages of
    /// the `own` signers and decoding at most `budget` bytes.
    pub fn from_txs(
        height: u64,
        txs: impl IntoIterator<Item = Option<Vec<u8>>>,
        own: &HashSet<String>,
        budget: usize,
    ) -> Self {
        let mut snapshot = Self::empty(height);
        let mut decoded = 0usize;
        for tx in txs {
            let Some(tx) = tx else {
                snapshot.skipped.undecodable += 1;
                continue;
            };
            if decoded.saturating_add(tx.len()) > budget {
                snapshot.skipped.over_budget += 1;
                continue;
            }
            decoded += tx.len();
            let packets = match packet_messages(&tx) {
                Ok(packets) => packets,
                Err(e) => {
                    tracing::debug!(error = %e, "skipping an undecodable mempool tx");
                    snapshot.skipped.undecodable += 1;
                    continue;
                }
            };
            let hash = cosmos::tx_hash(&tx);
            for p in packets {
                if own.contains(&p.signer) {
                    continue;
                }
                snapshot
                    .carried
                    .entry((p.kind.receives(), p.port, p.channel, p.sequence))
                    .or_insert(hash);
            }
        }
        snapshot
    }

    /// The hash of another signer's pending tx carrying a packet message with this effect: a
    /// receipt (`receives`) or a commitment deletion on `port`/`channel` of this chain.
    pub fn carried_by(
        &self,
        receives: bool,
        port: &str,
        channel: &str,
        sequence: u64,
    ) -> Option<[u8; 32]> {
        self.carried
            .get(&(receives, port.to_string(), channel.to_string(), sequence))
            .copied()
    }

    /// Packet effects carried by other signers' pending txs.
    pub fn len(&self) -> usize {
        self.carried.len()
    }

    /// Whether no other signer's pending tx carries a packet message.
    pub fn is_empty(&self) -> bool {
        self.carried.is_empty()
    }
}

struct Inner {
    rpc: RpcClient,
    chain_id: String,
    own: HashSet<String>,
    /// The heights the chain's event hub delivers: the view's clock.
    heights: watch::Receiver<u64>,
    /// The last look; one look at a time (the lock is held across the request).
    last: tokio::sync::Mutex<Option<Arc<Snapshot>>>,
    /// The node answered that it has no `unconfirmed_txs`.
    unsupported: AtomicBool,
}

/// One chain's mempool view, shared by its TxEngines. Cheap to clone.
#[derive(Clone)]
pub struct MempoolView {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MempoolView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MempoolView")
            .field("chain", &self.inner.chain_id)
            .finish_non_exhaustive()
    }
}

impl MempoolView {
    /// The view of `chain_id`'s mempool through `rpc`, ignoring the messages of the `own`
    /// signers, one look per height of `heights` (the chain's event hub's).
    pub fn new(
        rpc: RpcClient,
        chain_id: impl Into<String>,
        own: impl IntoIterator<Item = String>,
        heights: watch::Receiver<u64>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                rpc,
                chain_id: chain_id.into(),
                own: own.into_iter().collect(),
                heights,
                last: tokio::sync::Mutex::new(None),
                unsupported: AtomicBool::new(false),
            }),
        }
    }

    /// The latest height the chain's event hub delivered.
    pub fn height(&self) -> u64 {
        *self.inner.heights.borrow()
    }

    /// A look at the mempool at the latest height: the one already taken at this height, or a
    /// new one (one `unconfirmed_txs` request). Never fails: a look that could not be taken is
    /// empty.
    pub async fn look(&self) -> Arc<Snapshot> {
        let height = self.height();
        let mut last = self.inner.last.lock().await;
        if let Some(s) = last.as_ref().filter(|s| s.height >= height) {
            return s.clone();
        }
        let snapshot = Arc::new(self.fetch(height).await);
        *last = Some(snapshot.clone());
        snapshot
    }

    async fn fetch(&self, height: u64) -> Snapshot {
        let inner = &*self.inner;
        if inner.unsupported.load(Ordering::Relaxed) {
            return Snapshot::empty(height);
        }
        let chain = inner.chain_id.as_str();
        let m = crate::telemetry::metrics::metrics();
        m.mempool_fetches.inc(&[chain]);
        match inner.rpc.unconfirmed_txs(LIST_LIMIT).await {
            Ok(list) => {
                let snapshot = Snapshot::from_txs(height, list.txs, &inner.own, MAX_DECODED_BYTES);
                let Skipped {
                    undecodable,
                    over_budget,
                } = snapshot.skipped;
                if undecodable > 0 {
                    m.mempool_txs_skipped
                        .inc_by(&[chain, "undecodable"], undecodable as u64);
                }
                if over_budget > 0 {
                    m.mempool_txs_skipped
                        .inc_by(&[chain, "over_budget"], over_budget as u64);
                }
                tracing::trace!(
                    chain,
                    height,
                    total = list.total,
                    bytes = list.total_bytes,
                    foreign = snapshot.len(),
                    "looked at the mempool"
                );
                snapshot
            }
            Err(e) => {
                if is_method_not_found(&e) {
                    inner.unsupported.store(true, Ordering::Relaxed);
                    tracing::info!(
                        chain,
                        "the node does not serve unconfirmed_txs; not looking at its mempool"
                    );
                } else {
                    tracing::debug!(chain, error = %e, "mempool look failed; holding nothing back");
                }
                Snapshot::empty(height)
            }
        }
    }
}

/// JSON-RPC's "method not found".
fn is_method_not_found(e: &RpcError) -> bool {
    matches!(e, RpcError::JsonRpc { code, .. } if *code == -32601)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmos::to_any;
    use ibc_proto::ibc::core::client::v1::MsgUpdateClient;

    fn packet(sequence: u64) -> Packet {
        Packet {
            sequence,
            source_port: "transfer".into(),
            source_channel: "channel-0".into(),
            destination_port: "transfer".into(),
            destination_channel: "channel-7".into(),
            ..Default::default()
        }
    }

    fn tx(msgs: Vec<ibc_proto::google::protobuf::Any>) -> Vec<u8> {
        cosmos::tx::encode_tx_raw(cosmos::tx::encode_body(msgs, "", 0), vec![1], vec![vec![2]])
    }

    fn recv(sequence: u64, signer: &str) -> ibc_proto::google::protobuf::Any {
        to_any(&MsgRecvPacket {
            packet: Some(packet(sequence)),
            signer: signer.into(),
            ..Default::default()
        })
    }

    #[test]
    fn reads_packet_messages_on_the_end_they_act_on() {
        let raw = tx(vec![
            to_any(&MsgUpdateClient::default()),
            recv(3, "them"),
            to_any(&MsgAcknowledgement {
                packet: Some(packet(4)),
                signer: "them".into(),
                ..Default::default()
            }),
            to_any(&MsgTimeoutOnClose {
                packet: Some(packet(5)),
                signer: "them".into(),
                ..Default::default()
            }),
        ]);
        let found = packet_messages(&raw).unwrap();
        let ends: Vec<_> = found
            .iter()
            .map(|p| (p.kind, p.channel.as_str(), p.sequence))
            .collect();
        assert_eq!(
            ends,
            [
                (PacketMsgKind::Recv, "channel-7", 3),
                (PacketMsgKind::Ack, "channel-0", 4),
                (PacketMsgKind::TimeoutOnClose, "channel-0", 5)
            ]
        );
        let no_packet = tx(vec![to_any(&MsgTimeout::default())]);
        assert!(matches!(
            packet_messages(&no_packet),
            Err(TxDecodeError::NoPacket(_))
        ));
    }

    #[test]
    fn a_look_ignores_our_signers_and_skips_what_it_cannot_read() {
        let own: HashSet<String> = ["us".to_string()].into();
        let theirs = tx(vec![recv(1, "them"), recv(2, "them")]);
        let ours = tx(vec![recv(3, "us")]);
        let big = tx(vec![recv(9, "them")]);
        // The undecodable tx counts against the budget too: it was read.
        let budget = theirs.len() + 2 + ours.len();
        let s = Snapshot::from_txs(
            7,
            [
                Some(theirs.clone()),
                Some(vec![0xff, 0xff]),
                None,
                Some(ours),
                Some(big),
            ],
            &own,
            budget,
        );
        assert_eq!(s.height, 7);
        assert_eq!(
            s.skipped,
            Skipped {
                undecodable: 2,
                over_budget: 1
            }
        );
        let hash = cosmos::tx_hash(&theirs);
        assert_eq!(s.carried_by(true, "transfer", "channel-7", 1), Some(hash));
        assert_eq!(s.carried_by(true, "transfer", "channel-7", 2), Some(hash));
        // Ours, past the budget, or another effect of the same sequence: not carried.
        assert_eq!(s.carried_by(true, "transfer", "channel-7", 3), None);
        assert_eq!(s.carried_by(true, "transfer", "channel-7", 9), None);
        assert_eq!(s.carried_by(false, "transfer", "channel-7", 1), None);
        assert_eq!(s.len(), 2);
    }
}
