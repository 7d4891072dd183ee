//! The seen-cache: which broadcasts and direct messages this node has already handled.

use std::collections::{HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use super::clock::Instant;
use super::wire::Envelope;

/// What identifies one message for deduplication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeenKey {
    /// A message that carries an `id`.
    Id(u128),
    /// An original peer's message without `id`: a hash of `(originator, msg, time)`.
    /// The hasher has fixed keys, so every node (and every simulation run) agrees.
    Legacy(u64),
}

impl SeenKey {
    /// The key of a message: its id, or else its `(originator, msg, time)` triple.
    pub fn of(env: &Envelope) -> SeenKey {
        match env.id {
            Some(id) => SeenKey::Id(id.as_uuid().as_u128()),
            None => {
                let mut h = DefaultHasher::new();
                env.msg_type.hash(&mut h);
                env.originator.hash(&mut h);
                env.msg.to_string().hash(&mut h);
                env.time.to_string().hash(&mut h);
                SeenKey::Legacy(h.finish())
            }
        }
    }
}

/// A set of recently seen keys, bounded in entries and in age, so memory stays
/// flat under any traffic. The oldest entries go first.
#[derive(Debug)]
pub struct SeenCache {
    seen: HashMap<SeenKey, Instant>,
    order: VecDeque<(Instant, SeenKey)>,
    max_entries: usize,
    max_age: Duration,
}

impl SeenCache {
    /// An empty cache holding at most `max_entries` keys, each for at most `max_age`.
    pub fn new(max_entries: usize, max_age: Duration) -> Self {
        SeenCache {
            seen: HashMap::new(),
            order: VecDeque::new(),
            max_entries: max_entries.max(1),
            max_age,
        }
    }

    /// Records `key` at `now`. Returns `true` if it is new, `false` if it was
    /// already in the cache (a duplicate).
    pub fn insert(&mut self, key: SeenKey, now: Instant) -> bool {
        self.expire(now);
        if self.seen.contains_key(&key) {
            return false;
        }
        while self.seen.len() >= self.max_entries {
            self.pop_oldest();
        }
        self.seen.insert(key, now);
        self.order.push_back((now, key));
        true
    }

    /// True if `key` is in the cache.
    pub fn contains(&self, key: &SeenKey) -> bool {
        self.seen.contains_key(key)
    }

    /// Drops every entry older than the maximum age.
    pub fn expire(&mut self, now: Instant) {
        while let Some(&(at, _)) = self.order.front() {
            if now.saturating_since(at) < self.max_age {
                break;
            }
            self.pop_oldest();
        }
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    fn pop_oldest(&mut self) {
        if let Some((_, key)) = self.order.pop_front() {
            self.seen.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_epoch(Duration::from_millis(ms))
    }

    /// A key is new once, then a duplicate.
    #[test]
    fn second_insert_is_duplicate() {
        let mut c = SeenCache::new(10, Duration::from_secs(1));
        assert!(c.insert(SeenKey::Id(1), at(0)));
        assert!(!c.insert(SeenKey::Id(1), at(1)));
    }

    /// The entry bound holds under a stream of unique keys.
    #[test]
    fn bounded_in_entries() {
        let mut c = SeenCache::new(100, Duration::from_secs(3600));
        for i in 0..100_000u128 {
            c.insert(SeenKey::Id(i), at(0));
        }
        assert_eq!(c.len(), 100);
        assert!(c.contains(&SeenKey::Id(99_999)));
        assert!(!c.contains(&SeenKey::Id(0)));
    }

    /// Entries expire after the maximum age.
    #[test]
    fn bounded_in_age() {
        let mut c = SeenCache::new(100, Duration::from_millis(500));
        c.insert(SeenKey::Id(1), at(0));
        c.insert(SeenKey::Id(2), at(400));
        c.expire(at(500));
        assert!(!c.contains(&SeenKey::Id(1)));
        assert!(c.contains(&SeenKey::Id(2)));
    }
}
