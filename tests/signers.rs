//! Several signers on one chain: packets are shared out among them, each signer with its own
//! sequence, so one signer's sequence trouble (foreign txs signed with its key, as when an
//! operator reuses a key elsewhere) delays only its own share, not the packets the others
//! handle.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use arke::relay::supervisor::PairKeys;
use devnet::harness::{block_events, TestChain};
use support::{funded_account, metric, Harness};

const BLOCK: Duration = Duration::from_secs(1);

/// Packets sent, in waves of [`PER_WAVE`] per block.
const PACKETS: usize = 60;
const PER_WAVE: usize = 6;

/// Per sequence: the block time (ns) of the `event` on `channel` (attribute `attr`) and the
/// signer of its tx (from the ante handler's `acc_seq` event).
fn packet_blocks(
    chain: &TestChain,
    event: &str,
    attr: &str,
    channel: &str,
) -> BTreeMap<u64, Vec<(i128, String)>> {
    let mut found: BTreeMap<u64, Vec<(i128, String)>> = BTreeMap::new();
    for e in block_events(chain, 1, event) {
        if e.attrs.get(attr).map(String::as_str) != Some(channel) {
            continue;
        }
        let sequence: u64 = e.attrs["packet_sequence"].parse().expect("sequence");
        found.entry(sequence).or_default().push((e.time, e.signer));
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signer_in_sequence_trouble_does_not_delay_the_other_signers() {
    let h = Harness::with_nodes(false, "", |c| c.block_time = BLOCK).await;
    let (a, b, path) = (&h.chains.a, &h.chains.b, &h.chains.path);
    let second = funded_account(b, 10_000_000_000).await;
    let troubled = funded_account(b, 10_000_000_000).await;
    let keys = PairKeys::new(a.relayer.clone(), b.relayer.clone())
        .with_more(Vec::new(), vec![second.clone(), troubled.clone()]);
    let relayer = h.start_relayer_ready_with(keys).await;
    let healthy = [b.address(&b.relayer), b.address(&second)];
    let troubled_address = b.address(&troubled);

    // Foreign txs with the troubled signer's key, one after another for as long as packets
    // flow: each one that lands takes the sequence the relayer's engine expects next.
    let stop = AtomicBool::new(false);
    let landed = AtomicUsize::new(0);
    let trouble = async {
        let to = b.address(&b.user);
        while !stop.load(Ordering::Relaxed) {
            let msg = ibc_proto::cosmos::bank::v1beta1::MsgSend {
                from_address: b.address(&troubled),
                to_address: to.clone(),
                amount: vec![ibc_proto::cosmos::base::v1beta1::Coin {
                    denom: "stake".into(),
                    amount: "1".into(),
                }],
            };
            // Refused at CheckTx while the relayer's tx holds the sequence: try again.
            match b.submit(&troubled, vec![cosmos::to_any(&msg)]).await {
                Ok(_) => {
                    landed.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    };
    let work = async {
        let mut sent = Vec::new();
        for _ in 0..PACKETS / PER_WAVE {
            sent.extend(h.send_transfers(true, PER_WAVE, 1, PER_WAVE, 10_000).await);
            a.wait_for_height(a.node().latest_height() + 1)
                .await
                .unwrap();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
        loop {
            let received = packet_blocks(b, "recv_packet", "packet_dst_channel", &path.channel_b);
            if sent.iter().all(|p| received.contains_key(&p.sequence)) {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                stop.store(true, Ordering::Relaxed);
                panic!("{} of {PACKETS} packets received in time", received.len());
            }
            tokio::time::sleep(BLOCK).await;
        }
        stop.store(true, Ordering::Relaxed);
        sent
    };
    let ((), sent) = tokio::join!(trouble, work);
    relayer.stop().await;

    let sends = packet_blocks(a, "send_packet", "packet_src_channel", &path.channel_a);
    let receives = packet_blocks(b, "recv_packet", "packet_dst_channel", &path.channel_b);
    let mut by_signer: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for p in &sent {
        let recv = &receives[&p.sequence];
        assert_eq!(recv.len(), 1, "packet {} received once", p.sequence);
        let (recv_time, signer) = &recv[0];
        let send_time = sends[&p.sequence][0].0;
        let blocks = (recv_time - send_time) as f64 / BLOCK.as_nanos() as f64;
        by_signer.entry(signer.clone()).or_default().push(blocks);
    }
    let worst = |signer: &str| {
        by_signer
            .get(signer)
            .map(|l| l.iter().copied().fold(0.0, f64::max))
    };
    eprintln!(
        "send→receive in blocks per signer (worst): {:?}; foreign txs landed: {}",
        by_signer
            .iter()
            .map(|(s, l)| (s.as_str(), l.len(), worst(s)))
            .collect::<Vec<_>>(),
        landed.load(Ordering::Relaxed)
    );
    assert!(
        by_signer
            .keys()
            .all(|s| healthy.contains(s) || *s == troubled_address),
        "only the relayer's signers received packets: {:?}",
        by_signer.keys()
    );
    // The fault was real: foreign txs took the troubled signer's sequences and its engine met
    // the mismatch.
    assert!(landed.load(Ordering::Relaxed) > 0, "no foreign tx landed");
    assert!(
        metric("arke_txs_failed_total", &[("cause", "sequence_mismatch")])
            + metric(
                "arke_simulation_failures_total",
                &[("cause", "sequence_mismatch")]
            )
            > 0.0,
        "the troubled signer's engine never met a sequence mismatch"
    );
    for signer in &healthy {
        let worst = worst(signer).expect("each healthy signer handled a share");
        assert!(
            worst <= 3.0,
            "packets of healthy signer {signer} took up to {worst} blocks"
        );
    }
}
