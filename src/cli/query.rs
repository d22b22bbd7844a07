//! `arke query pending|channels|client`: what is pending and the state of channels and clients.
//!
//! Human tables by default, `--json` for machines. The report types are public and
//! serializable so tests and `arke demo` can compute the same things in-process:
//! [`pending_on`] (unreceived packets and unrelayed acknowledgements both ways on one channel),
//! [`client_report`] (height, trusting period, time left before expiry).
//!
//! "Pending" is computed from the chains alone, the way clearing does: packets whose commitment
//! exists on the source and that the destination has not received; and acknowledgements written
//! on the destination whose packet commitment still exists on the source.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use serde::Serialize;

use super::create::{block_on, chain};
use super::{CliError, ConfigArg};
use crate::chain::query::{IbcQuerier, QueryError};
use crate::config::Config;
use crate::handshake::{pair_channels, querier_for, PairChannel};

/// `arke query …`.
#[derive(Debug, Subcommand)]
pub enum QueryCommand {
    /// Unreceived packets and unrelayed acknowledgements, both directions.
    Pending(PendingArgs),
    /// Channels between the two chains.
    Channels(ChannelsArgs),
    /// A client's height, trusting period and time left before expiry.
    Client(ClientArgs),
}

/// `arke query pending`.
#[derive(Debug, Args)]
pub struct PendingArgs {
    /// The chain pair.
    #[command(flatten)]
    pub config: ConfigArg,
    /// Only this channel (its id on chain a, or `b:channel-N` for an id on chain b).
    #[arg(long)]
    pub channel: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `arke query channels`.
#[derive(Debug, Args)]
pub struct ChannelsArgs {
    /// The chain pair.
    #[command(flatten)]
    pub config: ConfigArg,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `arke query client`.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The chain pair.
    #[command(flatten)]
    pub config: ConfigArg,
    /// Host chain (id or `a`/`b`).
    #[arg(long)]
    pub chain: String,
    /// Client id, e.g. `07-tendermint-0`.
    #[arg(long)]
    pub client: String,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Runs `arke query …`.
pub fn run(cmd: QueryCommand) -> Result<(), CliError> {
    match cmd {
        QueryCommand::Pending(args) => pending(args),
        QueryCommand::Channels(args) => channels(args),
        QueryCommand::Client(args) => client(args),
    }
}

/// What is pending in one direction of a channel.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Direction {
    /// Sending chain.
    pub src_chain: String,
    /// Port on the sending chain.
    pub src_port: String,
    /// Channel on the sending chain.
    pub src_channel: String,
    /// Receiving chain.
    pub dst_chain: String,
    /// Packets committed on the source and not received on the destination.
    pub unreceived_packets: Vec<u64>,
    /// Acknowledgements written on the destination and not yet relayed to the source.
    pub unreceived_acks: Vec<u64>,
}

/// What is pending on one channel, both ways.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChannelPending {
    /// Packets sent on chain a (and their acks).
    pub a_to_b: Direction,
    /// Packets sent on chain b (and their acks).
    pub b_to_a: Direction,
}

impl ChannelPending {
    /// Total unreceived packets and unrelayed acks.
    pub fn total(&self) -> usize {
        [&self.a_to_b, &self.b_to_a]
            .iter()
            .map(|d| d.unreceived_packets.len() + d.unreceived_acks.len())
            .sum()
    }
}

async fn direction(
    src: &IbcQuerier,
    src_port: &str,
    src_channel: &str,
    dst: &IbcQuerier,
    dst_port: &str,
    dst_channel: &str,
) -> Result<Direction, QueryError> {
    let commitments = src.packet_commitments(src_port, src_channel).await?;
    let unreceived_packets = if commitments.is_empty() {
        Vec::new()
    } else {
        dst.unreceived_packets(dst_port, dst_channel, &commitments)
            .await?
    };
    let acked = dst.packet_acknowledgements(dst_port, dst_channel).await?;
    let unreceived_acks = if acked.is_empty() {
        Vec::new()
    } else {
        src.unreceived_acks(src_port, src_channel, &acked).await?
    };
    Ok(Direction {
        src_chain: src.chain_id().to_string(),
        src_port: src_port.to_string(),
        src_channel: src_channel.to_string(),
        dst_chain: dst.chain_id().to_string(),
        unreceived_packets,
        unreceived_acks,
    })
}

/// Unreceived packets and unrelayed acks both ways on the channel `port_a/channel_a` (on `a`)
/// ↔ `port_b/channel_b` (on `b`).
pub async fn pending_on(
    a: &IbcQuerier,
    b: &IbcQuerier,
    port_a: &str,
    channel_a: &str,
    port_b: &str,
    channel_b: &str,
) -> Result<ChannelPending, QueryError> {
    Ok(ChannelPending {
        a_to_b: direction(a, port_a, channel_a, b, port_b, channel_b).await?,
        b_to_a: direction(b, port_b, channel_b, a, port_a, channel_a).await?,
    })
}

fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::Failed(e.to_string())
}

