//! Finding the channels to relay: the open channels between chain A and chain B that the
//! `[relay] channels` filter allows, each checked from both ends ([`discover`]), and naming one
//! channel on the command line ([`ChannelChoice`]). A channel CLOSED on one end (or both) is
//! relayed too while the other end still holds packet commitments: its worker times them out
//! with `MsgTimeoutOnClose` and refunds their senders (nothing can be received over a closed
//! end); one without commitments left is not started. The supervisor rediscovers every
//! [`RESCAN_INTERVAL`] to start workers for new channels; `arke clear` discovers once.
//!
//! A round lists A's channels (one paged query) and checks only the channels it does not know
//! yet: the supervisor skips those whose workers run, so an idle daemon with hundreds of channels
//! pays one listing per rescan, not several queries per channel. Connections and their clients
//! are looked up once per round, however many channels share them. A check that fails for one
//! channel is reported with it and retried at the next round; the others still start.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use ibc_proto::ibc::core::channel::v1::{Order, State};
use ibc_proto::ibc::core::connection::v1::ConnectionEnd;

use super::channel::{ChannelEnd, ChannelSpec, Side};
use super::ChainHandle;
use crate::chain::query::QueryError;
use crate::config::Config;

/// How often the supervisor looks for newly opened channels.
pub(crate) const RESCAN_INTERVAL: Duration = Duration::from_secs(30);

/// What a discovery round found.
#[derive(Default)]
pub(crate) struct Discovered {
    /// The channels to relay (those not skipped).
    pub(crate) specs: Vec<ChannelSpec>,
    /// Channels (`port/channel` on A) whose check failed this round, with why.
    pub(crate) failed: Vec<(String, QueryError)>,
}

/// A connection on A checked once per round: its end and whether its client tracks chain B.
type CheckedConnection = Option<(ConnectionEnd, bool)>;

/// The open channels between A and B that the filter allows, except those `skip` names (by
/// port and channel on A).
pub(crate) async fn discover(
    config: &Config,
    a: &Arc<ChainHandle>,
    b: &Arc<ChainHandle>,
    skip: &(dyn Fn(&str, &str) -> bool + Sync),
) -> Result<Discovered, QueryError> {
    let mut found = Discovered::default();
    let mut connections: HashMap<String, CheckedConnection> = HashMap::new();
    let open_or_closed = |state: i32| state == State::Open as i32 || state == State::Closed as i32;
    for ch in a.query.channels().await? {
        if !open_or_closed(ch.state)
            || !config.relay.channels.permits(&ch.port_id, &ch.channel_id)
            || skip(&ch.port_id, &ch.channel_id)
        {
            continue;
        }
        let Some(cp) = ch.counterparty.clone() else {
            continue;
        };
        let Some(conn_id) = ch.connection_hops.first() else {
            continue;
        };
        let name = format!("{}/{}", ch.port_id, ch.channel_id);
        let checked = match connections.get(conn_id) {
            Some(c) => c.clone(),
            None => match check_connection(a, b, conn_id).await {
                Ok(c) => {
                    connections.insert(conn_id.clone(), c.clone());
                    c
                }
                Err(e) => {
                    found.failed.push((name, e));
                    continue;
                }
            },
        };
        // The connection's client must be a client of chain B.
        let Some((conn_a, true)) = checked else {
            continue;
        };
        let Some(conn_cp) = conn_a.counterparty.clone() else {
            continue;
        };
        // The counterparty channel must exist on B and point back at us.
        let ch_b = match b.query.channel(&cp.port_id, &cp.channel_id).await {
            Ok(Some(c)) => c,
            Ok(None) => continue,
            Err(e) => {
                found.failed.push((name, e));
                continue;
            }
        };
        let back = ch_b.counterparty.clone().unwrap_or_default();
        if back.channel_id != ch.channel_id || !open_or_closed(ch_b.state) {
            continue;
        }
        let closed = [ch.state, ch_b.state].map(|s| s == State::Closed as i32);
        if closed.iter().any(|c| *c) {
            // Only the commitments on the end facing a CLOSED one can still be finished (timed
            // out on close); without them there is nothing to do.
            let pending = |chain: &Arc<ChainHandle>, port: &str, channel: &str| {
                let (chain, port, channel) = (chain.clone(), port.to_string(), channel.to_string());
                async move { chain.query.packet_commitments(&port, &channel).await }
            };
            let mut left = false;
            if closed[1] {
                match pending(a, &ch.port_id, &ch.channel_id).await {
                    Ok(seqs) => left |= !seqs.is_empty(),
                    Err(e) => {
                        found.failed.push((name, e));
                        continue;
                    }
                }
            }
            if closed[0] && !left {
                match pending(b, &cp.port_id, &cp.channel_id).await {
                    Ok(seqs) => left |= !seqs.is_empty(),
                    Err(e) => {
                        found.failed.push((name, e));
                        continue;
                    }
                }
            }
            if !left {
                continue;
            }
        }
        found.specs.push(ChannelSpec {
            a: ChannelEnd {
                chain: a.clone(),
                port: ch.port_id.clone(),
                channel: ch.channel_id.clone(),
                client_id: conn_a.client_id.clone(),
            },
            b: ChannelEnd {
                chain: b.clone(),
                port: cp.port_id.clone(),
                channel: cp.channel_id.clone(),
                client_id: conn_cp.client_id.clone(),
            },
            ordered: ch.ordering == Order::Ordered as i32,
            clear_interval: config.relay.clear_interval,
            clear_on_start: config.relay.clear_on_start,
            closed: Arc::new(closed.map(AtomicBool::new)),
        });
    }
    Ok(found)
}

