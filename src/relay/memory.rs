//! How the daemon hands freed heap memory back to the operating system.
//!
//! The relayer's work comes in bursts: thousands of packets arrive, their events, proofs and
//! txs are built on whichever runtime thread is free, and a few blocks later all of it is
//! freed again. With glibc's malloc, memory freed like that mostly stays with the process:
//! every thread that allocates may get an arena of its own (up to 8 per core), and a freed
//! chunk goes back to the arena it came from, where it serves only that arena's later
//! requests. After each burst the free memory is scattered over more arenas in pieces the next
//! burst does not fit exactly, so the resident set creeps up burst after burst although
//! nothing leaks: in a soak of 50,000 packets (`tests/soak.rs`) the daemon's settled RSS grew
//! 13.5 % from the first 5,000 to the end, while its live heap stayed at 7-8 MiB.
//!
//! Two measures lower it (settled RSS after the first 5,000 packets: 55 MB without them, 40 MB
//! with them); the growth over the soak still varied from 6 % to 27 % across runs, so the soak
//! is not yet within its 10 % bound:
//!
//! - [`limit_arenas`], called once before the runtime starts its threads, caps the arenas at
//!   [`ARENAS`], so freed memory is found again by the next burst instead of waiting in an
//!   arena no thread uses at that moment. An operator's own `MALLOC_ARENA_MAX` or
//!   `GLIBC_TUNABLES` wins.
//! - [`settled`], called after each clearing round (the moment a burst has been worked off),
//!   asks the trimmer task ([`trim_when_asked`]) to call `malloc_trim(0)`, which gives the
//!   free pages of every arena back to the kernel. Trims are at most one per [`TRIM_EVERY`]:
//!   a request during that pause is served when it ends, and one more trim follows the first
//!   pause without a request, so the last burst's memory is returned too. Without the task
//!   (the relayer run in-process by a library user or a test) requests cost nothing and do
//!   nothing.
//!
//! Elsewhere than Linux with glibc both are no-ops.

use std::time::Duration;

use futures::FutureExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The most malloc arenas the daemon uses.
pub(crate) const ARENAS: i32 = 2;

/// The least time between two trims.
pub(crate) const TRIM_EVERY: Duration = Duration::from_secs(30);

/// Trim requests not yet served (one stored permit at most).
static REQUESTS: Notify = Notify::const_new();

/// Caps glibc's malloc arenas at [`ARENAS`] unless the environment already tunes them. Call
/// before any thread is started: arenas that exist stay.
pub(crate) fn limit_arenas() {
    let tuned = std::env::var_os("MALLOC_ARENA_MAX").is_some()
        || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc.arena_max"));
    if !tuned {
        sys::limit_arenas(ARENAS);
    }
}

/// Tells the trimmer that work has settled and freed memory may be returned.
pub(crate) fn settled() {
    REQUESTS.notify_one();
}

/// Serves trim requests, at most one trim per [`TRIM_EVERY`], until `token` is cancelled.
/// While requests keep coming it trims once a pause; when a pause passes without one it trims
/// once more and waits: what the last burst held a little longer (the results of the recent
/// heights, say) is returned too.
pub(crate) async fn trim_when_asked(token: CancellationToken) {
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = REQUESTS.notified() => {}
        }
        loop {
            trim().await;
            if !pause(&token).await {
                return;
            }
            // A stored permit completes the future at once.
            let asked = REQUESTS.notified().now_or_never().is_some();
            if !asked {
                trim().await;
                if !pause(&token).await {
                    return;
                }
                break;
            }
        }
    }
}

/// [`TRIM_EVERY`]; false when `token` was cancelled meanwhile.
async fn pause(token: &CancellationToken) -> bool {
    tokio::select! {
        _ = token.cancelled() => false,
        _ = tokio::time::sleep(TRIM_EVERY) => true,
    }
}

/// One `malloc_trim`, off the runtime's threads (walking the arenas takes a moment on a large
/// heap).
async fn trim() {
    match tokio::task::spawn_blocking(sys::trim).await {
        Ok(true) => tracing::debug!("freed heap memory returned to the system"),
        Ok(false) => tracing::debug!("no freed heap memory to return"),
        Err(e) => tracing::warn!(error = %e, "malloc_trim task failed"),
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod sys {
    /// `mallopt(M_ARENA_MAX, n)`.
    pub(super) fn limit_arenas(n: i32) {
        // SAFETY: mallopt takes two integers and only changes malloc's own parameters; glibc
        // serialises it against concurrent allocations.
        let ok = unsafe { libc::mallopt(libc::M_ARENA_MAX, n) };
        if ok != 1 {
            tracing::debug!("mallopt(M_ARENA_MAX) refused");
        }
    }

    /// `malloc_trim(0)`: true when memory was returned.
    pub(super) fn trim() -> bool {
        // SAFETY: malloc_trim takes a plain size and locks each arena while it releases its
        // free pages; it touches no memory the program owns.
        unsafe { libc::malloc_trim(0) == 1 }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod sys {
    pub(super) fn limit_arenas(_: i32) {}

    pub(super) fn trim() -> bool {
        false
    }
}
