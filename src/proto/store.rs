//! The message store: the broadcasts a node has seen, kept for a while to answer `GRAFT`s.
//!
//! One store serves every request for a message a node already passed on:
//! the tree's `GRAFT`s from the arrival order kept here (bounded in bytes
//! and in age), catch-up's `PULL`s from the per-feed index of
//! [`history`] (numbered broadcasts, kept longer, with per-feed quotas). Frames are kept without their
//! per-hop round, sharing the bytes every copy shares, so storing a
//! message costs an entry, not a copy.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use super::clock::Instant;
use super::event::ConnId;
use super::frame::Frame;
use super::wire::MessageId;

pub mod history;
pub use history::{Admit, History, HistoryLimits, Kept};

/// Entries a store finds by scanning before it keeps an index by id: a
/// node that stores a handful of messages (most of a simulated million)
/// holds no map.
pub const STORE_INDEX_MIN: usize = 32;

/// Bytes an entry costs besides its frame's text, counted against the bound.
pub const STORE_ENTRY_OVERHEAD: usize = 64;

/// One stored broadcast.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Its id.
    pub id: MessageId,
    /// The frame, without a round.
    pub frame: Frame,
    /// When this node first had it.
    pub at: Instant,
    /// This node's round for it: tree links crossed from its originator.
    pub round: u32,
    /// The connection it first came on (`None`: this node sent it, or a
    /// link that is not part of the tree).
    pub via: Option<ConnId>,
    /// It was pulled by catch-up, not pushed over any link: a copy that
    /// comes over the tree later says nothing about the tree's paths.
    pub pulled: bool,
}

/// Broadcasts in arrival order, bounded by bytes and age.
#[derive(Debug)]
pub struct MessageStore {
    entries: VecDeque<Stored>,
    /// Absolute position of `entries[0]` (positions only grow).
    head: u64,
    /// Id → absolute position, kept once `entries` holds [`STORE_INDEX_MIN`].
    /// Boxed: most stores (a simulated node's few messages) never build it.
    // Eight bytes inline, not forty-eight, for the index most never build.
    #[allow(clippy::box_collection)]
    index: Option<Box<HashMap<MessageId, u64>>>,
    bytes: usize,
    max_bytes: usize,
    ttl: Duration,
    /// Numbered broadcasts per feed, kept longer (history and catch-up).
    history: History,
}

impl MessageStore {
    /// A store of at most `max_bytes` that forgets entries older than `ttl`.
    pub fn new(max_bytes: usize, ttl: Duration) -> Self {
        Self::with_history(max_bytes, ttl, None)
    }

    /// As [`MessageStore::new`], keeping numbered broadcasts per feed within
    /// `limits` (`None`: no history, every bound zero).
    pub fn with_history(max_bytes: usize, ttl: Duration, limits: Option<HistoryLimits>) -> Self {
        let limits = limits.unwrap_or(HistoryLimits {
            per_feed: 0,
            feed_bytes: 0,
            max_bytes: 0,
            age: Duration::ZERO,
            max_feeds: 0,
        });
        MessageStore {
            history: History::new(limits),
            entries: VecDeque::new(),
            head: 0,
            index: None,
            bytes: 0,
            max_bytes,
            ttl,
        }
    }

    fn cost(frame: &Frame) -> usize {
        frame.bytes().len() + STORE_ENTRY_OVERHEAD
    }

    /// Keeps `stored` (the caller has checked it is new), forgetting the
    /// oldest entries while the bound is passed. A message larger than the
    /// whole bound is not kept.
    pub fn insert(&mut self, stored: Stored) {
        let cost = Self::cost(&stored.frame);
        if cost > self.max_bytes {
            return;
        }
        while self.bytes + cost > self.max_bytes {
            self.pop_oldest();
        }
        self.bytes += cost;
        let position = self.head + self.entries.len() as u64;
        if let Some(index) = &mut self.index {
            index.insert(stored.id, position);
        }
        self.entries.push_back(stored);
        if self.index.is_none() && self.entries.len() >= STORE_INDEX_MIN {
            let head = self.head;
            let index = self.entries.iter().enumerate();
            self.index = Some(Box::new(
                index.map(|(i, s)| (s.id, head + i as u64)).collect(),
            ));
        }
    }

