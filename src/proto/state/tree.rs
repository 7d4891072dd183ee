//! Broadcast along a tree (Plumtree): eager and lazy links, `IHAVE` announcements, `GRAFT` repair, `PRUNE`.
//!
//! Leitão, Pereira and Rodrigues, "Epidemic Broadcast Trees" (SRDS 2007),
//! between peers that both announce the `tree` capability. A link starts
//! eager; a duplicate over an eager link prunes it, so the eager links of a
//! quiet network become a spanning tree. Lazy links carry announcements,
//! batched per link over `ihave_window` and sent to `lazy_fanout` of them per
//! message; a node that hears of an id it lacks asks for it (`GRAFT`) after
//! `graft_timeout`, which also makes that link eager again. Links to peers
//! without the capability, and broadcasts without an id, are flooded.

use std::collections::VecDeque;
use std::time::Duration;

use super::*;
use crate::config::BroadcastMode;
use crate::proto::store::Stored;

/// Tree state of one connection.
#[derive(Debug, Default)]
pub(super) struct TreeLink {
    /// Both ends announced `tree`: broadcasts follow the tree on this link.
    pub(super) on: bool,
    /// Broadcasts go in full on it (eager), else only announced (lazy).
    pub(super) eager: bool,
    /// When it last turned eager: what arrived before, while it was lazy,
    /// still goes in the next sweep's announcement to it.
    eager_since: Instant,
    /// Work waiting for this link; boxed, since most links have none.
    queues: Option<Box<LinkQueues>>,
}

#[derive(Debug, Default)]
struct LinkQueues {
    /// Announcements waiting for the dispatch window.
    ihave: Vec<(MessageId, u32)>,
    /// Ids the peer grafted and has not been sent yet.
    grafts: VecDeque<MessageId>,
}

impl TreeLink {
    fn queues(&mut self) -> &mut LinkQueues {
        self.queues.get_or_insert_with(Default::default)
    }

    fn make_eager(&mut self, now: Instant) {
        if !self.eager {
            self.eager = true;
            self.eager_since = now;
        }
    }
}

/// An id announced to this node that it does not have yet.
#[derive(Debug, Default)]
pub(super) struct Missing {
    /// Who announced it, in order, with their rounds; asked in turn.
    announcers: VecDeque<(ConnId, u32)>,
    /// Already waited `graft_patience` for the last answer.
    waited: bool,
    /// When it was first announced.
    since: Instant,
    /// The links grafted for it, in order (the last: the link asked last),
    /// and when the first and the last graft went.
    grafted: Vec<ConnId>,
    grafted_at: Instant,
    asked_at: Instant,
}

impl NodeState {
    /// True when this node builds trees (and announces `tree`).
    pub(super) fn tree_mode(&self) -> bool {
        self.config.broadcast == BroadcastMode::Tree
    }

    /// A peer registered on `conn`, announcing `tree` or not: the link joins
    /// the tree (eager) when both ends build trees.
    pub(super) fn tree_link_up(&mut self, conn: ConnId, peer_tree: bool, now: Instant) {
        let on = self.tree_mode() && peer_tree;
        if let Some(c) = self.conns.get_mut(&conn) {
            if c.tree.on != on {
                c.tree = TreeLink {
                    on,
                    eager: on,
                    eager_since: now,
                    queues: None,
                };
            }
        }
    }

    /// True while this node still has tree work due that no frame in flight
    /// shows: an announced message it lacks (its graft timers pending), or
    /// announcements of new messages not sent yet (the dispatch window, the
    /// sweep). An executor that waits for a broadcast to settle before it
    /// checks who delivered (the simulator) waits for these too: a node whose
    /// eager parent crashed hears of the message only from them.
    pub fn tree_pending(&self) -> bool {
        !self.missing.is_empty() || self.dispatch_armed || self.sweep_armed
    }

    /// The registered peers this node sends broadcasts to in full over the
    /// tree (its eager tree links), in id order.
    pub fn eager_peers(&self) -> Vec<PeerId> {
        let mut peers: Vec<PeerId> = self
            .conns
            .values()
            .filter(|c| c.tree.on && c.tree.eager)
            .filter_map(|c| c.peer.as_ref().map(|s| s.name.clone()))
            .collect();
        peers.sort();
        peers
    }

