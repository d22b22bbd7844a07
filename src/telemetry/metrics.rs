//! The relayer's metrics: every family it exports ([`Metrics`]; names, units and labels are
//! listed in the README) and the process-wide instance ([`metrics`]).
//!
//! Besides plain families [`Metrics`] keeps two small pieces of state the instrumentation needs:
//! the instant each packet event was observed (for the send→receive and receive→ack latencies,
//! removed when the packet is settled and bounded in size) and the per-channel backlog found by
//! the last clearing round (whose oldest-age gauge is computed when the metrics are rendered, so
//! it keeps growing between rounds).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::registry::{key, lock, CounterVec, GaugeVec, HistogramVec, Registry};

/// Labels of packet metrics: the packet's source chain, its destination chain, and its source
/// port and channel (so `chain` → `counterparty` is the direction).
pub(crate) const PACKET_LABELS: &[&str] = &["chain", "counterparty", "port", "channel"];

/// The values of [`PACKET_LABELS`] for packets going one way over a channel.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PacketLabels {
    /// The chain the packets are sent from.
    pub(crate) chain: String,
    /// The chain they go to.
    pub(crate) counterparty: String,
    /// Port on the sending chain.
    pub(crate) port: String,
    /// Channel on the sending chain.
    pub(crate) channel: String,
}

impl PacketLabels {
    /// The label values, in [`PACKET_LABELS`] order.
    pub(crate) fn values(&self) -> [&str; 4] {
        [&self.chain, &self.counterparty, &self.port, &self.channel]
    }

    /// The label values followed by one more (`step`, `event` or `kind`).
    pub(crate) fn with<'a>(&'a self, last: &'a str) -> [&'a str; 5] {
        [
            &self.chain,
            &self.counterparty,
            &self.port,
            &self.channel,
            last,
        ]
    }
}
const PACKET_STEP_LABELS: &[&str] = &["chain", "counterparty", "port", "channel", "step"];
const PACKET_EVENT_LABELS: &[&str] = &["chain", "counterparty", "port", "channel", "event"];
const BACKLOG_LABELS: &[&str] = &["chain", "counterparty", "port", "channel", "kind"];
const TX_LABELS: &[&str] = &["chain", "counterparty"];
const TX_FAIL_LABELS: &[&str] = &["chain", "counterparty", "cause"];
const RPC_LABELS: &[&str] = &["endpoint", "method"];
const RPC_ERROR_LABELS: &[&str] = &["endpoint", "method", "kind"];
const ENDPOINT_LABELS: &[&str] = &["endpoint"];
const CHAIN_ENDPOINT_LABELS: &[&str] = &["chain", "endpoint"];
const ENDPOINT_SWITCH_LABELS: &[&str] = &["chain", "from", "to", "reason"];
const CHAIN_LABELS: &[&str] = &["chain"];
const CLIENT_LABELS: &[&str] = &["chain", "counterparty", "client"];
const BORROWED_LABELS: &[&str] = &["chain", "counterparty", "client", "source"];
const WALLET_LABELS: &[&str] = &["chain", "address", "denom"];
const SIGNER_LABELS: &[&str] = &["chain", "address"];
const FEE_OUTCOME_LABELS: &[&str] = &["chain", "denom", "outcome"];
const FEE_LABELS: &[&str] = &["chain", "denom"];
const WASTED_FEE_LABELS: &[&str] = &["chain", "denom", "cause"];
const CAUSE_LABELS: &[&str] = &["chain", "cause"];
const OUTCOME_LABELS: &[&str] = &["chain", "outcome"];

const RPC_BOUNDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
const WAIT_BOUNDS: &[f64] = &[0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];
const TX_BOUNDS: &[f64] = &[0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0];
const PACKET_BOUNDS: &[f64] = &[
    0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];

/// At most this many packet observations are remembered for latencies.
pub(crate) const MAX_TRACKED_PACKETS: usize = 200_000;

/// Which latency an observation starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Clock {
    /// `send_packet` seen: ends when our `MsgRecvPacket` is confirmed.
    Send,
    /// `write_acknowledgement` seen: ends when our `MsgAcknowledgement` is confirmed.
    WriteAck,
}

/// (packet source chain, source port, source channel, sequence, clock).
type ClockKey = (String, String, String, u64, Clock);

