//! ICS-20 fungible token transfer on port `transfer`, as ibc-go's transfer module does it: the
//! bank side (escrow accounts per channel, `ibc/{HASH}` vouchers with their denom traces in the
//! `transfer` store), `MsgTransfer`, and the IBC module callbacks the router dispatches to.
//!
//! ibc-rs's token-transfer contexts are implemented on [`IbcContext`] over `bank.rs`. The
//! handlers are written here rather than taken from `ibc-app-transfer` because that crate's
//! handlers need its `serde` feature (off in this build) and encode packet data differently from
//! ibc-go: ibc-go's packet bytes are sorted-key JSON without an empty `memo`
//! (`{"amount":"100","denom":"stake","receiver":"…","sender":"…"}`), its acknowledgements are
//! `{"result":"AQ=="}` / `{"error":"ABCI code: N: error handling packet: see events for
//! details"}`, and counterparties verify those exact bytes.

use std::str::FromStr;

use cosmos::Coin;
use ibc::apps::transfer::context::{TokenTransferExecutionContext, TokenTransferValidationContext};
use ibc::apps::transfer::types::{
    is_receiver_chain_source, is_sender_chain_source, Memo, PrefixedCoin, PrefixedDenom,
    TracePrefix,
};
use ibc::core::channel::handler::{send_packet_execute, send_packet_validate};
use ibc::core::channel::types::acknowledgement::Acknowledgement;
use ibc::core::channel::types::channel::{Counterparty, Order};
use ibc::core::channel::types::error::ChannelError;
use ibc::core::channel::types::packet::Packet;
use ibc::core::channel::types::timeout::{TimeoutHeight, TimeoutTimestamp};
use ibc::core::channel::types::Version;
use ibc::core::handler::types::events::{IbcEvent, MessageEvent};
use ibc::core::host::types::error::HostError;
use ibc::core::host::types::identifiers::{ChannelId, ConnectionId, PortId};
use ibc::core::host::types::path::{ChannelEndPath, SeqSendPath};
use ibc::core::host::{ExecutionContext, ValidationContext};
use ibc::core::primitives::Signer;
use ibc::core::router::module::Module;
use ibc::core::router::types::event::ModuleEvent;
use ibc::core::router::types::module::ModuleExtras;
use ibc_proto::ibc::applications::transfer::v1::{DenomTrace, MsgTransfer};
use ibc_proto::ibc::applications::transfer::v2::FungibleTokenPacketData;
use prost::Message;
use sha2::{Digest, Sha256};

use super::context::IbcContext;
use super::errors::channel_error_to_tx;
use super::keys::{denom_trace_key, TRANSFER_STORE};

use crate::bank;
use crate::error::TxError;

/// The ICS-20 version.
pub const VERSION: &str = "ics20-1";

/// The transfer module's port and module name.
pub const PORT: &str = "transfer";
/// A devnet-only port that runs the same ICS-20 logic over ORDERED channels, so relayers can be
/// tested on ordered channels (ibc-go's transfer module, like this one on [`PORT`], accepts only
/// unordered channels; real ordered channels belong to apps such as interchain accounts).
pub const ORDERED_PORT: &str = "ordered";

/// Whether `port` is bound to the transfer module.
pub fn is_transfer_port(port: &str) -> bool {
    port == PORT || port == ORDERED_PORT
}

/// The success acknowledgement ibc-go writes (`NewResultAcknowledgement([]byte{1})`).
pub const ACK_SUCCESS: &[u8] = br#"{"result":"AQ=="}"#;

/// The `transfer` codespace of ibc-go.
const CODESPACE: &str = "transfer";

fn transfer_err(code: u32, log: String) -> TxError {
    TxError {
        codespace: CODESPACE,
        code,
        log,
    }
}

/// The escrow address of `port/channel`, as ibc-go's `GetEscrowAddress`: the first 20 bytes of
/// `sha256("ics20-1" || 0x00 || "{port}/{channel}")`, bech32 with `prefix`.
pub fn escrow_address(prefix: &str, port: &str, channel: &str) -> Result<String, TxError> {
    let mut hasher = Sha256::new();
    hasher.update(VERSION.as_bytes());
    hasher.update([0u8]);
    hasher.update(format!("{port}/{channel}").as_bytes());
    let hash = hasher.finalize();
    let hrp = bech32::Hrp::parse(prefix)
        .map_err(|e| TxError::sdk(7, format!("invalid bech32 prefix {prefix:?}: {e}")))?;
    bech32::encode::<bech32::Bech32>(hrp, &hash[..20])
        .map_err(|e| TxError::sdk(7, format!("cannot encode escrow address: {e}")))
}

