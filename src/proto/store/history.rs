//! The store's per-feed index: numbered broadcasts kept per feed, bounded by count, bytes and age per feed and in all, with a cap on feeds.
//!
//! Beside the kept messages each feed remembers which numbers this node has
//! had (the highest contiguous one and the few above it), so a message
//! evicted from history is still not taken twice, and the digest and
//! summaries say what this node holds.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::STORE_ENTRY_OVERHEAD;
use crate::proto::clock::Instant;
use crate::proto::feed::{self, FeedId};
use crate::proto::frame::Frame;
use crate::proto::small_map::SmallMap;
use crate::proto::wire::MessageId;

/// The bounds of a [`History`] (from `NodeConfig::history`).
#[derive(Debug, Clone, Copy)]
pub struct HistoryLimits {
    /// Messages per feed.
    pub per_feed: usize,
    /// Bytes per feed.
    pub feed_bytes: usize,
    /// Bytes in all.
    pub max_bytes: usize,
    /// Age of the oldest kept.
    pub age: Duration,
    /// Feeds tracked.
    pub max_feeds: usize,
}

/// One kept message.
#[derive(Debug, Clone)]
pub struct Kept {
    /// Its id.
    pub id: MessageId,
    /// The frame, without a round.
    pub frame: Frame,
    /// When this node first had it.
    pub at: Instant,
}

/// What [`History::admit`] made of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// A number this node had not had: kept (as far as the bounds allow).
    New,
    /// A number it had, with the same id (or one no longer kept).
    Duplicate,
    /// A number it holds with another id: a second text for one place in the feed.
    Conflict,
}

#[derive(Debug, Default)]
struct FeedLog {
    /// Every number up to this one has been had.
    contiguous: u64,
    /// Numbers had above `contiguous + 1` (at most `per_feed`).
    above: BTreeSet<u64>,
    msgs: BTreeMap<u64, Kept>,
    bytes: usize,
    last_at: Instant,
}

impl FeedLog {
    fn had(&self, seq: u64) -> bool {
        seq <= self.contiguous || self.above.contains(&seq)
    }

    fn mark(&mut self, seq: u64, per_feed: usize) {
        if self.contiguous.checked_add(1) == Some(seq) {
            // The usual case, in order: no set entry (an emptied set keeps its memory).
            self.contiguous = seq;
        } else {
            self.above.insert(seq);
        }
        if self.above.len() > per_feed {
            // The gap below the oldest number still tracked is given up:
            // it is older than the history any node keeps.
            if let Some(low) = self.above.pop_first() {
                self.contiguous = self.contiguous.max(low);
            }
        }
        while let Some(next) = self.contiguous.checked_add(1) {
            if !self.above.remove(&next) {
                break;
            }
            self.contiguous = next;
        }
    }
}

/// Numbered broadcasts per feed.
#[derive(Debug)]
pub struct History {
    feeds: SmallMap<FeedId, FeedLog>,
    bytes: usize,
    len: usize,
    limits: HistoryLimits,
    digest: Option<[u8; 32]>,
    /// Feeds forgotten to make room for another (throwaway feeds, mostly).
    pub feeds_evicted: u64,
}

fn cost(frame: &Frame) -> usize {
    frame.bytes().len() + STORE_ENTRY_OVERHEAD
}

impl History {
    /// An empty history with these bounds.
    pub fn new(limits: HistoryLimits) -> Self {
        History {
            feeds: SmallMap::new(),
            bytes: 0,
            len: 0,
            limits,
            digest: None,
            feeds_evicted: 0,
        }
    }

    /// Takes message `seq` of `feed`: new (kept), a duplicate, or a conflict.
    pub fn admit(
        &mut self,
        feed: &FeedId,
        seq: u64,
        id: MessageId,
        frame: &Frame,
        now: Instant,
    ) -> Admit {
        if !self.feeds.contains_key(feed) {
            if self.feeds.len() >= self.limits.max_feeds {
                self.evict_feed();
            }
            self.feeds.insert(feed.clone(), FeedLog::default());
        }
        let limits = self.limits;
        let Some(log) = self.feeds.get_mut(feed) else {
            return Admit::Duplicate;
        };
        if log.had(seq) {
            return match log.msgs.get(&seq) {
                Some(k) if k.id != id => Admit::Conflict,
                _ => Admit::Duplicate,
            };
        }
        log.mark(seq, limits.per_feed);
        log.last_at = now;
        self.digest = None;
        let c = cost(frame);
        if c <= limits.feed_bytes {
            let kept = Kept {
                id,
                frame: frame.without_round(),
                at: now,
            };
            log.msgs.insert(seq, kept);
            log.bytes += c;
            self.bytes += c;
            self.len += 1;
            while log.msgs.len() > limits.per_feed || log.bytes > limits.feed_bytes {
                let Some((_, old)) = log.msgs.pop_first() else {
                    break;
                };
                log.bytes -= cost(&old.frame);
                self.bytes -= cost(&old.frame);
                self.len -= 1;
            }
        }
        while self.bytes > limits.max_bytes {
            if !self.evict_from_largest() {
                break;
            }
        }
        Admit::New
    }

