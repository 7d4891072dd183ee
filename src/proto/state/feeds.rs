//! Numbered feeds: this node's own numbering (reserved ahead in blocks), per-feed in-order delivery with a bounded hold-back, and the history restored at start.

use std::collections::{BTreeMap, VecDeque};

use super::*;
use crate::proto::feed::FeedId;
use crate::proto::store::Admit;

/// This node's own feed.
#[derive(Debug)]
pub(super) struct OwnFeed {
    pub(super) epoch: u64,
    /// The number the next broadcast gets.
    pub(super) next: u64,
    /// Numbers below this are reserved (durable) and may be used.
    pub(super) limit: u64,
    /// A [`OutEvent::ReserveFeed`] is unanswered.
    reserving: bool,
    /// Broadcasts waiting for a reservation, numbered (and signed) in turn
    /// from `next` on.
    queue: VecDeque<Frame>,
}

/// Delivery order of one feed.
#[derive(Debug, Default)]
pub(super) struct Order {
    /// The number the application gets next (0: nothing delivered yet).
    next: u64,
    /// Broadcasts ahead of a gap, held back.
    held: BTreeMap<u64, Held>,
}

#[derive(Debug)]
struct Held {
    event: Event,
    at: Instant,
    src: Option<ConnId>,
}

impl NodeState {
    /// True when this node numbers its broadcasts and catches up (`history.feeds`).
    pub(super) fn feeds_on(&self) -> bool {
        self.config.history.feeds
    }

    /// Sets this node's feed: its `epoch`, the number its next broadcast
    /// gets, and the limit below which numbers are already durable (the
    /// executor's: a random epoch at each start, or what a data directory
    /// holds). Without it, the first broadcast draws an epoch from the
    /// seeded generator and starts at 1.
    pub fn set_feed(&mut self, epoch: u64, next_seq: u64, limit: u64) {
        let next = next_seq.max(1);
        self.catchup.own = Some(OwnFeed {
            epoch,
            next,
            limit,
            reserving: false,
            queue: VecDeque::new(),
        });
    }

    /// This node's feed: `(epoch, next seq, reserved limit)`, once set or drawn.
    pub fn feed(&self) -> Option<(u64, u64, u64)> {
        self.catchup
            .own
            .as_ref()
            .map(|o| (o.epoch, o.next, o.limit))
    }

    /// Puts broadcasts a history database held back into the store and the
    /// seen-cache (call at start, after [`NodeState::set_feed`]): they are
    /// answered to pulls and never delivered again.
    pub fn restore_history(&mut self, frames: Vec<Frame>) {
        let now = Instant::ZERO;
        for frame in frames {
            let env = frame.envelope();
            if !matches!(frame.body(), Body::Broadcast { .. }) {
                continue;
            }
            self.seen.insert(SeenKey::of(env), now);
            let (Some(id), Some((feed, seq))) = (env.id, FeedId::of(env)) else {
                continue;
            };
            self.store.history_mut().admit(&feed, seq, id, &frame, now);
            let order = self
                .catchup
                .order
                .get_or_insert_with(feed, Default::default);
            order.next = order.next.max(seq.saturating_add(1));
        }
    }

    /// Every broadcast kept in history, feed by feed in order: what a
    /// history database holds (the simulator keeps it across a crash).
    pub fn history_frames(&self) -> Vec<Frame> {
        self.store.history().frames()
    }

    /// Own broadcast with feeds on: numbered (and signed) now; sent at once
    /// if its number is reserved, else held (at most `own_queue`) until
    /// [`InEvent::FeedReserved`]. The id it goes out under.
    pub(super) fn broadcast_numbered(
        &mut self,
        id: MessageId,
        text: String,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) -> Result<MessageId> {
        let frame = self.app_frame(self.broadcast_envelope(id, text, now)?)?;
        let sent = frame.envelope().id.unwrap_or(id);
        let own_queue = self.config.history.own_queue;
        let Some(own) = self.catchup.own.as_mut() else {
            return Ok(sent);
        };
        if own.next < own.limit && own.queue.is_empty() {
            self.send_numbered(frame, now, out);
            return Ok(sent);
        }
        if own.queue.len() >= own_queue {
            self.metrics.own_queue_dropped += 1;
            debug!(%sent, "feed counter not reserved and the queue is full: broadcast dropped");
        } else {
            own.queue.push_back(frame);
        }
        self.reserve_ahead(out);
        Ok(sent)
    }

