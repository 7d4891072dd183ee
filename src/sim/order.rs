//! Ordering one instant's events by node, stably, in buffers that are kept from instant to instant.

use super::node::Ev;

/// Buckets shorter than this are sorted by the standard library's stable sort,
/// whose scratch space is small; longer ones go through [`NodeOrder`], whose
/// buffers are reused, so a flood of millions of events does not map and
/// fault in fresh scratch pages at every instant.
pub(crate) const REUSED_SORT_MIN: usize = 1 << 14;

/// Reusable buffers for sorting buckets by node.
#[derive(Debug, Default)]
pub(crate) struct NodeOrder {
    keys: Vec<u64>,
    sorted: Vec<Ev>,
}

impl NodeOrder {
    /// Sorts `bucket` by [`Ev::node`], keeping each node's events in the order they came.
    pub(crate) fn sort(&mut self, bucket: &mut Vec<Ev>) {
        if bucket.len() < REUSED_SORT_MIN || bucket.len() > u32::MAX as usize {
            return bucket.sort_by_key(Ev::node);
        }
        // Node in the high half, position in the low half: sorting the keys
        // orders by node and, within a node, by arrival; it needs no scratch.
        self.keys.clear();
        self.keys.extend(
            bucket
                .iter()
                .enumerate()
                .map(|(i, e)| u64::from(e.node()) << 32 | i as u64),
        );
        self.keys.sort_unstable();
        self.sorted.clear();
        self.sorted.reserve(bucket.len());
        for &k in &self.keys {
            let slot = &mut bucket[(k & u64::from(u32::MAX)) as usize];
            self.sorted.push(std::mem::replace(slot, Ev::PLACEHOLDER));
        }
        std::mem::swap(bucket, &mut self.sorted);
        self.sorted.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Large buckets come out as the stable sort would have them.
    #[test]
    fn same_order_as_a_stable_sort() {
        let n = REUSED_SORT_MIN * 3 + 7;
        let make = || -> Vec<Ev> {
            (0..n as u32)
                .map(|i| Ev::RemoteClosed {
                    node: (i * 7919) % 1000,
                    conn: i,
                })
                .collect()
        };
        let mut expected = make();
        expected.sort_by_key(Ev::node);
        let mut got = make();
        let mut order = NodeOrder::default();
        order.sort(&mut got);
        order.sort(&mut got);
        let conns = |v: &[Ev]| -> Vec<(u32, u32)> {
            v.iter()
                .map(|e| match e {
                    Ev::RemoteClosed { node, conn } => (*node, *conn),
                    _ => (u32::MAX, u32::MAX),
                })
                .collect()
        };
        assert_eq!(conns(&got), conns(&expected));
    }
}
