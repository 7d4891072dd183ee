//! `DeliveryLog`: the record both engines keep of each broadcast (who was connected to the sender when it was sent, who delivered it and when), its checks, and the report's deliveries section it adds up to.

use std::collections::HashMap;

use hdrhistogram::Histogram;

use super::plot::{Curve, DeliveryTimes};
use super::reach::Bitset;
use super::report::{ratio, Deliveries, Percentiles};
use crate::proto::MessageId;

/// Violations described in full; later ones are only counted.
pub const MAX_VIOLATIONS_KEPT: usize = 100;

/// Significant digits the time histograms keep (values are microseconds).
pub const HIST_SIGFIG: u8 = 4;

/// Largest time the histograms track: one hour, in microseconds (larger
/// values are recorded as this).
pub const HIST_MAX_US: u64 = 3_600_000_000;

/// What the log made of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// The node's first delivery of a logged broadcast.
    First,
    /// A second delivery of it (a violation).
    Duplicate,
    /// The sender delivered its own broadcast (a violation).
    Own,
    /// An id the log was not told of, or a node outside the run.
    Unknown,
}

/// One broadcast as the log follows it. Times are nanoseconds on the
/// engine's clock (virtual in the model, since the run began in the cluster).
#[derive(Debug)]
struct Sent {
    sender: u32,
    at_ns: u64,
    /// Connected at send: the running nodes the flood could reach (the sender included).
    reach: Bitset,
    delivered: Bitset,
    /// When the nodes of `reach` delivered it (for the delivery curve).
    times: DeliveryTimes,
    /// The last delivery by a node of `reach` (`at_ns` until there is one).
    last_ns: u64,
    checked: bool,
}

impl Sent {
    /// Of the nodes connected at send, those running now (`running`), its
    /// sender aside, and how many of them delivered it.
    fn survivors(&self, running: &Bitset) -> (u64, u64) {
        let sender_in = u64::from(self.reach.get(self.sender));
        let sender_survives = sender_in.min(u64::from(running.get(self.sender)));
        let survivors = self.reach.count_and(&[running]) - sender_survives;
        (survivors, self.reach.count_and(&[running, &self.delivered]))
    }
}

/// Every broadcast of a run, who delivered it and when, and what the checks found.
#[derive(Debug)]
pub(crate) struct DeliveryLog {
    n: usize,
    sent: Vec<Sent>,
    by_id: HashMap<MessageId, u32>,
    /// First deliveries of logged broadcasts (the sender's own not counted).
    deliveries: u64,
    duplicates: u64,
    /// Deliveries of ids the log was not told of.
    untracked: u64,
    /// Per first delivery: µs from the send.
    latency: Histogram<u64>,
    /// Per checked broadcast that every survivor had: µs until the last node connected at send had it.
    time_to_all: Histogram<u64>,
    /// Over checked broadcasts: nodes connected at send, and of them how many delivered.
    expected: u64,
    expected_delivered: u64,
    /// The same over the survivors.
    survivors: u64,
    survivors_delivered: u64,
    complete: u64,
    complete_survivors: u64,
    violations: u64,
    violation_samples: Vec<String>,
    /// W5: broadcasts sent before this time (ns) are watched, and each
    /// node's last first delivery of one of them is kept in `settled_ns`.
    watch_before: Option<u64>,
    settled_ns: Vec<u64>,
}

impl DeliveryLog {
    /// An empty log for a run of `n` nodes.
    pub(crate) fn new(n: u32) -> DeliveryLog {
        DeliveryLog {
            n: n as usize,
            sent: Vec::new(),
            by_id: HashMap::new(),
            deliveries: 0,
            duplicates: 0,
            untracked: 0,
            latency: histogram(),
            time_to_all: histogram(),
            expected: 0,
            expected_delivered: 0,
            survivors: 0,
            survivors_delivered: 0,
            complete: 0,
            complete_survivors: 0,
            violations: 0,
            violation_samples: Vec::new(),
            watch_before: None,
            settled_ns: Vec::new(),
        }
    }

    /// From now on, keeps per node the time of its last first delivery of a
    /// broadcast sent before `before_ns` (W5: the heal).
    pub(crate) fn watch_sent_before(&mut self, before_ns: u64) {
        self.watch_before = Some(before_ns);
        self.settled_ns = vec![0; self.n];
    }

    /// Per node, its last first delivery of a watched broadcast (0: none).
    pub(crate) fn settled_ns(&self) -> &[u64] {
        &self.settled_ns
    }

    /// Over every broadcast and every node but its sender, running or not:
    /// first deliveries and the deliveries that would make it complete.
    pub(crate) fn overall(&self) -> (u64, u64) {
        let got = self
            .sent
            .iter()
            .map(|s| s.delivered.count() - u64::from(s.delivered.get(s.sender)))
            .sum();
        let want = self.sent.len() as u64 * (self.n as u64).saturating_sub(1);
        (got, want)
    }

