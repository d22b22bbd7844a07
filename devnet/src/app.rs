//! The application: what CheckTx, block execution, simulation and `abci_query` do with the
//! state. It ties the ante handler (tx), the message handlers (bank, ibc) and the query services
//! (auth, bank, ibc, staking, node info, tx simulate) together, the way a Cosmos SDK app's
//! baseapp does.
//!
//! Atomicity follows the SDK: the ante handler's effects (sequence, fee) are kept when the
//! messages fail; the messages of a tx apply all together or not at all.

use cosmos::Coin;
use ibc_proto::google::protobuf::Any;
use prost::Message;
use tendermint::abci::response::Query;
use tendermint::abci::{Event, EventAttributeIndexExt};

use crate::auth;
use crate::bank;
use crate::error::TxError;
use crate::exec::{ExecState, GasMeter};
use crate::feemarket::{self, FeeMarketParams};
use crate::ibc::{self, HostInfo};
use crate::query_paths::{self, unknown_request, QueryEnv, BROADCAST_TX_PATH};
use crate::store::State;
use crate::tx::{self, AnteParams, Mode};

/// The bank message type URL the devnet executes besides IBC.
pub const MSG_SEND: &str = "/cosmos.bank.v1beta1.MsgSend";
/// The gRPC path of tx simulation.
pub const SIMULATE_PATH: &str = "/cosmos.tx.v1beta1.Service/Simulate";
/// Unbonding time reported by the staking Params query (21 days, the Cosmos Hub's).
pub const UNBONDING_SECS: i64 = 21 * 24 * 3600;

/// Application parameters fixed at genesis.
#[derive(Clone, Debug)]
pub struct AppParams {
    /// Chain id.
    pub chain_id: String,
    /// Fee rules and address prefix for the ante handler.
    pub ante: AnteParams,
    /// Version string reported by node info queries.
    pub version: String,
    /// The fee market, when on (see [`crate::feemarket`]).
    pub fee_market: Option<FeeMarketParams>,
    /// Whether the node indexes txs (node info reports `tx_index` `on` or `off`).
    pub tx_index: bool,
}

/// The outcome of CheckTx.
#[derive(Clone, Debug, Default)]
pub struct CheckOutcome {
    /// Error, if rejected.
    pub error: Option<TxError>,
    /// The tx's gas limit.
    pub gas_wanted: u64,
    /// Gas the ante handler used.
    pub gas_used: u64,
}

/// The outcome of executing one tx in a block (or simulating it).
#[derive(Clone, Debug, Default)]
pub struct DeliverOutcome {
    /// Error, if the tx failed.
    pub error: Option<TxError>,
    /// Gas limit of the tx.
    pub gas_wanted: u64,
    /// Gas used.
    pub gas_used: u64,
    /// `TxMsgData` bytes.
    pub data: Vec<u8>,
    /// Events of the tx (ante and messages; only ante events when the messages failed).
    pub events: Vec<Event>,
    /// Message responses.
    pub msg_responses: Vec<Any>,
}

/// The state machine.
#[derive(Clone, Debug)]
pub struct App {
    params: AppParams,
}

impl App {
    /// An app with `params`.
    pub fn new(params: AppParams) -> Self {
        Self { params }
    }

    /// The parameters.
    pub fn params(&self) -> &AppParams {
        &self.params
    }

    /// Builds the genesis state: funded accounts, nothing else.
    pub fn genesis(&self, accounts: &[(String, Vec<Coin>)]) -> Result<State, TxError> {
        let mut st = ExecState::new(State::new(), GasMeter::infinite());
        st.state.set_version(0);
        for (address, coins) in accounts {
            auth::ensure_account(&mut st, address);
            for coin in coins {
                bank::mint(&mut st, address, coin)?;
            }
        }
        auth::ensure_account(&mut st, &self.params.ante.fee_collector);
        if let Some(market) = &self.params.fee_market {
            feemarket::set_base_gas_price(&mut st.state, market.min_base_gas_price);
        }
        Ok(st.state)
    }

