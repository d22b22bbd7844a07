//! `arke clear`'s library entry, `relay::clear::clear_once`, against two devnets with an open channel:
//! transfers sent both ways while no relayer runs, some of them already expired, are all
//! received, acknowledged or timed out by one call; nothing stays pending afterwards.

mod support;

use std::time::Duration;

use arke::handshake::querier_for;
use arke::relay::clear::{clear_once, Progress};
use arke::relay::clearing::pending_on;
use arke::relay::supervisor::PairKeys;

use support::{failed_txs, has_commitment, receive_counts, voucher, Harness};

const WAIT: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clear_relays_everything_pending_once() {
    let h = Harness::new(false, "").await;
    let (a, b, path) = (&h.chains.a, &h.chains.b, &h.chains.path);
    let user_a = a.address(&a.user);
    let user_b = b.address(&b.user);
    let start_a = a.balance(&user_a, "stake").unwrap();

    // No relayer runs: 20 transfers A→B, 10 B→A, and 3 A→B that expire 3 blocks later on B.
    let to_b = h.send_transfers(true, 20, 2, 10, 10_000).await;
    let to_a = h.send_transfers(false, 10, 3, 10, 10_000).await;
    let expiring = h.send_transfers(true, 3, 5, 3, 3).await;
    let timeout = expiring[0].timeout_height.unwrap().revision_height;
    b.wait_for_height(timeout + 1).await.unwrap();

    let (qa, qb) = (
        querier_for(&h.config.chains.a).unwrap(),
        querier_for(&h.config.chains.b).unwrap(),
    );
    let pending = || {
        pending_on(
            &qa,
            &qb,
            &path.port,
            &path.channel_a,
            &path.port,
            &path.channel_b,
        )
    };
    assert_eq!(pending().await.unwrap().total(), 33);

    // An unknown channel is an error that names it.
    let keys = || PairKeys::new(a.relayer.clone(), b.relayer.clone());
    let err = clear_once(&h.config, keys(), Some("channel-99"), &mut |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("channel-99"), "{err}");

    let mut seen = Vec::new();
    let report = tokio::time::timeout(
        WAIT,
        clear_once(&h.config, keys(), Some(&path.channel_a), &mut |p| {
            seen.push(p)
        }),
    )
    .await
    .expect("clear finishes")
    .expect("clear succeeds");
    assert_eq!(
        report.channels,
        vec![format!("{}/{}", path.port, path.channel_a)]
    );
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.received, 30, "{report:?}");
    assert_eq!(report.acked, 30, "{report:?}");
    assert_eq!(report.timed_out, 3, "{report:?}");
    // Round 1 delivers and times out; round 2 returns the acknowledgements.
    assert!(report.rounds >= 2, "{report:?}");
    assert!(
        matches!(
            seen.first(),
            Some(Progress::Round {
                round: 1,
                items: 33
            })
        ),
        "{seen:?}"
    );
    assert!(seen.contains(&Progress::Step {
        done: 33,
        total: 33
    }));

    // Chain state: no commitment left, vouchers arrived, the expired packets were refunded.
    for p in to_b.iter().chain(&expiring) {
        assert!(!has_commitment(a, p), "commitment of {} left", p.sequence);
    }
    for p in &to_a {
        assert!(!has_commitment(b, p), "commitment of {} left", p.sequence);
    }
    assert_eq!(
        b.balance(&user_b, &voucher("transfer", &path.channel_b, "stake"))
            .unwrap(),
        40
    );
    assert_eq!(
        a.balance(&user_a, &voucher("transfer", &path.channel_a, "stake"))
            .unwrap(),
        30
    );
    assert_eq!(a.balance(&user_a, "stake").unwrap(), start_a - 40);
    assert_eq!(receive_counts(b, &path.channel_b).len(), 20);
    assert_eq!(pending().await.unwrap().total(), 0);
    assert!(failed_txs(a).is_empty(), "{:?}", failed_txs(a));
    assert!(failed_txs(b).is_empty(), "{:?}", failed_txs(b));

    // A second run finds nothing to do.
    let again = clear_once(&h.config, keys(), None, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(again.rounds, 0, "{again:?}");
    assert_eq!(again.received + again.acked + again.timed_out, 0);
}
