//! The TxEngine of one chain and signer: workers hand it relay items and get each outcome back on
//! a oneshot. It batches items into txs bounded by `max_msg_num`, `max_tx_size` and `max_gas`,
//! proves them all at one height on the counterparty and puts one `MsgUpdateClient` in front,
//! estimates gas with Simulate, tracks the account sequence locally (recovering it from
//! "expected N" on code 32), broadcasts with `broadcast_tx_sync` and confirms inclusion
//! asynchronously.
//!
//! # Shape
//!
//! [`TxEngine`] is a cheap handle around a bounded `mpsc` of requests; a full queue is
//! back-pressure on the callers. One task, the *pump*, owns the signer and its sequence, so
//! nothing about the sequence is shared or locked:
//!
//! 1. it waits for a first request, then gathers more for `batch_window` or until
//!    `max_msg_num` items;
//! 2. relay items are grouped by client id. For a group it takes `H` = counterparty latest
//!    height − 1 (so header `H + 1` exists), reads this chain's client state (trusted height
//!    `T`), proves every item at `H` and builds its message with proof height `H + 1`;
//! 3. the group is cut into txs of at most `max_msg_num` messages and `max_tx_size` bytes. When
//!    `T < H + 1` **every** tx of the group leads with its own `MsgUpdateClient` to `H + 1`
//!    (trusting `T`): txs of one group may land in one block in any order or one may fail, and a
//!    repeated update to a height the client already has is a no-op, so each tx stands alone;
//! 4. gas is `simulate × gas_multiplier`; a tx whose estimate exceeds `max_gas` is split in two
//!    (each half with the update) until it fits or holds one item, which is then sent with
//!    `max_gas`. A failed simulation is logged and the tx sent with `max_gas`. The fee is
//!    `ceil(gas × gas_price)`;
//! 5. the tx is signed at the local sequence and broadcast with `broadcast_tx_sync`. Code 0
//!    advances the sequence and hands the tx to a confirmation task; code 32 sets the sequence
//!    from "expected N" (or re-queries the account) and re-signs, a few times; code 22 "packet
//!    messages are redundant" makes every item of the tx [`Outcome::Redundant`] without
//!    advancing the sequence; anything else fails the tx's items.
//!
//! Confirmation tasks poll `/tx` by hash every `confirm_poll` until `confirm_timeout`; they live
//! in a `JoinSet` of the pump, so the pump builds the next batch while earlier txs confirm. An
//! executed tx gives [`Outcome::Done`] to each item, or [`Outcome::Redundant`] to an item whose
//! message response is NOOP (another relayer's tx got there first in the same or an earlier
//! block). A tx can also vanish after passing CheckTx: the mempool re-checks its txs after each
//! block and evicts those that became redundant (and, behind them, those whose sequence no longer
//! fits). About once a block a waiting task therefore asks whether the account's committed
//! sequence has passed the tx's (then the tx is lost) and, after a few blocks, whether every
//! item's effect is already on chain (then the tx is moot). Items of a lost tx whose effect is on
//! chain anyway are `Redundant`; the others fail, retryable.
//!
//! An item whose commitment or acknowledgement is absent at `H` is not failed at once: the event
//! that produced it may be in block `H + 1`. It waits in the pump for the counterparty to advance
//! and is proved again; after `defer_blocks` more blocks without it, a `Recv` is `Redundant` (the
//! commitment is gone: the packet was acknowledged or timed out) and an `Ack` fails.
//!
//! # Shutdown
//!
//! When the token is cancelled (or every handle is dropped) the pump stops taking requests,
//! fails what is queued or waiting with a retryable [`Outcome::Failed`], waits for its pending
//! confirmations (each bounded by `confirm_timeout`; the caller bounds the whole with its
//! `shutdown_grace` by aborting the task) and returns.

use std::collections::BTreeMap;
use std::time::Duration;

use cosmos::to_any;
use ibc_proto::cosmos::base::abci::v1beta1::TxMsgData;
use ibc_proto::google::protobuf::Any;
use ibc_proto::ibc::core::channel::v1::{MsgRecvPacketResponse, ResponseResultType};
use ibc_proto::ibc::core::client::v1::{Height, MsgUpdateClient};
use prost::Message;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, info_span, warn, Instrument};

use crate::chain::light;
use crate::chain::query::IbcQuerier;
use crate::chain::types::{RelayItem, RelayKind};
use crate::config::{ChainConfig, GasPrice};

use super::packet::{build_message, proof_path, Unbuildable};
use super::sign::{expected_sequence, fee_for, gas_limit_for, message_size, TxSigner};

/// What became of a submitted item or message set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Included in a block with code 0 and executed.
    Done {
        /// Upper-case hex tx hash.
        tx_hash: String,
        /// Block height.
        height: u64,
    },
    /// Another relayer got there first: CheckTx code 22 "packet messages are redundant", or a
    /// NOOP result in an executed tx. Counts as done.
    Redundant,
    /// Failed; `retryable` tells whether trying again later can help.
    Failed {
        /// Why.
        reason: String,
        /// Whether to retry.
        retryable: bool,
    },
}

impl Outcome {
    fn failed(reason: impl Into<String>, retryable: bool) -> Self {
        Self::Failed {
            reason: reason.into(),
            retryable,
        }
    }
}