/// ibc-go's denom trace hash: UPPERHEX sha256 of the full denom path (`transfer/channel-0/stake`).
pub fn denom_hash(full_path: &str) -> String {
    hex::encode_upper(Sha256::digest(full_path.as_bytes()))
}

/// The bank denom of an ICS-20 denom: the base denom when it has no trace, else
/// `ibc/{denom_hash}`.
pub fn bank_denom(denom: &PrefixedDenom) -> String {
    if denom.trace_path.is_empty() {
        denom.base_denom.to_string()
    } else {
        format!("ibc/{}", denom_hash(&denom.to_string()))
    }
}

/// Go's `json.Marshal` of a string: JSON escaping plus `<`, `>`, `&`, U+2028 and U+2029 as
/// `\uXXXX`.
fn go_json_string(s: &str) -> String {
    let json = serde_json::Value::String(s.to_string()).to_string();
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// ICS-20 packet data bytes exactly as ibc-go writes them: keys sorted, empty memo omitted.
pub fn packet_data_bytes(data: &FungibleTokenPacketData) -> Vec<u8> {
    let mut fields = vec![
        ("amount", &data.amount),
        ("denom", &data.denom),
        ("receiver", &data.receiver),
        ("sender", &data.sender),
    ];
    if !data.memo.is_empty() {
        fields.insert(2, ("memo", &data.memo));
    }
    let body: Vec<String> = fields
        .into_iter()
        .map(|(k, v)| format!("\"{k}\":{}", go_json_string(v)))
        .collect();
    format!("{{{}}}", body.join(",")).into_bytes()
}

/// ibc-go's error acknowledgement for an error with ABCI code `code`.
pub fn ack_error(code: u32) -> Vec<u8> {
    format!(r#"{{"error":"ABCI code: {code}: error handling packet: see events for details"}}"#)
        .into_bytes()
}

/// A parsed acknowledgement: `Ok(result)` or `Err(error text)`.
fn parse_ack(raw: &[u8]) -> Result<Result<String, String>, String> {
    let value: serde_json::Value = serde_json::from_slice(raw)
        .map_err(|e| format!("cannot unmarshal ICS-20 transfer packet acknowledgement: {e}"))?;
    if let Some(result) = value.get("result").and_then(|v| v.as_str()) {
        return Ok(Ok(result.to_string()));
    }
    if let Some(error) = value.get("error").and_then(|v| v.as_str()) {
        return Ok(Err(error.to_string()));
    }
    Err("cannot unmarshal ICS-20 transfer packet acknowledgement: no result or error".to_string())
}

/// Packet data parsed and checked like ibc-go's `ValidateBasic`.
struct ParsedData {
    raw: FungibleTokenPacketData,
    denom: PrefixedDenom,
    amount: u128,
}

fn parse_packet_data(bytes: &[u8]) -> Result<ParsedData, TxError> {
    let raw: FungibleTokenPacketData = serde_json::from_slice(bytes).map_err(|e| {
        transfer_err(
            12,
            format!("cannot unmarshal ICS-20 transfer packet data: {e}: invalid type"),
        )
    })?;
    let amount: u128 = raw.amount.parse().ok().filter(|a| *a > 0).ok_or_else(|| {
        transfer_err(
            5,
            format!(
                "unable to parse transfer amount ({}) into math.Int: invalid amount",
                raw.amount
            ),
        )
    })?;
    if raw.sender.trim().is_empty() {
        return Err(TxError::sdk(
            7,
            "sender address cannot be blank: invalid address",
        ));
    }
    if raw.receiver.trim().is_empty() {
        return Err(TxError::sdk(
            7,
            "receiver address cannot be blank: invalid address",
        ));
    }
    let denom = PrefixedDenom::from_str(&raw.denom).map_err(|e| {
        transfer_err(
            3,
            format!(
                "invalid denom {:?}: {e}: invalid denomination for cross-chain transfer",
                raw.denom
            ),
        )
    })?;
    Ok(ParsedData { raw, denom, amount })
}

/// An `ibc::apps::transfer` error for the ibc-rs context traits.
fn host_err(e: TxError) -> HostError {
    HostError::Other { description: e.log }
}

impl IbcContext<'_> {
    /// The escrow address of `port/channel` on this chain.
    pub fn escrow(&self, port: &PortId, channel: &ChannelId) -> Result<String, TxError> {
        escrow_address(&self.shared.bech32_prefix, port.as_str(), channel.as_str())
    }

    /// Checks a local account address (bech32 with this chain's prefix).
    fn local_account(&self, address: &str) -> Result<String, TxError> {
        let (hrp, data) = bech32::decode(address).map_err(|e| {
            TxError::sdk(
                7,
                format!("failed to decode address {address:?}: {e}: invalid address"),
            )
        })?;
        if hrp.as_str() != self.shared.bech32_prefix || data.is_empty() {
            return Err(TxError::sdk(
                7,
                format!(
                    "invalid Bech32 prefix; expected {}, got {}: invalid address",
                    self.shared.bech32_prefix,
                    hrp.as_str()
                ),
            ));
        }
        Ok(address.to_string())
    }

    fn bank_coin(coin: &PrefixedCoin) -> Result<Coin, TxError> {
        let amount: u128 = coin.amount.to_string().parse().map_err(|_| {
            transfer_err(
                5,
                format!(
                    "amount {} does not fit in 128 bits: invalid amount",
                    coin.amount
                ),
            )
        })?;
        Ok(Coin::new(bank_denom(&coin.denom), amount))
    }

    fn spendable(&self, address: &str, coin: &Coin) -> Result<(), TxError> {
        let have = self.with_exec(|st| bank::balance(st, address, &coin.denom));
        if have < coin.amount {
            return Err(TxError::insufficient_funds(format!(
                "spendable balance {} is smaller than {coin}",
                Coin::new(coin.denom.clone(), have)
            )));
        }
        Ok(())
    }

    /// Stores the trace of a traced denom in the `transfer` store (first time only).
    fn store_denom_trace(&self, denom: &PrefixedDenom) {
        if denom.trace_path.is_empty() {
            return;
        }
        let key = denom_trace_key(&denom_hash(&denom.to_string()));
        if self.get_in(TRANSFER_STORE, &key).is_none() {
            let trace = DenomTrace {
                path: denom.trace_path.to_string(),
                base_denom: denom.base_denom.to_string(),
            };
            self.set_in(TRANSFER_STORE, key, trace.encode_to_vec());
        }
    }

    /// The denom trace of `ibc/{hash}` (or `{hash}`), if known.
    pub fn denom_trace(&self, hash_or_denom: &str) -> Option<DenomTrace> {
        let hash = hash_or_denom
            .strip_prefix("ibc/")
            .unwrap_or(hash_or_denom)
            .to_ascii_uppercase();
        let raw = self.get_in(TRANSFER_STORE, &denom_trace_key(&hash))?;
        DenomTrace::decode(raw.as_slice()).ok()
    }

    fn escrow_tokens(
        &self,
        from: &str,
        port: &PortId,
        chan: &ChannelId,
        coin: &PrefixedCoin,
    ) -> Result<(), TxError> {
        let escrow = self.escrow(port, chan)?;
        let coin = Self::bank_coin(coin)?;
        self.with_exec(|st| bank::send(st, from, &escrow, &coin))
    }

    fn unescrow_tokens(
        &self,
        to: &str,
        port: &PortId,
        chan: &ChannelId,
        coin: &PrefixedCoin,
    ) -> Result<(), TxError> {
        let escrow = self.escrow(port, chan)?;
        let coin = Self::bank_coin(coin)?;
        self.with_exec(|st| bank::send(st, &escrow, to, &coin))
    }

    fn mint_tokens(&self, to: &str, coin: &PrefixedCoin) -> Result<(), TxError> {
        self.store_denom_trace(&coin.denom);
        let coin = Self::bank_coin(coin)?;
        self.with_exec(|st| bank::mint(st, to, &coin))
    }

    fn burn_tokens(&self, from: &str, coin: &PrefixedCoin) -> Result<(), TxError> {
        let coin = Self::bank_coin(coin)?;
        self.with_exec(|st| bank::burn(st, from, &coin))
    }
}

impl TokenTransferValidationContext for IbcContext<'_> {
    type AccountId = String;

    fn sender_account(&self, sender: &Signer) -> Result<String, HostError> {
        self.local_account(sender.as_ref()).map_err(host_err)
    }

    fn receiver_account(&self, receiver: &Signer) -> Result<String, HostError> {
        self.local_account(receiver.as_ref()).map_err(host_err)
    }

    fn get_port(&self) -> Result<PortId, HostError> {
        Ok(PortId::transfer())
    }

    fn can_send_coins(&self) -> Result<(), HostError> {
        Ok(())
    }

    fn can_receive_coins(&self) -> Result<(), HostError> {
        Ok(())
    }

    fn escrow_coins_validate(
        &self,
        from: &String,
        _port: &PortId,
        _chan: &ChannelId,
        coin: &PrefixedCoin,
        _memo: &Memo,
    ) -> Result<(), HostError> {
        let coin = Self::bank_coin(coin).map_err(host_err)?;
        self.spendable(from, &coin).map_err(host_err)
    }

    fn unescrow_coins_validate(
        &self,
        _to: &String,
        port: &PortId,
        chan: &ChannelId,
        coin: &PrefixedCoin,
    ) -> Result<(), HostError> {
        let escrow = self.escrow(port, chan).map_err(host_err)?;
        let coin = Self::bank_coin(coin).map_err(host_err)?;
        self.spendable(&escrow, &coin).map_err(host_err)
    }

    fn mint_coins_validate(&self, _account: &String, coin: &PrefixedCoin) -> Result<(), HostError> {
        Self::bank_coin(coin).map(|_| ()).map_err(host_err)
    }

    fn burn_coins_validate(
        &self,
        account: &String,
        coin: &PrefixedCoin,
        _memo: &Memo,
    ) -> Result<(), HostError> {
        let coin = Self::bank_coin(coin).map_err(host_err)?;
        self.spendable(account, &coin).map_err(host_err)
    }

    fn denom_hash_string(&self, denom: &PrefixedDenom) -> Option<String> {
        Some(denom_hash(&denom.to_string()))
    }
}

