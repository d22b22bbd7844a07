//! Start-up from a data dir: every block stored in `blocks.jsonl` is executed again on the
//! genesis state (execution is deterministic, so the app hashes come out the same and are
//! checked against the stored headers), then the file is opened for appending. A line torn by a
//! crash mid-write is a block that was never committed and is dropped.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader};

use super::{lock, Node, NodeError, StoredBlock};

impl Node {
    pub(super) fn replay_and_open(&self) -> Result<(), NodeError> {
        let Some(dir) = self.inner.params.data_dir.clone() else {
            return Ok(());
        };
        let path = dir.join("blocks.jsonl");
        if path.exists() {
            drop_torn_tail(&path)?;
            let file = File::open(&path).map_err(|source| NodeError::Io {
                path: path.clone(),
                source,
            })?;
            for (i, line) in BufReader::new(file).lines().enumerate() {
                let height = i as u64 + 1;
                let replay_err = |reason: String| NodeError::Replay {
                    path: path.clone(),
                    height,
                    reason,
                };
                let line = line.map_err(|e| replay_err(e.to_string()))?;
                if line.trim().is_empty() {
                    continue;
                }
                let stored: StoredBlock =
                    serde_json::from_str(&line).map_err(|e| replay_err(e.to_string()))?;
                let expected_prev = {
                    let chain = self.read_chain();
                    chain
                        .blocks
                        .last()
                        .map(|b| b.app_hash.clone())
                        .unwrap_or_else(|| chain.genesis_app_hash.clone())
                };
                if stored.block.header.app_hash.as_bytes() != expected_prev.as_slice() {
                    return Err(replay_err(
                        "app hash in the stored header differs from the replayed state".into(),
                    ));
                }
                if let Some(set) = self.validators(height) {
                    if stored.block.header.validators_hash != set.hash() {
                        return Err(replay_err(
                            "the stored header was signed by another validator set (was the \
                             data dir made with other --validators or --rotate-every?)"
                                .into(),
                        ));
                    }
                }
                let header = stored.block.header.clone();
                let txs = stored.block.data.clone();
                let sends = stored.finalize_block_transfers.clone();
                let (record, tx_records, state) =
                    self.execute_block(header, txs, &sends, Some(stored));
                self.commit_block(record, tx_records, state, None)
                    .map_err(|e| replay_err(e.to_string()))?;
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| NodeError::Io {
                path: path.clone(),
                source,
            })?;
        *lock(&self.inner.blocks_file) = Some(file);
        let latest = self.read_chain().store.latest().1.clone();
        lock(&self.inner.mempool).check_state = latest;
        Ok(())
    }
}

/// Cuts a torn last line off `blocks.jsonl`. A block's line is written in one `write_all` that
/// ends with `\n`, and the node commits the block in memory only after that write returns, so
/// bytes after the last newline belong to a block that was never committed (the process died
/// while writing it); they are dropped, with a warning, instead of failing the replay.
fn drop_torn_tail(path: &std::path::Path) -> Result<(), NodeError> {
    let io = |source| NodeError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = std::fs::read(path).map_err(io)?;
    let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if whole < bytes.len() {
        tracing::warn!(
            path = %path.display(),
            dropped_bytes = bytes.len() - whole,
            "blocks.jsonl ends in a block that was never committed; dropping it"
        );
        let file = OpenOptions::new().write(true).open(path).map_err(io)?;
        file.set_len(whole as u64).map_err(io)?;
    }
    Ok(())
}