/// Tuning of a [`TxEngine`] beyond the chain's config.
#[derive(Clone, Debug)]
pub struct TxEngineOptions {
    /// Capacity of the request queue.
    pub queue_capacity: usize,
    /// How long the pump gathers more requests after the first one.
    pub batch_window: Duration,
    /// Interval between `/tx` polls of a pending tx (about half a block).
    pub confirm_poll: Duration,
    /// How long a broadcast tx may take to appear in a block before its items fail.
    pub confirm_timeout: Duration,
    /// Counterparty blocks an item may stay unprovable (commitment or ack absent) before it is
    /// settled.
    pub defer_blocks: u64,
    /// Re-signs after an account sequence mismatch (code 32), per tx.
    pub sequence_retries: u32,
}

impl Default for TxEngineOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 1024,
            batch_window: Duration::from_millis(100),
            confirm_poll: Duration::from_millis(250),
            confirm_timeout: Duration::from_secs(60),
            defer_blocks: 3,
            sequence_retries: 4,
        }
    }
}

/// A relay item waiting for its tx.
struct PendingItem {
    client_id: String,
    item: RelayItem,
    reply: oneshot::Sender<Outcome>,
    /// (first, last) counterparty heights at which its proof found nothing.
    absent_at: Option<(u64, u64)>,
}

enum Request {
    Relay(Box<PendingItem>),
    Msgs {
        msgs: Vec<Any>,
        reply: oneshot::Sender<Outcome>,
    },
}

impl Request {
    fn fail(self, outcome: Outcome) {
        let reply = match self {
            Request::Relay(p) => p.reply,
            Request::Msgs { reply, .. } => reply,
        };
        let _ = reply.send(outcome);
    }
}

fn stopped() -> Outcome {
    Outcome::failed("tx engine stopped", true)
}

/// A handle to a running TxEngine. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TxEngine {
    requests: mpsc::Sender<Request>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Request::Relay(p) => write!(
                f,
                "Relay({} {} seq {})",
                p.client_id, p.item.kind, p.item.packet.sequence
            ),
            Request::Msgs { msgs, .. } => write!(f, "Msgs({})", msgs.len()),
        }
    }
}

impl TxEngine {
    /// Starts the engine of `config`'s chain (`host`), signing with `key`, proving items on
    /// `counterparty`, with default [`TxEngineOptions`]. The task ends after `shutdown` is
    /// cancelled and pending confirmations are settled.
    pub fn spawn(
        config: &ChainConfig,
        host: IbcQuerier,
        counterparty: IbcQuerier,
        key: cosmos::AccountKey,
        shutdown: CancellationToken,
    ) -> (TxEngine, JoinHandle<()>) {
        Self::spawn_with(
            config,
            host,
            counterparty,
            key,
            shutdown,
            TxEngineOptions::default(),
        )
    }

    /// [`TxEngine::spawn`] with explicit options.
    pub fn spawn_with(
        config: &ChainConfig,
        host: IbcQuerier,
        counterparty: IbcQuerier,
        key: cosmos::AccountKey,
        shutdown: CancellationToken,
        options: TxEngineOptions,
    ) -> (TxEngine, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(options.queue_capacity.max(1));
        let signer = TxSigner::new(key, &config.account_prefix, host.chain_id());
        let span = info_span!("tx_engine", chain = %host.chain_id(), signer = %signer.address());
        let pump = Pump {
            host,
            counterparty,
            signer,
            account_loaded: false,
            limits: Limits {
                gas_price: config.gas_price.clone(),
                gas_multiplier: config.gas_multiplier,
                max_gas: config.max_gas.max(1),
                max_msg_num: config.max_msg_num.max(1),
                max_tx_size: config.max_tx_size,
            },
            options,
            confirmations: JoinSet::new(),
            deferred: Vec::new(),
        };
        let handle = tokio::spawn(pump.run(rx, shutdown).instrument(span));
        (TxEngine { requests: tx }, handle)
    }

    /// Queues `item` for submission on this engine's chain; its proof comes from the
    /// counterparty, verified through client `client_id` (the counterparty's client on this
    /// chain). The outcome arrives on the returned receiver once the tx is confirmed or failed.
    pub async fn submit(&self, client_id: &str, item: RelayItem) -> oneshot::Receiver<Outcome> {
        let (reply, rx) = oneshot::channel();
        let request = Request::Relay(Box::new(PendingItem {
            client_id: client_id.to_string(),
            item,
            reply,
            absent_at: None,
        }));
        if let Err(mpsc::error::SendError(request)) = self.requests.send(request).await {
            request.fail(stopped());
        }
        rx
    }

    /// Signs and broadcasts `msgs` as one tx (no proofs, no client update), waiting for the
    /// outcome: for handshakes, client creation and transfers.
    pub async fn submit_msgs(&self, msgs: Vec<Any>) -> Outcome {
        let (reply, rx) = oneshot::channel();
        if let Err(mpsc::error::SendError(request)) =
            self.requests.send(Request::Msgs { msgs, reply }).await
        {
            request.fail(stopped());
        }
        rx.await.unwrap_or_else(|_| stopped())
    }
}

/// The chain's tx limits and prices.
#[derive(Clone, Debug)]
struct Limits {
    gas_price: GasPrice,
    gas_multiplier: f64,
    max_gas: u64,
    max_msg_num: usize,
    max_tx_size: usize,
}