    /// `sender` sent broadcast `id` at `at_ns`, when the running nodes it
    /// could reach were `reach` (see [`super::reach::reachable`]).
    pub(crate) fn sent(&mut self, id: MessageId, sender: u32, at_ns: u64, reach: Bitset) {
        let k = self.sent.len() as u32;
        if self.by_id.insert(id, k).is_some() {
            self.violation(format!("message id {id} sent twice"));
        }
        self.sent.push(Sent {
            sender,
            at_ns,
            reach,
            delivered: Bitset::new(self.n),
            times: DeliveryTimes::default(),
            last_ns: at_ns,
            checked: false,
        });
    }

    /// Node `node` delivered `id` to its application at `at_ns`.
    pub(crate) fn delivered(&mut self, node: u32, id: MessageId, at_ns: u64) -> Delivery {
        let Some(&k) = self.by_id.get(&id) else {
            self.untracked += 1;
            return Delivery::Unknown;
        };
        if node as usize >= self.n {
            self.violation(format!("n{node}, not a node of this run, delivered #{k}"));
            return Delivery::Unknown;
        }
        let s = &mut self.sent[k as usize];
        if node == s.sender {
            self.violation(format!("n{node} delivered its own broadcast #{k}"));
            return Delivery::Own;
        }
        if !s.delivered.set(node) {
            self.duplicates += 1;
            self.violation(format!("n{node} delivered broadcast #{k} twice"));
            return Delivery::Duplicate;
        }
        let us = micros(at_ns.saturating_sub(s.at_ns));
        if s.reach.get(node) {
            s.times.record(us);
            s.last_ns = s.last_ns.max(at_ns);
        }
        self.deliveries += 1;
        self.latency.saturating_record(us);
        if self.watch_before.is_some_and(|b| s.at_ns < b) {
            if let Some(t) = self.settled_ns.get_mut(node as usize) {
                *t = (*t).max(at_ns);
            }
        }
        Delivery::First
    }

    /// Counts a broken invariant, described in full while fewer than
    /// [`MAX_VIOLATIONS_KEPT`] are.
    pub(crate) fn violation(&mut self, what: String) {
        tracing::warn!(violation = %what, "simulation invariant broken");
        self.violations += 1;
        if self.violation_samples.len() < MAX_VIOLATIONS_KEPT {
            self.violation_samples.push(what);
        }
    }

    /// Broadcasts not checked yet.
    pub(crate) fn unchecked(&self) -> Vec<usize> {
        (0..self.sent.len())
            .filter(|&k| !self.sent[k].checked)
            .collect()
    }

    /// True when every broadcast not checked yet has reached every node of
    /// its reach at send that is running now (`running`), its sender aside.
    pub(crate) fn unchecked_complete(&self, running: &Bitset) -> bool {
        self.sent.iter().filter(|s| !s.checked).all(|s| {
            let (survivors, survivors_got) = s.survivors(running);
            survivors_got == survivors
        })
    }

    /// The sender of broadcast `k`.
    pub(crate) fn sender(&self, k: usize) -> u32 {
        self.sent[k].sender
    }

    /// Checks broadcast `k` (once): counts it into the ratios given the nodes
    /// running now (`running`: the survivors are those of its nodes connected
    /// at send), and, given the nodes connected to its sender now, over links
    /// that existed during its whole flood (`strict`), counts each of them
    /// that did not deliver it as a violation.
    pub(crate) fn check(&mut self, k: usize, strict: Option<&Bitset>, running: &Bitset) {
        let s = &mut self.sent[k];
        if s.checked {
            return;
        }
        s.checked = true;
        let sender_in = u64::from(s.reach.get(s.sender));
        let expected = s.reach.count() - sender_in;
        let got = s.reach.count_and(&[&s.delivered]);
        let (survivors, survivors_got) = s.survivors(running);
        let missing: Vec<u32> = strict.map_or_else(Vec::new, |now| {
            now.minus(&s.delivered)
                .filter(|&i| i != s.sender)
                .take(MAX_VIOLATIONS_KEPT)
                .collect()
        });
        let tta = micros(s.last_ns - s.at_ns);
        self.expected += expected;
        self.expected_delivered += got;
        self.survivors += survivors;
        self.survivors_delivered += survivors_got;
        self.complete += u64::from(got == expected);
        if survivors_got == survivors {
            self.complete_survivors += 1;
            self.time_to_all.saturating_record(tta);
        }
        for node in missing {
            self.violation(format!(
                "n{node} is connected to the sender but did not deliver broadcast #{k}"
            ));
        }
    }

    /// First deliveries so far.
    pub(crate) fn deliveries(&self) -> u64 {
        self.deliveries
    }

    /// Second deliveries so far.
    pub(crate) fn duplicates(&self) -> u64 {
        self.duplicates
    }

    pub(crate) fn violations(&self) -> u64 {
        self.violations
    }

    pub(crate) fn violation_samples(&self) -> &[String] {
        &self.violation_samples
    }

