//! Catch-up by pull (the `seq` capability): `DIGEST` on link-up and every `digest_interval`, `SUMMARY` of what changed on a mismatch, `PULL` in windows from one peer per feed, `HISTORY` answers paced by the send queue.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use super::feeds::{Order, OwnFeed};
use super::*;
use crate::proto::feed::{digest_hex, FeedId, MAX_AUTHOR_LEN};
use crate::proto::store::Stored;

/// Peers a stalled pull is tried on before it is given up.
const PULL_TRIES: usize = 8;

/// Everything numbered feeds and catch-up keep (boxed in [`NodeState`]).
#[derive(Debug, Default)]
pub(super) struct CatchUp {
    pub(super) own: Option<OwnFeed>,
    pub(super) order: SmallMap<FeedId, Order>,
    pub(super) holdback_armed: bool,
    /// Links whose peer numbers feeds.
    pub(super) links: SmallMap<ConnId, LinkState>,
    pulls: BTreeMap<FeedId, Pull>,
    /// Feeds no peer could bring up to this number: not pulled again below it.
    exhausted: HashMap<FeedId, u64>,
    /// Gaps reported in live traffic, pulled at the next look if still
    /// open (a straggler on a slow path often fills them first): the feed,
    /// the last missing number, the link the message after it came on, when.
    gaps: Vec<(FeedId, u64, ConnId, Instant)>,
    /// Messages each peer may still be sent in answer to its pulls (across its connections).
    served: BTreeMap<PeerSlot, Bucket>,
    digest_armed: bool,
    soon_armed: bool,
    tick_armed: bool,
}

#[cfg(test)]
impl CatchUp {
    pub(super) fn pulls_len(&self) -> usize {
        self.pulls.len()
    }

    pub(super) fn order_len(&self) -> usize {
        self.order.len()
    }
}

#[derive(Debug, Default)]
pub(super) struct LinkState {
    /// What this node last told the peer (feed → highest contiguous).
    sent: SmallMap<FeedId, u64>,
    /// What the peer told this node.
    has: SmallMap<FeedId, u64>,
    /// Its pulls waiting to be answered: feed, next number, last number.
    serving: VecDeque<(FeedId, u64, u64)>,
}

#[cfg(test)]
impl LinkState {
    pub(super) fn has_len(&self) -> usize {
        self.has.len()
    }
}

#[derive(Debug)]
struct Pull {
    conn: ConnId,
    from: u64,
    to: u64,
    /// The most any peer claimed.
    claimed: u64,
    last: Instant,
    tried: Vec<ConnId>,
}

impl NodeState {
    /// A peer registered on `conn`; if both ends number feeds, digests are compared.
    pub(super) fn catchup_link_up(
        &mut self,
        conn: ConnId,
        peer_seq: bool,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        if !self.feeds_on() || !peer_seq || self.catchup.links.contains_key(&conn) {
            return;
        }
        self.catchup.links.insert(conn, LinkState::default());
        self.send_digest(conn, now, out);
        if !self.catchup.digest_armed {
            self.catchup.digest_armed = true;
            out.push(OutEvent::Schedule {
                delay: self.config.history.digest_interval,
                timer: Timer::Digest,
            });
        }
    }

    /// `conn` is gone: its pulls move to other peers at the next look.
    pub(super) fn catchup_link_down(&mut self, conn: ConnId, out: &mut Vec<OutEvent>) {
        if self.catchup.links.remove(&conn).is_none() {
            return;
        }
        if self.catchup.pulls.values().any(|p| p.conn == conn) {
            self.arm_tick(out);
        }
    }

    fn link_ok(&mut self, conn: Option<ConnId>) -> Option<ConnId> {
        match conn {
            Some(c) if self.catchup.links.contains_key(&c) => Some(c),
            _ => {
                self.metrics.catchup_ignored += 1;
                trace!(
                    ?conn,
                    "catch-up frame from a peer that does not number feeds, ignored"
                );
                None
            }
        }
    }

