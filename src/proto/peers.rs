//! The peer table: who this node knows, where they listen, and on which connection.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use super::caps::Caps;
use super::clock::Instant;
use super::event::ConnId;
use super::identity::NodeKey;
use super::wire::{PeerAddr, PeerId};

/// One registered peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerEntry {
    /// Where it listens: what its `PING`/`PONG` advertised, corrected to the
    /// connection's source IP when that was not usable (docs/PROTOCOL.md, "Addresses").
    pub addr: PeerAddr,
    /// The connection its frames travel on; `None` for an original (one-shot)
    /// peer, which gets each frame on a fresh connection to `addr`.
    pub conn: Option<ConnId>,
    /// When it registered.
    pub since: Instant,
    /// Last sign of life of a one-shot peer (a persistent peer's is its connection's).
    pub last_seen: Instant,
    /// The protocol version it announced (`None`: an original peer).
    pub version: Option<u32>,
    /// The capabilities it announced that this node implements too.
    pub caps: Caps,
    /// This node's end of the connection the peer's last hello came on: a
    /// node on `0.0.0.0` names that IP in the hellos it sends a one-shot peer.
    pub local: Option<SocketAddr>,
    /// The key its link's secure handshake proved (`None`: a plaintext or in-memory link).
    pub key: Option<NodeKey>,
    /// True when its link is secure (encrypted and bound to `key`).
    pub secure: bool,
}

/// A registered peer as the application sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PeerInfo {
    /// Its id.
    pub id: PeerId,
    /// Where it listens.
    pub addr: PeerAddr,
    /// How long it has been registered (written as whole milliseconds in JSON).
    #[serde(rename = "connected_for_ms", serialize_with = "super::event::millis")]
    pub connected_for: Duration,
    /// Protocol version it announced, if any.
    pub version: Option<u32>,
    /// Optional features both it and this node implement (`caps`).
    pub caps: Caps,
    /// True for an original peer reached by one connection per frame.
    pub one_shot: bool,
    /// The key its secure link proved (`None`: plaintext or in-memory link).
    pub key: Option<NodeKey>,
    /// True when its link is encrypted and bound to `key`.
    pub secure: bool,
}

impl PeerEntry {
    /// How frames reach this peer.
    pub fn link(&self) -> Link {
        match self.conn {
            Some(conn) => Link::Conn(conn),
            None => Link::OneShot(self.addr.clone()),
        }
    }
}

/// How a frame reaches a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// On its open connection.
    Conn(ConnId),
    /// On a fresh connection to this address, closed after the frame.
    OneShot(PeerAddr),
}

/// Registered peers, ordered by id so every walk over them is deterministic
/// (a simulation replays exactly).
#[derive(Debug, Default)]
pub struct PeerTable {
    peers: BTreeMap<PeerId, PeerEntry>,
}

impl PeerTable {
    /// The entry of `id`.
    pub fn get(&self, id: &PeerId) -> Option<&PeerEntry> {
        self.peers.get(id)
    }

    /// The entry of `id`, to change.
    pub fn get_mut(&mut self, id: &PeerId) -> Option<&mut PeerEntry> {
        self.peers.get_mut(id)
    }

    /// Adds or replaces `id`.
    pub fn insert(&mut self, id: PeerId, entry: PeerEntry) {
        self.peers.insert(id, entry);
    }

    /// Forgets `id`.
    pub fn remove(&mut self, id: &PeerId) -> Option<PeerEntry> {
        self.peers.remove(id)
    }

    /// True if `id` is registered.
    pub fn contains(&self, id: &PeerId) -> bool {
        self.peers.contains_key(id)
    }

    /// True if some peer listens on `addr`.
    pub fn has_addr(&self, addr: &PeerAddr) -> bool {
        self.peers.values().any(|p| &p.addr == addr)
    }

    /// How many peers are registered.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// True if none are.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// All peers in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&PeerId, &PeerEntry)> {
        self.peers.iter()
    }

    /// The application's view of one peer.
    pub fn info(&self, id: &PeerId, now: Instant) -> Option<PeerInfo> {
        self.peers.get(id).map(|p| info(id, p, now))
    }

    /// The application's view of every peer, in id order.
    pub fn infos(&self, now: Instant) -> Vec<PeerInfo> {
        self.peers.iter().map(|(id, p)| info(id, p, now)).collect()
    }
}

fn info(id: &PeerId, p: &PeerEntry, now: Instant) -> PeerInfo {
    PeerInfo {
        id: id.clone(),
        addr: p.addr.clone(),
        connected_for: now.saturating_since(p.since),
        version: p.version,
        caps: p.caps.clone(),
        one_shot: p.conn.is_none(),
        key: p.key,
        secure: p.secure,
    }
}
