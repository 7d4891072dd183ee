//! The timed event queue: events ordered by (virtual time, insertion order), in buckets per instant.

use std::collections::BTreeMap;

/// Buckets kept for reuse once drained, so a steady run allocates no new ones.
const SPARE_BUCKETS: usize = 64;

/// Most events the spare buckets may hold room for, all together: a flood's
/// few large buckets are kept (refilling a freed one would fault in its pages
/// again at every hop), while a one-off burst beyond this, such as a million
/// nodes' handshake timers, is freed rather than held for good.
const SPARE_MAX_EVENTS: usize = 1 << 24;

/// A priority queue of events keyed by virtual time in nanoseconds. Events
/// at the same instant come out in the order they went in, so a run is a
/// pure function of its inputs (the same as a heap keyed by `(time, seq)`).
///
/// Events are grouped in one `Vec` per distinct instant: with link latencies
/// drawn from a few values, a flood of millions of frames shares a handful of
/// instants, so pushing and popping cost O(1) amortised instead of the
/// O(log n) cache-missing sift of a binary heap.
#[derive(Debug)]
pub(crate) struct Queue<T> {
    buckets: BTreeMap<u64, Vec<T>>,
    spare: Vec<Vec<T>>,
    /// Capacity of the spare buckets, in events.
    spare_events: usize,
    len: usize,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue {
            buckets: BTreeMap::new(),
            spare: Vec::new(),
            spare_events: 0,
            len: 0,
        }
    }
}

impl<T> Queue<T> {
    /// Adds `item` at time `at`, after everything already queued for `at`.
    pub(crate) fn push(&mut self, at: u64, item: T) {
        self.len += 1;
        if let Some(bucket) = self.buckets.get_mut(&at) {
            bucket.push(item);
            return;
        }
        let mut bucket = self.spare.pop().unwrap_or_default();
        self.spare_events -= bucket.capacity();
        bucket.push(item);
        self.buckets.insert(at, bucket);
    }

    /// The earliest instant with events.
    pub(crate) fn next_time(&self) -> Option<u64> {
        self.buckets.first_key_value().map(|(t, _)| *t)
    }

    /// Takes every event of the earliest instant, in order. Events pushed for
    /// that same instant meanwhile form a new bucket, popped next.
    pub(crate) fn pop_bucket(&mut self) -> Option<(u64, Vec<T>)> {
        let (at, bucket) = self.buckets.pop_first()?;
        self.len -= bucket.len();
        Some((at, bucket))
    }

    /// Gives a drained bucket back for reuse.
    pub(crate) fn recycle(&mut self, mut bucket: Vec<T>) {
        bucket.clear();
        let room = SPARE_MAX_EVENTS - self.spare_events;
        if self.spare.len() < SPARE_BUCKETS && bucket.capacity() <= room {
            self.spare_events += bucket.capacity();
            // Largest last: the next instant, likely the flood's next hop, gets it.
            let at = self
                .spare
                .partition_point(|b| b.capacity() <= bucket.capacity());
            self.spare.insert(at, bucket);
        }
    }

    /// Drops the spare buckets (after a burst, such as the setup's
    /// handshakes, whose buckets later traffic does not need).
    pub(crate) fn release_spares(&mut self) {
        self.spare = Vec::new();
        self.spare_events = 0;
    }

    /// Events queued.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Earlier times first; within a time, insertion order.
    #[test]
    fn orders_by_time_then_insertion() {
        let mut q = Queue::default();
        q.push(5, 'a');
        q.push(1, 'b');
        q.push(5, 'c');
        q.push(1, 'd');
        assert_eq!(q.len(), 4);
        let (t, b) = q.pop_bucket().unwrap();
        assert_eq!((t, b.as_slice()), (1, ['b', 'd'].as_slice()));
        q.recycle(b);
        q.push(5, 'e');
        let (t, b) = q.pop_bucket().unwrap();
        assert_eq!((t, b.as_slice()), (5, ['a', 'c', 'e'].as_slice()));
        assert!(q.pop_bucket().is_none());
    }
}