    /// Forgets the feed holding the fewest messages (the least recently
    /// active of those): a throwaway feed before a long history.
    fn evict_feed(&mut self) {
        let victim = self
            .feeds
            .iter()
            .min_by_key(|(_, l)| (l.msgs.len(), l.last_at))
            .map(|(f, _)| f.clone());
        if let Some(f) = victim {
            if let Some(log) = self.feeds.remove(&f) {
                self.bytes -= log.bytes;
                self.len -= log.msgs.len();
            }
            self.feeds_evicted += 1;
            self.digest = None;
        }
    }

    /// Drops the oldest message of the feed holding the most bytes.
    fn evict_from_largest(&mut self) -> bool {
        let Some(log) = self.feeds.values_mut().max_by_key(|l| l.bytes) else {
            return false;
        };
        let Some((_, old)) = log.msgs.pop_first() else {
            return false;
        };
        log.bytes -= cost(&old.frame);
        self.bytes -= cost(&old.frame);
        self.len -= 1;
        true
    }

    /// Forgets messages older than the age bound, and feeds with nothing
    /// kept that were last active before it.
    pub fn expire(&mut self, now: Instant) {
        let age = self.limits.age;
        let (mut bytes, mut len, before) = (0, 0, self.feeds.len());
        self.feeds.retain(|_, log| {
            while log
                .msgs
                .first_key_value()
                .is_some_and(|(_, k)| now.saturating_since(k.at) > age)
            {
                if let Some((_, old)) = log.msgs.pop_first() {
                    log.bytes -= cost(&old.frame);
                }
            }
            bytes += log.bytes;
            len += log.msgs.len();
            !log.msgs.is_empty() || now.saturating_since(log.last_at) <= age
        });
        if self.feeds.len() != before {
            self.digest = None;
        }
        self.bytes = bytes;
        self.len = len;
    }

    /// The highest number of `feed` up to which this node has had every message (0: none).
    pub fn contiguous(&self, feed: &FeedId) -> u64 {
        self.feeds.get(feed).map_or(0, |l| l.contiguous)
    }

    /// True when this node has had message `seq` of `feed`.
    pub fn had(&self, feed: &FeedId, seq: u64) -> bool {
        self.feeds.get(feed).is_some_and(|l| l.had(seq))
    }

    /// The lowest number of `feed` above `seq` that this node has had past
    /// its contiguous run (the end of the hole that starts after `seq`).
    pub fn next_had(&self, feed: &FeedId, seq: u64) -> Option<u64> {
        let log = self.feeds.get(feed)?;
        log.above.range(seq.saturating_add(1)..).next().copied()
    }

    /// True when `feed` is tracked.
    pub fn knows(&self, feed: &FeedId) -> bool {
        self.feeds.contains_key(feed)
    }

    /// Kept message `seq` of `feed`.
    pub fn get(&self, feed: &FeedId, seq: u64) -> Option<&Kept> {
        self.feeds.get(feed)?.msgs.get(&seq)
    }

    /// Kept messages of `feed` numbered `from..=to`, in order.
    pub fn range(&self, feed: &FeedId, from: u64, to: u64) -> impl Iterator<Item = (u64, &Kept)> {
        self.feeds
            .get(feed)
            .into_iter()
            .flat_map(move |l| l.msgs.range(from..=to.max(from)))
            .map(|(s, k)| (*s, k))
    }

    /// Every kept frame, feed by feed in order.
    pub fn frames(&self) -> Vec<Frame> {
        self.feeds
            .values()
            .flat_map(|l| l.msgs.values().map(|k| k.frame.clone()))
            .collect()
    }

    /// Every tracked feed with its highest contiguous number (above 0), sorted.
    pub fn summary(&self) -> Vec<(FeedId, u64)> {
        let mut all: Vec<(FeedId, u64)> = self
            .feeds
            .iter()
            .filter(|(_, l)| l.contiguous > 0)
            .map(|(f, l)| (f.clone(), l.contiguous))
            .collect();
        all.sort();
        all
    }

    /// The digest of [`History::summary`] ([`feed::digest`]), cached until it changes.
    pub fn digest(&mut self) -> [u8; 32] {
        if let Some(d) = self.digest {
            return d;
        }
        let d = feed::digest(self.feeds.iter().map(|(f, l)| (f, l.contiguous)));
        self.digest = Some(d);
        d
    }

