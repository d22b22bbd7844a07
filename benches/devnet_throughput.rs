//! Devnet throughput: how long one block of 1,000 IBC packet messages takes to execute.
//!
//! Two devnets with an open ICS-20 channel; 1,000 transfers are sent on A (10 txs of 100
//! messages); B is paused, and a `MsgUpdateClient` plus 1,000 `MsgRecvPacket` with real ICS-23
//! proofs are broadcast to it in txs of at most 250 messages. Then B's next block is produced
//! directly (`Node::produce_block`, off the async runtime) and timed: that covers reaping the
//! mempool, executing every message (light-client header verification, proof verification,
//! receipts, acknowledgements, voucher minting), the app hash and the commit. The bench prints
//! the block execution time and the messages executed per second.
//!
//! Run with `cargo bench --bench devnet_throughput` (release build; about a minute).

use std::time::{Duration, Instant};

use cosmos::events::events_of;
use cosmos::{to_any, Coin};
use devnet::harness::{packet_from_event, transfer_msg, TestChain};
use devnet::testing::{client_height, recv_msg, ConnectedChains};
use ibc_proto::google::protobuf::Any;
use ibc_proto::ibc::core::channel::v1::Packet;
use ibc_proto::ibc::core::client::v1::MsgUpdateClient;

/// Transfers sent on A and received on B.
const PACKETS: usize = 1_000;
/// Transfers per tx on A.
const TRANSFERS_PER_TX: usize = 100;
/// Messages per tx on B.
const RECVS_PER_TX: usize = 250;
/// Block time of both chains while setting up (B is paused for the measured block).
const BLOCK_TIME: Duration = Duration::from_millis(200);
/// Gas limit of every tx the bench signs.
const GAS_PER_TX: u64 = 200_000_000;

fn main() {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run()) {
        eprintln!("devnet_throughput failed: {e}");
        std::process::exit(1);
    }
}

/// Broadcasts `raw` on `chain`, requiring CheckTx to pass; returns the tx hash.
fn broadcast(chain: &TestChain, raw: Vec<u8>) -> Result<[u8; 32], String> {
    let hash = cosmos::tx_hash(&raw);
    let check = chain
        .node()
        .try_broadcast_tx(raw)
        .map_err(|e| format!("broadcast: {e}"))?;
    if check.code.value() != 0 {
        return Err(format!(
            "CheckTx code {} ({}): {}",
            check.code.value(),
            check.codespace,
            check.log
        ));
    }
    Ok(hash)
}