    fn pop_oldest(&mut self) {
        if let Some(old) = self.entries.pop_front() {
            self.bytes -= Self::cost(&old.frame);
            self.head += 1;
            if let Some(index) = &mut self.index {
                index.remove(&old.id);
            }
        }
        if self.entries.is_empty() {
            self.index = None;
        }
    }

    /// Forgets entries older than the store's age bound at `now`.
    pub fn expire(&mut self, now: Instant) {
        while self
            .entries
            .front()
            .is_some_and(|s| now.saturating_since(s.at) > self.ttl)
        {
            self.pop_oldest();
        }
    }

    /// The stored message `id`.
    pub fn get(&self, id: &MessageId) -> Option<&Stored> {
        match &self.index {
            Some(index) => {
                let position = index.get(id)?;
                self.entries.get((position - self.head) as usize)
            }
            None => self.entries.iter().find(|s| &s.id == id),
        }
    }

    /// Entries that arrived at `since` or later, oldest first.
    pub fn since(&self, since: Instant) -> impl Iterator<Item = &Stored> {
        let newer = self
            .entries
            .iter()
            .rev()
            .take_while(|s| s.at >= since)
            .count();
        self.entries.iter().skip(self.entries.len() - newer)
    }

    /// Messages held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes counted against the bound.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The per-feed history.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The per-feed history, to add to.
    pub fn history_mut(&mut self) -> &mut History {
        &mut self.history
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn stored(n: u128, at_ms: u64) -> Stored {
        let id = MessageId::from_u128(n);
        let line = format!(
            r#"{{"msg_type":"BROADCAST","msg":"m{n}","originator":"a","time":"t","id":"{}"}}"#,
            id
        );
        Stored {
            id,
            frame: Frame::decode(Bytes::from(line)).unwrap(),
            at: Instant::from_epoch(Duration::from_millis(at_ms)),
            round: 1,
            via: None,
            pulled: false,
        }
    }

    /// Found by id below and above the index threshold, in order by time.
    #[test]
    fn finds_by_id_with_and_without_index() {
        let mut s = MessageStore::new(usize::MAX, Duration::from_secs(60));
        for n in 0..100 {
            s.insert(stored(n, n as u64));
            assert!(s.get(&MessageId::from_u128(n)).is_some());
            assert!(s.get(&MessageId::from_u128(0)).is_some());
        }
        assert!(s.get(&MessageId::from_u128(1000)).is_none());
        let recent: Vec<u128> = s
            .since(Instant::from_epoch(Duration::from_millis(97)))
            .map(|x| x.id.as_uuid().as_u128())
            .collect();
        assert_eq!(recent, vec![97, 98, 99]);
    }

    /// Past the byte bound the oldest go first; past the age bound, on expire.
    #[test]
    fn bounded_by_bytes_and_age() {
        let one = MessageStore::cost(&stored(99, 0).frame);
        let mut s = MessageStore::new(one * 40, Duration::from_secs(1));
        for n in 0..100 {
            s.insert(stored(n, n as u64 * 10));
        }
        assert_eq!(s.len(), 40);
        assert!(s.bytes() <= one * 40);
        assert!(s.get(&MessageId::from_u128(59)).is_none());
        assert!(s.get(&MessageId::from_u128(60)).is_some());
        // At 1,989 ms only what arrived within the last second stays: 99 (at 990 ms).
        s.expire(Instant::from_epoch(Duration::from_millis(1989)));
        assert!(s.get(&MessageId::from_u128(99)).is_some());
        assert!(s.get(&MessageId::from_u128(98)).is_none());
        s.expire(Instant::from_epoch(Duration::from_secs(10)));
        assert!(s.is_empty());
        assert_eq!(s.bytes(), 0);
        // A message larger than the whole store is not kept.
        let mut tiny = MessageStore::new(10, Duration::from_secs(1));
        tiny.insert(stored(1, 0));
        assert!(tiny.is_empty());
    }
}
