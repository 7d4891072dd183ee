//! Application handlers for the application's own message types.

use std::sync::Arc;

use serde_json::Value;

use crate::proto::Envelope;

/// A handler's answer: one frame sent back to whoever sent the handled one.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The answer's `msg_type`.
    pub msg_type: String,
    /// The answer's `msg`.
    pub msg: Value,
}

impl Reply {
    /// An answer of `msg_type` carrying `msg`.
    pub fn new(msg_type: impl Into<String>, msg: impl Into<Value>) -> Self {
        Reply {
            msg_type: msg_type.into(),
            msg: msg.into(),
        }
    }
}

/// Called with each frame of its type; returning `Some` answers the sender.
/// It runs on the node's actor, so it should be quick. A panic in it is
/// caught (with the default `panic = "unwind"`), logged and counted in
/// `Metrics::handler_panics`; the frame gets no answer and the node goes on.
pub type MessageHandler = Arc<dyn Fn(&Envelope) -> Option<Reply> + Send + Sync>;