    /// A `BROADCAST` arrived on `src` (`None`: made here, `round` 0).
    pub(super) fn on_broadcast(
        &mut self,
        src: Option<ConnId>,
        frame: &Frame,
        text: &str,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        let from = &frame.envelope().originator;
        let tree_src = src
            .and_then(|c| self.conns.get(&c))
            .is_some_and(|c| c.tree.on);
        // A broadcast this node grafted answers its own request: not charged
        // against the link's rate of new ids.
        let grafted = frame
            .envelope()
            .id
            .is_some_and(|id| self.missing.contains_key(&id));
        let arrival = if grafted {
            Arrival::Answer
        } else {
            Arrival::Live
        };
        let verdict = match self.first_sight(src, frame, arrival, now, out) {
            Ok(verdict) => verdict,
            Err(refused) => {
                // Refused as a duplicate, or over the link's rate: only a
                // duplicate on a tree link shapes the tree (flooding pays nothing more).
                // A copy of what this node caught up on by pull says nothing
                // about the tree's paths: the first copy never came over one.
                let on_tree = src.filter(|_| tree_src && !self.caught_up_by_pull(frame));
                if let Some(conn) = on_tree.filter(|_| refused == Refused::Seen) {
                    trace!(%from, "duplicate broadcast on a tree link");
                    match self.needless_graft(frame.envelope().id, conn, now) {
                        // The message came by its old path after all: undo the
                        // graft, not the path.
                        Some(grafted) => self.prune_if_eager(grafted, now, out),
                        None => self.prune_if_eager(conn, now, out),
                    }
                }
                return;
            }
        };
        if let Some(id) = frame.envelope().id {
            self.graft_answered(id, src, now);
        }
        if self.feeds_on() && !self.admit_numbered(frame, now) {
            return;
        }
        self.metrics.deliveries += 1;
        self.deliver(frame, text, src, (verdict, false), now, out);
        let round = if tree_src {
            frame.round().unwrap_or(0).saturating_add(1)
        } else {
            1
        };
        let via = src.filter(|_| tree_src);
        self.pass_on(frame, src, via, round, now, out);
    }

    /// Forwards a new broadcast: flooded when this node floods or the
    /// message has no id; else stored, sent in full on eager tree links and on
    /// links outside the tree, and announced on a few lazy ones.
    pub(super) fn pass_on(
        &mut self,
        frame: &Frame,
        src: Option<ConnId>,
        via: Option<ConnId>,
        round: u32,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        let plain = frame.without_round();
        self.persist(&plain, out);
        let Some(id) = frame.envelope().id.filter(|_| self.tree_mode()) else {
            return self.forward(&plain, src, out);
        };
        let stored = Stored {
            id,
            frame: plain.clone(),
            at: now,
            round,
            via,
            pulled: false,
        };
        self.keep(stored, now);
        if !self.sweep_armed {
            self.sweep_armed = true;
            out.push(OutEvent::Schedule {
                delay: self.config.tree.ihave_sweep,
                timer: Timer::TreeSweep,
            });
        }
        let (origin, signer) = origin_of(frame.envelope());
        let eager = frame.with_round(round);
        let mut lazy = std::mem::take(&mut self.scratch);
        lazy.clear();
        for (slot, p) in self.peers.iter() {
            if slot.is_origin(origin, signer) || (p.conn.is_some() && p.conn == src) {
                continue;
            }
            let link = p.link();
            // Tree links get the frame with its round (eager) or an
            // announcement (lazy); the rest, the frame as it is shared.
            let sent = match (&link, p.conn.and_then(|c| self.conns.get(&c))) {
                (Link::Conn(conn), Some(c)) if c.tree.on && !c.tree.eager => {
                    lazy.push(*conn);
                    continue;
                }
                (_, Some(c)) if c.tree.on => &eager,
                _ => &plain,
            };
            push_link(
                &mut self.metrics,
                &mut self.one_shots,
                link,
                sent.clone(),
                out,
            );
        }
        let fanout = self.config.tree.lazy_fanout.min(lazy.len());
        for k in 0..fanout {
            let pick = k + (self.next_random() as usize) % (lazy.len() - k);
            lazy.swap(k, pick);
            self.announce(lazy[k], id, round, out);
        }
        self.scratch = lazy;
    }