    /// Draws this node's feed epoch from the seeded generator, when feeds
    /// are on and the executor set none ([`NodeState::set_feed`]).
    pub(super) fn ensure_feed(&mut self) {
        if self.feeds_on() && self.catchup.own.is_none() {
            let epoch = self.next_random();
            self.set_feed(epoch, 1, 0);
        }
    }

    /// The `(epoch, seq)` this node's next broadcast gets, with feeds on:
    /// the next number after those sent and those waiting.
    pub(super) fn next_number(&self) -> Option<(u64, u64)> {
        self.catchup
            .own
            .as_ref()
            .filter(|_| self.feeds_on())
            .map(|o| (o.epoch, o.next + o.queue.len() as u64))
    }

    fn send_numbered(&mut self, frame: Frame, now: Instant, out: &mut Vec<OutEvent>) {
        if let Some(own) = self.catchup.own.as_mut() {
            own.next += 1;
        }
        self.seen.insert(SeenKey::of(frame.envelope()), now);
        if let (Some(id), Some((feed, seq))) = (frame.envelope().id, FeedId::of(frame.envelope())) {
            self.store.history_mut().admit(&feed, seq, id, &frame, now);
            let order = self
                .catchup
                .order
                .get_or_insert_with(feed, Default::default);
            order.next = order.next.max(seq + 1);
        }
        self.pass_on(&frame, None, None, 0, now, out);
        self.reserve_ahead(out);
    }

    /// Asks for the next block of numbers once half of the current one is used.
    pub(super) fn reserve_ahead(&mut self, out: &mut Vec<OutEvent>) {
        let block = self.config.history.reserve_block;
        let Some(own) = self.catchup.own.as_mut() else {
            return;
        };
        if own.reserving || own.next.saturating_add(block / 2) < own.limit {
            return;
        }
        own.reserving = true;
        let limit = own.limit.max(own.next).saturating_add(block);
        out.push(OutEvent::ReserveFeed { limit });
    }

    /// The executor made numbers below `limit` durable: send what waited.
    pub(super) fn on_feed_reserved(&mut self, limit: u64, now: Instant, out: &mut Vec<OutEvent>) {
        let Some(own) = self.catchup.own.as_mut() else {
            return;
        };
        own.reserving = false;
        own.limit = own.limit.max(limit);
        loop {
            let Some(own) = self.catchup.own.as_mut() else {
                return;
            };
            if own.next >= own.limit {
                break;
            }
            let Some(frame) = own.queue.pop_front() else {
                break;
            };
            self.send_numbered(frame, now, out);
        }
        if self
            .catchup
            .own
            .as_ref()
            .is_some_and(|o| !o.queue.is_empty())
        {
            self.reserve_ahead(out);
        }
    }

    /// Takes a numbered broadcast into history: `false` (counted) when it
    /// must go no further, a second text for a number held, or a number had.
    pub(super) fn admit_numbered(&mut self, frame: &Frame, now: Instant) -> bool {
        let env = frame.envelope();
        let (Some(id), Some((feed, seq))) = (env.id, FeedId::of(env)) else {
            return true;
        };
        match self.store.history_mut().admit(&feed, seq, id, frame, now) {
            Admit::New => true,
            Admit::Duplicate => {
                self.metrics.duplicates_dropped += 1;
                false
            }
            Admit::Conflict => {
                self.metrics.feed_conflicts += 1;
                debug!(originator = %env.originator, seq, %id, "second message for one place in a feed, dropped");
                false
            }
        }
    }