    /// The report's deliveries section (the hops, which only the model
    /// counts, left out) over the checked broadcasts.
    pub(crate) fn summary(&self) -> Deliveries {
        Deliveries {
            broadcasts_sent: self.sent.len() as u64,
            broadcasts_complete: self.complete,
            broadcasts_complete_survivors: self.complete_survivors,
            deliveries: self.deliveries,
            expected_deliveries: self.expected,
            delivery_ratio: ratio(self.expected_delivered, self.expected),
            delivery_ratio_survivors: ratio(self.survivors_delivered, self.survivors),
            duplicates_delivered: self.duplicates,
            violations: self.violations,
            violation_samples: self.violation_samples.clone(),
            time_to_all_ms: Percentiles::from_micros(&self.time_to_all),
            delivery_latency_ms: Percentiles::from_micros(&self.latency),
            hops_max: None,
            hops_mean: None,
        }
    }

    /// Per broadcast, in order: the fraction of the nodes connected at send
    /// (the sender not counted) that had it, over ms since the send.
    pub(crate) fn curves(&self) -> Vec<Curve> {
        self.sent
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let expected = s.reach.count() - u64::from(s.reach.get(s.sender));
                s.times.curve(format!("broadcast {k}"), expected)
            })
            .collect()
    }
}

/// An empty histogram of microseconds, from 1 µs to [`HIST_MAX_US`].
pub(crate) fn histogram() -> Histogram<u64> {
    // Bounds are refused only when low < 1, high < 2 * low or sigfig > 5:
    // 1, HIST_MAX_US and HIST_SIGFIG are none of these.
    Histogram::new_with_bounds(1, HIST_MAX_US, HIST_SIGFIG)
        .unwrap_or_else(|_| unreachable!("constant histogram bounds are valid"))
}

/// Whole microseconds in `ns` nanoseconds.
pub(crate) fn micros(ns: u64) -> u64 {
    ns / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// The checks are live: a second delivery and a missing one are violations.
    #[test]
    fn flags_duplicates_and_missing_deliveries() {
        let mut log = DeliveryLog::new(4);
        let id = MessageId::from_u128(7);
        let all = Bitset::from_fn(4, |_| true);
        log.sent(id, 0, 0, all.clone());
        assert_eq!(log.delivered(1, id, 5 * MS), Delivery::First);
        assert_eq!(log.delivered(1, id, 6 * MS), Delivery::Duplicate);
        assert_eq!(log.delivered(0, id, 6 * MS), Delivery::Own);
        assert_eq!(log.delivered(2, id, 9 * MS), Delivery::First);
        assert_eq!(log.delivered(9, id, 9 * MS), Delivery::Unknown);
        let other = MessageId::from_u128(8);
        assert_eq!(log.delivered(2, other, 9 * MS), Delivery::Unknown);
        assert_eq!(
            (log.deliveries(), log.duplicates(), log.violations()),
            (2, 1, 3)
        );
        log.check(0, Some(&all), &all);
        assert_eq!(log.violations(), 4, "{:?}", log.violation_samples());
        assert!(log.violation_samples()[3].contains("n3"));
        let d = log.summary();
        assert_eq!((d.expected_deliveries, d.broadcasts_complete), (3, 0));
        assert_eq!(d.delivery_ratio, 2.0 / 3.0);
        assert_eq!(d.time_to_all_ms, None, "not complete: no time to all");
        assert_eq!(d.delivery_latency_ms.map(|p| p.max), Some(9.0));
    }

    /// A node connected at send that stops before the flood reaches it makes
    /// the broadcast incomplete, but not incomplete among the survivors; a
    /// node that was not connected at send is not expected.
    #[test]
    fn survivors_and_the_unconnected() {
        let mut log = DeliveryLog::new(5);
        let id = MessageId::from_u128(1);
        // Node 4 was not connected at send; node 3 was, and stops before it delivers.
        log.sent(id, 0, 10 * MS, Bitset::from_fn(5, |i| i < 4));
        log.delivered(1, id, 12 * MS);
        log.delivered(2, id, 15 * MS);
        log.delivered(4, id, 40 * MS);
        let running = Bitset::from_fn(5, |i| i != 3);
        log.check(0, None, &running);
        let d = log.summary();
        assert_eq!(d.deliveries, 3, "node 4's delivery counts as one");
        assert_eq!(d.expected_deliveries, 3);
        assert_eq!(
            (d.broadcasts_complete, d.broadcasts_complete_survivors),
            (0, 1)
        );
        assert_eq!(d.delivery_ratio, 2.0 / 3.0);
        assert_eq!(d.delivery_ratio_survivors, 1.0);
        assert_eq!(d.violations, 0);
        let tta = d.time_to_all_ms.expect("complete among survivors");
        assert_eq!(
            tta.max, 5.0,
            "the last node connected at send had it 5 ms after"
        );
        let curves = log.curves();
        assert_eq!(curves[0].end_fraction(), 2.0 / 3.0);
        assert_eq!(curves[0].end_ms(), 5.0);
    }
}
