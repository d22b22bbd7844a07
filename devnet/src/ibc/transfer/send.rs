//! `MsgTransfer`: checks the message like ibc-go, escrows or burns the tokens, and sends the
//! ICS-20 packet.

use std::str::FromStr;

use ibc::apps::transfer::types::{is_sender_chain_source, PrefixedCoin, PrefixedDenom};
use ibc::core::channel::handler::{send_packet_execute, send_packet_validate};
use ibc::core::channel::types::packet::Packet;
use ibc::core::channel::types::timeout::{TimeoutHeight, TimeoutTimestamp};
use ibc::core::handler::types::events::{IbcEvent, MessageEvent};
use ibc::core::host::types::identifiers::{ChannelId, PortId};
use ibc::core::host::types::path::{ChannelEndPath, SeqSendPath};
use ibc::core::host::{ExecutionContext, ValidationContext};
use ibc_proto::ibc::applications::transfer::v1::MsgTransfer;
use ibc_proto::ibc::applications::transfer::v2::FungibleTokenPacketData;

use super::packet::packet_data_bytes;
use super::{module_event, transfer_err, PORT};
use crate::error::TxError;
use crate::ibc::context::IbcContext;
use crate::ibc::errors::channel_error_to_tx;

/// Executes `MsgTransfer` signed by `tx_signer`: escrows or burns the tokens, sends the packet
/// (ibc-go packet bytes), emits `ibc_transfer` + `message{module=transfer}`; returns the
/// packet sequence.
pub fn send_transfer(
    ctx: &mut IbcContext<'_>,
    msg: &MsgTransfer,
    tx_signer: &str,
) -> Result<u64, TxError> {
    if msg.sender != tx_signer {
        return Err(crate::ibc::errors::signer_mismatch(&msg.sender));
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
