//! IBC handshakes over RPC: creating light clients, and the four-step connection and channel
//! handshakes, as reusable async functions (the `create` commands and `arke demo` call them).
//!
//! Every step signs with the chain's [`TxEngine`] and waits for its tx, then reads the new
//! identifier from the tx's events. A step that proves the counterparty's state follows the
//! CometBFT "+1" rule: it takes `H` = the counterparty's latest height (so the state the previous
//! step wrote is in it), waits for header `H + 1`, proves at `H`, and puts a `MsgUpdateClient`
//! to `H + 1` in front of the handshake message in the same tx, with `proof_height = H + 1`.
//! Try and Ack also prove the counterparty's client of this chain and that client's consensus
//! state at its latest height.
//!
//! A half-finished handshake is picked up where it stopped: [`open_connection`] and
//! [`open_channel`] look for an unfinished end on either chain (INIT without a TRYOPEN
//! counterparty, INIT facing TRYOPEN, OPEN facing TRYOPEN) over the same clients, connection and
//! ports, and run only the missing steps, from whichever side started it. Only when nothing is
//! unfinished do they start a new handshake.
//!
//! Errors ([`HandshakeError`]) name the chain and the step that failed.

use std::collections::BTreeMap;
use std::time::Duration;

use cosmos::to_any;
use ibc_proto::cosmos::base::query::v1beta1::PageRequest;
use ibc_proto::google::protobuf::Any;
use ibc_proto::ibc::core::channel::v1 as chan;
use ibc_proto::ibc::core::client::v1 as client;
use ibc_proto::ibc::core::commitment::v1::MerklePrefix;
use ibc_proto::ibc::core::connection::v1 as conn;
use ibc_proto::ibc::lightclients::tendermint::v1::ClientState;
use prost::Message;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::chain::light::{create_client_states, update_header};
use crate::chain::query::{IbcQuerier, QueryError};
use crate::chain::rpc::RpcClient;
use crate::config::ChainConfig;
use crate::tx::engine::{Outcome, TxEngine};

/// The commitment prefix of Cosmos SDK chains (the ibc store key).
pub const IBC_PREFIX: &[u8] = b"ibc";
/// SDK code of `ErrKeyNotFound` (a gRPC NotFound answered through `abci_query`).
const SDK_NOT_FOUND: u32 = 38;

/// A handshake step that failed, naming the chain and the step.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{chain}: {step}: {reason}")]
pub struct HandshakeError {
    /// Chain id where the step failed.
    pub chain: String,
    /// The step, e.g. `connection open try`.
    pub step: String,
    /// Why.
    pub reason: String,
}

impl HandshakeError {
    fn new(chain: &str, step: &str, reason: impl std::fmt::Display) -> Self {
        Self {
            chain: chain.to_string(),
            step: step.to_string(),
            reason: reason.to_string(),
        }
    }
}

type Result<T> = std::result::Result<T, HandshakeError>;

/// One chain of the pair as the handshakes see it: its config, queries, and a TxEngine signing
/// with the relayer key.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The chain's config.
    pub config: ChainConfig,
    /// Queries and proofs.
    pub querier: IbcQuerier,
    /// Signs and submits this chain's txs.
    pub engine: TxEngine,
    /// The signer's bech32 address.
    pub signer: String,
}

impl Endpoint {
    /// The chain id.
    pub fn id(&self) -> &str {
        &self.config.id
    }

    fn err(&self, step: &str, reason: impl std::fmt::Display) -> HandshakeError {
        HandshakeError::new(self.id(), step, reason)
    }
}

/// A querier for `config`'s chain (RPC client with the config's timeout and permits).
pub fn querier_for(config: &ChainConfig) -> Result<IbcQuerier> {
    let rpc = RpcClient::from_config(config)
        .map_err(|e| HandshakeError::new(&config.id, "connect", e))?;
    Ok(IbcQuerier::new(rpc, config.id.clone()))
}

