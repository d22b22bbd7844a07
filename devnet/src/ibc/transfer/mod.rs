//! ICS-20 fungible token transfer on port `transfer`, as ibc-go's transfer module does it: the
//! bank side (escrow accounts per channel, `ibc/{HASH}` vouchers with their denom traces in the
//! `transfer` store), `MsgTransfer`, and the IBC module callbacks the router dispatches to.
//!
//! ibc-rs's token-transfer contexts are implemented on `IbcContext` over `bank.rs`. The
//! handlers are written here rather than taken from `ibc-app-transfer` because that crate's
//! handlers need its `serde` feature (off in this build) and encode packet data differently from
//! ibc-go: ibc-go's packet bytes are sorted-key JSON without an empty `memo`
//! (`{"amount":"100","denom":"stake","receiver":"…","sender":"…"}`), its acknowledgements are
//! `{"result":"AQ=="}` / `{"error":"ABCI code: N: error handling packet: see events for
//! details"}`, and counterparties verify those exact bytes.
//!
//! - `packet`: ibc-go's bytes: packet data, acknowledgements, denom hashes.
//! - `tokens`: the bank side (escrow, vouchers, denom traces) and ibc-rs's token-transfer
//!   contexts.
//! - `send`: `MsgTransfer`.
//! - `module`: the IBC module callbacks (channel handshake, receive, ack, timeout).

mod module;
mod packet;
mod send;
mod tokens;

use ibc::core::router::types::event::ModuleEvent;

use crate::error::TxError;

pub use self::module::TransferModule;
pub use self::packet::{ack_error, bank_denom, denom_hash, packet_data_bytes};
pub use self::send::send_transfer;
pub use self::tokens::escrow_address;

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

fn module_event(kind: &str, attrs: Vec<(&str, String)>) -> ModuleEvent {
    ModuleEvent {
        kind: kind.to_string(),
        attributes: attrs.into_iter().map(Into::into).collect(),
    }
}