/// The backlog of one channel direction and kind, from the last clearing round.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Backlog {
    /// Pending items (capped by the clearing limit).
    pub(crate) pending: u64,
    /// Lowest pending sequence (0 when nothing is pending).
    pub(crate) oldest_sequence: u64,
    /// Since when that sequence is known to be pending.
    pub(crate) oldest_since: Option<Instant>,
}

/// Every metric of the relayer. See the README's metrics table.
pub(crate) struct Metrics {
    registry: Registry,
    /// `send_packet`, `write_acknowledgement`, … events seen by the workers.
    pub(crate) packets_observed: Arc<CounterVec>,
    /// Packets and acks found by clearing rounds.
    pub(crate) packets_cleared: Arc<CounterVec>,
    /// `MsgRecvPacket` confirmed by this relayer.
    pub(crate) packets_relayed: Arc<CounterVec>,
    /// `MsgAcknowledgement` confirmed by this relayer.
    pub(crate) packets_acked: Arc<CounterVec>,
    /// `MsgTimeout` confirmed by this relayer.
    pub(crate) packets_timed_out: Arc<CounterVec>,
    /// Steps another relayer did first.
    pub(crate) packets_redundant: Arc<CounterVec>,
    /// Failed relay steps (retried or given up).
    pub(crate) packet_failures: Arc<CounterVec>,
    /// Txs broadcast.
    pub(crate) txs_submitted: Arc<CounterVec>,
    /// Txs included with code 0.
    pub(crate) txs_confirmed: Arc<CounterVec>,
    /// Txs that failed, by cause.
    pub(crate) txs_failed: Arc<CounterVec>,
    /// Broadcast → found in a block.
    pub(crate) tx_latency: Arc<HistogramVec>,
    /// `send_packet` observed → `MsgRecvPacket` confirmed.
    pub(crate) packet_recv_latency: Arc<HistogramVec>,
    /// `write_acknowledgement` observed → `MsgAcknowledgement` confirmed.
    pub(crate) packet_ack_latency: Arc<HistogramVec>,
    /// Backlog size.
    pub(crate) backlog_packets: Arc<GaugeVec>,
    /// Backlog's oldest sequence.
    pub(crate) backlog_oldest_sequence: Arc<GaugeVec>,
    /// Backlog's oldest age.
    pub(crate) backlog_oldest_age: Arc<GaugeVec>,
    /// Confirmed `MsgUpdateClient`.
    pub(crate) client_updates: Arc<CounterVec>,
    /// Txs broadcast without the client update they prove against, an earlier tx carrying it.
    pub(crate) client_updates_shared: Arc<CounterVec>,
    /// Txs without a client update of their own because another signer's (or the chain's) serves
    /// them, by source.
    pub(crate) client_updates_borrowed: Arc<CounterVec>,
    /// Plans that waited for another signer's client update, by outcome.
    pub(crate) update_waits: Arc<CounterVec>,
    /// Txs without their own client update that failed in their block.
    pub(crate) borrowed_updates_lost: Arc<CounterVec>,
    /// Seconds until a client expires.
    pub(crate) client_expiry: Arc<GaugeVec>,
    /// RPC requests sent.
    pub(crate) rpc_requests: Arc<CounterVec>,
    /// RPC requests failed.
    pub(crate) rpc_errors: Arc<CounterVec>,
    /// RPC exchange duration.
    pub(crate) rpc_latency: Arc<HistogramVec>,
    /// Time waiting for an endpoint permit.
    pub(crate) rpc_semaphore_wait: Arc<HistogramVec>,
    /// Websocket reconnects.
    pub(crate) websocket_reconnects: Arc<CounterVec>,
    /// 1 for the endpoint a chain's requests go to, 0 for its other endpoints.
    pub(crate) rpc_endpoint_active: Arc<GaugeVec>,
    /// Latest height each endpoint reported to the failover probe.
    pub(crate) rpc_endpoint_height: Arc<GaugeVec>,
    /// Changes of a chain's active endpoint, by reason.
    pub(crate) rpc_endpoint_switches: Arc<CounterVec>,
    /// Signer balance.
    pub(crate) wallet_balance: Arc<GaugeVec>,
    /// The next account sequence each signer signs with.
    pub(crate) signer_sequence: Arc<GaugeVec>,
    /// Worker restarts.
    pub(crate) worker_restarts: Arc<CounterVec>,
    /// TxEngine restarts after a panic.
    pub(crate) engine_restarts: Arc<CounterVec>,
    /// 1 while a worker runs.
    pub(crate) worker_up: Arc<GaugeVec>,
    /// 1 when the chain's RPC answered the last check.
    pub(crate) chain_up: Arc<GaugeVec>,
    /// Latest height delivered by the chain's event hub.
    pub(crate) chain_height: Arc<GaugeVec>,
    // Fees and gas (the TxEngine).
    /// Gas price the chain's txs are signed with.
    pub(crate) gas_price: Arc<GaugeVec>,
    /// Txs re-priced and signed again after an insufficient-fee rejection.
    pub(crate) fee_retries: Arc<CounterVec>,
    /// Failed simulations by cause.
    pub(crate) simulation_failures: Arc<CounterVec>,
    /// Txs broadcast with `default_gas` by the cause of their failed simulation.
    pub(crate) default_gas_txs: Arc<CounterVec>,
    /// Single messages not broadcast because their gas exceeds `max_gas`.
    pub(crate) over_max_gas: Arc<CounterVec>,
    /// Fees of the relayer's txs included in a block.
    pub(crate) fees_paid: Arc<CounterVec>,
    /// The part of `fees_paid` paid by txs that failed in their block, by cause.
    pub(crate) fees_wasted: Arc<CounterVec>,
    /// `fees_paid` by what the tx achieved: useful, partly_redundant, redundant, failed, other.
    pub(crate) fees_by_outcome: Arc<CounterVec>,
    /// Packet messages held back because another signer's pending tx carries them.
    pub(crate) packets_held_back: Arc<CounterVec>,
    /// Packet messages taken out of a tx before broadcast: its simulation answered NOOP.
    pub(crate) simulated_noops: Arc<CounterVec>,
    /// What became of held-back packet messages once that tx left the mempool.
    pub(crate) held_back_released: Arc<CounterVec>,
    /// `unconfirmed_txs` requests of the mempool views.
    pub(crate) mempool_fetches: Arc<CounterVec>,
    /// Listed mempool txs not looked into, by cause.
    pub(crate) mempool_txs_skipped: Arc<CounterVec>,
    /// Packet steps left to a peer ranked ahead (sharding).
    pub(crate) steps_deferred: Arc<CounterVec>,
    /// Deferred steps a peer did before our turn.
    pub(crate) deferred_done_by_peer: Arc<CounterVec>,
    /// Deferred steps still undone at our turn, relayed by us.
    pub(crate) steps_taken_over: Arc<CounterVec>,
    /// Packets and acks whose data no source could provide (counted once each).
    pub(crate) packet_data_unavailable: Arc<CounterVec>,
    /// The persisted cursor per chain.
    pub(crate) cursor_height: Arc<GaugeVec>,
    clocks: Mutex<HashMap<ClockKey, Instant>>,
    backlogs: Mutex<BTreeMap<Vec<String>, Backlog>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set of families.
    pub(crate) fn new() -> Self {
        let r = Registry::default();
        Self {
            packets_observed: r.counter(
                "arke_packets_observed_total",
                "Packet events seen on the event hubs (event = send_packet, write_acknowledgement, recv_packet, acknowledge_packet, timeout_packet).",
                PACKET_EVENT_LABELS,
            ),
            packets_cleared: r.counter(
                "arke_packets_cleared_total",
                "Unfinished work found by clearing rounds (kind = packet: unreceived; ack: acknowledgement not yet relayed back).",
                BACKLOG_LABELS,
            ),
            packets_relayed: r.counter(
                "arke_packets_relayed_total",
                "Packets delivered by this relayer (MsgRecvPacket confirmed on the counterparty).",
                PACKET_LABELS,
            ),
            packets_acked: r.counter(
                "arke_packets_acked_total",
                "Acknowledgements relayed by this relayer (MsgAcknowledgement confirmed on the source).",
                PACKET_LABELS,
            ),
            packets_timed_out: r.counter(
                "arke_packets_timed_out_total",
                "Packets timed out by this relayer (MsgTimeout confirmed on the source).",
                PACKET_LABELS,
            ),
            packets_redundant: r.counter(
                "arke_packets_redundant_total",
                "Relay steps another relayer did first (step = recv, ack, timeout, timeout_on_close).",
                PACKET_STEP_LABELS,
            ),
            packet_failures: r.counter(
                "arke_packet_relay_failures_total",
                "Relay steps that failed (retried with backoff, then left to clearing).",
                PACKET_STEP_LABELS,
            ),
            txs_submitted: r.counter(
                "arke_txs_submitted_total",
                "Txs broadcast on chain (proofs from counterparty).",
                TX_LABELS,
            ),
            txs_confirmed: r.counter(
                "arke_txs_confirmed_total",
                "Txs included in a block with code 0.",
                TX_LABELS,
            ),
            txs_failed: r.counter(
                "arke_txs_failed_total",
                "Txs rejected or failed (cause = sequence_mismatch, out_of_gas, insufficient_fee, redundant, other).",
                TX_FAIL_LABELS,
            ),
            tx_latency: r.histogram(
                "arke_tx_confirmation_seconds",
                "Time from broadcast to the tx being found in a block.",
                TX_LABELS,
                TX_BOUNDS,
            ),
            packet_recv_latency: r.histogram(
                "arke_packet_receive_latency_seconds",
                "Time from observing send_packet to our MsgRecvPacket being confirmed (observed times).",
                PACKET_LABELS,
                PACKET_BOUNDS,
            ),
            packet_ack_latency: r.histogram(
                "arke_packet_ack_latency_seconds",
                "Time from observing write_acknowledgement to our MsgAcknowledgement being confirmed (observed times).",
                PACKET_LABELS,
                PACKET_BOUNDS,
            ),
            backlog_packets: r.gauge(
                "arke_backlog_pending",
                "Pending items found by the last clearing round (capped at the clearing limit).",
                BACKLOG_LABELS,
            ),
            backlog_oldest_sequence: r.gauge(
                "arke_backlog_oldest_sequence",
                "Lowest pending sequence found by the last clearing round (0: none).",
                BACKLOG_LABELS,
            ),
            backlog_oldest_age: r.gauge(
                "arke_backlog_oldest_age_seconds",
                "How long the lowest pending sequence has been known to be pending (0: none).",
                BACKLOG_LABELS,
            ),
            client_updates: r.counter(
                "arke_client_updates_total",
                "MsgUpdateClient confirmed on chain for client (tracking counterparty).",
                CLIENT_LABELS,
            ),
            client_updates_shared: r.counter(
                "arke_client_updates_shared_total",
                "Txs broadcast without their own MsgUpdateClient because an earlier tx of the same signer carries the update to that height.",
                CLIENT_LABELS,
            ),
            client_updates_borrowed: r.counter(
                "arke_client_updates_borrowed_total",
                "Txs sent without a MsgUpdateClient of their own because another's serves them: source chain (proved at the client's height on chain, which holds every item), peer (the update of the signer ranked to carry it, pending or in a block).",
                BORROWED_LABELS,
            ),
            update_waits: r.counter(
                "arke_client_update_waits_total",
                "Plans that waited for the client update of the signer ranked to carry it: borrowed (it came; sent without one of their own), carried (a block or 2 s passed without it; sent with their own).",
                OUTCOME_LABELS,
            ),
            borrowed_updates_lost: r.counter(
                "arke_borrowed_updates_lost_total",
                "Txs sent without their own MsgUpdateClient (another signer's or an earlier tx's serving them) that failed in their block, their fee wasted: the update was not there when they executed (its tx evicted or failed). Their items go again at once with the update.",
                CLIENT_LABELS,
            ),
            client_expiry: r.gauge(
                "arke_client_expiry_seconds",
                "Seconds until the client's latest consensus state leaves its trusting period (negative: expired).",
                CLIENT_LABELS,
            ),
            rpc_requests: r.counter(
                "arke_rpc_requests_total",
                "JSON-RPC requests sent.",
                RPC_LABELS,
            ),
            rpc_errors: r.counter(
                "arke_rpc_errors_total",
                "JSON-RPC requests that failed (kind = transport, timeout, http, jsonrpc, decode, closed).",
                RPC_ERROR_LABELS,
            ),
            rpc_latency: r.histogram(
                "arke_rpc_request_duration_seconds",
                "Duration of JSON-RPC exchanges (after the permit was taken).",
                RPC_LABELS,
                RPC_BOUNDS,
            ),
            rpc_semaphore_wait: r.histogram(
                "arke_rpc_semaphore_wait_seconds",
                "Time spent waiting for a permit of the endpoint's semaphore.",
                ENDPOINT_LABELS,
                WAIT_BOUNDS,
            ),
            websocket_reconnects: r.counter(
                "arke_websocket_reconnects_total",
                "Event websocket sessions lost (each is followed by a reconnect).",
                CHAIN_LABELS,
            ),
            rpc_endpoint_active: r.gauge(
                "arke_rpc_endpoint_active",
                "1 for the RPC endpoint the chain's requests and event websocket use, 0 for its other endpoints.",
                CHAIN_ENDPOINT_LABELS,
            ),
            rpc_endpoint_height: r.gauge(
                "arke_rpc_endpoint_height",
                "Latest block height each RPC endpoint reported to the failover probe.",
                CHAIN_ENDPOINT_LABELS,
            ),
            rpc_endpoint_switches: r.counter(
                "arke_rpc_endpoint_switches_total",
                "Changes of a chain's active RPC endpoint (reason = error, lagging, catching_up, wrong_chain, recovered).",
                ENDPOINT_SWITCH_LABELS,
            ),
            wallet_balance: r.gauge(
                "arke_wallet_balance",
                "Balance of the relayer's signing account in the fee denom's base units.",
                WALLET_LABELS,
            ),
            signer_sequence: r.gauge(
                "arke_signer_sequence",
                "The account sequence a signer signs its next tx with.",
                SIGNER_LABELS,
            ),
            worker_restarts: r.counter(
                "arke_worker_restarts_total",
                "Channel worker restarts after a failure (labels: chain A end).",
                PACKET_LABELS,
            ),
            engine_restarts: r.counter(
                "arke_engine_restarts_total",
                "TxEngine restarts after its task panicked (the chain's signer and queue carry on).",
                CHAIN_LABELS,
            ),
            worker_up: r.gauge(
                "arke_worker_up",
                "1 while the channel worker runs, 0 while it waits to restart.",
                PACKET_LABELS,
            ),
            chain_up: r.gauge(
                "arke_chain_up",
                "1 when the chain's RPC answered the last check, else 0.",
                CHAIN_LABELS,
            ),
            chain_height: r.gauge(
                "arke_chain_latest_height",
                "Latest height delivered by the chain's event hub.",
                CHAIN_LABELS,
            ),
            gas_price: r.gauge(
                "arke_gas_price",
                "Gas price the chain's txs are signed with (fee denom per gas): gas_price, or the chain's base price times the multiplier with dynamic_gas_price.",
                FEE_LABELS,
            ),
            fee_retries: r.counter(
                "arke_fee_retries_total",
                "Txs re-priced from a fresh base gas price and signed again after an insufficient-fee rejection (at most once per price change).",
                CHAIN_LABELS,
            ),
            simulation_failures: r.counter(
                "arke_simulation_failures_total",
                "Failed gas simulations (cause = sequence_mismatch, rpc, rejected, decode).",
                CAUSE_LABELS,
            ),
            default_gas_txs: r.counter(
                "arke_txs_default_gas_total",
                "Txs broadcast with default_gas because their simulation failed (cause = sequence_mismatch, rpc, decode).",
                CAUSE_LABELS,
            ),
            over_max_gas: r.counter(
                "arke_msgs_over_max_gas_total",
                "Single messages not broadcast because their estimated gas exceeds max_gas (left for clearing).",
                CHAIN_LABELS,
            ),
            fees_paid: r.counter(
                "arke_fees_paid_total",
                "Fees of the relayer's txs included in a block (whatever their result), in the denom's base units.",
                FEE_LABELS,
            ),
            fees_wasted: r.counter(
                "arke_fees_wasted_total",
                "The part of arke_fees_paid_total paid by txs that failed in their block (cause as in arke_txs_failed_total), in the denom's base units.",
                WASTED_FEE_LABELS,
            ),
            fees_by_outcome: r.counter(
                "arke_fees_by_outcome_total",
                "Fees of included txs by outcome: useful (no packet message redundant), partly_redundant, redundant (every packet message a NOOP: another relayer was first), failed (failed in its block), other (no packet messages).",
                FEE_OUTCOME_LABELS,
            ),
            packets_held_back: r.counter(
                "arke_packets_held_back_total",
                "Packet messages not submitted because another signer's tx waiting in the mempool carries them (counted once per hold).",
                CHAIN_LABELS,
            ),
            simulated_noops: r.counter(
                "arke_packets_dropped_at_simulation_total",
                "Packet messages taken out of a tx before it was signed because its simulation answered NOOP: another tx, pending in the mempool or in a block, carries them (nothing paid for them).",
                CHAIN_LABELS,
            ),
            held_back_released: r.counter(
                "arke_held_back_released_total",
                "Held-back packet messages after the other tx left the mempool: done_elsewhere (its effect is on chain: nothing paid), submitted (evicted or failed: sent), held_too_long (sent after the hold limit).",
                OUTCOME_LABELS,
            ),
            mempool_fetches: r.counter(
                "arke_mempool_fetches_total",
                "unconfirmed_txs requests for the chain's mempool view (at most one per block, only while packet messages wait).",
                CHAIN_LABELS,
            ),
            mempool_txs_skipped: r.counter(
                "arke_mempool_txs_skipped_total",
                "Listed mempool txs not looked into: undecodable, or over_budget (beyond the bytes decoded per look).",
                CAUSE_LABELS,
            ),
            steps_deferred: r.counter(
                "arke_steps_deferred_total",
                "Packet steps left to a peer ranked ahead for them ([relay] peers): this instance waits its turn as a backup.",
                CHAIN_LABELS,
            ),
            deferred_done_by_peer: r.counter(
                "arke_deferred_done_by_peer_total",
                "Deferred packet steps found done on chain at or before this instance's turn (nothing paid).",
                CHAIN_LABELS,
            ),
            steps_taken_over: r.counter(
                "arke_steps_taken_over_total",
                "Deferred packet steps still undone on chain at this instance's turn, relayed by it: the peers ranked ahead were silent.",
                CHAIN_LABELS,
            ),
            packet_data_unavailable: r.counter(
                "arke_packet_data_unavailable_total",
                "Unreceived packets (kind = packet) or unrelayed acks (kind = ack) whose data neither the blocks scanned since the cursor, nor tx_search, nor block_search could provide; each counted once.",
                BACKLOG_LABELS,
            ),
            cursor_height: r.gauge(
                "arke_cursor_height",
                "Height persisted as the chain's cursor: a restart scans block_results above it.",
                CHAIN_LABELS,
            ),
            registry: r,
            clocks: Mutex::default(),
            backlogs: Mutex::default(),
        }
    }