/// Both chains of a pair with running TxEngines. Call [`Pair::shutdown`] when done.
#[derive(Debug)]
pub struct Pair {
    /// Chain `a`.
    pub a: Endpoint,
    /// Chain `b`.
    pub b: Endpoint,
    token: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Pair {
    /// Starts TxEngines on both chains, signing with `key_a` on `a` and `key_b` on `b`.
    /// Must be called inside a tokio runtime.
    pub fn new(
        a: &ChainConfig,
        key_a: cosmos::AccountKey,
        b: &ChainConfig,
        key_b: cosmos::AccountKey,
    ) -> Result<Self> {
        let (qa, qb) = (querier_for(a)?, querier_for(b)?);
        let token = CancellationToken::new();
        let signer_a = key_a.address(&a.account_prefix);
        let signer_b = key_b.address(&b.account_prefix);
        let (engine_a, task_a) =
            TxEngine::spawn(a, qa.clone(), qb.clone(), key_a, token.child_token());
        let (engine_b, task_b) =
            TxEngine::spawn(b, qb.clone(), qa.clone(), key_b, token.child_token());
        Ok(Self {
            a: Endpoint {
                config: a.clone(),
                querier: qa,
                engine: engine_a,
                signer: signer_a,
            },
            b: Endpoint {
                config: b.clone(),
                querier: qb,
                engine: engine_b,
                signer: signer_b,
            },
            token,
            tasks: vec![task_a, task_b],
        })
    }

    /// Stops the TxEngines and waits (bounded) for them to finish.
    pub async fn shutdown(self) {
        self.token.cancel();
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

// ───────────────────────────── clients ─────────────────────────────

/// Client parameters given by the operator; `None` takes the default.
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// Default: the reference chain's `trusting_period` in the config, else 2/3 of its
    /// unbonding period (staking Params).
    pub trusting_period: Option<Duration>,
    /// Default: reference `clock_drift` + host `clock_drift` + host `max_block_time` (Hermes).
    pub clock_drift: Option<Duration>,
    /// Default: the reference chain's `trust_threshold` in the config.
    pub trust_threshold: Option<(u64, u64)>,
}

/// The parameters a new client gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSettings {
    /// Trusting period.
    pub trusting_period: Duration,
    /// Max clock drift.
    pub clock_drift: Duration,
    /// Trust threshold (numerator, denominator).
    pub trust_threshold: (u64, u64),
}

/// Resolves `options` against the configs and, for the trusting period, the reference chain's
/// unbonding period.
pub async fn client_settings(
    host: &Endpoint,
    reference: &Endpoint,
    options: &ClientOptions,
) -> Result<ClientSettings> {
    let step = "client parameters";
    let trusting_period = match options.trusting_period.or(reference.config.trusting_period) {
        Some(d) => d,
        None => {
            let unbonding = reference
                .querier
                .unbonding_period()
                .await
                .map_err(|e| reference.err(step, format!("unbonding period: {e}")))?;
            unbonding * 2 / 3
        }
    };
    let clock_drift = options.clock_drift.unwrap_or(
        reference.config.clock_drift + host.config.clock_drift + host.config.max_block_time,
    );
    let tt = reference.config.trust_threshold;
    Ok(ClientSettings {
        trusting_period,
        clock_drift,
        trust_threshold: options
            .trust_threshold
            .unwrap_or((tt.numerator, tt.denominator)),
    })
}

/// Creates a light client of `reference` on `host`; returns its id.
pub async fn create_client(
    host: &Endpoint,
    reference: &Endpoint,
    options: &ClientOptions,
) -> Result<String> {
    let step = "create client";
    let settings = client_settings(host, reference, options).await?;
    // Proofs and updates need a few blocks behind the client's first height.
    wait_for_height(reference, 2, step).await?;
    let (client_state, consensus_state) = create_client_states(
        &reference.querier,
        settings.trusting_period,
        settings.clock_drift,
        settings.trust_threshold,
        reference.config.proof_specs.0.clone(),
    )
    .await
    .map_err(|e| reference.err(step, e))?;
    let msg = client::MsgCreateClient {
        client_state: Some(client_state),
        consensus_state: Some(consensus_state),
        signer: host.signer.clone(),
    };
    let events = submit(host, vec![to_any(&msg)], step).await?;
    event_attr(&events, "create_client", "client_id")
        .ok_or_else(|| host.err(step, "the tx has no create_client event"))
}

// ───────────────────────────── connections ─────────────────────────────

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
    pub fn reversed(&self) -> Self {
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
pub fn default_connection_version() -> conn::Version {
    conn::Version {
        identifier: "1".into(),
        features: vec!["ORDER_ORDERED".into(), "ORDER_UNORDERED".into()],
    }
}

fn delay_nanos(delay: Duration) -> u64 {
    u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX)
}

/// `MsgConnectionOpenInit` on `a` over `client_a` (of `b`) facing `client_b` (of `a` on `b`);
/// returns the new connection id on `a`.
pub async fn conn_open_init(
    a: &Endpoint,
    client_a: &str,
    client_b: &str,
    delay: Duration,
) -> Result<String> {
    let step = "connection open init";
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
    let events = submit(a, vec![to_any(&msg)], step).await?;
    event_attr(&events, "connection_open_init", "connection_id")
        .ok_or_else(|| a.err(step, "the tx has no connection_open_init event"))
}

async fn connection_end(chain: &Endpoint, id: &str, step: &str) -> Result<conn::ConnectionEnd> {
    chain
        .querier
        .connection(id)
        .await
        .map_err(|e| chain.err(step, format!("connection {id}: {e}")))?
        .ok_or_else(|| chain.err(step, format!("connection {id} does not exist")))
}

/// Proofs at `h` on `chain` of an object, of `chain`'s client `client_id` and of that client's
/// consensus state at its latest height.
struct HandshakeProofs {
    object: Vec<u8>,
    client_state: Any,
    client: Vec<u8>,
    consensus: Vec<u8>,
    consensus_height: client::Height,
}

async fn handshake_proofs(
    chain: &Endpoint,
    client_id: &str,
    object_path: &str,
    h: u64,
    step: &str,
) -> Result<HandshakeProofs> {
    let prove = |path: String| async move {
        chain
            .querier
            .prove(&path, h)
            .await
            .map_err(|e| chain.err(step, format!("proof of {path} at {h}: {e}")))
    };
    let (_, object) = prove(object_path.to_string()).await?;
    let (cs_bytes, client) = prove(format!("clients/{client_id}/clientState")).await?;
    let client_state = Any::decode(cs_bytes.as_slice())
        .map_err(|e| chain.err(step, format!("client state of {client_id}: {e}")))?;
    let cs = ClientState::decode(client_state.value.as_slice())
        .map_err(|e| chain.err(step, format!("client state of {client_id}: {e}")))?;
    let consensus_height = cs
        .latest_height
        .ok_or_else(|| chain.err(step, format!("client {client_id} has no latest height")))?;
    let (_, consensus) = prove(format!(
        "clients/{client_id}/consensusStates/{}-{}",
        consensus_height.revision_number, consensus_height.revision_height
    ))
    .await?;
    Ok(HandshakeProofs {
        object,
        client_state,
        client,
        consensus,
        consensus_height,
    })
}

/// `MsgConnectionOpenTry` on `y` for connection `conn_x` in INIT on `x`; returns the new
/// connection id on `y`.
pub async fn conn_open_try(x: &Endpoint, y: &Endpoint, conn_x: &str) -> Result<String> {
    let step = "connection open try";
    let end_x = connection_end(x, conn_x, step).await?;
    let client_y = end_x
        .counterparty
        .as_ref()
        .map(|c| c.client_id.clone())
        .ok_or_else(|| x.err(step, format!("connection {conn_x} has no counterparty")))?;
    let (h, mut msgs) = prepare_proof(x, y, &client_y, step).await?;
    let p = handshake_proofs(
        x,
        &end_x.client_id,
        &format!("connections/{conn_x}"),
        h,
        step,
    )
    .await?;
    let versions = if end_x.versions.is_empty() {
        vec![default_connection_version()]
    } else {
        end_x.versions.clone()
    };
    #[allow(deprecated)]
    let msg = conn::MsgConnectionOpenTry {
        client_id: client_y,
        client_state: Some(p.client_state),
        counterparty: Some(conn::Counterparty {
            client_id: end_x.client_id.clone(),
            connection_id: conn_x.to_string(),
            prefix: prefix(),
        }),
        delay_period: end_x.delay_period,
        counterparty_versions: versions,
        proof_height: Some(x.querier.ibc_height(h + 1)),
        proof_init: p.object,
        proof_client: p.client,
        proof_consensus: p.consensus,
        consensus_height: Some(p.consensus_height),
        signer: y.signer.clone(),
        ..Default::default()
    };
    msgs.push(to_any(&msg));
    let events = submit(y, msgs, step).await?;
    event_attr(&events, "connection_open_try", "connection_id")
        .ok_or_else(|| y.err(step, "the tx has no connection_open_try event"))
}

/// `MsgConnectionOpenAck` on `x` (connection `conn_x` in INIT) for `conn_y` in TRYOPEN on `y`.
pub async fn conn_open_ack(x: &Endpoint, y: &Endpoint, conn_x: &str, conn_y: &str) -> Result<()> {
    let step = "connection open ack";
    let end_x = connection_end(x, conn_x, step).await?;
    let end_y = connection_end(y, conn_y, step).await?;
    let (h, mut msgs) = prepare_proof(y, x, &end_x.client_id, step).await?;
    let p = handshake_proofs(
        y,
        &end_y.client_id,
        &format!("connections/{conn_y}"),
        h,
        step,
    )
    .await?;
    #[allow(deprecated)]
    let msg = conn::MsgConnectionOpenAck {
        connection_id: conn_x.to_string(),
        counterparty_connection_id: conn_y.to_string(),
        version: Some(
            end_y
                .versions
                .first()
                .cloned()
                .unwrap_or_else(default_connection_version),
        ),
        client_state: Some(p.client_state),
        proof_height: Some(y.querier.ibc_height(h + 1)),
        proof_try: p.object,
        proof_client: p.client,
        proof_consensus: p.consensus,
        consensus_height: Some(p.consensus_height),
        signer: x.signer.clone(),
        ..Default::default()
    };
    msgs.push(to_any(&msg));
    submit(x, msgs, step).await.map(drop)
}

/// `MsgConnectionOpenConfirm` on `y` (connection `conn_y` in TRYOPEN) for `conn_x` OPEN on `x`.
pub async fn conn_open_confirm(
    x: &Endpoint,
    y: &Endpoint,
    conn_x: &str,
    conn_y: &str,
) -> Result<()> {
    let step = "connection open confirm";
    let end_y = connection_end(y, conn_y, step).await?;
    let (h, mut msgs) = prepare_proof(x, y, &end_y.client_id, step).await?;
    let (_, proof_ack) = x
        .querier
        .prove(&format!("connections/{conn_x}"), h)
        .await
        .map_err(|e| x.err(step, format!("proof of connection {conn_x} at {h}: {e}")))?;
    let msg = conn::MsgConnectionOpenConfirm {
        connection_id: conn_y.to_string(),
        proof_ack,
        proof_height: Some(x.querier.ibc_height(h + 1)),
        signer: y.signer.clone(),
    };
    msgs.push(to_any(&msg));
    submit(y, msgs, step).await.map(drop)
}

/// Where an unfinished handshake stands, seen from the side `x` that started it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum NextStep {
    /// `x` is INIT; `y` has nothing yet.
    Try { x: String },
    /// `x` is INIT, `y` is TRYOPEN.
    Ack { x: String, y: String },
    /// `x` is OPEN, `y` is TRYOPEN.
    Confirm { x: String, y: String },
}

