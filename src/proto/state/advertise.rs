//! Peer lists: answering `ADVERTISE`, and acting on the `ADVERTISE_REPLY` frames this node asked for.

use super::*;

impl NodeState {
    /// Answers on the asking connection; to a one-shot peer, on fresh connections.
    pub(super) fn on_advertise(
        &mut self,
        conn: ConnId,
        from: &PeerId,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        let bound = self.conns.get(&conn).and_then(|c| c.peer.clone());
        let asker = bound
            .as_ref()
            .map_or_else(|| from.clone(), |s| s.name.clone());
        let first = self.peers.named(from).next().map(|(_, p)| p);
        let link = match (bound, first) {
            (None, Some(p)) if p.conn.is_none() => p.link(),
            _ => Link::Conn(conn),
        };
        let n = self.config.max_advertise;
        self.advertise_to(link, conn, &asker, n, now, out);
    }

    /// Sends `ADVERTISE_REPLY` frames naming up to `limit` peers other than
    /// `asker`, whose request came on `via` (a namesake of the asker on
    /// another connection is named). A peer whose address may not go
    /// to that asker ([`addr::shareable`]) is left out and counted.
    pub(super) fn advertise_to(
        &mut self,
        link: Link,
        via: ConnId,
        asker: &PeerId,
        limit: usize,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        let asker_ip = self
            .conns
            .get(&via)
            .and_then(|c| c.remote())
            .map(|r| r.ip());
        let mut withheld = 0;
        let entries: Vec<Value> = self
            .peers
            .iter()
            // The asker's own entry (on `via`, or one-shot) is left out, not
            // a namesake of it under another key on another connection.
            .filter(|(slot, p)| &slot.name != asker || p.conn.is_some_and(|c| c != via))
            .filter_map(|(slot, p)| match addr::shareable(&p.addr, asker_ip) {
                Ok(addr) => Some(serde_json::json!([slot.name, addr])),
                Err(why) => {
                    withheld += 1;
                    trace!(peer = %slot.name, addr = %p.addr, %why, "not handed out");
                    None
                }
            })
            .take(limit)
            .collect();
        if withheld > 0 {
            self.metrics.addr_withheld += withheld;
            debug!(%asker, withheld, "peers left out of the advertise reply for their address");
        }
        for msg in entries {
            match Frame::encode(self.envelope(types::ADVERTISE_REPLY, msg, now)) {
                Ok(frame) => self.send_link(link.clone(), frame, out),
                Err(error) => debug!(%error, "cannot encode advertise reply"),
            }
        }
    }

    /// True (and one fewer allowed) if this node asked `from` for peers, or if
    /// the reply is a referral on a connection this node dialled.
    pub(super) fn solicited(&mut self, src: Option<ConnId>, from: &PeerId) -> bool {
        if let Some(left) = self.advertise_budget.get_mut(from) {
            *left -= 1;
            if *left == 0 {
                self.advertise_budget.remove(from);
            }
            return true;
        }
        match src.and_then(|c| self.conns.get_mut(&c)) {
            Some(c) if c.referrals > 0 => {
                c.referrals -= 1;
                true
            }
            _ => false,
        }
    }

    /// An entry of a reply this node asked for, on `src`: reported and dialled
    /// unless its address may not be used from here ([`addr::shareable`]:
    /// unusable, or loopback from a peer on another host), which is counted.
    pub(super) fn on_advertise_reply(
        &mut self,
        src: Option<ConnId>,
        by: PeerId,
        peer: PeerId,
        addr: PeerAddr,
        out: &mut Vec<OutEvent>,
    ) {
        if peer == self.id {
            return;
        }
        let from_ip = src
            .and_then(|c| self.conns.get(&c))
            .and_then(|c| c.remote())
            .map(|r| r.ip());
        let addr = match addr::shareable(&addr, from_ip) {
            Ok(addr) => addr,
            Err(why) => {
                self.metrics.addr_rejected += 1;
                debug!(%by, %peer, %addr, %why, "advertised address refused");
                return;
            }
        };
        out.push(OutEvent::Emit(Event::PeerAdvertised {
            by,
            peer: peer.clone(),
            addr: addr.clone(),
        }));
        if !self.peers.has_name(&peer) {
            self.dial(addr, out);
        }
    }
}
