//! The channel filter of `[relay]`: which (port, channel) pairs a relayer works on.
//!
//! `channels = { policy = "allow", list = [["transfer", "channel-*"]] }` relays only the listed
//! channels; `policy = "deny"` relays everything except them. Patterns may use `*` as a wildcard
//! for any run of characters (Hermes's `packet_filter` semantics). Without a filter every channel
//! is relayed.

use serde::{Deserialize, Serialize};

/// Allow-list or deny-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FilterPolicy {
    /// Only the listed channels are relayed.
    Allow,
    /// Every channel except the listed ones is relayed.
    Deny,
}

/// A port or channel identifier pattern; `*` matches any run of characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern(String);

impl Pattern {
    /// Builds a pattern, checking that it only uses identifier characters and `*`.
    pub(crate) fn new(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("empty pattern".into());
        }
        if text.len() > 128 {
            return Err(format!("pattern {text:?} is longer than 128 characters"));
        }
        // ICS-24 identifier characters, plus the wildcard.
        let ok = |c: char| c.is_ascii_alphanumeric() || "._+-#[]<>*".contains(c);
        if let Some(c) = text.chars().find(|c| !ok(*c)) {
            return Err(format!(
                "pattern {text:?} contains {c:?}; identifiers use letters, digits and ._+-#[]<> (and * as a wildcard)"
            ));
        }
        Ok(Self(text.to_string()))
    }

    /// Whether `id` matches the pattern.
    pub(crate) fn matches(&self, id: &str) -> bool {
        glob_match(self.0.as_bytes(), id.as_bytes())
    }
}

/// Iterative glob matching with `*` only (linear backtracking on the last star).
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// The `[relay] channels` filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChannelFilter {
    /// Allow-list or deny-list.
    pub(crate) policy: FilterPolicy,
    /// (port pattern, channel pattern) pairs.
    pub(crate) list: Vec<(Pattern, Pattern)>,
}

impl Default for ChannelFilter {
    /// Relay everything: an empty deny-list.
    fn default() -> Self {
        Self {
            policy: FilterPolicy::Deny,
            list: Vec::new(),
        }
    }
}

impl ChannelFilter {
    /// Whether the relayer should work on `port`/`channel`.
    pub(crate) fn permits(&self, port: &str, channel: &str) -> bool {
        let listed = self
            .list
            .iter()
            .any(|(p, c)| p.matches(port) && c.matches(channel));
        match self.policy {
            FilterPolicy::Allow => listed,
            FilterPolicy::Deny => !listed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> Pattern {
        Pattern::new(s).unwrap()
    }

    #[test]
    fn glob() {
        assert!(pat("channel-*").matches("channel-0"));
        assert!(pat("channel-*").matches("channel-"));
        assert!(!pat("channel-*").matches("chan-0"));
        assert!(pat("*").matches(""));
        assert!(pat("a*b*c").matches("axxbyyc"));
        assert!(!pat("a*b*c").matches("axxbyy"));
        assert!(pat("transfer").matches("transfer"));
        assert!(!pat("transfer").matches("transfer2"));
        assert!(pat("*-1*").matches("channel-12"));
    }

    #[test]
    fn policies() {
        let list = vec![(pat("transfer"), pat("channel-1*"))];
        let allow = ChannelFilter {
            policy: FilterPolicy::Allow,
            list: list.clone(),
        };
        assert!(allow.permits("transfer", "channel-10"));
        assert!(!allow.permits("transfer", "channel-2"));
        assert!(!allow.permits("ica", "channel-1"));
        let deny = ChannelFilter {
            policy: FilterPolicy::Deny,
            list,
        };
        assert!(!deny.permits("transfer", "channel-10"));
        assert!(deny.permits("transfer", "channel-2"));
        assert!(ChannelFilter::default().permits("anything", "channel-99"));
    }

    #[test]
    fn bad_patterns() {
        assert!(Pattern::new("").is_err());
        assert!(Pattern::new("chan nel").is_err());
        assert!(Pattern::new("chan/nel").is_err());
    }
}
