//! What goes into the state machine (`InEvent`, `Command`) and what comes out (`OutEvent`, `Event`).

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::frame::{Frame, FrameError};
use super::identity::NodeKey;
use super::trust::Trust;
use super::wire::{Envelope, MessageId, PeerAddr, PeerId, WireTime};

/// Names one connection of a node. Assigned by the executor, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ConnId(pub u64);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Who opened a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Direction {
    /// The remote side dialled us.
    Inbound,
    /// We dialled `addr`.
    Outbound {
        /// The address.
        addr: PeerAddr,
    },
}

/// Why a connection or a peer went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The remote side closed the socket (or it failed).
    Closed,
    /// The peer stayed silent past `peer_timeout`.
    Timeout,
    /// A connection sent no valid hello within `handshake_timeout`.
    HandshakeTimeout,
    /// This node is shutting down.
    Shutdown,
    /// A second connection to the same peer; the other one is kept.
    Duplicate,
    /// The connection reached this node itself.
    SelfConnection,
    /// This node is at `max_peers`.
    PeerLimit,
    /// Too many malformed frames.
    Malformed,
    /// A frame longer than `max_frame_len`.
    FrameTooLong,
    /// The peer did not read fast enough and its send queue overflowed.
    SlowPeer,
    /// The secure handshake failed (a bad message, an identity signature
    /// that does not verify, a stream that is neither text nor the magic).
    HandshakeFailed,
    /// A Noise transport message did not decrypt (a flipped bit, a cut).
    DecryptFailed,
    /// The key a hello claims is not the key the secure link proved.
    IdentityMismatch,
    /// A plaintext connection refused: `require_secure`, or a peer seen on
    /// a secure link before (no downgrade).
    InsecureRefused,
    /// Too many messages with a bad signature or a wrong id (`max_bad_signatures`).
    BadSignature,
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DisconnectReason::Closed => "connection closed",
            DisconnectReason::Timeout => "timeout",
            DisconnectReason::HandshakeTimeout => "handshake timeout",
            DisconnectReason::Shutdown => "shutdown",
            DisconnectReason::Duplicate => "duplicate connection",
            DisconnectReason::SelfConnection => "self connection",
            DisconnectReason::PeerLimit => "peer limit",
            DisconnectReason::Malformed => "too many malformed frames",
            DisconnectReason::FrameTooLong => "frame too long",
            DisconnectReason::SlowPeer => "slow peer",
            DisconnectReason::HandshakeFailed => "handshake failed",
            DisconnectReason::DecryptFailed => "decrypt failed",
            DisconnectReason::IdentityMismatch => "identity mismatch",
            DisconnectReason::InsecureRefused => "insecure refused",
            DisconnectReason::BadSignature => "bad signatures",
        })
    }
}

/// Why a dial produced no connection, as the executor saw it.
///
/// In JSON (`run`'s `dial_failed` event) it is one string: `"refused"`,
/// `"timed_out"`, `"unresolvable"`, `"unreachable"`, or the system's own
/// message for anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialError {
    /// The host answered that nothing listens on that port.
    Refused,
    /// No answer within `connect_timeout`.
    TimedOut,
    /// The name does not resolve, or resolves to no address.
    Unresolvable,
    /// No route to that host or network.
    Unreachable,
    /// Anything else, as the system described it.
    Other(String),
    /// The peer gave no secure answer: it closed, stayed silent or answered
    /// in plaintext (a legacy peer; the node may dial it again in plaintext).
    Insecure,
    /// The peer answered but the secure handshake failed.
    HandshakeFailed,
}

impl std::fmt::Display for DialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DialError::Refused => "connection refused",
            DialError::TimedOut => "timed out",
            DialError::Unresolvable => "name does not resolve",
            DialError::Unreachable => "host unreachable",
            DialError::Other(text) => text,
            DialError::Insecure => "no secure answer",
            DialError::HandshakeFailed => "secure handshake failed",
        })
    }
}

impl Serialize for DialError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            DialError::Refused => "refused",
            DialError::TimedOut => "timed_out",
            DialError::Unresolvable => "unresolvable",
            DialError::Unreachable => "unreachable",
            DialError::Other(text) => text,
            DialError::Insecure => "insecure",
            DialError::HandshakeFailed => "handshake_failed",
        })
    }
}

