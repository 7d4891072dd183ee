//! The library's error type.
//!
//! Each error says what went wrong once: a variant that carries a cause
//! either writes it in its message or exposes it as `source()`, never both,
//! so printing the whole chain (`{:#}` with anyhow) repeats nothing.

use crate::proto::{FrameError, MessageId, PeerId, ProtoError};

/// What can go wrong when using a node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The named peer is not registered with this node.
    #[error("unknown peer {0}")]
    UnknownPeer(PeerId),
    /// The listen address could not be bound; the OS's reason is the `source()`.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: String,
        #[source]
        /// The system's error.
        source: std::io::Error,
    },
    /// An address that is not `host:port` (host an IP address, `[v6]` or a host name).
    #[error("invalid address {addr:?}: {reason}")]
    InvalidAddress {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
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
    Frame(FrameError),
    /// A message whose frame would be `len` bytes, over the `max` this node
    /// sends (`max_frame_len` less `frame_headroom`); nothing was sent.
    #[error("message too large: its frame would be {len} bytes, the most a node sends is {max}")]
    FrameTooLarge {
        /// Its length in bytes.
        len: usize,
        /// The limit, in bytes.
        max: usize,
    },
    /// No `DIRECT_ACK` came back from `to` for message `id` within `direct_timeout`.
    #[error("message {id} to {to} was not acknowledged in time")]
    DeliveryTimeout {
        /// The message id.
        id: MessageId,
        /// The peer it is for.
        to: PeerId,
    },
    /// Another process holds this data directory's lock.
    #[error("data directory {} is in use by another process", path.display())]
    DataDirLocked {
        /// The directory.
        path: std::path::PathBuf,
    },
    /// A data directory that cannot be created, opened or locked; the OS's reason is the `source()`.
    #[error("cannot use data directory {}", path.display())]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        #[source]
        /// The system's error.
        source: std::io::Error,
    },
    /// A key file that cannot be read, written or understood.
    #[error("key file {}: {reason}", path.display())]
    KeyFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// A history database (`DIR/peerchat.db`) that cannot be opened, read or
    /// migrated: corrupt, unreadable, or made by a newer program. The node
    /// does not start.
    #[error("history database {}: {reason}", path.display())]
    Database {
        /// The database file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// The node has shut down (or its actors stopped).
    #[error("the node has stopped")]
    Stopped,
}

impl From<ProtoError> for Error {
    fn from(e: ProtoError) -> Self {
        match e {
            ProtoError::UnknownPeer(peer) => Error::UnknownPeer(peer),
            ProtoError::Frame(frame) => Error::Frame(frame),
            ProtoError::FrameTooLarge { len, max } => Error::FrameTooLarge { len, max },
            ProtoError::Unsignable(reason) => Error::Frame(FrameError::Encode(reason)),
        }
    }
}

impl From<FrameError> for Error {
    fn from(e: FrameError) -> Self {
        Error::Frame(e)
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
