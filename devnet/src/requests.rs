//! The node's request log: how many RPC requests it answered, by method (and, for `abci_query`,
//! by query path), over JSON-RPC, URI and websocket alike. Tests read it to count what a client
//! costs a node, as an operator reads a node's access log, without trusting the client's own
//! numbers.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Requests answered so far, keyed by method, or by `abci_query <path>` for queries and
/// `subscribe <query>` / `unsubscribe <query>` for the websocket's subscriptions.
#[derive(Default)]
pub struct RequestLog {
    counts: Mutex<BTreeMap<String, u64>>,
}

impl RequestLog {
    /// Counts one request of `method` (`path`: the `abci_query` path, if any).
    pub fn record(&self, method: &str, path: Option<&str>) {
        let key = match path {
            Some(p) => format!("{method} {p}"),
            None => method.to_string(),
        };
        *self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default() += 1;
    }

    /// Every count so far.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Requests answered so far, all methods.
    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }
}

/// What changed from `before` to `after` (two snapshots): the requests in between, by key.
pub fn requests_between(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter_map(|(k, n)| {
            let d = n.saturating_sub(before.get(k).copied().unwrap_or(0));
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_method_and_query_path() {
        let log = RequestLog::default();
        log.record("status", None);
        let before = log.snapshot();
        log.record(
            "abci_query",
            Some("/ibc.core.channel.v1.Query/PacketCommitments"),
        );
        log.record(
            "abci_query",
            Some("/ibc.core.channel.v1.Query/PacketCommitments"),
        );
        log.record("status", None);
        assert_eq!(log.total(), 4);
        let between = requests_between(&before, &log.snapshot());
        assert_eq!(
            between,
            BTreeMap::from([
                (
                    "abci_query /ibc.core.channel.v1.Query/PacketCommitments".to_string(),
                    2
                ),
                ("status".to_string(), 1)
            ])
        );
    }
}
