//! The engine's intake: one bounded queue per *lane*, served round-robin, so that one channel's
//! burst cannot make another channel's work wait behind it.
//!
//! A lane is one channel's work on this chain (the host end's port and channel of a relay
//! item: the destination of a `Recv`, the source of an `Ack` or a timeout), plus one lane for
//! message sets (`submit_msgs`: handshakes, client refresh, transfers). Each lane holds at most
//! `capacity` requests; a caller whose lane is full waits (back-pressure on that channel only).
//! The submitter takes requests one per lane in turn, so a batch holds the next item of every
//! lane with work before a second item of any. A lane exists only while it holds requests: the
//! lanes of stopped channels disappear with their last request, and memory is bounded by the
//! lanes with work times `capacity`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use tokio::sync::Notify;

use super::Request;
use crate::chain::types::RelayItem;

/// Requests one lane may hold before its callers wait.
pub(crate) const LANE_CAPACITY: usize = 1024;

/// Whose work a request is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Lane {
    /// Message sets (`submit_msgs`).
    Msgs,
    /// One channel's relay items, by the host end's port and channel.
    Channel {
        /// Port on this chain.
        port: String,
        /// Channel on this chain.
        channel: String,
    },
}

impl Lane {
    /// The lane of `item`: the channel end on the chain that executes its message.
    pub(crate) fn of(item: &RelayItem) -> Self {
        let effect = super::plan::Effect::of(item);
        Self::Channel {
            port: effect.port,
            channel: effect.channel,
        }
    }
}

/// The lanes and their requests.
#[derive(Default)]
struct Lanes {
    queues: HashMap<Lane, VecDeque<Request>>,
    /// Lanes holding requests, in the order they are served next.
    turn: VecDeque<Lane>,
    /// No more requests are taken.
    closed: bool,
}

/// The handles' side of an [`Intake`]: when the last handle is dropped the intake closes, and
/// the submitter ends once it has taken what is queued.
pub(super) struct Producer(pub(super) std::sync::Arc<Intake>);

impl Drop for Producer {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Intake")
    }
}

/// Per-lane bounded queues between the engine's handles and its submitter.
pub(super) struct Intake {
    lanes: Mutex<Lanes>,
    capacity: usize,
    /// Wakes the submitter: a request arrived or the intake closed.
    arrived: Notify,
    /// Wakes callers waiting for room in a full lane (or for the close).
    room: Notify,
}

impl Intake {
    /// An open intake whose lanes hold at most `capacity` requests each.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            lanes: Mutex::new(Lanes::default()),
            capacity: capacity.max(1),
            arrived: Notify::new(),
            room: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lanes> {
        self.lanes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `request` in `lane`, waiting while the lane is full. Gives the request back when
    /// the intake is closed.
    pub(super) async fn push(&self, lane: Lane, request: Request) -> Result<(), Request> {
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            {
                let mut guard = self.lock();
                if guard.closed {
                    return Err(request);
                }
                let lanes = &mut *guard;
                let queue = lanes.queues.entry(lane.clone()).or_default();
                if queue.len() < self.capacity {
                    if queue.is_empty() {
                        lanes.turn.push_back(lane);
                    }
                    queue.push_back(request);
                    drop(guard);
                    self.arrived.notify_one();
                    return Ok(());
                }
                // Registered before the lock is released: a request taken from the lane
                // after this point wakes this caller.
                room.as_mut().enable();
            }
            room.await;
        }
    }

    /// The next request in turn, if any is queued.
    pub(super) fn try_recv(&self) -> Option<Request> {
        let mut lanes = self.lock();
        let lane = lanes.turn.pop_front()?;
        let lanes = &mut *lanes;
        let queue = lanes.queues.get_mut(&lane)?;
        let request = queue.pop_front();
        if queue.is_empty() {
            lanes.queues.remove(&lane);
        } else {
            lanes.turn.push_back(lane);
        }
        self.room.notify_waiters();
        request
    }

    /// The next request in turn, waiting for one; `None` once the intake is closed and empty.
    pub(super) async fn recv(&self) -> Option<Request> {
        loop {
            if let Some(request) = self.try_recv() {
                return Some(request);
            }
            if self.lock().closed {
                return None;
            }
            // `notify_one` keeps a permit when nobody waits, so a request pushed since the
            // look above is not missed.
            self.arrived.notified().await;
        }
    }