    fn catchup_frame(&self, msg_type: &str, msg: Value, now: Instant) -> Option<Frame> {
        Frame::encode(self.envelope(msg_type, msg, now))
            .map_err(|error| debug!(%error, msg_type, "cannot encode catch-up frame"))
            .ok()
    }

    fn send_digest(&mut self, conn: ConnId, now: Instant, out: &mut Vec<OutEvent>) {
        let d = self.store.history_mut().digest();
        if let Some(frame) = self.catchup_frame(types::DIGEST, Value::from(digest_hex(&d)), now) {
            self.metrics.digests_sent += 1;
            self.metrics.digest_bytes += frame.wire_len() as u64;
            self.send(conn, frame, out);
        }
    }

    fn digest_all(&mut self, now: Instant, out: &mut Vec<OutEvent>) {
        let conns: Vec<ConnId> = self.catchup.links.keys().copied().collect();
        for conn in conns {
            self.send_digest(conn, now, out);
        }
    }

    /// The periodic digest: every link that numbers feeds compares again.
    pub(super) fn on_digest_timer(&mut self, now: Instant, out: &mut Vec<OutEvent>) {
        self.catchup.digest_armed = false;
        self.store.history_mut().expire(now);
        if self.catchup.links.is_empty() {
            return;
        }
        self.digest_all(now, out);
        self.catchup.digest_armed = true;
        out.push(OutEvent::Schedule {
            delay: self.config.history.digest_interval,
            timer: Timer::Digest,
        });
    }

    /// The digest soon after catching up: peers learn of it hop by hop.
    pub(super) fn on_digest_soon(&mut self, now: Instant, out: &mut Vec<OutEvent>) {
        self.catchup.soon_armed = false;
        self.digest_all(now, out);
    }

    fn arm_soon(&mut self, out: &mut Vec<OutEvent>) {
        if !self.catchup.soon_armed {
            self.catchup.soon_armed = true;
            out.push(OutEvent::Schedule {
                delay: self.config.history.digest_soon,
                timer: Timer::DigestSoon,
            });
        }
    }

    fn arm_tick(&mut self, out: &mut Vec<OutEvent>) {
        if !self.catchup.tick_armed {
            self.catchup.tick_armed = true;
            out.push(OutEvent::Schedule {
                // Never at once: a look finds a pull stalled only after some time.
                delay: (self.config.history.pull_timeout / 2).max(Duration::from_millis(1)),
                timer: Timer::CatchUp,
            });
        }
    }

    /// `DIGEST` on `conn`: on a mismatch, tell the peer what changed since
    /// the last summary it had from this node.
    pub(super) fn on_digest(
        &mut self,
        conn: Option<ConnId>,
        digest: &[u8; 32],
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        let Some(conn) = self.link_ok(conn) else {
            return;
        };
        if self.store.history_mut().digest() == *digest {
            return;
        }
        self.tell_changes(conn, false, now, out);
    }

    /// Sends `conn`'s peer, as `SUMMARY` frames of at most `summary_entries`,
    /// the feeds whose entry differs from what this node last told it on
    /// that connection (only those the peer has claimed less of, when
    /// `lacking_only`), and records them as told.
    fn tell_changes(
        &mut self,
        conn: ConnId,
        lacking_only: bool,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        let mine = self.store.history().summary();
        let max_feeds = self.config.history.max_feeds;
        let Some(link) = self.catchup.links.get_mut(&conn) else {
            return;
        };
        let changed: Vec<(FeedId, u64)> = mine
            .into_iter()
            .filter(|(f, c)| link.sent.get(f) != Some(c))
            .filter(|(f, c)| !lacking_only || link.has.get(f).copied().unwrap_or(0) < *c)
            .collect();
        for (f, c) in &changed {
            link.sent.insert(f.clone(), *c);
        }
        if link.sent.len() > 2 * max_feeds {
            let history = self.store.history();
            link.sent.retain(|f, _| history.knows(f));
        }
        for chunk in changed.chunks(self.config.history.summary_entries) {
            let entries: Vec<(&str, u64, u64)> = chunk
                .iter()
                .map(|(f, c)| (&*f.author, f.epoch, *c))
                .collect();
            if let Some(frame) = self.catchup_frame(types::SUMMARY, serde_json::json!(entries), now)
            {
                self.metrics.summaries_sent += 1;
                self.metrics.summary_bytes += frame.wire_len() as u64;
                self.send(conn, frame, out);
            }
        }
    }

