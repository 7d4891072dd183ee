//! The seen-cache: which broadcasts and direct messages this node has already handled.

use std::collections::{HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::clock::Instant;
use super::wire::Envelope;

/// What identifies one message for deduplication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeenKey {
    /// An unsigned message that carries an `id`: the first 128 bits of
    /// SHA-256 over its id, type, originator and text ([`unsigned_key`]),
    /// never the bare id, so a frame that reuses another's id with other
    /// words is not taken for it.
    Unsigned(u128),
    /// An original peer's message without `id`: a hash of `(originator, msg, time)`.
    /// The hasher has fixed keys, so every node (and every simulation run) agrees.
    Legacy(u64),
    /// A signed message whose signature and derived id verified: kept apart
    /// from unsigned ids, so an unsigned frame can never squat a signed id.
    Signed(u128),
}

impl SeenKey {
    /// The key of a message: a signed message's (derived, checked) id, an
    /// unsigned one's hash of id, type, originator and text, or else an
    /// original peer's `(type, originator, msg, time)` hash.
    pub fn of(env: &Envelope) -> SeenKey {
        match env.id {
            Some(id) if env.sig.is_some() => SeenKey::Signed(id.as_uuid().as_u128()),
            Some(id) => SeenKey::Unsigned(unsigned_key(
                id.as_uuid().as_u128(),
                &env.msg_type,
                env.originator.as_str(),
                &env.msg,
            )),
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

/// Domain separation of [`unsigned_key`]'s hash.
const UNSIGNED_DOMAIN: &[u8] = b"peerchat-unsigned-seen-v1";

/// The seen-cache key of an unsigned message with an id: the first 128
/// bits of SHA-256 over a domain tag, the id's 16 bytes, and the type,
/// originator and text each prefixed by its length (u64, big-endian; a
/// text that is not a JSON string is hashed as its JSON encoding).
pub fn unsigned_key(id: u128, msg_type: &str, originator: &str, msg: &Value) -> u128 {
    let mut h = Sha256::new();
    h.update(UNSIGNED_DOMAIN);
    h.update(id.to_be_bytes());
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    field(msg_type.as_bytes());
    field(originator.as_bytes());
    match msg {
        Value::String(text) => field(text.as_bytes()),
        other => field(other.to_string().as_bytes()),
    }
    let digest = h.finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(first)
}

/// Entries a seen-cache finds by scanning, before it keeps a hash index of
/// them: below this a scan of a few cache lines beats hashing, and a node
/// that sees little traffic (most of a simulated million) holds no index.
pub const SEEN_INDEX_MIN: usize = 32;

/// One remembered key, packed into 24 bytes: the 128 bits of the key, and
/// the time seen (nanoseconds) shifted left twice, with the key's kind
/// (unsigned, legacy, signed) in the low two bits.
#[derive(Debug, Clone, Copy)]
struct Entry {
    hi: u64,
    lo: u64,
    meta: u64,
}

impl Entry {
    fn new(key: SeenKey, at: Instant) -> Entry {
        // 62 bits of nanoseconds last 146 years from the executor's epoch.
        let nanos = u64::try_from(at.since_epoch().as_nanos())
            .map_or(u64::MAX >> 2, |n| n.min(u64::MAX >> 2));
        let (bits, kind) = match key {
            SeenKey::Unsigned(id) => (id, 0),
            SeenKey::Legacy(h) => (u128::from(h), 1),
            SeenKey::Signed(id) => (id, 2),
        };
        Entry {
            hi: (bits >> 64) as u64,
            lo: bits as u64,
            meta: nanos << 2 | kind,
        }
    }

    fn key(&self) -> SeenKey {
        let bits = u128::from(self.hi) << 64 | u128::from(self.lo);
        match self.meta & 3 {
            1 => SeenKey::Legacy(bits as u64),
            2 => SeenKey::Signed(bits),
            _ => SeenKey::Unsigned(bits),
        }
    }

    fn at(&self) -> Instant {
        Instant::from_epoch(Duration::from_nanos(self.meta >> 2))
    }

    fn is(&self, other: &Entry) -> bool {
        self.lo == other.lo && self.hi == other.hi && (self.meta ^ other.meta) & 3 == 0
    }
}

/// A set of recently seen keys, bounded in entries and in age, so memory stays
/// flat under any traffic. The oldest entries go first.
///
/// Entries are kept in arrival order (which is also age order, as time only
/// moves forward); a hash index over them exists only while the cache holds
/// [`SEEN_INDEX_MIN`] entries or more.
#[derive(Debug)]
pub struct SeenCache {
    order: VecDeque<Entry>,
    /// Boxed: a cache below [`SEEN_INDEX_MIN`] (most of a simulation's) has none.
    // Eight bytes inline, not forty-eight, for the index most never build.
    #[allow(clippy::box_collection)]
    index: Option<Box<HashSet<SeenKey>>>,
    max_entries: usize,
    max_age: Duration,
    /// When the newest signed entry dropped for room (not for age) was
    /// seen: signed messages from before then may have been forgotten early.
    horizon: Option<Instant>,
}

impl SeenCache {
    /// An empty cache holding at most `max_entries` keys, each for at most `max_age`.
    pub fn new(max_entries: usize, max_age: Duration) -> Self {
        SeenCache {
            order: VecDeque::new(),
            index: None,
            max_entries: max_entries.max(1),
            max_age,
            horizon: None,
        }
    }

    /// Records `key` at `now`. Returns `true` if it is new, `false` if it was
    /// already in the cache (a duplicate).
    pub fn insert(&mut self, key: SeenKey, now: Instant) -> bool {
        self.expire(now);
        if self.contains(&key) {
            return false;
        }
        while self.order.len() >= self.max_entries {
            if let Some(e) = self.order.front().filter(|e| e.meta & 3 == 2) {
                self.horizon = Some(e.at());
            }
            self.pop_oldest();
        }
        self.order.push_back(Entry::new(key, now));
        match &mut self.index {
            Some(index) => {
                index.insert(key);
            }
            None if self.order.len() >= SEEN_INDEX_MIN => {
                self.index = Some(Box::new(self.order.iter().map(Entry::key).collect()));
            }
            None => {}
        }
        true
    }

    /// True if `key` is in the cache.
    pub fn contains(&self, key: &SeenKey) -> bool {
        match &self.index {
            Some(index) => index.contains(key),
            None => {
                let probe = Entry::new(*key, Instant::ZERO);
                self.order.iter().any(|e| e.is(&probe))
            }
        }
    }

    /// Drops every entry older than the maximum age.
    pub fn expire(&mut self, now: Instant) {
        while let Some(e) = self.order.front() {
            if now.saturating_since(e.at()) < self.max_age {
                break;
            }
            self.pop_oldest();
        }
    }

    /// The time the newest signed key dropped for room (before its age)
    /// was seen: a signed message from before it may be a replay the cache
    /// no longer knows. `None` while no signed key was dropped early.
    pub fn horizon(&self) -> Option<Instant> {
        self.horizon
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn pop_oldest(&mut self) {
        let Some(e) = self.order.pop_front() else {
            return;
        };
        if let Some(index) = &mut self.index {
            index.remove(&e.key());
            // Hysteresis: the index goes once the cache is well below the
            // size that built it, so a cache near the threshold does not
            // rebuild it on every other insert.
            if self.order.len() < SEEN_INDEX_MIN / 2 {
                self.index = None;
            }
        }
        if self.order.is_empty() {
            // An idle node gives its buffer back.
            self.order = VecDeque::new();
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
        assert!(c.insert(SeenKey::Unsigned(1), at(0)));
        assert!(!c.insert(SeenKey::Unsigned(1), at(1)));
    }

    /// The entry bound holds under a stream of unique keys.
    #[test]
    fn bounded_in_entries() {
        let mut c = SeenCache::new(100, Duration::from_secs(3600));
        for i in 0..100_000u128 {
            c.insert(SeenKey::Unsigned(i), at(0));
        }
        assert_eq!(c.len(), 100);
        assert!(c.contains(&SeenKey::Unsigned(99_999)));
        assert!(!c.contains(&SeenKey::Unsigned(0)));
    }

    /// Past the index threshold and back: lookups agree with a plain set,
    /// legacy keys, unsigned keys and signed ids with the same bits stay apart.
    #[test]
    fn index_built_and_dropped() {
        let mut c = SeenCache::new(1000, Duration::from_millis(100));
        assert!(c.insert(SeenKey::Legacy(5), at(0)));
        assert!(c.insert(SeenKey::Unsigned(5), at(0)));
        assert!(!c.insert(SeenKey::Legacy(5), at(0)));
        assert!(c.insert(SeenKey::Signed(5), at(0)));
        assert!(!c.insert(SeenKey::Signed(5), at(0)));
        for i in 0..(SEEN_INDEX_MIN as u128 * 2) {
            assert!(c.insert(SeenKey::Unsigned(1000 + i), at(10)));
        }
        assert!(c.index.is_some());
        assert!(c.contains(&SeenKey::Legacy(5)) && c.contains(&SeenKey::Unsigned(1063)));
        assert!(!c.insert(SeenKey::Unsigned(1001), at(20)));
        c.expire(at(105));
        assert_eq!(c.len(), SEEN_INDEX_MIN * 2);
        assert!(!c.contains(&SeenKey::Legacy(5)) && !c.contains(&SeenKey::Unsigned(5)));
        assert!(!c.contains(&SeenKey::Signed(5)));
        c.expire(at(110));
        assert!(c.is_empty() && c.index.is_none());
        assert!(c.insert(SeenKey::Unsigned(1001), at(120)));
    }

    /// A signed key dropped for room sets the horizon; one dropped for age,
    /// or an unsigned one, does not.
    #[test]
    fn horizon_marks_signed_keys_dropped_early() {
        let mut c = SeenCache::new(2, Duration::from_millis(500));
        c.insert(SeenKey::Unsigned(1), at(0));
        c.insert(SeenKey::Signed(2), at(10));
        c.insert(SeenKey::Unsigned(3), at(20));
        assert_eq!(c.horizon(), None);
        c.insert(SeenKey::Unsigned(4), at(30));
        assert_eq!(c.horizon(), Some(at(10)));
        c.insert(SeenKey::Signed(5), at(40));
        c.expire(at(1000));
        assert_eq!(c.horizon(), Some(at(10)));
    }

    /// Entries expire after the maximum age.
    #[test]
    fn bounded_in_age() {
        let mut c = SeenCache::new(100, Duration::from_millis(500));
        c.insert(SeenKey::Unsigned(1), at(0));
        c.insert(SeenKey::Unsigned(2), at(400));
        c.expire(at(500));
        assert!(!c.contains(&SeenKey::Unsigned(1)));
        assert!(c.contains(&SeenKey::Unsigned(2)));
    }
}