fn queriers(config: &Config) -> Result<(IbcQuerier, IbcQuerier), CliError> {
    Ok((
        querier_for(&config.chains.a).map_err(failed)?,
        querier_for(&config.chains.b).map_err(failed)?,
    ))
}

fn ranges(seqs: &[u64]) -> String {
    if seqs.is_empty() {
        return "-".into();
    }
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < seqs.len() {
        let mut j = i;
        while j + 1 < seqs.len() && seqs[j + 1] == seqs[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            seqs[i].to_string()
        } else {
            format!("{}..={}", seqs[i], seqs[j])
        });
        i = j + 1;
    }
    format!("{} [{}]", seqs.len(), parts.join(","))
}

/// Prints `rows` as a table with `header`, columns padded to their widest cell.
fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", text.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.clone());
    }
}

fn print_json<T: Serialize>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Failed(format!("cannot encode JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

fn pending(args: PendingArgs) -> Result<(), CliError> {
    let config = Config::load(&args.config.config)?;
    block_on(async move {
        let (qa, qb) = queriers(&config)?;
        let mut channels: Vec<PairChannel> = pair_channels(&qa, &qb)
            .await
            .map_err(failed)?
            .into_iter()
            .filter(PairChannel::is_open)
            .collect();
        if let Some(wanted) = &args.channel {
            let (on_b, id) = match wanted.split_once(':') {
                Some((side, id)) if side == "b" || side == config.chains.b.id => (true, id),
                Some((side, id)) if side == "a" || side == config.chains.a.id => (false, id),
                _ => (false, wanted.as_str()),
            };
            channels.retain(|c| {
                if on_b {
                    c.ends.channel_b == id
                } else {
                    c.ends.channel_a == id
                }
            });
            if channels.is_empty() {
                return Err(CliError::Failed(format!(
                    "no open channel {wanted} between {} and {}",
                    config.chains.a.id, config.chains.b.id
                )));
            }
        }
        let mut reports = Vec::new();
        for c in &channels {
            let e = &c.ends;
            let p = pending_on(&qa, &qb, &e.port_a, &e.channel_a, &e.port_b, &e.channel_b)
                .await
                .map_err(|err| {
                    CliError::Failed(format!("pending on {}/{}: {err}", e.port_a, e.channel_a))
                })?;
            reports.push(p);
        }
        if args.json {
            return print_json(&reports);
        }
        if reports.is_empty() {
            println!(
                "no open channels between {} and {}",
                config.chains.a.id, config.chains.b.id
            );
            return Ok(());
        }
        let mut rows = Vec::new();
        for r in &reports {
            for d in [&r.a_to_b, &r.b_to_a] {
                rows.push(vec![
                    format!("{} {}/{}", d.src_chain, d.src_port, d.src_channel),
                    d.dst_chain.clone(),
                    ranges(&d.unreceived_packets),
                    ranges(&d.unreceived_acks),
                ]);
            }
        }
        print_table(
            &[
                "SOURCE",
                "DESTINATION",
                "UNRECEIVED PACKETS",
                "UNRELAYED ACKS",
            ],
            &rows,
        );
        Ok(())
    })?
}

fn channels(args: ChannelsArgs) -> Result<(), CliError> {
    let config = Config::load(&args.config.config)?;
    block_on(async move {
        let (qa, qb) = queriers(&config)?;
        let mut list = pair_channels(&qa, &qb).await.map_err(failed)?;
        // Channels that exist only on b so far (INIT there) are listed from b's side.
        for c in pair_channels(&qb, &qa).await.map_err(failed)? {
            if c.ends.channel_b.is_empty() || c.state_b.is_empty() {
                list.push(PairChannel {
                    ends: crate::handshake::ChannelEnds {
                        connection: c.ends.connection.reversed(),
                        port_a: c.ends.port_b,
                        channel_a: c.ends.channel_b,
                        port_b: c.ends.port_a,
                        channel_b: c.ends.channel_a,
                    },
                    state_a: c.state_b,
                    state_b: c.state_a,
                    ordering: c.ordering,
                    version: c.version,
                });
            }
        }
        if args.json {
            return print_json(&list);
        }
        if list.is_empty() {
            println!(
                "no channels between {} and {}",
                config.chains.a.id, config.chains.b.id
            );
            return Ok(());
        }
        let dash = |s: &str| {
            if s.is_empty() {
                "-".to_string()
            } else {
                s.to_string()
            }
        };
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|c| {
                let e = &c.ends;
                vec![
                    format!("{}/{}", dash(&e.port_a), dash(&e.channel_a)),
                    dash(&c.state_a),
                    format!("{}/{}", dash(&e.port_b), dash(&e.channel_b)),
                    dash(&c.state_b),
                    c.ordering.clone(),
                    c.version.clone(),
                    format!(
                        "{} <-> {}",
                        dash(&e.connection.connection_a),
                        dash(&e.connection.connection_b)
                    ),
                    format!(
                        "{} <-> {}",
                        dash(&e.connection.client_a),
                        dash(&e.connection.client_b)
                    ),
                ]
            })
            .collect();
        let head_a = format!("{} (a)", config.chains.a.id);
        let head_b = format!("{} (b)", config.chains.b.id);
        print_table(
            &[
                &head_a,
                "STATE",
                &head_b,
                "STATE",
                "ORDER",
                "VERSION",
                "CONNECTIONS",
                "CLIENTS",
            ],
            &rows,
        );
        Ok(())
    })?
}

/// The state of a client and how long until it expires.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClientReport {
    /// Host chain.
    pub host_chain: String,
    /// Client id.
    pub client_id: String,
    /// The chain the client tracks.
    pub tracked_chain: String,
    /// Latest height, `revision-height`.
    pub latest_height: String,
    /// Time of the consensus state at the latest height, Unix seconds.
    pub latest_consensus_time: i64,
    /// Trusting period in seconds.
    pub trusting_period_secs: u64,
    /// Seconds left until the consensus state at the latest height leaves the trusting period
    /// (negative: expired).
    pub seconds_until_expiry: i64,
    /// Frozen (misbehaviour found)?
    pub frozen: bool,
    /// `active`, `expired` or `frozen`.
    pub status: String,
}