/// Where the effect of a packet message shows on the host chain: a receipt (or
/// `nextSequenceRecv`) for `Recv`, the deletion of the packet commitment for `Ack` and `Timeout`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Effect {
    received: bool,
    port: String,
    channel: String,
    sequence: u64,
}

impl Effect {
    fn of(item: &RelayItem) -> Self {
        let p = &item.packet;
        match item.kind {
            RelayKind::Recv => Self {
                received: true,
                port: p.destination_port.clone(),
                channel: p.destination_channel.clone(),
                sequence: p.sequence,
            },
            RelayKind::Ack | RelayKind::Timeout => Self {
                received: false,
                port: p.source_port.clone(),
                channel: p.source_channel.clone(),
                sequence: p.sequence,
            },
        }
    }
}

/// An item waiting for its tx.
struct Waiter {
    reply: oneshot::Sender<Outcome>,
    effect: Effect,
}

/// The messages of one tx and who waits for them.
struct TxPlan {
    /// Messages leading the tx (the client update, or a `submit_msgs` set).
    lead: Vec<Any>,
    /// Packet messages and the items waiting for them.
    items: Vec<(Any, Waiter)>,
    /// The waiter of a `submit_msgs` set.
    whole: Option<oneshot::Sender<Outcome>>,
}

impl TxPlan {
    fn msgs(&self) -> Vec<Any> {
        self.lead
            .iter()
            .cloned()
            .chain(self.items.iter().map(|(m, _)| m.clone()))
            .collect()
    }

    fn len(&self) -> usize {
        self.lead.len() + self.items.len()
    }

    /// Two plans with the same lead and half of the items each.
    fn split(mut self) -> (TxPlan, TxPlan) {
        let back = self.items.split_off(self.items.len() / 2);
        let second = TxPlan {
            lead: self.lead.clone(),
            items: back,
            whole: None,
        };
        (self, second)
    }

    /// Gives every waiter `outcome`.
    fn settle_all(self, outcome: Outcome) {
        for (_, waiter) in self.items {
            let _ = waiter.reply.send(outcome.clone());
        }
        if let Some(reply) = self.whole {
            let _ = reply.send(outcome);
        }
    }

    /// Gives every waiter the outcome of an executed tx with code 0: `Done`, or `Redundant` for
    /// an item whose message response is NOOP.
    fn settle_executed(self, tx_hash: &str, height: u64, data: &[u8]) {
        let noops = noop_responses(data);
        let done = Outcome::Done {
            tx_hash: tx_hash.to_string(),
            height,
        };
        let lead = self.lead.len();
        for (i, (_, waiter)) in self.items.into_iter().enumerate() {
            let noop = noops.get(lead + i).copied().unwrap_or(false);
            let _ = waiter.reply.send(if noop {
                Outcome::Redundant
            } else {
                done.clone()
            });
        }
        if let Some(reply) = self.whole {
            let _ = reply.send(done);
        }
    }
}

/// For each message of an executed tx (from its `TxMsgData`), whether its response is a packet
/// message response with result NOOP. Undecodable data gives an empty list (nothing is NOOP).
fn noop_responses(data: &[u8]) -> Vec<bool> {
    const PACKET_RESPONSES: [&str; 4] = [
        "/ibc.core.channel.v1.MsgRecvPacketResponse",
        "/ibc.core.channel.v1.MsgAcknowledgementResponse",
        "/ibc.core.channel.v1.MsgTimeoutResponse",
        "/ibc.core.channel.v1.MsgTimeoutOnCloseResponse",
    ];
    const PACKET_MSGS: [&str; 4] = [
        "/ibc.core.channel.v1.MsgRecvPacket",
        "/ibc.core.channel.v1.MsgAcknowledgement",
        "/ibc.core.channel.v1.MsgTimeout",
        "/ibc.core.channel.v1.MsgTimeoutOnClose",
    ];
    // Every packet message response is `{ result: ResponseResultType = 1 }`.
    let is_noop = |bytes: &[u8]| {
        MsgRecvPacketResponse::decode(bytes)
            .map(|r| r.result == ResponseResultType::Noop as i32)
            .unwrap_or(false)
    };
    let Ok(msg_data) = TxMsgData::decode(data) else {
        return Vec::new();
    };
    if !msg_data.msg_responses.is_empty() {
        return msg_data
            .msg_responses
            .iter()
            .map(|any| PACKET_RESPONSES.contains(&any.type_url.as_str()) && is_noop(&any.value))
            .collect();
    }
    // SDK < 0.46: `data: [MsgData{msg_type, data}]`.
    #[allow(deprecated)]
    let legacy = msg_data
        .data
        .iter()
        .map(|d| PACKET_MSGS.contains(&d.msg_type.as_str()) && is_noop(&d.data))
        .collect();
    legacy
}

/// The raw bytes of a tx result's `data`. tendermint-rpc 0.40 decodes that JSON field with
/// `bytes::Bytes`' own serde, which keeps the base64 text as it is; protobuf `TxMsgData` never
/// starts with a base64 character (its first byte is a field tag, 0x0a or 0x12), so text that is
/// all base64 is decoded and anything else is taken as raw.
fn result_data(data: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let is_b64 = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    if !data.is_empty() && data.iter().all(is_b64) {
        if let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(data) {
            return raw;
        }
    }
    data.to_vec()
}

