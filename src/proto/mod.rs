//! The protocol as a pure state machine: no sockets, no runtime, no clock, no global RNG.
//!
//! Executors (the actors in `crate::actors`, later a simulator) feed
//! [`InEvent`]s and the current [`Instant`] into [`NodeState::handle`] and
//! carry out the [`OutEvent`]s it returns.

pub mod addr;
pub mod caps;
pub mod clock;
pub mod dedup;
pub mod error;
pub mod event;
pub mod feed;
pub mod frame;
pub mod identity;
pub mod metrics;
pub mod peers;
pub mod rate;
pub mod seal;
pub mod secure;
pub mod sign;
pub mod small_map;
pub mod state;
pub mod store;
pub mod trust;
pub mod wire;

pub use caps::Caps;
pub use clock::Instant;
pub use dedup::{SeenCache, SeenKey};
pub use error::ProtoError;
pub use event::{
    Command, ConnId, DialError, Direction, DisconnectReason, Event, InEvent, OutEvent, Timer,
};
pub use frame::{types, Body, Frame, FrameError};
pub use identity::{Identity, KeyCache, KeyError, NodeKey, Signature};
pub use metrics::Metrics;
pub use peers::{PeerEnds, PeerEntry, PeerInfo, PeerSlot, PeerTable};
pub use rate::{Bucket, RateLimit};
pub use sign::SigError;
pub use state::NodeState;
pub use trust::{Pins, Trust};
pub use wire::{Envelope, MessageId, PeerAddr, PeerId, WireTime, PROTOCOL_VERSION};
