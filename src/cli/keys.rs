//! `arke keys add|list|delete`: manage the key store from the command line.
//!
//! The key store directory is, in order: `--key-store DIR` (or `ARKE_KEY_STORE`), the
//! `key_store_folder` of `--chain` in `--config`, or the default
//! (`$XDG_DATA_HOME/arke/keys`, else `~/.local/share/arke/keys`). The mnemonic is read from a
//! file, or with `-` from stdin when that is a pipe or a redirect (not a terminal, where typed
//! words would stay on screen), and is never echoed.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::json::KeyJson;
use super::output::{print_json, JsonArg};
use super::CliError;
use crate::config::{default_key_store, ChainConfig, Config};
use crate::tx::keys::{KeyStore, Mnemonic, DEFAULT_HD_PATH};

/// `arke keys …`.
#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Derive a key from a mnemonic and store it.
    Add(AddArgs),
    /// List stored keys (names and addresses).
    List(ListArgs),
    /// Delete a stored key.
    Delete(DeleteArgs),
}

/// Where the key store is.
#[derive(Debug, Clone, Args)]
pub(crate) struct StoreArgs {
    /// Key store directory.
    #[arg(long, value_name = "DIR", env = "ARKE_KEY_STORE")]
    pub(crate) key_store: Option<PathBuf>,
    /// Take the key store (and account prefix) from this pair config.
    #[arg(long, short = 'c', value_name = "FILE", requires = "chain")]
    pub(crate) config: Option<PathBuf>,
    /// Which chain of `--config` (id or `a`/`b`).
    #[arg(long, requires = "config")]
    pub(crate) chain: Option<String>,
}

/// `arke keys list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Key store location.
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// `--json`.
    #[command(flatten)]
    pub(crate) output: JsonArg,
}

/// `arke keys add`.
#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    /// Key name.
    pub(crate) name: String,
    /// File holding the BIP-39 mnemonic (`-` reads stdin).
    #[arg(long, value_name = "FILE")]
    pub(crate) mnemonic_file: PathBuf,
    /// HD derivation path.
    #[arg(long, default_value = DEFAULT_HD_PATH)]
    pub(crate) hd_path: String,
    /// Bech32 account prefix (default: the chain's in `--config`, else `cosmos`).
    #[arg(long)]
    pub(crate) account_prefix: Option<String>,
    /// Replace an existing key of the same name.
    #[arg(long)]
    pub(crate) overwrite: bool,
    /// Key store location.
    #[command(flatten)]
    pub(crate) store: StoreArgs,
}

/// `arke keys delete`.
#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// Key name.
    pub(crate) name: String,
    /// Key store location.
    #[command(flatten)]
    pub(crate) store: StoreArgs,
}

/// Runs `arke keys …`.
pub(crate) fn run(cmd: KeysCommand) -> Result<(), CliError> {
    match cmd {
        KeysCommand::Add(args) => add(args),
        KeysCommand::List(args) => list(&args),
        KeysCommand::Delete(args) => {
            let (store, _) = open_store(&args.store)?;
            store.delete(&args.name)?;
            println!("deleted key {:?} from {}", args.name, store.dir().display());
            Ok(())
        }
    }
}

fn add(args: AddArgs) -> Result<(), CliError> {
    let (store, chain) = open_store(&args.store)?;
    let prefix = args
        .account_prefix
        .clone()
        .or_else(|| chain.map(|c| c.account_prefix))
        .unwrap_or_else(|| "cosmos".to_string());
    let mnemonic = read_mnemonic(&args.mnemonic_file)?;
    let info = store.add(
        &args.name,
        &mnemonic,
        &args.hd_path,
        &prefix,
        args.overwrite,
    )?;
    println!(
        "added key {:?} ({}) to {}",
        info.name,
        info.address,
        store.dir().display()
    );
    Ok(())
}

fn list(args: &ListArgs) -> Result<(), CliError> {
    let (store, _) = open_store(&args.store)?;
    let entries = store.list()?;
    let mut keys = Vec::new();
    let mut failed = 0;
    for entry in entries {
        match entry {
            Ok(info) => keys.push(info),
            Err(e) => {
                failed += 1;
                eprintln!("error: {e}");
            }
        }
    }
    if args.output.json {
        let json: Vec<KeyJson> = keys.iter().map(KeyJson::from).collect();
        print_json(&json)?;
    } else if keys.is_empty() && failed == 0 {
        println!("no keys in {}", store.dir().display());
    } else {
        for info in &keys {
            println!("{}\t{}\t{}", info.name, info.address, info.hd_path);
        }
    }
    if failed > 0 {
        return Err(CliError::Partial(format!(
            "{failed} key file(s) in {} could not be read",
            store.dir().display()
        )));
    }
    Ok(())
}

/// The key store, and the chain of `--config` when one was named.
fn open_store(args: &StoreArgs) -> Result<(KeyStore, Option<ChainConfig>), CliError> {
    let chain = match (&args.config, &args.chain) {
        (Some(path), Some(name)) => {
            let config = Config::load(path)?;
            let chain = config.chains.get(name).cloned().ok_or_else(|| {
                CliError::Failed(format!(
                    "{}: no chain {name:?} (the pair is {:?} (a) and {:?} (b))",
                    path.display(),
                    config.chains.a.id,
                    config.chains.b.id
                ))
            })?;
            Some(chain)
        }
        _ => None,
    };
    let dir = match (&args.key_store, &chain) {
        (Some(dir), _) => dir.clone(),
        (None, Some(chain)) => chain.key_store_folder.clone(),
        (None, None) => default_key_store().ok_or_else(|| {
            CliError::Failed(
                "no key store: neither XDG_DATA_HOME nor HOME is set; pass --key-store DIR".into(),
            )
        })?,
    };
    Ok((KeyStore::new(dir), chain))
}

fn read_mnemonic(path: &Path) -> Result<Mnemonic, CliError> {
    let from_stdin = path == Path::new("-");
    let source = if from_stdin {
        "the mnemonic on stdin".to_string()
    } else {
        format!("mnemonic file {}", path.display())
    };
    if from_stdin && std::io::stdin().is_terminal() {
        // Typed words would stay on the screen and in the scrollback.
        return Err(CliError::Failed(
            "--mnemonic-file - reads a pipe or a redirect, not a terminal: use `--mnemonic-file - < FILE`"
                .into(),
        ));
    }
    let mut text = String::new();
    let result = if from_stdin {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text).map(|_| ()))
    };
    result.map_err(|e| CliError::Failed(format!("cannot read {source}: {e}")))?;
    let mnemonic = Mnemonic::new(&text);
    let words = mnemonic.word_count();
    if ![12, 15, 18, 21, 24].contains(&words) {
        return Err(CliError::Failed(format!(
            "{source} holds {words} words; a BIP-39 mnemonic has 12, 15, 18, 21 or 24"
        )));
    }
    Ok(mnemonic)
}