/// Whether CheckTx rejected a tx as redundant relay (ibc-go's `RedundantRelayDecorator`).
fn is_redundant(code: u32, codespace: &str, log: &str) -> bool {
    (code == 22 && codespace == "channel") || log.contains("packet messages are redundant")
}

/// Whether a CheckTx rejection with `code` in `codespace` can succeed later. Refused for good:
/// an undecodable tx (sdk 2), a bad signature (4), a bad address (7), an oversized memo (12) or
/// tx (21), an unknown message type (sdk 6 is "unknown request"; ibc messages are all known).
/// Everything else (out of gas 11, insufficient fee 13 or funds 5, mempool full 20, IBC
/// verification errors, …) may pass on a later attempt.
fn retryable_check(code: u32, codespace: &str) -> bool {
    !(codespace == "sdk" && matches!(code, 2 | 4 | 6 | 7 | 12 | 21))
}

/// Gas estimate of a tx.
enum Estimate {
    /// Use this gas limit.
    Gas(u64),
    /// The estimate exceeds `max_gas`.
    TooMuch(u64),
}

/// The task owning the signer: batches, builds, signs and broadcasts.
struct Pump {
    host: IbcQuerier,
    counterparty: IbcQuerier,
    signer: TxSigner,
    account_loaded: bool,
    limits: Limits,
    options: TxEngineOptions,
    confirmations: JoinSet<()>,
    deferred: Vec<PendingItem>,
}

