//! `Cluster`: real nodes (PeerActor, ConnectionActors, RegistryActor) in one
//! actix System, spread over a few arbiters, linked over TCP on loopback or
//! over an in-memory network: the end-to-end check of the real stack. The
//! workloads it runs are in `cluster/workloads.rs` (W1, W2) and
//! `cluster/churn.rs` (W4).

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Arbiter, ArbiterHandle};
use serde::Serialize;
use tokio::sync::oneshot;

use super::memory::{current_rss, peak_rss};
use super::node::parse_node_id;
use super::progress::Progress;
use super::report::per_delivery;
use super::{SimError, Topology};
use crate::config::NodeConfig;
use crate::proto::Event;
use crate::transport::MemoryNetwork;
use crate::{Node, NodeHandle};

mod churn;
mod report;
mod tally;
mod workloads;

pub use churn::W4_DRAIN;
pub use report::ClusterReport;
use tally::Tally;
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
    /// The topology's links, for setup and for who can reach whom (W4).
    edges: Vec<(u32, u32)>,
    transport: Transport,
    setup: Duration,
    rss_per_node_kib: f64,
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
        let rss_before = current_rss().unwrap_or(0);
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
            let (done, started_node) = oneshot::channel();
            let mut builder = Node::builder(format!("n{i}")).config(config.clone());
            if transport == Transport::Memory {
                builder = builder.memory(&net);
            }
            let tally = tallies[i as usize % arbiters.len()].clone();
            let spawned = arbiters[i as usize % arbiters.len()].spawn(async move {
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
            pending.push(started_node);
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
            transport,
            setup: Duration::ZERO,
            rss_per_node_kib: 0.0,
        };
        cluster.wait_for_links(started, progress).await?;
        cluster.setup = started.elapsed();
        let rss_after = current_rss().unwrap_or(0);
        cluster.rss_per_node_kib =
            rss_after.saturating_sub(rss_before) as f64 / 1024.0 / f64::from(n.max(1));
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

    /// Every running node's counters, asked of [`ASK_BATCH`] nodes at a time.
    async fn metrics(&self) -> Vec<crate::proto::Metrics> {
        let mut all = Vec::with_capacity(self.nodes.len());
        for batch in self.nodes.chunks(ASK_BATCH) {
            let asks = batch.iter().map(|node| node.metrics());
            let answers = futures_util::future::join_all(asks).await;
            all.extend(answers.into_iter().filter_map(Result::ok));
        }
        all
    }

    /// Frames and bytes the nodes have sent, and frames they have received.
    async fn traffic(&self) -> Traffic {
        self.metrics()
            .await
            .iter()
            .fold(Traffic::default(), |t, m| Traffic {
                frames_out: t.frames_out + m.frames_out,
                bytes_out: t.bytes_out + m.bytes_out,
                frames_in: t.frames_in + m.frames_in,
                broadcasts_seen: t.broadcasts_seen + m.deliveries + m.duplicates_dropped,
                ids_rate_limited: t.ids_rate_limited + m.ids_rate_limited,
            })
    }

    /// Waits (at most [`SETTLE_DEADLINE`]) until every frame sent has been
    /// received, or, on a network busy with keep-alives, until no node has
    /// taken in another copy of a broadcast between two looks: the flood's
    /// duplicates are drained, so the next measurement starts without them.
    async fn settle(&self) {
        let deadline = Instant::now() + SETTLE_DEADLINE;
        let mut seen = None;
        while Instant::now() < deadline {
            let t = self.traffic().await;
            if t.frames_in >= t.frames_out || seen == Some(t.broadcasts_seen) {
                return;
            }
            seen = Some(t.broadcasts_seen);
            tokio::time::sleep(POLL).await;
        }
    }

    /// Nodes that delivered `id`, over all arbiters, and when the last did.
    fn progress(&self, id: crate::proto::MessageId) -> (u64, Option<Instant>) {
        self.tallies.iter().fold((0, None), |(n, last), t| {
            let (m, l) = t.progress(id);
            (n + m, last.max(l))
        })
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
    fn duplicates(&self) -> u64 {
        self.tallies.iter().map(|t| t.duplicates()).sum()
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

    /// Marks the start of a measured phase.
    async fn mark(&self) -> Mark {
        let traffic = self.traffic().await;
        Mark {
            traffic,
            cpu: cpu_seconds(),
            at: Instant::now(),
        }
    }

    /// A report of the phase since `mark`, in which `deliveries` happened:
    /// the cluster, its wall and CPU time and the traffic per delivery filled
    /// in, the workload's own fields (zero or `None` here) left for the caller.
    async fn measured(
        &self,
        mark: &Mark,
        deliveries: u64,
        workload: &'static str,
    ) -> ClusterReport {
        let run_s = mark.at.elapsed().as_secs_f64();
        let cpu = cpu_seconds().zip(mark.cpu).map(|(b, a)| b - a);
        let after = self.traffic().await;
        let per = |x: u64| per_delivery(x, deliveries);
        ClusterReport {
            engine: "cluster",
            workload,
            transport: self.transport,
            nodes: self.nodes.len() as u64,
            links: self.links(),
            arbiters: self.arbiters.len(),
            setup_s: self.setup.as_secs_f64(),
            broadcasts: 0,
            deliveries,
            expected_deliveries: 0,
            delivery_ratio: 0.0,
            delivery_ratio_survivors: None,
            duplicates_delivered: self.duplicates(),
            time_to_all_ms: None,
            delivery_latency_ms: None,
            frames_per_delivery: per(after.frames_out - mark.traffic.frames_out),
            bytes_per_delivery: per(after.bytes_out - mark.traffic.bytes_out),
            frames_per_s: (after.frames_in - mark.traffic.frames_in) as f64 / run_s.max(1e-9),
            ids_rate_limited: after.ids_rate_limited - mark.traffic.ids_rate_limited,
            deliveries_per_s: None,
            cpu_s_per_1000_deliveries: cpu.map(|c| c * 1000.0 / deliveries.max(1) as f64),
            churn_pct: None,
            stopped: 0,
            dead_peer_drop_ms: None,
            run_s,
            peak_rss_mib: peak_rss().unwrap_or(0) as f64 / (1024.0 * 1024.0),
            rss_per_node_kib: self.rss_per_node_kib,
            delivery_curves: Vec::new(),
        }
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

/// Where a measured phase started.
struct Mark {
    traffic: Traffic,
    /// Process CPU seconds then.
    cpu: Option<f64>,
    at: Instant,
}

/// Traffic counters summed over the nodes.
#[derive(Debug, Clone, Copy, Default)]
struct Traffic {
    frames_out: u64,
    bytes_out: u64,
    frames_in: u64,
    /// Copies of broadcasts taken in: first deliveries and duplicates dropped.
    broadcasts_seen: u64,
    /// New ids dropped over a link's rate (`Metrics::ids_rate_limited`).
    ids_rate_limited: u64,
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

/// User plus system CPU seconds of this process so far (Linux `/proc/self/stat`).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start after ")".
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / CLOCK_TICKS_PER_SEC)
}

/// Linux's clock tick for `/proc/self/stat` CPU times.
const CLOCK_TICKS_PER_SEC: f64 = 100.0;
