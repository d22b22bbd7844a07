//! Config errors: one [`ConfigIssue`] per problem (line, column, dotted key), all of a file's
//! issues in one [`ConfigError`], and the translation of `toml`/serde errors into issues.
//! Warnings (keys accepted without effect) are issues too, printed the same way.

use std::fmt;
use std::path::{Path, PathBuf};

use super::source::SourceMap;
use super::Config;

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigIssue {
    /// 1-based line, when known.
    pub(crate) line: Option<usize>,
    /// 1-based column, when known.
    pub(crate) column: Option<usize>,
    /// Dotted key path, when known.
    pub(crate) key: Option<String>,
    /// What is wrong.
    pub(crate) message: String,
}

/// All problems found in one config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub(crate) file: PathBuf,
    /// Its problems, in file order.
    pub(crate) issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.file.display())?;
            if let Some(line) = issue.line {
                write!(f, ":{line}")?;
                if let Some(col) = issue.column {
                    write!(f, ":{col}")?;
                }
            }
            write!(f, ": ")?;
            if let Some(key) = &issue.key {
                write!(f, "key `{key}`: ")?;
            }
            write!(f, "{}", issue.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    pub(super) fn whole_file(file: &Path, message: String) -> Self {
        Self {
            file: file.to_path_buf(),
            issues: vec![ConfigIssue {
                line: None,
                column: None,
                key: None,
                message,
            }],
        }
    }
}

impl Config {
    /// The warnings as `file:line:col: key `…`: …` lines, for `config validate` and the log.
    pub(crate) fn warning_lines(&self) -> Vec<String> {
        let all = ConfigError {
            file: self.path.clone(),
            issues: self.warnings.clone(),
        };
        if all.issues.is_empty() {
            return Vec::new();
        }
        all.to_string().lines().map(str::to_string).collect()
    }
}

/// [`deserialize_issue`] for a file of another schema (`arke devnet`'s settings file).
#[cfg(feature = "devnet")]
pub(crate) fn toml_issue(err: &toml::de::Error, text: &str) -> ConfigIssue {
    deserialize_issue(err, &SourceMap::new(text))
}

/// Turns a `toml`/serde error into an issue with line, column and key.
pub(super) fn deserialize_issue(err: &toml::de::Error, map: &SourceMap<'_>) -> ConfigIssue {
    // toml's messages can span lines ("invalid string\nexpected `\"`"): keep one line per issue.
    let message = err
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(": ");
    let Some(span) = err.span() else {
        return ConfigIssue {
            line: None,
            column: None,
            key: backticked(&message, "missing field `"),
            message,
        };
    };
    let (line, column) = map.line_col(span.start);
    let mut key = map.key_at(&span).or_else(|| map.key_by_lines(span.start));
    if let Some(field) = backticked(&message, "missing field `") {
        // The span covers the table that lacks the field.
        key = Some(match key {
            Some(table) => format!("{table}.{field}"),
            None => field,
        });
    } else if let Some(field) = backticked(&message, "unknown field `") {
        // The span covers the unknown key itself; make sure it is named even in odd layouts.
        if key.as_deref().is_none_or(|k| !k.ends_with(&field)) {
            key = Some(field);
        }
    }
    ConfigIssue {
        line: Some(line),
        column: Some(column),
        key,
        message,
    }
}

/// The text between `prefix` and the next backtick in `message`.
fn backticked(message: &str, prefix: &str) -> Option<String> {
    let rest = &message[message.find(prefix)? + prefix.len()..];
    Some(rest[..rest.find('`')?].to_string())
}
