//! `arke tx transfer`: ICS-20 transfers for testing and benchmarks.
//!
//! The transfers are signed with the sending chain's configured key and submitted through its
//! [`TxEngine`]. `--count N` sends N identical transfers packed into as few txs as the chain's
//! limits allow: at most `max_msg_num` messages and `max_tx_size` bytes per tx, and, when a
//! simulation of one transfer tells its gas, at most as many as fit in `max_gas`. The txs are
//! queued together (the engine signs them at consecutive sequences and confirms them in
//! parallel); each confirmed tx is printed with its hash, height and packet sequences.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use cosmos::events::event_attrs;
use cosmos::to_any;
use ibc_proto::cosmos::base::v1beta1::Coin;
use ibc_proto::google::protobuf::Any;
use ibc_proto::ibc::applications::transfer::v1::MsgTransfer;
use ibc_proto::ibc::core::channel::v1::State;
use tokio_util::sync::CancellationToken;

use super::create::{block_on, chain, load_key, other};
use super::{seconds_or_duration_arg, CliError, ConfigArg};
use crate::chain::query::IbcQuerier;
use crate::config::{ChainConfig, Config};
use crate::handshake::{querier_for, tx_events};
use crate::tx::engine::{Outcome, TxEngine};
use crate::tx::sign::{fee_for, gas_limit_for, message_size, TxSigner};

/// Timeout used when neither `--timeout-height-offset` nor `--timeout-seconds` is given.
pub(crate) const DEFAULT_TRANSFER_TIMEOUT: Duration = Duration::from_secs(600);

/// `arke tx …`.
#[derive(Debug, Subcommand)]
pub(crate) enum TxCommand {
    /// Send ICS-20 transfers.
    Transfer(TransferArgs),
}

/// `arke tx transfer`.
#[derive(Debug, Args)]
pub(crate) struct TransferArgs {
    /// The chain pair.
    #[command(flatten)]
    pub(crate) config: ConfigArg,
    /// Sending chain (id or `a`/`b`).
    #[arg(long)]
    pub(crate) from_chain: String,
    /// Source channel on the sending chain.
    #[arg(long)]
    pub(crate) channel: String,
    /// Source port on the sending chain.
    #[arg(long, default_value = "transfer")]
    pub(crate) port: String,
    /// Amount with denom, e.g. `100stake`.
    #[arg(long)]
    pub(crate) amount: String,
    /// Receiver address on the other chain.
    #[arg(long)]
    pub(crate) to: String,
    /// Number of transfers, packed into as few txs as the limits allow.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) count: u32,
    /// Timeout height: the destination's latest height plus this many blocks.
    #[arg(long)]
    pub(crate) timeout_height_offset: Option<u64>,
    /// Timeout after this long: seconds (`600`) or a duration (`10min`); 0 sets no timeout
    /// timestamp (as in Hermes). Default 10min when no timeout height is given either.
    #[arg(long, value_name = "SECONDS|DURATION", value_parser = seconds_or_duration_arg)]
    pub(crate) timeout_seconds: Option<Duration>,
    /// Memo.
    #[arg(long)]
    pub(crate) memo: Option<String>,
}

/// Runs `arke tx …`.
pub(crate) fn run(cmd: TxCommand) -> Result<(), CliError> {
    match cmd {
        TxCommand::Transfer(args) => transfer(args),
    }
}

/// Splits `100stake` into (amount, denom).
pub(crate) fn parse_amount(text: &str) -> Result<(String, String), String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (amount, denom) = t.split_at(split);
    if amount.is_empty() || amount.parse::<u128>().map_or(true, |n| n == 0) {
        return Err(format!(
            "amount {text:?} must start with a positive whole number, e.g. 100stake"
        ));
    }
    if denom.is_empty() {
        return Err(format!("amount {text:?} has no denom, e.g. 100stake"));
    }
    Ok((amount.to_string(), denom.to_string()))
}

