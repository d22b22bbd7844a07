//! Errors a transaction can fail with, carrying the codespace, code and log text a Cosmos SDK
//! chain with ibc-go would return, because relayers parse them.

/// A failed CheckTx, tx, or message: what goes into `code`, `codespace` and `log`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{log}")]
pub struct TxError {
    /// `sdk`, `channel`, `client`, ...
    pub codespace: &'static str,
    /// The ABCI code within the codespace.
    pub code: u32,
    /// The log text.
    pub log: String,
}

impl TxError {
    /// An error in the `sdk` codespace.
    pub fn sdk(code: u32, log: impl Into<String>) -> Self {
        Self {
            codespace: "sdk",
            code,
            log: log.into(),
        }
    }

    /// sdk 2: tx parse error.
    pub fn tx_decode(detail: impl std::fmt::Display) -> Self {
        Self::sdk(2, format!("{detail}: tx parse error"))
    }

    /// sdk 3: invalid sequence (unused by SDK 0.50 signature checks, kept for completeness).
    pub fn unauthorized(detail: impl std::fmt::Display) -> Self {
        Self::sdk(4, format!("{detail}: unauthorized"))
    }

    /// sdk 5: insufficient funds.
    pub fn insufficient_funds(detail: impl std::fmt::Display) -> Self {
        Self::sdk(5, format!("{detail}: insufficient funds"))
    }

    /// sdk 11: out of gas.
    pub fn out_of_gas(location: &str, wanted: u64, used: u64) -> Self {
        Self::sdk(
            11,
            format!("out of gas in location: {location}; gasWanted: {wanted}, gasUsed: {used}: out of gas"),
        )
    }

    /// sdk 13: insufficient fee.
    pub fn insufficient_fee(got: &str, required: &str) -> Self {
        Self::sdk(
            13,
            format!("insufficient fees; got: {got} required: {required}: insufficient fee"),
        )
    }

    /// sdk 18: invalid request.
    pub fn invalid_request(detail: impl std::fmt::Display) -> Self {
        Self::sdk(18, format!("{detail}: invalid request"))
    }

    /// sdk 32: account sequence mismatch, parsed by every relayer.
    pub fn wrong_sequence(expected: u64, got: u64) -> Self {
        Self::sdk(
            32,
            format!("account sequence mismatch, expected {expected}, got {got}: incorrect account sequence"),
        )
    }

    /// channel 22: every packet message of the tx is redundant (CheckTx only).
    pub fn redundant_packets() -> Self {
        Self {
            codespace: "channel",
            code: 22,
            log: "packet messages are redundant".to_string(),
        }
    }
}
