//! Finishing the close of an ORDERED channel: a `MsgTimeout` on an ordered channel closes the
//! source's end (IBC requires it), and the counterparty's end stays OPEN until someone proves
//! the closed end to it with `MsgChannelCloseConfirm`. The worker does that right after its own
//! ordered timeout, so the destination stops accepting packets and the packets still pending on
//! the source can be timed out on close (refunding their senders).

use std::time::Duration;

use cosmos::to_any;
use ibc_proto::ibc::core::channel::v1::{Channel, MsgChannelCloseConfirm, State};
use ibc_proto::ibc::core::client::v1::Height;
use prost::Message;
use tracing::{info, warn};

use super::channel::{ChannelSpec, Side};
use crate::chain::client_status::is_frozen;
use crate::chain::light::{update_client_msgs, TrustLevel};
use crate::tx::engine::Outcome;

/// How many blocks of the source to wait for the closed end to become provable.
const WAIT_BLOCKS: u32 = 20;

/// The end on `from` was closed by a timeout in the block at `closed_at`: confirms the close on
/// the other end, unless it is closed already. Failures are logged (clearing's failed delivery
/// check and a later ordered timeout try again).
pub(crate) async fn confirm_close(spec: &ChannelSpec, from: Side, closed_at: u64) {
    spec.set_closed(from);
    let to = from.other();
    if let Err(reason) = try_confirm(spec, from, closed_at).await {
        let end = spec.end(to);
        warn!(chain = %end.chain.config.id, port = %end.port, channel = %end.channel, %reason, "MsgChannelCloseConfirm not sent");
    }
}

async fn try_confirm(spec: &ChannelSpec, from: Side, closed_at: u64) -> Result<(), String> {
    let (src, dst) = (spec.end(from), spec.end(from.other()));
    let dst_end = dst
        .chain
        .query
        .channel(&dst.port, &dst.channel)
        .await
        .map_err(|e| format!("channel end: {e}"))?;
    if dst_end.is_some_and(|c| c.state == State::Closed as i32) {
        spec.set_closed(from.other());
        return Ok(());
    }
    // The state after block `closed_at` is proven at `closed_at` against header `closed_at + 1`.
    let mut latest = src.chain.hub.latest_height();
    let mut waited = 0;
    while *latest.borrow_and_update() < closed_at + 2 && waited < WAIT_BLOCKS {
        if tokio::time::timeout(Duration::from_secs(30), latest.changed())
            .await
            .map_or(true, |r| r.is_err())
        {
            return Err(format!("{} produced no block", src.chain.config.id));
        }
        waited += 1;
    }
    let client_state = dst
        .chain
        .query
        .client_state(&dst.client_id)
        .await
        .map_err(|e| format!("client state of {}: {e}", dst.client_id))?
        .ok_or_else(|| format!("client {} not found", dst.client_id))?;
    if is_frozen(&client_state) {
        return Err(format!("client {} is frozen", dst.client_id));
    }
    let trusted = client_state
        .latest_height
        .as_ref()
        .map_or(0, |h| h.revision_height);
    let top = src
        .chain
        .query
        .latest_height()
        .await
        .map_err(|e| format!("latest height: {e}"))?;
    let mut h = top.saturating_sub(1).max(closed_at);
    if trusted > h + 1 {
        h = trusted - 1;
    }
    let path = format!("channelEnds/ports/{}/channels/{}", src.port, src.channel);
    let (value, proof) = src
        .chain
        .query
        .prove(&path, h)
        .await
        .map_err(|e| format!("proof of {path} at {h}: {e}"))?;
    if Channel::decode(value.as_slice()).map(|c| c.state) != Ok(State::Closed as i32) {
        return Err(format!("{path} is not CLOSED at {h}"));
    }
    let signer = dst.chain.signer.clone();
    let mut msgs = Vec::new();
    if trusted < h + 1 {
        msgs = update_client_msgs(
            &src.chain.query,
            &dst.client_id,
            &signer,
            h + 1,
            trusted,
            TrustLevel::of(&client_state),
        )
        .await
        .map_err(|e| format!("header {} for {}: {e}", h + 1, dst.client_id))?;
    }
    msgs.push(to_any(&MsgChannelCloseConfirm {
        port_id: dst.port.clone(),
        channel_id: dst.channel.clone(),
        proof_init: proof,
        proof_height: Some(Height {
            revision_number: src.chain.query.revision(),
            revision_height: h + 1,
        }),
        signer,
        counterparty_upgrade_sequence: 0,
    }));
    match dst.chain.engine.submit_msgs(msgs).await {
        Outcome::Done { tx_hash, height } => {
            info!(chain = %dst.chain.config.id, port = %dst.port, channel = %dst.channel, %tx_hash, height, "channel close confirmed");
            spec.set_closed(from.other());
            Ok(())
        }
        Outcome::Redundant | Outcome::RedundantInMempool => {
            spec.set_closed(from.other());
            Ok(())
        }
        Outcome::Failed { reason, .. } => Err(reason),
    }
}
