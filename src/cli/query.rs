//! `arke query pending|channels|client`: what is pending and the state of channels and clients.
//!
//! Human tables by default, `--json` for machines (the shapes are in `json.rs`). The numbers
//! come from the library:
//! [`pending_on`] (unreceived packets and unrelayed acknowledgements both ways on one channel,
//! counted the way clearing finds them) and [`client_status`] (height, trusting period, time
//! left before expiry by the host chain's clock, the reading client refresh acts on).

use clap::{Args, Subcommand};

use super::create::{block_on, chain};
use super::json::{ChannelJson, ClientJson, PendingJson};
use super::output::{print_json, print_table, JsonArg};
use super::{CliError, ConfigArg};
use crate::chain::client_status::client_status;
use crate::chain::query::IbcQuerier;
use crate::config::Config;
use crate::handshake::{pair_channels, pair_channels_both_sides, querier_for, PairChannel};
use crate::relay::clearing::pending_on;
use crate::relay::discovery::ChannelChoice;

/// `arke query …`.
#[derive(Debug, Subcommand)]
pub(crate) enum QueryCommand {
    /// Unreceived packets and unrelayed acknowledgements, both directions.
    Pending(PendingArgs),
    /// Channels between the two chains.
    Channels(ChannelsArgs),
    /// A client's height, trusting period and time left before expiry.
    Client(ClientArgs),
}

/// `arke query pending`.
#[derive(Debug, Args)]
pub(crate) struct PendingArgs {
    /// The chain pair.
    #[command(flatten)]
    pub(crate) config: ConfigArg,
    /// Only this channel (its id on chain a, or `b:channel-N` for an id on chain b).
    #[arg(long)]
    pub(crate) channel: Option<String>,
    /// `--json`.
    #[command(flatten)]
    pub(crate) output: JsonArg,
}

/// `arke query channels`.
#[derive(Debug, Args)]
pub(crate) struct ChannelsArgs {
    /// The chain pair.
    #[command(flatten)]
    pub(crate) config: ConfigArg,
    /// `--json`.
    #[command(flatten)]
    pub(crate) output: JsonArg,
}

/// `arke query client`.
#[derive(Debug, Args)]
pub(crate) struct ClientArgs {
    /// The chain pair.
    #[command(flatten)]
    pub(crate) config: ConfigArg,
    /// Host chain (id or `a`/`b`).
    #[arg(long)]
    pub(crate) chain: String,
    /// Client id, e.g. `07-tendermint-0`.
    #[arg(long)]
    pub(crate) client: String,
    /// `--json`.
    #[command(flatten)]
    pub(crate) output: JsonArg,
}

/// Runs `arke query …`.
pub(crate) fn run(cmd: QueryCommand) -> Result<(), CliError> {
    match cmd {
        QueryCommand::Pending(args) => pending(args),
        QueryCommand::Channels(args) => channels(args),
        QueryCommand::Client(args) => client(args),
    }
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
            let choice = ChannelChoice::parse(wanted, &config.chains.a.id, &config.chains.b.id);
            channels.retain(|c| choice.matches(&c.ends.channel_a, &c.ends.channel_b));
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
        if args.output.json {
            let json: Vec<PendingJson> = reports.iter().map(PendingJson::from).collect();
            return print_json(&json);
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
        let list = pair_channels_both_sides(&qa, &qb).await.map_err(failed)?;
        if args.output.json {
            let json: Vec<ChannelJson> = list.iter().map(ChannelJson::from).collect();
            return print_json(&json);
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
        let status = client_status(&q, &args.client).await.map_err(failed)?;
        let report = ClientJson::from(&status);
        if args.output.json {
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
