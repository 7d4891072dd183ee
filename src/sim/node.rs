//! What the simulator keeps per node (its `NodeState`, link ends, registered peers) and the events it queues.

use std::time::Duration;

use crate::config::NodeConfig;
use crate::proto::{Command, ConnId, DisconnectReason, Frame, NodeState, PeerAddr, PeerId, Timer};

/// Keep-alive period in the model: the model's links never go quiet by
/// accident, so probes would only add noise to the frame counts.
pub const SIM_PING_INTERVAL: Duration = Duration::from_secs(3600);

/// Silence after which a model node drops a peer (twice [`SIM_PING_INTERVAL`]).
pub const SIM_PEER_TIMEOUT: Duration = Duration::from_secs(7200);

/// Nodes on one address host: the model's addresses are `s{i / 65535}:{i % 65535 + 1}`
/// (port 0 is never a listen address: the protocol refuses it).
const NODES_PER_HOST: u32 = (1 << 16) - 1;

/// The node configuration the model uses: the defaults with keep-alive pushed
/// out of the way and room for every link of the topology.
pub fn sim_node_config(max_degree: u32) -> NodeConfig {
    let defaults = NodeConfig::default();
    NodeConfig {
        ping_interval: SIM_PING_INTERVAL,
        peer_timeout: SIM_PEER_TIMEOUT,
        max_peers: defaults.max_peers.max(max_degree as usize),
        ..defaults
    }
}

/// The id of node `i`: `n{i}`.
pub fn node_id(i: u32) -> PeerId {
    PeerId::new(format!("n{i}"))
}

/// The listen address of node `i`. Ports are 16 bits and never 0, so the
/// host carries the high part: `s0:1` … `s0:65535`, `s1:1` …, for any number of nodes.
pub fn node_addr(i: u32) -> PeerAddr {
    PeerAddr::new(
        format!("s{}", i / NODES_PER_HOST),
        (i % NODES_PER_HOST + 1) as u16,
    )
}

/// The node index an id of [`node_id`] names.
pub fn parse_node_id(id: &PeerId) -> Option<u32> {
    id.as_str().strip_prefix('n')?.parse().ok()
}

/// The node index an address of [`node_addr`] names.
pub fn parse_node_addr(addr: &PeerAddr) -> Option<u32> {
    let high: u32 = addr.host().strip_prefix('s')?.parse().ok()?;
    let low = u32::from(addr.port()).checked_sub(1)?;
    high.checked_mul(NODES_PER_HOST)?.checked_add(low)
}

/// One end of an open link: the node's connection id, the far node and its
/// connection id, and the link's one-way latency.
#[derive(Debug, Clone, Copy)]
pub(super) struct LinkEnd {
    pub(super) conn: u32,
    pub(super) peer: u32,
    pub(super) peer_conn: u32,
    pub(super) latency_us: u32,
    /// Frames sent on it are lost without a word ([`super::Fault::Silence`]).
    pub(super) silent: bool,
}

impl LinkEnd {
    /// When a frame sent now on this link arrives.
    pub(super) fn arrival(&self, now: u64) -> u64 {
        now + u64::from(self.latency_us) * 1000
    }
}

/// A node as the simulator holds it.
#[derive(Debug)]
pub(super) struct SimNode {
    /// `None` while crashed.
    pub(super) state: Option<NodeState>,
    pub(super) links: Vec<LinkEnd>,
    /// Nodes this one has registered, as its `PeerConnected`/`PeerDisconnected` events tell.
    pub(super) registered: Vec<u32>,
    /// Connection ids are never reused, across restarts too.
    pub(super) next_conn: u32,
    /// Bumped at every crash: timers and dials of an earlier life are void.
    pub(super) incarnation: u32,
    /// The history a crashed node had, as if a database kept it: restored at restart.
    pub(super) persisted: Vec<Frame>,
}

impl SimNode {
    pub(super) fn link_end(&self, conn: u32) -> Option<LinkEnd> {
        self.links.iter().find(|l| l.conn == conn).copied()
    }

    pub(super) fn remove_link_end(&mut self, conn: u32) -> Option<LinkEnd> {
        let i = self.links.iter().position(|l| l.conn == conn)?;
        Some(self.links.swap_remove(i))
    }
}

