//! Registration: `PING`/`PONG` handling, one-shot peers, duplicate connections, the peer limit.

use super::*;
use crate::proto::caps::{SEQ, TREE};

impl NodeState {
    /// `PING` or `PONG` on `conn`: register the sender, answer a `PING`.
    pub(super) fn on_hello(
        &mut self,
        conn: ConnId,
        frame: &Frame,
        addr: PeerAddr,
        is_ping: bool,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        let origin = frame.envelope().originator.clone();
        let key = self.hello_key(conn, frame.envelope());
        if self.is_self(&origin, key.as_ref()) {
            debug!(%conn, "hello names this node's own key, or its id and no key");
            return self.close(conn, DisconnectReason::SelfConnection, out);
        }
        let Some(bound) = self.conns.get(&conn).map(|c| c.peer.clone()) else {
            return;
        };
        let other_key = |b: &PeerSlot| b.key.zip(key).is_some_and(|(b, k)| b != k);
        if bound
            .as_ref()
            .is_some_and(|b| b.name != origin || other_key(b))
        {
            self.metrics.rejected_frames += 1;
            debug!(%conn, claimed = %origin, "hello claims another id than the connection's peer");
            return;
        }
        let Some(addr) = self.recorded_addr(conn, addr, bound.is_none()) else {
            return;
        };
        if let Some(reason) = self.hello_link_check(conn, frame.envelope(), &addr) {
            return self.close(conn, reason, out);
        }
        let version = frame.envelope().v;
        let caps = Caps::shared_with(frame.envelope().caps.as_deref());
        let (tree, seq) = (caps.has(TREE), caps.has(SEQ));
        let slot = self.peers.matching(&origin, key.as_ref());
        let slot = slot.unwrap_or_else(|| PeerSlot::new(origin.clone(), key));
        if version.is_none() {
            return self.on_one_shot_hello(conn, slot, addr, is_ping, now, out);
        }
        match self.peers.get(&slot).map(|p| p.conn) {
            Some(Some(existing)) if existing == conn => {
                if let Some(p) = self.peers.get_mut(&slot) {
                    p.addr = addr;
                    p.version = version;
                    p.caps = caps;
                }
            }
            Some(Some(existing)) => {
                // Two connections race only while they are being set up; a
                // second claim on a peer settled for longer than the
                // handshake timeout is refused, so it cannot take the peer over.
                let settled = self.peers.get(&slot).is_some_and(|p| {
                    now.saturating_since(p.since) >= self.config.handshake_timeout
                });
                if settled {
                    self.metrics.rejected_frames += 1;
                    debug!(%conn, claimed = %origin, "second connection claims a settled peer, refused");
                    return self.close(conn, DisconnectReason::Duplicate, out);
                }
                if !self.keeps_new(conn, existing, &slot) {
                    return self.close(conn, DisconnectReason::Duplicate, out);
                }
                self.rebind(&slot, conn, addr, version, caps);
                if let Some(old) = self.conns.get_mut(&existing) {
                    old.peer = None;
                }
                self.close(existing, DisconnectReason::Duplicate, out);
            }
            // Known as one-shot, now on a persistent connection: use it from now on.
            Some(None) => self.rebind(&slot, conn, addr, version, caps),
            None => {
                if self.peers.len() >= self.config.max_peers {
                    self.refer(Link::Conn(conn), conn, &origin, now, out);
                    return self.close(conn, DisconnectReason::PeerLimit, out);
                }
                let link = (Some(conn), self.conns.get(&conn).and_then(|c| c.local()));
                self.register(slot.clone(), addr, link, (version, caps), now, out);
                self.bind(conn, &slot);
            }
        }
        self.note_secure_peer(conn, &slot);
        self.tree_link_up(conn, tree, now);
        self.catchup_link_up(conn, seq, now, out);
        if is_ping {
            self.send_hello(Link::Conn(conn), types::PONG, now, out);
        }
    }

    /// The address to record for the peer whose hello on `conn` advertised
    /// `advertised` ([`addr::record_hello`]); `None` if it is refused. A
    /// correction is counted once per connection (`first`), not per keep-alive.
    fn recorded_addr(
        &mut self,
        conn: ConnId,
        advertised: PeerAddr,
        first: bool,
    ) -> Option<PeerAddr> {
        let source = self
            .conns
            .get(&conn)
            .and_then(|c| c.remote())
            .map(|r| r.ip());
        match addr::record_hello(&advertised, source) {
            Ok(recorded) => {
                if recorded.corrected && first {
                    self.metrics.addr_corrected += 1;
                    debug!(%conn, %advertised, recorded = %recorded.addr, "hello address corrected to the connection's source");
                }
                Some(recorded.addr)
            }
            Err(why) => {
                self.metrics.addr_rejected += 1;
                debug!(%conn, %advertised, %why, "hello refused for its address");
                None
            }
        }
    }

