//! Signed headers and validator sets of a chain's recent heights, shared by every clone of its
//! [`super::IbcQuerier`]: a client update to height `H` needs the signed header and validators of
//! `H` and the validators of the trusted height + 1, and every engine of the chain (one per
//! signer), client refresh, closes and handshakes build updates to the same few heights. Each is
//! fetched once per (chain, height); callers asking for a height being fetched wait for that
//! fetch instead of making their own. A failed fetch is not kept, so the next caller tries again.
//!
//! Both are final once the block is committed (CometBFT does not reorganise), so nothing is ever
//! invalidated; only the [`KEPT_HEIGHTS`] highest heights of each are kept.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tendermint::block::signed_header::SignedHeader;
use tendermint::validator::Info;
use tokio::sync::OnceCell;

use super::QueryError;

/// Heights kept of each kind: updates target the last few blocks, and trusted heights lag
/// behind by at most a batch's worth.
pub(crate) const KEPT_HEIGHTS: usize = 16;

type Slots<T> = Mutex<BTreeMap<u64, Arc<OnceCell<T>>>>;

/// Recent signed headers and validator sets of one chain.
#[derive(Default)]
pub(crate) struct Recent {
    headers: Slots<SignedHeader>,
    validators: Slots<Vec<Info>>,
}

impl std::fmt::Debug for Recent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn len<T>(slots: &Slots<T>) -> usize {
            slots.lock().map_or(0, |m| m.len())
        }
        f.debug_struct("Recent")
            .field("headers", &len(&self.headers))
            .field("validators", &len(&self.validators))
            .finish()
    }
}

impl Recent {
    /// The signed header at `height`, fetched with `fetch` unless kept or being fetched.
    pub(crate) async fn header<F, Fut>(
        &self,
        height: u64,
        fetch: F,
    ) -> Result<SignedHeader, QueryError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<SignedHeader, QueryError>>,
    {
        slot(&self.headers, height)
            .get_or_try_init(fetch)
            .await
            .cloned()
    }

    /// The validators at `height`, fetched with `fetch` unless kept or being fetched.
    pub(crate) async fn validators<F, Fut>(
        &self,
        height: u64,
        fetch: F,
    ) -> Result<Vec<Info>, QueryError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<Info>, QueryError>>,
    {
        slot(&self.validators, height)
            .get_or_try_init(fetch)
            .await
            .cloned()
    }
}

/// The slot of `height`, made if needed; the lowest heights beyond [`KEPT_HEIGHTS`] are dropped.
fn slot<T>(slots: &Slots<T>, height: u64) -> Arc<OnceCell<T>> {
    let mut slots = slots.lock().unwrap_or_else(|e| e.into_inner());
    let slot = slots.entry(height).or_default().clone();
    while slots.len() > KEPT_HEIGHTS {
        slots.pop_first();
    }
    slot
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn one_fetch_per_height_also_when_asked_at_once() {
        let recent = Recent::default();
        let fetches = AtomicUsize::new(0);
        let fetch = |n: u64| {
            let fetches = &fetches;
            move || async move {
                fetches.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                Ok(vec![Info::new(
                    tendermint::PublicKey::from_raw_ed25519(&[n as u8; 32]).expect("32 bytes"),
                    1u32.into(),
                )])
            }
        };
        let (a, b) = tokio::join!(
            recent.validators(7, fetch(7)),
            recent.validators(7, fetch(7))
        );
        assert_eq!(a.expect("fetched"), b.expect("fetched"));
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        recent.validators(7, fetch(7)).await.expect("kept");
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_fetch_is_not_kept_and_old_heights_go() {
        let recent = Recent::default();
        let failed: Result<Vec<Info>, QueryError> = recent
            .validators(1, || async {
                Err(QueryError::Decode {
                    chain: "devnet-1".into(),
                    what: "a test failure".into(),
                })
            })
            .await;
        assert!(failed.is_err());
        let ok = recent.validators(1, || async { Ok(Vec::new()) }).await;
        assert_eq!(ok.expect("second try"), Vec::new());
        for h in 2..=(KEPT_HEIGHTS as u64 + 5) {
            recent
                .validators(h, || async { Ok(Vec::new()) })
                .await
                .expect("kept");
        }
        let kept = recent
            .validators
            .lock()
            .expect("lock")
            .keys()
            .copied()
            .collect::<Vec<_>>();
        assert_eq!(kept.len(), KEPT_HEIGHTS);
        assert_eq!(
            kept.first().copied(),
            Some(6),
            "the lowest heights went first"
        );
    }
}