    /// Gives a broadcast accepted as new to the application: at once, or,
    /// ahead of a gap in its feed, after the gap fills or `holdback` passes;
    /// with what the checks found and whether it was pulled (late).
    pub(super) fn deliver(
        &mut self,
        frame: &Frame,
        text: &str,
        src: Option<ConnId>,
        (verdict, late): (Verdict, bool),
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        let env = frame.envelope();
        let event = Event::Broadcast {
            from: env.originator.clone(),
            text: text.to_owned(),
            id: env.id,
            time: env.time.clone(),
            verified: verdict.verified(),
            trust: verdict.trust,
            late,
        };
        // Live ones are kept as they are passed on (`pass_on`); a pulled one
        // is not passed on, so it is kept here.
        if late {
            self.persist(&frame.without_round(), out);
        }
        if !self.feeds_on() {
            return out.push(OutEvent::Emit(event));
        }
        let Some((feed, seq)) = FeedId::of(env) else {
            return out.push(OutEvent::Emit(event));
        };
        let max_feeds = self.config.history.max_feeds;
        let orders = &mut self.catchup.order;
        if !orders.contains_key(&feed) && orders.len() >= max_feeds {
            // Forget the order of a feed with nothing held (throwaway feeds).
            let idle = orders
                .iter()
                .find(|(_, o)| o.held.is_empty())
                .map(|(f, _)| f.clone());
            match idle {
                Some(f) => {
                    orders.remove(&f);
                }
                None => return out.push(OutEvent::Emit(event)),
            }
        }
        let order = orders.get_or_insert_with(feed.clone(), Default::default);
        if order.next == 0 || seq == order.next {
            order.next = seq.saturating_add(1);
            out.push(OutEvent::Emit(event));
            return self.release(&feed, false, now, out);
        }
        if seq < order.next {
            return out.push(OutEvent::Emit(mark_late(event)));
        }
        order.held.insert(
            seq,
            Held {
                event,
                at: now,
                src,
            },
        );
        if order.held.len() > self.config.history.holdback_max {
            return self.release(&feed, true, now, out);
        }
        self.arm_holdback(now, out);
    }

    /// Delivers the held broadcasts of `feed` that follow on without a gap;
    /// with `force`, all of them, each gap reported (and pulled).
    fn release(&mut self, feed: &FeedId, force: bool, now: Instant, out: &mut Vec<OutEvent>) {
        let Some(order) = self.catchup.order.get_mut(feed) else {
            return;
        };
        let mut gaps = Vec::new();
        while let Some(entry) = order.held.first_entry() {
            let seq = *entry.key();
            if seq > order.next && !force {
                break;
            }
            let held = entry.remove();
            if seq > order.next {
                let (first, last) = (order.next, seq - 1);
                gaps.push((first, last, held.src));
                if let Event::Broadcast { from, .. } = &held.event {
                    out.push(OutEvent::Emit(Event::Gap {
                        from: from.clone(),
                        epoch: feed.epoch,
                        first,
                        last,
                    }));
                }
            }
            order.next = order.next.max(seq.saturating_add(1));
            out.push(OutEvent::Emit(held.event));
        }
        for (first, last, src) in gaps {
            self.metrics.feed_gaps += 1;
            trace!(author = %feed.author, first, last, "gap in a feed");
            if let Some(conn) = src {
                self.gap_seen(feed.clone(), last, conn, now, out);
            }
        }
    }

    fn arm_holdback(&mut self, now: Instant, out: &mut Vec<OutEvent>) {
        if self.catchup.holdback_armed {
            return;
        }
        let oldest = self
            .catchup
            .order
            .values()
            .flat_map(|o| o.held.values().map(|h| h.at))
            .min();
        if let Some(at) = oldest {
            self.catchup.holdback_armed = true;
            let due = at + self.config.history.holdback;
            out.push(OutEvent::Schedule {
                delay: due.saturating_since(now),
                timer: Timer::Holdback,
            });
        }
    }

    /// The hold-back timer: feeds whose oldest held broadcast waited
    /// `holdback` are delivered, gaps reported.
    pub(super) fn on_holdback(&mut self, now: Instant, out: &mut Vec<OutEvent>) {
        self.catchup.holdback_armed = false;
        let wait = self.config.history.holdback;
        let due: Vec<FeedId> = self
            .catchup
            .order
            .iter()
            .filter(|(_, o)| o.held.values().any(|h| h.at + wait <= now))
            .map(|(f, _)| f.clone())
            .collect();
        for feed in due {
            self.release(&feed, true, now, out);
        }
        self.arm_holdback(now, out);
    }
}

fn mark_late(mut event: Event) -> Event {
    if let Event::Broadcast { late, .. } = &mut event {
        *late = true;
    }
    event
}
