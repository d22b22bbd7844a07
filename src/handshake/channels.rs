//! ICS-04 channels: the four steps (as the channel end type of the step driver), opening a
//! channel over a connection (resuming a half-finished one), and [`ensure_channel`], which also
//! makes or finishes the clients and connection under it.

use cosmos::to_any;
use std::collections::BTreeMap;
use std::time::Duration;

use ibc_proto::ibc::core::channel::v1 as chan;

use super::clients::ClientOptions;
use super::connections::{
    connection_end, connection_ends, counterparty_conn, create_clients_and_connection,
    find_open_connection, open_connection, ConnectionEnds,
};
use super::driver::{self, Handshake, OnChain, Plan};
use super::resume::{find_unfinished_channel, find_unfinished_connection, EndState, HandshakeEnd};
use super::{Endpoint, Result};

/// What channel to open: the ports on both chains, the ordering and the application version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelRequest {
    /// Port on `a`.
    pub port_a: String,
    /// Port on `b`.
    pub port_b: String,
    /// Ordering.
    pub ordering: chan::Order,
    /// Application version proposed on INIT (e.g. `ics20-1`).
    pub version: String,
}

/// The identifiers of a channel between `a` and `b`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ChannelEnds {
    /// The connection under it.
    pub connection: ConnectionEnds,
    /// Port on `a`.
    pub port_a: String,
    /// Channel on `a`.
    pub channel_a: String,
    /// Port on `b`.
    pub port_b: String,
    /// Channel on `b`.
    pub channel_b: String,
}

/// The outcome of [`open_channel`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedChannel {
    /// The channel.
    pub ends: ChannelEnds,
    /// The unfinished state it was continued from, if any.
    pub resumed_from: Option<String>,
}

/// The channel end type of the step driver: a channel end on the starting side `a` is found by
/// `port_a` and its id; the rest is read from the chains.
pub(super) struct ChannelHandshake<'p> {
    pub(super) port_a: &'p str,
}

impl HandshakeEnd for chan::Channel {
    fn end_state(&self) -> EndState {
        match chan::State::try_from(self.state) {
            Ok(chan::State::Init) => EndState::Init,
            Ok(chan::State::Tryopen) => EndState::TryOpen,
            Ok(chan::State::Open) => EndState::Open,
            _ => EndState::Other,
        }
    }
    fn counterparty_id(&self) -> &str {
        chan_counterparty(self).1
    }
}

impl Handshake for ChannelHandshake<'_> {
    const NAME: &'static str = "channel";
    const ID_KEY: &'static str = "channel_id";
    type End = chan::Channel;

    async fn plan_try(&self, a: &Endpoint, b: &Endpoint, id_a: &str, step: &str) -> Result<Plan> {
        let port_a = self.port_a;
        let end_a = channel_end(a, port_a, id_a, step).await?;
        let port_b = end_a
            .counterparty
            .as_ref()
            .map(|c| c.port_id.clone())
            .ok_or_else(|| a.err(step, format!("channel {port_a}/{id_a} has no counterparty")))?;
        let (conn_b, client_b) = hop_on_counterparty(a, b, &end_a, step).await?;
        let (port_a, chan_a, signer) = (port_a.to_string(), id_a.to_string(), b.signer.clone());
        Ok(Plan {
            client: client_b,
            path: channel_path(&port_a, &chan_a),
            prove_client: None,
            msg: Box::new(move |p| {
                #[allow(deprecated)]
                let msg = chan::MsgChannelOpenTry {
                    port_id: port_b,
                    channel: Some(chan::Channel {
                        state: chan::State::Tryopen as i32,
                        ordering: end_a.ordering,
                        counterparty: Some(chan::Counterparty {
                            port_id: port_a,
                            channel_id: chan_a,
                        }),
                        connection_hops: vec![conn_b],
                        version: end_a.version.clone(),
                        upgrade_sequence: 0,
                    }),
                    counterparty_version: end_a.version,
                    proof_init: p.end,
                    proof_height: Some(p.height),
                    signer,
                    ..Default::default()
                };
                to_any(&msg)
            }),
        })
    }

    async fn plan_ack(
        &self,
        a: &Endpoint,
        b: &Endpoint,
        id_a: &str,
        id_b: &str,
        step: &str,
    ) -> Result<Plan> {
        let end_a = channel_end(a, self.port_a, id_a, step).await?;
        let port_b = chan_counterparty(&end_a).0.to_string();
        let end_b = channel_end(b, &port_b, id_b, step).await?;
        let client_a = {
            let conn_a = end_a
                .connection_hops
                .first()
                .ok_or_else(|| a.err(step, "channel has no connection hop"))?;
            connection_end(a, conn_a, step).await?.client_id
        };
        let (port_a, chan_a, chan_b, signer) = (
            self.port_a.to_string(),
            id_a.to_string(),
            id_b.to_string(),
            a.signer.clone(),
        );
        Ok(Plan {
            client: client_a,
            path: channel_path(&port_b, &chan_b),
            prove_client: None,
            msg: Box::new(move |p| {
                to_any(&chan::MsgChannelOpenAck {
                    port_id: port_a,
                    channel_id: chan_a,
                    counterparty_channel_id: chan_b,
                    counterparty_version: end_b.version,
                    proof_try: p.end,
                    proof_height: Some(p.height),
                    signer,
                })
            }),
        })
    }

    async fn plan_confirm(
        &self,
        a: &Endpoint,
        b: &Endpoint,
        id_a: &str,
        id_b: &str,
        step: &str,
    ) -> Result<Plan> {
        let end_a = channel_end(a, self.port_a, id_a, step).await?;
        let port_b = chan_counterparty(&end_a).0.to_string();
        let (_, client_b) = hop_on_counterparty(a, b, &end_a, step).await?;
        let (chan_b, signer) = (id_b.to_string(), b.signer.clone());
        Ok(Plan {
            client: client_b,
            path: channel_path(self.port_a, id_a),
            prove_client: None,
            msg: Box::new(move |p| {
                to_any(&chan::MsgChannelOpenConfirm {
                    port_id: port_b,
                    channel_id: chan_b,
                    proof_ack: p.end,
                    proof_height: Some(p.height),
                    signer,
                })
            }),
        })
    }
}