/// A timer the state machine asked for with [`OutEvent::Schedule`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timer {
    /// Close `ConnId` if no valid hello came on it by now.
    Handshake(ConnId),
    /// Probe quiet peers and drop silent ones.
    KeepAlive,
    /// Give up waiting for the ack of this `DIRECT`.
    Direct(MessageId),
    /// Dial this dropped peer's (or bootstrap) address again.
    Redial(PeerAddr),
    /// Ask for this announced broadcast if it has not come yet (tree).
    Graft(MessageId),
    /// Send the announcements gathered for each link (tree).
    TreeDispatch,
    /// Announce what arrived since the last sweep on every lazy link (tree).
    TreeSweep,
    /// Deliver broadcasts held back behind a gap whose time is up (feeds).
    Holdback,
    /// Send the periodic digest to every peer that numbers feeds.
    Digest,
    /// Send a digest soon, after catching up on something.
    DigestSoon,
    /// Look at the pulls under way: ask another peer where one stalled.
    CatchUp,
}

/// Something that happened to the node, fed to [`NodeState::handle`](super::NodeState::handle).
#[derive(Debug, Clone)]
pub enum InEvent {
    /// A connection opened (accepted, or a dial that succeeded).
    Connected {
        /// The connection.
        conn: ConnId,
        /// Who opened it.
        dir: Direction,
        /// This end's socket address: for a node listening on `0.0.0.0` or
        /// `[::]`, its IP is what the hello on this connection advertises.
        /// `None` without a socket (in-memory links, the simulator).
        local: Option<SocketAddr>,
        /// The other end's socket address: its IP replaces an unusable host
        /// the peer's hello advertises. `None` without a socket.
        remote: Option<SocketAddr>,
    },
    /// The secure handshake of `conn` proved the peer's key (delivered
    /// after `Connected`, before any `Received` on `conn`; never for a
    /// plaintext or in-memory link).
    Authenticated {
        /// The connection.
        conn: ConnId,
        /// The ed25519 key the peer's handshake proved.
        key: NodeKey,
    },
    /// A valid frame arrived on `conn`.
    Received {
        /// The connection.
        conn: ConnId,
        /// The frame.
        frame: Frame,
    },
    /// A line arrived on `conn` that is not a valid frame.
    Malformed {
        /// The connection.
        conn: ConnId,
        /// What went wrong.
        error: FrameError,
    },
    /// `conn` is gone.
    Disconnected {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: DisconnectReason,
    },
    /// A dial did not produce a connection.
    DialFailed {
        /// The address.
        addr: PeerAddr,
        /// What went wrong.
        error: DialError,
    },
    /// A timer asked for earlier fired.
    TimerFired(Timer),
    /// The send queue of `conn`, watched after [`OutEvent::WatchQueue`], is low again.
    QueueLow {
        /// The connection.
        conn: ConnId,
    },
    /// The application asked for something.
    Command(Command),
    /// The executor made the feed counter durable up to `limit` (after an
    /// [`OutEvent::ReserveFeed`]): sequence numbers below it may be used.
    FeedReserved {
        /// Sequence numbers below this are safe to use.
        limit: u64,
    },
}

/// What the application asks of its node.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Dial `addr` and register whoever answers.
    Join(PeerAddr),
    /// Join these addresses, and retry them whenever the node has no peers.
    Bootstrap(Vec<PeerAddr>),
    /// Flood `text` to the network under the (executor-made) id.
    Broadcast {
        /// The message id.
        id: MessageId,
        /// The text.
        text: String,
    },
    /// Send one frame of `msg_type` (a `TEST` or an application type) to a peer.
    /// Sent to the node's own id, it is handled locally.
    Send {
        /// The peer it is for.
        to: PeerId,
        /// The message type.
        msg_type: String,
        /// The payload.
        msg: Value,
    },
    /// A handler's answer to a frame that came on `conn` (`None`: from this node).
    Reply {
        /// The connection.
        conn: Option<ConnId>,
        /// The message type.
        msg_type: String,
        /// The payload.
        msg: Value,
    },
    /// Ask a peer for its peer list (`ADVERTISE`).
    GetPeersFrom(PeerId),
    /// Send `text` to one peer, anywhere in the network (`DIRECT`), under
    /// the (executor-made) id; ends in [`Event::Delivered`] or [`Event::DeliveryTimeout`].
    Direct {
        /// The message id.
        id: MessageId,
        /// The peer it is for.
        to: PeerId,
        /// The text.
        text: String,
    },
}