    /// CheckTx against the mempool's check state, on the latest block's `host`. On success the
    /// check state keeps the ante effects (so the next tx of the same account must carry the next
    /// sequence) and what ibc-go's `RedundantRelayDecorator` leaves there: the consensus states
    /// of the tx's client updates (ibc-go ≥ 8.1 verifies and applies `MsgUpdateClient` in
    /// CheckTx), so a later tx proving against them simulates and checks as it will execute, and
    /// the effects of its useful packet messages.
    pub fn check_tx(
        &self,
        check_state: &mut State,
        host: &HostInfo<'_>,
        raw: &[u8],
    ) -> CheckOutcome {
        let tx = match tx::decode(raw) {
            Ok(tx) => tx,
            Err(error) => {
                return CheckOutcome {
                    error: Some(error),
                    ..Default::default()
                }
            }
        };
        let mut out = CheckOutcome {
            gas_wanted: tx.gas_limit,
            ..Default::default()
        };
        // The feemarket module's ante check: the fee must pay the current base gas price.
        if let Some(market) = &self.params.fee_market {
            let price = feemarket::base_gas_price(check_state, market);
            if let Err(e) = feemarket::check_fee(&tx, price, &self.params.ante.fee_denom) {
                out.error = Some(e);
                return out;
            }
        }
        let mut st = ExecState::new(check_state.clone(), GasMeter::new(tx.gas_limit));
        let result = tx::ante(
            &mut st,
            &tx,
            &self.params.chain_id,
            &self.params.ante,
            Mode::Check,
        )
        .and_then(|signer| {
            if st.gas.out_of_gas() {
                return Err(TxError::out_of_gas("ante", st.gas.limit(), st.gas.used()));
            }
            // ibc-go's RedundantRelayDecorator: apply each client update, and reject a tx whose
            // packet messages are all no-ops, so racing relayers do not pay for a block slot.
            let mut packet_msgs = 0;
            let mut useful = Vec::new();
            for (index, msg) in tx.messages.iter().enumerate() {
                if msg.type_url == ibc::MSG_UPDATE_CLIENT {
                    ibc::execute(&mut st, host, msg, &signer).map_err(|e| TxError {
                        log: format!("message index: {index}: {}", e.log),
                        ..e
                    })?;
                    continue;
                }
                match ibc::is_redundant(&mut st, msg) {
                    Some(false) => {
                        packet_msgs += 1;
                        useful.push(msg);
                    }
                    Some(true) => packet_msgs += 1,
                    None => {}
                }
            }
            if packet_msgs > 0 && useful.is_empty() {
                return Err(TxError::redundant_packets());
            }
            // What the decorator's handlers leave in the check state while the tx is pending.
            for msg in useful {
                ibc::record_pending(&mut st, msg);
            }
            Ok(())
        });
        out.gas_used = st.gas.used();
        match result {
            Ok(()) => *check_state = st.state,
            Err(e) => out.error = Some(e),
        }
        out
    }

    /// The end of a block whose txs used `block_gas`: the fee market, when on, moves its base
    /// gas price in `state` (before the app hash is taken).
    pub fn end_block(&self, state: &mut State, block_gas: u64) {
        if let Some(market) = &self.params.fee_market {
            feemarket::end_block(state, market, block_gas);
        }
    }

    /// Executes one tx of a block on `state` (kept on success, ante effects kept on message
    /// failure), or simulates it (`Mode::Simulate`, infinite gas). A block's tx comes out with
    /// every event attribute marked for indexing, as baseapp's default (`index-events = []`)
    /// marks them.
    pub fn deliver_tx(
        &self,
        state: &mut State,
        host: &HostInfo<'_>,
        raw: &[u8],
        mode: Mode,
    ) -> DeliverOutcome {
        let mut out = self.run_tx(state, host, raw, mode);
        if mode == Mode::Deliver {
            set_index(&mut out.events, true);
        }
        out
    }