    /// Keeps a new broadcast in the message store (to answer `GRAFT`s and
    /// tell announced ids this node holds) and stops waiting for it.
    pub(super) fn keep(&mut self, stored: Stored, now: Instant) {
        let id = stored.id;
        self.store.expire(now);
        self.store.insert(stored);
        self.missing.remove(&id);
    }

    /// Queues an announcement of `id` for `conn`'s next `IHAVE`.
    fn announce(&mut self, conn: ConnId, id: MessageId, round: u32, out: &mut Vec<OutEvent>) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.tree.queues().ihave.push((id, round));
            self.arm_dispatch(out);
        }
    }

    fn arm_dispatch(&mut self, out: &mut Vec<OutEvent>) {
        if !self.dispatch_armed {
            self.dispatch_armed = true;
            out.push(OutEvent::Schedule {
                delay: self.config.tree.ihave_window,
                timer: Timer::TreeDispatch,
            });
        }
    }

    /// The dispatch window closed: each link's announcements go out as `IHAVE`s.
    pub(super) fn on_dispatch(&mut self, now: Instant, out: &mut Vec<OutEvent>) {
        self.dispatch_armed = false;
        let mut batches = Vec::new();
        for (conn, c) in self.conns.iter_mut() {
            if let Some(q) = c.tree.queues.as_deref_mut() {
                if !q.ihave.is_empty() {
                    batches.push((*conn, std::mem::take(&mut q.ihave)));
                }
            }
        }
        for (conn, ids) in batches {
            self.send_ihaves(&[conn], &ids, now, out);
        }
    }

    /// The sweep: every lazy tree link hears, in one `IHAVE`, of every
    /// broadcast stored since the last sweep, so each link learns of each
    /// message within `ihave_sweep` whatever the fan-out chose.
    pub(super) fn on_sweep(&mut self, now: Instant, out: &mut Vec<OutEvent>) {
        self.sweep_armed = false;
        let since = std::mem::replace(&mut self.last_sweep, now);
        let stored: Vec<(MessageId, u32, Instant)> = self
            .store
            .since(since)
            .map(|s| (s.id, s.round, s.at))
            .collect();
        if stored.is_empty() {
            return;
        }
        // Lazy links hear of everything; a link that turned eager during the
        // period, of what arrived before it did (that went to it in full
        // neither way).
        let mut lazy = Vec::new();
        let mut turned = Vec::new();
        for (id, c) in &self.conns {
            if c.peer.is_none() || !c.tree.on {
                continue;
            }
            if !c.tree.eager {
                lazy.push(*id);
            } else if c.tree.eager_since > since {
                turned.push((*id, c.tree.eager_since));
            }
        }
        let all: Vec<(MessageId, u32)> = stored.iter().map(|&(id, r, _)| (id, r)).collect();
        self.send_ihaves(&lazy, &all, now, out);
        for (conn, eager_since) in turned {
            let before: Vec<(MessageId, u32)> = stored
                .iter()
                .filter(|s| s.2 < eager_since)
                .map(|&(id, r, _)| (id, r))
                .collect();
            self.send_ihaves(&[conn], &before, now, out);
        }
    }

    /// Sends `ids` as `IHAVE`s (of at most `max_ihave_ids` each) on every link of `conns`.
    fn send_ihaves(
        &mut self,
        conns: &[ConnId],
        ids: &[(MessageId, u32)],
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        if conns.is_empty() {
            return;
        }
        for chunk in ids.chunks(self.config.tree.max_ihave_ids) {
            let Some(frame) = self.control_frame(types::IHAVE, serde_json::json!(chunk), now)
            else {
                continue;
            };
            for &conn in conns {
                self.metrics.ihave_sent += 1;
                self.metrics.ihave_ids_sent += chunk.len() as u64;
                self.send(conn, frame.clone(), out);
            }
        }
    }

    /// The tree link `conn` (registered, both ends in tree mode), or `None`, counted.
    fn tree_conn(&mut self, conn: ConnId) -> Option<&mut Conn> {
        match self.conns.get_mut(&conn) {
            Some(c) if c.peer.is_some() && c.tree.on => Some(c),
            _ => {
                self.metrics.tree_frames_ignored += 1;
                debug!(%conn, "tree frame on a connection outside the tree, ignored");
                None
            }
        }
    }

    /// `IHAVE` on `conn`: note the ids this node lacks and when to ask for
    /// them; swap the link in if it shows a much shorter path.
    pub(super) fn on_ihave(
        &mut self,
        conn: ConnId,
        ids: &[(MessageId, u32)],
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        if self.tree_conn(conn).is_none() {
            return;
        }
        if ids.len() > self.config.tree.max_ihave_ids {
            self.metrics.ihave_oversized += 1;
            debug!(%conn, ids = ids.len(), "IHAVE longer than max_ihave_ids, closing");
            return self.close(conn, DisconnectReason::Malformed, out);
        }
        let mut swapped = false;
        for &(id, round) in ids {
            if self.has_id(id) {
                if !swapped {
                    swapped = self.maybe_optimize(conn, id, round, now, out);
                }
                continue;
            }
            let pending = self.missing.len();
            match self.missing.get_mut(&id) {
                Some(m) => {
                    if !m.announcers.iter().any(|(c, _)| *c == conn) {
                        m.announcers.push_back((conn, round));
                    }
                }
                None if pending >= self.config.tree.max_pending_grafts => {
                    self.metrics.pending_grafts_dropped += 1;
                }
                None => {
                    let mut m = Missing {
                        since: now,
                        ..Missing::default()
                    };
                    m.announcers.push_back((conn, round));
                    self.missing.insert(id, m);
                    // While repairing, an announced id will not come by itself.
                    let delay = if now < self.repair_until {
                        Duration::ZERO
                    } else {
                        self.graft_timing.first_wait(&self.config.tree)
                    };
                    out.push(OutEvent::Schedule {
                        delay,
                        timer: Timer::Graft(id),
                    });
                }
            }
        }
    }

    /// A lazy link announced `id` at `round`, which this node got over a
    /// path longer by `optimize_rounds` or more: make the lazy link eager
    /// and prune the one the message came on. True when it swapped.
    fn maybe_optimize(
        &mut self,
        lazy: ConnId,
        id: MessageId,
        round: u32,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) -> bool {
        let Some(stored) = self.store.get(&id) else {
            return false;
        };
        let (mine, via) = (stored.round, stored.via);
        let Some(eager) = via.filter(|v| *v != lazy) else {
            return false;
        };
        let lazy_is_lazy = self.conns.get(&lazy).is_some_and(|c| !c.tree.eager);
        let eager_is_eager = self.conns.get(&eager).is_some_and(|c| c.tree.eager);
        if !lazy_is_lazy || !eager_is_eager {
            return false;
        }
        if mine
            < round
                .saturating_add(1)
                .saturating_add(self.config.tree.optimize_rounds)
        {
            return false;
        }
        debug!(%lazy, %eager, mine, round, "shorter path announced, swapping links");
        self.metrics.tree_swaps += 1;
        self.graft(lazy, Vec::new(), now, out);
        self.prune(eager, now, out);
        true
    }

    /// The graft timer of `id`: ask the next announcer, unless it came meanwhile.
    pub(super) fn on_graft_timer(&mut self, id: MessageId, now: Instant, out: &mut Vec<OutEvent>) {
        if self.has_id(id) {
            self.missing.remove(&id);
            return;
        }
        let Some(m) = self.missing.get_mut(&id) else {
            return;
        };
        // The waits may have grown since this timer was set (the first
        // announcements of a burst come before anything is learned): wait
        // out the rest rather than graft what is still on its way.
        let due = if m.grafted.is_empty() {
            m.since + self.graft_timing.first_wait(&self.config.tree)
        } else if !m.waited {
            m.asked_at + self.graft_timing.retry_wait(&self.config.tree)
        } else {
            now
        };
        if now < due && now >= self.repair_until {
            out.push(OutEvent::Schedule {
                delay: due.saturating_since(now),
                timer: Timer::Graft(id),
            });
            return;
        }
        let mut asked = None;
        while let Some((conn, _)) = m.announcers.pop_front() {
            if self.conns.get(&conn).is_some_and(|c| c.tree.on) {
                asked = Some(conn);
                break;
            }
        }
        if let Some(conn) = asked {
            if m.grafted.is_empty() {
                m.grafted_at = now;
            }
            m.asked_at = now;
            m.grafted.push(conn);
        }
        let since = m.since;
        let Some(conn) = asked else {
            let last = m
                .grafted
                .last()
                .copied()
                .filter(|c| self.conns.get(c).is_some_and(|c| c.tree.on));
            if let Some(last) = last.filter(|_| !self.config.tree.graft_patience.is_zero()) {
                if !m.waited {
                    // The link asked last is still up: its answer is queued
                    // behind what that peer sends (paced by its send queue),
                    // which under load is seconds of traffic.
                    m.waited = true;
                    self.metrics.grafts_waited += 1;
                    out.push(OutEvent::Schedule {
                        delay: self.config.tree.graft_patience,
                        timer: Timer::Graft(id),
                    });
                    return;
                }
                // Still nothing: ask that link once more (its store keeps
                // the message for `store_ttl`) and stop tracking the id. No
                // repair: that would make every link eager, a flood.
                self.missing.remove(&id);
                self.metrics.grafts_failed += 1;
                debug!(%id, %last, "grafted message not come after the patience: asked once more");
                self.graft(last, vec![id], now, out);
                return;
            }
            self.missing.remove(&id);
            self.metrics.grafts_failed += 1;
            debug!(%id, "announced message never came, no one left to ask: repairing");
            // Everyone who announced it is gone: ask every tree link for
            // what it got lately, as after losing a link.
            if now >= self.repair_until {
                self.repair(now, out);
            }
            return;
        };
        if self.recent_graft_order.len() >= self.config.tree.max_pending_grafts {
            if let Some(old) = self.recent_graft_order.pop_front() {
                self.recent_grafts.remove(&old);
            }
        }
        if self.recent_grafts.insert(id, (conn, since)).is_none() {
            self.recent_graft_order.push_back(id);
        }
        self.graft(conn, vec![id], now, out);
        out.push(OutEvent::Schedule {
            delay: self.graft_timing.retry_wait(&self.config.tree),
            timer: Timer::Graft(id),
        });
    }

    /// A duplicate of `id` came on `conn`. If this node grafted `id` from
    /// another link, that graft was needless (the old path delivered after
    /// all, only later): how late is learned (see [`graft_timing`]), and the
    /// grafted link is returned (to be pruned).
    fn needless_graft(
        &mut self,
        id: Option<MessageId>,
        conn: ConnId,
        now: Instant,
    ) -> Option<ConnId> {
        let id = id?;
        let (asked, since) = *self.recent_grafts.get(&id)?;
        if asked == conn {
            return None;
        }
        // Judged once; the order list forgets it in its turn.
        self.recent_grafts.remove(&id);
        self.metrics.grafts_needless += 1;
        self.graft_timing.eager_late(now.saturating_since(since));
        Some(asked)
    }

    /// A new broadcast came while its id was awaited: a graft's answer
    /// says how long grafts take; a copy by any other path, how late eager
    /// copies trail their announcements (see [`graft_timing`]).
    fn graft_answered(&mut self, id: MessageId, src: Option<ConnId>, now: Instant) {
        let Some(m) = self.missing.get(&id) else {
            return;
        };
        if src.is_some_and(|c| m.grafted.contains(&c)) {
            self.graft_timing
                .answered(now.saturating_since(m.grafted_at));
        } else {
            self.graft_timing.eager_late(now.saturating_since(m.since));
        }
    }

    /// Sends `GRAFT` (for `ids`, or none: "be eager") on `conn`, which turns eager.
    fn graft(&mut self, conn: ConnId, ids: Vec<MessageId>, now: Instant, out: &mut Vec<OutEvent>) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.tree.make_eager(now);
        }
        if let Some(frame) = self.control_frame(types::GRAFT, serde_json::json!(ids), now) {
            self.metrics.graft_sent += 1;
            self.send(conn, frame, out);
        }
    }

    /// Sends `PRUNE` on `conn`, which turns lazy.
    fn prune(&mut self, conn: ConnId, now: Instant, out: &mut Vec<OutEvent>) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.tree.eager = false;
        }
        let frame = match &self.prune_frame {
            Some((at, frame)) if *at == now => Some(frame.clone()),
            _ => self.control_frame(types::PRUNE, Value::from(""), now),
        };
        if let Some(frame) = frame {
            self.prune_frame = Some((now, frame.clone()));
            self.metrics.prune_sent += 1;
            self.send(conn, frame, out);
        }
    }

    /// A tree frame (`IHAVE`, `GRAFT`, `PRUNE`) from this node; `None`
    /// (logged) only if it cannot be encoded.
    fn control_frame(&self, msg_type: &str, msg: Value, now: Instant) -> Option<Frame> {
        Frame::encode(self.envelope(msg_type, msg, now))
            .map_err(|error| debug!(%error, msg_type, "cannot encode tree frame"))
            .ok()
    }

    /// A duplicate came over `conn`: if it was eager, it is not needed in full.
    fn prune_if_eager(&mut self, conn: ConnId, now: Instant, out: &mut Vec<OutEvent>) {
        if self.conns.get(&conn).is_some_and(|c| c.tree.eager) {
            self.prune(conn, now, out);
        }
    }

    /// `GRAFT` on `conn`: the link turns eager and the ids asked for are
    /// queued, to go out as the link's send queue allows. One naming no ids
    /// (a peer repairing its tree) is answered with announcements of what
    /// arrived in the last `repair_window`.
    pub(super) fn on_graft(
        &mut self,
        conn: ConnId,
        ids: &[MessageId],
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        let backlog = self.config.tree.graft_backlog;
        let Some(c) = self.tree_conn(conn) else {
            return;
        };
        c.tree.make_eager(now);
        let q = c.tree.queues();
        let room = backlog.saturating_sub(q.grafts.len());
        q.grafts.extend(ids.iter().take(room).copied());
        let dropped = ids.len().saturating_sub(room) as u64;
        self.metrics.graft_backlog_dropped += dropped;
        if ids.is_empty() {
            let since = Instant::from_epoch(
                now.since_epoch()
                    .saturating_sub(self.config.tree.repair_window),
            );
            let recent: Vec<(MessageId, u32)> =
                self.store.since(since).map(|s| (s.id, s.round)).collect();
            for (id, round) in recent {
                self.announce(conn, id, round, out);
            }
        }
        self.serve_grafts(conn, out);
    }

    /// Sends up to `graft_batch` grafted messages on `conn`; if more wait,
    /// asks the executor to say when the link's send queue is low again.
    pub(super) fn serve_grafts(&mut self, conn: ConnId, out: &mut Vec<OutEvent>) {
        let batch = self.config.tree.graft_batch;
        let Some(q) = self
            .conns
            .get_mut(&conn)
            .and_then(|c| c.tree.queues.as_deref_mut())
        else {
            return;
        };
        let ids: Vec<MessageId> = (0..batch).map_while(|_| q.grafts.pop_front()).collect();
        let more = !q.grafts.is_empty();
        for id in ids {
            match self.store.get(&id) {
                Some(s) => {
                    let frame = s.frame.with_round(s.round);
                    self.metrics.grafts_served += 1;
                    self.send(conn, frame, out);
                }
                None => {
                    self.metrics.graft_unknown += 1;
                    trace!(%id, "GRAFT for a message not (or no longer) stored");
                }
            }
        }
        if more {
            out.push(OutEvent::WatchQueue { conn });
        }
    }

    /// `PRUNE` on `conn`: broadcasts are only announced on it from now on.
    pub(super) fn on_prune(&mut self, conn: ConnId) {
        if let Some(c) = self.tree_conn(conn) {
            c.tree.eager = false;
        }
    }

    /// An eager tree link went away: every other tree link is asked to be
    /// eager again (an id-less `GRAFT`), so a node cut off from its part of
    /// the tree hears of what it missed and gets what comes next.
    pub(super) fn tree_link_lost(&mut self, lost: &Conn, now: Instant, out: &mut Vec<OutEvent>) {
        if lost.tree.on && lost.tree.eager {
            self.repair(now, out);
        }
    }

    /// Asks every tree link to be eager and to announce what it got in the
    /// last `repair_window` (an id-less `GRAFT`); for that long, announced
    /// ids this node lacks are grafted at once.
    fn repair(&mut self, now: Instant, out: &mut Vec<OutEvent>) {
        self.metrics.tree_repairs += 1;
        self.repair_until = Instant::from_epoch(
            now.since_epoch()
                .saturating_add(self.config.tree.repair_window),
        );
        let others: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.peer.is_some() && c.tree.on)
            .map(|(id, _)| *id)
            .collect();
        for conn in others {
            self.graft(conn, Vec::new(), now, out);
        }
    }
}