impl NextStep {
    fn rank(&self) -> u8 {
        match self {
            NextStep::Try { .. } => 0,
            NextStep::Ack { .. } => 1,
            NextStep::Confirm { .. } => 2,
        }
    }

    fn describe(&self, x: &Endpoint) -> String {
        match self {
            NextStep::Try { x: id } => format!("{id} INIT on {}", x.id()),
            NextStep::Ack { x: id, y } => format!("{id} INIT on {} facing {y} TRYOPEN", x.id()),
            NextStep::Confirm { x: id, y } => {
                format!("{id} OPEN on {} facing {y} TRYOPEN", x.id())
            }
        }
    }
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

/// Where an end of a connection or channel handshake stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum EndState {
    Init,
    TryOpen,
    Open,
    Other,
}

/// What the stage search needs to know of a handshake end.
trait HandshakeEnd {
    fn end_state(&self) -> EndState;
    /// The counterparty's connection or channel id.
    fn counterparty_id(&self) -> &str;
}

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

/// The most advanced unfinished handshake between the ends on `x` and those on `y`: INIT on x
/// facing nothing (Try) or TRYOPEN (Ack), or OPEN on x facing TRYOPEN (Confirm).
fn most_advanced_step<E: HandshakeEnd>(
    on_x: &BTreeMap<String, E>,
    on_y: &BTreeMap<String, E>,
) -> Option<NextStep> {
    let mut stages = Vec::new();
    for (id_x, end_x) in on_x {
        if end_x.end_state() == EndState::Init {
            let tried = on_y
                .iter()
                .find(|(_, e)| e.end_state() == EndState::TryOpen && e.counterparty_id() == id_x);
            stages.push(match tried {
                Some((id_y, _)) => NextStep::Ack {
                    x: id_x.clone(),
                    y: id_y.clone(),
                },
                None => NextStep::Try { x: id_x.clone() },
            });
        }
    }
    for (id_y, end_y) in on_y {
        if end_y.end_state() != EndState::TryOpen {
            continue;
        }
        let id_x = end_y.counterparty_id();
        if let Some(end_x) = on_x.get(id_x) {
            if end_x.end_state() == EndState::Open && end_x.counterparty_id() == id_y {
                stages.push(NextStep::Confirm {
                    x: id_x.to_string(),
                    y: id_y.clone(),
                });
            }
        }
    }
    stages
        .into_iter()
        .max_by_key(|s| (s.rank(), std::cmp::Reverse(s.clone())))
}

