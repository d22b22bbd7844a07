//! Channels closed on the destination against two devnets (started with the devnet's
//! `allow_channel_close` test switch, so an ICS-20 end can be closed by a real tx): the
//! pending packets are timed out with `MsgTimeoutOnClose` and their senders refunded, whether
//! the end was closed while the daemon ran or while it was down.

mod support;

use std::time::Duration;

use devnet::harness::{timeouts, TestChain};
use devnet::testing::close_channel_msg;
use ibc_proto::ibc::core::channel::v1::Packet;
use support::{has_commitment, receive_counts, Harness};

const SETTLE: Duration = Duration::from_secs(120);

/// Clearing never runs on an interval: what is timed out is timed out by the worker itself.
const NO_CLEARING: &str = "clear_interval = 1000000\n";

async fn harness() -> Harness {
    Harness::with_nodes(false, NO_CLEARING, |c| c.allow_channel_close = true).await
}

/// Closes the channel's end on B with a real `MsgChannelCloseInit`.
async fn close_on_b(h: &Harness) {
    let (b, path) = (&h.chains.b, &h.chains.path);
    let msg = close_channel_msg(b, &path.port, &path.channel_b);
    b.submit_ok(&b.user, vec![msg])
        .await
        .expect("channel closed");
}

fn stake(chain: &TestChain) -> u128 {
    chain.balance(&chain.address(&chain.user), "stake").unwrap()
}

fn assert_timed_out_on_close(h: &Harness, packets: &[Packet], before: u128) {
    let (a, b, path) = (&h.chains.a, &h.chains.b, &h.chains.path);
    assert!(packets.iter().all(|p| !has_commitment(a, p)));
    assert_eq!(stake(a), before, "senders refunded");
    assert!(receive_counts(b, &path.channel_b).is_empty());
    // The packets expire 10,000 blocks after they were sent: only `MsgTimeoutOnClose` can
    // have timed them out this early.
    let expiry = packets[0].timeout_height.unwrap().revision_height;
    assert!(b.node().latest_height() < expiry);
    assert_eq!(timeouts(a, &path.channel_a), packets.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn closed_while_running_times_out_on_close() {
    let h = harness().await;
    let relayer = h.start_relayer();
    close_on_b(&h).await;
    let before = stake(&h.chains.a);
    // A's end is still OPEN: ICS-20 sends over it, but B can no longer receive.
    let packets = h.send_transfers(true, 3, 10, 3, 10_000).await;
    h.wait_all_settled(true, &packets, SETTLE).await;
    relayer.stop().await;
    assert_timed_out_on_close(&h, &packets, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn closed_while_stopped_is_found_after_a_restart() {
    let h = harness().await;
    let relayer = h.start_relayer();
    let first = h.send_transfers(true, 2, 10, 2, 10_000).await;
    h.wait_all_settled(true, &first, SETTLE).await;
    relayer.stop().await;

    let before = stake(&h.chains.a);
    let packets = h.send_transfers(true, 3, 10, 3, 10_000).await;
    close_on_b(&h).await;
    let relayer = h.start_relayer();
    h.wait_all_settled(true, &packets, SETTLE).await;
    relayer.stop().await;
    assert_eq!(
        receive_counts(&h.chains.b, &h.chains.path.channel_b).len(),
        2
    );
    let (a, path) = (&h.chains.a, &h.chains.path);
    assert!(packets.iter().all(|p| !has_commitment(a, p)));
    assert_eq!(stake(a), before, "senders refunded");
    assert_eq!(timeouts(a, &path.channel_a), packets.len());
    let expiry = packets[0].timeout_height.unwrap().revision_height;
    assert!(h.chains.b.node().latest_height() < expiry);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ordered_timeout_confirms_the_close_on_the_counterparty() {
    use ibc_proto::ibc::core::channel::v1::{Channel, State};
    use prost::Message;
    let h = Harness::new(true, NO_CLEARING).await;
    let (a, b, path) = (&h.chains.a, &h.chains.b, &h.chains.path);
    let before = stake(a);
    // Sent while no relayer runs, expiring 2 blocks later on B.
    let n = h.send_transfers(true, 1, 10, 1, 2).await;
    let expiry = n[0].timeout_height.unwrap().revision_height;
    b.wait_for_height(expiry + 1).await.unwrap();
    let state = |chain: &TestChain, channel: &str| {
        let q = chain.node().abci_query(
            "store/ibc/key",
            format!("channelEnds/ports/{}/channels/{channel}", path.port).as_bytes(),
            0,
            false,
        );
        Channel::decode(q.value.as_ref())
            .expect("channel end")
            .state
    };

    let relayer = h.start_relayer();
    h.wait_all_settled(true, &n, SETTLE).await;
    // The timeout closed A's end; the relayer then confirms the close on B.
    support::bounded(SETTLE, "MsgChannelCloseConfirm on B", async {
        while state(b, &path.channel_b) != State::Closed as i32 {
            tokio::time::sleep(support::BLOCK).await;
        }
    })
    .await;
    relayer.stop().await;
    assert_eq!(state(a, &path.channel_a), State::Closed as i32);
    assert_eq!(timeouts(a, &path.channel_a), 1);
    assert_eq!(stake(a), before, "sender refunded");
}
