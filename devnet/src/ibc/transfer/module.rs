//! The transfer module as the router sees it: ibc-go's ICS-20 callbacks for the channel
//! handshake (ports, ordering, version), received packets (unescrow or mint, then the
//! acknowledgement), acknowledgements and timeouts (refunds).

use std::str::FromStr;

use ibc::apps::transfer::types::{
    is_receiver_chain_source, is_sender_chain_source, PrefixedCoin, TracePrefix,
};
use ibc::core::channel::types::acknowledgement::Acknowledgement;
use ibc::core::channel::types::channel::{Counterparty, Order};
use ibc::core::channel::types::error::ChannelError;
use ibc::core::channel::types::packet::Packet;
use ibc::core::channel::types::Version;
use ibc::core::host::types::identifiers::{ChannelId, ConnectionId, PortId};
use ibc::core::primitives::Signer;
use ibc::core::router::module::Module;
use ibc::core::router::types::event::ModuleEvent;
use ibc::core::router::types::module::ModuleExtras;
use ibc_proto::ibc::applications::transfer::v2::FungibleTokenPacketData;

use super::packet::{ack_error, bank_denom, denom_hash, parse_ack, parse_packet_data, ParsedData};
use super::{module_event, transfer_err, ACK_SUCCESS, ORDERED_PORT, PORT, VERSION};
use crate::error::TxError;
use crate::ibc::context::IbcContext;
use cosmos::Coin;

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
        // The test switch `allow_channel_close` lets tests close a channel end for real.
        if self.ctx.shared.host.allow_channel_close {
            return Ok(());
        }
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