    /// Every metric in the text exposition format 0.0.4 (backlog ages computed now).
    pub(crate) fn render(&self) -> String {
        let now = Instant::now();
        let ages: Vec<(Vec<String>, f64)> = lock(&self.backlogs)
            .iter()
            .map(|(k, b)| {
                let age = b
                    .oldest_since
                    .filter(|_| b.pending > 0)
                    .map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64());
                (k.clone(), age)
            })
            .collect();
        for (k, age) in ages {
            let labels: Vec<&str> = k.iter().map(String::as_str).collect();
            self.backlog_oldest_age.set(&labels, age);
        }
        self.registry.render()
    }

    /// Remembers when a packet event was observed (the start of a latency).
    pub(crate) fn start_clock(
        &self,
        chain: &str,
        port: &str,
        channel: &str,
        seq: u64,
        clock: Clock,
    ) {
        let mut clocks = lock(&self.clocks);
        if clocks.len() >= MAX_TRACKED_PACKETS {
            // Forget observations older than an hour (packets someone else relayed).
            let cutoff = Instant::now().checked_sub(Duration::from_secs(3600));
            match cutoff {
                Some(cutoff) => clocks.retain(|_, t| *t > cutoff),
                None => clocks.clear(),
            }
            if clocks.len() >= MAX_TRACKED_PACKETS {
                return;
            }
        }
        clocks
            .entry((
                chain.to_string(),
                port.to_string(),
                channel.to_string(),
                seq,
                clock,
            ))
            .or_insert_with(Instant::now);
    }

    /// Ends a latency: the time since [`Metrics::start_clock`], if it was started.
    pub(crate) fn stop_clock(
        &self,
        chain: &str,
        port: &str,
        channel: &str,
        seq: u64,
        clock: Clock,
    ) -> Option<Duration> {
        lock(&self.clocks)
            .remove(&(
                chain.to_string(),
                port.to_string(),
                channel.to_string(),
                seq,
                clock,
            ))
            .map(|t| t.elapsed())
    }

    /// Records what a clearing round found for one direction and kind (`labels` as
    /// `BACKLOG_LABELS`): the pending sequences.
    pub(crate) fn set_backlog(&self, labels: &[&str; 5], sequences: &[u64]) {
        let oldest = sequences.iter().copied().min().unwrap_or(0);
        let pending = sequences.len() as u64;
        let k = key(labels);
        let since = {
            let mut backlogs = lock(&self.backlogs);
            let previous = backlogs.get(&k).cloned();
            let since = match previous {
                Some(p) if p.oldest_sequence == oldest && pending > 0 => p.oldest_since,
                _ if pending > 0 => {
                    // Use when the packet was seen sent, if we saw it, else now.
                    let clock = if labels[4] == "ack" {
                        Clock::WriteAck
                    } else {
                        Clock::Send
                    };
                    let seen = lock(&self.clocks)
                        .get(&(
                            labels[0].to_string(),
                            labels[2].to_string(),
                            labels[3].to_string(),
                            oldest,
                            clock,
                        ))
                        .copied();
                    Some(seen.unwrap_or_else(Instant::now))
                }
                _ => None,
            };
            backlogs.insert(
                k,
                Backlog {
                    pending,
                    oldest_sequence: oldest,
                    oldest_since: since,
                },
            );
            since
        };
        self.backlog_packets.set(labels, pending as f64);
        self.backlog_oldest_sequence.set(labels, oldest as f64);
        let age = since.map_or(0.0, |t| t.elapsed().as_secs_f64());
        self.backlog_oldest_age.set(labels, age);
    }

    /// The backlogs whose packets come from `chain` over `port`/`channel`, as (kind, backlog).
    pub(crate) fn backlogs_of(
        &self,
        chain: &str,
        port: &str,
        channel: &str,
    ) -> Vec<(String, Backlog)> {
        lock(&self.backlogs)
            .iter()
            .filter(|(k, _)| {
                k.first().is_some_and(|c| c == chain)
                    && k.get(2).is_some_and(|p| p == port)
                    && k.get(3).is_some_and(|c| c == channel)
            })
            .map(|(k, b)| (k.get(4).cloned().unwrap_or_default(), b.clone()))
            .collect()
    }
}

