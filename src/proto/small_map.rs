//! `SmallMap`: an ordered map for the few entries a node keeps per link, in one exact-sized allocation.
//!
//! A node has a handful of links, and keeps a connection, a peer and a
//! catch-up record for each. A `BTreeMap` allocates its leaves whole (eleven
//! slots for eight links) and a `Vec` doubles; across a simulated million
//! nodes that slack was gigabytes. This map keeps its entries sorted by key
//! in a vector that grows and shrinks by what it holds, so lookups are a
//! binary search over a few entries and iteration is in key order, as with
//! the `BTreeMap` it replaces.

/// Up to this many entries a map grows by one at a time, so its vector is
/// exactly as long as the map (a node's link count changes rarely and by
/// one; an insertion copies the few entries). Past it, the vector doubles
/// as a `Vec` does, so a map of thousands (a link's feed claims) is built in
/// linear time.
pub const EXACT_GROWTH_MAX: usize = 16;

/// An ordered map in a sorted vector of exact size (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmallMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        SmallMap {
            entries: Vec::new(),
        }
    }
}

impl<K: Ord, V> SmallMap<K, V> {
    /// An empty map (allocates nothing).
    pub fn new() -> Self {
        Self::default()
    }

    fn find(&self, key: &K) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.cmp(key))
    }

    /// The value under `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    /// The key as stored and the value under `key`.
    pub fn get_key_value(&self, key: &K) -> Option<(&K, &V)> {
        self.find(key).ok().map(|i| {
            let (k, v) = &self.entries[i];
            (k, v)
        })
    }

    /// The value under `key`, to change.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.find(key).ok().map(|i| &mut self.entries[i].1)
    }

    /// True when `key` has a value.
    pub fn contains_key(&self, key: &K) -> bool {
        self.find(key).is_ok()
    }

    /// Puts `value` under `key`; the value it replaces, if any.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.insert_at(i, key, value);
                None
            }
        }
    }

    /// The entries from `key` on (it included), in key order.
    pub fn from(&self, key: &K) -> impl DoubleEndedIterator<Item = (&K, &V)> + ExactSizeIterator {
        let start = self.find(key).unwrap_or_else(|i| i);
        self.entries[start..].iter().map(|(k, v)| (k, v))
    }

    /// The value under `key`, or `make()` put there first.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(&key) {
            Ok(i) => i,
            Err(i) => {
                self.insert_at(i, key, make());
                i
            }
        };
        &mut self.entries[i].1
    }

    /// Puts a new entry at position `i`, growing by exactly one slot up to
    /// [`EXACT_GROWTH_MAX`] entries.
    fn insert_at(&mut self, i: usize, key: K, value: V) {
        if self.entries.len() < EXACT_GROWTH_MAX {
            self.entries.reserve_exact(1);
        } else {
            self.entries.reserve(1);
        }
        self.entries.insert(i, (key, value));
    }

    /// Takes the value under `key` out.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.find(key).ok()?;
        let (_, v) = self.entries.remove(i);
        self.shrink();
        Some(v)
    }

    /// Keeps only the entries `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
        self.shrink();
    }

    /// Gives memory back once at most half of it is used.
    fn shrink(&mut self) {
        if self.entries.len() <= self.entries.capacity() / 2 {
            self.entries.shrink_to_fit();
        }
    }
}

impl<K, V> SmallMap<K, V> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + ExactSizeIterator {
        self.into_iter()
    }

    /// The entries in key order, values changeable.
    pub fn iter_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = (&K, &mut V)> + ExactSizeIterator {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The values in key order, changeable.
    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + ExactSizeIterator {
        self.entries.iter_mut().map(|(_, v)| v)
    }
}

impl<'a, K, V> IntoIterator for &'a SmallMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Inserts, replacements and removals leave the same entries, in the
    /// same order, as a `BTreeMap` given the same calls.
    #[test]
    fn behaves_as_an_ordered_map() {
        let mut small = SmallMap::new();
        let mut tree = BTreeMap::new();
        let mut x: u64 = 7;
        for step in 0..2_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = (x >> 33) % 24;
            if x.is_multiple_of(3) {
                assert_eq!(small.remove(&key), tree.remove(&key));
            } else {
                assert_eq!(small.insert(key, step), tree.insert(key, step));
            }
            assert_eq!(small.get(&key), tree.get(&key));
            assert_eq!(small.len(), tree.len());
            assert!(small.iter().eq(tree.iter()));
        }
        small.retain(|k, _| k % 2 == 0);
        tree.retain(|k, _| k % 2 == 0);
        assert!(small.iter().eq(tree.iter()));
        assert!(small.keys().rev().eq(tree.keys().rev()));
        for key in 0..25 {
            assert!(small.from(&key).eq(tree.range(key..)));
        }
    }

    /// The vector is as long as a small map, doubles past [`EXACT_GROWTH_MAX`],
    /// and gives memory back as the map empties.
    #[test]
    fn holds_no_slack() {
        let mut map = SmallMap::new();
        for k in 0..EXACT_GROWTH_MAX as u32 {
            map.insert(k, ());
            assert_eq!(map.entries.capacity(), map.len());
        }
        // Past the limit it doubles: a thousand entries take a few allocations.
        for k in EXACT_GROWTH_MAX as u32..1_000 {
            map.insert(k, ());
        }
        assert!(map.entries.capacity() < 2 * 1_000);
        map.retain(|k, _| *k < 8);
        for k in 0..6u32 {
            map.remove(&k);
        }
        assert!(map.entries.capacity() <= 4);
        *map.get_or_insert_with(9, || ()) = ();
        assert!(map.contains_key(&9) && map.get_key_value(&9) == Some((&9, &())));
    }
}