impl TokenTransferExecutionContext for IbcContext<'_> {
    fn escrow_coins_execute(
        &mut self,
        from: &String,
        port: &PortId,
        chan: &ChannelId,
        coin: &PrefixedCoin,
        _memo: &Memo,
    ) -> Result<(), HostError> {
        self.escrow_tokens(from, port, chan, coin).map_err(host_err)
    }

    fn unescrow_coins_execute(
        &mut self,
        to: &String,
        port: &PortId,
        chan: &ChannelId,
        coin: &PrefixedCoin,
    ) -> Result<(), HostError> {
        self.unescrow_tokens(to, port, chan, coin).map_err(host_err)
    }

    fn mint_coins_execute(
        &mut self,
        account: &String,
        coin: &PrefixedCoin,
    ) -> Result<(), HostError> {
        self.mint_tokens(account, coin).map_err(host_err)
    }

    fn burn_coins_execute(
        &mut self,
        account: &String,
        coin: &PrefixedCoin,
        _memo: &Memo,
    ) -> Result<(), HostError> {
        self.burn_tokens(account, coin).map_err(host_err)
    }
}

fn module_event(kind: &str, attrs: Vec<(&str, String)>) -> ModuleEvent {
    ModuleEvent {
        kind: kind.to_string(),
        attributes: attrs.into_iter().map(Into::into).collect(),
    }
}

