//! Strict sequence order on an ORDERED channel: the destination accepts packet `n + 1` only
//! after `n` (and the source takes acknowledgements in order too), so submitting `n + 1` while
//! `n` is still failing only makes `n + 1` fail and pay. The [`OrderedGate`] holds a worker
//! task's jobs per direction and releases the contiguous run of sequences that starts at the
//! lowest one held, once that lowest job is ready; nothing more of that direction is released
//! until the whole run's outcomes are known. A job that failed comes back with its backoff and
//! holds everything above it, which then follows it in order, without waiting for clearing.

use std::collections::BTreeMap;

use tokio::time::Instant;

use super::channel::{Job, Side};

/// Most jobs released as one run (the engine cuts them into txs in this order).
pub(crate) const MAX_RUN: usize = 100;

/// The jobs of one worker task on an ordered channel, by direction.
#[derive(Default)]
pub(crate) struct OrderedGate {
    dirs: [Direction; 2],
}

#[derive(Default)]
struct Direction {
    /// Jobs by sequence, each with the earliest instant it may go (its backoff).
    held: BTreeMap<u64, (Job, Instant)>,
    /// Jobs of the released run whose outcome is not known yet.
    in_flight: usize,
}

impl OrderedGate {
    /// Holds `job` until `not_before`. A second job for a held sequence keeps the later instant
    /// (a backoff is never cut short: the cache would refuse the claim).
    pub(crate) fn push(&mut self, job: Job, not_before: Instant) {
        let dir = &mut self.dirs[job.from.index()];
        match dir.held.get_mut(&job.packet.sequence) {
            Some((_, at)) => *at = (*at).max(not_before),
            None => {
                dir.held.insert(job.packet.sequence, (job, not_before));
            }
        }
    }

    /// The next run of each direction that has nothing in flight: the lowest held sequence and
    /// those directly following it, as long as each is `ready` (its proof height exists) and
    /// past its backoff. Nothing is released when the lowest is not ready.
    pub(crate) fn release(&mut self, now: Instant, ready: impl Fn(&Job) -> bool) -> Vec<Job> {
        let mut out = Vec::new();
        for dir in &mut self.dirs {
            if dir.in_flight > 0 {
                continue;
            }
            let mut run = Vec::new();
            let mut expected = None;
            for (&seq, (job, at)) in &dir.held {
                let follows = expected.is_none_or(|e| e == seq);
                if !follows || *at > now || !ready(job) || run.len() >= MAX_RUN {
                    break;
                }
                run.push(seq);
                expected = Some(seq + 1);
            }
            out.extend(
                run.iter()
                    .filter_map(|s| dir.held.remove(s).map(|(j, _)| j)),
            );
        }
        out
    }

    /// A released job of direction `from` was handed to an engine.
    pub(crate) fn started(&mut self, from: Side) {
        self.dirs[from.index()].in_flight += 1;
    }

    /// The outcome of a started job of direction `from` came back.
    pub(crate) fn finished(&mut self, from: Side) {
        let dir = &mut self.dirs[from.index()];
        dir.in_flight = dir.in_flight.saturating_sub(1);
    }

    /// Whether no job is held in either direction (nothing waits for a height).
    pub(crate) fn holds_nothing(&self) -> bool {
        self.dirs.iter().all(|d| d.held.is_empty())
    }

    /// When a held run may become releasable by time alone (the earliest backoff of a lowest
    /// held job in a direction with nothing in flight), if ever.
    pub(crate) fn next_wake(&self) -> Option<Instant> {
        self.dirs
            .iter()
            .filter(|d| d.in_flight == 0)
            .filter_map(|d| d.held.values().next().map(|(_, at)| *at))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ibc_proto::ibc::core::channel::v1::Packet;
    use std::time::Duration;

    fn job(from: Side, sequence: u64) -> Job {
        Job {
            from,
            packet: Packet {
                sequence,
                ..Default::default()
            },
            ack: Vec::new(),
            event_height: 0,
        }
    }

    fn seqs(jobs: &[Job]) -> Vec<u64> {
        jobs.iter().map(|j| j.packet.sequence).collect()
    }

    #[test]
    fn releases_contiguous_runs_one_at_a_time() {
        let mut gate = OrderedGate::default();
        let now = Instant::now();
        for s in [4, 2, 3, 6] {
            gate.push(job(Side::A, s), now);
        }
        let run = gate.release(now, |_| true);
        assert_eq!(seqs(&run), vec![2, 3, 4]);
        for _ in &run {
            gate.started(Side::A);
        }
        // Nothing more while the run is in flight, even the next sequence.
        gate.push(job(Side::A, 5), now);
        assert!(gate.release(now, |_| true).is_empty());
        for _ in 0..3 {
            gate.finished(Side::A);
        }
        assert_eq!(seqs(&gate.release(now, |_| true)), vec![5, 6]);
    }

    #[test]
    fn a_failed_job_holds_the_later_ones_until_its_backoff_ends() {
        let mut gate = OrderedGate::default();
        let now = Instant::now();
        gate.push(job(Side::A, 7), now + Duration::from_secs(2));
        gate.push(job(Side::A, 8), now);
        gate.push(job(Side::B, 1), now);
        // The other direction is independent.
        assert_eq!(seqs(&gate.release(now, |_| true)), vec![1]);
        assert_eq!(gate.next_wake(), Some(now + Duration::from_secs(2)));
        assert!(gate
            .release(now + Duration::from_secs(1), |_| true)
            .is_empty());
        // A duplicate keeps the later instant.
        gate.push(job(Side::A, 7), now);
        assert!(gate
            .release(now + Duration::from_secs(1), |_| true)
            .is_empty());
        let later = now + Duration::from_secs(2);
        assert!(gate.release(later, |j| j.packet.sequence != 7).is_empty());
        assert_eq!(seqs(&gate.release(later, |_| true)), vec![7, 8]);
    }
}
