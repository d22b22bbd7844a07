//! ICS-03 connections: the four steps (as the connection end type of the step driver), opening
//! a connection over two clients (resuming a half-finished one), and checking or finding an open
//! connection between the pair.

use cosmos::to_any;
use std::collections::BTreeMap;
use std::time::Duration;

use ibc_proto::cosmos::base::query::v1beta1::PageRequest;
use ibc_proto::ibc::core::commitment::v1::MerklePrefix;
use ibc_proto::ibc::core::connection::v1 as conn;
use prost::Message;

use super::clients::{client_chain, create_client, ClientOptions};
use super::driver::{self, Handshake, OnChain, Plan};
use super::resume::{EndState, HandshakeEnd};
use super::{Endpoint, HandshakeError, Result};
use crate::chain::query::IbcQuerier;

/// The commitment prefix of Cosmos SDK chains (the ibc store key).
const IBC_PREFIX: &[u8] = b"ibc";
/// SDK code of `ErrKeyNotFound` (a gRPC NotFound answered through `abci_query`).
const SDK_NOT_FOUND: u32 = 38;

/// The identifiers of a connection between chain `a` and chain `b`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ConnectionEnds {
    /// Client of `b` on `a`.
    pub client_a: String,
    /// Client of `a` on `b`.
    pub client_b: String,
    /// Connection on `a`.
    pub connection_a: String,
    /// Connection on `b`.
    pub connection_b: String,
}

impl ConnectionEnds {
    /// The same connection seen from `b`.
    pub(crate) fn reversed(&self) -> Self {
        Self {
            client_a: self.client_b.clone(),
            client_b: self.client_a.clone(),
            connection_a: self.connection_b.clone(),
            connection_b: self.connection_a.clone(),
        }
    }
}

/// The outcome of [`open_connection`]: the ends, and whether an unfinished handshake was
/// continued (and from which state) rather than a new one started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedConnection {
    /// The connection.
    pub ends: ConnectionEnds,
    /// `Some("INIT on devnet-1")`-like description of the state it was resumed from.
    pub resumed_from: Option<String>,
}

fn prefix() -> Option<MerklePrefix> {
    Some(MerklePrefix {
        key_prefix: IBC_PREFIX.to_vec(),
    })
}

/// The connection version every Cosmos SDK chain supports.
fn default_connection_version() -> conn::Version {
    conn::Version {
        identifier: "1".into(),
        features: vec!["ORDER_ORDERED".into(), "ORDER_UNORDERED".into()],
    }
}

fn delay_nanos(delay: Duration) -> u64 {
    u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX)
}

/// The connection end type of the step driver: a connection end is found by its id alone.
pub(super) struct ConnectionHandshake;

impl HandshakeEnd for conn::ConnectionEnd {
    fn end_state(&self) -> EndState {
        match conn::State::try_from(self.state) {
            Ok(conn::State::Init) => EndState::Init,
            Ok(conn::State::Tryopen) => EndState::TryOpen,
            Ok(conn::State::Open) => EndState::Open,
            _ => EndState::Other,
        }
    }
    fn counterparty_id(&self) -> &str {
        counterparty_conn(self).1
    }
}

impl Handshake for ConnectionHandshake {
    const NAME: &'static str = "connection";
    const ID_KEY: &'static str = "connection_id";
    type End = conn::ConnectionEnd;

