//! IBC handshakes over RPC: creating light clients (ICS-02), and the four-step connection
//! (ICS-03) and channel (ICS-04) handshakes, as reusable async functions (the `create` commands
//! and `arke demo` call them).
//!
//! Every step signs with the chain's [`TxEngine`] and waits for its tx, then reads the new
//! identifier from the tx's events. A step that proves the counterparty's state follows the
//! CometBFT "+1" rule: it takes `H` = the counterparty's latest height (so the state the previous
//! step wrote is in it), waits for header `H + 1`, proves at `H`, and puts a `MsgUpdateClient`
//! to `H + 1` in front of the handshake message in the same tx, with `proof_height = H + 1`.
//! Try and Ack of a connection also prove the counterparty's client of this chain and that
//! client's consensus state at its latest height.
//!
//! A half-finished handshake is picked up where it stopped: [`open_connection`] and
//! [`open_channel`] look for an unfinished end on either chain (INIT without a TRYOPEN
//! counterparty, INIT facing TRYOPEN, OPEN facing TRYOPEN) over the same clients, connection and
//! ports, and run only the missing steps, from whichever side started it. Only when nothing is
//! unfinished do they start a new handshake.
//!
//! The parts:
//! - `clients`: ICS-02, creating a client and resolving its parameters;
//! - `connections`: ICS-03, its four steps, opening, checking and finding connections;
//! - `channels`: ICS-04, its four steps, opening a channel (and what it runs on);
//! - `driver`: the one step driver both handshakes run on (proof height, client update, proofs,
//!   submit, the new id) and the resuming run of the missing steps;
//! - `resume`: finding the most advanced unfinished step;
//! - `pair_channels`: the channels between the pair with both ends' states (`arke query`);
//! - `events`: reading a committed tx's events.
//!
//! The two chains of a pair are always `a` and `b`. A step function's `a` is the side the
//! handshake was started on (it ran Init), `b` the counterparty; resuming a handshake started
//! on the pair's `b` runs the steps with the chains swapped.
//!
//! Errors ([`HandshakeError`]) name the chain and the step that failed.

mod channels;
mod clients;
mod connections;
mod driver;
mod events;
mod pair_channels;
mod resume;

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::chain::query::IbcQuerier;
use crate::chain::rpc::RpcClient;
use crate::config::ChainConfig;
use crate::tx::engine::TxEngine;

pub use channels::{
    chan_open_init, chan_open_try, ensure_channel, open_channel, ChannelRequest, ConnectionChoice,
};
pub use clients::{client_settings, create_client, ClientOptions, ClientSettings};
pub use connections::{conn_open_init, connection_ends, open_connection, ConnectionEnds};
pub(crate) use events::tx_events;
pub(crate) use pair_channels::pair_channels_both_sides;
pub use pair_channels::{pair_channels, PairChannel};
pub use resume::{find_unfinished_channel, find_unfinished_connection};

/// A handshake step that failed, naming the chain and the step.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{chain}: {step}: {reason}")]
pub struct HandshakeError {
    /// Chain id where the step failed.
    pub(crate) chain: String,
    /// The step, e.g. `connection open try`.
    pub(crate) step: String,
    /// Why.
    pub(crate) reason: String,
}

impl HandshakeError {
    fn new(chain: &str, step: &str, reason: impl std::fmt::Display) -> Self {
        Self {
            chain: chain.to_string(),
            step: step.to_string(),
            reason: reason.to_string(),
        }
    }
}

type Result<T> = std::result::Result<T, HandshakeError>;

/// One chain of the pair as the handshakes see it: its config, queries, and a TxEngine signing
/// with the relayer key.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The chain's config.
    pub(crate) config: ChainConfig,
    /// Queries and proofs.
    pub querier: IbcQuerier,
    /// Signs and submits this chain's txs.
    pub(crate) engine: TxEngine,
    /// The signer's bech32 address.
    pub(crate) signer: String,
}

impl Endpoint {
    /// The chain id.
    pub fn id(&self) -> &str {
        &self.config.id
    }

    fn err(&self, step: &str, reason: impl std::fmt::Display) -> HandshakeError {
        HandshakeError::new(self.id(), step, reason)
    }
}

/// A querier for `config`'s chain (RPC client with the config's timeout and permits).
pub fn querier_for(config: &ChainConfig) -> Result<IbcQuerier> {
    let rpc = RpcClient::from_config(config)
        .map_err(|e| HandshakeError::new(&config.id, "connect", e))?;
    Ok(IbcQuerier::new(rpc, config.id.clone()))
}

/// Both chains of a pair with running TxEngines. Call [`Pair::shutdown`] when done.
#[derive(Debug)]
pub struct Pair {
    /// Chain `a`.
    pub a: Endpoint,
    /// Chain `b`.
    pub b: Endpoint,
    token: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Pair {
    /// Starts TxEngines on both chains, signing with `key_a` on `a` and `key_b` on `b`.
    /// Must be called inside a tokio runtime.
    pub fn new(
        a: &ChainConfig,
        key_a: cosmos::AccountKey,
        b: &ChainConfig,
        key_b: cosmos::AccountKey,
    ) -> Result<Self> {
        let (qa, qb) = (querier_for(a)?, querier_for(b)?);
        let token = CancellationToken::new();
        let signer_a = key_a.address(&a.account_prefix);
        let signer_b = key_b.address(&b.account_prefix);
        let (engine_a, task_a) =
            TxEngine::spawn(a, qa.clone(), qb.clone(), key_a, token.child_token());
        let (engine_b, task_b) =
            TxEngine::spawn(b, qb.clone(), qa.clone(), key_b, token.child_token());
        Ok(Self {
            a: Endpoint {
                config: a.clone(),
                querier: qa,
                engine: engine_a,
                signer: signer_a,
            },
            b: Endpoint {
                config: b.clone(),
                querier: qb,
                engine: engine_b,
                signer: signer_b,
            },
            token,
            tasks: vec![task_a, task_b],
        })
    }

    /// Stops the TxEngines and waits (bounded) for them to finish.
    pub async fn shutdown(self) {
        self.token.cancel();
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}
