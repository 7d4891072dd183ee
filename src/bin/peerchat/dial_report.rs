//! What `chat` shows of failed dials: a line for each failure of an address the user gave, a periodic summary for addresses learned from peers.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use peerchat::{DialError, Event, PeerAddr};

/// How often failed dials of learned addresses are summed up in one line, so
/// that a node told of 64 stale addresses prints one line, not 64.
pub const LEARNED_SUMMARY_EVERY: Duration = Duration::from_secs(30);

/// Sorts failed dials into lines to show now and a summary to show later.
#[derive(Debug, Default)]
pub struct DialReport {
    /// Addresses the user gave (`--bootstrap`, `/join`).
    given: HashSet<PeerAddr>,
    /// Learned addresses that failed since the last summary, each with its latest error.
    learned: BTreeMap<PeerAddr, DialError>,
}

impl DialReport {
    /// Failures of `addr` are shown as they happen.
    pub fn user_gave(&mut self, addr: PeerAddr) {
        self.given.insert(addr);
    }

    /// An event: the line to show now for a failed dial of an address the
    /// user gave; a failure of a learned address is kept for the summary;
    /// a peer that connects is taken out of it.
    pub fn on_event(&mut self, event: &Event) -> Option<String> {
        match event {
            Event::DialFailed { addr, error, .. } => {
                self.dial_failed(addr, error, || event.to_string())
            }
            Event::PeerConnected { addr, .. } => {
                self.connected(addr);
                None
            }
            _ => None,
        }
    }

    /// A dial of `addr` failed: `line` for an address the user gave, else kept for the summary.
    fn dial_failed(
        &mut self,
        addr: &PeerAddr,
        error: &DialError,
        line: impl FnOnce() -> String,
    ) -> Option<String> {
        if self.given.contains(addr) {
            return Some(line());
        }
        self.learned.insert(addr.clone(), error.clone());
        None
    }

    /// A peer at `addr` connected: it is no longer failing.
    fn connected(&mut self, addr: &PeerAddr) {
        self.learned.remove(addr);
    }

    /// The summary of the learned addresses that failed since the last one
    /// (and have not connected since), if any; starts the next period.
    pub fn summary(&mut self) -> Option<String> {
        if self.learned.is_empty() {
            return None;
        }
        let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
        for error in self.learned.values() {
            *kinds.entry(error.to_string()).or_default() += 1;
        }
        let n = self.learned.len();
        self.learned.clear();
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let s = if n == 1 { "" } else { "es" };
        Some(format!(
            "could not reach {n} address{s} learned from peers in the last {} s ({})",
            LEARNED_SUMMARY_EVERY.as_secs(),
            kinds.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failed dial of `host:7000`, as `on_event` hands it on.
    fn failed(report: &mut DialReport, host: &str, error: DialError) -> Option<String> {
        let addr = PeerAddr::new(host, 7000);
        let line = format!("could not reach {addr}: {error}; retrying in 4 s");
        report.dial_failed(&addr, &error, || line)
    }

    /// A given address gets its own line each time; 64 learned ones become
    /// one summary line, without those that connected meanwhile; then quiet.
    #[test]
    fn given_lines_and_learned_summary() {
        let mut report = DialReport::default();
        report.user_gave(PeerAddr::new("10.0.0.7", 7000));
        assert_eq!(
            failed(&mut report, "10.0.0.7", DialError::Refused).as_deref(),
            Some("could not reach 10.0.0.7:7000: connection refused; retrying in 4 s")
        );
        for i in 0..64 {
            let error = if i < 60 {
                DialError::Refused
            } else {
                DialError::TimedOut
            };
            assert_eq!(failed(&mut report, &format!("192.0.2.{i}"), error), None);
        }
        // The same address failing again counts once.
        failed(&mut report, "192.0.2.0", DialError::Refused);
        report.connected(&PeerAddr::new("192.0.2.1", 7000));
        assert_eq!(
            report.summary().as_deref(),
            Some("could not reach 63 addresses learned from peers in the last 30 s (59 connection refused, 4 timed out)")
        );
        assert_eq!(report.summary(), None);
        failed(&mut report, "192.0.2.9", DialError::Unresolvable);
        assert_eq!(
            report.summary().as_deref(),
            Some("could not reach 1 address learned from peers in the last 30 s (1 name does not resolve)")
        );
    }
}