/// A queued event. The frequent kinds are small and inline; the rest are boxed.
#[derive(Debug)]
pub(super) enum Ev {
    /// A frame reaches `node` on `conn`, having crossed `hop` links from its origin.
    Frame {
        node: u32,
        conn: u32,
        hop: u32,
        frame: Frame,
    },
    /// The handshake timer of `conn`.
    Handshake { node: u32, conn: u32 },
    /// The keep-alive timer of `node` in life `inc`.
    KeepAlive { node: u32, inc: u32 },
    /// A dial from `from` (in life `inc`) reaches `to`.
    Accept {
        from: u32,
        inc: u32,
        to: u32,
        latency_us: u32,
    },
    /// The dialer learns its dial connected.
    Established { node: u32, conn: u32 },
    /// The dialer learns its dial of `target` was refused.
    Refused { node: u32, inc: u32, target: u32 },
    /// `node` closed `conn` itself (its end is already gone).
    LocalClosed {
        node: u32,
        conn: u32,
        reason: DisconnectReason,
    },
    /// The far end of `conn` went away.
    RemoteClosed { node: u32, conn: u32 },
    /// Anything rarer.
    Other(Box<Slow>),
}

/// Rare queued events.
#[derive(Debug)]
pub(super) enum Slow {
    Timer {
        node: u32,
        inc: u32,
        timer: Timer,
    },
    /// A watched link of `node` is ready for more (the model has no queues).
    QueueLow {
        node: u32,
        inc: u32,
        conn: ConnId,
    },
    /// `node`'s feed counter is reserved up to `limit` (the model has no disk).
    FeedReserved {
        node: u32,
        inc: u32,
        limit: u64,
    },
    DialFailed {
        node: u32,
        inc: u32,
        addr: PeerAddr,
    },
    Command {
        node: u32,
        cmd: Command,
    },
    Fault(super::faults::Fault),
}

impl Ev {
    /// The node this event is for (faults, which touch many, come last).
    /// A cheap stand-in left behind where an event was moved out of a buffer.
    pub(super) const PLACEHOLDER: Ev = Ev::RemoteClosed {
        node: u32::MAX,
        conn: 0,
    };

    pub(super) fn node(&self) -> u32 {
        match self {
            Ev::Frame { node, .. }
            | Ev::Handshake { node, .. }
            | Ev::KeepAlive { node, .. }
            | Ev::Established { node, .. }
            | Ev::Refused { node, .. }
            | Ev::LocalClosed { node, .. }
            | Ev::RemoteClosed { node, .. } => *node,
            Ev::Accept { to, .. } => *to,
            Ev::Other(slow) => match **slow {
                Slow::Timer { node, .. }
                | Slow::DialFailed { node, .. }
                | Slow::QueueLow { node, .. }
                | Slow::FeedReserved { node, .. }
                | Slow::Command { node, .. } => node,
                Slow::Fault(_) => u32::MAX,
            },
        }
    }

    /// True for network traffic (frames, connects, closes), which keeps a run from being idle.
    pub(super) fn in_flight(&self) -> bool {
        match self {
            Ev::Frame { .. }
            | Ev::Accept { .. }
            | Ev::Established { .. }
            | Ev::Refused { .. }
            | Ev::LocalClosed { .. }
            | Ev::RemoteClosed { .. } => true,
            Ev::Handshake { .. } | Ev::KeepAlive { .. } => false,
            // The tree's announcement window and graft timers are part of
            // getting a broadcast everywhere: a run is not idle while one is
            // due. Its periodic sweep is not (a workload lets the last one
            // fire before it counts the traffic).
            Ev::Other(slow) => matches!(
                **slow,
                Slow::DialFailed { .. }
                    | Slow::QueueLow { .. }
                    | Slow::FeedReserved { .. }
                    | Slow::Timer {
                        timer: Timer::Graft(_)
                            | Timer::TreeDispatch
                            | Timer::Holdback
                            | Timer::DigestSoon
                            | Timer::CatchUp,
                        ..
                    }
            ),
        }
    }

    /// True if handling it touches only its own node (so nodes can be handled in parallel).
    pub(super) fn is_local(&self) -> bool {
        match self {
            Ev::Accept { .. } => false,
            Ev::Other(slow) => matches!(**slow, Slow::Timer { .. } | Slow::DialFailed { .. }),
            _ => true,
        }
    }
}

/// A duration in nanoseconds, saturating (a run never gets near 584 years).
pub(super) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Addresses round-trip across the host boundary and never use port 0.
    #[test]
    fn addresses_round_trip_without_port_zero() {
        for i in [
            0,
            1,
            NODES_PER_HOST - 1,
            NODES_PER_HOST,
            3 * NODES_PER_HOST + 7,
        ] {
            let addr = node_addr(i);
            assert_ne!(addr.port(), 0, "node {i}");
            assert_eq!(parse_node_addr(&addr), Some(i), "node {i}");
        }
        assert_eq!(node_addr(NODES_PER_HOST), PeerAddr::new("s1", 1));
        assert_eq!(parse_node_addr(&PeerAddr::new("s0", 0)), None);
    }
}
