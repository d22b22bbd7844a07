//! Block production: the block timer, executing a block's txs on the latest state, the
//! header with CometBFT's hashes, the validators' precommits, and committing the block (data
//! dir, block store, mempool recheck, events).

use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use sha2::{Digest, Sha256};
use tendermint::abci::types::ExecTxResult;
use tendermint::block::{self, Commit, CommitSig, Header};
use tendermint::{Block, Time};

use crate::ibc::HostInfo;
use crate::store::State;
use crate::tx::Mode;

use super::{
    host_consensus, lock, time_ns, BlockRecord, ChainEvent, History, Node, StoredBlock, TxRecord,
};

impl Node {
    /// Produces a block a block time after the previous one was made, until `shutdown` is
    /// cancelled.
    pub async fn run(self, shutdown: tokio_util::sync::CancellationToken) {
        let mut paused = self.inner.paused.subscribe();
        let block_time = self.inner.params.block_time;
        let mut next = tokio::time::Instant::now() + block_time;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep_until(next) => {}
            }
            if *paused.borrow_and_update() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = paused.wait_for(|p| !*p) => {}
                }
                next = tokio::time::Instant::now() + block_time;
                continue;
            }
            let node = self.clone();
            match tokio::task::spawn_blocking(move || node.produce_block()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "block production failed"),
                Err(e) => tracing::error!(error = %e, "block production task panicked"),
            }
            // CometBFT waits `timeout_commit` after each commit before the next height: a block
            // that took long to make is followed by a full block time, never by catch-up blocks
            // back to back (which would leave clients no time between blocks on a loaded host).
            next = tokio::time::Instant::now() + block_time;
        }
    }

    /// Produces and commits one block from the mempool (blocking; call off the async runtime).
    pub fn produce_block(&self) -> std::io::Result<()> {
        let _producing = lock(&self.inner.producing);
        let txs = lock(&self.inner.mempool).reap(
            self.inner.params.max_block_bytes,
            self.inner.params.max_block_gas,
        );
        self.make_block(txs)
    }

    /// Produces and commits one block carrying `txs` instead of the mempool's, as when the
    /// proposer is another node whose mempool saw other txs (a relayer that broadcast to two
    /// nodes, say): they execute whether or not they would pass CheckTx here, and the local
    /// mempool is re-checked afterwards like after any block. Blocking.
    pub fn produce_block_with(&self, txs: Vec<Vec<u8>>) -> std::io::Result<()> {
        let _producing = lock(&self.inner.producing);
        self.make_block(txs)
    }

    fn make_block(&self, txs: Vec<Vec<u8>>) -> std::io::Result<()> {
        let header = self.next_header(&txs);
        let height = header.height.value();
        let mut sends = std::mem::take(&mut *lock(&self.inner.block_transfers));
        if let Some(p) = &self.inner.params.finalize_block_transfer {
            if p.due_at(height) {
                sends.push(p.transfer.clone());
            }
        }
        let (record, tx_records, state) = self.execute_block(header, txs, &sends, None);
        self.commit_block(record, tx_records, state, Some(sends))
    }

    fn next_header(&self, txs: &[Vec<u8>]) -> Header {
        let chain = self.read_chain();
        let height = chain.latest_height() + 1;
        let prev = chain.blocks.last();
        let validators = self.inner.validators.set(height);
        let next_validators = self.inner.validators.set(height + 1);
        let now = Time::now();
        let time = match prev {
            // BFT time: the previous commit's timestamp, strictly after the previous header.
            Some(p) => commit_time(&p.commit).unwrap_or(now),
            None => self.inner.keys.genesis_time.max(now),
        };
        let tx_hashes: Vec<[u8; 32]> = txs.iter().map(|t| Sha256::digest(t).into()).collect();
        Header {
            version: tendermint::block::header::Version { block: 11, app: 0 },
            chain_id: self.inner.tm_chain_id.clone(),
            height: block::Height::try_from(height).unwrap_or_default(),
            time,
            last_block_id: prev.map(|p| p.block_id),
            last_commit_hash: Some(prev.map_or_else(empty_hash, |p| commit_hash(&p.commit))),
            data_hash: Some(merkle(&tx_hashes)),
            validators_hash: validators.hash(),
            next_validators_hash: next_validators.hash(),
            consensus_hash: self.consensus_hash(),
            app_hash: tendermint::AppHash::try_from(
                prev.map(|p| p.app_hash.clone())
                    .unwrap_or_else(|| chain.genesis_app_hash.clone()),
            )
            .unwrap_or_default(),
            last_results_hash: Some(prev.map_or_else(empty_hash, |p| results_hash(&p.tx_results))),
            evidence_hash: Some(empty_hash()),
            proposer_address: validators
                .proposer()
                .as_ref()
                .map_or(self.inner.validators.own(height).address, |p| p.address),
        }
    }

    pub(super) fn execute_block(
        &self,
        header: Header,
        txs: Vec<Vec<u8>>,
        sends: &[crate::finalize_block::BlockTransfer],
        stored: Option<StoredBlock>,
    ) -> (BlockRecord, Vec<TxRecord>, State) {
        let chain = self.read_chain();
        let height = header.height.value();
        let mut state = chain.store.latest().1.clone();
        state.set_version(height);
        let history = History {
            chain: &chain,
            current: Some((height, host_consensus(&header))),
        };
        let host = HostInfo {
            chain_id: &self.inner.params.chain_id,
            height,
            time_ns: time_ns(header.time),
            history: &history,
            max_expected_time_per_block: self.inner.params.block_time,
            allow_channel_close: self.inner.params.allow_channel_close,
        };
        let mut tx_results = Vec::with_capacity(txs.len());
        let mut tx_records = Vec::with_capacity(txs.len());
        for (index, raw) in txs.iter().enumerate() {
            let out = self
                .inner
                .app
                .deliver_tx(&mut state, &host, raw, Mode::Deliver);
            let (code, codespace, log) = match out.error {
                Some(e) => (e.code, e.codespace.to_string(), e.log),
                None => (0, String::new(), String::new()),
            };
            let result = ExecTxResult {
                code: code.into(),
                data: out.data.into(),
                log,
                info: String::new(),
                gas_wanted: i64::try_from(out.gas_wanted).unwrap_or(i64::MAX),
                gas_used: i64::try_from(out.gas_used).unwrap_or(i64::MAX),
                events: if code == 0 { out.events } else { Vec::new() },
                codespace,
            };
            tx_records.push(TxRecord {
                hash: Sha256::digest(raw).into(),
                height,
                index: index as u32,
                tx: raw.clone(),
                result: result.clone(),
            });
            tx_results.push(result);
        }
        let finalize_block_events = crate::finalize_block::execute(&mut state, &host, sends);
        let block_gas = tx_results
            .iter()
            .map(|r| u64::try_from(r.gas_used).unwrap_or(0))
            .fold(0u64, u64::saturating_add);
        self.inner.app.end_block(&mut state, block_gas);
        drop(chain);
        let app_hash = state.app_hash().to_vec();
        let last_commit = stored
            .as_ref()
            .and_then(|s| s.block.last_commit.clone())
            .or_else(|| self.latest_block().map(|b| b.commit.clone()));
        let block = Block::new(
            header,
            txs,
            tendermint::evidence::List::default(),
            last_commit,
        );
        let part_hash = {
            let raw = tendermint_proto::v0_38::types::Block::from(block.clone()).encode_to_vec();
            let leaf: [u8; 32] = Sha256::new()
                .chain_update([0u8])
                .chain_update(&raw)
                .finalize()
                .into();
            tendermint::Hash::Sha256(leaf)
        };
        let block_id = block::Id {
            hash: block.header.hash(),
            part_set_header: block::parts::Header::new(1, part_hash).unwrap_or_default(),
        };
        let commit = match stored {
            Some(s) => s.commit,
            None => self.sign_commit(&block, block_id),
        };
        let record = BlockRecord {
            block,
            block_id,
            commit,
            tx_results,
            // Block-level events, like tx events, go out marked for indexing.
            finalize_block_events,
            app_hash,
        };
        (record, tx_records, state)
    }

    /// Every validator of the block's height precommits it, in the set's order.
    fn sign_commit(&self, block: &Block, block_id: block::Id) -> Commit {
        let min = block
            .header
            .time
            .checked_add(Duration::from_millis(1))
            .unwrap_or(block.header.time);
        let timestamp = Time::now().max(min);
        let signers = self.inner.validators.signers(block.header.height.value());
        let signatures = signers
            .iter()
            .enumerate()
            .map(|(index, signer)| {
                let vote = tendermint::vote::Vote {
                    vote_type: tendermint::vote::Type::Precommit,
                    height: block.header.height,
                    round: block::Round::default(),
                    block_id: Some(block_id),
                    timestamp: Some(timestamp),
                    validator_address: signer.info.address,
                    validator_index: tendermint::vote::ValidatorIndex::try_from(index)
                        .expect("a set of at most MAX_VALIDATORS has small indices"),
                    signature: None,
                    extension: Vec::new(),
                    extension_signature: None,
                };
                let sign_bytes = vote.into_signable_vec(block.header.chain_id.clone());
                let signature = signer.key.sign(&sign_bytes);
                CommitSig::BlockIdFlagCommit {
                    validator_address: signer.info.address,
                    timestamp,
                    signature: tendermint::Signature::new(signature.to_bytes())
                        .ok()
                        .flatten(),
                }
            })
            .collect();
        Commit {
            height: block.header.height,
            round: block::Round::default(),
            block_id,
            signatures,
        }
    }

    pub(super) fn commit_block(
        &self,
        record: BlockRecord,
        tx_records: Vec<TxRecord>,
        state: State,
        persist: Option<Vec<crate::finalize_block::BlockTransfer>>,
    ) -> std::io::Result<()> {
        let height = record.height();
        if let Some(finalize_block_transfers) = persist {
            if let Some(file) = lock(&self.inner.blocks_file).as_mut() {
                let stored = StoredBlock {
                    block: record.block.clone(),
                    commit: record.commit.clone(),
                    finalize_block_transfers,
                };
                let mut line = serde_json::to_vec(&stored)?;
                line.push(b'\n');
                file.write_all(&line)?;
                file.flush()?;
            }
        }
        let record = Arc::new(record);
        let tx_records: Vec<Arc<TxRecord>> = tx_records.into_iter().map(Arc::new).collect();
        {
            let mut chain = self.inner.chain.write().unwrap_or_else(|e| e.into_inner());
            chain
                .store
                .commit(height, state.clone())
                .map_err(std::io::Error::other)?;
            chain
                .by_hash
                .insert(record.block_id.hash.as_bytes().to_vec(), height);
            for tx in &tx_records {
                chain.txs.insert(tx.hash, tx.clone());
            }
            chain.block_txs.push(tx_records.clone());
            chain.blocks.push(record.clone());
        }
        // Drop the included txs from the mempool and re-check the rest against the new state,
        // evicting those that fail now (CometBFT's recheck).
        {
            let included: HashSet<[u8; 32]> = tx_records.iter().map(|t| t.hash).collect();
            let app = &self.inner.app;
            // The mempool before the chain, in CheckTx's lock order.
            let mut mempool = lock(&self.inner.mempool);
            let chain = self.read_chain();
            let history = History {
                chain: &chain,
                current: None,
            };
            let host = self.host_at(&chain, &history, height);
            let evicted = mempool.update(&included, state, |check_state, tx| {
                app.check_tx(check_state, &host, tx).error.is_none()
            });
            drop(chain);
            drop(mempool);
            if !evicted.is_empty() {
                tracing::debug!(height, evicted = evicted.len(), "recheck evicted txs");
            }
        }
        let _ = self.inner.events.send(ChainEvent::NewBlock(record));
        for tx in tx_records {
            let _ = self.inner.events.send(ChainEvent::Tx(tx));
        }
        Ok(())
    }
}

