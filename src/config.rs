//! Node configuration: every interval and limit, each with its documented default.

use std::time::Duration;

mod history;
mod secure;
mod sig;
mod storage;
mod tree;

use crate::proto::{addr, PeerAddr};
pub use history::*;
pub use secure::*;
pub use sig::*;
pub use storage::*;
pub use tree::*;

/// Longest frame accepted, in bytes, newline excluded. Longer ones close the connection.
pub const MAX_FRAME_LEN: usize = 64 * 1024;
/// Most open connections (inbound and outbound); inbound ones past it are closed at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// Most peers a node registers; past it, new peers are referred elsewhere.
pub const MAX_PEERS: usize = 64;
/// Most `ADVERTISE_REPLY` frames sent in answer to one `ADVERTISE`.
pub const MAX_ADVERTISE: usize = 64;
/// How many other peers a node at `max_peers` names to a refused pinger.
pub const PEER_LIMIT_REFERRALS: usize = 8;
/// How long a dial may take before it counts as failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long an inbound connection may stay silent before its first valid
/// frame; it also bounds a secure link's handshake, on either side (a dialled
/// peer silent that long gave no secure answer).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Malformed frames tolerated on one connection before it is closed.
pub const MAX_MALFORMED: u32 = 16;
/// Most message keys the seen-cache holds.
pub const SEEN_CAPACITY: usize = 100_000;
/// How long a message key stays in the seen-cache.
pub const SEEN_TTL: Duration = Duration::from_secs(120);
/// How often quiet connections are probed with `PING`.
pub const PING_INTERVAL: Duration = Duration::from_secs(5);
/// How long a peer may stay silent before it is dropped.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(15);
/// Bytes queued for one connection before its peer counts as too slow and is dropped.
pub const SEND_QUEUE_BYTES: usize = 1024 * 1024;
/// Largest frame sent to an original (one-shot) peer, whose reader takes one 2048-byte read.
pub const ONE_SHOT_MAX_FRAME: usize = 2048;
/// Redials of a dropped peer before giving up.
pub const REDIAL_ATTEMPTS: u32 = 8;
/// Delay before the first redial; it doubles with each attempt.
pub const REDIAL_BASE: Duration = Duration::from_millis(500);
/// Longest delay between redials.
pub const REDIAL_MAX: Duration = Duration::from_secs(30);
/// How many times a `DIRECT` (or its ack) may be forwarded on its way to a non-neighbour.
pub const DIRECT_HOPS: u32 = 16;
/// How long `send_to` waits for the `DIRECT_ACK` before failing with a timeout.
pub const DIRECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a closing connection may spend flushing queued frames before it is dropped.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Events buffered for one `events()` subscriber; past it, further events to it are missed, counted, and told to it as `Event::Lagged`.
pub const EVENT_BUFFER: usize = 65_536;
/// Bytes kept free below `max_frame_len` in every frame this node makes: a
/// message whose encoded frame is longer than `max_frame_len - FRAME_HEADROOM`
/// is refused with `Error::FrameTooLarge`. Room for what relays and later
/// protocol versions add to a frame: `hops` (at most 18 bytes), a sequence
/// number (about 30), an Ed25519 key and signature in hex with their field
/// names (about 210): 512 is twice that, so a receiver with the same
/// `max_frame_len` never closes a link over a frame this node made.
pub const FRAME_HEADROOM: usize = 512;
/// Sends to original (one-shot) peers in flight at once; past it, further ones
/// are dropped and counted. Each holds a socket for up to two `connect_timeout`s
/// (dial, then write), so this keeps them an eighth of `max_connections` while
/// covering a burst of a few broadcasts to dozens of original peers.
pub const MAX_ONE_SHOT_IN_FLIGHT: usize = 128;
/// New message ids one connection may bring per second, sustained (a token
/// bucket refilled at this rate, per connection); ids past it are dropped
/// before the seen-cache, so another copy can still bring them. Bounds the
/// forwarding work one peer can cause, which the seen-cache does not.
pub const NEW_ID_RATE: u32 = 10_000;
/// New message ids one connection may bring in a burst (the bucket's size).
/// W2 at N = 50 (every node broadcasting 200) is 9,800 new ids for each node,
/// all of which could come over one link: twice that never binds there.
pub const NEW_ID_BURST: u32 = 20_000;

