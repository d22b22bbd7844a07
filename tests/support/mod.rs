//! Shared set-up of the integration tests, one file per concept: the end-to-end harness (two
//! devnets with an open channel and the relayer daemon in-process), the daemon run as an
//! `arke start` process (its log, resident memory and SIGTERM), the pair config, chain-side
//! checks (packets received exactly once, commitments cleared, balances, failed txs), this
//! process's metrics, scratch directories, bounded waits, test logs and the output of a
//! finished `arke` process.
//!
//! Each test binary includes this module with `mod support;` and uses what it needs.

#![allow(dead_code)] // not every test binary uses every helper

mod chain;
mod competitor;
mod daemon;
mod engine;
mod harness;
mod logs;
mod metrics;
mod output;
mod pair;
mod scratch;
mod wait;

#[allow(unused_imports)] // as above
pub use {
    chain::{failed_txs, funded_account},
    competitor::competitor_pending,
    daemon::{add_key, Daemon, Stopped},
    devnet::harness::{has_commitment, receive_counts, voucher},
    engine::{recv_item, transfers},
    harness::{Harness, Relayer, BLOCK},
    logs::init_tracing,
    metrics::metric,
    output::{line_channel, stderr, stdout},
    pair::{pair_config, pair_config_text},
    scratch::{scratch_dir, TempDir},
    wait::bounded,
};