/// The process-wide metrics.
pub(crate) fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// The `cause` label of a failed tx from its code, codespace and log.
pub(crate) fn tx_failure_cause(code: u32, codespace: &str, log: &str) -> &'static str {
    let sdk = codespace == "sdk" || codespace.is_empty();
    if (code == 22 && codespace == "channel") || log.contains("packet messages are redundant") {
        "redundant"
    } else if sdk && code == 32 {
        "sequence_mismatch"
    } else if sdk && code == 11 {
        "out_of_gas"
    } else if sdk && code == 13 {
        "insufficient_fee"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes() {
        assert_eq!(tx_failure_cause(32, "sdk", ""), "sequence_mismatch");
        assert_eq!(tx_failure_cause(11, "sdk", ""), "out_of_gas");
        assert_eq!(tx_failure_cause(13, "sdk", ""), "insufficient_fee");
        assert_eq!(tx_failure_cause(22, "channel", ""), "redundant");
        assert_eq!(tx_failure_cause(5, "sdk", ""), "other");
    }

    #[test]
    fn backlog_age_keeps_the_oldest_sequence_time() {
        let m = Metrics::new();
        let labels = ["a", "b", "transfer", "channel-0", "packet"];
        m.set_backlog(&labels, &[5, 3, 9]);
        assert_eq!(m.backlog_packets.get(&labels), Some(3.0));
        assert_eq!(m.backlog_oldest_sequence.get(&labels), Some(3.0));
        let first = m.backlogs_of("a", "transfer", "channel-0")[0]
            .1
            .oldest_since;
        m.set_backlog(&labels, &[3, 10]);
        assert_eq!(
            m.backlogs_of("a", "transfer", "channel-0")[0]
                .1
                .oldest_since,
            first
        );
        m.set_backlog(&labels, &[]);
        assert_eq!(m.backlog_packets.get(&labels), Some(0.0));
        assert!(m.render().contains(
            "arke_backlog_oldest_age_seconds{chain=\"a\",counterparty=\"b\",port=\"transfer\",channel=\"channel-0\",kind=\"packet\"} 0\n"
        ));
    }
}