/// Cuts `n` copies of a message of `msg_size` bytes into tx sizes: at most `per_tx` messages
/// and `budget` bytes of messages each.
pub(crate) fn pack(n: usize, per_tx: usize, msg_size: usize, budget: usize) -> Vec<usize> {
    let by_size = (budget / msg_size.max(1)).max(1);
    let per_tx = per_tx.min(by_size).max(1);
    let mut out = Vec::new();
    let mut left = n;
    while left > 0 {
        let k = left.min(per_tx);
        out.push(k);
        left -= k;
    }
    out
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// How many transfers fit in `max_gas`, from a simulation of one (None when it cannot tell).
async fn transfers_per_gas(
    from: &ChainConfig,
    querier: &IbcQuerier,
    signer: &TxSigner,
    msg: &Any,
) -> Option<usize> {
    let mut signer = signer.clone();
    let (number, sequence) = querier.account(signer.address()).await.ok()?;
    signer.set_account(number, sequence);
    let fee = fee_for(from.max_gas, &from.gas_price);
    let one = querier
        .simulate(signer.sign(vec![msg.clone()], from.max_gas, fee.clone()))
        .await
        .ok()?;
    let two = querier
        .simulate(signer.sign(vec![msg.clone(), msg.clone()], from.max_gas, fee))
        .await
        .ok()?;
    // gas(k) ≈ base + k × per_msg.
    let per_msg = two.saturating_sub(one).max(1);
    let base = one.saturating_sub(per_msg);
    let mut k = 1usize;
    while k < 10_000
        && gas_limit_for(base + per_msg * (k as u64 + 1), from.gas_multiplier) <= from.max_gas
    {
        k += 1;
    }
    Some(k)
}

fn transfer(args: TransferArgs) -> Result<(), CliError> {
    let config = Config::load(&args.config.config)?;
    let from = chain(&config, &args.from_chain)?.clone();
    let to_chain = other(&config, &from).clone();
    let (amount, denom) = parse_amount(&args.amount).map_err(CliError::Failed)?;
    if args.timeout_seconds.is_some_and(|d| d.is_zero()) && args.timeout_height_offset.is_none() {
        return Err(CliError::Failed(
            "--timeout-seconds 0 sets no timeout timestamp; a packet needs a timeout, so give \
             --timeout-height-offset N too (or a non-zero --timeout-seconds)"
                .into(),
        ));
    }
    let key = load_key(&from)?;
    block_on(async move {
        let fail = |what: String| CliError::Failed(format!("{}: {what}", from.id));
        let qf = querier_for(&from).map_err(|e| CliError::Failed(e.to_string()))?;
        let qt = querier_for(&to_chain).map_err(|e| CliError::Failed(e.to_string()))?;
        let end = qf
            .channel(&args.port, &args.channel)
            .await
            .map_err(|e| fail(format!("channel {}/{}: {e}", args.port, args.channel)))?
            .ok_or_else(|| {
                fail(format!(
                    "channel {}/{} does not exist",
                    args.port, args.channel
                ))
            })?;
        if end.state != State::Open as i32 {
            return Err(fail(format!(
                "channel {}/{} is not open",
                args.port, args.channel
            )));
        }
        let timeout_height = match args.timeout_height_offset {
            Some(offset) => {
                let h = qt.latest_height().await.map_err(|e| {
                    CliError::Failed(format!("{}: latest height: {e}", to_chain.id))
                })?;
                Some(qt.ibc_height(h.saturating_add(offset)))
            }
            None => None,
        };
        // As in Hermes, 0 seconds means no timeout timestamp (the height then bounds the packet).
        let timeout = match (args.timeout_seconds, timeout_height.is_some()) {
            (Some(d), _) if d.is_zero() => None,
            (Some(d), _) => Some(d),
            (None, false) => Some(DEFAULT_TRANSFER_TIMEOUT),
            (None, true) => None,
        };
        let timeout_timestamp = timeout.map_or(0, |d| {
            now_nanos().saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        });
        let signer = TxSigner::new(key.clone(), &from.account_prefix, &from.id);
        let msg = to_any(&MsgTransfer {
            source_port: args.port.clone(),
            source_channel: args.channel.clone(),
            token: Some(Coin {
                denom: denom.clone(),
                amount: amount.clone(),
            }),
            sender: signer.address().to_string(),
            receiver: args.to.clone(),
            timeout_height,
            timeout_timestamp,
            memo: args.memo.clone().unwrap_or_default(),
        });
        let n = args.count as usize;
        let mut per_tx = from.max_msg_num.max(1);
        if n > 1 {
            if let Some(k) = transfers_per_gas(&from, &qf, &signer, &msg).await {
                per_tx = per_tx.min(k);
            }
        }
        let budget = from
            .max_tx_size
            .saturating_sub(signer.envelope_size(from.max_gas, &from.gas_price));
        let sizes = pack(n, per_tx, message_size(&msg), budget);

        let token = CancellationToken::new();
        let (engine, task) =
            TxEngine::spawn(&from, qf.clone(), qt.clone(), key, token.child_token());
        let submissions = sizes
            .iter()
            .map(|&k| engine.submit_msgs(vec![msg.clone(); k]));
        let outcomes = futures::future::join_all(submissions).await;
        let mut sent = 0usize;
        let mut failures = Vec::new();
        for (k, outcome) in sizes.iter().zip(outcomes) {
            match outcome {
                Outcome::Done { tx_hash, height } => {
                    sent += k;
                    let sequences = match tx_events(&qf, &tx_hash).await {
                        Ok(events) => event_attrs(&events, "send_packet", "packet_sequence"),
                        Err(e) => {
                            tracing::warn!(%tx_hash, error = %e, "cannot read the tx's events");
                            Vec::new()
                        }
                    };
                    println!(
                        "tx {tx_hash} height {height}: {k} transfer(s), sequences {}",
                        if sequences.is_empty() {
                            "?".to_string()
                        } else {
                            sequences.join(",")
                        }
                    );
                }
                Outcome::Redundant | Outcome::RedundantInMempool => {
                    failures.push(format!("{k} transfer(s): tx was redundant"))
                }
                Outcome::Failed { reason, .. } => {
                    failures.push(format!("{k} transfer(s): {reason}"))
                }
            }
        }
        token.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        println!(
            "sent {sent} of {n} transfer(s) of {amount}{denom} from {} {}/{} to {}",
            from.id, args.port, args.channel, args.to
        );
        if failures.is_empty() {
            Ok(())
        } else {
            Err(CliError::Partial(
                failures
                    .iter()
                    .map(|f| format!("{}: {f}", from.id))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ))
        }
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse() {
        assert_eq!(
            parse_amount("100stake").unwrap(),
            ("100".into(), "stake".into())
        );
        assert_eq!(
            parse_amount("5ibc/ABC").unwrap(),
            ("5".into(), "ibc/ABC".into())
        );
        assert!(parse_amount("stake").is_err());
        assert!(parse_amount("100").is_err());
        assert!(parse_amount("0stake").is_err());
    }

    #[test]
    fn packing_respects_count_and_size() {
        assert_eq!(pack(5, 30, 100, 10_000), vec![5]);
        assert_eq!(pack(65, 30, 100, 10_000), vec![30, 30, 5]);
        assert_eq!(pack(5, 30, 100, 250), vec![2, 2, 1]);
        assert_eq!(pack(3, 0, 100, 0), vec![1, 1, 1]);
        assert!(pack(0, 30, 100, 10_000).is_empty());
    }
}
