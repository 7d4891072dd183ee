//! `RateLimit`: a token bucket per connection for new message ids, driven by the caller's `now`.

use std::time::Duration;

use super::clock::Instant;

/// How many new ids a connection may bring: `burst` at once, refilled at
/// `rate` per second. Kept as the cell-rate form of a token bucket (one
/// `Instant` per connection instead of a count and a refill time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Time one token takes to come back (1 s / rate).
    interval: Duration,
    /// How far ahead of `now` the bucket's clock may run: `burst - 1` intervals.
    tolerance: Duration,
}

impl RateLimit {
    /// `burst` ids at once, `rate` more per second (each at least 1).
    pub fn new(rate: u32, burst: u32) -> Self {
        let interval = Duration::from_secs(1) / rate.max(1);
        RateLimit {
            interval,
            tolerance: interval.saturating_mul(burst.max(1) - 1),
        }
    }
}

/// One connection's bucket: full when new.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    /// When the bucket would be full again if nothing more were taken.
    full_at: Instant,
}

impl Bucket {
    /// Takes one token at `now`; `false` (and nothing taken) if the bucket is empty.
    pub fn take(&mut self, limit: &RateLimit, now: Instant) -> bool {
        let start = self.full_at.max(now);
        if start.saturating_since(now) > limit.tolerance {
            return false;
        }
        self.full_at = start + limit.interval;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_epoch(Duration::from_millis(ms))
    }

    /// A full bucket gives `burst` tokens at once, then one per interval.
    #[test]
    fn burst_then_rate() {
        let limit = RateLimit::new(10, 5); // one token every 100 ms
        let mut b = Bucket::default();
        let t = at(1_000);
        assert_eq!((0..8).filter(|_| b.take(&limit, t)).count(), 5);
        assert!(!b.take(&limit, at(1_099)));
        assert!(b.take(&limit, at(1_100)));
        assert!(!b.take(&limit, at(1_100)));
        // After a long quiet spell the bucket is full again, never fuller.
        assert_eq!((0..8).filter(|_| b.take(&limit, at(60_000))).count(), 5);
    }

    /// A steady stream at the rate is never refused.
    #[test]
    fn steady_stream_at_the_rate_passes() {
        let limit = RateLimit::new(1_000, 1);
        let mut b = Bucket::default();
        assert!((0..10_000).all(|i| b.take(&limit, at(i))));
        assert!(!b.take(&limit, at(9_999)));
    }
}
