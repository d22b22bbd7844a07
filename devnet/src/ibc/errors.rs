//! ibc-rs errors mapped to what ibc-go would return: its codespaces (`client`, `connection`,
//! `channel`, `port`, `transfer`, `sdk`) and the code of the nearest ibc-go error, with a log
//! that keeps ibc-rs's own text and ends with the ibc-go error's description.

use ibc::core::channel::types::error::ChannelError;
use ibc::core::client::types::error::ClientError;
use ibc::core::connection::types::error::ConnectionError;
use ibc::core::handler::types::error::HandlerError;
use ibc::core::host::types::error::HostError;
use ibc::core::router::types::error::RouterError;

use crate::error::TxError;

fn err(codespace: &'static str, code: u32, detail: impl std::fmt::Display, name: &str) -> TxError {
    TxError {
        codespace,
        code,
        log: format!("{detail}: {name}"),
    }
}

fn is_missing(e: &HostError) -> bool {
    matches!(e, HostError::MissingState { .. })
}

/// A client (02-client) error.
pub fn client_error_to_tx(e: ClientError) -> TxError {
    let (code, name) = match &e {
        ClientError::Host(h) if is_missing(h) => (4, "light client not found"),
        ClientError::InvalidStatus(_) => (29, "client state status is not active"),
        ClientError::InvalidHeight | ClientError::InsufficientProofHeight { .. } => {
            (26, "invalid height")
        }
        ClientError::MissingLocalConsensusState(_) => (22, "self consensus state not found"),
        ClientError::InvalidUpdateClientMessage
        | ClientError::InvalidHeaderType(_)
        | ClientError::FailedToVerifyHeader { .. } => (12, "invalid client header"),
        ClientError::FailedToHandleMisbehaviour { .. } => (13, "invalid light client misbehaviour"),
        ClientError::InvalidClientStateType(_) => (10, "invalid client type"),
        ClientError::DuplicateClientState(_) => (2, "light client already exists"),
        ClientError::FailedICS23Verification(_) => (18, "failed packet commitment verification"),
        _ => (3, "invalid light client"),
    };
    err("client", code, e, name)
}

/// A connection (03-connection) error.
pub fn connection_error_to_tx(e: ConnectionError) -> TxError {
    let (code, name) = match e {
        ConnectionError::Client(c) => return client_error_to_tx(c),
        ConnectionError::Host(ref h) if is_missing(h) => (3, "connection not found"),
        ConnectionError::InvalidState { .. }
        | ConnectionError::MismatchedConnectionStates { .. } => (6, "invalid connection state"),
        ConnectionError::InvalidCounterparty | ConnectionError::MissingCounterparty => {
            (7, "invalid counterparty connection")
        }
        ConnectionError::MissingCommonVersion | ConnectionError::MissingFeatures => {
            (10, "connection version negotiation failed")
        }
        _ => (8, "invalid connection"),
    };
    err("connection", code, e, name)
}

/// A channel (04-channel) error.
pub fn channel_error_to_tx(e: ChannelError) -> TxError {
    let (code, name) = match e {
        ChannelError::Client(c) => return client_error_to_tx(c),
        ChannelError::Connection(c) => return connection_error_to_tx(c),
        ChannelError::Host(ref h) if is_missing(h) => (3, "channel not found"),
        ChannelError::InvalidState { .. } => (5, "invalid channel state"),
        ChannelError::MismatchedCounterparty { .. } | ChannelError::MissingCounterparty => {
            (7, "invalid channel counterparty")
        }
        ChannelError::InvalidConnectionHopsLength { .. } => (15, "too many connection hops"),
        ChannelError::DuplicateAcknowledgment(_) => {
            (17, "acknowledgement for packet already exists")
        }
        ChannelError::InsufficientPacketHeight { .. }
        | ChannelError::ExpiredPacketTimestamp
        | ChannelError::InsufficientPacketTimeout { .. } => (14, "packet timeout"),
        ChannelError::MissingTimeout => (26, "invalid packet timeout"),
        ChannelError::MismatchedPacketSequence { .. } => (21, "packet sequence is out of order"),
        ChannelError::MismatchedPacketCommitment { .. } => (13, "invalid packet"),
        ChannelError::MissingAcknowledgmentStatus => (16, "invalid acknowledgement"),
        ChannelError::UnsupportedVersion { .. } => (24, "invalid channel version"),
        ChannelError::AppSpecific { description } => {
            let (codespace, code) = if description.contains("version") {
                ("transfer", 4)
            } else if description.contains("ordering") {
                ("channel", 6)
            } else {
                ("transfer", 1)
            };
            return TxError {
                codespace,
                code,
                log: description,
            };
        }
        _ => (4, "invalid channel"),
    };
    err("channel", code, e, name)
}

/// Any ibc-rs handler error.
pub fn handler_error_to_tx(e: HandlerError) -> TxError {
    match e {
        HandlerError::Client(e) => client_error_to_tx(e),
        HandlerError::Connection(e) => connection_error_to_tx(e),
        HandlerError::Channel(e) => channel_error_to_tx(e),
        HandlerError::Router(RouterError::MissingModule) => {
            err("port", 5, "no module bound to the port", "invalid route")
        }
        HandlerError::Router(e) => err("port", 3, e, "port not found"),
    }
}

/// sdk 8: the message's signer is not the tx's signer (what the SDK's ante handler reports).
pub fn signer_mismatch(msg_signer: &str) -> TxError {
    TxError::sdk(
        8,
        format!(
            "pubKey does not match signer address {msg_signer} with signer index: 0: invalid pubkey"
        ),
    )
}
