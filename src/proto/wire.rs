//! The wire envelope of PROTOCOL.md and the small types it is made of.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::identity::{NodeKey, Signature};

/// The protocol version peerchat writes in `PING` and `PONG` (`"v": 4`).
///
/// Bumped once per wire change (docs/PROTOCOL.md, "Versions and capabilities");
/// behaviour switches on the `caps` a peer announces, never on `v ==`.
/// Version 2 added `caps` and the unknown-fields rule; 3, the `tree`
/// capability; 4, secure links and the `sig` and `seq` capabilities.
pub const PROTOCOL_VERSION: u32 = 4;

/// A node's identity on the network: the `originator` of what it sends.
///
/// Shared, not copied: the connection, the peer table and every frame a
/// node builds name the same peer, and a clone costs a reference count
/// (a simulated million nodes keep each name several times).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PeerId(Arc<str>);

impl PeerId {
    /// Wraps a string as a peer id. Any non-empty string is a valid id.
    pub fn new(id: impl Into<String>) -> Self {
        PeerId(Arc::from(id.into()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl From<&str> for PeerId {
    fn from(s: &str) -> Self {
        PeerId(Arc::from(s))
    }
}

impl From<String> for PeerId {
    fn from(s: String) -> Self {
        PeerId::new(s)
    }
}

/// The unique id (a UUID) of a `BROADCAST`, `DIRECT` or `DIRECT_ACK`.
///
/// Ids are made by the executor (the actor from a random UUID, the simulator
/// from its seeded RNG) and passed in, so the protocol itself draws nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(Uuid);

impl MessageId {
    /// Builds an id from 128 bits (random ones, from whoever owns the RNG).
    pub fn from_u128(bits: u128) -> Self {
        MessageId(Uuid::from_u128(bits))
    }

    /// The id as a UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl From<Uuid> for MessageId {
    fn from(u: Uuid) -> Self {
        MessageId(u)
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A listen address as written on the wire: `[host, port]`.
///
/// Host stays text (an IP or a name) because original peers may advertise
/// either; the executor resolves it when it dials.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PeerAddr(pub String, pub u16);

impl PeerAddr {
    /// Builds an address from a host and a port.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        PeerAddr(host.into(), port)
    }

    /// The host part.
    pub fn host(&self) -> &str {
        &self.0
    }

    /// The port part.
    pub fn port(&self) -> u16 {
        self.1
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.contains(':') {
            write!(f, "[{}]:{}", self.0, self.1)
        } else {
            write!(f, "{}:{}", self.0, self.1)
        }
    }
}

impl From<std::net::SocketAddr> for PeerAddr {
    fn from(a: std::net::SocketAddr) -> Self {
        PeerAddr(a.ip().to_string(), a.port())
    }
}

/// The `time` field: any string or number, copied unchanged when forwarded.
///
/// peerchat writes RFC 3339 text; original peers write `ctime` text or a float.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WireTime {
    /// A timestamp written as text.
    Text(String),
    /// A timestamp written as a JSON number (seconds since the epoch).
    Number(serde_json::Number),
}

impl fmt::Display for WireTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireTime::Text(s) => f.write_str(s),
            WireTime::Number(n) => write!(f, "{n}"),
        }
    }
}

/// One frame's JSON object, field for field as `docs/PROTOCOL.md` gives it.
///
/// The four original fields are always written; the optional ones only when
/// set. Fields this version does not know are kept in [`Envelope::extra`] and
/// written back unchanged when the envelope is encoded again (the
/// unknown-fields rule), so a relay never strips what a newer node added.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The message type, upper case (`PING`, `BROADCAST`, or an application's own).
    pub msg_type: String,
    /// The payload; its shape depends on `msg_type`.
    pub msg: serde_json::Value,
    /// The id of the node that created the message.
    pub originator: PeerId,
    /// When the originator created it.
    pub time: WireTime,
    /// Unique message id, for `BROADCAST`, `DIRECT` and `DIRECT_ACK`.
    pub id: Option<MessageId>,
    /// Protocol version, sent in `PING` and `PONG` by persistent peers.
    pub v: Option<u32>,
    /// Optional features the sender supports, sent in `PING` and `PONG` from version 2 on.
    pub caps: Option<Vec<String>>,
    /// Target peer id, for `DIRECT` and `DIRECT_ACK`.
    pub to: Option<PeerId>,
    /// How many more times the message may be forwarded.
    pub hops: Option<u32>,
    /// Tree links crossed so far by a `BROADCAST` (a per-hop field, written last).
    pub round: Option<u32>,
    /// The originator's public key, on signed frames (`sig` capability).
    pub key: Option<NodeKey>,
    /// The originator's signature over the frame's signed fields.
    pub sig: Option<Signature>,
    /// A random number drawn per signed message, so equal texts get distinct ids.
    pub nonce: Option<u64>,
    /// The target's public key, on signed `DIRECT`/`DIRECT_ACK` to a known key.
    pub to_key: Option<NodeKey>,
    /// The originator's feed epoch (`seq` capability).
    pub epoch: Option<u64>,
    /// The message's number in its originator's feed (`seq` capability).
    pub seq: Option<u64>,
    /// Every other field of the object, kept unchanged (the unknown-fields rule).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Envelope {
    /// An envelope with the four required fields and no optional ones.
    pub fn new(
        msg_type: impl Into<String>,
        msg: serde_json::Value,
        originator: PeerId,
        time: WireTime,
    ) -> Self {
        Envelope {
            msg_type: msg_type.into(),
            msg,
            originator,
            time,
            id: None,
            v: None,
            caps: None,
            to: None,
            hops: None,
            round: None,
            key: None,
            sig: None,
            nonce: None,
            to_key: None,
            epoch: None,
            seq: None,
            extra: serde_json::Map::new(),
        }
    }
}

mod envelope_serde;
