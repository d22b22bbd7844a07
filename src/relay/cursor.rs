//! The durable cursor of each chain: the height below which the relayer needs nothing more from
//! that chain's blocks, kept in a small file `<state_dir>/<chain id>.cursor` so that a restart
//! scans `block_results` only from there (including `finalize_block_events`) and finds every
//! packet sent or acknowledgement written while it was down, without `tx_search`.
//!
//! The value comes from the chain's packet ledger (`chain::events::ledger`): the lowest height
//! of a packet a relayed channel may still need, or the highest delivered height when none. The
//! daemon writes it when it changes (at most every [`WRITE_INTERVAL`]) and once more when it
//! stops, atomically: a temporary file in the same directory, `fsync`, `rename` over the old
//! file, `fsync` of the directory. A missing file means no earlier run (nothing to scan); a file
//! that cannot be read or names another chain is reported and ignored, as is a cursor above the
//! chain's latest height (a chain started anew). A file that cannot be written is reported and
//! retried; relaying goes on. `arke clear` reads the cursors and never writes them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{report, ChainHandle};

/// How often the cursor is compared with the stored one (and written when it moved).
pub(crate) const WRITE_INTERVAL: Duration = Duration::from_secs(2);

/// What is wrong with a cursor file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CursorError {
    /// Reading or writing failed.
    #[error("{}: {what}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The content is not a cursor.
    #[error("{}: not a cursor file: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file belongs to another chain.
    #[error("{}: the cursor is for chain {found}, not {expected}", path.display())]
    WrongChain {
        /// The file.
        path: PathBuf,
        /// The chain it names.
        found: String,
        /// The chain expected.
        expected: String,
    },
}

/// The file's content.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct Stored {
    chain_id: String,
    height: u64,
}

/// The cursor file of one chain.
#[derive(Clone, Debug)]
pub(crate) struct CursorFile {
    path: PathBuf,
    chain_id: String,
}

