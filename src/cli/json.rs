//! The JSON documents that `--json` prints: `arke query pending|channels|client` and
//! `arke keys list`. They are defined here, apart from the library types they are read from, so
//! that a change inside the relayer cannot change what scripts parse; the README documents them
//! and the tests below pin them. Fields are only ever added.

use serde::Serialize;

use crate::chain::client_status::{ClientHealth, ClientStatus};
use crate::handshake::PairChannel;
use crate::relay::clearing::{ChannelPending, Direction};
use crate::tx::keys::KeyInfo;

/// `arke query pending --json`: one per open channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct PendingJson {
    /// Packets sent on chain a, and their acknowledgements.
    pub(crate) a_to_b: DirectionJson,
    /// Packets sent on chain b, and their acknowledgements.
    pub(crate) b_to_a: DirectionJson,
}

/// One direction of a channel in [`PendingJson`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct DirectionJson {
    /// Sending chain id.
    pub(crate) src_chain: String,
    /// Port on the sending chain.
    pub(crate) src_port: String,
    /// Channel on the sending chain.
    pub(crate) src_channel: String,
    /// Receiving chain id.
    pub(crate) dst_chain: String,
    /// Sequences committed on the source and not received on the destination, ascending.
    pub(crate) unreceived_packets: Vec<u64>,
    /// Sequences whose acknowledgement is written on the destination and not relayed back.
    pub(crate) unreceived_acks: Vec<u64>,
}

impl From<&Direction> for DirectionJson {
    fn from(d: &Direction) -> Self {
        Self {
            src_chain: d.src_chain.clone(),
            src_port: d.src_port.clone(),
            src_channel: d.src_channel.clone(),
            dst_chain: d.dst_chain.clone(),
            unreceived_packets: d.unreceived_packets.clone(),
            unreceived_acks: d.unreceived_acks.clone(),
        }
    }
}

impl From<&ChannelPending> for PendingJson {
    fn from(p: &ChannelPending) -> Self {
        Self {
            a_to_b: (&p.a_to_b).into(),
            b_to_a: (&p.b_to_a).into(),
        }
    }
}

/// `arke query channels --json`: one per channel between the two chains.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct ChannelJson {
    /// The identifiers on both chains.
    pub(crate) ends: ChannelEndsJson,
    /// State on chain a (`OPEN`, `INIT`, `TRYOPEN`, `CLOSED`, …).
    pub(crate) state_a: String,
    /// State on chain b (empty while the handshake has no end there).
    pub(crate) state_b: String,
    /// `ORDERED` or `UNORDERED`.
    pub(crate) ordering: String,
    /// Application version on chain a.
    pub(crate) version: String,
}

/// The identifiers of a channel in [`ChannelJson`] (`…_b` empty while there is no end on b).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct ChannelEndsJson {
    /// The connection under the channel.
    pub(crate) connection: ConnectionJson,
    /// Port on chain a.
    pub(crate) port_a: String,
    /// Channel on chain a.
    pub(crate) channel_a: String,
    /// Port on chain b.
    pub(crate) port_b: String,
    /// Channel on chain b.
    pub(crate) channel_b: String,
}

/// A connection and its clients in [`ChannelEndsJson`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct ConnectionJson {
    /// Client of chain b on chain a.
    pub(crate) client_a: String,
    /// Client of chain a on chain b.
    pub(crate) client_b: String,
    /// Connection on chain a.
    pub(crate) connection_a: String,
    /// Connection on chain b.
    pub(crate) connection_b: String,
}

impl From<&PairChannel> for ChannelJson {
    fn from(c: &PairChannel) -> Self {
        let e = &c.ends;
        let k = &e.connection;
        Self {
            ends: ChannelEndsJson {
                connection: ConnectionJson {
                    client_a: k.client_a.clone(),
                    client_b: k.client_b.clone(),
                    connection_a: k.connection_a.clone(),
                    connection_b: k.connection_b.clone(),
                },
                port_a: e.port_a.clone(),
                channel_a: e.channel_a.clone(),
                port_b: e.port_b.clone(),
                channel_b: e.channel_b.clone(),
            },
            state_a: c.state_a.clone(),
            state_b: c.state_b.clone(),
            ordering: c.ordering.clone(),
            version: c.version.clone(),
        }
    }
}

/// `arke query client --json`: the state of a client and how long until it expires.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct ClientJson {
    /// Host chain.
    pub(crate) host_chain: String,
    /// Client id.
    pub(crate) client_id: String,
    /// The chain the client tracks.
    pub(crate) tracked_chain: String,
    /// Latest height, `revision-height`.
    pub(crate) latest_height: String,
    /// Time of the consensus state at the latest height, Unix seconds.
    pub(crate) latest_consensus_time: i64,
    /// Trusting period in seconds.
    pub(crate) trusting_period_secs: u64,
    /// Seconds left until the consensus state at the latest height leaves the trusting period,
    /// by the host chain's clock (negative: expired).
    pub(crate) seconds_until_expiry: i64,
    /// Frozen (misbehaviour found)?
    pub(crate) frozen: bool,
    /// `active`, `expired` or `frozen`.
    pub(crate) status: String,
}

