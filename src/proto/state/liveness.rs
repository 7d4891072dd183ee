//! Liveness: handshake deadlines, keep-alive probes, dropping silent peers, failed dials told, redial with backoff.

use std::time::Duration;

use super::*;

impl NodeState {
    /// Closes `conn` if no valid hello registered a peer on it in time.
    pub(super) fn on_handshake_timer(&mut self, conn: ConnId, out: &mut Vec<OutEvent>) {
        if self.conns.get(&conn).is_some_and(|c| c.peer.is_none()) {
            debug!(%conn, "no hello in time");
            self.close(conn, DisconnectReason::HandshakeTimeout, out);
        }
    }

    /// Every `ping_interval`: drop peers silent for `peer_timeout`, probe quiet ones.
    pub(super) fn on_keep_alive(&mut self, now: Instant, out: &mut Vec<OutEvent>) {
        self.seen.expire(now);
        let mut silent = Vec::new();
        let mut quiet = Vec::new();
        for (id, c) in &self.conns {
            if c.peer.is_none() {
                continue;
            }
            let idle = now.saturating_since(c.last_rx);
            if idle >= self.config.peer_timeout {
                silent.push(*id);
            } else if idle >= self.config.ping_interval {
                quiet.push(*id);
            }
        }
        for conn in silent {
            debug!(%conn, "peer silent too long");
            self.close(conn, DisconnectReason::Timeout, out);
        }
        for conn in quiet {
            self.send_hello(Link::Conn(conn), types::PING, now, out);
        }
        self.one_shot_keep_alive(now, out);
        out.push(OutEvent::Schedule {
            delay: self.config.ping_interval,
            timer: Timer::KeepAlive,
        });
    }

    /// One-shot peers have no connection to watch: each is probed with a one-shot
    /// `PING` (its one-shot `PONG` counts as life) and dropped when silent too long.
    fn one_shot_keep_alive(&mut self, now: Instant, out: &mut Vec<OutEvent>) {
        let mut silent = Vec::new();
        let mut quiet = Vec::new();
        for (slot, p) in self.peers.iter().filter(|(_, p)| p.conn.is_none()) {
            let idle = now.saturating_since(p.last_seen);
            if idle >= self.config.peer_timeout {
                silent.push(slot.clone());
            } else if idle >= self.config.ping_interval {
                quiet.push(p.addr.clone());
            }
        }
        for slot in silent {
            if let Some(entry) = self.peers.remove(&slot) {
                let peer = slot.name;
                debug!(%peer, "one-shot peer silent too long");
                let reason = DisconnectReason::Timeout;
                out.push(OutEvent::Emit(Event::PeerDisconnected { peer, reason }));
                self.after_peer_lost(entry.addr, reason, out);
            }
        }
        for addr in quiet {
            self.send_hello(Link::OneShot(addr), types::PING, now, out);
        }
    }

    /// A registered peer went away: redial it unless this node chose to drop it;
    /// with no peers left, retry the bootstrap addresses too.
    pub(super) fn after_peer_lost(
        &mut self,
        addr: PeerAddr,
        reason: DisconnectReason,
        out: &mut Vec<OutEvent>,
    ) {
        if matches!(reason, DisconnectReason::Closed | DisconnectReason::Timeout) {
            self.redials.entry(addr.clone()).or_insert(0);
            self.schedule_redial(addr, out);
        }
        if self.peers.is_empty() {
            let idle: Vec<PeerAddr> = self
                .bootstrap
                .iter()
                .filter(|a| !self.redials.contains_key(*a))
                .cloned()
                .collect();
            for addr in idle {
                self.redials.insert(addr.clone(), 0);
                self.schedule_redial(addr, out);
            }
        }
    }

    /// A dial failed: tell the application, with when (if ever) it is tried again.
    pub(super) fn on_dial_failed(
        &mut self,
        addr: PeerAddr,
        error: DialError,
        out: &mut Vec<OutEvent>,
    ) {
        if self.secure_dial_failed(&addr, &error, out) {
            return;
        }
        debug!(%addr, %error, "dial failed");
        self.metrics.dials_failed += 1;
        if error == DialError::Unresolvable {
            self.metrics.dials_unresolvable += 1;
        }
        self.dialing.remove(&addr);
        let retry_in = self.after_dial_failed(addr.clone(), out);
        out.push(OutEvent::Emit(Event::DialFailed {
            addr,
            error,
            retry_in,
        }));
    }

    /// A dial of `addr` failed (or connected without registering anyone).
    /// Returns the delay of the next attempt, if there is one.
    pub(super) fn after_dial_failed(
        &mut self,
        addr: PeerAddr,
        out: &mut Vec<OutEvent>,
    ) -> Option<Duration> {
        let retry_bootstrap = self.bootstrap.contains(&addr) && self.peers.is_empty();
        if retry_bootstrap && !self.redials.contains_key(&addr) {
            self.redials.insert(addr.clone(), 0);
        }
        if self.redials.contains_key(&addr) {
            self.schedule_redial(addr, out)
        } else {
            None
        }
    }

    /// Time to dial `addr` again, unless its peer is back already.
    pub(super) fn on_redial_timer(&mut self, addr: PeerAddr, out: &mut Vec<OutEvent>) {
        if !self.redials.contains_key(&addr) {
            return;
        }
        if self.peers.has_addr(&addr) {
            self.redials.remove(&addr);
            return;
        }
        debug!(%addr, attempt = self.redials.get(&addr).copied().unwrap_or(0), "redialling");
        self.dial(addr, out);
    }

    /// Schedules the next attempt for `addr` and returns its delay, or gives
    /// up after `redial_attempts` (bootstrap addresses are retried for as long
    /// as the node has no peers).
    fn schedule_redial(&mut self, addr: PeerAddr, out: &mut Vec<OutEvent>) -> Option<Duration> {
        let attempt = self.redials.get(&addr).copied()?;
        let endless = self.bootstrap.contains(&addr) && self.peers.is_empty();
        if attempt >= self.config.redial_attempts && !endless {
            debug!(%addr, attempt, "giving up redialling");
            self.redials.remove(&addr);
            return None;
        }
        self.redials.insert(addr.clone(), attempt.saturating_add(1));
        let delay = self.backoff(attempt);
        out.push(OutEvent::Schedule {
            delay,
            timer: Timer::Redial(addr),
        });
        Some(delay)
    }

    /// `redial_base` doubled per attempt, capped at `redial_max`, then jittered
    /// into its upper half so that many nodes do not redial in step.
    fn backoff(&mut self, attempt: u32) -> Duration {
        let full = self
            .config
            .redial_base
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.config.redial_max);
        let half = full / 2;
        let jitter = (self.next_random() % 1_000_000) as u32;
        half + half.mul_f64(f64::from(jitter) / 1_000_000.0)
    }

    /// splitmix64: small, seeded, deterministic.
    pub(super) fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
