//! `Network`: the deterministic executor: many `NodeState`s, one virtual clock, one seeded RNG, one event queue.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::latency::Latency;
use super::node::{nanos, node_addr, node_id, parse_node_addr, Ev, LinkEnd, SimNode, Slow};
use super::progress::{NoProgress, Progress};
use super::queue::Queue;
use super::report::KindCounts;
use super::topology::Topology;
use super::track::Tracker;
use super::worker::Buffers;
use super::SimError;
use crate::config::NodeConfig;
use crate::proto::{
    Command, ConnId, Direction, Frame, InEvent, Instant, MessageId, NodeState, PeerAddr,
};

/// Longest virtual time [`Network::run_until_idle`] waits for the network to go quiet.
pub const MAX_DRAIN: Duration = Duration::from_secs(3600);

/// Links dialled at once while [`Network::connect_all`] forms the topology.
pub const SETUP_BATCH_LINKS: usize = 1 << 18;

/// Most threads that handle one instant's events together.
pub const MAX_WORKERS: usize = 8;

/// Events an instant needs before it is split over threads: below this,
/// starting threads costs more than it saves.
pub const PARALLEL_MIN_EVENTS: usize = 20_000;

/// The wall-clock time virtual time zero stands for (2026-01-01T00:00:00Z),
/// fixed so that every frame of a run, and so its byte count, replays exactly.
const SIM_EPOCH_SECS: i64 = 1_767_225_600;

/// Counters of one run; all of them replay exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Events taken off the queue.
    pub events: u64,
    /// Frames handed to links.
    pub frames_sent: u64,
    /// Bytes of those frames, newlines included.
    pub bytes_sent: u64,
    /// Frames written on a connection the simulator no longer has.
    pub frames_lost: u64,
    /// Links that formed.
    pub links_created: u64,
    /// Faults applied (crashes, restarts, cuts, partitions, heals).
    pub faults: u64,
    /// Frames by kind, and broadcast copies taken in.
    pub kinds: KindCounts,
}

/// A deterministic network of pure `NodeState`s under virtual time.
///
/// Node `i` is called `n{i}` (see [`node_id`], [`node_addr`]). A frame sent on a
/// link arrives at `now + latency` of that link; frames are shared, never
/// re-serialised per hop. The same topology, latency model, seed and calls
/// replay the same run, event for event, whatever the number of threads.
#[derive(Debug)]
pub struct Network {
    pub(super) nodes: Vec<SimNode>,
    pub(super) topology: Topology,
    pub(super) queue: Queue<Ev>,
    /// Virtual time in nanoseconds.
    pub(super) now: u64,
    pub(super) rng: StdRng,
    pub(super) latency: Latency,
    /// One configuration, shared by every node's state.
    pub(super) config: std::sync::Arc<NodeConfig>,
    /// Network events queued (frames, connects, closes): zero means idle.
    pub(super) inflight: u64,
    pub(super) counters: Counters,
    pub(super) tracker: Tracker,
    /// Partition group per node while partitioned.
    pub(super) groups: Option<Vec<u32>>,
    /// Cut pairs (`min << 32 | max`) that cannot connect until healed.
    pub(super) cut: std::collections::BTreeSet<u64>,
    pub(super) workers: usize,
    pub(super) parallel_min: usize,
    pub(super) bufs: Vec<Buffers>,
    pub(super) parts: Vec<Vec<Ev>>,
    /// Buffers for sorting each instant's events by node.
    pub(super) order: super::order::NodeOrder,
    /// Per-range copies of recent broadcast frames (see `exec.rs`).
    pub(super) twins: Vec<(usize, Vec<Frame>)>,
    /// When [`Network::connect_all`] saw every link registered.
    pub(super) links_up_at: Option<u64>,
    /// With signature work on ([`Network::set_crypto`]): the seed of every
    /// node's key pair (node `i`'s secret is SHA-256 of it and `i`).
    pub(super) crypto: Option<[u8; 32]>,
}