fn commit_time(commit: &Commit) -> Option<Time> {
    commit.signatures.iter().find_map(|s| match s {
        CommitSig::BlockIdFlagCommit { timestamp, .. } => Some(*timestamp),
        _ => None,
    })
}

fn empty_hash() -> tendermint::Hash {
    tendermint::Hash::Sha256(Sha256::digest([]).into())
}

fn merkle(leaves: &[impl AsRef<[u8]>]) -> tendermint::Hash {
    tendermint::Hash::Sha256(tendermint::merkle::simple_hash_from_byte_vectors::<
        tendermint::crypto::default::Sha256,
    >(leaves))
}

fn commit_hash(commit: &Commit) -> tendermint::Hash {
    let sigs: Vec<Vec<u8>> = commit
        .signatures
        .iter()
        .map(|s| tendermint_proto::v0_38::types::CommitSig::from(s.clone()).encode_to_vec())
        .collect();
    merkle(&sigs)
}

fn results_hash(results: &[ExecTxResult]) -> tendermint::Hash {
    // CometBFT hashes only the deterministic fields: code, data, gas_wanted, gas_used.
    let leaves: Vec<Vec<u8>> = results
        .iter()
        .map(|r| {
            tendermint_proto::v0_38::abci::ExecTxResult {
                code: r.code.value(),
                data: r.data.to_vec().into(),
                gas_wanted: r.gas_wanted,
                gas_used: r.gas_used,
                ..Default::default()
            }
            .encode_to_vec()
        })
        .collect();
    merkle(&leaves)
}
