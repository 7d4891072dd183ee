//! What the state machine refuses to do: the protocol's own error type (the crate's `Error` converts it).

use super::frame::FrameError;
use super::wire::PeerId;

/// Why [`NodeState::command`](super::NodeState::command) refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// The named peer is not registered with this node.
    #[error("unknown peer {0}")]
    UnknownPeer(PeerId),
    /// A message that cannot be put on the wire.
    #[error("invalid message: {0}")]
    Frame(#[from] FrameError),
    /// A message whose frame would be `len` bytes, over the `max` this node
    /// sends (`max_frame_len` less `frame_headroom`); nothing was sent.
    #[error("message too large: its frame would be {len} bytes, the most a node sends is {max}")]
    FrameTooLarge {
        /// The frame's length in bytes.
        len: usize,
        /// The most this node sends.
        max: usize,
    },
    /// A message this node cannot sign (a field the signed encoding refuses).
    #[error("cannot sign message: {0}")]
    Unsignable(String),
}

/// `Result` with [`ProtoError`].
pub type Result<T, E = ProtoError> = std::result::Result<T, E>;
