//! Who a flood can reach: node sets as bitsets, and the one search over links that both engines use.

/// A fixed-size set of node indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bitset {
    words: Vec<u64>,
}

impl Bitset {
    pub(crate) fn new(n: usize) -> Bitset {
        Bitset {
            words: vec![0; n.div_ceil(64)],
        }
    }

    pub(crate) fn from_fn(n: usize, f: impl Fn(usize) -> bool) -> Bitset {
        let mut b = Bitset::new(n);
        for i in (0..n).filter(|&i| f(i)) {
            b.words[i / 64] |= 1 << (i % 64);
        }
        b
    }

    /// Adds `i`; true if it was not there.
    pub(crate) fn set(&mut self, i: u32) -> bool {
        let (w, bit) = ((i / 64) as usize, 1u64 << (i % 64));
        let fresh = self.words[w] & bit == 0;
        self.words[w] |= bit;
        fresh
    }

    pub(crate) fn get(&self, i: u32) -> bool {
        self.words
            .get((i / 64) as usize)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    pub(crate) fn count(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// Members of `self` that are in every one of `others` (all of one size).
    pub(crate) fn count_and(&self, others: &[&Bitset]) -> u64 {
        let mut n = 0;
        for (k, &w) in self.words.iter().enumerate() {
            let w = others.iter().fold(w, |acc, o| acc & o.words[k]);
            n += u64::from(w.count_ones());
        }
        n
    }

    /// Members of `self` not in `other` (of the same size), in order.
    pub(crate) fn minus<'a>(&'a self, other: &'a Bitset) -> impl Iterator<Item = u32> + 'a {
        self.words.iter().enumerate().flat_map(move |(k, &w)| {
            let mut w = w & !other.words[k];
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let bit = w.trailing_zeros();
                w &= w - 1;
                Some(k as u32 * 64 + bit)
            })
        })
    }
}

/// The nodes a flood from `from` can reach among `n`: `from` itself if it is
/// running, and every running node joined to it by a path of running nodes,
/// each step from a node to one of its `neighbours` (whom it forwards to).
///
/// The model passes each node's registered peers; the cluster, which cannot
/// look into its nodes' tables without asking them, passes the topology's links.
pub(crate) fn reachable<'a>(
    n: usize,
    from: u32,
    running: impl Fn(u32) -> bool,
    neighbours: impl Fn(u32) -> &'a [u32],
) -> Bitset {
    let mut seen = Bitset::new(n);
    if (from as usize) >= n || !running(from) {
        return seen;
    }
    let mut stack = vec![from];
    seen.set(from);
    while let Some(x) = stack.pop() {
        for &y in neighbours(x) {
            if (y as usize) < n && running(y) && seen.set(y) {
                stack.push(y);
            }
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bitset members, counts and differences.
    #[test]
    fn bitset_ops() {
        let mut a = Bitset::new(130);
        assert!(a.set(129) && a.set(3) && !a.set(3));
        let b = Bitset::from_fn(130, |i| i == 3);
        assert_eq!(a.count(), 2);
        assert_eq!(a.count_and(&[&b]), 1);
        assert_eq!(a.minus(&b).collect::<Vec<_>>(), vec![129]);
        assert!(a.get(129) && !a.get(4) && !a.get(100_000));
    }

    /// The search follows links between running nodes only: a stopped node
    /// cuts a line in two, and a stopped sender reaches nobody.
    #[test]
    fn reach_stops_at_stopped_nodes() {
        // A line 0 - 1 - 2 - 3 - 4, both directions.
        let adj: Vec<Vec<u32>> = vec![vec![1], vec![0, 2], vec![1, 3], vec![2, 4], vec![3]];
        let all = reachable(5, 0, |_| true, |x| &adj[x as usize]);
        assert_eq!(all.count(), 5);
        let cut = reachable(5, 0, |i| i != 2, |x| &adj[x as usize]);
        assert_eq!(cut.minus(&Bitset::new(5)).collect::<Vec<_>>(), vec![0, 1]);
        let none = reachable(5, 2, |i| i != 2, |x| &adj[x as usize]);
        assert_eq!(none.count(), 0);
        // Links only one way: 4 forwards to nobody.
        let one_way: Vec<Vec<u32>> = vec![vec![], vec![], vec![], vec![], vec![]];
        assert_eq!(
            reachable(5, 4, |_| true, |x| &one_way[x as usize]).count(),
            1
        );
    }
}