    /// `SUMMARY` on `conn`: note what the peer has; pull what this node lacks.
    pub(super) fn on_summary(
        &mut self,
        conn: Option<ConnId>,
        entries: &[(FeedId, u64)],
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        let Some(conn) = self.link_ok(conn) else {
            return;
        };
        if entries.len() > self.config.history.summary_entries {
            self.metrics.catchup_refused += 1;
            debug!(%conn, entries = entries.len(), "SUMMARY longer than summary_entries, closing");
            return self.close(conn, DisconnectReason::Malformed, out);
        }
        let max_feeds = self.config.history.max_feeds;
        for (feed, seq) in entries {
            if *seq == 0 || feed.author.len() > MAX_AUTHOR_LEN {
                self.metrics.catchup_refused += 1;
                continue;
            }
            let Some(link) = self.catchup.links.get_mut(&conn) else {
                return;
            };
            if !link.has.contains_key(feed) && link.has.len() >= max_feeds {
                self.metrics.catchup_refused += 1;
                continue;
            }
            let claimed = link.has.get_or_insert_with(feed.clone(), Default::default);
            *claimed = (*claimed).max(*seq);
            let claimed = *claimed;
            self.consider_pull(feed.clone(), claimed, conn, now, out);
        }
        // A node answering a `DIGEST` sends its own summary, which tells the
        // digest's sender what to pull, but not the other way round: the
        // feeds this node holds further than the peer claimed go back to it,
        // so a node behind a neighbour whose digest came after catching up
        // (hop by hop across a healed cut) learns what to pull. Each value is
        // told once per connection, so summaries never answer each other twice.
        self.tell_changes(conn, true, now, out);
    }

    /// A gap up to `last` outlived the hold-back: pulled from `conn` at the
    /// next look unless it fills meanwhile (at most `max_pulls` wait).
    pub(super) fn gap_seen(
        &mut self,
        feed: FeedId,
        last: u64,
        conn: ConnId,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        if self.catchup.gaps.len() >= self.config.history.max_pulls {
            self.metrics.catchup_refused += 1;
            return;
        }
        self.catchup.gaps.push((feed, last, conn, now));
        self.arm_tick(out);
    }

    /// How old a gap in live traffic must be before it is pulled. On a tree
    /// it is the tree's to fill first: as old as the tree's learned graft
    /// wait (the floor on a quiet network; seconds under load, when the
    /// missing messages are still queued on their way). Flooding: at once.
    fn live_gap_wait(&self) -> Duration {
        if self.tree_mode() {
            self.graft_timing.first_wait(&self.config.tree)
        } else {
            Duration::ZERO
        }
    }

    /// `conn`'s peer has `feed` up to `claimed`: pull what this node lacks,
    /// unless the feed is being pulled already or too many are.
    pub(super) fn consider_pull(
        &mut self,
        feed: FeedId,
        claimed: u64,
        conn: ConnId,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        if !self.catchup.links.contains_key(&conn) {
            return;
        }
        let mine = self.store.history().contiguous(&feed);
        if claimed <= mine || self.catchup.exhausted.get(&feed) >= Some(&claimed) {
            return;
        }
        if let Some(p) = self.catchup.pulls.get_mut(&feed) {
            p.claimed = p.claimed.max(claimed);
            return;
        }
        if self.catchup.pulls.len() >= self.config.history.max_pulls {
            return;
        }
        let pull = Pull {
            conn,
            from: 0,
            to: 0,
            claimed,
            last: now,
            tried: vec![conn],
        };
        self.catchup.pulls.insert(feed.clone(), pull);
        self.pull_window(&feed, now, out);
        self.arm_tick(out);
    }