    /// A hello without `v`: an original peer, which reads one frame per
    /// connection. It is registered without a connection, and answered (like
    /// everything sent to it) on a fresh connection to its listen address.
    fn on_one_shot_hello(
        &mut self,
        conn: ConnId,
        slot: PeerSlot,
        addr: PeerAddr,
        is_ping: bool,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        let local = self.conns.get(&conn).and_then(|c| c.local());
        match self.peers.get_mut(&slot) {
            Some(p) => {
                p.last_seen = now;
                if p.conn.is_none() {
                    p.addr = addr.clone();
                    p.set_local(local);
                }
            }
            None => {
                if self.peers.len() >= self.config.max_peers {
                    self.refer(Link::OneShot(addr), conn, &slot.name, now, out);
                    return self.close(conn, DisconnectReason::PeerLimit, out);
                }
                let link = (None, local);
                self.register(slot, addr.clone(), link, (None, Caps::none()), now, out);
            }
        }
        if is_ping {
            self.send_hello(Link::OneShot(addr), types::PONG, now, out);
        }
    }

    /// Registers the peer in `slot` at `addr`; `(conn, local)`: the connection its frames go
    /// on (`None`: one-shot) and this node's end of the one its hello came on.
    fn register(
        &mut self,
        slot: PeerSlot,
        addr: PeerAddr,
        (conn, local): (Option<ConnId>, Option<SocketAddr>),
        (version, caps): (Option<u32>, Caps),
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        let entry = PeerEntry {
            addr: addr.clone(),
            conn,
            since: now,
            last_seen: now,
            version,
            caps,
            ends: local.map(|local| {
                Box::new(PeerEnds {
                    local: Some(local),
                    key: None,
                })
            }),
            secure: false,
        };
        let id = slot.name.clone();
        self.peers.insert(slot, entry);
        self.redials.remove(&addr);
        debug!(peer = %id, %addr, one_shot = conn.is_none(), "peer registered");
        out.push(OutEvent::Emit(Event::PeerConnected { peer: id, addr }));
    }

    fn rebind(
        &mut self,
        id: &PeerSlot,
        conn: ConnId,
        addr: PeerAddr,
        version: Option<u32>,
        caps: Caps,
    ) {
        let local = self.conns.get(&conn).and_then(|c| c.local());
        if let Some(p) = self.peers.get_mut(id) {
            p.conn = Some(conn);
            p.addr = addr;
            p.version = version;
            p.caps = caps;
            p.set_local(local);
        }
        self.bind(conn, id);
    }

    pub(super) fn bind(&mut self, conn: ConnId, peer: &PeerSlot) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.peer = Some(peer.clone());
        }
    }

    /// The key that tells the peer speaking on `conn` apart from a
    /// namesake: its link's proven key, else the key its hello names (on a
    /// plaintext link this only tells peers apart; it never pins).
    fn hello_key(&self, conn: ConnId, env: &Envelope) -> Option<NodeKey> {
        self.link_key(conn).or(env.key)
    }

    /// A hello from `name` under `key` is this node's own: its key is ours,
    /// or it names our id and no key. Our id under another key is a namesake.
    fn is_self(&self, name: &PeerId, key: Option<&NodeKey>) -> bool {
        match key {
            Some(key) => self.identity.as_deref().is_some_and(|i| &i.key() == key),
            None => name == &self.id,
        }
    }

    /// Of two connections to `remote`, keep the one dialled by the smaller id
    /// (then key: namesakes decide alike too; both ends decide alike); if
    /// one node dialled both, keep the newer.
    pub(super) fn keeps_new(&self, new: ConnId, old: ConnId, remote: &PeerSlot) -> bool {
        let me = (&self.id, self.identity.as_deref().map(Identity::key));
        let dialer = |c: ConnId| match self.conns.get(&c).map(|c| &c.dir) {
            Some(Direction::Outbound { .. }) => me,
            _ => (&remote.name, remote.key),
        };
        let (dn, dold) = (dialer(new), dialer(old));
        if dn == dold {
            new > old
        } else {
            dn < dold
        }
    }

    /// At the peer limit: name up to `peer_limit_referrals` other peers to
    /// the refused one, whose hello came on `via`.
    pub(super) fn refer(
        &mut self,
        link: Link,
        via: ConnId,
        refused: &PeerId,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        debug!(peer = %refused, "peer limit reached, referring elsewhere");
        let n = self.config.peer_limit_referrals;
        self.advertise_to(link, via, refused, n, now, out);
    }
}