    fn run_tx(
        &self,
        state: &mut State,
        host: &HostInfo<'_>,
        raw: &[u8],
        mode: Mode,
    ) -> DeliverOutcome {
        let tx = match tx::decode(raw) {
            Ok(tx) => tx,
            Err(error) => {
                return DeliverOutcome {
                    error: Some(error),
                    ..Default::default()
                }
            }
        };
        let gas = if mode == Mode::Simulate {
            GasMeter::infinite()
        } else {
            GasMeter::new(tx.gas_limit)
        };
        let mut out = DeliverOutcome {
            gas_wanted: tx.gas_limit,
            ..Default::default()
        };
        if let Err(e) = tx::check_timeout_height(&tx, host.height) {
            out.error = Some(e);
            return out;
        }
        let mut st = ExecState::new(state.clone(), gas);
        let signer = match tx::ante(&mut st, &tx, &self.params.chain_id, &self.params.ante, mode) {
            Ok(signer) => signer,
            Err(e) => {
                out.gas_used = st.gas.used();
                out.error = Some(e);
                return out;
            }
        };
        out.events.extend(self.tx_events(&tx, &signer));
        if st.gas.out_of_gas() {
            out.gas_used = st.gas.used();
            out.error = Some(TxError::out_of_gas("ante", st.gas.limit(), st.gas.used()));
            return out;
        }
        // The ante handler's effects stand even if a message fails.
        let after_ante = st.state.clone();
        let mut msg_events = Vec::new();
        let mut responses = Vec::new();
        let mut failure = None;
        for (index, msg) in tx.messages.iter().enumerate() {
            match self.execute_msg(&mut st, host, msg, &signer) {
                Ok((events, response)) => {
                    msg_events.push(message_event(&msg.type_url, &signer, index));
                    msg_events.extend(events);
                    responses.extend(response);
                }
                Err(e) => {
                    failure = Some(TxError {
                        log: format!(
                            "failed to execute message; message index: {index}: {}",
                            e.log
                        ),
                        ..e
                    });
                    break;
                }
            }
            if st.gas.out_of_gas() {
                break;
            }
        }
        if failure.is_none() && st.gas.out_of_gas() {
            failure = Some(TxError::out_of_gas(
                "message execution",
                st.gas.limit(),
                st.gas.used(),
            ));
        }
        out.gas_used = st.gas.used();
        match failure {
            Some(e) => {
                *state = after_ante;
                out.error = Some(e);
            }
            None => {
                *state = st.state;
                out.events.extend(msg_events);
                out.data = tx::encode_tx_msg_data(responses.clone());
                out.msg_responses = responses;
            }
        }
        out
    }

    /// Executes one message; a redundant packet message is a no-op without events, as in ibc-go.
    fn execute_msg(
        &self,
        st: &mut ExecState,
        host: &HostInfo<'_>,
        msg: &Any,
        signer: &str,
    ) -> Result<(Vec<Event>, Option<Any>), TxError> {
        if msg.type_url == MSG_SEND {
            let events = bank::execute_msg_send(st, msg, signer)?;
            let response = Any {
                type_url: "/cosmos.bank.v1beta1.MsgSendResponse".to_string(),
                value: Vec::new(),
            };
            return Ok((events, Some(response)));
        }
        if msg.type_url == crate::feegrant::MSG_GRANT_ALLOWANCE {
            return crate::feegrant::execute_grant(st, msg, signer);
        }
        if ibc::handles(&msg.type_url) {
            if ibc::is_redundant(st, msg) == Some(true) {
                return Ok((Vec::new(), noop_response(&msg.type_url)));
            }
            let result = ibc::execute(st, host, msg, signer)?;
            return Ok((result.events, result.response));
        }
        Err(TxError::sdk(
            6,
            format!(
                "unrecognized message type: {}: unknown request",
                msg.type_url
            ),
        ))
    }

    /// The SDK's tx-level events (fee, sequence, signature).
    fn tx_events(&self, tx: &tx::Tx, signer: &str) -> Vec<Event> {
        let fee: String = tx
            .fee
            .iter()
            .map(|c| format!("{}{}", c.amount, c.denom))
            .collect::<Vec<_>>()
            .join(",");
        let seq = tx.signer_sequences.first().copied().unwrap_or_default();
        let payer = match &tx.fee_granter {
            Some(granter) => granter.clone(),
            None => signer.to_string(),
        };
        vec![
            Event::new("tx", [("fee", fee).index(), ("fee_payer", payer).index()]),
            Event::new("tx", [("acc_seq", format!("{signer}/{seq}")).index()]),
        ]
    }