/// Executes `MsgTransfer` signed by `tx_signer`: escrows or burns the tokens, sends the packet
/// (ibc-go packet bytes), emits `ibc_transfer` + `message{module=transfer}`; returns the
/// packet sequence.
pub fn send_transfer(
    ctx: &mut IbcContext<'_>,
    msg: &MsgTransfer,
    tx_signer: &str,
) -> Result<u64, TxError> {
    if msg.sender != tx_signer {
        return Err(super::errors::signer_mismatch(&msg.sender));
    }
    ctx.local_account(&msg.sender)?;
    if msg.receiver.trim().is_empty() {
        return Err(TxError::sdk(
            7,
            "missing recipient address: invalid address",
        ));
    }
    if msg.receiver.len() > 2048 {
        return Err(TxError::sdk(
            7,
            "recipient address must not exceed 2048 bytes: invalid address",
        ));
    }
    if msg.memo.len() > 32768 {
        return Err(transfer_err(
            11,
            "memo must not exceed 32768 bytes: invalid memo".to_string(),
        ));
    }
    let port = PortId::from_str(&msg.source_port).map_err(|e| {
        TxError::sdk(
            18,
            format!(
                "invalid source port ID {:?}: {e}: invalid request",
                msg.source_port
            ),
        )
    })?;
    let chan = ChannelId::from_str(&msg.source_channel).map_err(|e| {
        TxError::sdk(
            18,
            format!(
                "invalid source channel ID {:?}: {e}: invalid request",
                msg.source_channel
            ),
        )
    })?;
    let token = msg
        .token
        .as_ref()
        .ok_or_else(|| TxError::sdk(10, "missing token: invalid coins"))?;
    let amount: u128 = token.amount.parse().map_err(|_| {
        TxError::sdk(
            10,
            format!("{}{}: invalid coins", token.amount, token.denom),
        )
    })?;
    if amount == 0 {
        return Err(TxError::insufficient_funds(format!("0{}", token.denom)));
    }
    // A voucher is named by its hash on this chain; the packet carries its full trace.
    let full_denom = if let Some(hash) = token.denom.strip_prefix("ibc/") {
        let trace = ctx
            .denom_trace(hash)
            .ok_or_else(|| transfer_err(6, format!("{hash}: denomination trace not found")))?;
        if trace.path.is_empty() {
            trace.base_denom
        } else {
            format!("{}/{}", trace.path, trace.base_denom)
        }
    } else {
        token.denom.clone()
    };
    let denom = PrefixedDenom::from_str(&full_denom).map_err(|e| {
        transfer_err(
            3,
            format!("{full_denom}: {e}: invalid denomination for cross-chain transfer"),
        )
    })?;
    let prefixed = PrefixedCoin {
        denom: denom.clone(),
        amount: ibc::apps::transfer::types::Amount::from_str(&amount.to_string())
            .map_err(|e| TxError::sdk(10, format!("{e}: invalid coins")))?,
    };

    let chan_end = ctx
        .channel_end(&ChannelEndPath::new(&port, &chan))
        .map_err(|e| TxError {
            codespace: "channel",
            code: 3,
            log: format!("port ID ({port}) channel ID ({chan}): {e}: channel not found"),
        })?;
    let port_on_b = chan_end.counterparty().port_id().clone();
    let chan_on_b = chan_end
        .counterparty()
        .channel_id()
        .cloned()
        .ok_or_else(|| TxError {
            codespace: "channel",
            code: 7,
            log: format!("counterparty channel of {port}/{chan} is not set: invalid counterparty"),
        })?;
    let sequence = ctx
        .get_next_sequence_send(&SeqSendPath::new(&port, &chan))
        .map_err(|e| TxError {
            codespace: "channel",
            code: 10,
            log: format!(
                "source port: {port}, source channel: {chan}: {e}: sequence send not found"
            ),
        })?;

    let data = FungibleTokenPacketData {
        denom: full_denom.clone(),
        amount: amount.to_string(),
        sender: msg.sender.clone(),
        receiver: msg.receiver.clone(),
        memo: msg.memo.clone(),
    };
    let packet = Packet {
        seq_on_a: sequence,
        port_id_on_a: port.clone(),
        chan_id_on_a: chan.clone(),
        port_id_on_b: port_on_b,
        chan_id_on_b: chan_on_b,
        data: packet_data_bytes(&data),
        timeout_height_on_b: TimeoutHeight::try_from(msg.timeout_height).map_err(|e| {
            transfer_err(
                2,
                format!("invalid timeout height: {e}: invalid packet timeout"),
            )
        })?,
        timeout_timestamp_on_b: TimeoutTimestamp::from_nanoseconds(msg.timeout_timestamp),
    };
    send_packet_validate(ctx, &packet).map_err(channel_error_to_tx)?;

    if is_sender_chain_source(port.clone(), chan.clone(), &denom) {
        ctx.escrow_tokens(&msg.sender, &port, &chan, &prefixed)?;
    } else {
        ctx.burn_tokens(&msg.sender, &prefixed)?;
    }
    send_packet_execute(ctx, packet).map_err(channel_error_to_tx)?;

    let transfer = module_event(
        "ibc_transfer",
        vec![
            ("sender", msg.sender.clone()),
            ("receiver", msg.receiver.clone()),
            ("amount", amount.to_string()),
            ("denom", full_denom),
            ("memo", msg.memo.clone()),
        ],
    );
    ctx.emit_ibc_event(IbcEvent::Module(transfer))
        .map_err(|e| TxError::sdk(1, e.to_string()))?;
    ctx.emit_ibc_event(IbcEvent::Message(MessageEvent::Module(PORT.to_string())))
        .map_err(|e| TxError::sdk(1, e.to_string()))?;
    Ok(sequence.value())
}

