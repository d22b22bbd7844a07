//! `arke clear`: relay everything pending on a pair (or one channel) once, then exit.
//!
//! The relaying is [`crate::relay::clear::clear_once`], the daemon's clearing run to the end;
//! this command reads the arguments, loads the keys, prints a progress bar on a terminal (plain
//! lines otherwise) and a summary, and exits non-zero when any step failed.

use std::io::{IsTerminal, Write};

use clap::Args;

use super::create::block_on;
use super::{CliError, ConfigArg};
use crate::config::Config;
use crate::relay::clear::{clear_once, Progress};
use crate::relay::supervisor::PairKeys;
use crate::tx::keys::KeyStore;

/// `arke clear --config FILE [--channel C]`.
#[derive(Debug, Args)]
pub(crate) struct ClearArgs {
    /// The chain pair.
    #[command(flatten)]
    pub(crate) config: ConfigArg,
    /// Only this channel (its id on chain a, or `b:channel-N` for an id on chain b).
    #[arg(long)]
    pub(crate) channel: Option<String>,
}

/// Renders [`Progress`] on stderr: a `\r[####----] n/m` bar on a terminal, plain lines (at
/// each round and every tenth of it) otherwise.
struct ProgressPrinter {
    terminal: bool,
    round: u32,
    last_tenth: usize,
}

impl ProgressPrinter {
    fn show(&mut self, p: Progress) {
        let mut err = std::io::stderr().lock();
        match p {
            Progress::Round { round, items } => {
                self.round = round;
                self.last_tenth = 0;
                if self.terminal {
                    let _ = write!(err, "round {round}: ");
                } else {
                    let _ = writeln!(err, "round {round}: {items} steps to relay");
                }
            }
            Progress::Step { done, total } if self.terminal => {
                const WIDTH: usize = 30;
                let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
                let _ = write!(
                    err,
                    "\rround {}: [{}{}] {done}/{total}",
                    self.round,
                    "#".repeat(filled),
                    "-".repeat(WIDTH - filled)
                );
                if done == total {
                    let _ = writeln!(err);
                }
                let _ = err.flush();
            }
            Progress::Step { done, total } => {
                let tenth = (done * 10).checked_div(total).unwrap_or(10);
                if tenth > self.last_tenth || done == total {
                    self.last_tenth = tenth;
                    let _ = writeln!(err, "round {}: {done}/{total} done", self.round);
                }
            }
        }
    }
}

/// Runs `arke clear`.
pub(crate) fn run(args: ClearArgs) -> Result<(), CliError> {
    let config = Config::load(&args.config.config)?;
    let key_a = KeyStore::new(&config.chains.a.key_store_folder).load(&config.chains.a.key_name)?;
    let key_b = KeyStore::new(&config.chains.b.key_store_folder).load(&config.chains.b.key_name)?;
    let keys = PairKeys::new(key_a.account_key().clone(), key_b.account_key().clone());
    let mut printer = ProgressPrinter {
        terminal: std::io::stderr().is_terminal(),
        round: 0,
        last_tenth: 0,
    };
    let report = block_on(async {
        clear_once(&config, keys, args.channel.as_deref(), &mut |p| {
            printer.show(p)
        })
        .await
    })?
    .map_err(|e| CliError::Failed(e.to_string()))?;
    if report.channels.is_empty() {
        println!(
            "no open channels between {} and {}",
            config.chains.a.id, config.chains.b.id
        );
        return Ok(());
    }
    println!("cleared {}", report.channels.join(", "));
    println!(
        "received {}, acknowledged {}, timed out {}, already relayed {}, failed {}",
        report.received,
        report.acked,
        report.timed_out,
        report.already_relayed,
        report.failed.len()
    );
    for f in &report.failed {
        println!("failed: {f}");
    }
    if report.failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Partial(format!(
            "{} relay steps failed",
            report.failed.len()
        )))
    }
}