    /// Answers `abci_query` as baseapp's `Query` does: the broadcast path is refused, a gRPC
    /// method path runs its service, any other path routes by its first segment (see
    /// [`crate::query_paths`]).
    pub fn query(&self, env: &QueryEnv<'_>, path: &str, data: &[u8], prove: bool) -> Query {
        if path == BROADCAST_TX_PATH {
            return query_paths::failure(&TxError::invalid_request(
                "can't route a broadcast tx message",
            ));
        }
        if let Some(answer) = self.query_grpc(env, path, data, prove) {
            return answer;
        }
        let parts = query_paths::split_path(path);
        match parts.first().copied() {
            None => query_paths::failure(&unknown_request("no query path provided")),
            Some("app") => self.query_app(env, &parts, data),
            Some("store") => query_paths::store(env, &parts, data, prove),
            Some("p2p") => query_paths::p2p(&parts),
            Some(_) => query_paths::failure(&unknown_request("unknown query path")),
        }
    }

    /// Whether `path` simulates, so that its answer needs the check state.
    pub fn simulates(path: &str) -> bool {
        path == SIMULATE_PATH
            || matches!(
                query_paths::split_path(path).as_slice(),
                ["app", "simulate", ..]
            )
    }

    /// A gRPC method path: `None` when no service has the method. The state at the height is
    /// checked first, as baseapp's `CreateQueryContext` does; without one, the route is looked
    /// up by asking the services on an empty state.
    fn query_grpc(
        &self,
        env: &QueryEnv<'_>,
        path: &str,
        data: &[u8],
        prove: bool,
    ) -> Option<Query> {
        match query_paths::grpc_state(env, prove) {
            Ok(state) => Some(match self.grpc_route(env, state, path, data)? {
                Ok(value) => query_paths::answer(value, env.height),
                Err(e) => query_paths::failure_at(&e, env.height),
            }),
            Err(e) => {
                let _answered = self.grpc_route(env, &State::new(), path, &[])?;
                Some(query_paths::failure(&e))
            }
        }
    }

    fn grpc_route(
        &self,
        env: &QueryEnv<'_>,
        state: &State,
        path: &str,
        data: &[u8],
    ) -> Option<Result<Vec<u8>, TxError>> {
        if path == SIMULATE_PATH {
            return Some(self.grpc_simulate(env, data));
        }
        let mut st = ExecState::new(state.clone(), GasMeter::infinite());
        auth::grpc_query(&mut st, path, data)
            .or_else(|| bank::grpc_query(&mut st, path, data))
            .or_else(|| ibc::grpc_query(&mut st, &env.host, path, data))
            .or_else(|| self.node_query(path))
            .or_else(|| {
                let market = self.params.fee_market.as_ref()?;
                feemarket::grpc_query(state, market, &self.params.ante.fee_denom, path, data)
            })
    }

    /// `app/simulate` (raw tx bytes in, JSON out) and `app/version`: baseapp's
    /// `handleQueryApp`.
    fn query_app(&self, env: &QueryEnv<'_>, parts: &[&str], data: &[u8]) -> Query {
        match parts.get(1).copied() {
            Some("simulate") => {
                let out = self.simulate(env, data);
                match &out.error {
                    Some(e) => query_paths::failure(&TxError {
                        log: format!("failed to simulate tx: {}", e.log),
                        ..e.clone()
                    }),
                    None => query_paths::app_answer(query_paths::simulation_json(&out), env.height),
                }
            }
            Some("version") => {
                query_paths::app_answer(self.params.version.clone().into_bytes(), env.height)
            }
            Some(_) => query_paths::failure(&unknown_request(format!(
                "unknown query: [{}]",
                parts.join(" ")
            ))),
            None => query_paths::failure(&unknown_request(
                "expected second parameter to be either 'simulate' or 'version', neither was present",
            )),
        }
    }