/// The limits and intervals of one node. `NodeConfig::default()` gives the
/// defaults of PROTOCOL.md; change fields to tune.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeConfig {
    /// Longest accepted frame in bytes ([`MAX_FRAME_LEN`]).
    pub max_frame_len: usize,
    /// Most open connections ([`MAX_CONNECTIONS`]).
    pub max_connections: usize,
    /// Most registered peers ([`MAX_PEERS`]).
    pub max_peers: usize,
    /// Most replies to one `ADVERTISE` ([`MAX_ADVERTISE`]).
    pub max_advertise: usize,
    /// Peers named to a pinger refused at the peer limit ([`PEER_LIMIT_REFERRALS`]).
    pub peer_limit_referrals: usize,
    /// Dial timeout ([`CONNECT_TIMEOUT`]).
    pub connect_timeout: Duration,
    /// First-frame timeout for inbound connections ([`HANDSHAKE_TIMEOUT`]).
    pub handshake_timeout: Duration,
    /// Malformed frames tolerated per connection ([`MAX_MALFORMED`]).
    pub max_malformed: u32,
    /// Seen-cache entries ([`SEEN_CAPACITY`]).
    pub seen_capacity: usize,
    /// Seen-cache entry lifetime ([`SEEN_TTL`]).
    pub seen_ttl: Duration,
    /// Keep-alive probe interval ([`PING_INTERVAL`]).
    pub ping_interval: Duration,
    /// Silence after which a peer is dropped ([`PEER_TIMEOUT`]).
    pub peer_timeout: Duration,
    /// Outbound bytes queued per connection ([`SEND_QUEUE_BYTES`]).
    pub send_queue_bytes: usize,
    /// Largest frame for a one-shot peer ([`ONE_SHOT_MAX_FRAME`]); larger ones are not sent to it.
    pub one_shot_max_frame: usize,
    /// Redials of a dropped peer ([`REDIAL_ATTEMPTS`]).
    pub redial_attempts: u32,
    /// First redial delay ([`REDIAL_BASE`]).
    pub redial_base: Duration,
    /// Longest redial delay ([`REDIAL_MAX`]).
    pub redial_max: Duration,
    /// Forwarding budget of a `DIRECT` ([`DIRECT_HOPS`]).
    pub direct_hops: u32,
    /// Wait for a `DIRECT_ACK` ([`DIRECT_TIMEOUT`]).
    pub direct_timeout: Duration,
    /// Flush time allowed to a closing connection ([`CLOSE_TIMEOUT`]).
    pub close_timeout: Duration,
    /// Events buffered per subscriber ([`EVENT_BUFFER`]); past it the subscriber gets `Event::Lagged`.
    pub event_buffer: usize,
    /// How broadcasts travel ([`BroadcastMode::Tree`] by default).
    pub broadcast: BroadcastMode,
    /// The tree's windows, fan-out, timeouts and bounds.
    pub tree: TreeConfig,
    /// Numbered feeds, history and catch-up (the `seq` capability).
    pub history: HistoryConfig,
    /// Bytes kept free below `max_frame_len` in frames this node makes ([`FRAME_HEADROOM`]).
    pub frame_headroom: usize,
    /// One-shot sends in flight at once ([`MAX_ONE_SHOT_IN_FLIGHT`]); more are dropped and counted.
    pub max_one_shot_in_flight: usize,
    /// New message ids per second one connection may bring ([`NEW_ID_RATE`]).
    pub new_id_rate: u32,
    /// New message ids one connection may bring in a burst ([`NEW_ID_BURST`]).
    pub new_id_burst: u32,
    /// The address peers are told to reach this node at, in every `PING`/`PONG`
    /// (`--advertise HOST:PORT`): for a node behind NAT or a port mapping, or
    /// one known by a DNS name. `None` (the default): the listen address, or,
    /// for a listener on `0.0.0.0`/`[::]`, each connection's own local IP with
    /// the listen port (docs/PROTOCOL.md, "Addresses").
    pub advertise: Option<PeerAddr>,
    /// The history database's batching and bounds (used only with a data
    /// directory and the `sqlite` feature).
    pub storage: StorageConfig,
    /// Refuse what is not secure ([`REQUIRE_SECURE`]: off): plaintext TCP
    /// links, accepted or dialled, are refused (in-memory links carry no
    /// bytes and are not affected), and unsigned `BROADCAST`/`DIRECT`/
    /// `DIRECT_ACK` are dropped instead of delivered as `unsigned`.
    pub require_secure: bool,
    /// Addresses and keys seen secure that are remembered for the
    /// no-downgrade rule ([`SECURE_MEMORY`]).
    pub secure_memory: usize,
    /// Dial TCP peers securely ([`SECURE_LINKS`]: on); off, dials are
    /// plaintext (accepted secure links are still served).
    pub secure_links: bool,
    /// Signing and checking messages (`sig` capability).
    pub sig: SigConfig,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            max_frame_len: MAX_FRAME_LEN,
            max_connections: MAX_CONNECTIONS,
            max_peers: MAX_PEERS,
            max_advertise: MAX_ADVERTISE,
            peer_limit_referrals: PEER_LIMIT_REFERRALS,
            connect_timeout: CONNECT_TIMEOUT,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            max_malformed: MAX_MALFORMED,
            seen_capacity: SEEN_CAPACITY,
            seen_ttl: SEEN_TTL,
            ping_interval: PING_INTERVAL,
            peer_timeout: PEER_TIMEOUT,
            send_queue_bytes: SEND_QUEUE_BYTES,
            one_shot_max_frame: ONE_SHOT_MAX_FRAME,
            redial_attempts: REDIAL_ATTEMPTS,
            redial_base: REDIAL_BASE,
            redial_max: REDIAL_MAX,
            direct_hops: DIRECT_HOPS,
            direct_timeout: DIRECT_TIMEOUT,
            close_timeout: CLOSE_TIMEOUT,
            event_buffer: EVENT_BUFFER,
            broadcast: BroadcastMode::default(),
            tree: TreeConfig::default(),
            history: HistoryConfig::default(),
            frame_headroom: FRAME_HEADROOM,
            max_one_shot_in_flight: MAX_ONE_SHOT_IN_FLIGHT,
            new_id_rate: NEW_ID_RATE,
            new_id_burst: NEW_ID_BURST,
            advertise: None,
            storage: StorageConfig::default(),
            require_secure: REQUIRE_SECURE,
            secure_memory: SECURE_MEMORY,
            secure_links: SECURE_LINKS,
            sig: SigConfig::default(),
        }
    }
}

