//! Another relayer's delivery waiting in the destination's mempool: B's user signs
//! `MsgRecvPacket`s of packets sent on A, as a competing relayer would.

use std::time::Duration;

use cosmos::to_any;
use devnet::testing::{prepare_proof_height, recv_msg};
use ibc_proto::ibc::core::channel::v1::{MsgRecvPacket, Packet};
use prost::Message;

use super::harness::Harness;

/// Pauses B and puts into its mempool, from B's user, a transfer (sequence `n`) and a delivery
/// of `packets` (`n + 1`, proven at a height B's client of A was just updated to); returns `n`.
pub async fn competitor_pending(h: &Harness, packets: &[Packet]) -> u64 {
    let (a, b) = (&h.chains.a, &h.chains.b);
    let at = prepare_proof_height(a, b, &h.chains.path.client_b)
        .await
        .expect("client updated");
    let recvs: Vec<_> = packets
        .iter()
        .map(|p| {
            let msg = recv_msg(a, b, p, at).expect("delivery of a sent packet");
            let mut msg = MsgRecvPacket::decode(msg.value.as_slice()).expect("recv");
            msg.signer = b.address(&b.user);
            to_any(&msg)
        })
        .collect();
    b.devnet.pause();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut competitor = b.wallet(&b.user).expect("wallet");
    let n = competitor.sequence;
    for raw in [
        competitor.sign_next(vec![b.user_to_relayer(1)], Vec::new(), 200_000, ""),
        competitor.sign_next(recvs, Vec::new(), 5_000_000, ""),
    ] {
        let check = b.node().try_broadcast_tx(raw).expect("mempool takes it");
        assert_eq!(check.code.value(), 0, "{}", check.log);
    }
    n
}
