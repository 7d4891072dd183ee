//! `Tally`: what the nodes' event readers record (deliveries and dropped peers), shared per arbiter under a lock.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use crate::proto::MessageId;

/// Deliveries and peer drops as the nodes' event readers record them, on
/// whatever arbiter they run. Shared under a lock instead of a channel, so
/// that a delivery costs no cross-thread wake-up of the measuring task.
#[derive(Default)]
pub(super) struct Tally {
    inner: Mutex<TallyInner>,
}

#[derive(Default)]
struct TallyInner {
    /// Per message id: each node that delivered it, and when.
    by_id: HashMap<MessageId, Deliveries>,
    total: u64,
    duplicates: u64,
    /// `(node, peer, when)`: `node` dropped its peer `peer`.
    drops: Vec<(u32, u32, Instant)>,
    /// Peers registered minus peers dropped, over this tally's nodes.
    registered: i64,
}

#[derive(Default)]
struct Deliveries {
    at: HashMap<u32, Instant>,
    last: Option<Instant>,
}

impl Tally {
    fn lock(&self) -> MutexGuard<'_, TallyInner> {
        // Nothing panics while holding this lock; recover the data if it did.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `node` delivered `id` at `at`.
    pub(super) fn record(&self, id: MessageId, node: u32, at: Instant) {
        let mut t = self.lock();
        let d = t.by_id.entry(id).or_default();
        let fresh = match d.at.entry(node) {
            Entry::Vacant(slot) => {
                slot.insert(at);
                d.last = d.last.max(Some(at));
                true
            }
            Entry::Occupied(_) => false,
        };
        if fresh {
            t.total += 1;
        } else {
            t.duplicates += 1;
        }
    }

    /// `node` dropped `peer` at `at`.
    pub(super) fn dropped(&self, node: u32, peer: u32, at: Instant) {
        let mut t = self.lock();
        t.drops.push((node, peer, at));
        t.registered -= 1;
    }

    /// One of this tally's nodes registered a peer.
    pub(super) fn registered(&self) {
        self.lock().registered += 1;
    }

    /// Peers registered minus peers dropped so far (link ends up, if no event was missed).
    pub(super) fn link_ends(&self) -> i64 {
        self.lock().registered
    }

    /// Nodes that delivered `id`, and when the last of them did.
    pub(super) fn progress(&self, id: MessageId) -> (u64, Option<Instant>) {
        let t = self.lock();
        t.by_id
            .get(&id)
            .map_or((0, None), |d| (d.at.len() as u64, d.last))
    }

    /// Adds each node that delivered `id`, with when, to `into`.
    pub(super) fn deliveries_of(&self, id: MessageId, into: &mut Vec<(u32, Instant)>) {
        if let Some(d) = self.lock().by_id.get(&id) {
            into.extend(d.at.iter().map(|(&node, &at)| (node, at)));
        }
    }

    /// Adds the recorded peer drops to `into`.
    pub(super) fn drops(&self, into: &mut Vec<(u32, u32, Instant)>) {
        into.extend_from_slice(&self.lock().drops);
    }

    pub(super) fn total(&self) -> u64 {
        self.lock().total
    }

    pub(super) fn duplicates(&self) -> u64 {
        self.lock().duplicates
    }

    /// Forgets deliveries and drops (not the registrations).
    pub(super) fn clear(&self) {
        let mut t = self.lock();
        let registered = t.registered;
        *t = TallyInner {
            registered,
            ..TallyInner::default()
        };
    }
}
