//! Finding where a half-finished handshake stopped.
//!
//! [`most_advanced_step`] compares the ends of one handshake scope on both chains and names the
//! most advanced missing step (the driver's `open` runs it and the rest);
//! [`find_unfinished_connection`] and [`find_unfinished_channel`] look over a whole pair for
//! something unfinished, so that `create channel` can choose the connection to finish on.

use std::collections::BTreeMap;

use ibc_proto::ibc::core::channel::v1 as chan;
use ibc_proto::ibc::core::connection::v1 as conn;

use super::clients::client_chain;
use super::connections::{all_connections, ConnectionEnds};
use super::pair_channels::{order_name, pair_channels};
use super::{Endpoint, HandshakeError};
use crate::chain::query::IbcQuerier;

/// Where an unfinished handshake stands, seen from the side `a` that started it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum NextStep {
    /// `a` is INIT; `b` has nothing yet.
    Try { a: String },
    /// `a` is INIT, `b` is TRYOPEN.
    Ack { a: String, b: String },
    /// `a` is OPEN, `b` is TRYOPEN.
    Confirm { a: String, b: String },
}

impl NextStep {
    fn rank(&self) -> u8 {
        match self {
            NextStep::Try { .. } => 0,
            NextStep::Ack { .. } => 1,
            NextStep::Confirm { .. } => 2,
        }
    }

    /// E.g. `connection-0 INIT on devnet-1 facing connection-3 TRYOPEN`; `a` is the chain the
    /// handshake started on.
    pub(super) fn describe(&self, a: &Endpoint) -> String {
        match self {
            NextStep::Try { a: id } => format!("{id} INIT on {}", a.id()),
            NextStep::Ack { a: id, b } => format!("{id} INIT on {} facing {b} TRYOPEN", a.id()),
            NextStep::Confirm { a: id, b } => {
                format!("{id} OPEN on {} facing {b} TRYOPEN", a.id())
            }
        }
    }
}

/// Whether the handshake to continue is the one started on `b`: it is the only one, or it is
/// further along than the one started on `a`.
pub(super) fn started_on_b(from_a: &Option<NextStep>, from_b: &Option<NextStep>) -> bool {
    match (from_a, from_b) {
        (Some(sa), Some(sb)) => sb.rank() > sa.rank(),
        (None, Some(_)) => true,
        _ => false,
    }
}

/// Where an end of a connection or channel handshake stands.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum EndState {
    Init,
    TryOpen,
    Open,
    Other,
}

/// What the search needs to know of a handshake end.
pub(super) trait HandshakeEnd: Send + Sync {
    fn end_state(&self) -> EndState;
    /// The counterparty's connection or channel id.
    fn counterparty_id(&self) -> &str;
}

/// The most advanced unfinished handshake between the ends on `a` and those on `b`: INIT on a
/// facing nothing (Try) or TRYOPEN (Ack), or OPEN on a facing TRYOPEN (Confirm).
pub(super) fn most_advanced_step<E: HandshakeEnd>(
    on_a: &BTreeMap<String, E>,
    on_b: &BTreeMap<String, E>,
) -> Option<NextStep> {
    let mut stages = Vec::new();
    for (id_a, end_a) in on_a {
        if end_a.end_state() == EndState::Init {
            let tried = on_b
                .iter()
                .find(|(_, e)| e.end_state() == EndState::TryOpen && e.counterparty_id() == id_a);
            stages.push(match tried {
                Some((id_b, _)) => NextStep::Ack {
                    a: id_a.clone(),
                    b: id_b.clone(),
                },
                None => NextStep::Try { a: id_a.clone() },
            });
        }
    }
    for (id_b, end_b) in on_b {
        if end_b.end_state() != EndState::TryOpen {
            continue;
        }
        let id_a = end_b.counterparty_id();
        if let Some(end_a) = on_a.get(id_a) {
            if end_a.end_state() == EndState::Open && end_a.counterparty_id() == id_b {
                stages.push(NextStep::Confirm {
                    a: id_a.to_string(),
                    b: id_b.clone(),
                });
            }
        }
    }
    stages
        .into_iter()
        .max_by_key(|s| (s.rank(), std::cmp::Reverse(s.clone())))
}

/// The clients (`client_a`, `client_b`) of an unfinished connection handshake between `a` and
/// `b` (started on either side), if there is one.
pub async fn find_unfinished_connection(
    a: &IbcQuerier,
    b: &IbcQuerier,
) -> std::result::Result<Option<(String, String)>, HandshakeError> {
    for (first, second, flipped) in [(a, b, false), (b, a, true)] {
        let connections = all_connections(first)
            .await
            .map_err(|e| HandshakeError::new(first.chain_id(), "list connections", e))?;
        for c in connections {
            let Some(cp) = c.counterparty.as_ref() else {
                continue;
            };
            let unfinished = if c.state == conn::State::Init as i32 {
                true
            } else if c.state == conn::State::Open as i32 && !cp.connection_id.is_empty() {
                // OPEN here; unfinished when the other end is still TRYOPEN.
                matches!(
                    second.connection(&cp.connection_id).await,
                    Ok(Some(end)) if end.state == conn::State::Tryopen as i32
                )
            } else {
                false
            };
            if !unfinished {
                continue;
            }
            let tracked = client_chain(first, &c.client_id)
                .await
                .map_err(|e| HandshakeError::new(first.chain_id(), "list connections", e))?;
            if tracked != second.chain_id() {
                continue;
            }
            let pair = (c.client_id.clone(), cp.client_id.clone());
            return Ok(Some(if flipped { (pair.1, pair.0) } else { pair }));
        }
    }
    Ok(None)
}

/// The connection of an unfinished channel handshake between `a` (port `port_a`) and `b`
/// (port `port_b`) with `ordering`, started on either side, if there is one.
pub async fn find_unfinished_channel(
    a: &IbcQuerier,
    b: &IbcQuerier,
    port_a: &str,
    port_b: &str,
    ordering: chan::Order,
) -> std::result::Result<Option<ConnectionEnds>, HandshakeError> {
    let wanted = order_name(ordering as i32);
    let sides = [(a, b, port_a, port_b, false), (b, a, port_b, port_a, true)];
    for (first, second, port_first, port_second, flipped) in sides {
        for c in pair_channels(first, second).await? {
            let unfinished = matches!(
                (c.state_a.as_str(), c.state_b.as_str()),
                ("INIT", "" | "TRYOPEN") | ("OPEN", "TRYOPEN")
            );
            if unfinished
                && c.ends.port_a == port_first
                && c.ends.port_b == port_second
                && c.ordering == wanted
            {
                let ends = c.ends.connection;
                return Ok(Some(if flipped { ends.reversed() } else { ends }));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_rank_by_progress() {
        let t = NextStep::Try { a: "c-0".into() };
        let a = NextStep::Ack {
            a: "c-1".into(),
            b: "c-0".into(),
        };
        let c = NextStep::Confirm {
            a: "c-2".into(),
            b: "c-3".into(),
        };
        let best = [t.clone(), c.clone(), a]
            .into_iter()
            .max_by_key(|s| (s.rank(), std::cmp::Reverse(s.clone())));
        assert_eq!(best, Some(c));
        assert_eq!(t.rank(), 0);
    }
}
