//! Delivery bookkeeping and invariant checks: who delivered which broadcast, when, over how many hops.

use std::collections::HashMap;

use hdrhistogram::Histogram;

use super::plot::{Curve, DeliveryTimes};
use crate::proto::MessageId;

/// Violations described in full; later ones are only counted.
pub const MAX_VIOLATIONS_KEPT: usize = 100;

/// Significant digits the histograms keep (values are virtual microseconds).
pub const HIST_SIGFIG: u8 = 4;

/// Largest value the histograms track: one hour of virtual time, in microseconds
/// (larger values are recorded as this).
pub const HIST_MAX_US: u64 = 3_600_000_000;

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
        self.words[(i / 64) as usize] & (1 << (i % 64)) != 0
    }

    pub(crate) fn count(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// Members of `self` that are in every one of `others`.
    pub(crate) fn count_and(&self, others: &[&Bitset]) -> u64 {
        let mut n = 0;
        for (k, &w) in self.words.iter().enumerate() {
            let w = others.iter().fold(w, |acc, o| acc & o.words[k]);
            n += u64::from(w.count_ones());
        }
        n
    }

    /// Members of `self` not in `other`, in order.
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

/// One broadcast as the simulator follows it.
#[derive(Debug)]
struct Bcast {
    sender: u32,
    sent_at: u64,
    /// Registrations seen in the network when it was sent.
    registrations_at_send: u64,
    /// Live nodes the flood could reach when it was sent (the sender included).
    reach: Bitset,
    delivered: Bitset,
    /// When the nodes of `reach` delivered it (for the delivery curve).
    times: DeliveryTimes,
    last_delivery: u64,
    checked: bool,
}

/// Everything the simulator learns from the nodes' events; all of it replays exactly.
#[derive(Debug)]
pub(crate) struct Tracker {
    n: usize,
    bcasts: Vec<Bcast>,
    by_id: HashMap<MessageId, u32>,
    /// Bumped whenever some node's registered peers change.
    graph_version: u64,
    /// `PeerConnected` events so far: the graph can only have grown when this moved.
    registrations: u64,
    reach_cache: Option<(u64, u32, Bitset)>,
    crashed_at: HashMap<u32, u64>,
    /// First deliveries of tracked broadcasts.
    pub(crate) deliveries: u64,
    /// Second deliveries of one id at one node (must stay 0).
    pub(crate) duplicates: u64,
    /// Deliveries of ids the simulator did not send.
    pub(crate) untracked: u64,
    /// Sum over checked broadcasts of nodes reachable at send (sender excluded).
    pub(crate) expected: u64,
    /// Of those, how many delivered.
    pub(crate) expected_delivered: u64,
    /// Reachable at send and still alive when checked.
    pub(crate) survivors: u64,
    /// Of those, how many delivered.
    pub(crate) survivors_delivered: u64,
    /// Checked broadcasts every expected node delivered.
    pub(crate) complete: u64,
    pub(crate) checked: u64,
    pub(crate) hop_max: u32,
    pub(crate) hop_sum: u64,
    pub(crate) crashes: u64,
    /// Per checked complete broadcast: virtual µs until the last node had it.
    pub(crate) time_to_all: Histogram<u64>,
    /// Per delivery: virtual µs from send.
    pub(crate) latency: Histogram<u64>,
    /// Per survivor that drops a crashed peer: virtual µs after the crash.
    pub(crate) dead_peer_drop: Histogram<u64>,
    pub(crate) violations: u64,
    pub(crate) violation_samples: Vec<String>,
}

impl Tracker {
    pub(crate) fn new(n: u32) -> Tracker {
        Tracker {
            n: n as usize,
            bcasts: Vec::new(),
            by_id: HashMap::new(),
            graph_version: 0,
            registrations: 0,
            reach_cache: None,
            crashed_at: HashMap::new(),
            deliveries: 0,
            duplicates: 0,
            untracked: 0,
            expected: 0,
            expected_delivered: 0,
            survivors: 0,
            survivors_delivered: 0,
            complete: 0,
            checked: 0,
            hop_max: 0,
            hop_sum: 0,
            crashes: 0,
            time_to_all: histogram(),
            latency: histogram(),
            dead_peer_drop: histogram(),
            violations: 0,
            violation_samples: Vec::new(),
        }
    }

    pub(crate) fn start(&mut self, id: MessageId, sender: u32, now: u64, reach: Bitset) {
        let k = self.bcasts.len() as u32;
        if self.by_id.insert(id, k).is_some() {
            self.violation(format!("message id {id} sent twice"));
        }
        self.bcasts.push(Bcast {
            sender,
            sent_at: now,
            registrations_at_send: self.registrations,
            reach,
            delivered: Bitset::new(self.n),
            times: DeliveryTimes::default(),
            last_delivery: now,
            checked: false,
        });
    }

    /// Node `node` delivered `id` to its application at `now`, the copy having crossed `hop` links.
    pub(crate) fn delivered(&mut self, node: u32, id: MessageId, now: u64, hop: u32) {
        let Some(&k) = self.by_id.get(&id) else {
            self.untracked += 1;
            return;
        };
        let b = &mut self.bcasts[k as usize];
        if !b.delivered.set(node) {
            self.duplicates += 1;
            return self.violation(format!("n{node} delivered broadcast #{k} twice"));
        }
        if node == b.sender {
            return self.violation(format!("n{node} delivered its own broadcast #{k}"));
        }
        b.last_delivery = now;
        if b.reach.get(node) {
            b.times.record(micros(now - b.sent_at));
        }
        self.deliveries += 1;
        self.hop_max = self.hop_max.max(hop);
        self.hop_sum += u64::from(hop);
        self.latency.saturating_record(micros(now - b.sent_at));
    }

    pub(crate) fn violation(&mut self, what: String) {
        tracing::warn!(violation = %what, "simulation invariant broken");
        self.violations += 1;
        if self.violation_samples.len() < MAX_VIOLATIONS_KEPT {
            self.violation_samples.push(what);
        }
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
            self.dead_peer_drop.saturating_record(micros(now - at));
        }
    }

    /// Broadcasts not checked yet.
    pub(crate) fn unchecked(&self) -> Vec<usize> {
        (0..self.bcasts.len())
            .filter(|&k| !self.bcasts[k].checked)
            .collect()
    }

    /// The sender of broadcast `k`, and whether the graph may have grown since it was sent.
    pub(crate) fn sender_of(&self, k: usize) -> (u32, bool) {
        let b = &self.bcasts[k];
        (b.sender, b.registrations_at_send != self.registrations)
    }

    /// Checks broadcast `k`: counts it into the ratios and, given the nodes
    /// reachable from its sender now (`strict`), reports each that did not deliver.
    pub(crate) fn check(&mut self, k: usize, strict: Option<&Bitset>, alive: &Bitset) {
        let b = &mut self.bcasts[k];
        b.checked = true;
        let sender_in = u64::from(b.reach.get(b.sender));
        let expected = b.reach.count() - sender_in;
        let got = b.reach.count_and(&[&b.delivered]);
        let survivors = b.reach.count_and(&[alive]) - sender_in.min(u64::from(alive.get(b.sender)));
        let survivors_got = b.reach.count_and(&[alive, &b.delivered]);
        let mut missing = Vec::new();
        if let Some(reach_now) = strict {
            missing.extend(
                reach_now
                    .minus(&b.delivered)
                    .filter(|&i| i != b.sender)
                    .take(MAX_VIOLATIONS_KEPT),
            );
        }
        let complete = got == expected;
        let tta = micros(b.last_delivery - b.sent_at);
        self.checked += 1;
        self.expected += expected;
        self.expected_delivered += got;
        self.survivors += survivors;
        self.survivors_delivered += survivors_got;
        if complete {
            self.complete += 1;
            self.time_to_all.saturating_record(tta);
        }
        for node in missing {
            self.violation(format!(
                "n{node} is connected to the sender but did not deliver broadcast #{k}"
            ));
        }
    }

    /// Broadcasts sent so far.
    pub(crate) fn sent(&self) -> usize {
        self.bcasts.len()
    }

    /// Per broadcast, in order: the fraction of the nodes reachable at send
    /// (the sender not counted) that had it, over ms since the send.
    pub(crate) fn curves(&self) -> Vec<Curve> {
        self.bcasts
            .iter()
            .enumerate()
            .map(|(k, b)| {
                let expected = b.reach.count() - u64::from(b.reach.get(b.sender));
                b.times.curve(format!("broadcast {k}"), expected)
            })
            .collect()
    }
}