impl CursorFile {
    /// The cursor file of `chain_id` in `dir`.
    pub(crate) fn new(dir: &Path, chain_id: &str) -> Self {
        // Chain ids are `[A-Za-z0-9._-]`; anything else is replaced to keep one flat file name.
        let name: String = chain_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Self {
            path: dir.join(format!("{name}.cursor")),
            chain_id: chain_id.to_string(),
        }
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The stored height, `None` when there is no file.
    pub(crate) fn load(&self) -> Result<Option<u64>, CursorError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CursorError::Io {
                    path: self.path.clone(),
                    what: "reading",
                    source,
                })
            }
        };
        let stored: Stored = serde_json::from_str(&text).map_err(|e| CursorError::Corrupt {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        if stored.chain_id != self.chain_id {
            return Err(CursorError::WrongChain {
                path: self.path.clone(),
                found: stored.chain_id,
                expected: self.chain_id.clone(),
            });
        }
        Ok(Some(stored.height))
    }

    /// Stores `height` atomically (temporary file, fsync, rename, fsync of the directory).
    pub(crate) fn store(&self, height: u64) -> Result<(), CursorError> {
        let io = |what: &'static str| {
            let path = self.path.clone();
            move |source| CursorError::Io { path, what, source }
        };
        let dir = self.path.parent().unwrap_or_else(|| Path::new("."));
        create_private_dir(dir).map_err(io("creating the state directory"))?;
        let body = serde_json::to_string(&Stored {
            chain_id: self.chain_id.clone(),
            height,
        })
        .map_err(|e| CursorError::Corrupt {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        let tmp = self.path.with_extension("cursor.tmp");
        let mut file = std::fs::File::create(&tmp).map_err(io("creating the temporary file"))?;
        file.write_all(body.as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .map_err(io("writing the temporary file"))?;
        file.sync_all().map_err(io("syncing the temporary file"))?;
        drop(file);
        std::fs::rename(&tmp, &self.path).map_err(io("renaming the temporary file"))?;
        // The rename is durable once the directory is.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Whether the cursor task writes the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The daemon: scan from the cursor, then keep it current.
    ReadWrite,
    /// `arke clear`: scan from the cursor only.
    ReadOnly,
}

/// Starts the cursor task of each chain (into `tasks`, ending with `token`): it announces a scan
/// to the chain's ledger at once (so clearing knows one is coming), loads the cursor, scans
/// `block_results` from it and, in [`Mode::ReadWrite`], keeps the file current.
pub(crate) fn start(
    state_dir: Option<&Path>,
    chains: [&Arc<ChainHandle>; 2],
    mode: Mode,
    token: &CancellationToken,
    tasks: &mut JoinSet<()>,
) {
    let Some(dir) = state_dir else {
        warn!("no state directory (set [relay] state_dir): without a cursor, a restart finds the packets it missed only through tx_search / block_search");
        return;
    };
    for chain in chains {
        chain.hub.ledger().expect_fill();
        let file = CursorFile::new(dir, &chain.config.id);
        tasks.spawn(run(chain.clone(), file, mode, token.clone()));
    }
}

async fn run(chain: Arc<ChainHandle>, file: CursorFile, mode: Mode, token: CancellationToken) {
    let ledger = chain.hub.ledger();
    let loaded = {
        let f = file.clone();
        tokio::task::spawn_blocking(move || f.load())
            .await
            .unwrap_or_else(|e| {
                Err(CursorError::Corrupt {
                    path: file.path().to_path_buf(),
                    reason: format!("reading task failed: {e}"),
                })
            })
    };
    let cursor = match loaded {
        Ok(c) => c,
        Err(e) => {
            warn!(chain = %chain.config.id, error = %e, "ignoring the cursor file");
            None
        }
    };
    let mut last_stored = None;
    match cursor {
        None => {
            info!(chain = %chain.config.id, file = %file.path().display(), "no cursor yet: packets sent before this start are found through tx_search / block_search");
            ledger.fill_skipped();
        }
        Some(c) => {
            let scan = async {
                let start = ledger.hub_start().await;
                if c > start {
                    warn!(chain = %chain.config.id, cursor = c, latest = start, "the cursor is above the chain's latest height (a new chain?); ignoring it");
                    ledger.fill_skipped();
                } else {
                    ledger.fill(chain.query.rpc(), c + 1).await;
                }
            };
            tokio::select! {
                _ = token.cancelled() => {
                    ledger.fill_skipped();
                    return;
                }
                _ = scan => {}
            }
            report::cursor_stored(&chain.config.id, c);
            last_stored = Some(c);
        }
    }
    if mode == Mode::ReadOnly {
        return;
    }
    let mut tick = tokio::time::interval(WRITE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopping = tokio::select! {
            _ = token.cancelled() => true,
            _ = tick.tick() => false,
        };
        if let Some(c) = ledger.cursor().filter(|c| Some(*c) != last_stored) {
            let f = file.clone();
            match tokio::task::spawn_blocking(move || f.store(c)).await {
                Ok(Ok(())) => {
                    tracing::debug!(chain = %chain.config.id, cursor = c, "cursor stored");
                    report::cursor_stored(&chain.config.id, c);
                    last_stored = Some(c);
                }
                Ok(Err(e)) => {
                    warn!(chain = %chain.config.id, error = %e, "cannot store the cursor; retrying")
                }
                Err(e) => {
                    warn!(chain = %chain.config.id, error = %e, "cursor writing task failed")
                }
            }
        }
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "arke-cursor-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn stores_and_loads_atomically() {
        let dir = scratch("store").join("nested");
        let file = CursorFile::new(&dir, "devnet-1");
        assert_eq!(file.load().unwrap(), None, "no file: no cursor");
        file.store(41).unwrap();
        file.store(42).unwrap();
        assert_eq!(file.load().unwrap(), Some(42));
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["devnet-1.cursor"], "no temporary file left");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }

    #[test]
    fn bad_files_are_errors_naming_the_file() {
        let dir = scratch("bad");
        std::fs::create_dir_all(&dir).unwrap();
        let file = CursorFile::new(&dir, "devnet-1");
        std::fs::write(file.path(), "height = 3").unwrap();
        let e = file.load().unwrap_err();
        assert!(matches!(e, CursorError::Corrupt { .. }), "{e}");
        assert!(e.to_string().contains("devnet-1.cursor"), "{e}");
        std::fs::write(file.path(), r#"{"chain_id":"other-7","height":3}"#).unwrap();
        let e = file.load().unwrap_err();
        assert!(e.to_string().contains("other-7"), "{e}");
        // Odd characters never leave the directory.
        let odd = CursorFile::new(&dir, "../x/y");
        assert_eq!(odd.path().parent(), Some(dir.as_path()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
