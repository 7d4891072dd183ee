//! Secure links in the state machine: the key each link proved, hellos checked against it, the no-downgrade rule for dials and plaintext hellos, and the counters.

use super::*;
use crate::proto::identity::NodeKey;

impl NodeState {
    /// `conn`'s secure handshake proved `key`: kept for the connection; the
    /// dialled address and the key are remembered as secure.
    pub(super) fn on_authenticated(&mut self, conn: ConnId, key: NodeKey) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return trace!(%conn, "authenticated a closed connection");
        };
        c.set_key(key);
        self.metrics.secure_links += 1;
        if let Direction::Outbound { addr } = &c.dir {
            self.secure.remember_addr(addr.clone());
        }
        self.secure.remember_key(key);
        debug!(%conn, key = %key.fingerprint(), "secure link");
    }

    /// The key `conn`'s secure handshake proved (`None`: a plaintext or
    /// in-memory link, or no such connection).
    pub fn link_key(&self, conn: ConnId) -> Option<NodeKey> {
        self.conns.get(&conn).and_then(|c| c.key())
    }

    /// Whether a dial of `addr` that got no secure answer may be made again
    /// in plaintext: never with `require_secure`, never for an address seen
    /// secure ([`NodeState::mark_secure_addr`]).
    pub fn may_downgrade(&self, addr: &PeerAddr) -> bool {
        !self.config.require_secure && !self.secure.has_addr(addr)
    }

    /// Remembers `addr` as secure: a dial there never falls back to
    /// plaintext, and a plaintext hello advertising it is refused. The
    /// node does this itself for every address it saw secure; an
    /// application (pinned peers) may add more.
    pub fn mark_secure_addr(&mut self, addr: PeerAddr) {
        self.secure.remember_addr(addr);
    }

    /// Remembers `key` as secure: a plaintext hello claiming it is refused.
    pub fn mark_secure_key(&mut self, key: NodeKey) {
        self.secure.remember_key(key);
    }

    /// Counts a link the executor closed for a secure-link reason outside
    /// the state machine's decisions: `HandshakeFailed` (and
    /// `HandshakeTimeout`, which executors report only for a stalled secure
    /// handshake), `DecryptFailed`, `InsecureRefused` (a plaintext
    /// connection refused at accept under `require_secure`).
    pub fn count_link_failure(&mut self, reason: DisconnectReason) {
        match reason {
            DisconnectReason::HandshakeFailed | DisconnectReason::HandshakeTimeout => {
                self.metrics.secure_handshake_failed += 1
            }
            DisconnectReason::DecryptFailed => self.metrics.decrypt_failed += 1,
            DisconnectReason::InsecureRefused => self.metrics.insecure_refused += 1,
            _ => {}
        }
    }

    /// A secure dial of `addr` failed with `error`. `true` when it was
    /// handled here: a peer with no secure answer, at an address that may be
    /// downgraded, is dialled again in plaintext (the dial goes on).
    pub(super) fn secure_dial_failed(
        &mut self,
        addr: &PeerAddr,
        error: &DialError,
        out: &mut Vec<OutEvent>,
    ) -> bool {
        match error {
            DialError::Insecure if self.may_downgrade(addr) => {
                debug!(%addr, "no secure answer, dialling in plaintext");
                out.push(OutEvent::DialPlain(addr.clone()));
                true
            }
            DialError::Insecure => {
                self.metrics.insecure_refused += 1;
                debug!(%addr, "no secure answer from an address seen secure: no downgrade");
                false
            }
            DialError::HandshakeFailed => {
                self.metrics.secure_handshake_failed += 1;
                false
            }
            _ => false,
        }
    }

    /// Checks a hello on `conn` (advertising `addr`) against its link: on a
    /// secure link the hello's `key`, if any, must be the link's; on a
    /// plaintext link neither its `key` nor its address may have been seen
    /// secure, nor its name pinned to a key. The reason to close it with, counted, if not.
    pub(super) fn hello_link_check(
        &mut self,
        conn: ConnId,
        env: &Envelope,
        addr: &PeerAddr,
    ) -> Option<DisconnectReason> {
        let c = self.conns.get(&conn)?;
        // The pinned-name rule judges a new plaintext socket: an in-memory
        // link is never secure (nothing to downgrade), and a link already
        // registered keeps going (its keep-alive hellos are not new contact).
        let (link, new_socket) = (c.key(), c.remote().is_some() && c.peer.is_none());
        match (link, env.key) {
            (Some(link), Some(claimed)) if link != claimed => {
                self.metrics.identity_mismatch += 1;
                debug!(%conn, link = %link.fingerprint(), claimed = %claimed.fingerprint(), "hello key is not the link's");
                Some(DisconnectReason::IdentityMismatch)
            }
            (Some(_), _) => None,
            (None, claimed) => {
                // A pinned name speaks over secure links only: a plaintext
                // hello under it is a downgrade too (no fallback for a pinned key).
                let seen = claimed.is_some_and(|k| self.secure.has_key(&k))
                    || self.secure.has_addr(addr)
                    || (new_socket && self.pins.get(&env.originator).is_some());
                if seen {
                    self.metrics.insecure_refused += 1;
                    debug!(%conn, %addr, "plaintext hello from a peer seen secure: no downgrade");
                    return Some(DisconnectReason::InsecureRefused);
                }
                None
            }
        }
    }

    /// After a hello registered `peer` on `conn`: its entry shows the link's
    /// key, and on a secure link its address is remembered as secure.
    pub(super) fn note_secure_peer(&mut self, conn: ConnId, peer: &PeerSlot) {
        let key = self.link_key(conn);
        let Some(p) = self.peers.get_mut(peer) else {
            return;
        };
        p.set_key(key);
        p.secure = key.is_some();
        if key.is_some() {
            let addr = p.addr.clone();
            self.secure.remember_addr(addr);
        }
    }
}