    /// Asks the pull's peer for the next window of `feed` this node lacks.
    fn pull_window(&mut self, feed: &FeedId, now: Instant, out: &mut Vec<OutEvent>) {
        let (per_feed, window) = (
            self.config.history.per_feed as u64,
            self.config.history.pull_window,
        );
        let history = self.store.history();
        let mine = history.contiguous(feed);
        let Some(p) = self.catchup.pulls.get_mut(feed) else {
            return;
        };
        // Never more than a feed's history below the claim: a claim of
        // u64::MAX costs one window, not an endless walk.
        let from = mine
            .saturating_add(1)
            .max(p.claimed.saturating_sub(per_feed - 1));
        // Only the hole: numbers had past it (a live gap's later messages)
        // are not asked for again.
        let hole_end = history.next_had(feed, from).map_or(u64::MAX, |n| n - 1);
        let to = p
            .claimed
            .min(from.saturating_add(window - 1))
            .min(hole_end.max(from));
        (p.from, p.to, p.last) = (from, to, now);
        let conn = p.conn;
        let msg = serde_json::json!([&*feed.author, feed.epoch, from, to]);
        if let Some(frame) = self.catchup_frame(types::PULL, msg, now) {
            self.metrics.pulls_sent += 1;
            self.metrics.catchup_bytes += frame.wire_len() as u64;
            self.send(conn, frame, out);
        }
    }

    /// The catch-up look: pulls that are done move on, stalled ones go to
    /// another peer (or are given up), feeds waiting their turn start.
    pub(super) fn on_catchup_tick(&mut self, now: Instant, out: &mut Vec<OutEvent>) {
        self.catchup.tick_armed = false;
        let timeout = self.config.history.pull_timeout;
        let wait = self.live_gap_wait();
        let mut young = Vec::new();
        for (feed, last, conn, at) in std::mem::take(&mut self.catchup.gaps) {
            // Still open: not every number up to its end has come.
            if self.store.history().contiguous(&feed) >= last {
                continue;
            }
            if now.saturating_since(at) < wait {
                young.push((feed, last, conn, at));
            } else {
                self.consider_pull(feed, last, conn, now, out);
            }
        }
        self.catchup.gaps = young;
        let feeds: Vec<FeedId> = self.catchup.pulls.keys().cloned().collect();
        for feed in feeds {
            let mine = self.store.history().contiguous(&feed);
            let Some(p) = self.catchup.pulls.get(&feed) else {
                continue;
            };
            if mine >= p.to {
                self.pull_done(&feed, now, out);
            } else if now.saturating_since(p.last) >= timeout
                || !self.catchup.links.contains_key(&p.conn)
            {
                self.pull_elsewhere(&feed, mine, now, out);
            }
        }
        self.start_waiting(now, out);
        if !self.catchup.pulls.is_empty() || !self.catchup.gaps.is_empty() {
            self.arm_tick(out);
        }
    }

    /// A window of `feed` is complete: the next one, or the pull is over.
    fn pull_done(&mut self, feed: &FeedId, now: Instant, out: &mut Vec<OutEvent>) {
        let mine = self.store.history().contiguous(feed);
        let Some(p) = self.catchup.pulls.get(feed) else {
            return;
        };
        if p.claimed > mine {
            self.pull_window(feed, now, out);
        } else {
            self.catchup.pulls.remove(feed);
            self.arm_soon(out);
        }
    }