/// The transfer module as the router sees it.
#[derive(Debug)]
pub struct TransferModule<'a> {
    ctx: IbcContext<'a>,
}

impl<'a> TransferModule<'a> {
    /// The module over `ctx`.
    pub fn new(ctx: IbcContext<'a>) -> Self {
        Self { ctx }
    }

    /// Receives tokens: unescrow when this chain is the source, else mint vouchers.
    fn receive(&self, packet: &Packet, events: &mut Vec<ModuleEvent>) -> Result<(), TxError> {
        let data = parse_packet_data(&packet.data)?;
        let receiver = self.ctx.local_account(&data.raw.receiver)?;
        let mut denom = data.denom;
        let amount = ibc::apps::transfer::types::Amount::from_str(&data.amount.to_string())
            .map_err(|e| transfer_err(5, format!("{e}: invalid amount")))?;
        if is_receiver_chain_source(
            packet.port_id_on_a.clone(),
            packet.chan_id_on_a.clone(),
            &denom,
        ) {
            denom.remove_trace_prefix(&TracePrefix::new(
                packet.port_id_on_a.clone(),
                packet.chan_id_on_a.clone(),
            ));
            let coin = PrefixedCoin { denom, amount };
            self.ctx
                .unescrow_tokens(&receiver, &packet.port_id_on_b, &packet.chan_id_on_b, &coin)
        } else {
            denom.add_trace_prefix(TracePrefix::new(
                packet.port_id_on_b.clone(),
                packet.chan_id_on_b.clone(),
            ));
            events.push(module_event(
                "denomination_trace",
                vec![
                    ("trace_hash", denom_hash(&denom.to_string())),
                    ("denom", bank_denom(&denom)),
                ],
            ));
            let coin = PrefixedCoin { denom, amount };
            self.ctx.mint_tokens(&receiver, &coin)
        }
    }

