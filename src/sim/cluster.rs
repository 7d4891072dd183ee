//! `Cluster`: real nodes (PeerActor, ConnectionActors, RegistryActor) in one
//! actix System, spread over a few arbiters, linked over TCP on loopback or
//! over an in-memory network: the end-to-end check of the real stack. The
//! workloads it runs are in `cluster/workloads.rs` (W1, W2) and
//! `cluster/churn.rs` (W4) and `cluster/w5.rs` (W5); `cluster/measure.rs` turns what they saw into
//! the same [`Report`](super::Report) as the model's.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix::{Arbiter, ArbiterHandle};
use serde::Serialize;
use tokio::sync::oneshot;

use super::memory::current_rss;
use super::node::parse_node_id;
use super::progress::Progress;
use super::reach::{reachable, Bitset};
use super::{SimError, Topology};
use crate::config::NodeConfig;
use crate::proto::{Event, Identity, Metrics};
use crate::transport::MemoryNetwork;
use crate::{Node, NodeBuilder, NodeHandle};

mod churn;
mod measure;
mod tally;
mod w5;
mod workloads;

pub use churn::W4_DRAIN;
use tally::Tally;
pub use w5::W5Timing;
pub use workloads::{BROADCAST_DEADLINE, THROUGHPUT_DEADLINE};

/// How long the network may take to form before setup fails.
pub const SETUP_DEADLINE: Duration = Duration::from_secs(120);
/// File descriptors kept free for the process itself (stdio, epoll, timers).
pub const FD_RESERVE: u64 = 64;
/// Arbiters (threads) the nodes are spread over when not told otherwise: one per core of this machine class.
pub const DEFAULT_ARBITERS: usize = 2;
/// How long, after a broadcast has reached every node, the cluster waits for
/// the flood's last duplicates to drain before the next one (so one
/// broadcast's tail is not measured as the next one's latency).
pub const SETTLE_DEADLINE: Duration = Duration::from_secs(2);
/// How often the measuring loop looks at the delivery tally (the resolution
/// of completion, not of the delivery times, which are stamped as they happen).
const POLL: Duration = Duration::from_millis(1);
/// How often setup looks at the count of registered links.
const SETUP_POLL: Duration = Duration::from_millis(20);
/// How often setup also asks every node for its peer table.
const SETUP_CHECK: Duration = Duration::from_secs(1);
/// Requests (joins, metrics) in flight at once from the measuring task to the nodes.
const ASK_BATCH: usize = 4096;

/// How the cluster's nodes are linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Real sockets on 127.0.0.1 (two file descriptors per link, one per listener).
    Tcp,
    /// Frame links of a [`MemoryNetwork`]: no file descriptors, no codec.
    Memory,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "tcp",
            Transport::Memory => "memory",
        })
    }
}

impl std::str::FromStr for Transport {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tcp" => Ok(Transport::Tcp),
            "memory" | "mem" => Ok(Transport::Memory),
            other => Err(format!("unknown transport {other:?}: tcp or memory")),
        }
    }
}

/// A running cluster.
pub struct Cluster {
    nodes: Vec<NodeHandle>,
    arbiters: Vec<ArbiterHandle>,
    /// One per arbiter, so recording a delivery never contends across threads.
    tallies: Vec<Arc<Tally>>,
    /// The topology's links, for setup; its neighbour lists, for who can reach whom.
    edges: Vec<(u32, u32)>,
    adjacency: Vec<Vec<u32>>,
    /// What built the topology, and its seed (for the report).
    topology: (String, Option<u64>),
    transport: Transport,
    setup: Duration,
    /// RSS before the first node started.
    rss_before: Option<u64>,
    /// Nodes stopped (W4): they are no longer asked for their counters.
    stopped: Bitset,
    /// Each stopped node: when it began shutting down, and its counters just before.
    stops: Arc<Mutex<Vec<Stop>>>,
    /// How the nodes pass broadcasts on.
    broadcast: crate::config::BroadcastMode,
    /// In a tree: the longest a deferred announcement waits (sweep and window).
    deferred: Duration,
    /// The in-memory network the nodes are on (with `Transport::Memory`): W5 partitions it.
    net: MemoryNetwork,
    /// The nodes' configuration (W5 restarts nodes with it).
    config: NodeConfig,
}

