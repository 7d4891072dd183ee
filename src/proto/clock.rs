//! Time as the protocol sees it: a point given by the executor, never read from a clock here.

use std::ops::Add;
use std::time::Duration;

/// A point in time, measured from an epoch the executor chooses (the node's
/// start for an actor, zero for the simulator's virtual clock).
///
/// Held as nanoseconds in 64 bits (eight bytes, not a `Duration`'s sixteen:
/// a node keeps several per link, a simulation millions of nodes); points
/// past [`Instant::MAX`], 584 years on, are taken as it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

/// `d` in nanoseconds, saturating at `u64::MAX`.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant(0);

    /// The latest point an `Instant` holds, about 584 years after the epoch.
    pub const MAX: Instant = Instant(u64::MAX);

    /// The point `since` after the epoch (at most [`Instant::MAX`]).
    pub fn from_epoch(since: Duration) -> Self {
        Instant(nanos(since))
    }

    /// How long after the epoch this point is.
    pub fn since_epoch(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(nanos(d)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Eight bytes; sums and points past the range stop at [`Instant::MAX`].
    #[test]
    fn saturates_at_max() {
        assert_eq!(std::mem::size_of::<Instant>(), 8);
        let t = Instant::from_epoch(Duration::from_millis(1500));
        assert_eq!(t.since_epoch(), Duration::from_millis(1500));
        assert_eq!(
            t + Duration::from_secs(1),
            Instant::from_epoch(Duration::from_millis(2500))
        );
        assert_eq!(t + Duration::MAX, Instant::MAX);
        assert_eq!(Instant::from_epoch(Duration::MAX), Instant::MAX);
        assert_eq!(t.saturating_since(Instant::MAX), Duration::ZERO);
        assert_eq!(
            Instant::MAX.saturating_since(Instant::ZERO),
            Duration::from_nanos(u64::MAX)
        );
    }
}