impl Pump {
    async fn run(mut self, mut requests: mpsc::Receiver<Request>, shutdown: CancellationToken) {
        info!("tx engine started");
        loop {
            while self.confirmations.try_join_next().is_some() {}
            let first = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                request = requests.recv() => match request {
                    Some(r) => Some(r),
                    None => break,
                },
                Some(_) = self.confirmations.join_next() => continue,
                _ = tokio::time::sleep(self.options.batch_window), if !self.deferred.is_empty() => None,
            };
            let mut batch = Vec::new();
            if let Some(first) = first {
                batch.push(first);
                let deadline = Instant::now() + self.options.batch_window;
                while batch.len() < self.limits.max_msg_num {
                    tokio::select! {
                        biased;
                        _ = shutdown.cancelled() => break,
                        r = tokio::time::timeout_at(deadline, requests.recv()) => match r {
                            Ok(Some(request)) => batch.push(request),
                            Ok(None) | Err(_) => break,
                        },
                    }
                }
            }
            self.process(batch).await;
        }
        // Stop taking work; settle what is queued or waiting; let confirmations finish.
        requests.close();
        let mut refused = 0usize;
        while let Ok(request) = requests.try_recv() {
            request.fail(stopped());
            refused += 1;
        }
        for p in self.deferred.drain(..) {
            let _ = p.reply.send(stopped());
            refused += 1;
        }
        let pending = self.confirmations.len();
        info!(
            refused,
            pending, "tx engine stopping; waiting for pending confirmations"
        );
        while self.confirmations.join_next().await.is_some() {}
        info!("tx engine stopped");
    }

    async fn process(&mut self, batch: Vec<Request>) {
        let mut groups: BTreeMap<String, Vec<PendingItem>> = BTreeMap::new();
        for p in std::mem::take(&mut self.deferred) {
            groups.entry(p.client_id.clone()).or_default().push(p);
        }
        for request in batch {
            match request {
                Request::Relay(p) => groups.entry(p.client_id.clone()).or_default().push(*p),
                Request::Msgs { msgs, reply } => {
                    if msgs.is_empty() {
                        let _ = reply.send(Outcome::failed("no messages to send", false));
                        continue;
                    }
                    self.send(TxPlan {
                        lead: msgs,
                        items: Vec::new(),
                        whole: Some(reply),
                    })
                    .await;
                }
            }
        }
        for (client_id, items) in groups {
            self.relay_group(&client_id, items).await;
        }
    }

    /// Proves, builds, cuts into txs and sends the items of one client.
    async fn relay_group(&mut self, client_id: &str, items: Vec<PendingItem>) {
        let fail_all = |items: Vec<PendingItem>, outcome: Outcome| {
            for p in items {
                let _ = p.reply.send(outcome.clone());
            }
        };
        let latest = match self.counterparty.latest_height().await {
            Ok(h) => h,
            Err(e) => {
                let reason = format!("{}: latest height: {e}", self.counterparty.chain_id());
                return fail_all(items, Outcome::failed(reason, true));
            }
        };
        if latest < 3 {
            // Proofs need height ≥ 2 and header H + 1; wait for the chain to grow.
            self.deferred.extend(items);
            return;
        }
        let client_state = match self.host.client_state(client_id).await {
            Ok(Some(cs)) => cs,
            Ok(None) => {
                let reason = format!("client {client_id} not found on {}", self.host.chain_id());
                return fail_all(items, Outcome::failed(reason, false));
            }
            Err(e) => {
                let reason = format!("client state of {client_id}: {e}");
                return fail_all(items, Outcome::failed(reason, true));
            }
        };
        if client_state
            .frozen_height
            .as_ref()
            .is_some_and(|h| h.revision_height != 0 || h.revision_number != 0)
        {
            let reason = format!("client {client_id} is frozen");
            return fail_all(items, Outcome::failed(reason, false));
        }
        let trusted = client_state
            .latest_height
            .as_ref()
            .map_or(0, |h| h.revision_height);
        // Proofs at H verify against header H + 1. If the client is already past H + 1 (another
        // relayer updated it since we read the height), prove at its height − 1 instead, so
        // the consensus state for the proof height exists.
        let mut h = latest - 1;
        if trusted > h + 1 {
            h = trusted - 1;
        }
        let proof_height = Height {
            revision_number: self.counterparty.revision(),
            revision_height: h + 1,
        };

        // Items already found unprovable at this height wait for the next block.
        let (items, waiting): (Vec<_>, Vec<_>) = items
            .into_iter()
            .partition(|p| p.absent_at.is_none_or(|(_, last)| h > last));
        self.deferred.extend(waiting);
        if items.is_empty() {
            return;
        }

        let paths: Vec<String> = items.iter().map(|p| proof_path(&p.item)).collect();
        let proofs =
            futures::future::join_all(paths.iter().map(|path| self.counterparty.prove(path, h)))
                .await;
        let signer = self.signer.address().to_string();
        let mut ready = Vec::new();
        for (mut p, proof) in items.into_iter().zip(proofs) {
            let (value, proof) = match proof {
                Ok(vp) => vp,
                Err(e) => {
                    let reason = format!("proof of {} at {h}: {e}", proof_path(&p.item));
                    let _ = p.reply.send(Outcome::failed(reason, true));
                    continue;
                }
            };
            match build_message(&p.item, &value, proof, proof_height, &signer) {
                Ok(msg) => ready.push((
                    msg,
                    Waiter {
                        reply: p.reply,
                        effect: Effect::of(&p.item),
                    },
                )),
                Err(Unbuildable::Absent) => {
                    let first = p.absent_at.map_or(h, |(first, _)| first);
                    if h < first + self.options.defer_blocks {
                        debug!(
                            kind = %p.item.kind,
                            sequence = p.item.packet.sequence,
                            height = h,
                            "nothing to prove yet; waiting for the next block"
                        );
                        p.absent_at = Some((first, h));
                        self.deferred.push(p);
                        continue;
                    }
                    let outcome = match p.item.kind {
                        // The commitment is gone: acknowledged or timed out already.
                        RelayKind::Recv => Outcome::Redundant,
                        _ => Outcome::failed(
                            format!(
                                "{} absent on {} from height {first} to {h}",
                                proof_path(&p.item),
                                self.counterparty.chain_id()
                            ),
                            false,
                        ),
                    };
                    let _ = p.reply.send(outcome);
                }
                Err(Unbuildable::Received) => {
                    let reason = format!(
                        "packet {} was received on {}; it cannot time out",
                        p.item.packet.sequence,
                        self.counterparty.chain_id()
                    );
                    let _ = p.reply.send(Outcome::failed(reason, false));
                }
                Err(Unbuildable::Malformed(why)) => {
                    let _ = p.reply.send(Outcome::failed(why, false));
                }
            }
        }
        if ready.is_empty() {
            return;
        }

        let mut lead = Vec::new();
        if trusted < h + 1 {
            match light::update_header(&self.counterparty, h + 1, trusted).await {
                Ok(header) => lead.push(to_any(&MsgUpdateClient {
                    client_id: client_id.to_string(),
                    client_message: Some(header),
                    signer: signer.clone(),
                })),
                Err(e) => {
                    let reason = format!("header {} for {client_id}: {e}", h + 1);
                    for (_, waiter) in ready {
                        let _ = waiter.reply.send(Outcome::failed(reason.clone(), true));
                    }
                    return;
                }
            }
        }
        debug!(
            client = client_id,
            items = ready.len(),
            proof_height = h + 1,
            trusted,
            "built packet messages"
        );
        for plan in self.cut(lead, ready) {
            self.send(plan).await;
        }
    }

    /// Cuts packet messages into plans of at most `max_msg_num` messages and `max_tx_size`
    /// bytes, each led by `lead`. A message too big for any tx fails.
    fn cut(&self, lead: Vec<Any>, ready: Vec<(Any, Waiter)>) -> Vec<TxPlan> {
        let limits = &self.limits;
        let per_tx = limits.max_msg_num.saturating_sub(lead.len()).max(1);
        let envelope = self.signer.envelope_size(limits.max_gas, &limits.gas_price)
            + lead.iter().map(message_size).sum::<usize>();
        let budget = limits.max_tx_size.saturating_sub(envelope);
        let mut plans: Vec<TxPlan> = Vec::new();
        let mut size = 0;
        for (msg, waiter) in ready {
            let msg_size = message_size(&msg);
            if msg_size > budget {
                let reason = format!(
                    "message of {msg_size} bytes does not fit in a tx of max_tx_size {}",
                    limits.max_tx_size
                );
                let _ = waiter.reply.send(Outcome::failed(reason, false));
                continue;
            }
            let fits = plans
                .last()
                .is_some_and(|p| p.items.len() < per_tx && size + msg_size <= budget);
            if !fits {
                plans.push(TxPlan {
                    lead: lead.clone(),
                    items: Vec::new(),
                    whole: None,
                });
                size = 0;
            }
            size += msg_size;
            if let Some(plan) = plans.last_mut() {
                plan.items.push((msg, waiter));
            }
        }
        plans
    }

    /// Estimates gas, signs, broadcasts and hands the tx to a confirmation task; splits plans
    /// whose gas exceeds `max_gas`.
    async fn send(&mut self, plan: TxPlan) {
        let mut stack = vec![plan];
        while let Some(plan) = stack.pop() {
            if let Err(e) = self.ensure_account().await {
                plan.settle_all(Outcome::failed(format!("account query: {e}"), true));
                continue;
            }
            let msgs = plan.msgs();
            let gas = match self.estimate_gas(&msgs).await {
                Estimate::Gas(gas) => gas,
                Estimate::TooMuch(gas) if plan.items.len() > 1 => {
                    debug!(
                        gas,
                        max_gas = self.limits.max_gas,
                        msgs = plan.len(),
                        "estimate exceeds max_gas; splitting the tx"
                    );
                    let (a, b) = plan.split();
                    stack.push(b);
                    stack.push(a);
                    continue;
                }
                Estimate::TooMuch(gas) => {
                    warn!(
                        gas,
                        max_gas = self.limits.max_gas,
                        "estimate exceeds max_gas; sending with max_gas"
                    );
                    self.limits.max_gas
                }
            };
            self.broadcast(plan, msgs, gas).await;
        }
    }

    async fn ensure_account(&mut self) -> Result<(), crate::chain::query::QueryError> {
        if !self.account_loaded {
            let (number, sequence) = self.host.account(self.signer.address()).await?;
            self.signer.set_account(number, sequence);
            self.account_loaded = true;
            debug!(account_number = number, sequence, "loaded account");
        }
        Ok(())
    }

    /// Simulates `msgs` signed at the local sequence. A node that simulates against committed
    /// state (while our earlier txs wait in its mempool) answers with a sequence mismatch; the
    /// simulation is then repeated at the sequence it expects, since only the gas matters.
    async fn estimate_gas(&self, msgs: &[Any]) -> Estimate {
        let max_gas = self.limits.max_gas;
        let fee = fee_for(max_gas, &self.limits.gas_price);
        let mut sequence = self.signer.sequence();
        for attempt in 0..2 {
            let raw = self
                .signer
                .sign_at(sequence, msgs.to_vec(), max_gas, fee.clone());
            match self.host.simulate(raw).await {
                Ok(used) => {
                    let gas = gas_limit_for(used, self.limits.gas_multiplier);
                    return if gas > max_gas {
                        Estimate::TooMuch(gas)
                    } else {
                        Estimate::Gas(gas)
                    };
                }
                Err(e) => {
                    let text = e.to_string();
                    if attempt == 0 && text.contains("sequence mismatch") {
                        if let Some(n) = expected_sequence(&text).filter(|n| *n != sequence) {
                            sequence = n;
                            continue;
                        }
                    }
                    warn!(error = %text, max_gas, "simulation failed; using max_gas");
                    return Estimate::Gas(max_gas);
                }
            }
        }
        Estimate::Gas(max_gas)
    }

    async fn broadcast(&mut self, plan: TxPlan, msgs: Vec<Any>, gas: u64) {
        let fee = fee_for(gas, &self.limits.gas_price);
        let mut mismatches = 0;
        loop {
            let sequence = self.signer.sequence();
            let raw = self.signer.sign(msgs.clone(), gas, fee.clone());
            let hash = cosmos::tx_hash_hex(&raw);
            let chains = [self.host.chain_id(), self.counterparty.chain_id()];
            let m = crate::telemetry::metrics::metrics();
            m.txs_submitted.inc(&chains);
            let response = match self.host.rpc().broadcast_tx_sync(&raw).await {
                Ok(r) => r,
                Err(e) => {
                    m.txs_failed.inc(&[chains[0], chains[1], "other"]);
                    warn!(tx_hash = %hash, error = %e, "broadcast failed");
                    return plan.settle_all(Outcome::failed(format!("broadcast: {e}"), true));
                }
            };
            let code = response.code.value();
            if code == 0 {
                self.signer.advance();
                debug!(
                    tx_hash = %hash,
                    sequence,
                    gas,
                    msgs = msgs.len(),
                    items = plan.items.len(),
                    "broadcast tx"
                );
                return self.confirm(plan, hash, sequence);
            }
            let (codespace, log) = (response.codespace.as_str(), response.log.as_str());
            let cause = crate::telemetry::metrics::tx_failure_cause(code, codespace, log);
            m.txs_failed.inc(&[chains[0], chains[1], cause]);
            if code == 32 && (codespace == "sdk" || codespace.is_empty()) {
                mismatches += 1;
                match expected_sequence(log) {
                    Some(n) => self.signer.set_sequence(n),
                    None => {
                        self.account_loaded = false;
                        if let Err(e) = self.ensure_account().await {
                            let reason = format!("account query after sequence mismatch: {e}");
                            return plan.settle_all(Outcome::failed(reason, true));
                        }
                    }
                }
                if mismatches > self.options.sequence_retries {
                    let reason = format!("account sequence mismatch persists: {log}");
                    return plan.settle_all(Outcome::failed(reason, true));
                }
                debug!(
                    tx_hash = %hash,
                    sequence,
                    next = self.signer.sequence(),
                    "account sequence mismatch; re-signing"
                );
                continue;
            }
            if is_redundant(code, codespace, log) {
                info!(tx_hash = %hash, items = plan.items.len(), "redundant relay; another relayer was first");
                return plan.settle_all(Outcome::Redundant);
            }
            warn!(tx_hash = %hash, code, codespace, log, "CheckTx rejected the tx");
            let reason = format!("CheckTx code {code} ({codespace}): {log}");
            return plan.settle_all(Outcome::failed(reason, retryable_check(code, codespace)));
        }
    }

    /// Follows the tx in a task of the confirmation set and settles its waiters.
    fn confirm(&mut self, plan: TxPlan, hash: String, sequence: u64) {
        let watch = TxWatch {
            counterparty: self.counterparty.chain_id().to_string(),
            submitted: Instant::now(),
            host: self.host.clone(),
            address: self.signer.address().to_string(),
            sequence,
            hash: hash.clone(),
            poll: self.options.confirm_poll,
            timeout: self.options.confirm_timeout,
        };
        let span = info_span!("confirm", tx_hash = %hash);
        self.confirmations
            .spawn(async move { watch.settle(plan).await }.instrument(span));
    }
}