/// What the state machine tells its executor to do.
#[derive(Debug, Clone, PartialEq)]
pub enum OutEvent {
    /// Write `frame` on `conn`.
    Send {
        /// The connection.
        conn: ConnId,
        /// The frame.
        frame: Frame,
    },
    /// Deliver `frame` to an original (one-shot) peer: open a connection to
    /// `addr`, write the frame, close. When that is done (or failed), call
    /// [`NodeState::one_shot_finished`](super::NodeState::one_shot_finished):
    /// at most `max_one_shot_in_flight` are under way at once.
    SendOneShot {
        /// The address.
        addr: PeerAddr,
        /// The frame.
        frame: Frame,
    },
    /// Open a connection to `addr`; report [`InEvent::Connected`] or [`InEvent::DialFailed`].
    /// An executor with secure links dials securely, and reports a peer that
    /// gives no secure answer as [`DialError::Insecure`].
    Dial(PeerAddr),
    /// Open a plaintext connection to `addr` (a fallback the state machine
    /// allowed after [`DialError::Insecure`]); reported like [`OutEvent::Dial`].
    DialPlain(PeerAddr),
    /// Close `conn`; report [`InEvent::Disconnected`] when it is gone.
    Close {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: DisconnectReason,
    },
    /// Tell the application.
    Emit(Event),
    /// Run the application's handler for this frame's type; its answer comes
    /// back as [`Command::Reply`] with the same `conn`.
    Handle {
        /// The connection.
        conn: Option<ConnId>,
        /// The frame.
        frame: Frame,
    },
    /// Feed [`InEvent::TimerFired`] back after `delay`.
    Schedule {
        /// How long from now.
        delay: Duration,
        /// Which timer.
        timer: Timer,
    },
    /// Feed [`InEvent::QueueLow`] back once `conn`'s send queue holds less
    /// than half its bound (at once if it already does): answers to a
    /// peer's requests are paced by what it reads.
    WatchQueue {
        /// The connection.
        conn: ConnId,
    },
    /// A broadcast this node accepted as new (its own, or received and
    /// verified): an executor with a data directory writes it to its history
    /// database; others ignore it.
    Persist {
        /// The frame, as stored (without a per-hop round).
        frame: Frame,
    },
    /// Make the feed counter durable up to `limit` before the node numbers
    /// messages past the current limit; answer with [`InEvent::FeedReserved`].
    /// An executor without a data directory answers at once.
    ReserveFeed {
        /// The new limit (exclusive).
        limit: u64,
    },
    /// The pin table changed (a name pinned on first signed contact, or by
    /// the application): an executor with a data directory saves
    /// [`NodeState::pins`](super::NodeState::pins) to `DIR/pins`.
    PinsChanged,
}

/// What the application is told, in the order it happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A peer registered (its `PING` or `PONG` arrived).
    #[non_exhaustive]
    PeerConnected {
        /// The peer.
        peer: PeerId,
        /// The address.
        addr: PeerAddr,
    },
    /// A registered peer went away.
    #[non_exhaustive]
    PeerDisconnected {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: DisconnectReason,
    },
    /// `by` told us about `peer` at `addr` (`ADVERTISE_REPLY`).
    #[non_exhaustive]
    PeerAdvertised {
        /// The peer that said so.
        by: PeerId,
        /// The peer.
        peer: PeerId,
        /// The address.
        addr: PeerAddr,
    },
    /// A broadcast, delivered once.
    #[non_exhaustive]
    Broadcast {
        /// Who made it (the originator).
        from: PeerId,
        /// The text.
        text: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        /// The message id.
        id: Option<MessageId>,
        /// When its originator made it (the `time` field as it came).
        time: WireTime,
        /// Its signature verified (under the originator's key).
        verified: bool,
        /// Whether it comes from the key pinned for its name.
        trust: Trust,
        /// Caught up after the fact (a `PULL`'s answer, or behind a gap
        /// already reported): history rather than live chat. Written only when true.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        late: bool,
    },
    /// Messages `first..=last` of `from`'s feed (epoch `epoch`) had not come
    /// when later ones were delivered; catch-up may still bring them (`late`).
    #[non_exhaustive]
    Gap {
        /// The feed's originator.
        from: PeerId,
        /// The feed's epoch.
        epoch: u64,
        /// First missing number.
        first: u64,
        /// Last missing number.
        last: u64,
    },
    /// A `TEST` probe.
    #[non_exhaustive]
    Test {
        /// Who made it (the originator).
        from: PeerId,
        /// The text.
        text: String,
    },
    /// A direct message for this node, delivered once.
    #[non_exhaustive]
    Direct {
        /// Who made it (the originator).
        from: PeerId,
        /// The text.
        text: String,
        /// The message id.
        id: MessageId,
        /// When its originator made it (the `time` field as it came).
        time: WireTime,
        /// Its signature verified (under the originator's key).
        verified: bool,
        /// Whether it comes from the key pinned for its name.
        trust: Trust,
    },
    /// The `DIRECT` `id` sent to `to` was acknowledged after `round_trip`.
    #[non_exhaustive]
    Delivered {
        /// The message id.
        id: MessageId,
        /// The peer it is for.
        to: PeerId,
        #[serde(rename = "round_trip_ms", serialize_with = "millis")]
        /// From the send to the ack.
        round_trip: Duration,
    },
    /// No `DIRECT_ACK` for `id` came within `direct_timeout`.
    #[serde(rename = "timeout")]
    #[non_exhaustive]
    DeliveryTimeout {
        /// The message id.
        id: MessageId,
        /// The peer it is for.
        to: PeerId,
    },
    /// A frame of an application type that has a handler.
    #[non_exhaustive]
    Custom {
        /// Who made it (the originator).
        from: PeerId,
        /// The whole envelope, unknown fields included (boxed: it is the
        /// largest thing an event carries).
        envelope: Box<Envelope>,
    },
    /// This subscriber fell `NodeConfig::event_buffer` events behind and
    /// `missed` events were not given to it; it comes where they would have.
    /// Made by the executor, never by the state machine.
    #[non_exhaustive]
    Lagged {
        /// Events this subscriber did not get.
        missed: u64,
    },
    /// The history database could not be written (a full disk, an I/O
    /// error): told once per node, the first time. The node goes on in
    /// memory; later failures are only counted
    /// (`Metrics::history_write_failures`). Made by the executor, never by
    /// the state machine.
    #[non_exhaustive]
    StorageFailed {
        /// What the database said.
        reason: String,
    },
    /// A dial of `addr` failed with `error`; the node tries again after
    /// `retry_in`, or not at all (`None`): a dropped peer is redialled up to
    /// `redial_attempts` times, a bootstrap address while the node has no
    /// peers, an address from `join` or an `ADVERTISE_REPLY` only once.
    #[non_exhaustive]
    DialFailed {
        /// The address.
        addr: PeerAddr,
        /// What went wrong.
        error: DialError,
        #[serde(rename = "retry_in_ms", serialize_with = "opt_millis")]
        /// The delay of the next attempt, or `None` for none.
        retry_in: Option<Duration>,
    },
}