fn state_is(end: &conn::ConnectionEnd, state: conn::State) -> bool {
    end.state == state as i32
}

fn counterparty_conn(end: &conn::ConnectionEnd) -> (&str, &str) {
    end.counterparty
        .as_ref()
        .map(|c| (c.client_id.as_str(), c.connection_id.as_str()))
        .unwrap_or(("", ""))
}

/// The most advanced unfinished connection handshake started on `x` over `client_x` (of `y`)
/// and `client_y` (of `x` on `y`).
async fn connection_stage(
    x: &Endpoint,
    y: &Endpoint,
    client_x: &str,
    client_y: &str,
) -> Result<Option<NextStep>> {
    let step = "look for an unfinished connection";
    let on_x: BTreeMap<String, conn::ConnectionEnd> = client_connections(x, client_x, step)
        .await?
        .into_iter()
        .filter(|(_, e)| counterparty_conn(e).0 == client_y)
        .collect();
    let on_y: BTreeMap<String, conn::ConnectionEnd> = client_connections(y, client_y, step)
        .await?
        .into_iter()
        .filter(|(_, e)| counterparty_conn(e).0 == client_x)
        .collect();
    Ok(most_advanced_step(&on_x, &on_y))
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
    let from_a = connection_stage(a, b, client_a, client_b).await?;
    let from_b = connection_stage(b, a, client_b, client_a).await?;
    let flipped = match (&from_a, &from_b) {
        (Some(sa), Some(sb)) => sb.rank() > sa.rank(),
        (None, Some(_)) => true,
        _ => false,
    };
    let (x, y, client_x, client_y, stage) = if flipped {
        (b, a, client_b, client_a, from_b)
    } else {
        (a, b, client_a, client_b, from_a)
    };
    let resumed_from = stage.as_ref().map(|s| s.describe(x));
    if let Some(from) = &resumed_from {
        tracing::info!(from = %from, "continuing an unfinished connection handshake");
    }
    let (conn_x, conn_y) = match stage {
        None | Some(NextStep::Try { .. }) => {
            let conn_x = match stage {
                Some(NextStep::Try { x }) => x,
                _ => conn_open_init(x, client_x, client_y, delay).await?,
            };
            let conn_y = conn_open_try(x, y, &conn_x).await?;
            conn_open_ack(x, y, &conn_x, &conn_y).await?;
            conn_open_confirm(x, y, &conn_x, &conn_y).await?;
            (conn_x, conn_y)
        }
        Some(NextStep::Ack {
            x: conn_x,
            y: conn_y,
        }) => {
            conn_open_ack(x, y, &conn_x, &conn_y).await?;
            conn_open_confirm(x, y, &conn_x, &conn_y).await?;
            (conn_x, conn_y)
        }
        Some(NextStep::Confirm {
            x: conn_x,
            y: conn_y,
        }) => {
            conn_open_confirm(x, y, &conn_x, &conn_y).await?;
            (conn_x, conn_y)
        }
    };
    let ends = ConnectionEnds {
        client_a: client_x.to_string(),
        client_b: client_y.to_string(),
        connection_a: conn_x,
        connection_b: conn_y,
    };
    Ok(OpenedConnection {
        ends: if flipped { ends.reversed() } else { ends },
        resumed_from,
    })
}

