//! Logging set-up for every command: `tracing` to stderr, filtered by `--log-level`, else
//! `RUST_LOG`, else the command's default; text or JSON lines.
//!
//! Colours only where a person reads them: ANSI escapes are written only when stderr is a
//! terminal and `NO_COLOR` is unset or empty (<https://no-color.org>), so log files, pipes and
//! the journal get plain text. Under systemd (`JOURNAL_STREAM` set) each line starts with its
//! syslog priority (`<3>` error … `<7>` debug) and carries no timestamp: the journal records
//! both itself.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use super::{CliError, LogFormat};

/// Sets up the global subscriber.
pub(crate) fn init(
    format: LogFormat,
    level: Option<&str>,
    default_level: &str,
) -> Result<(), CliError> {
    let filter = match level {
        Some(level) => EnvFilter::try_new(level)
            .map_err(|e| CliError::Failed(format!("invalid --log-level {level:?}: {e}")))?,
        None => match std::env::var("RUST_LOG") {
            Ok(v) if !v.trim().is_empty() => EnvFilter::try_new(&v)
                .map_err(|e| CliError::Failed(format!("invalid RUST_LOG {v:?}: {e}")))?,
            _ => EnvFilter::new(default_level),
        },
    };
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let ansi = use_colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
        journal,
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let result = match (format, journal) {
        (LogFormat::Text, false) => builder.try_init(),
        (LogFormat::Text, true) => builder
            .event_format(JournalPriority(
                tracing_subscriber::fmt::format().without_time(),
            ))
            .try_init(),
        (LogFormat::Json, _) => builder.json().try_init(),
    };
    result.map_err(|e| CliError::Failed(format!("cannot set up logging: {e}")))
}

/// Whether log lines get ANSI colours: on a terminal, not under the journal, and without a
/// non-empty `NO_COLOR`.
fn use_colour(terminal: bool, no_color: Option<&std::ffi::OsStr>, journal: bool) -> bool {
    terminal && !journal && no_color.is_none_or(|v| v.is_empty())
}

/// Prefixes every log line with its syslog priority for the systemd journal.
struct JournalPriority<F>(F);

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for JournalPriority<F>
where
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "<{}>", syslog_priority(*event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

/// The syslog priority of a tracing level.
fn syslog_priority(level: tracing::Level) -> u8 {
    match level {
        tracing::Level::ERROR => 3,
        tracing::Level::WARN => 4,
        tracing::Level::INFO => 6,
        _ => 7,
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;

    #[test]
    fn journal_priorities_follow_syslog() {
        assert_eq!(syslog_priority(tracing::Level::ERROR), 3);
        assert_eq!(syslog_priority(tracing::Level::WARN), 4);
        assert_eq!(syslog_priority(tracing::Level::INFO), 6);
        assert_eq!(syslog_priority(tracing::Level::DEBUG), 7);
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None, false));
        assert!(use_colour(true, Some(OsStr::new("")), false));
        assert!(!use_colour(true, Some(OsStr::new("1")), false));
        assert!(!use_colour(false, None, false));
        assert!(!use_colour(true, None, true));
    }
}
