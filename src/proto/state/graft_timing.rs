//! How long the tree waits before a `GRAFT`, learned from what the network
//! shows: how late eager copies come after their announcement, and how long
//! a graft's answer takes.
//!
//! Under load (W2: every node sends its burst at once) eager copies and graft
//! answers wait seconds in queues. A fixed `graft_timeout` then grafts nearly
//! every announced id, and `graft_retry` asks announcer after announcer for
//! it: each graft brings a full copy and turns a link eager, which adds load.
//! On a quiet network, eager copies come before their announcements (the
//! sweep sends those every `ihave_sweep`) and answers come in one round trip,
//! so nothing is learned and the waits stay at their floors: a node that lost
//! its eager path (a crash) grafts as soon as before.

use std::time::Duration;

use crate::config::TreeConfig;

/// A sample's weight in the running averages: 1/8, as TCP's smoothed RTT.
const EWMA_SHIFT: u32 = 3;

/// Running averages of one node's graft timings (all zero at start).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct GraftTiming {
    /// How long after an id was first announced its copy came by another
    /// path than a graft's answer (the eager copy, late).
    lag: Duration,
    /// How long a graft took to bring its message.
    rtt: Duration,
}

fn average(old: Duration, sample: Duration) -> Duration {
    let (old, sample) = (old.as_nanos() as i128, sample.as_nanos() as i128);
    let new = old + ((sample - old) >> EWMA_SHIFT);
    Duration::from_nanos(new.clamp(0, u64::MAX as i128) as u64)
}

impl GraftTiming {
    /// An announced id's copy came `after` its first announcement, not as
    /// the answer to a graft (the eager path delivered, late).
    pub(super) fn eager_late(&mut self, after: Duration) {
        self.lag = average(self.lag, after);
    }

    /// A graft's answer brought its message `after` the graft was sent.
    pub(super) fn answered(&mut self, after: Duration) {
        self.rtt = average(self.rtt, after);
    }

    /// The wait before the first `GRAFT` of an announced id: a quarter more
    /// than eager copies have lately trailed their announcements, within
    /// `graft_timeout..=graft_timeout_max`.
    pub(super) fn first_wait(&self, tree: &TreeConfig) -> Duration {
        (self.lag + self.lag / 4).clamp(tree.graft_timeout, tree.graft_timeout_max)
    }

    /// The wait before asking the next announcer: two graft round trips,
    /// within `graft_retry..=graft_timeout_max`; always `graft_retry` when
    /// `graft_timeout_max` is `graft_timeout` (learning off).
    pub(super) fn retry_wait(&self, tree: &TreeConfig) -> Duration {
        if tree.graft_timeout_max <= tree.graft_timeout {
            return tree.graft_retry;
        }
        (self.rtt * 2).clamp(
            tree.graft_retry,
            tree.graft_timeout_max.max(tree.graft_retry),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(max_ms: u64) -> TreeConfig {
        TreeConfig {
            graft_timeout: Duration::from_millis(200),
            graft_timeout_max: Duration::from_millis(max_ms),
            graft_retry: Duration::from_millis(100),
            ..TreeConfig::default()
        }
    }

    const MS: fn(u64) -> Duration = Duration::from_millis;

    /// Nothing learned: the floors.
    #[test]
    fn starts_at_the_floors() {
        let t = GraftTiming::default();
        assert_eq!(t.first_wait(&tree(5_000)), MS(200));
        assert_eq!(t.retry_wait(&tree(5_000)), MS(100));
    }

    /// Eager copies that trail their announcements by 2 s lengthen the
    /// first wait towards 2.5 s, an eighth of the way per sample.
    #[test]
    fn late_eager_copies_lengthen_the_first_wait() {
        let mut t = GraftTiming::default();
        t.eager_late(MS(2_000));
        assert_eq!(
            t.first_wait(&tree(5_000)),
            MS(312) + Duration::from_micros(500)
        );
        for _ in 0..100 {
            t.eager_late(MS(2_000));
        }
        let wait = t.first_wait(&tree(5_000));
        assert!(wait > MS(2_490) && wait <= MS(2_500), "{wait:?}");
        // Samples near zero bring it back down to the floor.
        for _ in 0..100 {
            t.eager_late(MS(1));
        }
        assert_eq!(t.first_wait(&tree(5_000)), MS(200));
    }

    /// Slow answers space the retries at two round trips.
    #[test]
    fn slow_answers_space_the_retries() {
        let mut t = GraftTiming::default();
        for _ in 0..100 {
            t.answered(MS(800));
        }
        let retry = t.retry_wait(&tree(5_000));
        assert!(retry > MS(1_590) && retry <= MS(1_600), "{retry:?}");
    }

    /// Past `graft_timeout_max`, both waits stop growing; with the maximum
    /// at the floor (no learning), they never move.
    #[test]
    fn bounded_by_graft_timeout_max() {
        let mut t = GraftTiming::default();
        for _ in 0..100 {
            t.eager_late(Duration::from_secs(60));
            t.answered(Duration::from_secs(60));
        }
        assert_eq!(t.first_wait(&tree(5_000)), MS(5_000));
        assert_eq!(t.retry_wait(&tree(5_000)), MS(5_000));
        assert_eq!(t.first_wait(&tree(200)), MS(200));
        assert_eq!(t.retry_wait(&tree(200)), MS(100));
    }
}