fn channel_path(port: &str, channel: &str) -> String {
    format!("channelEnds/ports/{port}/channels/{channel}")
}

/// `MsgChannelOpenInit` on `a` over `connection_a`; returns the new channel id on `a`.
pub async fn chan_open_init(
    a: &Endpoint,
    connection_a: &str,
    request: &ChannelRequest,
) -> Result<String> {
    let msg = chan::MsgChannelOpenInit {
        port_id: request.port_a.clone(),
        channel: Some(chan::Channel {
            state: chan::State::Init as i32,
            ordering: request.ordering as i32,
            counterparty: Some(chan::Counterparty {
                port_id: request.port_b.clone(),
                channel_id: String::new(),
            }),
            connection_hops: vec![connection_a.to_string()],
            version: request.version.clone(),
            upgrade_sequence: 0,
        }),
        signer: a.signer.clone(),
    };
    driver::init::<ChannelHandshake>(a, to_any(&msg)).await
}

/// `MsgChannelOpenTry` on `b` for channel `port_a/chan_a` in INIT on `a`; returns the new
/// channel id on `b`.
pub async fn chan_open_try(
    a: &Endpoint,
    b: &Endpoint,
    port_a: &str,
    chan_a: &str,
) -> Result<String> {
    driver::open_try(&ChannelHandshake { port_a }, a, b, chan_a).await
}

async fn channel_end(chain: &Endpoint, port: &str, id: &str, step: &str) -> Result<chan::Channel> {
    chain
        .querier
        .channel(port, id)
        .await
        .map_err(|e| chain.err(step, format!("channel {port}/{id}: {e}")))?
        .ok_or_else(|| chain.err(step, format!("channel {port}/{id} does not exist")))
}

/// The connection on `b` facing the first hop of `end_a` on `a`, and the client of `a` on `b`.
async fn hop_on_counterparty(
    a: &Endpoint,
    b: &Endpoint,
    end_a: &chan::Channel,
    step: &str,
) -> Result<(String, String)> {
    let conn_a = end_a
        .connection_hops
        .first()
        .ok_or_else(|| a.err(step, "channel has no connection hop"))?;
    let end = connection_end(a, conn_a, step).await?;
    let conn_b = counterparty_conn(&end).1.to_string();
    if conn_b.is_empty() {
        return Err(a.err(step, format!("connection {conn_a} is not open")));
    }
    let end_b = connection_end(b, &conn_b, step).await?;
    Ok((conn_b, end_b.client_id))
}

/// The counterparty's (port, channel id) of `end`; empty when it has none.
fn chan_counterparty(end: &chan::Channel) -> (&str, &str) {
    end.counterparty
        .as_ref()
        .map(|c| (c.port_id.as_str(), c.channel_id.as_str()))
        .unwrap_or(("", ""))
}

