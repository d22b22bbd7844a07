//! Finding the channels to relay: the open channels between chain A and chain B that the
//! `[relay] channels` filter allows, each checked from both ends ([`discover`]), and naming one
//! channel on the command line ([`ChannelChoice`]). The supervisor rediscovers every
//! [`RESCAN_INTERVAL`] to start workers for new channels; client refresh does the same to
//! watch their clients; `arke clear` discovers once.

use std::sync::Arc;
use std::time::Duration;

use ibc_proto::ibc::core::channel::v1::{Order, State};

use super::channel::{ChannelEnd, ChannelSpec, Side};
use super::ChainHandle;
use crate::chain::query::QueryError;
use crate::config::Config;

/// How often the supervisor looks for newly opened channels.
pub(crate) const RESCAN_INTERVAL: Duration = Duration::from_secs(30);

/// The open channels between A and B that the filter allows.
pub(crate) async fn discover(
    config: &Config,
    a: &Arc<ChainHandle>,
    b: &Arc<ChainHandle>,
) -> Result<Vec<ChannelSpec>, QueryError> {
    let mut specs = Vec::new();
    for ch in a.query.channels().await? {
        if ch.state != State::Open as i32
            || !config.relay.channels.permits(&ch.port_id, &ch.channel_id)
        {
            continue;
        }
        let Some(cp) = ch.counterparty.clone() else {
            continue;
        };
        let Some(conn_id) = ch.connection_hops.first() else {
            continue;
        };
        let Some(conn_a) = a.query.connection(conn_id).await? else {
            continue;
        };
        let Some(conn_cp) = conn_a.counterparty.clone() else {
            continue;
        };
        // The counterparty channel must exist on B and point back at us.
        let Some(ch_b) = b.query.channel(&cp.port_id, &cp.channel_id).await? else {
            continue;
        };
        let back = ch_b.counterparty.clone().unwrap_or_default();
        if back.channel_id != ch.channel_id || ch_b.state != State::Open as i32 {
            continue;
        }
        // The connection's client must be a client of chain B.
        match a.query.client_state(&conn_a.client_id).await? {
            Some(cs) if cs.chain_id == b.config.id => {}
            _ => continue,
        }
        specs.push(ChannelSpec {
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
        });
    }
    Ok(specs)
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
