//! What a node with a history database needs from the state machine: `Persist` for each new broadcast, and its storage counters.

use super::NodeState;
use crate::proto::{Frame, OutEvent};

impl NodeState {
    /// Turns on (or off) [`OutEvent::Persist`] for every broadcast this node
    /// accepts as new, its own included: for an executor that keeps a
    /// history database. Off by default, so nodes without one (the
    /// simulator, nodes without a data directory) pay nothing for it.
    pub fn set_persist(&mut self, on: bool) {
        self.persist = on;
    }

    /// Counts a failed write to the history database.
    pub fn count_history_write_failure(&mut self) {
        self.metrics.history_write_failures += 1;
    }

    /// Counts `n` writes dropped before reaching the history database.
    pub fn count_history_writes_dropped(&mut self, n: u64) {
        self.metrics.history_writes_dropped += n;
    }

    /// Asks the executor to store `frame` (a new broadcast, without its round).
    pub(super) fn persist(&self, frame: &Frame, out: &mut Vec<OutEvent>) {
        if self.persist {
            out.push(OutEvent::Persist {
                frame: frame.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BroadcastMode, NodeConfig};
    use crate::proto::{Command, InEvent, Instant, MessageId, PeerAddr, PeerId};

    fn node(persist: bool) -> NodeState {
        let config = NodeConfig {
            broadcast: BroadcastMode::Flood,
            ..NodeConfig::default()
        };
        let mut s = NodeState::new(
            PeerId::new("m"),
            PeerAddr::new("127.0.0.1", 5000),
            config,
            chrono::DateTime::from_timestamp(0, 0).unwrap(),
        );
        s.set_persist(persist);
        s
    }

    fn persisted(out: &[OutEvent]) -> Vec<&Frame> {
        out.iter()
            .filter_map(|e| match e {
                OutEvent::Persist { frame } => Some(frame),
                _ => None,
            })
            .collect()
    }

    /// With persistence on, the node's own broadcast is one `Persist` of its
    /// frame; with it off (the default), none.
    #[test]
    fn own_broadcast_is_persisted_only_when_asked() {
        for on in [false, true] {
            let mut s = node(on);
            let mut out = Vec::new();
            let id = MessageId::from_u128(7);
            let cmd = Command::Broadcast {
                id,
                text: "hi".into(),
            };
            s.command(cmd, Instant::ZERO, &mut out).unwrap();
            // Numbered broadcasts wait for the feed's first reservation.
            let mut more = Vec::new();
            for event in &out {
                if let OutEvent::ReserveFeed { limit } = event {
                    s.handle(
                        InEvent::FeedReserved { limit: *limit },
                        Instant::ZERO,
                        &mut more,
                    );
                }
            }
            out.extend(more);
            let frames = persisted(&out);
            if on {
                assert_eq!(frames.len(), 1);
                assert_eq!(frames[0].envelope().id, Some(id));
                assert_eq!(frames[0].round(), None);
            } else {
                assert!(frames.is_empty(), "{out:?}");
            }
        }
    }
}
