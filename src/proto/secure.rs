//! The no-downgrade memory: addresses and keys this node has seen on secure links, bounded, the oldest forgotten first.

use std::collections::{BTreeSet, VecDeque};

use super::identity::NodeKey;
use super::wire::PeerAddr;

/// Addresses and keys seen secure (each set bounded by `secure_memory`).
/// A dial of a remembered address never falls back to plaintext, and a
/// plaintext hello naming a remembered address or key is refused.
///
/// Nothing is allocated until something is remembered: a node that never
/// sees a secure link (the simulator's million) keeps sixteen bytes.
#[derive(Debug)]
pub struct SecureMemory {
    capacity: usize,
    sets: Option<Box<Sets>>,
}

#[derive(Debug)]
struct Sets {
    addrs: Bounded<PeerAddr>,
    keys: Bounded<NodeKey>,
}

impl SecureMemory {
    /// An empty memory holding at most `capacity` addresses and `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        SecureMemory {
            capacity,
            sets: None,
        }
    }

    fn sets(&mut self) -> &mut Sets {
        let capacity = self.capacity;
        self.sets.get_or_insert_with(|| {
            Box::new(Sets {
                addrs: Bounded::new(capacity),
                keys: Bounded::new(capacity),
            })
        })
    }

    /// Remembers `addr` as seen secure.
    pub fn remember_addr(&mut self, addr: PeerAddr) {
        self.sets().addrs.insert(addr);
    }

    /// Remembers `key` as seen on a secure link.
    pub fn remember_key(&mut self, key: NodeKey) {
        self.sets().keys.insert(key);
    }

    /// True if `addr` was seen secure (and not forgotten since).
    pub fn has_addr(&self, addr: &PeerAddr) -> bool {
        self.sets
            .as_ref()
            .is_some_and(|s| s.addrs.set.contains(addr))
    }

    /// True if `key` was seen on a secure link (and not forgotten since).
    pub fn has_key(&self, key: &NodeKey) -> bool {
        self.sets.as_ref().is_some_and(|s| s.keys.set.contains(key))
    }

    /// How many addresses are remembered.
    pub fn addrs(&self) -> usize {
        self.sets.as_ref().map_or(0, |s| s.addrs.set.len())
    }
}

/// A set that forgets its oldest member past `capacity`.
#[derive(Debug)]
struct Bounded<T> {
    set: BTreeSet<T>,
    order: VecDeque<T>,
    capacity: usize,
}

impl<T: Ord + Clone> Bounded<T> {
    fn new(capacity: usize) -> Self {
        Bounded {
            set: BTreeSet::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    fn insert(&mut self, value: T) {
        if !self.set.insert(value.clone()) {
            return;
        }
        self.order.push_back(value);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Past its capacity the memory forgets the oldest address first; a
    /// repeated address takes no second place.
    #[test]
    fn forgets_oldest_past_capacity() {
        let mut m = SecureMemory::new(2);
        let a = |p| PeerAddr::new("127.0.0.1", p);
        m.remember_addr(a(1));
        m.remember_addr(a(1));
        m.remember_addr(a(2));
        assert_eq!(m.addrs(), 2);
        m.remember_addr(a(3));
        assert!(!m.has_addr(&a(1)));
        assert!(m.has_addr(&a(2)) && m.has_addr(&a(3)));
        assert_eq!(m.addrs(), 2);
    }
}