    /// The pull of `feed` stalled: ask a peer not yet tried that claims more, or give up.
    fn pull_elsewhere(&mut self, feed: &FeedId, mine: u64, now: Instant, out: &mut Vec<OutEvent>) {
        let Some(p) = self.catchup.pulls.get(feed) else {
            return;
        };
        // A peer not asked yet that claims more; else one asked before that
        // claims more now (it may have caught up meanwhile).
        let claims = |l: &LinkState| l.has.get(feed).is_some_and(|&c| c > mine);
        let links = &self.catchup.links;
        let next = links
            .iter()
            .find(|(c, l)| !p.tried.contains(c) && claims(l))
            .or_else(|| links.iter().find(|(_, l)| claims(l)))
            .map(|(c, _)| *c);
        match next.filter(|_| p.tried.len() < PULL_TRIES) {
            Some(conn) => {
                if let Some(p) = self.catchup.pulls.get_mut(feed) {
                    p.conn = conn;
                    p.tried.push(conn);
                }
                self.pull_window(feed, now, out);
            }
            None => {
                let Some(p) = self.catchup.pulls.remove(feed) else {
                    return;
                };
                debug!(author = %feed.author, mine, claimed = p.claimed, "no peer brought the rest of a feed, given up");
                if self.catchup.exhausted.len() >= self.config.history.max_feeds {
                    self.catchup.exhausted.clear();
                }
                self.catchup.exhausted.insert(feed.clone(), p.claimed);
                if mine > 0 {
                    self.arm_soon(out);
                }
            }
        }
    }

    /// Starts pulls for feeds peers claim more of, while fewer than `max_pulls` run.
    fn start_waiting(&mut self, now: Instant, out: &mut Vec<OutEvent>) {
        let room = self
            .config
            .history
            .max_pulls
            .saturating_sub(self.catchup.pulls.len());
        if room == 0 {
            return;
        }
        let history = self.store.history();
        let mut wanted: Vec<(FeedId, u64, ConnId)> = Vec::new();
        for (conn, link) in &self.catchup.links {
            for (feed, &claimed) in &link.has {
                if wanted.len() >= room {
                    break;
                }
                if claimed > history.contiguous(feed)
                    && !self.catchup.pulls.contains_key(feed)
                    && self.catchup.exhausted.get(feed) < Some(&claimed)
                    && !wanted.iter().any(|(f, _, _)| f == feed)
                {
                    wanted.push((feed.clone(), claimed, *conn));
                }
            }
        }
        for (feed, claimed, conn) in wanted {
            self.consider_pull(feed, claimed, conn, now, out);
        }
    }

    /// `PULL` on `conn`: queued (at most `pull_backlog`, a window each) and
    /// answered as the link's send queue allows.
    pub(super) fn on_pull(
        &mut self,
        conn: Option<ConnId>,
        (feed, from, to): (&FeedId, u64, u64),
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        let Some(conn) = self.link_ok(conn) else {
            return;
        };
        let (window, backlog) = (
            self.config.history.pull_window,
            self.config.history.pull_backlog,
        );
        if from == 0 || to < from {
            self.metrics.catchup_refused += 1;
            return;
        }
        let mut to = to;
        if to - from >= window {
            self.metrics.catchup_refused += 1;
            to = from + (window - 1);
        }
        let Some(link) = self.catchup.links.get_mut(&conn) else {
            return;
        };
        if link.serving.len() >= backlog {
            self.metrics.catchup_refused += 1;
            return;
        }
        link.serving.push_back((feed.clone(), from, to));
        self.serve_pulls(conn, now, out);
    }

