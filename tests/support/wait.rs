//! Bounded waits: a test that hangs fails with the name of what it waited for.

use std::future::Future;
use std::time::Duration;

/// `f`'s output, or a panic naming `what` when it takes longer than `limit`.
pub async fn bounded<T>(limit: Duration, what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: not done within {limit:?}"),
    }
}