/// What a confirmation task knows about its tx.
struct TxWatch {
    host: IbcQuerier,
    /// Counterparty chain id (a metric label).
    counterparty: String,
    /// When the tx was accepted by `broadcast_tx_sync`.
    submitted: Instant,
    address: String,
    sequence: u64,
    hash: String,
    poll: Duration,
    timeout: Duration,
}

/// How a watched tx ended.
enum Fate {
    /// In a block.
    Included(Box<tendermint_rpc::endpoint::tx::Response>),
    /// Not in a block, and never will be: another tx used its sequence (it was evicted from the
    /// mempool, e.g. on re-check as redundant), or it was not seen before the timeout.
    Lost(String),
    /// Still pending, but every item's effect is already on chain (another relayer's tx).
    Moot,
}

impl TxWatch {
    /// Polls `/tx` every `poll` until the tx is found, lost, moot or `timeout` passes, then
    /// settles the plan.
    async fn settle(self, plan: TxPlan) {
        let effects: Vec<Effect> = plan.items.iter().map(|(_, w)| w.effect.clone()).collect();
        let m = crate::telemetry::metrics::metrics();
        let chains = [self.host.chain_id(), self.counterparty.as_str()];
        match self.follow(&effects).await {
            Fate::Included(tx) => {
                let height = tx.height.value();
                let result = &tx.tx_result;
                if result.code.is_ok() {
                    debug!(height, "tx confirmed");
                    m.txs_confirmed.inc(&chains);
                    m.tx_latency
                        .observe_duration(&chains, self.submitted.elapsed());
                    for any in &plan.lead {
                        if any.type_url == "/ibc.core.client.v1.MsgUpdateClient" {
                            let client = MsgUpdateClient::decode(any.value.as_slice())
                                .map(|u| u.client_id)
                                .unwrap_or_default();
                            m.client_updates.inc(&[chains[0], chains[1], &client]);
                        }
                    }
                    plan.settle_executed(&self.hash, height, &result_data(&result.data));
                } else {
                    let reason = format!(
                        "tx {} failed in block {height} with code {} ({}): {}",
                        self.hash,
                        result.code.value(),
                        result.codespace,
                        result.log
                    );
                    let cause = crate::telemetry::metrics::tx_failure_cause(
                        result.code.value(),
                        &result.codespace,
                        &result.log,
                    );
                    m.txs_failed.inc(&[chains[0], chains[1], cause]);
                    warn!(%reason, "tx failed");
                    plan.settle_all(Outcome::failed(reason, true));
                }
            }
            Fate::Moot => {
                m.txs_failed.inc(&[chains[0], chains[1], "redundant"]);
                info!("every item was relayed by another tx");
                plan.settle_all(Outcome::Redundant);
            }
            Fate::Lost(reason) => {
                m.txs_failed.inc(&[chains[0], chains[1], "other"]);
                // Items whose effect is on chain anyway are redundant; the rest retry.
                let done = settled_on_chain(&self.host, &effects)
                    .await
                    .unwrap_or_else(|_| vec![false; effects.len()]);
                warn!(%reason, settled = done.iter().filter(|d| **d).count(), "tx lost");
                for ((_, waiter), done) in plan.items.into_iter().zip(done) {
                    let _ = waiter.reply.send(if done {
                        Outcome::Redundant
                    } else {
                        Outcome::failed(reason.clone(), true)
                    });
                }
                if let Some(reply) = plan.whole {
                    let _ = reply.send(Outcome::failed(reason, true));
                }
            }
        }
    }