/// The [`ClientReport`] of `client_id` on `host`, with `now` as the current time.
pub async fn client_report(
    host: &IbcQuerier,
    client_id: &str,
    now: SystemTime,
) -> Result<ClientReport, String> {
    let cs = host
        .client_state(client_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{}: client {client_id} does not exist", host.chain_id()))?;
    let latest = cs.latest_height.ok_or_else(|| {
        format!(
            "{}: client {client_id} has no latest height",
            host.chain_id()
        )
    })?;
    let consensus = host
        .consensus_state(client_id, latest)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!(
                "{}: client {client_id} has no consensus state at its latest height {}-{}",
                host.chain_id(),
                latest.revision_number,
                latest.revision_height
            )
        })?;
    let ts = consensus.timestamp.unwrap_or_default();
    let tp = cs.trusting_period.unwrap_or_default();
    let trusting = Duration::new(
        u64::try_from(tp.seconds).unwrap_or(0),
        u32::try_from(tp.nanos).unwrap_or(0),
    );
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let expiry = ts
        .seconds
        .saturating_add(i64::try_from(trusting.as_secs()).unwrap_or(i64::MAX));
    let left = expiry.saturating_sub(now_secs);
    let frozen = cs
        .frozen_height
        .as_ref()
        .is_some_and(|h| h.revision_number != 0 || h.revision_height != 0);
    let status = if frozen {
        "frozen"
    } else if left <= 0 {
        "expired"
    } else {
        "active"
    };
    Ok(ClientReport {
        host_chain: host.chain_id().to_string(),
        client_id: client_id.to_string(),
        tracked_chain: cs.chain_id.clone(),
        latest_height: format!("{}-{}", latest.revision_number, latest.revision_height),
        latest_consensus_time: ts.seconds,
        trusting_period_secs: trusting.as_secs(),
        seconds_until_expiry: left,
        frozen,
        status: status.to_string(),
    })
}

/// `1d 2h 3m 4s`-style rendering of a number of seconds.
fn human_secs(secs: i64) -> String {
    let sign = if secs < 0 { "-" } else { "" };
    let mut s = secs.unsigned_abs();
    let days = s / 86_400;
    s %= 86_400;
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(format!("{days}d"));
    }
    if h > 0 {
        parts.push(format!("{h}h"));
    }
    if m > 0 {
        parts.push(format!("{m}m"));
    }
    if sec > 0 || parts.is_empty() {
        parts.push(format!("{sec}s"));
    }
    format!("{sign}{}", parts.join(" "))
}

fn client(args: ClientArgs) -> Result<(), CliError> {
    let config = Config::load(&args.config.config)?;
    let host = chain(&config, &args.chain)?.clone();
    block_on(async move {
        let q = querier_for(&host).map_err(failed)?;
        let report = client_report(&q, &args.client, SystemTime::now())
            .await
            .map_err(CliError::Failed)?;
        if args.json {
            return print_json(&report);
        }
        let rows = vec![
            vec!["host chain".into(), report.host_chain.clone()],
            vec!["client".into(), report.client_id.clone()],
            vec!["tracks".into(), report.tracked_chain.clone()],
            vec!["latest height".into(), report.latest_height.clone()],
            vec![
                "trusting period".into(),
                human_secs(i64::try_from(report.trusting_period_secs).unwrap_or(i64::MAX)),
            ],
            vec!["time left".into(), human_secs(report.seconds_until_expiry)],
            vec!["frozen".into(), report.frozen.to_string()],
            vec!["status".into(), report.status.clone()],
        ];
        for row in rows {
            println!("{:<16} {}", row[0], row[1]);
        }
        Ok(())
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_ranges_are_compact() {
        assert_eq!(ranges(&[]), "-");
        assert_eq!(ranges(&[1, 2, 3, 5, 7, 8]), "6 [1..=3,5,7..=8]");
        assert_eq!(ranges(&[4]), "1 [4]");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_secs(0), "0s");
        assert_eq!(human_secs(90_061), "1d 1h 1m 1s");
        assert_eq!(human_secs(-120), "-2m");
        assert_eq!(human_secs(14 * 86_400), "14d");
    }
}
