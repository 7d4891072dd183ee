//! `Tally`: what the nodes' event readers record (deliveries and dropped peers), shared per arbiter under a lock, until the run's `DeliveryLog` is built from it.

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
    /// `(id, node, when)`: `node` delivered `id` again.
    duplicates: Vec<(MessageId, u32, Instant)>,
    /// `(node, peer, when)`: `node` dropped its peer `peer`.
    drops: Vec<(u32, u32, Instant)>,
    /// Peers registered minus peers dropped, over this tally's nodes.
    registered: i64,
}

#[derive(Default)]
struct Deliveries {
    at: HashMap<u32, Instant>,
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
                true
            }
            Entry::Occupied(_) => false,
        };
        if fresh {
            t.total += 1;
        } else {
            t.duplicates.push((id, node, at));
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

    /// Nodes that delivered `id`.
    pub(super) fn count(&self, id: MessageId) -> u64 {
        self.lock().by_id.get(&id).map_or(0, |d| d.at.len() as u64)
    }

    /// Adds each node that delivered `id` (its first delivery), with when, to `into`.
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

    /// Adds every second delivery recorded to `into`.
    pub(super) fn duplicates(&self, into: &mut Vec<(MessageId, u32, Instant)>) {
        into.extend_from_slice(&self.lock().duplicates);
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
