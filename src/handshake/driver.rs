//! The one step driver that ICS-03 connections and ICS-04 channels both run on.
//!
//! The two handshakes have the same four steps; only the end type differs. What differs is the
//! [`Handshake`] trait, implemented once per end type: which ends a step reads, which client it
//! updates, what it proves and the message it builds ([`Plan`]). Everything else is here and
//! shared: picking the proof height `H` (and the `MsgUpdateClient` to `H + 1` put in front),
//! proving, submitting through the TxEngine, reading the new identifier from the tx's events,
//! and [`open`], which runs the missing steps of a handshake from where it stopped.
//!
//! Steps are written from the side that started the handshake: `a` ran Init, `b` runs Try and
//! Confirm, `a` runs Ack.

use cosmos::events::event_attr;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use ibc_proto::google::protobuf::Any;
use ibc_proto::ibc::core::client::v1 as client;
use ibc_proto::ibc::lightclients::tendermint::v1::ClientState;
use prost::Message;

use super::events::tx_events;
use super::resume::{most_advanced_step, started_on_b, HandshakeEnd, NextStep};
use super::{Endpoint, Result};
use crate::chain::client_status::is_frozen;
use crate::chain::light::{update_client_msgs, TrustLevel};
use crate::tx::engine::Outcome;

/// A step of the opening handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    Init,
    Try,
    Ack,
    Confirm,
}

impl Step {
    fn word(self) -> &'static str {
        match self {
            Step::Init => "init",
            Step::Try => "try",
            Step::Ack => "ack",
            Step::Confirm => "confirm",
        }
    }

    /// The step's name in errors and logs, e.g. `connection open try`.
    pub(super) fn name<K: Handshake>(self) -> String {
        format!("{} open {}", K::NAME, self.word())
    }

    /// The kind of the event the step's tx emits, e.g. `connection_open_try`.
    fn event<K: Handshake>(self) -> String {
        format!("{}_open_{}", K::NAME, self.word())
    }
}

/// What the driver needs of an end type (ICS-03 connection, ICS-04 channel): how each proving
/// step reads its ends and builds its message. `step` is the step's name, for errors.
pub(super) trait Handshake: Sync {
    /// `connection` or `channel`: names the steps and their events.
    const NAME: &'static str;
    /// The attribute of the Init and Try events that holds the new end's id.
    const ID_KEY: &'static str;
    /// The end as the chain stores it.
    type End: HandshakeEnd;

    /// Try on `b` for end `id_a` in INIT on `a`.
    fn plan_try(
        &self,
        a: &Endpoint,
        b: &Endpoint,
        id_a: &str,
        step: &str,
    ) -> impl Future<Output = Result<Plan>> + Send;

    /// Ack on `a` (end `id_a` in INIT) for end `id_b` in TRYOPEN on `b`.
    fn plan_ack(
        &self,
        a: &Endpoint,
        b: &Endpoint,
        id_a: &str,
        id_b: &str,
        step: &str,
    ) -> impl Future<Output = Result<Plan>> + Send;

    /// Confirm on `b` (end `id_b` in TRYOPEN) for end `id_a` OPEN on `a`.
    fn plan_confirm(
        &self,
        a: &Endpoint,
        b: &Endpoint,
        id_a: &str,
        id_b: &str,
        step: &str,
    ) -> impl Future<Output = Result<Plan>> + Send;
}

/// A proving step, planned from the ends it read: what to prove on the proving chain and how
/// to build the message for the submitting chain.
pub(super) struct Plan {
    /// The client of the proving chain on the submitting chain; brought to `H + 1` first.
    pub(super) client: String,
    /// The store path of the proven end, e.g. `connections/connection-0`.
    pub(super) path: String,
    /// Also prove the proving chain's client `prove_client` (of the submitting chain) and its
    /// consensus state at its latest height (connection Try and Ack).
    pub(super) prove_client: Option<String>,
    /// Builds the handshake message from the proofs.
    pub(super) msg: Box<dyn FnOnce(Proofs) -> Any + Send>,
}

/// The proofs a [`Plan`] asked for, at `H` on the proving chain.
pub(super) struct Proofs {
    /// `H + 1` on the proving chain (the header the client was updated to).
    pub(super) height: client::Height,
    /// Proof of the end at [`Plan::path`].
    pub(super) end: Vec<u8>,
    /// When [`Plan::prove_client`] named a client: its state and proofs.
    pub(super) client: Option<ClientProofs>,
}