/// The channels on `a` over `connection_a` from `port_a` to `port_b` with `ordering`.
async fn channels_between(
    a: &Endpoint,
    connection_a: &str,
    port_a: &str,
    port_b: &str,
    ordering: chan::Order,
) -> Result<BTreeMap<String, chan::Channel>> {
    let step = "look for an unfinished channel";
    let all = a
        .querier
        .channels()
        .await
        .map_err(|e| a.err(step, format!("channels: {e}")))?;
    Ok(all
        .into_iter()
        .filter(|c| {
            c.port_id == port_a
                && c.ordering == ordering as i32
                && c.connection_hops.first().map(String::as_str) == Some(connection_a)
                && c.counterparty.as_ref().map(|p| p.port_id.as_str()) == Some(port_b)
        })
        .map(|c| {
            let end = chan::Channel {
                state: c.state,
                ordering: c.ordering,
                counterparty: c.counterparty,
                connection_hops: c.connection_hops,
                version: c.version,
                upgrade_sequence: c.upgrade_sequence,
            };
            (c.channel_id, end)
        })
        .collect())
}

/// Opens a channel over `connection` between `a` and `b`, continuing an unfinished handshake
/// over the same connection, ports and ordering when there is one (started on either side),
/// else starting one on `a`.
pub async fn open_channel(
    a: &Endpoint,
    b: &Endpoint,
    connection: &ConnectionEnds,
    request: &ChannelRequest,
) -> Result<OpenedChannel> {
    let (port_a, port_b, ordering) = (&request.port_a, &request.port_b, request.ordering);
    let side_a = OnChain {
        chain: a,
        kind: ChannelHandshake { port_a },
        ends: channels_between(a, &connection.connection_a, port_a, port_b, ordering).await?,
    };
    let side_b = OnChain {
        chain: b,
        kind: ChannelHandshake { port_a: port_b },
        ends: channels_between(b, &connection.connection_b, port_b, port_a, ordering).await?,
    };
    let init = chan_open_init(a, &connection.connection_a, request);
    let opened = driver::open(side_a, side_b, init).await?;
    Ok(OpenedChannel {
        ends: ChannelEnds {
            connection: connection.clone(),
            port_a: request.port_a.clone(),
            channel_a: opened.id_a,
            port_b: request.port_b.clone(),
            channel_b: opened.id_b,
        },
        resumed_from: opened.resumed_from,
    })
}

/// Which connection [`ensure_channel`] opens the channel on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectionChoice {
    /// New clients and a new connection.
    New,
    /// This connection on `a` (must be open).
    Existing(String),
    /// The connection of an unfinished channel handshake, else of an unfinished connection
    /// handshake (finished first), else an open connection between the pair, else new clients
    /// and a new connection.
    Any,
}

/// Opens a channel between `a` and `b` on the connection `choice` gives, creating or finishing
/// clients and the connection as needed.
pub async fn ensure_channel(
    a: &Endpoint,
    b: &Endpoint,
    request: &ChannelRequest,
    choice: &ConnectionChoice,
    client_options: &ClientOptions,
    delay: Duration,
) -> Result<OpenedChannel> {
    let connection = match choice {
        ConnectionChoice::New => create_clients_and_connection(a, b, client_options, delay).await?,
        ConnectionChoice::Existing(id) => connection_ends(&a.querier, &b.querier, id).await?,
        ConnectionChoice::Any => {
            let (qa, qb) = (&a.querier, &b.querier);
            let (port_a, port_b) = (&request.port_a, &request.port_b);
            if let Some(ends) =
                find_unfinished_channel(qa, qb, port_a, port_b, request.ordering).await?
            {
                ends
            } else if let Some((client_a, client_b)) = find_unfinished_connection(qa, qb).await? {
                open_connection(a, b, &client_a, &client_b, delay)
                    .await?
                    .ends
            } else if let Some(ends) = find_open_connection(qa, qb).await? {
                ends
            } else {
                create_clients_and_connection(a, b, client_options, delay).await?
            }
        }
    };
    open_channel(a, b, &connection, request).await
}

/// Compile-time check: a handshake future can run on any tokio worker (the trait's futures are
/// `Send`, so the generic driver's are too).
#[cfg(test)]
#[allow(dead_code)]
fn opening_a_channel_is_send<'f>(
    a: &'f Endpoint,
    b: &'f Endpoint,
    request: &'f ChannelRequest,
    choice: &'f ConnectionChoice,
    options: &'f ClientOptions,
) -> impl std::future::Future<Output = Result<OpenedChannel>> + Send + 'f {
    ensure_channel(a, b, request, choice, options, Duration::ZERO)
}
