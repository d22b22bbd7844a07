//! Finding the channels to relay: the open channels between chain A and chain B that the
//! `[relay] channels` filter allows, each checked from both ends ([`Discovery`]), and naming one
//! channel on the command line ([`ChannelChoice`]). A channel CLOSED on one end (or both) is
//! relayed too while the other end still holds packet commitments: its worker times them out
//! with `MsgTimeoutOnClose` and refunds their senders (nothing can be received over a closed
//! end); one without commitments left is not started. `arke clear` discovers once
//! ([`discover`]).
//!
//! The daemon does not poll for new channels: its supervisor lists every channel once at start
//! ([`Discovery::all`]), then checks only the channels named by the channel events its event
//! hubs deliver ([`Discovery::named`]: an end opened by `channel_open_ack` /
//! `channel_open_confirm`, or closed), and lists everything again only every `rescan_interval`
//! (default 30 min) and whenever a hub passed over events it could not route. A channel opened
//! while the daemon runs starts being relayed within a block or two of its last handshake step,
//! at the cost of a few queries for that channel alone.
//!
//! A full round lists A's channels (one paged query) and checks only the channels the
//! supervisor does not run yet, so an idle daemon pays one listing per rescan, not queries per
//! channel. A connection is looked up once: an OPEN connection (and whether its client tracks
//! chain B) is remembered for the daemon's life, since neither changes once open; others once
//! per round. A check that fails for one channel is reported with it (the supervisor retries it
//! soon); the others still start.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use ibc_proto::ibc::core::channel::v1::{IdentifiedChannel, Order, State};
use ibc_proto::ibc::core::connection::v1::{ConnectionEnd, State as ConnectionState};

use super::channel::{ChannelEnd, ChannelSpec, Side};
use super::ChainHandle;
use crate::chain::query::QueryError;
use crate::config::Config;

/// How soon the supervisor retries a discovery that failed (a listing, or one channel's check)
/// once the daemon is ready; before that, start-up backs off from 1 s.
pub(crate) const RETRY_INTERVAL: Duration = Duration::from_secs(30);

/// What a discovery round found.
#[derive(Default)]
pub(crate) struct Discovered {
    /// The channels to relay (those not skipped).
    pub(crate) specs: Vec<ChannelSpec>,
    /// Channels (`port`, `channel` on A) whose check failed this round, with why.
    pub(crate) failed: Vec<((String, String), QueryError)>,
}

/// A connection on A checked: its end and whether its client tracks chain B.
type CheckedConnection = Option<(ConnectionEnd, bool)>;

/// Discovery's memory between rounds: the OPEN connections of A already checked.
#[derive(Default)]
pub(crate) struct Discovery {
    open_connections: HashMap<String, (ConnectionEnd, bool)>,
}

/// The open channels between A and B that the filter allows, except those `skip` names (by
/// port and channel on A), in one round without memory (`arke clear`).
pub(crate) async fn discover(
    config: &Config,
    a: &Arc<ChainHandle>,
    b: &Arc<ChainHandle>,
    skip: &(dyn Fn(&str, &str) -> bool + Sync),
) -> Result<Discovered, QueryError> {
    Discovery::default().all(config, a, b, skip).await
}

impl Discovery {
    /// Every channel of A checked, except those `skip` names (by port and channel on A). Fails
    /// only when the listing itself fails.
    pub(crate) async fn all(
        &mut self,
        config: &Config,
        a: &Arc<ChainHandle>,
        b: &Arc<ChainHandle>,
        skip: &(dyn Fn(&str, &str) -> bool + Sync),
    ) -> Result<Discovered, QueryError> {
        let listed = a.query.channels().await?;
        Ok(self.check_all(config, a, b, listed, skip).await)
    }

    /// The channels `names` (port and channel on A) checked, except those `skip` names. A
    /// channel that does not exist (yet) is no failure.
    pub(crate) async fn named(
        &mut self,
        config: &Config,
        a: &Arc<ChainHandle>,
        b: &Arc<ChainHandle>,
        names: &[(String, String)],
        skip: &(dyn Fn(&str, &str) -> bool + Sync),
    ) -> Discovered {
        let mut listed = Vec::new();
        let mut failed = Vec::new();
        for (port, channel) in names {
            if skip(port, channel) || !config.relay.channels.permits(port, channel) {
                continue;
            }
            match a.query.channel(port, channel).await {
                Ok(Some(ch)) => listed.push(IdentifiedChannel {
                    state: ch.state,
                    ordering: ch.ordering,
                    counterparty: ch.counterparty,
                    connection_hops: ch.connection_hops,
                    version: ch.version,
                    port_id: port.clone(),
                    channel_id: channel.clone(),
                    upgrade_sequence: ch.upgrade_sequence,
                }),
                Ok(None) => {}
                Err(e) => failed.push(((port.clone(), channel.clone()), e)),
            }
        }
        let mut found = self.check_all(config, a, b, listed, skip).await;
        found.failed.extend(failed);
        found
    }

