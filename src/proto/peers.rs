//! The peer table: who this node knows, where they listen, and on which connection.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use super::caps::Caps;
use super::clock::Instant;
use super::event::ConnId;
use super::identity::NodeKey;
use super::small_map::SmallMap;
use super::wire::{PeerAddr, PeerId};

/// Where a peer sits in the table: its name and, where known, its key (the
/// link's proven key, else its hello's). Two nodes may share a name; they
/// share a slot only when their keys do (or one of them has none).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerSlot {
    /// The name it uses (its `originator`).
    pub name: PeerId,
    /// Its key, if its link proved one or its hello named one.
    pub key: Option<NodeKey>,
}

impl PeerSlot {
    /// The slot of `name` under `key`.
    pub fn new(name: PeerId, key: Option<NodeKey>) -> Self {
        PeerSlot { name, key }
    }

    /// True if a message from `origin`, signed by `signer` (`None`:
    /// unsigned), comes from this peer: by key when both are known, else by name.
    pub fn is_origin(&self, origin: &PeerId, signer: Option<&NodeKey>) -> bool {
        match (signer, self.key.as_ref()) {
            (Some(signer), Some(key)) => signer == key,
            _ => &self.name == origin,
        }
    }
}

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
    /// What the socket told of it ([`PeerEntry::local`], [`PeerEntry::key`]);
    /// boxed, and `None` for in-memory links (the simulator's million).
    pub ends: Option<Box<PeerEnds>>,
    /// True when its link is secure (encrypted and bound to its key).
    pub secure: bool,
}

/// What a peer's socket told: kept out of line in [`PeerEntry`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerEnds {
    /// This node's end of the connection the peer's last hello came on: a
    /// node on `0.0.0.0` names that IP in the hellos it sends a one-shot peer.
    pub local: Option<SocketAddr>,
    /// The key its link's secure handshake proved (`None`: a plaintext link).
    pub key: Option<NodeKey>,
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
    /// Fingerprint of the key pinned for its name, if any (`/peers`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The key that tells it apart from a namesake: its link's, else the one
    /// its hello named (unproven on a plaintext link); `None`: unsigned peer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_key: Option<NodeKey>,
}

impl PeerEntry {
    /// This node's end of the connection the peer's last hello came on.
    pub fn local(&self) -> Option<SocketAddr> {
        self.ends.as_ref().and_then(|e| e.local)
    }

    /// The key its link's secure handshake proved (`None`: a plaintext or in-memory link).
    pub fn key(&self) -> Option<NodeKey> {
        self.ends.as_ref().and_then(|e| e.key)
    }

    /// Sets [`PeerEntry::local`] (allocating only for a value).
    pub fn set_local(&mut self, local: Option<SocketAddr>) {
        if local.is_some() || self.ends.is_some() {
            self.ends.get_or_insert_default().local = local;
        }
    }

    /// Sets [`PeerEntry::key`] (allocating only for a value).
    pub fn set_key(&mut self, key: Option<NodeKey>) {
        if key.is_some() || self.ends.is_some() {
            self.ends.get_or_insert_default().key = key;
        }
    }

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

/// Registered peers, ordered by name then key so every walk over them is
/// deterministic (a simulation replays exactly). Namesakes with different
/// keys have an entry each.
#[derive(Debug, Default)]
pub struct PeerTable {
    peers: SmallMap<PeerSlot, PeerEntry>,
}

impl PeerTable {
    /// The entry in `slot`.
    pub fn get(&self, slot: &PeerSlot) -> Option<&PeerEntry> {
        self.peers.get(slot)
    }

    /// The entry in `slot`, to change.
    pub fn get_mut(&mut self, slot: &PeerSlot) -> Option<&mut PeerEntry> {
        self.peers.get_mut(slot)
    }

    /// Adds or replaces the entry in `slot`.
    pub fn insert(&mut self, slot: PeerSlot, entry: PeerEntry) {
        self.peers.insert(slot, entry);
    }

    /// Forgets the entry in `slot`.
    pub fn remove(&mut self, slot: &PeerSlot) -> Option<PeerEntry> {
        self.peers.remove(slot)
    }

    /// Every entry under `name` (one per key), keyless first.
    pub fn named(&self, name: &PeerId) -> impl Iterator<Item = (&PeerSlot, &PeerEntry)> {
        let name = name.clone();
        self.peers
            .from(&PeerSlot::new(name.clone(), None))
            .take_while(move |(s, _)| s.name == name)
    }

    /// True if some peer uses `name`.
    pub fn has_name(&self, name: &PeerId) -> bool {
        self.named(name).next().is_some()
    }

    /// The slot of `name` to use when only the name is given: the one
    /// under `preferred` (the key pinned for the name) if registered, else
    /// the first registered.
    pub fn pick(&self, name: &PeerId, preferred: Option<&NodeKey>) -> Option<&PeerSlot> {
        let exact = preferred
            .map(|k| PeerSlot::new(name.clone(), Some(*k)))
            .and_then(|slot| self.peers.get_key_value(&slot).map(|(s, _)| s));
        exact.or_else(|| self.earliest(name))
    }

    /// Of the entries under `name`, the one registered first (a namesake
    /// that came later cannot take the name over by its key's bytes).
    fn earliest(&self, name: &PeerId) -> Option<&PeerSlot> {
        self.named(name)
            .min_by_key(|(_, p)| p.since)
            .map(|(s, _)| s)
    }

    /// The registered slot a hello or a frame from or for `name` under
    /// `key` belongs to: the same key, or, where either key is unknown, the
    /// same name (an unsigned peer is told apart by its name only; of
    /// namesakes, the one registered first).
    pub fn matching(&self, name: &PeerId, key: Option<&NodeKey>) -> Option<PeerSlot> {
        let Some(k) = key else {
            return self.earliest(name).cloned();
        };
        let exact = PeerSlot::new(name.clone(), Some(*k));
        if self.peers.contains_key(&exact) {
            return Some(exact);
        }
        // A keyless entry sorts first under its name.
        let first = self.named(name).next().map(|(s, _)| s);
        first.filter(|s| s.key.is_none()).cloned()
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

    /// All peers in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (&PeerSlot, &PeerEntry)> {
        self.peers.iter()
    }

    /// The application's view of the peer in `slot`.
    pub fn info(&self, slot: &PeerSlot, now: Instant) -> Option<PeerInfo> {
        self.peers.get(slot).map(|p| info(slot, p, now))
    }

    /// The application's view of every peer, in slot order.
    pub fn infos(&self, now: Instant) -> Vec<PeerInfo> {
        self.peers.iter().map(|(s, p)| info(s, p, now)).collect()
    }
}

fn info(slot: &PeerSlot, p: &PeerEntry, now: Instant) -> PeerInfo {
    PeerInfo {
        id: slot.name.clone(),
        addr: p.addr.clone(),
        connected_for: now.saturating_since(p.since),
        version: p.version,
        caps: p.caps,
        one_shot: p.conn.is_none(),
        key: p.key(),
        secure: p.secure,
        fingerprint: None,
        known_key: slot.key,
    }
}
