//! The engine's task, the *submitter*: it owns the signer and its sequence, gathers requests
//! into batches and, on shutdown, fails what is queued and waits for pending confirmations.

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::chain::query::IbcQuerier;

use super::gas::OverMaxGas;
use super::price::Pricer;
use super::{stopped, Limits, PendingItem, Request, TxEngineOptions, TxSigner};

/// The task owning the signer: batches, builds, signs and broadcasts.
pub(super) struct Submitter {
    pub(super) host: IbcQuerier,
    pub(super) counterparty: IbcQuerier,
    pub(super) signer: TxSigner,
    pub(super) account_loaded: bool,
    pub(super) limits: Limits,
    pub(super) pricer: Pricer,
    pub(super) over_max_gas_seen: OverMaxGas,
    pub(super) options: TxEngineOptions,
    pub(super) confirmations: JoinSet<()>,
    pub(super) deferred: Vec<PendingItem>,
    /// Its chain's blocks, for confirming without a tx index.
    pub(super) blocks: std::sync::Arc<super::blocks::BlockSource>,
}

impl Submitter {
    pub(super) async fn run(
        mut self,
        mut requests: mpsc::Receiver<Request>,
        shutdown: CancellationToken,
    ) {
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
}
