//! The library's error type.

use crate::proto::{FrameError, MessageId, PeerId};

/// What can go wrong when using a node.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The named peer is not registered with this node.
    #[error("unknown peer {0}")]
    UnknownPeer(PeerId),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// An address that is not `host:port`.
    #[error("invalid address {0:?}: expected host:port")]
    InvalidAddress(String),
    /// A configuration whose values do not fit together.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A peer id that is empty.
    #[error("a peer id must not be empty")]
    EmptyPeerId,
    /// A `msg_type` the application may not send or handle itself (a protocol type, or empty).
    #[error("{0:?} is not an application message type (it is empty or a protocol type)")]
    ReservedType(String),
    /// A message that cannot be put on the wire.
    #[error("invalid message: {0}")]
    Frame(#[from] FrameError),
    /// No `DIRECT_ACK` came back from `to` for message `id` within `direct_timeout`.
    #[error("message {id} to {to} was not acknowledged in time")]
    DeliveryTimeout { id: MessageId, to: PeerId },
    /// The node has shut down (or its actors stopped).
    #[error("the node has stopped")]
    Stopped,
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