impl PartialEq for Frame {
    /// Frames are equal when their wire bytes are (shared part and round).
    fn eq(&self, other: &Frame) -> bool {
        self.bytes() == other.bytes() && self.round() == other.round()
    }
}

impl std::fmt::Display for Event {
    /// One line for people: what the chat client and the demo print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::PeerConnected { peer, addr } => write!(f, "peer {peer} connected ({addr})"),
            Event::PeerDisconnected { peer, reason } => {
                write!(f, "peer {peer} disconnected ({reason})")
            }
            Event::PeerAdvertised { by, peer, addr } => write!(f, "{by} knows {peer} at {addr}"),
            Event::Broadcast {
                from,
                text,
                late: true,
                ..
            } => write!(f, "(history) <{from}> {text}"),
            Event::Broadcast { from, text, .. } => write!(f, "<{from}> {text}"),
            Event::Gap {
                from, first, last, ..
            } => write!(f, "messages {first}..{last} of {from} missing"),
            Event::Test { from, text } => write!(f, "test from {from}: {text}"),
            Event::Direct { from, text, .. } => write!(f, "*{from}* {text}"),
            Event::Delivered { to, round_trip, .. } => {
                write!(f, "delivered to {to} ({} ms)", round_trip.as_millis())
            }
            Event::DeliveryTimeout { to, .. } => write!(f, "no delivery to {to}: timed out"),
            Event::Custom { from, envelope } => {
                write!(f, "{} from {from}: {}", envelope.msg_type, envelope.msg)
            }
            Event::Lagged { missed } => write!(f, "missed {missed} events (read too slowly)"),
            Event::StorageFailed { reason } => write!(
                f,
                "history is no longer saved: {reason} (the chat goes on in memory)"
            ),
            Event::DialFailed {
                addr,
                error,
                retry_in,
            } => {
                write!(f, "could not reach {addr}: {error}; ")?;
                match retry_in {
                    Some(delay) => write!(f, "retrying in {}", seconds(*delay)),
                    None => f.write_str("not retrying"),
                }
            }
        }
    }
}

/// Writes a duration as whole milliseconds.
pub(crate) fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// Writes an optional duration as whole milliseconds, or `null`.
fn opt_millis<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => millis(d, s),
        None => s.serialize_none(),
    }
}

/// A delay for people: `0.4 s`, `4 s`, `30 s`.
pub fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{:.0} s", d.as_secs_f64())
    }
}