/// A node stopped during a run.
struct Stop {
    node: u32,
    /// When it began shutting down.
    at: Instant,
    /// Its counters just before (`None` if it did not answer).
    last: Option<Metrics>,
}

/// Locks `m`; nothing panics while holding these locks, so a poisoned one still holds good data.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Open files this process may hold (`ulimit -n`), from `/proc/self/limits`.
pub fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Bytes one cluster node takes with its share of links at degree 8 (seen:
/// 38 to 41 KiB per node in W1 at N = 10,000 and 100,000 in memory, 52 KiB
/// over TCP with its socket buffers; rounded up for the peaks).
pub const CLUSTER_NODE_BYTES: u64 = 48 * 1024;

/// The largest cluster that fits in the memory budget (`None` when
/// MemAvailable cannot be read).
pub fn max_memory_nodes() -> Option<u64> {
    let available = super::memory::mem_available()?;
    Some((available as f64 * super::memory::MEMORY_BUDGET_SHARE) as u64 / CLUSTER_NODE_BYTES)
}

/// Refuses a cluster that would not fit in memory, naming the largest that would.
pub fn check_memory(nodes: u64) -> Result<(), SimError> {
    match max_memory_nodes() {
        Some(max) if nodes > max => Err(SimError::Params(format!(
            "{nodes} cluster nodes need about {} MiB ({} KiB each), over {}% of MemAvailable; \
             the largest cluster that fits is about {max} nodes",
            (nodes * CLUSTER_NODE_BYTES) >> 20,
            CLUSTER_NODE_BYTES >> 10,
            (super::memory::MEMORY_BUDGET_SHARE * 100.0).round()
        ))),
        _ => Ok(()),
    }
}

/// Open files one TCP node takes at `degree`: a listener, and two sockets
/// per link (both ends are in this process).
fn fds_per_node(degree: f64) -> f64 {
    1.0 + degree
}

/// The largest TCP cluster the open-file limit allows at `degree` (`None`
/// when the limit cannot be read).
pub fn max_tcp_nodes(degree: f64) -> Option<u64> {
    let limit = open_file_limit()?;
    Some((limit.saturating_sub(FD_RESERVE) as f64 / fds_per_node(degree)) as u64)
}

/// Refuses a TCP cluster that would run out of file descriptors, naming the
/// limit and the largest node count that fits at this degree.
pub fn check_fds(nodes: u64, degree: f64) -> Result<(), SimError> {
    let Some(limit) = open_file_limit() else {
        return Ok(());
    };
    let need = (nodes as f64 * fds_per_node(degree)) as u64 + FD_RESERVE;
    if need <= limit {
        return Ok(());
    }
    let max = max_tcp_nodes(degree).unwrap_or(0);
    Err(SimError::Params(format!(
        "{nodes} TCP nodes at degree {degree:.1} need about {need} open files, but this process may \
         open {limit} (ulimit -n); the largest TCP cluster that fits is about {max} nodes \
         (or use --transport memory)"
    )))
}

impl Cluster {
    /// Starts one node per topology vertex, round-robin over `arbiters`
    /// threads, joins every link, and returns once every node's peer table
    /// holds all its links. `progress` hears the `starting` and `connecting` stages.
    pub async fn start(
        topology: &Topology,
        transport: Transport,
        arbiters: usize,
        config: NodeConfig,
        progress: &dyn Progress,
    ) -> Result<Cluster, SimError> {
        config.validate().map_err(SimError::Config)?;
        let n = topology.nodes();
        if transport == Transport::Tcp {
            check_fds(u64::from(n), topology.mean_degree())?;
        }
        check_memory(u64::from(n))?;
        let rss_before = current_rss();
        let started = Instant::now();
        let arbiters: Vec<ArbiterHandle> = (0..arbiters.max(1))
            .map(|_| Arbiter::new().handle())
            .collect();
        let net = MemoryNetwork::new();
        let tallies: Vec<Arc<Tally>> = arbiters
            .iter()
            .map(|_| Arc::new(Tally::default()))
            .collect();
        progress.stage("starting", u64::from(n));
        let mut pending = Vec::with_capacity(n as usize);
        for i in 0..n {
            let mut builder = Node::builder(format!("n{i}"))
                .config(config.clone())
                .identity(node_identity(i));
            if transport == Transport::Memory {
                builder = builder.memory(&net);
            }
            let k = i as usize % arbiters.len();
            pending.push(launch(&arbiters[k], tallies[k].clone(), i, builder)?);
        }
        let mut nodes = Vec::with_capacity(n as usize);
        for p in pending {
            let node = p
                .await
                .map_err(|_| SimError::Setup("a node's arbiter dropped it".into()))?
                .map_err(|e| SimError::Setup(format!("a node did not start: {e}")))?;
            nodes.push(node);
            progress.advance(nodes.len() as u64);
        }
        for batch in topology.edges().chunks(ASK_BATCH) {
            let joins = batch.iter().map(|&(a, b)| {
                let to = nodes[b as usize].advertised_addr().to_string();
                nodes[a as usize].join(to)
            });
            for joined in futures_util::future::join_all(joins).await {
                joined.map_err(|e| SimError::Setup(format!("join: {e}")))?;
            }
        }
        let mut cluster = Cluster {
            nodes,
            arbiters,
            tallies,
            edges: topology.edges().to_vec(),
            adjacency: topology.adjacency(),
            topology: (topology.name().to_string(), topology.seed()),
            transport,
            setup: Duration::ZERO,
            rss_before,
            stopped: Bitset::new(n as usize),
            stops: Default::default(),
            broadcast: config.broadcast,
            deferred: config.tree.ihave_sweep + config.tree.ihave_window,
            net,
            config,
        };
        cluster.wait_for_links(started, progress).await?;
        cluster.setup = started.elapsed();
        Ok(cluster)
    }

    /// Waits until every link is registered at both ends: the nodes' events
    /// say when (a cheap count), their peer tables confirm it (a look at
    /// every node, also taken every [`SETUP_CHECK`] in case an event was missed).
    async fn wait_for_links(
        &self,
        started: Instant,
        progress: &dyn Progress,
    ) -> Result<(), SimError> {
        let want = 2 * self.links();
        progress.stage("connecting", want);
        let mut checked = Instant::now();
        loop {
            let told: i64 = self.tallies.iter().map(|t| t.link_ends()).sum();
            let told = u64::try_from(told).unwrap_or(0);
            progress.advance(told.min(want));
            let mut ends = told;
            if told >= want || checked.elapsed() >= SETUP_CHECK {
                ends = self.metrics().await.iter().map(|m| m.peers).sum();
                checked = Instant::now();
            }
            if ends >= want {
                return Ok(());
            }
            if started.elapsed() > SETUP_DEADLINE {
                return Err(SimError::Setup(format!(
                    "{ends} of {want} link ends registered after {SETUP_DEADLINE:?}"
                )));
            }
            tokio::time::sleep(SETUP_POLL).await;
        }
    }

    /// Every running node's counters, asked of [`ASK_BATCH`] nodes at a time
    /// (a stopped node is not asked).
    async fn metrics(&self) -> Vec<Metrics> {
        let running: Vec<NodeHandle> = (0..self.nodes.len())
            .filter(|&i| !self.stopped.get(i as u32))
            .map(|i| self.nodes[i].clone())
            .collect();
        let mut all = Vec::with_capacity(running.len());
        for batch in running.chunks(ASK_BATCH) {
            let asks = batch.iter().map(|node| node.metrics());
            let answers = futures_util::future::join_all(asks).await;
            all.extend(answers.into_iter().filter_map(Result::ok));
        }
        all
    }

    /// Nodes that delivered `id`, over all arbiters.
    fn delivered_count(&self, id: crate::proto::MessageId) -> u64 {
        self.tallies.iter().map(|t| t.count(id)).sum()
    }

    /// Who delivered `id`, and when, over all arbiters.
    fn deliveries_of(&self, id: crate::proto::MessageId) -> Vec<(u32, Instant)> {
        let mut all = Vec::new();
        for t in &self.tallies {
            t.deliveries_of(id, &mut all);
        }
        all
    }

    /// First deliveries recorded, over all arbiters.
    fn total(&self) -> u64 {
        self.tallies.iter().map(|t| t.total()).sum()
    }

    /// Second deliveries of an id at a node, over all arbiters.
    fn duplicates(&self) -> Vec<(crate::proto::MessageId, u32, Instant)> {
        let mut all = Vec::new();
        for t in &self.tallies {
            t.duplicates(&mut all);
        }
        all
    }

    fn clear_tallies(&self) {
        self.tallies.iter().for_each(|t| t.clear());
    }

    /// Links in the topology.
    fn links(&self) -> u64 {
        self.edges.len() as u64
    }

    /// The nodes, in topology order.
    pub fn nodes(&self) -> &[NodeHandle] {
        &self.nodes
    }

    /// The running nodes a flood from `from` can reach now, over the
    /// topology's links between running nodes.
    fn reachable(&self, from: u32, running: &Bitset) -> Bitset {
        reachable(
            self.nodes.len(),
            from,
            |i| running.get(i),
            |i| &self.adjacency[i as usize],
        )
    }

    /// The nodes not stopped.
    fn running(&self) -> Bitset {
        Bitset::from_fn(self.nodes.len(), |i| !self.stopped.get(i as u32))
    }

    /// Shuts every node down and stops the arbiters.
    pub async fn shutdown(self) {
        let stops = self.nodes.iter().map(|node| node.shutdown());
        futures_util::future::join_all(stops).await;
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
    }
}

/// Node `i`'s key pair: the same at every start of a cluster (a restarted
/// node keeps its key, as one with a data directory would).
fn node_identity(i: u32) -> Identity {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"peerchat sim cluster node ");
    h.update(i.to_le_bytes());
    Identity::from_secret(h.finalize().into())
}