impl NodeConfig {
    /// The longest frame this node makes: `max_frame_len` less `frame_headroom`.
    pub fn max_sent_frame(&self) -> usize {
        self.max_frame_len.saturating_sub(self.frame_headroom)
    }

    /// Checks the values make sense together: intervals above zero, a peer
    /// timeout longer than the probe interval, room for at least one peer,
    /// room for a frame below the headroom, an `advertise` address that can
    /// be dialled (not `0.0.0.0`, port 0, multicast...), tree settings above zero.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("ping_interval", self.ping_interval),
            ("peer_timeout", self.peer_timeout),
            ("handshake_timeout", self.handshake_timeout),
            ("connect_timeout", self.connect_timeout),
            ("redial_base", self.redial_base),
            ("direct_timeout", self.direct_timeout),
            ("seen_ttl", self.seen_ttl),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, d)| d.is_zero()) {
            return Err(format!("{name} must be above zero"));
        }
        if self.peer_timeout <= self.ping_interval {
            return Err("peer_timeout must be longer than ping_interval".into());
        }
        let counts = [
            ("max_frame_len", self.max_frame_len),
            ("max_peers", self.max_peers),
            ("max_connections", self.max_connections),
            ("seen_capacity", self.seen_capacity),
            ("send_queue_bytes", self.send_queue_bytes),
            ("event_buffer", self.event_buffer),
            ("max_one_shot_in_flight", self.max_one_shot_in_flight),
            ("new_id_rate", self.new_id_rate as usize),
            ("new_id_burst", self.new_id_burst as usize),
            ("secure_memory", self.secure_memory),
        ];
        if let Some((name, _)) = counts.iter().find(|(_, n)| *n == 0) {
            return Err(format!("{name} must be above zero"));
        }
        if self.frame_headroom >= self.max_frame_len {
            return Err("frame_headroom must be below max_frame_len".into());
        }
        if self.require_secure && !self.secure_links {
            return Err("require_secure needs secure_links".into());
        }
        if let Some(advertise) = &self.advertise {
            if let Err(why) = addr::classify(advertise) {
                return Err(format!(
                    "advertise {advertise} is not an address peers can reach ({why})"
                ));
            }
        }
        self.storage.validate()?;
        self.tree.validate()?;
        self.history.validate()
    }
}