/// Connection `id` on A, and whether its client is a client of chain B (`None`: no such
/// connection).
async fn check_connection(
    a: &ChainHandle,
    b: &ChainHandle,
    id: &str,
) -> Result<CheckedConnection, QueryError> {
    let Some(conn) = a.query.connection(id).await? else {
        return Ok(None);
    };
    let tracks_b = a
        .query
        .client_state(&conn.client_id)
        .await?
        .is_some_and(|cs| cs.chain_id == b.config.id);
    Ok(Some((conn, tracks_b)))
}

/// One channel named on the command line: its id on chain A (`channel-0`, `a:channel-0` or
/// `<chain a id>:channel-0`), or on chain B (`b:channel-3` or `<chain b id>:channel-3`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ChannelChoice {
    /// The chain the id is on.
    pub(crate) side: Side,
    /// The channel id there.
    pub(crate) channel: String,
}

impl ChannelChoice {
    /// Reads `wanted` for the pair of chains `a_id` and `b_id`. A prefix that names neither
    /// chain is part of the id (on chain A).
    pub(crate) fn parse(wanted: &str, a_id: &str, b_id: &str) -> Self {
        let (side, channel) = match wanted.split_once(':') {
            Some((side, id)) if side == "b" || side == b_id => (Side::B, id),
            Some((side, id)) if side == "a" || side == a_id => (Side::A, id),
            _ => (Side::A, wanted),
        };
        Self {
            side,
            channel: channel.to_string(),
        }
    }

    /// Whether the channel with id `on_a` on chain A and `on_b` on chain B is the one chosen.
    pub(crate) fn matches(&self, on_a: &str, on_b: &str) -> bool {
        match self.side {
            Side::A => on_a == self.channel,
            Side::B => on_b == self.channel,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_is_named_on_either_chain() {
        let pick = |w: &str| ChannelChoice::parse(w, "alpha-1", "beta-1");
        assert_eq!(pick("channel-0").side, Side::A);
        assert_eq!(pick("a:channel-0").channel, "channel-0");
        assert_eq!(pick("b:channel-3").side, Side::B);
        assert_eq!(pick("beta-1:channel-3").side, Side::B);
        assert_eq!(pick("alpha-1:channel-3").side, Side::A);
        assert_eq!(pick("other:channel-3").channel, "other:channel-3");
        assert!(pick("b:channel-3").matches("channel-9", "channel-3"));
        assert!(!pick("channel-3").matches("channel-9", "channel-3"));
    }
}
