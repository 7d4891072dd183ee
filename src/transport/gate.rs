//! `LinkGate`: the switch a partition throws on one in-memory link: open, silent (frames are lost as they arrive) or closed (both ends see the link end).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::Waker;

use futures_util::task::AtomicWaker;

/// What a link's gate lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateState {
    /// Every frame crosses.
    Open,
    /// Every frame is lost without a word (the link stays up).
    Silent,
    /// The link is gone: both readers end, as on a closed socket. For good.
    Closed,
}

impl GateState {
    fn from_u8(v: u8) -> GateState {
        match v {
            0 => GateState::Open,
            1 => GateState::Silent,
            _ => GateState::Closed,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            GateState::Open => 0,
            GateState::Silent => 1,
            GateState::Closed => 2,
        }
    }
}

/// One link's gate, shared by its two readers (side 0: the dialer's, side 1:
/// the acceptor's) and the network's record of the link.
#[derive(Debug, Default)]
pub struct LinkGate {
    state: AtomicU8,
    /// Each side's reader, woken when the state changes.
    readers: [AtomicWaker; 2],
}

impl LinkGate {
    /// An open gate.
    pub(crate) fn new() -> Arc<LinkGate> {
        Arc::new(LinkGate::default())
    }

    /// What the gate lets through now.
    pub(crate) fn state(&self) -> GateState {
        GateState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Sets the state (a closed gate stays closed) and wakes both readers.
    pub(crate) fn set(&self, to: GateState) {
        let _ = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                (GateState::from_u8(now) != GateState::Closed).then_some(to.to_u8())
            });
        self.readers.iter().for_each(AtomicWaker::wake);
    }

    /// The reader of `side` (0 or 1) is to be woken by the next change.
    pub(crate) fn register(&self, side: usize, waker: &Waker) {
        if let Some(w) = self.readers.get(side) {
            w.register(waker);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A closed gate stays closed: a heal (open) after a close does not reopen the link.
    #[test]
    fn closed_is_for_good() {
        let g = LinkGate::new();
        assert_eq!(g.state(), GateState::Open);
        g.set(GateState::Silent);
        assert_eq!(g.state(), GateState::Silent);
        g.set(GateState::Open);
        assert_eq!(g.state(), GateState::Open);
        g.set(GateState::Closed);
        g.set(GateState::Open);
        assert_eq!(g.state(), GateState::Closed);
    }
}