/// Proofs of the proving chain's client of the submitting chain and of that client's consensus
/// state at its latest height.
#[derive(Default)]
pub(super) struct ClientProofs {
    pub(super) client_state: Any,
    pub(super) client: Vec<u8>,
    pub(super) consensus: Vec<u8>,
    pub(super) consensus_height: client::Height,
}

/// Init on `a` with `msg`; returns the new end's id.
pub(super) async fn init<K: Handshake>(a: &Endpoint, msg: Any) -> Result<String> {
    let step = Step::Init.name::<K>();
    let events = submit(a, vec![msg], &step).await?;
    new_id::<K>(a, &events, Step::Init, &step)
}

/// Try on `b` for end `id_a` in INIT on `a`; returns the new end's id on `b`.
pub(super) async fn open_try<K: Handshake>(
    kind: &K,
    a: &Endpoint,
    b: &Endpoint,
    id_a: &str,
) -> Result<String> {
    let step = Step::Try.name::<K>();
    let plan = kind.plan_try(a, b, id_a, &step).await?;
    let events = prove_and_submit(a, b, plan, &step).await?;
    new_id::<K>(b, &events, Step::Try, &step)
}

/// Ack on `a` for end `id_b` in TRYOPEN on `b`.
pub(super) async fn open_ack<K: Handshake>(
    kind: &K,
    a: &Endpoint,
    b: &Endpoint,
    id_a: &str,
    id_b: &str,
) -> Result<()> {
    let step = Step::Ack.name::<K>();
    let plan = kind.plan_ack(a, b, id_a, id_b, &step).await?;
    prove_and_submit(b, a, plan, &step).await.map(drop)
}

/// Confirm on `b` for end `id_a` OPEN on `a`.
pub(super) async fn open_confirm<K: Handshake>(
    kind: &K,
    a: &Endpoint,
    b: &Endpoint,
    id_a: &str,
    id_b: &str,
) -> Result<()> {
    let step = Step::Confirm.name::<K>();
    let plan = kind.plan_confirm(a, b, id_a, id_b, &step).await?;
    prove_and_submit(a, b, plan, &step).await.map(drop)
}

fn new_id<K: Handshake>(
    chain: &Endpoint,
    events: &[tendermint::abci::Event],
    step: Step,
    name: &str,
) -> Result<String> {
    let kind = step.event::<K>();
    event_attr(events, &kind, K::ID_KEY)
        .ok_or_else(|| chain.err(name, format!("the tx has no {kind} event")))
}

/// One chain's side of a handshake to open: the chain, the end type as seen from it (a channel's
/// port differs per side), and its ends in the handshake's scope (same clients, or same
/// connection, ports and ordering), among which an unfinished one is looked for.
pub(super) struct OnChain<'e, K: Handshake> {
    pub(super) chain: &'e Endpoint,
    pub(super) kind: K,
    pub(super) ends: BTreeMap<String, K::End>,
}

/// The outcome of [`open`]: the ids on the pair's `a` and `b`.
pub(super) struct Opened {
    pub(super) id_a: String,
    pub(super) id_b: String,
    /// `Some("connection-0 INIT on devnet-1")`-like description of the state it was resumed
    /// from.
    pub(super) resumed_from: Option<String>,
}

/// Opens a handshake between `a` and `b`: continues the most advanced unfinished one among
/// their ends (started on either side), else runs `init` (on `a`) and the rest.
pub(super) async fn open<K: Handshake>(
    a: OnChain<'_, K>,
    b: OnChain<'_, K>,
    init: impl Future<Output = Result<String>>,
) -> Result<Opened> {
    let from_a = most_advanced_step(&a.ends, &b.ends);
    let from_b = most_advanced_step(&b.ends, &a.ends);
    if started_on_b(&from_a, &from_b) {
        let (id_b, id_a, resumed_from) = run(&b, &a, from_b, init).await?;
        Ok(Opened {
            id_a,
            id_b,
            resumed_from,
        })
    } else {
        let (id_a, id_b, resumed_from) = run(&a, &b, from_a, init).await?;
        Ok(Opened {
            id_a,
            id_b,
            resumed_from,
        })
    }
}