    async fn plan_try(&self, a: &Endpoint, b: &Endpoint, id_a: &str, step: &str) -> Result<Plan> {
        let end_a = connection_end(a, id_a, step).await?;
        let client_b = end_a
            .counterparty
            .as_ref()
            .map(|c| c.client_id.clone())
            .ok_or_else(|| a.err(step, format!("connection {id_a} has no counterparty")))?;
        let versions = if end_a.versions.is_empty() {
            vec![default_connection_version()]
        } else {
            end_a.versions.clone()
        };
        let (conn_a, signer) = (id_a.to_string(), b.signer.clone());
        Ok(Plan {
            client: client_b.clone(),
            path: format!("connections/{id_a}"),
            prove_client: Some(end_a.client_id.clone()),
            msg: Box::new(move |p| {
                // The plan asked for the client proofs, so they are there.
                let c = p.client.unwrap_or_default();
                #[allow(deprecated)]
                let msg = conn::MsgConnectionOpenTry {
                    client_id: client_b,
                    client_state: Some(c.client_state),
                    counterparty: Some(conn::Counterparty {
                        client_id: end_a.client_id,
                        connection_id: conn_a,
                        prefix: prefix(),
                    }),
                    delay_period: end_a.delay_period,
                    counterparty_versions: versions,
                    proof_height: Some(p.height),
                    proof_init: p.end,
                    proof_client: c.client,
                    proof_consensus: c.consensus,
                    consensus_height: Some(c.consensus_height),
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
        let end_a = connection_end(a, id_a, step).await?;
        let end_b = connection_end(b, id_b, step).await?;
        let version = end_b
            .versions
            .first()
            .cloned()
            .unwrap_or_else(default_connection_version);
        let (conn_a, conn_b, signer) = (id_a.to_string(), id_b.to_string(), a.signer.clone());
        Ok(Plan {
            client: end_a.client_id,
            path: format!("connections/{id_b}"),
            prove_client: Some(end_b.client_id),
            msg: Box::new(move |p| {
                // The plan asked for the client proofs, so they are there.
                let c = p.client.unwrap_or_default();
                #[allow(deprecated)]
                let msg = conn::MsgConnectionOpenAck {
                    connection_id: conn_a,
                    counterparty_connection_id: conn_b,
                    version: Some(version),
                    client_state: Some(c.client_state),
                    proof_height: Some(p.height),
                    proof_try: p.end,
                    proof_client: c.client,
                    proof_consensus: c.consensus,
                    consensus_height: Some(c.consensus_height),
                    signer,
                    ..Default::default()
                };
                to_any(&msg)
            }),
        })
    }

    async fn plan_confirm(
        &self,
        _a: &Endpoint,
        b: &Endpoint,
        id_a: &str,
        id_b: &str,
        step: &str,
    ) -> Result<Plan> {
        let end_b = connection_end(b, id_b, step).await?;
        let (conn_b, signer) = (id_b.to_string(), b.signer.clone());
        Ok(Plan {
            client: end_b.client_id,
            path: format!("connections/{id_a}"),
            prove_client: None,
            msg: Box::new(move |p| {
                to_any(&conn::MsgConnectionOpenConfirm {
                    connection_id: conn_b,
                    proof_ack: p.end,
                    proof_height: Some(p.height),
                    signer,
                })
            }),
        })
    }
}

/// `MsgConnectionOpenInit` on `a` over `client_a` (of `b`) facing `client_b` (of `a` on `b`);
/// returns the new connection id on `a`.
pub async fn conn_open_init(
    a: &Endpoint,
    client_a: &str,
    client_b: &str,
    delay: Duration,
) -> Result<String> {
    let msg = conn::MsgConnectionOpenInit {
        client_id: client_a.to_string(),
        counterparty: Some(conn::Counterparty {
            client_id: client_b.to_string(),
            connection_id: String::new(),
            prefix: prefix(),
        }),
        version: Some(default_connection_version()),
        delay_period: delay_nanos(delay),
        signer: a.signer.clone(),
    };
    driver::init::<ConnectionHandshake>(a, to_any(&msg)).await
}

/// Connection `id` on `chain`, which must exist.
pub(super) async fn connection_end(
    chain: &Endpoint,
    id: &str,
    step: &str,
) -> Result<conn::ConnectionEnd> {
    chain
        .querier
        .connection(id)
        .await
        .map_err(|e| chain.err(step, format!("connection {id}: {e}")))?
        .ok_or_else(|| chain.err(step, format!("connection {id} does not exist")))
}

fn state_is(end: &conn::ConnectionEnd, state: conn::State) -> bool {
    end.state == state as i32
}

/// The counterparty's (client id, connection id) of `end`; empty when it has none.
pub(super) fn counterparty_conn(end: &conn::ConnectionEnd) -> (&str, &str) {
    end.counterparty
        .as_ref()
        .map(|c| (c.client_id.as_str(), c.connection_id.as_str()))
        .unwrap_or(("", ""))
}

/// Connections of `client_id` on `chain` (ids and ends).
async fn client_connections(
    chain: &Endpoint,
    client_id: &str,
    step: &str,
) -> Result<Vec<(String, conn::ConnectionEnd)>> {
    let req = conn::QueryClientConnectionsRequest {
        client_id: client_id.to_string(),
    };
    let path = "/ibc.core.connection.v1.Query/ClientConnections";
    let q = chain
        .querier
        .rpc()
        .abci_query(path, &req.encode_to_vec(), None, false)
        .await
        .map_err(|e| chain.err(step, format!("connections of {client_id}: {e}")))?;
    let ids = match q.code.value() {
        0 => {
            conn::QueryClientConnectionsResponse::decode(q.value.as_slice())
                .map_err(|e| chain.err(step, format!("connections of {client_id}: {e}")))?
                .connection_paths
        }
        SDK_NOT_FOUND => Vec::new(),
        code => {
            return Err(chain.err(
                step,
                format!("connections of {client_id}: code {code}: {}", q.log),
            ))
        }
    };
    let mut out = Vec::new();
    for id in ids {
        let end = connection_end(chain, &id, step).await?;
        out.push((id, end));
    }
    Ok(out)
}

/// The connections on `a` over `client_a` facing `client_b` (on the other chain).
async fn connections_between(
    a: &Endpoint,
    client_a: &str,
    client_b: &str,
) -> Result<BTreeMap<String, conn::ConnectionEnd>> {
    let step = "look for an unfinished connection";
    Ok(client_connections(a, client_a, step)
        .await?
        .into_iter()
        .filter(|(_, e)| counterparty_conn(e).0 == client_b)
        .collect())
}

/// Opens a connection between `a` (over `client_a`, a client of `b`) and `b` (over `client_b`),
/// continuing an unfinished handshake between these clients when there is one (started on
/// either side), else starting one on `a` with `delay`.
pub async fn open_connection(
    a: &Endpoint,
    b: &Endpoint,
    client_a: &str,
    client_b: &str,
    delay: Duration,
) -> Result<OpenedConnection> {
    let side_a = OnChain {
        chain: a,
        kind: ConnectionHandshake,
        ends: connections_between(a, client_a, client_b).await?,
    };
    let side_b = OnChain {
        chain: b,
        kind: ConnectionHandshake,
        ends: connections_between(b, client_b, client_a).await?,
    };
    let init = conn_open_init(a, client_a, client_b, delay);
    let opened = driver::open(side_a, side_b, init).await?;
    Ok(OpenedConnection {
        ends: ConnectionEnds {
            client_a: client_a.to_string(),
            client_b: client_b.to_string(),
            connection_a: opened.id_a,
            connection_b: opened.id_b,
        },
        resumed_from: opened.resumed_from,
    })
}

/// Creates a client on each chain, then opens a connection over them.
pub(super) async fn create_clients_and_connection(
    a: &Endpoint,
    b: &Endpoint,
    options: &ClientOptions,
    delay: Duration,
) -> Result<ConnectionEnds> {
    let client_a = create_client(a, b, options).await?;
    let client_b = create_client(b, a, options).await?;
    Ok(open_connection(a, b, &client_a, &client_b, delay)
        .await?
        .ends)
}

/// The ends of the connection `connection_a` on `a`, checked to be OPEN on both sides and to
/// lead to `b`.
pub async fn connection_ends(
    a: &IbcQuerier,
    b: &IbcQuerier,
    connection_a: &str,
) -> std::result::Result<ConnectionEnds, HandshakeError> {
    let step = "check connection";
    let err = |q: &IbcQuerier, r: String| HandshakeError::new(q.chain_id(), step, r);
    let end_a = a
        .connection(connection_a)
        .await
        .map_err(|e| err(a, format!("connection {connection_a}: {e}")))?
        .ok_or_else(|| err(a, format!("connection {connection_a} does not exist")))?;
    let (client_b, connection_b) = counterparty_conn(&end_a);
    let (client_b, connection_b) = (client_b.to_string(), connection_b.to_string());
    if !state_is(&end_a, conn::State::Open) || connection_b.is_empty() {
        return Err(err(a, format!("connection {connection_a} is not open")));
    }
    let end_b = b
        .connection(&connection_b)
        .await
        .map_err(|e| err(b, format!("connection {connection_b}: {e}")))?
        .ok_or_else(|| err(b, format!("connection {connection_b} does not exist")))?;
    if !state_is(&end_b, conn::State::Open) || counterparty_conn(&end_b).1 != connection_a {
        return Err(err(
            b,
            format!("connection {connection_b} is not open towards {connection_a}"),
        ));
    }
    let tracked = client_chain(a, &end_a.client_id)
        .await
        .map_err(|e| err(a, e.to_string()))?;
    if tracked != b.chain_id() {
        return Err(err(
            a,
            format!(
                "connection {connection_a} uses client {} of chain {tracked}, not {}",
                end_a.client_id,
                b.chain_id()
            ),
        ));
    }
    Ok(ConnectionEnds {
        client_a: end_a.client_id,
        client_b,
        connection_a: connection_a.to_string(),
        connection_b,
    })
}

/// Every connection on `q` (all pages).
pub(super) async fn all_connections(
    q: &IbcQuerier,
) -> std::result::Result<Vec<conn::IdentifiedConnection>, String> {
    let path = "/ibc.core.connection.v1.Query/Connections";
    let mut out = Vec::new();
    let mut key = Vec::new();
    loop {
        let req = conn::QueryConnectionsRequest {
            pagination: Some(PageRequest {
                key: key.clone(),
                limit: 1000,
                ..Default::default()
            }),
        };
        let a = q
            .rpc()
            .abci_query(path, &req.encode_to_vec(), None, false)
            .await
            .map_err(|e| e.to_string())?;
        if a.code.value() != 0 {
            return Err(format!("{path}: code {}: {}", a.code.value(), a.log));
        }
        let resp = conn::QueryConnectionsResponse::decode(a.value.as_slice())
            .map_err(|e| format!("{path}: {e}"))?;
        out.extend(resp.connections);
        let next = resp.pagination.map(|p| p.next_key).unwrap_or_default();
        if next.is_empty() || next == key {
            return Ok(out);
        }
        key = next;
    }
}

/// The first connection OPEN on both `a` and `b` between them, if any.
pub(super) async fn find_open_connection(
    a: &IbcQuerier,
    b: &IbcQuerier,
) -> std::result::Result<Option<ConnectionEnds>, HandshakeError> {
    let connections = all_connections(a)
        .await
        .map_err(|e| HandshakeError::new(a.chain_id(), "list connections", e))?;
    for c in connections {
        if c.state != conn::State::Open as i32 {
            continue;
        }
        if let Ok(ends) = connection_ends(a, b, &c.id).await {
            return Ok(Some(ends));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_are_nanoseconds() {
        assert_eq!(delay_nanos(Duration::from_secs(2)), 2_000_000_000);
    }
}