    /// Returns the tokens of a failed or timed-out packet to its sender.
    fn refund(&self, packet: &Packet, data: &ParsedData) -> Result<(), TxError> {
        let sender = self.ctx.local_account(&data.raw.sender)?;
        let amount = ibc::apps::transfer::types::Amount::from_str(&data.amount.to_string())
            .map_err(|e| transfer_err(5, format!("{e}: invalid amount")))?;
        let coin = PrefixedCoin {
            denom: data.denom.clone(),
            amount,
        };
        if is_sender_chain_source(
            packet.port_id_on_a.clone(),
            packet.chan_id_on_a.clone(),
            &data.denom,
        ) {
            self.ctx
                .unescrow_tokens(&sender, &packet.port_id_on_a, &packet.chan_id_on_a, &coin)
        } else {
            self.ctx.mint_tokens(&sender, &coin)
        }
    }

    fn refund_validate(&self, packet: &Packet, data: &ParsedData) -> Result<(), TxError> {
        self.ctx.local_account(&data.raw.sender)?;
        if is_sender_chain_source(
            packet.port_id_on_a.clone(),
            packet.chan_id_on_a.clone(),
            &data.denom,
        ) {
            let escrow = self
                .ctx
                .escrow(&packet.port_id_on_a, &packet.chan_id_on_a)?;
            let coin = Coin::new(bank_denom(&data.denom), data.amount);
            self.ctx.spendable(&escrow, &coin)?;
        }
        Ok(())
    }
}

