//! The PeerActor's timers: one armed actix timer for the earliest deadline of many.
//!
//! An actix context polls every future spawned in it whenever it runs, so a
//! node with a timer per connection would pay for all of them on every
//! message. Keeping the deadlines here and arming a single `run_later` for the
//! earliest keeps that cost constant.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::proto::Timer;

/// Pending timers ordered by deadline (ties in the order they were set).
#[derive(Debug, Default)]
pub struct Timers {
    due: BTreeMap<(Instant, u64), Timer>,
    seq: u64,
    /// The deadline an actix timer is armed for, if any.
    armed: Option<Instant>,
}

impl Timers {
    /// Adds `timer` at `now + delay`. Returns the deadline to arm an actix
    /// timer for, when it is earlier than the one already armed.
    pub fn schedule(&mut self, now: Instant, delay: Duration, timer: Timer) -> Option<Instant> {
        let at = now + delay;
        self.seq += 1;
        self.due.insert((at, self.seq), timer);
        self.arm_for(at)
    }

    /// Takes every timer due at `now`, and returns the next deadline to arm for.
    pub fn fire(&mut self, now: Instant) -> (Vec<Timer>, Option<Instant>) {
        self.armed = None;
        let mut fired = Vec::new();
        while let Some(entry) = self.due.first_entry() {
            if entry.key().0 > now {
                break;
            }
            fired.push(entry.remove());
        }
        let next = self.due.keys().next().map(|(at, _)| *at);
        (fired, next.and_then(|at| self.arm_for(at)))
    }

    fn arm_for(&mut self, at: Instant) -> Option<Instant> {
        match self.armed {
            Some(armed) if armed <= at => None,
            _ => {
                self.armed = Some(at);
                Some(at)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::ConnId;

    /// Only an earlier deadline re-arms; firing takes what is due, in order.
    #[test]
    fn arms_earliest_and_fires_in_order() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        let s = Duration::from_secs(1);
        assert_eq!(t.schedule(t0, 5 * s, Timer::KeepAlive), Some(t0 + 5 * s));
        assert_eq!(t.schedule(t0, 7 * s, Timer::Handshake(ConnId(1))), None);
        assert_eq!(
            t.schedule(t0, 2 * s, Timer::Handshake(ConnId(2))),
            Some(t0 + 2 * s)
        );
        let (fired, next) = t.fire(t0 + 5 * s);
        assert_eq!(fired, vec![Timer::Handshake(ConnId(2)), Timer::KeepAlive]);
        assert_eq!(next, Some(t0 + 7 * s));
        let (fired, next) = t.fire(t0 + 7 * s);
        assert_eq!(fired, vec![Timer::Handshake(ConnId(1))]);
        assert_eq!(next, None);
    }
}