    async fn follow(&self, effects: &[Effect]) -> Fate {
        let rpc = self.host.rpc();
        let hash = match hex::decode(&self.hash)
            .map_err(|e| e.to_string())
            .and_then(|b| {
                tendermint::Hash::from_bytes(tendermint::hash::Algorithm::Sha256, &b)
                    .map_err(|e| e.to_string())
            }) {
            Ok(h) => h,
            Err(e) => return Fate::Lost(format!("bad tx hash {}: {e}", self.hash)),
        };
        let deadline = Instant::now() + self.timeout;
        let mut polls: u64 = 0;
        loop {
            tokio::time::sleep(self.poll).await;
            polls += 1;
            // "not found" until the tx is in a block; other errors may be transient too.
            let last_error = match rpc.tx(hash, false).await {
                Ok(tx) => return Fate::Included(Box::new(tx)),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Fate::Lost(format!(
                    "tx {} not found in a block within {:?} (last answer: {last_error})",
                    self.hash, self.timeout
                ));
            }
            // About once a block after the first: is the tx still possible, still useful?
            if polls < 2 || polls % 2 != 0 {
                continue;
            }
            let mut verdict = None;
            if let Ok((_, committed)) = self.host.account(&self.address).await {
                if committed > self.sequence {
                    verdict = Some(Fate::Lost(format!(
                        "tx {} was dropped: the account's sequence {} is past its {}",
                        self.hash, committed, self.sequence
                    )));
                }
            }
            if verdict.is_none()
                && polls >= 4
                && !effects.is_empty()
                && settled_on_chain(&self.host, effects)
                    .await
                    .is_ok_and(|done| done.iter().all(|d| *d))
            {
                verdict = Some(Fate::Moot);
            }
            if let Some(fate) = verdict {
                // The tx may have landed between the two queries.
                return match rpc.tx(hash, false).await {
                    Ok(tx) => Fate::Included(Box::new(tx)),
                    Err(_) => fate,
                };
            }
        }
    }
}