fn histogram() -> Histogram<u64> {
    // Bounds are refused only when low < 1, high < 2 * low or sigfig > 5:
    // 1, HIST_MAX_US and HIST_SIGFIG are none of these.
    Histogram::new_with_bounds(1, HIST_MAX_US, HIST_SIGFIG)
        .unwrap_or_else(|_| unreachable!("constant histogram bounds are valid"))
}

fn micros(ns: u64) -> u64 {
    ns / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checks are live: a second delivery and a missing one are violations.
    #[test]
    fn flags_duplicates_and_missing_deliveries() {
        let mut t = Tracker::new(4);
        let id = MessageId::from_u128(7);
        let reach = Bitset::from_fn(4, |_| true);
        t.start(id, 0, 0, reach.clone());
        t.delivered(1, id, 5_000_000, 1);
        t.delivered(1, id, 6_000_000, 1);
        t.delivered(2, id, 9_000_000, 2);
        assert_eq!((t.deliveries, t.duplicates, t.violations), (2, 1, 1));
        t.check(0, Some(&reach), &reach);
        assert_eq!(t.violations, 2, "{:?}", t.violation_samples);
        assert!(t.violation_samples[1].contains("n3"));
        assert_eq!((t.expected, t.expected_delivered, t.complete), (3, 2, 0));
    }

    /// Bitset members, counts and differences.
    #[test]
    fn bitset_ops() {
        let mut a = Bitset::new(130);
        assert!(a.set(129) && a.set(3) && !a.set(3));
        let b = Bitset::from_fn(130, |i| i == 3);
        assert_eq!(a.count(), 2);
        assert_eq!(a.count_and(&[&b]), 1);
        assert_eq!(a.minus(&b).collect::<Vec<_>>(), vec![129]);
    }
}
