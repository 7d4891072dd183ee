//! Faults at scheduled virtual times: node crash and restart, link cut, partition and heal.

use std::time::Duration;

use tracing::debug;

use super::network::Network;
use super::node::{nanos, node_addr, Ev, Slow};
use super::reach::{reachable, Bitset};
use crate::proto::{Command, DisconnectReason};

/// Something that goes wrong (or right again) in the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The node's process dies: its state is gone and its peers see its links close.
    Crash(u32),
    /// A crashed node starts again, fresh, and dials its topology targets.
    Restart(u32),
    /// The links between two nodes break, and they cannot connect until [`Fault::Heal`].
    Cut(u32, u32),
    /// Nodes in different groups (one group number per node) lose their links
    /// and cannot connect until [`Fault::Heal`].
    Partition(Vec<u32>),
    /// Nodes in different groups keep their links, but every frame between
    /// them is lost without a word (and they cannot connect anew) until
    /// [`Fault::Heal`]: the peers find out only by `peer_timeout`.
    Silence(Vec<u32>),
    /// Every cut, partition and silence ends; nodes reconnect as their redials find each other.
    Heal,
}

impl Network {
    /// Queues `fault` at virtual time `at` (no earlier than now).
    pub fn schedule_fault(&mut self, at: Duration, fault: Fault) {
        let at = nanos(at).max(self.now);
        self.push(at, Ev::Other(Box::new(Slow::Fault(fault))));
    }

    /// Applies `fault` now.
    pub fn apply_fault(&mut self, fault: Fault) {
        debug!(?fault, at_ns = self.now, "fault");
        self.counters.faults += 1;
        match fault {
            Fault::Crash(i) => self.crash(i),
            Fault::Restart(i) => self.restart(i),
            Fault::Cut(a, b) => {
                self.cut.insert(pair(a, b));
                self.break_links(|x, y| (x == a && y == b) || (x == b && y == a));
            }
            Fault::Partition(groups) => {
                let n = self.nodes.len();
                let group = |i: u32| groups.get(i as usize).copied().unwrap_or(0);
                self.break_links(|x, y| group(x) != group(y));
                let mut groups = groups;
                groups.resize(n, 0);
                self.groups = Some(groups);
            }
            Fault::Silence(groups) => {
                let group = |i: u32| groups.get(i as usize).copied().unwrap_or(0);
                for a in 0..self.nodes.len() as u32 {
                    for end in &mut self.nodes[a as usize].links {
                        end.silent = group(a) != group(end.peer);
                    }
                }
                let mut groups = groups;
                groups.resize(self.nodes.len(), 0);
                self.groups = Some(groups);
            }
            Fault::Heal => {
                self.cut.clear();
                self.groups = None;
                for node in &mut self.nodes {
                    for end in &mut node.links {
                        end.silent = false;
                    }
                }
            }
        }
    }

    fn crash(&mut self, i: u32) {
        let Some(node) = self.nodes.get_mut(i as usize) else {
            return;
        };
        let Some(state) = node.state.take() else {
            return;
        };
        // As if a database kept it: a restart restores it.
        node.persisted = state.history_frames();
        node.incarnation = node.incarnation.wrapping_add(1);
        node.registered.clear();
        let links = std::mem::take(&mut node.links);
        for end in links {
            let (node, conn) = (end.peer, end.peer_conn);
            self.push(end.arrival(self.now), Ev::RemoteClosed { node, conn });
        }
        self.tracker.crashed(i, self.now);
        self.tracker.graph_changed();
    }

    fn restart(&mut self, i: u32) {
        match self.nodes.get(i as usize) {
            Some(n) if n.state.is_none() => {}
            _ => return,
        }
        self.tracker.restarted(i);
        self.boot(i);
        let targets = self
            .topology
            .edges()
            .iter()
            .filter(|&&(a, _)| a == i)
            .map(|&(_, b)| node_addr(b))
            .collect();
        self.command(i, Command::Bootstrap(targets));
    }

    /// Breaks every link whose two ends `doomed` names: both ends hear `Disconnected` now.
    fn break_links(&mut self, doomed: impl Fn(u32, u32) -> bool) {
        for a in 0..self.nodes.len() as u32 {
            let mut k = 0;
            while k < self.nodes[a as usize].links.len() {
                let end = self.nodes[a as usize].links[k];
                if !doomed(a, end.peer) {
                    k += 1;
                    continue;
                }
                self.nodes[a as usize].links.swap_remove(k);
                self.remove_link_end(end.peer, end.peer_conn);
                let reason = DisconnectReason::Closed;
                let ev = Ev::LocalClosed {
                    node: a,
                    conn: end.conn,
                    reason,
                };
                self.push(self.now, ev);
                let (node, conn) = (end.peer, end.peer_conn);
                self.push(self.now, Ev::LocalClosed { node, conn, reason });
            }
        }
        self.tracker.graph_changed();
    }

    /// True if `a` and `b` may not connect now (cut, or in different partition groups).
    pub(super) fn blocked(&self, a: u32, b: u32) -> bool {
        if self.cut.contains(&pair(a, b)) {
            return true;
        }
        match &self.groups {
            Some(g) => g.get(a as usize) != g.get(b as usize),
            None => false,
        }
    }

    /// Live nodes a flood from `from` can reach now: along links whose sender
    /// has registered the receiver (whom a node forwards to).
    pub(super) fn reachable(&mut self, from: u32) -> Bitset {
        if let Some(hit) = self.tracker.cached_reach(from) {
            return hit;
        }
        let nodes = &self.nodes;
        let seen = reachable(
            nodes.len(),
            from,
            |i| nodes[i as usize].state.is_some(),
            |i| &nodes[i as usize].registered,
        );
        self.tracker.cache_reach(from, &seen);
        seen
    }

    /// The nodes running now (not crashed).
    pub(super) fn running(&self) -> Bitset {
        Bitset::from_fn(self.nodes.len(), |i| self.nodes[i].state.is_some())
    }

    /// Checks every broadcast not yet checked: each node still connected to its
    /// sender must have delivered it. Connected means reachable now along
    /// registered links, and the check is made only when no node registered a
    /// peer since the broadcast was sent, so every such path existed during
    /// its whole flood.
    pub fn check_broadcasts(&mut self) {
        let alive = self.running();
        for b in self.tracker.log.unchecked() {
            let (sender, grown) = self.tracker.sender_of(b);
            let now_reach = if grown {
                None
            } else {
                Some(self.reachable(sender))
            };
            self.tracker.log.check(b, now_reach.as_ref(), &alive);
        }
    }
}

fn pair(a: u32, b: u32) -> u64 {
    (u64::from(a.min(b)) << 32) | u64::from(a.max(b))
}
