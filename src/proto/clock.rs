//! Time as the protocol sees it: a point given by the executor, never read from a clock here.

use std::ops::Add;
use std::time::Duration;

/// A point in time, measured from an epoch the executor chooses (the node's
/// start for an actor, zero for the simulator's virtual clock).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(Duration);

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant(Duration::ZERO);

    /// The point `since` after the epoch.
    pub fn from_epoch(since: Duration) -> Self {
        Instant(since)
    }

    /// How long after the epoch this point is.
    pub fn since_epoch(self) -> Duration {
        self.0
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d))
    }
}