/// Runs the steps after `next` (all of them, starting with `init`, when `None`) of a handshake
/// started on `a`; returns the ids on `a` and `b` and where it resumed from.
async fn run<K: Handshake>(
    a: &OnChain<'_, K>,
    b: &OnChain<'_, K>,
    next: Option<NextStep>,
    init: impl Future<Output = Result<String>>,
) -> Result<(String, String, Option<String>)> {
    let resumed_from = next.as_ref().map(|s| s.describe(a.chain));
    if let Some(from) = &resumed_from {
        tracing::info!(from = %from, "continuing an unfinished {} handshake", K::NAME);
    }
    let (k, ca, cb) = (&a.kind, a.chain, b.chain);
    let (id_a, id_b) = match next {
        None | Some(NextStep::Try { .. }) => {
            let id_a = match next {
                Some(NextStep::Try { a }) => a,
                _ => init.await?,
            };
            let id_b = open_try(k, ca, cb, &id_a).await?;
            open_ack(k, ca, cb, &id_a, &id_b).await?;
            open_confirm(k, ca, cb, &id_a, &id_b).await?;
            (id_a, id_b)
        }
        Some(NextStep::Ack { a: id_a, b: id_b }) => {
            open_ack(k, ca, cb, &id_a, &id_b).await?;
            open_confirm(k, ca, cb, &id_a, &id_b).await?;
            (id_a, id_b)
        }
        Some(NextStep::Confirm { a: id_a, b: id_b }) => {
            open_confirm(k, ca, cb, &id_a, &id_b).await?;
            (id_a, id_b)
        }
    };
    Ok((id_a, id_b, resumed_from))
}

/// Brings `plan.client` on `dst` to `H + 1` of `src`, proves what `plan` asks at `H` on `src`,
/// and submits the update and the message on `dst` in one tx.
async fn prove_and_submit(
    src: &Endpoint,
    dst: &Endpoint,
    plan: Plan,
    step: &str,
) -> Result<Vec<tendermint::abci::Event>> {
    let (h, mut msgs) = prepare_proof(src, dst, &plan.client, step).await?;
    let (_, end) = prove(src, &plan.path, h, step).await?;
    let client = match &plan.prove_client {
        Some(client_id) => Some(client_proofs(src, client_id, h, step).await?),
        None => None,
    };
    msgs.push((plan.msg)(Proofs {
        height: src.querier.ibc_height(h + 1),
        end,
        client,
    }));
    submit(dst, msgs, step).await
}

/// Proofs at `h` on `chain` of its client `client_id` and of that client's consensus state at
/// its latest height.
async fn client_proofs(
    chain: &Endpoint,
    client_id: &str,
    h: u64,
    step: &str,
) -> Result<ClientProofs> {
    let (cs_bytes, client) =
        prove(chain, &format!("clients/{client_id}/clientState"), h, step).await?;
    let client_state = Any::decode(cs_bytes.as_slice())
        .map_err(|e| chain.err(step, format!("client state of {client_id}: {e}")))?;
    let cs = ClientState::decode(client_state.value.as_slice())
        .map_err(|e| chain.err(step, format!("client state of {client_id}: {e}")))?;
    let consensus_height = cs
        .latest_height
        .ok_or_else(|| chain.err(step, format!("client {client_id} has no latest height")))?;
    let (_, consensus) = prove(
        chain,
        &format!(
            "clients/{client_id}/consensusStates/{}-{}",
            consensus_height.revision_number, consensus_height.revision_height
        ),
        h,
        step,
    )
    .await?;
    Ok(ClientProofs {
        client_state,
        client,
        consensus,
        consensus_height,
    })
}

/// The value at `path` on `chain` at height `h`, and its proof.
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

/// Waits until `chain` is at `height` or above; returns its latest height.
pub(super) async fn wait_for_height(chain: &Endpoint, height: u64, step: &str) -> Result<u64> {
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
    if is_frozen(&cs) {
        return Err(dst.err(step, format!("client {client_on_dst} is frozen")));
    }
    let trusted = cs.latest_height.map_or(0, |h| h.revision_height);
    let mut h = latest;
    if trusted > h + 1 {
        h = trusted - 1;
    }
    let mut msgs = Vec::new();
    if trusted < h + 1 {
        msgs = update_client_msgs(
            &src.querier,
            client_on_dst,
            &dst.signer,
            h + 1,
            trusted,
            TrustLevel::of(&cs),
        )
        .await
        .map_err(|e| src.err(step, format!("header {} for {client_on_dst}: {e}", h + 1)))?;
    }
    Ok((h, msgs))
}

/// Submits `msgs` as one tx on `chain`, waits for it, and returns its events.
pub(super) async fn submit(
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
        Outcome::Redundant | Outcome::RedundantInMempool => {
            Err(chain.err(step, "the tx was reported redundant"))
        }
        Outcome::Failed { reason, .. } => Err(chain.err(step, reason)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::connections::ConnectionHandshake;

    #[test]
    fn steps_name_themselves_and_their_events() {
        assert_eq!(
            Step::Try.name::<ConnectionHandshake>(),
            "connection open try"
        );
        assert_eq!(
            Step::Init.event::<ConnectionHandshake>(),
            "connection_open_init"
        );
    }
}