fn app_error(e: TxError) -> ChannelError {
    ChannelError::AppSpecific { description: e.log }
}

fn check_handshake(order: Order, port_id: &PortId) -> Result<(), ChannelError> {
    let expected = match port_id.as_str() {
        PORT => Order::Unordered,
        ORDERED_PORT => Order::Ordered,
        _ => {
            return Err(ChannelError::AppSpecific {
                description: format!("invalid port: {port_id}, expected {PORT}: invalid port"),
            })
        }
    };
    if order != expected {
        return Err(ChannelError::AppSpecific {
            description: format!(
                "expected {expected} channel, got {order}: invalid channel ordering"
            ),
        });
    }
    Ok(())
}

fn check_version(version: &Version, what: &str) -> Result<(), ChannelError> {
    if version.as_str() != VERSION {
        return Err(ChannelError::AppSpecific {
            description: format!(
                "invalid {what} version: expected {VERSION}, got {version}: invalid ICS20 version"
            ),
        });
    }
    Ok(())
}

impl Module for TransferModule<'_> {
    fn on_chan_open_init_validate(
        &self,
        order: Order,
        _connection_hops: &[ConnectionId],
        port_id: &PortId,
        _channel_id: &ChannelId,
        _counterparty: &Counterparty,
        version: &Version,
    ) -> Result<Version, ChannelError> {
        check_handshake(order, port_id)?;
        if !version.is_empty() {
            check_version(version, "ICS20")?;
        }
        Ok(Version::new(VERSION.to_string()))
    }

    fn on_chan_open_init_execute(
        &mut self,
        _order: Order,
        _connection_hops: &[ConnectionId],
        _port_id: &PortId,
        _channel_id: &ChannelId,
        _counterparty: &Counterparty,
        _version: &Version,
    ) -> Result<(ModuleExtras, Version), ChannelError> {
        Ok((ModuleExtras::empty(), Version::new(VERSION.to_string())))
    }

    fn on_chan_open_try_validate(
        &self,
        order: Order,
        _connection_hops: &[ConnectionId],
        port_id: &PortId,
        _channel_id: &ChannelId,
        _counterparty: &Counterparty,
        counterparty_version: &Version,
    ) -> Result<Version, ChannelError> {
        check_handshake(order, port_id)?;
        check_version(counterparty_version, "counterparty")?;
        Ok(Version::new(VERSION.to_string()))
    }

    fn on_chan_open_try_execute(
        &mut self,
        _order: Order,
        _connection_hops: &[ConnectionId],
        _port_id: &PortId,
        _channel_id: &ChannelId,
        _counterparty: &Counterparty,
        _counterparty_version: &Version,
    ) -> Result<(ModuleExtras, Version), ChannelError> {
        Ok((ModuleExtras::empty(), Version::new(VERSION.to_string())))
    }

    fn on_chan_open_ack_validate(
        &self,
        _port_id: &PortId,
        _channel_id: &ChannelId,
        counterparty_version: &Version,
    ) -> Result<(), ChannelError> {
        check_version(counterparty_version, "counterparty")
    }

    fn on_chan_close_init_validate(
        &self,
        _port_id: &PortId,
        _channel_id: &ChannelId,
    ) -> Result<(), ChannelError> {
        Err(ChannelError::AppSpecific {
            description: "channel close is disabled for ICS-20: invalid request".to_string(),
        })
    }

    fn on_recv_packet_execute(
        &mut self,
        packet: &Packet,
        _relayer: &Signer,
    ) -> (ModuleExtras, Option<Acknowledgement>) {
        // Like ibc-go's cache context: a failed receive leaves no state behind but its gas.
        let snapshot = self.ctx.shared.exec.borrow().clone();
        let mut events = Vec::new();
        let result = self.receive(packet, &mut events);
        let ack = match &result {
            Ok(()) => ACK_SUCCESS.to_vec(),
            Err(e) => {
                let mut exec = self.ctx.shared.exec.borrow_mut();
                let gas = exec.gas.clone();
                *exec = snapshot;
                exec.gas = gas;
                events.clear();
                ack_error(e.code)
            }
        };
        let data: FungibleTokenPacketData =
            serde_json::from_slice(&packet.data).unwrap_or_default();
        let mut attrs = vec![
            ("module", PORT.to_string()),
            ("sender", data.sender),
            ("receiver", data.receiver),
            ("denom", data.denom),
            ("amount", data.amount),
            ("memo", data.memo),
            ("success", result.is_ok().to_string()),
        ];
        if let Err(e) = &result {
            attrs.push(("error", e.log.clone()));
        }
        events.push(module_event("fungible_token_packet", attrs));
        // The ack bytes are never empty, so this conversion cannot fail.
        let ack = Acknowledgement::try_from(ack).ok();
        (
            ModuleExtras {
                events,
                log: Vec::new(),
            },
            ack,
        )
    }

    fn on_acknowledgement_packet_validate(
        &self,
        packet: &Packet,
        acknowledgement: &Acknowledgement,
        _relayer: &Signer,
    ) -> Result<(), ChannelError> {
        let data = parse_packet_data(&packet.data).map_err(app_error)?;
        let ack = parse_ack(acknowledgement.as_bytes())
            .map_err(|description| ChannelError::AppSpecific { description })?;
        if ack.is_err() {
            self.refund_validate(packet, &data).map_err(app_error)?;
        }
        Ok(())
    }

    fn on_acknowledgement_packet_execute(
        &mut self,
        packet: &Packet,
        acknowledgement: &Acknowledgement,
        _relayer: &Signer,
    ) -> (ModuleExtras, Result<(), ChannelError>) {
        let parsed = parse_packet_data(&packet.data)
            .map_err(app_error)
            .and_then(|data| {
                parse_ack(acknowledgement.as_bytes())
                    .map(|ack| (data, ack))
                    .map_err(|description| ChannelError::AppSpecific { description })
            });
        let (data, ack) = match parsed {
            Ok(v) => v,
            Err(e) => return (ModuleExtras::empty(), Err(e)),
        };
        if ack.is_err() {
            if let Err(e) = self.refund(packet, &data) {
                return (ModuleExtras::empty(), Err(app_error(e)));
            }
        }
        let ack_text = String::from_utf8_lossy(acknowledgement.as_bytes()).into_owned();
        let mut events = vec![module_event(
            "fungible_token_packet",
            vec![
                ("module", PORT.to_string()),
                ("sender", data.raw.sender),
                ("receiver", data.raw.receiver),
                ("denom", data.raw.denom),
                ("amount", data.raw.amount),
                ("memo", data.raw.memo),
                ("acknowledgement", ack_text),
            ],
        )];
        events.push(match ack {
            Ok(result) => module_event("fungible_token_packet", vec![("success", result)]),
            Err(error) => module_event("fungible_token_packet", vec![("error", error)]),
        });
        (
            ModuleExtras {
                events,
                log: Vec::new(),
            },
            Ok(()),
        )
    }

    fn on_timeout_packet_validate(
        &self,
        packet: &Packet,
        _relayer: &Signer,
    ) -> Result<(), ChannelError> {
        let data = parse_packet_data(&packet.data).map_err(app_error)?;
        self.refund_validate(packet, &data).map_err(app_error)
    }

    fn on_timeout_packet_execute(
        &mut self,
        packet: &Packet,
        _relayer: &Signer,
    ) -> (ModuleExtras, Result<(), ChannelError>) {
        let data = match parse_packet_data(&packet.data) {
            Ok(d) => d,
            Err(e) => return (ModuleExtras::empty(), Err(app_error(e))),
        };
        if let Err(e) = self.refund(packet, &data) {
            return (ModuleExtras::empty(), Err(app_error(e)));
        }
        let event = module_event(
            "timeout",
            vec![
                ("module", PORT.to_string()),
                ("refund_receiver", data.raw.sender),
                ("refund_denom", data.raw.denom),
                ("refund_amount", data.raw.amount),
                ("memo", data.raw.memo),
            ],
        );
        (
            ModuleExtras {
                events: vec![event],
                log: Vec::new(),
            },
            Ok(()),
        )
    }
}