impl Network {
    /// A network of `topology.nodes()` fresh nodes, none linked yet; call
    /// [`Network::connect_all`] to form the topology's links.
    pub fn new(
        topology: Topology,
        latency: Latency,
        seed: u64,
        config: NodeConfig,
    ) -> Result<Network, SimError> {
        config.validate().map_err(SimError::Config)?;
        let n = topology.nodes();
        let mut net = Network {
            nodes: Vec::with_capacity(n as usize),
            topology,
            queue: Queue::default(),
            now: 0,
            rng: StdRng::seed_from_u64(seed),
            latency,
            config: std::sync::Arc::new(config),
            inflight: 0,
            counters: Counters::default(),
            tracker: Tracker::new(n),
            groups: None,
            cut: Default::default(),
            workers: std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_WORKERS),
            parallel_min: PARALLEL_MIN_EVENTS,
            bufs: Vec::new(),
            parts: Vec::new(),
            order: Default::default(),
            twins: Vec::new(),
            links_up_at: None,
            crypto: None,
        };
        for i in 0..n {
            net.nodes.push(SimNode {
                state: None,
                links: Vec::new(),
                registered: Vec::new(),
                next_conn: 0,
                incarnation: 0,
                persisted: Vec::new(),
            });
            net.boot(i);
        }
        Ok(net)
    }

    /// Gives node `i` a fresh `NodeState` and starts it.
    pub(super) fn boot(&mut self, i: u32) {
        let epoch = DateTime::<Utc>::from_timestamp(SIM_EPOCH_SECS, 0).unwrap_or_default();
        let mut state = NodeState::new(node_id(i), node_addr(i), self.config.clone(), epoch);
        state.seed(self.rng.random());
        if let Some(seed) = &self.crypto {
            state.set_identity(node_identity(seed, i));
        }
        let persisted = std::mem::take(&mut self.nodes[i as usize].persisted);
        if !persisted.is_empty() {
            state.restore_history(persisted);
        }
        let mut out = Vec::new();
        state.start(self.instant(), &mut out);
        self.nodes[i as usize].state = Some(state);
        let mut w = self.worker_over_all();
        for o in out {
            w.carry_out(i, o, 0);
        }
        let (bufs, tally) = (w.bufs, w.tally);
        self.absorb(bufs, tally);
    }

    /// Every node dials its topology targets (through `Command::Join`, so the
    /// real `PING`/`PONG` handshake runs), then the network runs until quiet.
    /// Fails if some node's peer table does not hold exactly its links.
    ///
    /// Links are dialled in batches of [`SETUP_BATCH_LINKS`], each run until
    /// quiet before the next, so that only one batch of handshake frames is
    /// in flight at a time (all of a million nodes' at once would take
    /// gigabytes). Then the clock runs past the handshake deadline, so that
    /// the handshake timers fire and leave the queue before any measurement.
    pub fn connect_all(&mut self) -> Result<(), SimError> {
        self.connect_all_with(&NoProgress)
    }

    /// [`Network::connect_all`], telling `progress` of a `connecting` stage
    /// counted in links, advanced after each batch.
    pub fn connect_all_with(&mut self, progress: &dyn Progress) -> Result<(), SimError> {
        let edges = self.topology.edges().len();
        progress.stage("connecting", edges as u64);
        for batch in (0..edges).step_by(SETUP_BATCH_LINKS) {
            let batch_end = (batch + SETUP_BATCH_LINKS).min(edges);
            for e in batch..batch_end {
                let (a, b) = self.topology.edges()[e];
                self.command(a, Command::Join(node_addr(b)));
            }
            self.run_until_idle()?;
            progress.advance(batch_end as u64);
        }
        self.check_links()?;
        self.links_up_at = Some(self.now);
        self.run_for(self.config.handshake_timeout);
        self.run_until_idle()?;
        self.release_scratch();
        Ok(())
    }

    /// Gives back the buffers the setup's burst of handshakes grew (spare
    /// queue buckets, sort and worker buffers): a million nodes' worth is
    /// gigabytes that the broadcasts after it would carry at their peak.
    fn release_scratch(&mut self) {
        self.queue.release_spares();
        self.order = Default::default();
        self.bufs = Vec::new();
        self.parts = Vec::new();
        for node in &mut self.nodes {
            node.links.shrink_to_fit();
            node.registered.shrink_to_fit();
        }
    }

    /// Checks each live node registered exactly its live topology neighbours.
    pub fn check_links(&self) -> Result<(), SimError> {
        let alive = |i: u32| self.nodes[i as usize].state.is_some();
        let mut expected = vec![0u32; self.nodes.len()];
        for &(a, b) in self.topology.edges() {
            if !(alive(a) && alive(b)) {
                continue;
            }
            for (x, y) in [(a, b), (b, a)] {
                expected[x as usize] += 1;
                if !self.nodes[x as usize].registered.contains(&y) {
                    return Err(SimError::Setup(format!(
                        "n{x} did not register its neighbour n{y}"
                    )));
                }
            }
        }
        for (i, node) in self.nodes.iter().enumerate() {
            if node.state.is_some() && node.registered.len() != expected[i] as usize {
                return Err(SimError::Setup(format!(
                    "n{i} registered {} peers, its links are {}",
                    node.registered.len(),
                    expected[i]
                )));
            }
        }
        Ok(())
    }

    /// Node `node` broadcasts `text` now; returns the message id (drawn
    /// from the run's RNG, or with signatures on, derived from the signed fields).
    pub fn broadcast(&mut self, node: u32, text: String) -> MessageId {
        let id = MessageId::from_u128(self.rng.random());
        let tracked = self.start_broadcast(node, id, &text);
        self.command(node, Command::Broadcast { id, text });
        tracked
    }

    /// Turns signature work on (`peerchat sim --crypto`): every node gets a
    /// key pair drawn from the run's RNG (kept across restarts), signs what
    /// it makes and verifies what it takes in. Off by default, so runs
    /// without it replay as before; call before [`Network::connect_all`].
    pub fn set_crypto(&mut self, on: bool) {
        self.crypto = on.then(|| self.rng.random());
        for i in 0..self.nodes.len() as u32 {
            let identity = self.crypto.as_ref().map(|seed| node_identity(seed, i));
            if let (Some(state), Some(identity)) = (self.nodes[i as usize].state.as_mut(), identity)
            {
                state.set_identity(identity);
            }
        }
    }

    /// Queues a broadcast from `node` at virtual time `at` (no earlier than now).
    pub fn schedule_broadcast(&mut self, at: Duration, node: u32, text: String) -> MessageId {
        let id = MessageId::from_u128(self.rng.random());
        let cmd = Command::Broadcast { id, text };
        let at = nanos(at).max(self.now);
        self.push(at, Ev::Other(Box::new(Slow::Command { node, cmd })));
        id
    }

    /// Tracks a broadcast `node` makes now, under the id it will go out
    /// under (with signatures on, derived from its signed fields); returns it.
    pub(super) fn start_broadcast(&mut self, node: u32, id: MessageId, text: &str) -> MessageId {
        let now = self.instant();
        let crypto = self.crypto.is_some();
        let id = match &mut self.nodes[node as usize].state {
            Some(state) if crypto => state.broadcast_id(id, text, now),
            _ => id,
        };
        let reach = self.reachable(node);
        self.tracker.start(id, node, self.now, reach);
        id
    }

    /// Hands `cmd` to node `node` now (ignored while it is crashed).
    pub fn command(&mut self, node: u32, cmd: Command) {
        self.deliver(node, InEvent::Command(cmd), 0);
    }

    /// Runs until no frame, dial or close is in flight (timers may remain).
    /// Fails if the network is still busy [`MAX_DRAIN`] of virtual time later.
    pub fn run_until_idle(&mut self) -> Result<(), SimError> {
        let limit = self.now.saturating_add(nanos(MAX_DRAIN));
        while self.inflight > 0 {
            match self.queue.next_time() {
                Some(t) if t <= limit => self.step(),
                _ => return Err(SimError::NotIdle(MAX_DRAIN)),
            }
        }
        Ok(())
    }

    /// Runs until idle ([`Network::run_until_idle`]) and, while a broadcast
    /// not checked yet is missing at some running node of its reach at send,
    /// on until no node has tree work due ([`NodeState::tree_pending`]:
    /// announcements not yet sent, grafts not yet asked). On a tree, a node
    /// whose eager parent crashed is repaired by these, with no frame in
    /// flight meanwhile. Check deliveries after this, not after idle alone.
    /// A complete broadcast is not held back for its sweep (which later
    /// traffic carries, as on a live network). Fails if it takes more than
    /// [`MAX_DRAIN`] of virtual time.
    pub fn run_until_settled(&mut self) -> Result<(), SimError> {
        let limit = self.now.saturating_add(nanos(MAX_DRAIN));
        loop {
            self.run_until_idle()?;
            let pending = self
                .nodes
                .iter()
                .any(|n| n.state.as_ref().is_some_and(NodeState::tree_pending));
            if !pending {
                return Ok(());
            }
            if self.tracker.log.unchecked_complete(&self.running()) {
                return Ok(());
            }
            match self.queue.next_time() {
                Some(t) if t <= limit => self.step(),
                _ => return Err(SimError::NotIdle(MAX_DRAIN)),
            }
        }
    }

    /// Runs every event up to and including virtual time `until`, then sets the clock there.
    pub fn run_until(&mut self, until: Duration) {
        let until = nanos(until);
        while self.queue.next_time().is_some_and(|t| t <= until) {
            self.step();
        }
        self.now = self.now.max(until);
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(Duration::from_nanos(self.now).saturating_add(d));
    }

    /// Sets how many threads share an instant's events (1: none) and from how
    /// many events on. The run is the same whatever these are.
    pub fn set_workers(&mut self, workers: usize, min_events: usize) {
        self.workers = workers.clamp(1, MAX_WORKERS);
        self.parallel_min = min_events;
    }

    /// Starts a dial; it reaches its target one link latency later.
    pub(super) fn dial(&mut self, node: u32, addr: PeerAddr) {
        let inc = self.nodes[node as usize].incarnation;
        let target = parse_node_addr(&addr).filter(|&t| (t as usize) < self.nodes.len());
        let Some(to) = target else {
            let ev = Slow::DialFailed { node, inc, addr };
            return self.push(self.now, Ev::Other(Box::new(ev)));
        };
        let latency = match self.topology.link_latency(node, to) {
            Some(d) => d,
            None => self.latency.sample(&mut self.rng),
        };
        let latency_us = u32::try_from(latency.as_micros()).unwrap_or(u32::MAX);
        let at = self.now + u64::from(latency_us) * 1000;
        let ev = Ev::Accept {
            from: node,
            inc,
            to,
            latency_us,
        };
        self.push(at, ev);
    }

    /// A dial reaches its target: refuse it, or form the link (the target
    /// hears `Connected` now, the dialer one latency later).
    pub(super) fn accept(&mut self, from: u32, inc: u32, to: u32, latency_us: u32) {
        let dialer = &self.nodes[from as usize];
        if dialer.incarnation != inc || dialer.state.is_none() {
            return;
        }
        let back = self.now + u64::from(latency_us) * 1000;
        if self.nodes[to as usize].state.is_none() || self.blocked(from, to) {
            let target = to;
            return self.push(
                back,
                Ev::Refused {
                    node: from,
                    inc,
                    target,
                },
            );
        }
        let ca = self.alloc_conn(from);
        let cb = self.alloc_conn(to);
        self.nodes[from as usize].links.push(LinkEnd {
            conn: ca,
            peer: to,
            peer_conn: cb,
            latency_us,
            silent: false,
        });
        self.nodes[to as usize].links.push(LinkEnd {
            conn: cb,
            peer: from,
            peer_conn: ca,
            latency_us,
            silent: false,
        });
        self.counters.links_created += 1;
        self.push(
            back,
            Ev::Established {
                node: from,
                conn: ca,
            },
        );
        let conn = ConnId(cb.into());
        let (dir, local, remote) = (Direction::Inbound, None, None);
        let ev = InEvent::Connected {
            conn,
            dir,
            local,
            remote,
        };
        self.deliver(to, ev, 0);
    }

    pub(super) fn remove_link_end(&mut self, node: u32, conn: u32) -> Option<LinkEnd> {
        self.nodes[node as usize].remove_link_end(conn)
    }

    fn alloc_conn(&mut self, node: u32) -> u32 {
        let n = &mut self.nodes[node as usize];
        n.next_conn = n.next_conn.wrapping_add(1);
        n.next_conn
    }

    pub(super) fn instant(&self) -> Instant {
        Instant::from_epoch(Duration::from_nanos(self.now))
    }

    /// The virtual time at which [`Network::connect_all`] had every link registered.
    pub fn links_up_at(&self) -> Option<Duration> {
        self.links_up_at.map(Duration::from_nanos)
    }

    /// The virtual clock.
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.now)
    }

    /// How many nodes.
    pub fn len(&self) -> u32 {
        self.nodes.len() as u32
    }

    /// True for a network of no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The topology the network was built from.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Node `i`'s protocol state, `None` while it is crashed (or out of range).
    pub fn node(&self, i: u32) -> Option<&NodeState> {
        self.nodes.get(i as usize)?.state.as_ref()
    }

    /// True if node `i` is running.
    pub fn is_alive(&self, i: u32) -> bool {
        self.node(i).is_some()
    }

    /// The run's counters so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The configuration every node runs.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// New message ids the running nodes dropped over a link's rate.
    pub fn ids_rate_limited(&self) -> u64 {
        self.nodes
            .iter()
            .filter_map(|n| n.state.as_ref())
            .map(|s| s.metrics().ids_rate_limited)
            .sum()
    }

    /// Events still queued (timers included).
    pub fn queued(&self) -> usize {
        self.queue.len()
    }
}

/// Node `i`'s key pair in a run with signatures on: from the run's seed, so
/// a run replays exactly and a restarted node keeps its key.
fn node_identity(seed: &[u8; 32], i: u32) -> crate::proto::Identity {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(seed);
    h.update(i.to_be_bytes());
    crate::proto::Identity::from_secret(h.finalize().into())
}