/// Waits until every tx in `hashes` is committed on `chain`; fails on a non-zero result.
async fn wait_committed(
    chain: &TestChain,
    hashes: &[[u8; 32]],
) -> Result<Vec<devnet::node::TxRecord>, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found: Vec<_> = hashes.iter().filter_map(|h| chain.node().tx(h)).collect();
        if found.len() == hashes.len() {
            return found
                .into_iter()
                .map(|tx| {
                    if tx.result.code.value() == 0 {
                        Ok((*tx).clone())
                    } else {
                        Err(format!("tx failed: {}", tx.result.log))
                    }
                })
                .collect();
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{} of {} txs committed in time",
                found.len(),
                hashes.len()
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn run() -> Result<(), String> {
    let started = Instant::now();
    let chains = ConnectedChains::start(BLOCK_TIME, false).await?;
    let (a, b, path) = (&chains.a, &chains.b, &chains.path);
    println!(
        "setup: two devnets and an open channel in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // 1,000 transfers on A.
    let t = Instant::now();
    let sender = a.address(&a.user);
    let receiver = b.address(&b.user);
    let far = b.ibc_height(b.node().latest_height() + 1_000_000);
    let coin = Coin::new("stake", 1);
    let mut wallet = a.wallet(&a.user)?;
    let mut hashes = Vec::new();
    for _ in 0..PACKETS / TRANSFERS_PER_TX {
        let msgs = (0..TRANSFERS_PER_TX)
            .map(|_| transfer_msg(&sender, &receiver, &path.channel_a, &coin, Some(far), 0))
            .collect();
        hashes.push(broadcast(
            a,
            wallet.sign_next(msgs, Vec::new(), GAS_PER_TX, ""),
        )?);
    }
    let sent_txs = wait_committed(a, &hashes).await?;
    let packets: Vec<Packet> = sent_txs
        .iter()
        .flat_map(|tx| events_of(&tx.result.events, "send_packet"))
        .map(|attrs| packet_from_event(&attrs))
        .collect::<Result<_, _>>()?;
    if packets.len() != PACKETS {
        return Err(format!(
            "{} packets sent, expected {PACKETS}",
            packets.len()
        ));
    }
    println!(
        "sent {PACKETS} transfers on A in {} txs ({:.1} s)",
        sent_txs.len(),
        t.elapsed().as_secs_f64()
    );

    // Pause B; let any block in flight land.
    b.devnet.pause();
    tokio::time::sleep(BLOCK_TIME * 3).await;
    let b_height = b.node().latest_height();

    // Proofs at A's height h verify against A's header h + 1, which the update installs on B.
    let h = a.node().latest_height();
    a.wait_for_height(h + 1).await?;
    let t = Instant::now();
    let trusted = client_height(b, &path.client_b)?;
    let update = to_any(&MsgUpdateClient {
        client_id: path.client_b.clone(),
        client_message: Some(a.light_header(h + 1, trusted)?),
        signer: b.address(&b.relayer),
    });
    let recvs: Vec<Any> = packets
        .iter()
        .map(|p| recv_msg(a, b, p, h))
        .collect::<Result<_, _>>()?;
    let proof_bytes: usize = recvs.iter().map(|m| m.value.len()).sum();
    println!(
        "built {} MsgRecvPacket with proofs ({:.1} MB) in {:.2} s",
        recvs.len(),
        proof_bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let mut wallet = b.wallet(&b.relayer)?;
    let mut groups: Vec<Vec<Any>> = vec![vec![update]];
    groups.extend(recvs.chunks(RECVS_PER_TX).map(<[Any]>::to_vec));
    let msg_count: usize = groups.iter().map(Vec::len).sum();
    let mut hashes = Vec::new();
    let mut block_bytes = 0;
    for msgs in groups {
        let raw = wallet.sign_next(msgs, Vec::new(), GAS_PER_TX, "");
        block_bytes += raw.len();
        hashes.push(broadcast(b, raw)?);
    }
    println!(
        "CheckTx of {} txs ({msg_count} msgs, {:.1} MB) in {:.2} s",
        hashes.len(),
        block_bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    // The measured block.
    let node = b.node().clone();
    let elapsed = tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        node.produce_block().map(|()| t.elapsed())
    })
    .await
    .map_err(|e| format!("block task: {e}"))?
    .map_err(|e| format!("produce_block: {e}"))?;

    let block = b
        .node()
        .block(b_height + 1)
        .ok_or("the measured block is missing")?;
    let txs = b.node().block_txs(b_height + 1);
    if txs.len() != hashes.len() {
        return Err(format!(
            "block has {} txs, expected {}",
            txs.len(),
            hashes.len()
        ));
    }
    let mut recv_events = 0;
    let mut acks = 0;
    let mut gas_used = 0;
    for tx in &txs {
        if tx.result.code.value() != 0 {
            return Err(format!("tx failed in the block: {}", tx.result.log));
        }
        recv_events += events_of(&tx.result.events, "recv_packet").len();
        acks += events_of(&tx.result.events, "write_acknowledgement").len();
        gas_used += tx.result.gas_used;
    }
    if recv_events != PACKETS || acks != PACKETS {
        return Err(format!(
            "{recv_events} recv_packet and {acks} write_acknowledgement events, expected {PACKETS}"
        ));
    }
    b.devnet.resume();

    let secs = elapsed.as_secs_f64();
    println!(
        "block {} on B: {} txs, {msg_count} msgs (1 MsgUpdateClient + {PACKETS} MsgRecvPacket), {gas_used} gas",
        block.height(),
        txs.len()
    );
    println!("block execution time: {:.1} ms", secs * 1e3);
    println!(
        "messages executed per second: {:.0}",
        msg_count as f64 / secs
    );
    println!("total bench time: {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