    async fn check_all(
        &mut self,
        config: &Config,
        a: &Arc<ChainHandle>,
        b: &Arc<ChainHandle>,
        listed: Vec<IdentifiedChannel>,
        skip: &(dyn Fn(&str, &str) -> bool + Sync),
    ) -> Discovered {
        let mut found = Discovered::default();
        let mut this_round: HashMap<String, CheckedConnection> = HashMap::new();
        for ch in listed {
            if !open_or_closed(ch.state)
                || !config.relay.channels.permits(&ch.port_id, &ch.channel_id)
                || skip(&ch.port_id, &ch.channel_id)
            {
                continue;
            }
            let name = (ch.port_id.clone(), ch.channel_id.clone());
            match self.check(config, a, b, &ch, &mut this_round).await {
                Ok(Some(spec)) => found.specs.push(spec),
                Ok(None) => {}
                Err(e) => found.failed.push((name, e)),
            }
        }
        found
    }

    /// Connection `id` on A, and whether its client is a client of chain B (`None`: no such
    /// connection), from memory when it was seen OPEN before.
    async fn connection(
        &mut self,
        a: &ChainHandle,
        b: &ChainHandle,
        id: &str,
        this_round: &mut HashMap<String, CheckedConnection>,
    ) -> Result<CheckedConnection, QueryError> {
        if let Some(c) = self.open_connections.get(id) {
            return Ok(Some(c.clone()));
        }
        if let Some(c) = this_round.get(id) {
            return Ok(c.clone());
        }
        let checked = check_connection(a, b, id).await?;
        match &checked {
            Some(c) if c.0.state == ConnectionState::Open as i32 => {
                self.open_connections.insert(id.to_string(), c.clone());
            }
            _ => {
                this_round.insert(id.to_string(), checked.clone());
            }
        }
        Ok(checked)
    }

    /// Channel `ch` of A checked from both ends: its spec when it is to be relayed.
    async fn check(
        &mut self,
        config: &Config,
        a: &Arc<ChainHandle>,
        b: &Arc<ChainHandle>,
        ch: &IdentifiedChannel,
        this_round: &mut HashMap<String, CheckedConnection>,
    ) -> Result<Option<ChannelSpec>, QueryError> {
        let Some(cp) = ch.counterparty.clone() else {
            return Ok(None);
        };
        let Some(conn_id) = ch.connection_hops.first() else {
            return Ok(None);
        };
        // The connection's client must be a client of chain B.
        let Some((conn_a, true)) = self.connection(a, b, conn_id, this_round).await? else {
            return Ok(None);
        };
        let Some(conn_cp) = conn_a.counterparty.clone() else {
            return Ok(None);
        };
        // The counterparty channel must exist on B and point back at us.
        let Some(ch_b) = b.query.channel(&cp.port_id, &cp.channel_id).await? else {
            return Ok(None);
        };
        let back = ch_b.counterparty.clone().unwrap_or_default();
        if back.channel_id != ch.channel_id || !open_or_closed(ch_b.state) {
            return Ok(None);
        }
        let closed = [ch.state, ch_b.state].map(|s| s == State::Closed as i32);
        if closed.iter().any(|c| *c) {
            // Only the commitments on the end facing a CLOSED one can still be finished (timed
            // out on close); without them there is nothing to do.
            let mut left = false;
            if closed[1] {
                left |= !a
                    .query
                    .packet_commitments(&ch.port_id, &ch.channel_id)
                    .await?
                    .is_empty();
            }
            if closed[0] && !left {
                left |= !b
                    .query
                    .packet_commitments(&cp.port_id, &cp.channel_id)
                    .await?
                    .is_empty();
            }
            if !left {
                return Ok(None);
            }
        }
        Ok(Some(ChannelSpec {
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
            rescan_interval: config.relay.rescan_interval,
            closed: Arc::new(closed.map(AtomicBool::new)),
        }))
    }
}

fn open_or_closed(state: i32) -> bool {
    state == State::Open as i32 || state == State::Closed as i32
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