    /// Messages kept.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes counted against the bound.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Feeds tracked.
    pub fn feeds(&self) -> usize {
        self.feeds.len()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn msg(author: &str, seq: u64, text: &str) -> (MessageId, Frame) {
        let id = MessageId::from_u128(u128::from(seq) << 32 | text.len() as u128);
        let line = format!(
            r#"{{"msg_type":"BROADCAST","msg":"{text}","originator":"{author}","time":"t","id":"{id}","epoch":1,"seq":{seq}}}"#
        );
        (id, Frame::decode(Bytes::from(line)).unwrap())
    }

    fn feed(a: &str) -> FeedId {
        FeedId {
            author: a.into(),
            epoch: 1,
        }
    }

    fn limits() -> HistoryLimits {
        HistoryLimits {
            per_feed: 10,
            feed_bytes: usize::MAX,
            max_bytes: usize::MAX,
            age: Duration::from_secs(60),
            max_feeds: 4,
        }
    }

    fn at(s: u64) -> Instant {
        Instant::from_epoch(Duration::from_secs(s))
    }

    /// Numbers in any order make the contiguous mark; a repeat is a
    /// duplicate, a second text for a held number a conflict.
    #[test]
    fn contiguous_duplicates_and_conflicts() {
        let mut h = History::new(limits());
        let f = feed("a");
        for seq in [2, 1, 4] {
            let (id, fr) = msg("a", seq, "x");
            assert_eq!(h.admit(&f, seq, id, &fr, at(0)), Admit::New);
        }
        assert_eq!(h.contiguous(&f), 2);
        let (id, fr) = msg("a", 4, "x");
        assert_eq!(h.admit(&f, 4, id, &fr, at(0)), Admit::Duplicate);
        let (id, fr) = msg("a", 4, "other text");
        assert_eq!(h.admit(&f, 4, id, &fr, at(0)), Admit::Conflict);
        assert_eq!(h.len(), 3);
        assert_eq!(h.range(&f, 1, 10).count(), 3);
    }

    /// Per-feed count, age and the feed cap: a flood of one-message feeds
    /// evicts only one-message feeds, never the long one.
    #[test]
    fn bounded_per_feed_and_in_feeds() {
        let mut h = History::new(limits());
        let f = feed("long");
        for seq in 1..=25 {
            let (id, fr) = msg("long", seq, "x");
            h.admit(&f, seq, id, &fr, at(seq));
        }
        assert_eq!(h.len(), 10);
        assert_eq!(h.contiguous(&f), 25);
        assert_eq!(h.range(&f, 1, 25).next().unwrap().0, 16);
        for n in 0..1000 {
            let name = format!("throwaway{n}");
            let (id, fr) = msg(&name, 1, "x");
            h.admit(&feed(&name), 1, id, &fr, at(30));
        }
        assert_eq!(h.feeds(), 4);
        assert!(h.knows(&f));
        assert_eq!(h.feeds_evicted, 997);
        assert!(h.len() <= 13);
        h.expire(at(30 + 61));
        assert_eq!(h.len(), 0);
        assert_eq!(h.bytes(), 0);
    }

    /// A number far ahead (u64::MAX) is taken once and the tracked numbers
    /// above the contiguous mark stay within the per-feed bound.
    #[test]
    fn far_ahead_numbers_are_bounded() {
        let mut h = History::new(limits());
        let f = feed("a");
        let (id, fr) = msg("a", u64::MAX, "x");
        assert_eq!(h.admit(&f, u64::MAX, id, &fr, at(0)), Admit::New);
        assert_eq!(h.admit(&f, u64::MAX, id, &fr, at(0)), Admit::Duplicate);
        for seq in (1000..2000).step_by(2) {
            let (id, fr) = msg("a", seq, "x");
            h.admit(&f, seq, id, &fr, at(0));
        }
        assert!(h.feeds.get(&f).is_some_and(|l| l.above.len() <= 10));
        assert!(h.len() <= 10);
    }

    /// Past a feed's byte quota its oldest messages go; past the bound in
    /// all, the oldest of the largest feed; a frame larger than the quota is
    /// not kept (but still marked had).
    #[test]
    fn bounded_in_bytes_per_feed_and_in_all() {
        let one = cost(&msg("a", 1, "x").1);
        let mut h = History::new(HistoryLimits {
            per_feed: 100,
            feed_bytes: one * 3,
            max_bytes: one * 4,
            age: Duration::from_secs(60),
            max_feeds: 10,
        });
        for seq in 1..=6 {
            let (id, fr) = msg("a", seq, "x");
            h.admit(&feed("a"), seq, id, &fr, at(0));
        }
        assert_eq!(h.range(&feed("a"), 1, 6).count(), 3);
        for seq in 1..=2 {
            let (id, fr) = msg("b", seq, "x");
            h.admit(&feed("b"), seq, id, &fr, at(0));
        }
        assert!(h.bytes() <= one * 4);
        assert_eq!(h.len(), 4);
        // The larger feed gave way first.
        assert_eq!(h.range(&feed("a"), 1, 6).count(), 2);
        let big = "y".repeat(one * 4);
        let (id, fr) = msg("c", 1, &big);
        assert_eq!(h.admit(&feed("c"), 1, id, &fr, at(0)), Admit::New);
        assert!(h.get(&feed("c"), 1).is_none());
        assert!(h.had(&feed("c"), 1));
    }
}
