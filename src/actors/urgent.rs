//! Tree control frames that skip the PeerActor's mailbox queue.
//!
//! Under load a PeerActor's mailbox holds seconds of frames. A `PRUNE`
//! ("stop sending me full copies") or a `GRAFT` waiting behind them lets
//! the peer send seconds more of the copies it is asked to stop, or delays
//! the answer it asks for. Their effect does not depend on the frames
//! before them (a `PRUNE` turns this node's side of the link lazy; a `GRAFT`
//! queues ids for the link), so a ConnectionActor puts them here and the
//! PeerActor takes them before the next message it handles. Every other
//! frame keeps its order.

use std::collections::VecDeque;
use std::sync::Mutex;

use actix::Message;

use crate::proto::{ConnId, Frame};

/// Frames waiting to be handled ahead of the mailbox; one per node, shared
/// by its PeerActor and its ConnectionActors.
#[derive(Debug, Default)]
pub struct UrgentInbox {
    frames: Mutex<VecDeque<(ConnId, Frame)>>,
}

/// Tells the PeerActor that urgent frames wait (sent when the inbox was
/// empty; any message it handles first takes them too).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct UrgentWaiting;

impl UrgentInbox {
    /// Queues `frame`; true when the inbox was empty (the PeerActor needs a wake-up).
    pub fn push(&self, conn: ConnId, frame: Frame) -> bool {
        let mut frames = self.frames.lock().unwrap_or_else(|e| e.into_inner());
        frames.push_back((conn, frame));
        frames.len() == 1
    }

    /// Takes every waiting frame, oldest first.
    pub fn take(&self) -> VecDeque<(ConnId, Frame)> {
        let mut frames = self.frames.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::wire::{Envelope, PeerId, WireTime};

    fn prune() -> Frame {
        Frame::encode(Envelope::new(
            "PRUNE",
            serde_json::Value::from(""),
            PeerId::new("a"),
            WireTime::Text("t".into()),
        ))
        .unwrap()
    }

    /// The first frame asks for a wake-up, later ones not until taken; taking
    /// gives them oldest first and empties the inbox.
    #[test]
    fn wakes_once_and_keeps_order() {
        let inbox = UrgentInbox::default();
        assert!(inbox.push(ConnId(1), prune()));
        assert!(!inbox.push(ConnId(2), prune()));
        let taken: Vec<u64> = inbox.take().into_iter().map(|(c, _)| c.0).collect();
        assert_eq!(taken, vec![1, 2]);
        assert!(inbox.take().is_empty());
        assert!(inbox.push(ConnId(3), prune()));
    }
}