    /// Takes no more requests; what is queued can still be received.
    pub(super) fn close(&self) {
        self.lock().closed = true;
        self.room.notify_waiters();
        self.arrived.notify_one();
    }

    /// Requests queued in all lanes, and the number of lanes holding them.
    #[cfg(test)]
    pub(super) fn depth(&self) -> (usize, usize) {
        let lanes = self.lock();
        (
            lanes.queues.values().map(VecDeque::len).sum(),
            lanes.turn.len(),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::oneshot;

    use super::*;

    fn msgs(tag: u8) -> Request {
        let (reply, _) = oneshot::channel();
        Request::Msgs {
            msgs: vec![ibc_proto::google::protobuf::Any {
                type_url: String::new(),
                value: vec![tag],
            }],
            reply,
        }
    }

    fn tag(request: Request) -> u8 {
        match request {
            Request::Msgs { msgs, .. } => msgs[0].value[0],
            Request::Relay(_) => panic!("a relay request"),
        }
    }

    fn lane(channel: &str) -> Lane {
        Lane::Channel {
            port: "transfer".into(),
            channel: channel.into(),
        }
    }

    #[tokio::test]
    async fn serves_lanes_in_turn_whatever_one_lane_holds() {
        let intake = Intake::new(1000);
        for _ in 0..500 {
            intake.push(lane("channel-0"), msgs(0)).await.unwrap();
        }
        intake.push(lane("channel-1"), msgs(1)).await.unwrap();
        intake.push(Lane::Msgs, msgs(2)).await.unwrap();
        intake.push(lane("channel-1"), msgs(1)).await.unwrap();
        let first: Vec<u8> = (0..6).map(|_| tag(intake.try_recv().unwrap())).collect();
        assert_eq!(first, [0, 1, 2, 0, 1, 0]);
        // The lanes that ran dry are gone; the burst lane remains.
        assert_eq!(intake.depth(), (497, 1));
    }

    #[tokio::test]
    async fn a_full_lane_waits_and_others_do_not() {
        let intake = std::sync::Arc::new(Intake::new(2));
        intake.push(lane("channel-0"), msgs(0)).await.unwrap();
        intake.push(lane("channel-0"), msgs(0)).await.unwrap();
        let third = {
            let intake = intake.clone();
            tokio::spawn(async move { intake.push(lane("channel-0"), msgs(0)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!third.is_finished(), "a full lane takes no more");
        // Another lane is not held up by the full one.
        tokio::time::timeout(
            Duration::from_secs(1),
            intake.push(lane("channel-1"), msgs(1)),
        )
        .await
        .expect("another lane has room")
        .unwrap();
        assert_eq!(tag(intake.try_recv().unwrap()), 0);
        tokio::time::timeout(Duration::from_secs(1), third)
            .await
            .expect("room made")
            .unwrap()
            .unwrap();
        assert_eq!(intake.depth(), (3, 2));
    }

    #[tokio::test]
    async fn a_closed_intake_refuses_and_drains() {
        let intake = std::sync::Arc::new(Intake::new(1));
        intake.push(lane("channel-0"), msgs(7)).await.unwrap();
        let waiting = {
            let intake = intake.clone();
            tokio::spawn(async move { intake.push(lane("channel-0"), msgs(8)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        intake.close();
        let refused = tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("the waiting caller is released")
            .unwrap();
        assert_eq!(tag(refused.expect_err("refused")), 8);
        assert!(intake.push(lane("channel-1"), msgs(9)).await.is_err());
        assert_eq!(tag(intake.recv().await.unwrap()), 7);
        assert!(intake.recv().await.is_none());
    }

    #[tokio::test]
    async fn recv_wakes_for_a_request_pushed_later() {
        let intake = std::sync::Arc::new(Intake::new(4));
        let receiver = {
            let intake = intake.clone();
            tokio::spawn(async move { intake.recv().await.map(tag) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        intake.push(lane("channel-3"), msgs(3)).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(1), receiver)
            .await
            .expect("woken")
            .unwrap();
        assert_eq!(got, Some(3));
    }
}