impl From<&ClientStatus> for ClientJson {
    fn from(s: &ClientStatus) -> Self {
        let h = s.latest_height;
        Self {
            host_chain: s.host_chain.clone(),
            client_id: s.client_id.clone(),
            tracked_chain: s.tracked_chain.clone(),
            latest_height: format!("{}-{}", h.revision_number, h.revision_height),
            latest_consensus_time: i64::try_from(s.consensus_time_ns / 1_000_000_000)
                .unwrap_or(i64::MAX),
            trusting_period_secs: s.trusting_period.as_secs(),
            seconds_until_expiry: s.seconds_until_expiry(),
            frozen: s.health == ClientHealth::Frozen,
            status: s.health.to_string(),
        }
    }
}

/// `arke keys list --json`: one per readable key file, by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct KeyJson {
    /// Key name (the file name without `.json`).
    pub(crate) name: String,
    /// Bech32 address.
    pub(crate) address: String,
    /// Its bech32 prefix.
    pub(crate) account_prefix: String,
    /// HD derivation path.
    pub(crate) hd_path: String,
}

impl From<&KeyInfo> for KeyJson {
    fn from(k: &KeyInfo) -> Self {
        Self {
            name: k.name.clone(),
            address: k.address.clone(),
            account_prefix: k.account_prefix.clone(),
            hd_path: k.hd_path.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn value<T: Serialize>(v: &T) -> serde_json::Value {
        serde_json::to_value(v).unwrap()
    }

    // The documented shapes: a renamed or removed field fails here.

    #[test]
    fn pending_shape() {
        let d = DirectionJson {
            src_chain: "a-1".into(),
            src_port: "transfer".into(),
            src_channel: "channel-0".into(),
            dst_chain: "b-1".into(),
            unreceived_packets: vec![1, 2],
            unreceived_acks: vec![],
        };
        let p = PendingJson {
            a_to_b: d.clone(),
            b_to_a: d,
        };
        let dir = json!({
            "src_chain": "a-1", "src_port": "transfer", "src_channel": "channel-0",
            "dst_chain": "b-1", "unreceived_packets": [1, 2], "unreceived_acks": []
        });
        assert_eq!(value(&p), json!({ "a_to_b": dir, "b_to_a": dir }));
    }

    #[test]
    fn channel_shape() {
        let c = ChannelJson {
            ends: ChannelEndsJson {
                connection: ConnectionJson {
                    client_a: "07-tendermint-0".into(),
                    client_b: "07-tendermint-1".into(),
                    connection_a: "connection-0".into(),
                    connection_b: "connection-1".into(),
                },
                port_a: "transfer".into(),
                channel_a: "channel-0".into(),
                port_b: "transfer".into(),
                channel_b: "channel-2".into(),
            },
            state_a: "OPEN".into(),
            state_b: "OPEN".into(),
            ordering: "UNORDERED".into(),
            version: "ics20-1".into(),
        };
        assert_eq!(
            value(&c),
            json!({
                "ends": {
                    "connection": {
                        "client_a": "07-tendermint-0", "client_b": "07-tendermint-1",
                        "connection_a": "connection-0", "connection_b": "connection-1"
                    },
                    "port_a": "transfer", "channel_a": "channel-0",
                    "port_b": "transfer", "channel_b": "channel-2"
                },
                "state_a": "OPEN", "state_b": "OPEN", "ordering": "UNORDERED", "version": "ics20-1"
            })
        );
    }

    #[test]
    fn client_shape() {
        let c = ClientJson {
            host_chain: "a-1".into(),
            client_id: "07-tendermint-0".into(),
            tracked_chain: "b-1".into(),
            latest_height: "1-42".into(),
            latest_consensus_time: 1_700_000_000,
            trusting_period_secs: 1_209_600,
            seconds_until_expiry: -5,
            frozen: false,
            status: "expired".into(),
        };
        assert_eq!(
            value(&c),
            json!({
                "host_chain": "a-1", "client_id": "07-tendermint-0", "tracked_chain": "b-1",
                "latest_height": "1-42", "latest_consensus_time": 1_700_000_000,
                "trusting_period_secs": 1_209_600, "seconds_until_expiry": -5,
                "frozen": false, "status": "expired"
            })
        );
    }

    #[test]
    fn key_shape() {
        let k = KeyJson {
            name: "relayer".into(),
            address: "cosmos1x".into(),
            account_prefix: "cosmos".into(),
            hd_path: "m/44'/118'/0'/0/0".into(),
        };
        assert_eq!(
            value(&k),
            json!({
                "name": "relayer", "address": "cosmos1x", "account_prefix": "cosmos",
                "hd_path": "m/44'/118'/0'/0/0"
            })
        );
    }
}