    /// Runs `raw` as baseapp's `Simulate` does: on a branch of the check state (so a tx that
    /// follows txs still in the mempool simulates at the sequence after theirs), with infinite
    /// gas (its limit, the reported gas wanted, is `u64::MAX`), never changing any state. The
    /// events are as the messages emitted them: baseapp marks events for indexing only in
    /// CheckTx and FinalizeBlock.
    pub fn simulate(&self, env: &QueryEnv<'_>, raw: &[u8]) -> DeliverOutcome {
        let mut branch = env.check_state.unwrap_or(env.latest_state).clone();
        let mut out = self.deliver_tx(&mut branch, &env.check_host, raw, Mode::Simulate);
        out.gas_wanted = u64::MAX;
        set_index(&mut out.events, false);
        out
    }

    /// `/cosmos.tx.v1beta1.Service/Simulate` (x/auth's tx service): a failure comes back as the
    /// gRPC status the service returns, turned into an sdk error by baseapp's query router.
    fn grpc_simulate(&self, env: &QueryEnv<'_>, data: &[u8]) -> Result<Vec<u8>, TxError> {
        use ibc_proto::cosmos::base::abci::v1beta1::{GasInfo, Result as AbciResult};
        use ibc_proto::cosmos::tx::v1beta1::{SimulateRequest, SimulateResponse};
        let request = SimulateRequest::decode(data).map_err(TxError::invalid_request)?;
        #[allow(deprecated)]
        let raw = match (request.tx_bytes.is_empty(), request.tx) {
            (false, _) => request.tx_bytes,
            // The deprecated `tx` field: its encoding is the `TxRaw` it was signed as.
            (true, Some(tx)) => tx.encode_to_vec(),
            (true, None) => {
                return Err(TxError::invalid_request(
                    "rpc error: code = InvalidArgument desc = empty txBytes is not allowed",
                ))
            }
        };
        let out = self.simulate(env, &raw);
        if let Some(e) = out.error {
            return Err(unknown_request(format!(
                "rpc error: code = Unknown desc = {} with gas used: '{}'",
                e.log, out.gas_used
            )));
        }
        let response = SimulateResponse {
            gas_info: Some(GasInfo {
                gas_wanted: out.gas_wanted,
                gas_used: out.gas_used,
            }),
            result: Some(AbciResult {
                #[allow(deprecated)]
                data: out.data,
                log: String::new(),
                events: out.events.into_iter().map(Into::into).collect(),
                msg_responses: out.msg_responses,
            }),
        };
        Ok(response.encode_to_vec())
    }