    /// Sends up to `pull_batch` pulled messages on `conn`, each charged to
    /// the peer's serve budget; if more wait, watches the send queue.
    pub(super) fn serve_pulls(&mut self, conn: ConnId, now: Instant, out: &mut Vec<OutEvent>) {
        let Some(peer) = self.conns.get(&conn).and_then(|c| c.peer.clone()) else {
            return;
        };
        let cfg = &self.config.history;
        let (batch, limit) = (
            cfg.pull_batch,
            RateLimit::new(cfg.serve_rate, cfg.serve_burst),
        );
        if self.catchup.served.len() > 2 * self.config.max_peers
            && !self.catchup.served.contains_key(&peer)
        {
            self.catchup.served.clear();
        }
        let mut frames = Vec::new();
        let mut refused = 0;
        {
            let Some(link) = self.catchup.links.get_mut(&conn) else {
                return;
            };
            let bucket = self.catchup.served.entry(peer).or_default();
            let history = self.store.history();
            while frames.len() < batch {
                let Some((feed, from, to)) = link.serving.front_mut() else {
                    break;
                };
                let Some((seq, kept)) = history.range(feed, *from, *to).next() else {
                    link.serving.pop_front();
                    continue;
                };
                if !bucket.take(&limit, now) {
                    // Over the peer's budget: the rest of this request is
                    // not answered (the peer asks again or elsewhere).
                    refused += 1;
                    link.serving.pop_front();
                    continue;
                }
                frames.push(kept.frame.clone());
                if seq >= *to {
                    link.serving.pop_front();
                } else {
                    *from = seq + 1;
                }
            }
        }
        self.metrics.catchup_refused += refused;
        for inner in frames {
            let msg: Value = match serde_json::from_slice(inner.bytes()) {
                Ok(v) => v,
                Err(error) => {
                    debug!(%error, "stored frame is not JSON");
                    continue;
                }
            };
            if let Some(frame) = self.catchup_frame(types::HISTORY, msg, now) {
                self.metrics.pull_served += 1;
                self.metrics.catchup_bytes += frame.wire_len() as u64;
                self.send(conn, frame, out);
            }
        }
        if self
            .catchup
            .links
            .get(&conn)
            .is_some_and(|l| !l.serving.is_empty())
        {
            out.push(OutEvent::WatchQueue { conn });
        }
    }

    /// True when `frame` is a numbered broadcast this node has, but not in
    /// the tree's window, or kept there as pulled: it came by catch-up (or
    /// long ago), not over the tree.
    pub(super) fn caught_up_by_pull(&self, frame: &Frame) -> bool {
        let env = frame.envelope();
        self.feeds_on()
            && env.seq.is_some()
            && env
                .id
                .is_some_and(|id| self.store.get(&id).is_none_or(|s| s.pulled))
    }

    /// `HISTORY` on `conn`: a message this node pulled from that peer is
    /// taken (delivered late, kept, not forwarded); anything else is dropped.
    pub(super) fn on_history(
        &mut self,
        conn: Option<ConnId>,
        inner: &Frame,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        let Some(conn) = self.link_ok(conn) else {
            return;
        };
        let Some((feed, seq)) = FeedId::of(inner.envelope()) else {
            return;
        };
        let asked = self
            .catchup
            .pulls
            .get_mut(&feed)
            .filter(|p| p.conn == conn && (p.from..=p.to).contains(&seq));
        let Some(p) = asked else {
            self.metrics.history_unsolicited += 1;
            trace!(%conn, author = %feed.author, seq, "HISTORY nobody asked for, dropped");
            return;
        };
        p.last = now;
        let to = p.to;
        let verdict = self
            .first_sight(Some(conn), inner, Arrival::Pulled, now, out)
            .ok();
        if let Some(verdict) = verdict.filter(|_| self.admit_numbered(inner, now)) {
            // Held like a broadcast that came live (not passed on: the
            // others have it or pull it), so an announcement of it is not
            // grafted and a GRAFT for it is answered.
            if let Some(id) = inner.envelope().id.filter(|_| self.tree_mode()) {
                let stored = Stored {
                    id,
                    frame: inner.without_round(),
                    at: now,
                    round: 0,
                    via: None,
                    pulled: true,
                };
                self.keep(stored, now);
            }
            if let Body::Broadcast { text } = inner.body() {
                self.metrics.deliveries += 1;
                self.metrics.caught_up += 1;
                let text = text.clone();
                self.deliver(inner, &text, Some(conn), (verdict, true), now, out);
            }
        }
        if self.store.history().contiguous(&feed) >= to {
            self.pull_done(&feed, now, out);
        }
    }
}
