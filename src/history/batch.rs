//! `Batcher`: how the PeerActor gathers writes into transactions (no I/O here: it says when to send what).
//!
//! One transaction is under way at a time. A write waits at most
//! `storage.batch_delay` for others to join it, or less when
//! `storage.batch_max` are waiting; writes that come while a transaction
//! runs go into the next one (so a slow disk makes larger transactions,
//! not more of them). At most `storage.max_pending` wait; more are dropped.

use std::collections::VecDeque;
use std::time::Duration;

use super::Write;
use crate::config::StorageConfig;

/// What the executor should do next.
#[derive(Debug)]
pub enum Next {
    /// Send these as one transaction; call [`Batcher::done`] when it is committed (or failed).
    Send(Vec<Write>),
    /// Call [`Batcher::timer_fired`] after this long.
    Arm(Duration),
    /// Nothing now.
    Wait,
}

/// Writes waiting for the database.
#[derive(Debug)]
pub struct Batcher {
    pending: VecDeque<Write>,
    in_flight: bool,
    timer_armed: bool,
    batch_max: usize,
    batch_delay: Duration,
    max_pending: usize,
}

impl Batcher {
    /// An empty batcher with `config`'s sizes.
    pub fn new(config: &StorageConfig) -> Batcher {
        Batcher {
            pending: VecDeque::new(),
            in_flight: false,
            timer_armed: false,
            batch_max: config.batch_max.max(1),
            batch_delay: config.batch_delay,
            max_pending: config.max_pending.max(1),
        }
    }

    /// Adds a write and says what to do; `None`: it was dropped (`max_pending` wait already).
    pub fn push(&mut self, write: Write) -> Option<Next> {
        if self.pending.len() >= self.max_pending {
            return None;
        }
        self.pending.push_back(write);
        Some(self.next())
    }

    /// The armed timer fired.
    pub fn timer_fired(&mut self) -> Next {
        self.timer_armed = false;
        match self.in_flight || self.pending.is_empty() {
            true => Next::Wait,
            false => self.send(),
        }
    }

    /// The transaction sent last is finished: what waited meanwhile goes next.
    pub fn done(&mut self) -> Next {
        self.in_flight = false;
        match self.pending.is_empty() {
            true => Next::Wait,
            false => self.send(),
        }
    }

    /// Everything waiting, in transactions of at most `batch_max` (at shutdown).
    pub fn drain(&mut self) -> Vec<Vec<Write>> {
        let mut batches = Vec::new();
        while !self.pending.is_empty() {
            let n = self.pending.len().min(self.batch_max);
            batches.push(self.pending.drain(..n).collect());
        }
        batches
    }

    /// Writes waiting now.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    fn next(&mut self) -> Next {
        if self.in_flight {
            Next::Wait
        } else if self.pending.len() >= self.batch_max {
            self.send()
        } else if !self.timer_armed {
            self.timer_armed = true;
            Next::Arm(self.batch_delay)
        } else {
            Next::Wait
        }
    }

    fn send(&mut self) -> Next {
        let n = self.pending.len().min(self.batch_max);
        self.in_flight = true;
        Next::Send(self.pending.drain(..n).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{PeerAddr, PeerId};

    fn write(i: u16) -> Write {
        Write::Peer {
            id: PeerId::new("p"),
            addr: PeerAddr::new("127.0.0.1", i),
            key: None,
            at_ms: 0,
        }
    }

    fn config(batch_max: usize, max_pending: usize) -> StorageConfig {
        StorageConfig {
            batch_max,
            max_pending,
            ..StorageConfig::default()
        }
    }

    /// A first write arms the delay; the timer sends what gathered as one
    /// transaction; writes during it wait for `done`, then go at once.
    #[test]
    fn writes_gather_until_the_delay() {
        let mut b = Batcher::new(&config(10, 100));
        assert!(
            matches!(b.push(write(1)), Some(Next::Arm(d)) if d == StorageConfig::default().batch_delay)
        );
        assert!(matches!(b.push(write(2)), Some(Next::Wait)));
        let Next::Send(batch) = b.timer_fired() else {
            panic!("the timer sends")
        };
        assert_eq!(batch.len(), 2);
        assert!(matches!(b.push(write(3)), Some(Next::Wait)));
        assert!(matches!(b.timer_fired(), Next::Wait));
        let Next::Send(batch) = b.done() else {
            panic!("what waited goes next")
        };
        assert_eq!(batch.len(), 1);
        assert!(matches!(b.done(), Next::Wait));
    }

    /// The `batch_max`-th write sends at once, without waiting for the
    /// timer; a transaction never holds more than `batch_max`.
    #[test]
    fn a_full_batch_goes_at_once() {
        let mut b = Batcher::new(&config(3, 100));
        b.push(write(1));
        b.push(write(2));
        let Some(Next::Send(batch)) = b.push(write(3)) else {
            panic!("full")
        };
        assert_eq!(batch.len(), 3);
        for i in 0..7 {
            b.push(write(10 + i));
        }
        let Next::Send(batch) = b.done() else {
            panic!("next")
        };
        assert_eq!(batch.len(), 3);
        assert_eq!(b.pending(), 4);
        let drained = b.drain();
        assert_eq!(drained.iter().map(Vec::len).collect::<Vec<_>>(), [3, 1]);
    }

    /// Past `max_pending` waiting writes, more are refused (the caller counts them).
    #[test]
    fn past_max_pending_writes_are_dropped() {
        let mut b = Batcher::new(&config(2, 4));
        b.push(write(1));
        b.push(write(2)); // sent: in flight
        for i in 0..4 {
            assert!(b.push(write(10 + i)).is_some());
        }
        assert_eq!(b.pending(), 4);
        assert!(b.push(write(99)).is_none());
        assert_eq!(b.pending(), 4);
    }
}