/// Starts node `i` from `builder` on `arbiter`, its events recorded in
/// `tally`; its handle (or why it did not start) comes on the receiver.
fn launch(
    arbiter: &ArbiterHandle,
    tally: Arc<Tally>,
    i: u32,
    builder: NodeBuilder,
) -> Result<oneshot::Receiver<crate::Result<NodeHandle>>, SimError> {
    let (done, started_node) = oneshot::channel();
    let spawned = arbiter.spawn(async move {
        let node = match builder.start().await {
            Ok(node) => node,
            Err(e) => {
                let _ = done.send(Err(e));
                return;
            }
        };
        let events = node.events().await;
        let _ = done.send(Ok(node));
        if let Ok(mut events) = events {
            while let Some(event) = events.next().await {
                record(&tally, i, event);
            }
        }
    });
    if !spawned {
        return Err(SimError::Setup("an arbiter stopped".into()));
    }
    Ok(started_node)
}

/// What a node's event reader records of one event.
fn record(tally: &Tally, node: u32, event: Event) {
    match event {
        Event::Broadcast { id: Some(id), .. } => tally.record(id, node, Instant::now()),
        Event::PeerConnected { .. } => tally.registered(),
        Event::PeerDisconnected { peer, .. } => {
            if let Some(peer) = parse_node_id(&peer) {
                tally.dropped(node, peer, Instant::now());
            }
        }
        _ => {}
    }
}
