//! What the model learns from its nodes' events: the delivery log, hops, crashes and dropped peers, and when the graph changed.

use std::collections::HashMap;

use hdrhistogram::Histogram;

use super::deliveries::{histogram, micros, Delivery, DeliveryLog};
use super::reach::Bitset;
use crate::proto::MessageId;

/// Everything the simulator learns from the nodes' events; all of it replays exactly.
#[derive(Debug)]
pub(crate) struct Tracker {
    /// Who delivered which broadcast when, and the invariant checks.
    pub(crate) log: DeliveryLog,
    /// Per broadcast: registrations seen in the network when it was sent.
    registrations_at_send: Vec<u64>,
    /// Bumped whenever some node's registered peers change.
    graph_version: u64,
    /// `PeerConnected` events so far: the graph can only have grown when this moved.
    registrations: u64,
    reach_cache: Option<(u64, u32, Bitset)>,
    crashed_at: HashMap<u32, u64>,
    pub(crate) hop_max: u32,
    pub(crate) hop_sum: u64,
    pub(crate) crashes: u64,
    /// Per survivor that drops a crashed peer: virtual µs after the crash.
    pub(crate) dead_peer_drop: Histogram<u64>,
}

impl Tracker {
    pub(crate) fn new(n: u32) -> Tracker {
        Tracker {
            log: DeliveryLog::new(n),
            registrations_at_send: Vec::new(),
            graph_version: 0,
            registrations: 0,
            reach_cache: None,
            crashed_at: HashMap::new(),
            hop_max: 0,
            hop_sum: 0,
            crashes: 0,
            dead_peer_drop: histogram(),
        }
    }

    /// `sender` sent `id` at virtual `now` (ns), when it could reach `reach`.
    pub(crate) fn start(&mut self, id: MessageId, sender: u32, now: u64, reach: Bitset) {
        self.log.sent(id, sender, now, reach);
        self.registrations_at_send.push(self.registrations);
    }

    /// Node `node` delivered `id` to its application at `now`, the copy having crossed `hop` links.
    pub(crate) fn delivered(&mut self, node: u32, id: MessageId, now: u64, hop: u32) {
        if self.log.delivered(node, id, now) == Delivery::First {
            self.hop_max = self.hop_max.max(hop);
            self.hop_sum += u64::from(hop);
        }
    }

    pub(crate) fn violation(&mut self, what: String) {
        self.log.violation(what);
    }

    pub(crate) fn registered(&mut self) {
        self.registrations += 1;
        self.graph_version += 1;
    }

    pub(crate) fn graph_changed(&mut self) {
        self.graph_version += 1;
    }

    pub(crate) fn cached_reach(&self, from: u32) -> Option<Bitset> {
        match &self.reach_cache {
            Some((v, s, b)) if *v == self.graph_version && *s == from => Some(b.clone()),
            _ => None,
        }
    }

    pub(crate) fn cache_reach(&mut self, from: u32, reach: &Bitset) {
        self.reach_cache = Some((self.graph_version, from, reach.clone()));
    }

    pub(crate) fn crashed(&mut self, node: u32, now: u64) {
        self.crashes += 1;
        self.crashed_at.insert(node, now);
    }

    pub(crate) fn restarted(&mut self, node: u32) {
        self.crashed_at.remove(&node);
    }

    /// A survivor dropped `peer`; if `peer` is crashed, how long that took counts.
    pub(crate) fn dead_peer_dropped(&mut self, peer: u32, now: u64) {
        if let Some(&at) = self.crashed_at.get(&peer) {
            self.dead_peer_drop
                .saturating_record(micros(now.saturating_sub(at)));
        }
    }

    /// The sender of broadcast `k`, and whether the graph may have grown since it was sent.
    pub(crate) fn sender_of(&self, k: usize) -> (u32, bool) {
        let at_send = self.registrations_at_send.get(k).copied();
        (self.log.sender(k), at_send != Some(self.registrations))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hops count first deliveries only; a registration marks the graph grown.
    #[test]
    fn hops_and_growth() {
        let mut t = Tracker::new(3);
        let id = MessageId::from_u128(3);
        t.start(id, 0, 0, Bitset::from_fn(3, |_| true));
        t.delivered(1, id, 5_000_000, 1);
        t.delivered(1, id, 6_000_000, 4);
        t.delivered(2, id, 9_000_000, 2);
        assert_eq!((t.hop_max, t.hop_sum), (2, 3));
        assert_eq!(t.sender_of(0), (0, false));
        t.registered();
        assert_eq!(t.sender_of(0), (0, true));
    }
}
