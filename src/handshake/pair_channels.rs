//! The channels between the two chains of a pair, with both ends' states: what
//! `arke query channels` lists, and where the search for an unfinished channel handshake looks.
//!
//! Only reads, no handshaking. It lives beside the handshakes rather than in the chain layer
//! because it answers in their identifiers ([`ChannelEnds`], [`ConnectionEnds`]) and matches a
//! channel to the pair through its connection's client, as the handshakes do.

use std::collections::BTreeMap;

use ibc_proto::ibc::core::channel::v1 as chan;

use super::channels::ChannelEnds;
use super::clients::client_chain;
use super::connections::{counterparty_conn, ConnectionEnds};
use super::HandshakeError;
use crate::chain::query::IbcQuerier;

/// A channel on `a` whose connection leads to `b`, with both ends' states.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PairChannel {
    /// The identifiers (the `b` side may be empty while the handshake is at INIT).
    pub ends: ChannelEnds,
    /// State on `a` (`OPEN`, `INIT`, …).
    pub(crate) state_a: String,
    /// State on `b` (empty when the end does not exist).
    pub(crate) state_b: String,
    /// `ORDERED` or `UNORDERED`.
    pub ordering: String,
    /// Application version on `a`.
    pub(crate) version: String,
}

impl PairChannel {
    /// Whether both ends are OPEN.
    pub fn is_open(&self) -> bool {
        self.state_a == "OPEN" && self.state_b == "OPEN"
    }
}

fn chan_state_name(state: i32) -> String {
    chan::State::try_from(state)
        .map(|s| s.as_str_name().trim_start_matches("STATE_").to_string())
        .unwrap_or_else(|_| format!("{state}"))
}

/// `ORDERED`, `UNORDERED`, … (the number when unknown).
pub(super) fn order_name(order: i32) -> String {
    chan::Order::try_from(order)
        .map(|s| s.as_str_name().trim_start_matches("ORDER_").to_string())
        .unwrap_or_else(|_| format!("{order}"))
}

/// Every channel on `a` whose connection's client tracks `b`, with its counterparty end on `b`.
pub async fn pair_channels(
    a: &IbcQuerier,
    b: &IbcQuerier,
) -> std::result::Result<Vec<PairChannel>, HandshakeError> {
    let step = "list channels";
    let err = |q: &IbcQuerier, r: String| HandshakeError::new(q.chain_id(), step, r);
    let channels = a.channels().await.map_err(|e| err(a, e.to_string()))?;
    // connection on a → (client on a, connection on b, client on b), or None when not towards b.
    let mut connections: BTreeMap<String, Option<ConnectionEnds>> = BTreeMap::new();
    let mut out = Vec::new();
    for c in channels {
        let Some(conn_a) = c.connection_hops.first().cloned() else {
            continue;
        };
        if !connections.contains_key(&conn_a) {
            let ends = match a
                .connection(&conn_a)
                .await
                .map_err(|e| err(a, e.to_string()))?
            {
                Some(end) => {
                    let tracked = client_chain(a, &end.client_id)
                        .await
                        .map_err(|e| err(a, e.to_string()))?;
                    let (client_b, connection_b) = counterparty_conn(&end);
                    (tracked == b.chain_id()).then(|| ConnectionEnds {
                        client_a: end.client_id.clone(),
                        client_b: client_b.to_string(),
                        connection_a: conn_a.clone(),
                        connection_b: connection_b.to_string(),
                    })
                }
                None => None,
            };
            connections.insert(conn_a.clone(), ends);
        }
        let Some(Some(connection)) = connections.get(&conn_a).cloned() else {
            continue;
        };
        let (port_b, channel_b) = c
            .counterparty
            .as_ref()
            .map(|p| (p.port_id.clone(), p.channel_id.clone()))
            .unwrap_or_default();
        let state_b = if channel_b.is_empty() {
            String::new()
        } else {
            match b
                .channel(&port_b, &channel_b)
                .await
                .map_err(|e| err(b, e.to_string()))?
            {
                Some(end) => chan_state_name(end.state),
                None => String::new(),
            }
        };
        out.push(PairChannel {
            ends: ChannelEnds {
                connection,
                port_a: c.port_id.clone(),
                channel_a: c.channel_id.clone(),
                port_b,
                channel_b,
            },
            state_a: chan_state_name(c.state),
            state_b,
            ordering: order_name(c.ordering),
            version: c.version.clone(),
        });
    }
    Ok(out)
}

/// Every channel between the pair seen from `a`: those on `a` ([`pair_channels`]), then those
/// that exist only on `b` so far (INIT there, no end on `a` yet), turned to `a`'s side.
pub(crate) async fn pair_channels_both_sides(
    a: &IbcQuerier,
    b: &IbcQuerier,
) -> std::result::Result<Vec<PairChannel>, HandshakeError> {
    let mut list = pair_channels(a, b).await?;
    for c in pair_channels(b, a).await? {
        if c.ends.channel_b.is_empty() || c.state_b.is_empty() {
            list.push(PairChannel {
                ends: ChannelEnds {
                    connection: c.ends.connection.reversed(),
                    port_a: c.ends.port_b,
                    channel_a: c.ends.channel_b,
                    port_b: c.ends.port_a,
                    channel_b: c.ends.channel_a,
                },
                state_a: c.state_b,
                state_b: c.state_a,
                ordering: c.ordering,
                version: c.version,
            });
        }
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_are_short() {
        assert_eq!(chan_state_name(chan::State::Open as i32), "OPEN");
        assert_eq!(chan_state_name(chan::State::Tryopen as i32), "TRYOPEN");
        assert_eq!(order_name(chan::Order::Unordered as i32), "UNORDERED");
    }
}