/// For each effect, whether it is already on the host chain (one query per channel and kind).
async fn settled_on_chain(
    host: &IbcQuerier,
    effects: &[Effect],
) -> Result<Vec<bool>, crate::chain::query::QueryError> {
    let mut by_channel: BTreeMap<(bool, &str, &str), Vec<u64>> = BTreeMap::new();
    for e in effects {
        by_channel
            .entry((e.received, &e.port, &e.channel))
            .or_default()
            .push(e.sequence);
    }
    let mut pending: BTreeMap<(bool, &str, &str), Vec<u64>> = BTreeMap::new();
    for ((received, port, channel), sequences) in by_channel {
        let left = if received {
            host.unreceived_packets(port, channel, &sequences).await?
        } else {
            host.unreceived_acks(port, channel, &sequences).await?
        };
        pending.insert((received, port, channel), left);
    }
    Ok(effects
        .iter()
        .map(|e| {
            pending
                .get(&(e.received, e.port.as_str(), e.channel.as_str()))
                .is_some_and(|left| !left.contains(&e.sequence))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ibc_proto::ibc::core::channel::v1::MsgAcknowledgementResponse;

    fn any<M: prost::Name + Message>(m: &M) -> Any {
        to_any(m)
    }

    #[test]
    fn noop_responses_are_found() {
        let data = TxMsgData {
            msg_responses: vec![
                Any {
                    type_url: "/ibc.core.client.v1.MsgUpdateClientResponse".into(),
                    value: vec![],
                },
                any(&MsgRecvPacketResponse {
                    result: ResponseResultType::Noop as i32,
                }),
                any(&MsgRecvPacketResponse {
                    result: ResponseResultType::Success as i32,
                }),
                any(&MsgAcknowledgementResponse {
                    result: ResponseResultType::Noop as i32,
                }),
            ],
            ..Default::default()
        }
        .encode_to_vec();
        assert_eq!(noop_responses(&data), vec![false, true, false, true]);
        use base64::Engine as _;
        let text = base64::engine::general_purpose::STANDARD.encode(&data);
        assert_eq!(result_data(text.as_bytes()), data);
        assert_eq!(result_data(&data), data);
        assert!(noop_responses(b"\xff\xff").is_empty());
    }

    #[test]
    fn check_codes() {
        assert!(is_redundant(22, "channel", ""));
        assert!(!is_redundant(22, "sdk", "other"));
        assert!(is_redundant(1, "x", "packet messages are redundant"));
        assert!(retryable_check(11, "sdk"));
        assert!(retryable_check(13, "sdk"));
        assert!(!retryable_check(4, "sdk"));
        assert!(!retryable_check(21, "sdk"));
        assert!(retryable_check(4, "client"));
    }

    #[test]
    fn plans_split_and_settle() {
        let (tx1, mut rx1) = oneshot::channel();
        let (tx2, mut rx2) = oneshot::channel();
        let (tx3, mut rx3) = oneshot::channel();
        let lead = Any {
            type_url: "u".into(),
            value: vec![],
        };
        let m = |n: u8| Any {
            type_url: "m".into(),
            value: vec![n],
        };
        let w = |reply| Waiter {
            reply,
            effect: Effect {
                received: true,
                port: "transfer".into(),
                channel: "channel-0".into(),
                sequence: 1,
            },
        };
        let plan = TxPlan {
            lead: vec![lead],
            items: vec![(m(1), w(tx1)), (m(2), w(tx2)), (m(3), w(tx3))],
            whole: None,
        };
        assert_eq!(plan.len(), 4);
        let (a, b) = plan.split();
        assert_eq!((a.items.len(), b.items.len()), (1, 2));
        assert_eq!(b.msgs().len(), 3);
        let data = TxMsgData {
            msg_responses: vec![
                Any::default(),
                any(&MsgRecvPacketResponse {
                    result: ResponseResultType::Noop as i32,
                }),
                any(&MsgRecvPacketResponse {
                    result: ResponseResultType::Success as i32,
                }),
            ],
            ..Default::default()
        }
        .encode_to_vec();
        b.settle_executed("AB", 7, &data);
        a.settle_all(Outcome::failed("x", true));
        assert_eq!(rx1.try_recv().unwrap(), Outcome::failed("x", true));
        assert_eq!(rx2.try_recv().unwrap(), Outcome::Redundant);
        assert_eq!(
            rx3.try_recv().unwrap(),
            Outcome::Done {
                tx_hash: "AB".into(),
                height: 7
            }
        );
    }
}