/// Creates a client on each chain, then opens a connection over them.
pub async fn create_clients_and_connection(
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

async fn client_chain(q: &IbcQuerier, client_id: &str) -> std::result::Result<String, QueryError> {
    Ok(q.client_state(client_id)
        .await?
        .map(|cs| cs.chain_id)
        .unwrap_or_default())
}

/// Every connection on `q` (all pages).
async fn all_connections(
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
pub async fn find_open_connection(
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

// ───────────────────────────── channels ─────────────────────────────

/// What channel to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelSpec {
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

async fn channel_end(chain: &Endpoint, port: &str, id: &str, step: &str) -> Result<chan::Channel> {
    chain
        .querier
        .channel(port, id)
        .await
        .map_err(|e| chain.err(step, format!("channel {port}/{id}: {e}")))?
        .ok_or_else(|| chain.err(step, format!("channel {port}/{id} does not exist")))
}

/// `MsgChannelOpenInit` on `a` over `connection_a`; returns the new channel id on `a`.
pub async fn chan_open_init(
    a: &Endpoint,
    connection_a: &str,
    spec: &ChannelSpec,
) -> Result<String> {
    let step = "channel open init";
    let msg = chan::MsgChannelOpenInit {
        port_id: spec.port_a.clone(),
        channel: Some(chan::Channel {
            state: chan::State::Init as i32,
            ordering: spec.ordering as i32,
            counterparty: Some(chan::Counterparty {
                port_id: spec.port_b.clone(),
                channel_id: String::new(),
            }),
            connection_hops: vec![connection_a.to_string()],
            version: spec.version.clone(),
            upgrade_sequence: 0,
        }),
        signer: a.signer.clone(),
    };
    let events = submit(a, vec![to_any(&msg)], step).await?;
    event_attr(&events, "channel_open_init", "channel_id")
        .ok_or_else(|| a.err(step, "the tx has no channel_open_init event"))
}

/// The connection on `y` facing the first hop of `end_x` on `x`, and the client of `x` on `y`.
async fn hop_on_counterparty(
    x: &Endpoint,
    y: &Endpoint,
    end_x: &chan::Channel,
    step: &str,
) -> Result<(String, String)> {
    let conn_x = end_x
        .connection_hops
        .first()
        .ok_or_else(|| x.err(step, "channel has no connection hop"))?;
    let cx = connection_end(x, conn_x, step).await?;
    let conn_y = counterparty_conn(&cx).1.to_string();
    if conn_y.is_empty() {
        return Err(x.err(step, format!("connection {conn_x} is not open")));
    }
    let cy = connection_end(y, &conn_y, step).await?;
    Ok((conn_y, cy.client_id))
}

/// `MsgChannelOpenTry` on `y` for channel `port_x/chan_x` in INIT on `x`; returns the new
/// channel id on `y`.
pub async fn chan_open_try(
    x: &Endpoint,
    y: &Endpoint,
    port_x: &str,
    chan_x: &str,
) -> Result<String> {
    let step = "channel open try";
    let end_x = channel_end(x, port_x, chan_x, step).await?;
    let port_y = end_x
        .counterparty
        .as_ref()
        .map(|c| c.port_id.clone())
        .ok_or_else(|| {
            x.err(
                step,
                format!("channel {port_x}/{chan_x} has no counterparty"),
            )
        })?;
    let (conn_y, client_y) = hop_on_counterparty(x, y, &end_x, step).await?;
    let (h, mut msgs) = prepare_proof(x, y, &client_y, step).await?;
    let (_, proof_init) = prove(
        x,
        &format!("channelEnds/ports/{port_x}/channels/{chan_x}"),
        h,
        step,
    )
    .await?;
    #[allow(deprecated)]
    let msg = chan::MsgChannelOpenTry {
        port_id: port_y,
        channel: Some(chan::Channel {
            state: chan::State::Tryopen as i32,
            ordering: end_x.ordering,
            counterparty: Some(chan::Counterparty {
                port_id: port_x.to_string(),
                channel_id: chan_x.to_string(),
            }),
            connection_hops: vec![conn_y],
            version: end_x.version.clone(),
            upgrade_sequence: 0,
        }),
        counterparty_version: end_x.version.clone(),
        proof_init,
        proof_height: Some(x.querier.ibc_height(h + 1)),
        signer: y.signer.clone(),
        ..Default::default()
    };
    msgs.push(to_any(&msg));
    let events = submit(y, msgs, step).await?;
    event_attr(&events, "channel_open_try", "channel_id")
        .ok_or_else(|| y.err(step, "the tx has no channel_open_try event"))
}

/// `MsgChannelOpenAck` on `x` (channel in INIT) for `port_y/chan_y` in TRYOPEN on `y`.
pub async fn chan_open_ack(
    x: &Endpoint,
    y: &Endpoint,
    port_x: &str,
    chan_x: &str,
    chan_y: &str,
) -> Result<()> {
    let step = "channel open ack";
    let end_x = channel_end(x, port_x, chan_x, step).await?;
    let port_y = end_x
        .counterparty
        .as_ref()
        .map(|c| c.port_id.clone())
        .unwrap_or_default();
    let end_y = channel_end(y, &port_y, chan_y, step).await?;
    let client_x = {
        let conn_x = end_x
            .connection_hops
            .first()
            .ok_or_else(|| x.err(step, "channel has no connection hop"))?;
        connection_end(x, conn_x, step).await?.client_id
    };
    let (h, mut msgs) = prepare_proof(y, x, &client_x, step).await?;
    let (_, proof_try) = prove(
        y,
        &format!("channelEnds/ports/{port_y}/channels/{chan_y}"),
        h,
        step,
    )
    .await?;
    let msg = chan::MsgChannelOpenAck {
        port_id: port_x.to_string(),
        channel_id: chan_x.to_string(),
        counterparty_channel_id: chan_y.to_string(),
        counterparty_version: end_y.version.clone(),
        proof_try,
        proof_height: Some(y.querier.ibc_height(h + 1)),
        signer: x.signer.clone(),
    };
    msgs.push(to_any(&msg));
    submit(x, msgs, step).await.map(drop)
}

/// `MsgChannelOpenConfirm` on `y` (channel in TRYOPEN) for `port_x/chan_x` OPEN on `x`.
pub async fn chan_open_confirm(
    x: &Endpoint,
    y: &Endpoint,
    port_x: &str,
    chan_x: &str,
    chan_y: &str,
) -> Result<()> {
    let step = "channel open confirm";
    let end_x = channel_end(x, port_x, chan_x, step).await?;
    let port_y = end_x
        .counterparty
        .as_ref()
        .map(|c| c.port_id.clone())
        .unwrap_or_default();
    let (_, client_y) = hop_on_counterparty(x, y, &end_x, step).await?;
    let (h, mut msgs) = prepare_proof(x, y, &client_y, step).await?;
    let (_, proof_ack) = prove(
        x,
        &format!("channelEnds/ports/{port_x}/channels/{chan_x}"),
        h,
        step,
    )
    .await?;
    let msg = chan::MsgChannelOpenConfirm {
        port_id: port_y,
        channel_id: chan_y.to_string(),
        proof_ack,
        proof_height: Some(x.querier.ibc_height(h + 1)),
        signer: y.signer.clone(),
    };
    msgs.push(to_any(&msg));
    submit(y, msgs, step).await.map(drop)
}

fn chan_counterparty(end: &chan::Channel) -> (&str, &str) {
    end.counterparty
        .as_ref()
        .map(|c| (c.port_id.as_str(), c.channel_id.as_str()))
        .unwrap_or(("", ""))
}

/// The most advanced unfinished channel handshake started on `x` over `conn_x` between
/// `port_x` and `port_y` with `ordering`.
async fn channel_stage(
    x: &Endpoint,
    y: &Endpoint,
    conn_x: &str,
    conn_y: &str,
    port_x: &str,
    port_y: &str,
    ordering: chan::Order,
) -> Result<Option<NextStep>> {
    let step = "look for an unfinished channel";
    let list = |chain: &Endpoint, connection: &str, port: &str, other_port: &str| {
        let (connection, port, other_port) = (
            connection.to_string(),
            port.to_string(),
            other_port.to_string(),
        );
        let chain = chain.clone();
        async move {
            let all = chain
                .querier
                .channels()
                .await
                .map_err(|e| chain.err(step, format!("channels: {e}")))?;
            Ok::<_, HandshakeError>(
                all.into_iter()
                    .filter(|c| {
                        c.port_id == port
                            && c.ordering == ordering as i32
                            && c.connection_hops.first() == Some(&connection)
                            && c.counterparty.as_ref().map(|p| p.port_id.as_str())
                                == Some(other_port.as_str())
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
                    .collect::<BTreeMap<String, chan::Channel>>(),
            )
        }
    };
    let on_x = list(x, conn_x, port_x, port_y).await?;
    let on_y = list(y, conn_y, port_y, port_x).await?;
    Ok(most_advanced_step(&on_x, &on_y))
}

/// Opens a channel over `connection` between `a` and `b`, continuing an unfinished handshake
/// over the same connection, ports and ordering when there is one (started on either side),
/// else starting one on `a`.
pub async fn open_channel(
    a: &Endpoint,
    b: &Endpoint,
    connection: &ConnectionEnds,
    spec: &ChannelSpec,
) -> Result<OpenedChannel> {
    let from_a = channel_stage(
        a,
        b,
        &connection.connection_a,
        &connection.connection_b,
        &spec.port_a,
        &spec.port_b,
        spec.ordering,
    )
    .await?;
    let from_b = channel_stage(
        b,
        a,
        &connection.connection_b,
        &connection.connection_a,
        &spec.port_b,
        &spec.port_a,
        spec.ordering,
    )
    .await?;
    let flipped = match (&from_a, &from_b) {
        (Some(sa), Some(sb)) => sb.rank() > sa.rank(),
        (None, Some(_)) => true,
        _ => false,
    };
    let (x, y, port_x, stage) = if flipped {
        (b, a, &spec.port_b, from_b)
    } else {
        (a, b, &spec.port_a, from_a)
    };
    let resumed_from = stage.as_ref().map(|s| s.describe(x));
    if let Some(from) = &resumed_from {
        tracing::info!(from = %from, "continuing an unfinished channel handshake");
    }
    let (chan_x, chan_y) = match stage {
        None | Some(NextStep::Try { .. }) => {
            let chan_x = match stage {
                Some(NextStep::Try { x }) => x,
                // Nothing unfinished: start on `a` (not flipped, so `x` is `a`).
                _ => chan_open_init(a, &connection.connection_a, spec).await?,
            };
            let chan_y = chan_open_try(x, y, port_x, &chan_x).await?;
            chan_open_ack(x, y, port_x, &chan_x, &chan_y).await?;
            chan_open_confirm(x, y, port_x, &chan_x, &chan_y).await?;
            (chan_x, chan_y)
        }
        Some(NextStep::Ack {
            x: chan_x,
            y: chan_y,
        }) => {
            chan_open_ack(x, y, port_x, &chan_x, &chan_y).await?;
            chan_open_confirm(x, y, port_x, &chan_x, &chan_y).await?;
            (chan_x, chan_y)
        }
        Some(NextStep::Confirm {
            x: chan_x,
            y: chan_y,
        }) => {
            chan_open_confirm(x, y, port_x, &chan_x, &chan_y).await?;
            (chan_x, chan_y)
        }
    };
    let (channel_a, channel_b) = if flipped {
        (chan_y, chan_x)
    } else {
        (chan_x, chan_y)
    };
    Ok(OpenedChannel {
        ends: ChannelEnds {
            connection: connection.clone(),
            port_a: spec.port_a.clone(),
            channel_a,
            port_b: spec.port_b.clone(),
            channel_b,
        },
        resumed_from,
    })
}

// ───────────────────────────── channels between the pair ─────────────────────────────

/// A channel on `a` whose connection leads to `b`, with both ends' states.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PairChannel {
    /// The identifiers (the `b` side may be empty while the handshake is at INIT).
    pub ends: ChannelEnds,
    /// State on `a` (`OPEN`, `INIT`, …).
    pub state_a: String,
    /// State on `b` (empty when the end does not exist).
    pub state_b: String,
    /// `ORDERED` or `UNORDERED`.
    pub ordering: String,
    /// Application version on `a`.
    pub version: String,
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

fn order_name(order: i32) -> String {
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

// ───────────────────────────── finding work to resume ─────────────────────────────

/// The clients (`client_a`, `client_b`) of an unfinished connection handshake between `a` and
/// `b` (started on either side), if there is one.
pub async fn find_unfinished_connection(
    a: &IbcQuerier,
    b: &IbcQuerier,
) -> std::result::Result<Option<(String, String)>, HandshakeError> {
    for (x, y, flipped) in [(a, b, false), (b, a, true)] {
        let connections = all_connections(x)
            .await
            .map_err(|e| HandshakeError::new(x.chain_id(), "list connections", e))?;
        for c in connections {
            let Some(cp) = c.counterparty.as_ref() else {
                continue;
            };
            let unfinished = if c.state == conn::State::Init as i32 {
                true
            } else if c.state == conn::State::Open as i32 && !cp.connection_id.is_empty() {
                // OPEN here; unfinished when the other end is still TRYOPEN.
                matches!(
                    y.connection(&cp.connection_id).await,
                    Ok(Some(end)) if end.state == conn::State::Tryopen as i32
                )
            } else {
                false
            };
            if !unfinished {
                continue;
            }
            let tracked = client_chain(x, &c.client_id)
                .await
                .map_err(|e| HandshakeError::new(x.chain_id(), "list connections", e))?;
            if tracked != y.chain_id() {
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
    for (x, y, px, py, flipped) in [(a, b, port_a, port_b, false), (b, a, port_b, port_a, true)] {
        for c in pair_channels(x, y).await? {
            let unfinished = matches!(
                (c.state_a.as_str(), c.state_b.as_str()),
                ("INIT", "" | "TRYOPEN") | ("OPEN", "TRYOPEN")
            );
            if unfinished && c.ends.port_a == px && c.ends.port_b == py && c.ordering == wanted {
                let ends = c.ends.connection;
                return Ok(Some(if flipped { ends.reversed() } else { ends }));
            }
        }
    }
    Ok(None)
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
    spec: &ChannelSpec,
    choice: &ConnectionChoice,
    client_options: &ClientOptions,
    delay: Duration,
) -> Result<OpenedChannel> {
    let connection = match choice {
        ConnectionChoice::New => create_clients_and_connection(a, b, client_options, delay).await?,
        ConnectionChoice::Existing(id) => connection_ends(&a.querier, &b.querier, id).await?,
        ConnectionChoice::Any => {
            let (qa, qb) = (&a.querier, &b.querier);
            if let Some(ends) =
                find_unfinished_channel(qa, qb, &spec.port_a, &spec.port_b, spec.ordering).await?
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
    open_channel(a, b, &connection, spec).await
}

// ───────────────────────────── plumbing ─────────────────────────────

async fn prove(chain: &Endpoint, path: &str, h: u64, step: &str) -> Result<(Vec<u8>, Vec<u8>)> {
    chain
        .querier
        .prove(path, h)
        .await
        .map_err(|e| chain.err(step, format!("proof of {path} at {h}: {e}")))
}

/// How long to wait for a chain to reach a height before giving up.
fn height_wait(chain: &Endpoint) -> Duration {
    (chain.config.max_block_time * 3).max(Duration::from_secs(30))
}

async fn wait_for_height(chain: &Endpoint, height: u64, step: &str) -> Result<u64> {
    let deadline = tokio::time::Instant::now() + height_wait(chain);
    loop {
        let latest = chain
            .querier
            .latest_height()
            .await
            .map_err(|e| chain.err(step, format!("latest height: {e}")))?;
        if latest >= height {
            return Ok(latest);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(chain.err(
                step,
                format!("the chain is at height {latest} and did not reach {height} in time"),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Picks the height `H` to prove `src` state at (its latest height once `H + 1` exists, so
/// everything committed before the call is in it), and the `MsgUpdateClient` (if any) that
/// brings the client of `src` on `dst` to `H + 1`.
async fn prepare_proof(
    src: &Endpoint,
    dst: &Endpoint,
    client_on_dst: &str,
    step: &str,
) -> Result<(u64, Vec<Any>)> {
    // H is the latest height, so the state to prove (written by a tx in block ≤ H) is there;
    // proofs need H ≥ 2, and header H + 1 to verify against.
    let latest = wait_for_height(src, 2, step).await?;
    wait_for_height(src, latest + 1, step).await?;
    let cs = dst
        .querier
        .client_state(client_on_dst)
        .await
        .map_err(|e| dst.err(step, format!("client {client_on_dst}: {e}")))?
        .ok_or_else(|| dst.err(step, format!("client {client_on_dst} does not exist")))?;
    if cs.chain_id != src.id() {
        return Err(dst.err(
            step,
            format!(
                "client {client_on_dst} tracks chain {}, not {}",
                cs.chain_id,
                src.id()
            ),
        ));
    }
    if cs
        .frozen_height
        .as_ref()
        .is_some_and(|h| h.revision_number != 0 || h.revision_height != 0)
    {
        return Err(dst.err(step, format!("client {client_on_dst} is frozen")));
    }
    let trusted = cs.latest_height.map_or(0, |h| h.revision_height);
    let mut h = latest;
    if trusted > h + 1 {
        h = trusted - 1;
    }
    let mut msgs = Vec::new();
    if trusted < h + 1 {
        let header = update_header(&src.querier, h + 1, trusted)
            .await
            .map_err(|e| src.err(step, format!("header {} for {client_on_dst}: {e}", h + 1)))?;
        msgs.push(to_any(&client::MsgUpdateClient {
            client_id: client_on_dst.to_string(),
            client_message: Some(header),
            signer: dst.signer.clone(),
        }));
    }
    Ok((h, msgs))
}

/// Submits `msgs` as one tx on `chain`, waits for it, and returns its events.
async fn submit(
    chain: &Endpoint,
    msgs: Vec<Any>,
    step: &str,
) -> Result<Vec<tendermint::abci::Event>> {
    match chain.engine.submit_msgs(msgs).await {
        Outcome::Done { tx_hash, height } => {
            tracing::info!(chain = chain.id(), step, %tx_hash, height, "handshake step done");
            tx_events(&chain.querier, &tx_hash)
                .await
                .map_err(|e| chain.err(step, e))
        }
        Outcome::Redundant => Err(chain.err(step, "the tx was reported redundant")),
        Outcome::Failed { reason, .. } => Err(chain.err(step, reason)),
    }
}

/// The events of the committed tx `tx_hash` (upper-case hex).
pub async fn tx_events(
    q: &IbcQuerier,
    tx_hash: &str,
) -> std::result::Result<Vec<tendermint::abci::Event>, String> {
    let bytes = hex::decode(tx_hash).map_err(|e| format!("bad tx hash {tx_hash}: {e}"))?;
    let hash = tendermint::Hash::from_bytes(tendermint::hash::Algorithm::Sha256, &bytes)
        .map_err(|e| format!("bad tx hash {tx_hash}: {e}"))?;
    let tx = q
        .rpc()
        .tx(hash, false)
        .await
        .map_err(|e| format!("tx {tx_hash}: {e}"))?;
    Ok(tx.tx_result.events)
}

/// The value of attribute `key` of the first event of kind `kind`.
pub fn event_attr(events: &[tendermint::abci::Event], kind: &str, key: &str) -> Option<String> {
    events
        .iter()
        .filter(|e| e.kind == kind)
        .flat_map(|e| e.attributes.iter())
        .find(|a| a.key_bytes() == key.as_bytes())
        .and_then(|a| a.value_str().ok().map(str::to_string))
}

/// The values of attribute `key` of every event of kind `kind`, in order.
pub fn event_attrs(events: &[tendermint::abci::Event], kind: &str, key: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.kind == kind)
        .filter_map(|e| {
            e.attributes
                .iter()
                .find(|a| a.key_bytes() == key.as_bytes())
                .and_then(|a| a.value_str().ok().map(str::to_string))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_rank_by_progress() {
        let t = NextStep::Try { x: "c-0".into() };
        let a = NextStep::Ack {
            x: "c-1".into(),
            y: "c-0".into(),
        };
        let c = NextStep::Confirm {
            x: "c-2".into(),
            y: "c-3".into(),
        };
        let best = [t.clone(), c.clone(), a]
            .into_iter()
            .max_by_key(|s| (s.rank(), std::cmp::Reverse(s.clone())));
        assert_eq!(best, Some(c));
        assert_eq!(t.rank(), 0);
    }

    #[test]
    fn state_names_are_short() {
        assert_eq!(chan_state_name(chan::State::Open as i32), "OPEN");
        assert_eq!(chan_state_name(chan::State::Tryopen as i32), "TRYOPEN");
        assert_eq!(order_name(chan::Order::Unordered as i32), "UNORDERED");
        assert_eq!(delay_nanos(Duration::from_secs(2)), 2_000_000_000);
    }
}
