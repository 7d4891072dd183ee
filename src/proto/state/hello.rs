//! Registration: `PING`/`PONG` handling, duplicate connections, the peer limit.

use super::*;

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
        if origin == self.id {
            debug!(%conn, "hello names this node's own id");
            return self.close(conn, DisconnectReason::SelfConnection, out);
        }
        let Some(bound) = self.conns.get(&conn).map(|c| c.peer.clone()) else {
            return;
        };
        if bound.as_ref().is_some_and(|b| b != &origin) {
            self.metrics.rejected_frames += 1;
            debug!(%conn, claimed = %origin, "hello claims another id than the connection's peer");
            return;
        }
        let version = frame.envelope().v;
        match self.peers.get(&origin).map(|p| p.conn) {
            Some(existing) if existing == conn => {
                if let Some(p) = self.peers.get_mut(&origin) {
                    p.addr = addr;
                    p.version = version;
                }
            }
            Some(existing) => {
                if !self.keeps_new(conn, existing, &origin) {
                    return self.close(conn, DisconnectReason::Duplicate, out);
                }
                if let Some(p) = self.peers.get_mut(&origin) {
                    p.conn = conn;
                    p.addr = addr;
                    p.version = version;
                }
                self.bind(conn, &origin);
                if let Some(old) = self.conns.get_mut(&existing) {
                    old.peer = None;
                }
                self.close(existing, DisconnectReason::Duplicate, out);
            }
            None => {
                if self.peers.len() >= self.config.max_peers {
                    self.refer(conn, &origin, now, out);
                    return self.close(conn, DisconnectReason::PeerLimit, out);
                }
                let entry = PeerEntry {
                    addr: addr.clone(),
                    conn,
                    since: now,
                    version,
                };
                self.peers.insert(origin.clone(), entry);
                self.redials.remove(&addr);
                self.bind(conn, &origin);
                debug!(peer = %origin, %addr, "peer registered");
                out.push(OutEvent::Emit(Event::PeerConnected { peer: origin, addr }));
            }
        }
        if is_ping {
            self.send_hello(conn, types::PONG, now, out);
        }
    }

    pub(super) fn bind(&mut self, conn: ConnId, peer: &PeerId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.peer = Some(peer.clone());
        }
    }

    /// Of two connections to `remote`, keep the one dialled by the smaller id
    /// (both ends decide alike); if one node dialled both, keep the newer.
    pub(super) fn keeps_new(&self, new: ConnId, old: ConnId, remote: &PeerId) -> bool {
        let dialer = |c: ConnId| match self.conns.get(&c).map(|c| &c.dir) {
            Some(Direction::Outbound { .. }) => &self.id,
            _ => remote,
        };
        let (dn, dold) = (dialer(new), dialer(old));
        if dn == dold {
            new > old
        } else {
            dn < dold
        }
    }

    /// At the peer limit: name up to `peer_limit_referrals` other peers to the refused one.
    pub(super) fn refer(
        &mut self,
        conn: ConnId,
        refused: &PeerId,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        debug!(%conn, peer = %refused, "peer limit reached, referring elsewhere");
        let n = self.config.peer_limit_referrals;
        self.advertise_to(conn, refused, n, now, out);
    }
}