    /// Node-level services: staking params, node config, tendermint node info.
    fn node_query(&self, path: &str) -> Option<Result<Vec<u8>, TxError>> {
        match path {
            "/cosmos.staking.v1beta1.Query/Params" => {
                use ibc_proto::cosmos::staking::v1beta1::{Params, QueryParamsResponse};
                let params = Params {
                    unbonding_time: Some(ibc_proto::google::protobuf::Duration {
                        seconds: UNBONDING_SECS,
                        nanos: 0,
                    }),
                    max_validators: 100,
                    max_entries: 7,
                    historical_entries: 10000,
                    bond_denom: self.params.ante.fee_denom.clone(),
                    min_commission_rate: "0.000000000000000000".to_string(),
                };
                Some(Ok(QueryParamsResponse {
                    params: Some(params),
                }
                .encode_to_vec()))
            }
            "/cosmos.base.node.v1beta1.Service/Config" => {
                use ibc_proto::cosmos::base::node::v1beta1::ConfigResponse;
                Some(Ok(ConfigResponse {
                    minimum_gas_price: format!(
                        "{:.18}{}",
                        self.params.ante.min_gas_price, self.params.ante.fee_denom
                    ),
                    pruning_keep_recent: "0".to_string(),
                    pruning_interval: "0".to_string(),
                    halt_height: 0,
                }
                .encode_to_vec()))
            }
            "/cosmos.base.tendermint.v1beta1.Service/GetNodeInfo" => {
                use ibc_proto::cosmos::base::tendermint::v1beta1::{
                    GetNodeInfoResponse, VersionInfo,
                };
                let node_info = tendermint_proto::p2p::DefaultNodeInfo {
                    protocol_version: Some(tendermint_proto::p2p::ProtocolVersion {
                        p2p: 8,
                        block: 11,
                        app: 0,
                    }),
                    default_node_id: String::new(),
                    listen_addr: String::new(),
                    network: self.params.chain_id.clone(),
                    version: "0.38.17".to_string(),
                    channels: vec![0x40, 0x20, 0x21, 0x22, 0x23, 0x30, 0x38, 0x60, 0x61, 0x00],
                    moniker: "devnet".to_string(),
                    other: Some(tendermint_proto::p2p::DefaultNodeInfoOther {
                        tx_index: if self.params.tx_index { "on" } else { "off" }.to_string(),
                        rpc_address: String::new(),
                    }),
                };
                Some(Ok(GetNodeInfoResponse {
                    default_node_info: Some(node_info),
                    application_version: Some(VersionInfo {
                        name: "devnet".to_string(),
                        app_name: "devnet".to_string(),
                        version: self.params.version.clone(),
                        git_commit: String::new(),
                        build_tags: String::new(),
                        go_version: String::new(),
                        // Relayers (Hermes) read the CometBFT and SDK versions from here.
                        build_deps: vec![
                            ibc_proto::cosmos::base::tendermint::v1beta1::Module {
                                path: "github.com/cometbft/cometbft".to_string(),
                                version: "v0.38.17".to_string(),
                                sum: String::new(),
                            },
                            ibc_proto::cosmos::base::tendermint::v1beta1::Module {
                                path: "github.com/cosmos/cosmos-sdk".to_string(),
                                version: "v0.50.10".to_string(),
                                sum: String::new(),
                            },
                        ],
                        cosmos_sdk_version: "v0.50.10".to_string(),
                    }),
                }
                .encode_to_vec()))
            }
            _ => None,
        }
    }
}

/// Marks (or unmarks) every attribute of `events` for indexing: baseapp's `MarkEventsToIndex`
/// with an empty index set marks them all.
pub fn set_index(events: &mut [Event], index: bool) {
    for attr in events.iter_mut().flat_map(|e| e.attributes.iter_mut()) {
        attr.set_index(index);
    }
}

/// The SDK's per-message `message` event.
fn message_event(type_url: &str, signer: &str, index: usize) -> Event {
    let module = type_url
        .trim_start_matches('/')
        .split('.')
        .nth(1)
        .unwrap_or_default()
        .to_string();
    Event::new(
        "message",
        [
            ("action", type_url.to_string()).index(),
            ("sender", signer.to_string()).index(),
            ("module", module).index(),
            ("msg_index", index.to_string()).index(),
        ],
    )
}

/// The `Msg…Response{result: NOOP}` for a redundant packet message.
fn noop_response(type_url: &str) -> Option<Any> {
    use ibc_proto::ibc::core::channel::v1::{
        MsgAcknowledgementResponse, MsgRecvPacketResponse, MsgTimeoutOnCloseResponse,
        MsgTimeoutResponse, ResponseResultType,
    };
    let noop = ResponseResultType::Noop as i32;
    let (url, value) = match type_url {
        "/ibc.core.channel.v1.MsgRecvPacket" => (
            "/ibc.core.channel.v1.MsgRecvPacketResponse",
            MsgRecvPacketResponse { result: noop }.encode_to_vec(),
        ),
        "/ibc.core.channel.v1.MsgAcknowledgement" => (
            "/ibc.core.channel.v1.MsgAcknowledgementResponse",
            MsgAcknowledgementResponse { result: noop }.encode_to_vec(),
        ),
        "/ibc.core.channel.v1.MsgTimeout" => (
            "/ibc.core.channel.v1.MsgTimeoutResponse",
            MsgTimeoutResponse { result: noop }.encode_to_vec(),
        ),
        "/ibc.core.channel.v1.MsgTimeoutOnClose" => (
            "/ibc.core.channel.v1.MsgTimeoutOnCloseResponse",
            MsgTimeoutOnCloseResponse { result: noop }.encode_to_vec(),
        ),
        _ => return None,
    };
    Some(Any {
        type_url: url.to_string(),
        value,
    })
}
