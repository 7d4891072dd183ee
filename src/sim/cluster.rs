//! `Cluster`: real nodes (PeerActor, ConnectionActors, RegistryActor) in one
//! actix System, spread over a few arbiters, linked over TCP on loopback or
//! over an in-memory network: the end-to-end check of the real stack.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::{Arbiter, ArbiterHandle};
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::oneshot;

use super::memory::{current_rss, peak_rss};
use super::report::Percentiles;
use super::{SimError, Topology};
use crate::config::NodeConfig;
use crate::proto::{Event, MessageId};
use crate::transport::MemoryNetwork;
use crate::{Node, NodeHandle};

/// Bytes of the chat text W1 and W2 broadcast (BENCH.md).
pub const TEXT_LEN: usize = 256;
/// How long one broadcast may take to reach every node before it counts as incomplete.
pub const BROADCAST_DEADLINE: Duration = Duration::from_secs(30);
/// How long the network may take to form before setup fails.
pub const SETUP_DEADLINE: Duration = Duration::from_secs(120);
/// W2's cap on the whole run (BENCH.md: 60 s).
pub const THROUGHPUT_DEADLINE: Duration = Duration::from_secs(60);
/// File descriptors kept free for the process itself (stdio, epoll, timers).
pub const FD_RESERVE: u64 = 64;
/// How often the measuring loop looks at the delivery tally (the resolution
/// of completion, not of the delivery times, which are stamped as they happen).
const POLL: Duration = Duration::from_millis(1);
/// Linux's clock tick for `/proc/self/stat` CPU times.
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// How the cluster's nodes are linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Real sockets on 127.0.0.1 (two file descriptors per link, one per listener).
    Tcp,
    /// Duplex streams of a [`MemoryNetwork`]: no file descriptors.
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

/// Deliveries as the nodes' event readers record them, on whatever arbiter
/// they run: per message id, who delivered it and when the last one did.
/// Shared under a lock instead of a channel, so that a delivery costs no
/// cross-thread wake-up of the measuring task.
#[derive(Default)]
struct Tally {
    inner: Mutex<TallyInner>,
}

#[derive(Default)]
struct TallyInner {
    by_id: HashMap<MessageId, (HashSet<u32>, Option<Instant>)>,
    total: u64,
    duplicates: u64,
}

impl Tally {
    fn lock(&self) -> std::sync::MutexGuard<'_, TallyInner> {
        // Nothing panics while holding this lock; recover the data if it did.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, id: MessageId, node: u32, at: Instant) {
        let mut t = self.lock();
        let (nodes, last) = t.by_id.entry(id).or_default();
        if nodes.insert(node) {
            *last = Some(at);
            t.total += 1;
        } else {
            t.duplicates += 1;
        }
    }

    /// Nodes that delivered `id`, and when the last of them did.
    fn progress(&self, id: MessageId) -> (u64, Option<Instant>) {
        let t = self.lock();
        t.by_id
            .get(&id)
            .map_or((0, None), |(n, last)| (n.len() as u64, *last))
    }

    fn total(&self) -> u64 {
        self.lock().total
    }

    fn duplicates(&self) -> u64 {
        self.lock().duplicates
    }

    fn clear(&self) {
        *self.lock() = TallyInner::default();
    }
}

/// What the cluster measured.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterReport {
    pub engine: &'static str,
    pub workload: &'static str,
    pub transport: Transport,
    pub nodes: u64,
    pub links: u64,
    pub arbiters: usize,
    /// Wall time from the first node starting to every link registered at both ends.
    pub setup_s: f64,
    pub broadcasts: u64,
    pub deliveries: u64,
    pub expected_deliveries: u64,
    pub delivery_ratio: f64,
    /// Second deliveries of one id at one node (must be 0).
    pub duplicates_delivered: u64,
    /// W1: per broadcast, wall time from the `broadcast` call to the last delivery.
    pub time_to_all_ms: Option<Percentiles>,
    pub frames_per_delivery: f64,
    pub bytes_per_delivery: f64,
    /// W2: application deliveries per second across all nodes.
    pub deliveries_per_s: Option<f64>,
    /// W2: process CPU seconds per 1,000 deliveries.
    pub cpu_s_per_1000_deliveries: Option<f64>,
    /// Wall time of the measured part (after setup).
    pub run_s: f64,
    pub peak_rss_mib: f64,
    /// RSS after setup minus RSS before the first node, over the nodes.
    pub rss_per_node_kib: f64,
}

/// A running cluster.
pub struct Cluster {
    nodes: Vec<NodeHandle>,
    arbiters: Vec<ArbiterHandle>,
    /// One per arbiter, so recording a delivery never contends across threads.
    tallies: Vec<Arc<Tally>>,
    links: u64,
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

/// Refuses a TCP cluster that would run out of file descriptors, naming the
/// limit and the largest node count that fits at this degree.
pub fn check_fds(nodes: u64, degree: f64) -> Result<(), SimError> {
    let Some(limit) = open_file_limit() else {
        return Ok(());
    };
    let per_node = 1.0 + degree; // a listener, and two sockets per link (both ends are here)
    let need = (nodes as f64 * per_node) as u64 + FD_RESERVE;
    if need <= limit {
        return Ok(());
    }
    let max = ((limit.saturating_sub(FD_RESERVE)) as f64 / per_node) as u64;
    Err(SimError::Params(format!(
        "{nodes} TCP nodes at degree {degree:.1} need about {need} open files, but this process may \
         open {limit} (ulimit -n); the largest TCP cluster that fits is about {max} nodes \
         (or use --transport memory)"
    )))
}

impl Cluster {
    /// Starts one node per topology vertex, round-robin over `arbiters`
    /// threads, joins every link, and returns once every node's peer table
    /// holds all its links.
    pub async fn start(
        topology: &Topology,
        transport: Transport,
        arbiters: usize,
        config: NodeConfig,
    ) -> Result<Cluster, SimError> {
        let n = topology.nodes();
        if transport == Transport::Tcp {
            check_fds(u64::from(n), topology.mean_degree())?;
        }
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
                        if let Event::Broadcast { id: Some(id), .. } = event {
                            tally.record(id, i, Instant::now());
                        }
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
        }
        for &(a, b) in topology.edges() {
            let to = nodes[b as usize].advertised_addr().to_string();
            nodes[a as usize]
                .join(to)
                .await
                .map_err(|e| SimError::Setup(format!("join: {e}")))?;
        }
        let links = topology.edges().len() as u64;
        let mut cluster = Cluster {
            nodes,
            arbiters,
            tallies,
            links,
            transport,
            setup: Duration::ZERO,
            rss_per_node_kib: 0.0,
        };
        cluster.wait_for_links(started).await?;
        cluster.setup = started.elapsed();
        let rss_after = current_rss().unwrap_or(0);
        cluster.rss_per_node_kib =
            rss_after.saturating_sub(rss_before) as f64 / 1024.0 / f64::from(n.max(1));
        Ok(cluster)
    }

    /// Polls the nodes until every link is registered at both ends.
    async fn wait_for_links(&self, started: Instant) -> Result<(), SimError> {
        loop {
            let mut ends = 0;
            for node in &self.nodes {
                ends += node.metrics().await.map(|m| m.peers).unwrap_or(0);
            }
            if ends >= 2 * self.links {
                return Ok(());
            }
            if started.elapsed() > SETUP_DEADLINE {
                return Err(SimError::Setup(format!(
                    "{ends} of {} link ends registered after {:?}",
                    2 * self.links,
                    SETUP_DEADLINE
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Nodes that delivered `id`, over all arbiters, and when the last did.
    fn progress(&self, id: MessageId) -> (u64, Option<Instant>) {
        self.tallies.iter().fold((0, None), |(n, last), t| {
            let (m, l) = t.progress(id);
            (n + m, last.max(l))
        })
    }

    /// First deliveries recorded, over all arbiters.
    fn total(&self) -> u64 {
        self.tallies.iter().map(|t| t.total()).sum()
    }

    /// Second deliveries of an id at a node, over all arbiters.
    fn duplicates(&self) -> u64 {
        self.tallies.iter().map(|t| t.duplicates()).sum()
    }

    /// The nodes, in topology order.
    pub fn nodes(&self) -> &[NodeHandle] {
        &self.nodes
    }

    async fn traffic(&self) -> (u64, u64) {
        let (mut frames, mut bytes) = (0, 0);
        for node in &self.nodes {
            if let Ok(m) = node.metrics().await {
                frames += m.frames_out;
                bytes += m.bytes_out;
            }
        }
        (frames, bytes)
    }

    fn report(&self, workload: &'static str) -> ClusterReport {
        ClusterReport {
            engine: "cluster",
            workload,
            transport: self.transport,
            nodes: self.nodes.len() as u64,
            links: self.links,
            arbiters: self.arbiters.len(),
            setup_s: self.setup.as_secs_f64(),
            broadcasts: 0,
            deliveries: 0,
            expected_deliveries: 0,
            delivery_ratio: 0.0,
            duplicates_delivered: 0,
            time_to_all_ms: None,
            frames_per_delivery: 0.0,
            bytes_per_delivery: 0.0,
            deliveries_per_s: None,
            cpu_s_per_1000_deliveries: None,
            run_s: 0.0,
            peak_rss_mib: peak_rss().unwrap_or(0) as f64 / (1024.0 * 1024.0),
            rss_per_node_kib: self.rss_per_node_kib,
        }
    }

    /// W1: `from` broadcasts a 256-byte text `count` times, one at a time;
    /// each is timed until the last other node delivers it.
    pub async fn broadcast_latency(&mut self, from: usize, count: u32) -> ClusterReport {
        let others = self.nodes.len() as u64 - 1;
        let text = "x".repeat(TEXT_LEN);
        let mut times = Histogram::<u64>::new(3).ok();
        let (frames0, bytes0) = self.traffic().await;
        let run = Instant::now();
        let mut deliveries = 0u64;
        self.tallies.iter().for_each(|t| t.clear());
        for _ in 0..count {
            let t0 = Instant::now();
            let Ok(id) = self.nodes[from].broadcast(text.clone()).await else {
                break;
            };
            let deadline = Instant::now() + BROADCAST_DEADLINE;
            let (got, last) = loop {
                let (got, last) = self.progress(id);
                if got >= others || Instant::now() > deadline {
                    break (got, last);
                }
                tokio::time::sleep(POLL).await;
            };
            deliveries += got;
            if got == others {
                if let (Some(h), Some(last)) = (times.as_mut(), last) {
                    let _ = h.record(last.duration_since(t0).as_micros() as u64);
                }
            }
        }
        let duplicates = self.duplicates();
        let run_s = run.elapsed().as_secs_f64();
        let (frames1, bytes1) = self.traffic().await;
        let per = |x: u64| per_delivery(x, deliveries);
        let expected = others * u64::from(count);
        ClusterReport {
            broadcasts: u64::from(count),
            deliveries,
            expected_deliveries: expected,
            delivery_ratio: if expected == 0 {
                1.0
            } else {
                deliveries as f64 / expected as f64
            },
            duplicates_delivered: duplicates,
            time_to_all_ms: times.as_ref().and_then(Percentiles::from_micros),
            frames_per_delivery: per(frames1 - frames0),
            bytes_per_delivery: per(bytes1 - bytes0),
            run_s,
            ..self.report("w1")
        }
    }

    /// W2: every node broadcasts `per_node` 256-byte texts as fast as the API
    /// takes them; counts deliveries until all N × (N-1) × K are in (or 60 s).
    pub async fn throughput(&mut self, per_node: u32) -> ClusterReport {
        let n = self.nodes.len() as u64;
        let expected = n * (n - 1) * u64::from(per_node);
        let text = "y".repeat(TEXT_LEN);
        let (frames0, bytes0) = self.traffic().await;
        let cpu0 = cpu_seconds();
        self.tallies.iter().for_each(|t| t.clear());
        let run = Instant::now();
        for node in &self.nodes {
            let (node, text) = (node.clone(), text.clone());
            actix_rt::spawn(async move {
                for _ in 0..per_node {
                    if node.broadcast(text.clone()).await.is_err() {
                        return;
                    }
                }
            });
        }
        let deadline = Instant::now() + THROUGHPUT_DEADLINE;
        let mut deliveries = self.total();
        while deliveries < expected && Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
            deliveries = self.total();
        }
        let duplicates = self.duplicates();
        let run_s = run.elapsed().as_secs_f64();
        let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
        let (frames1, bytes1) = self.traffic().await;
        let per = |x: u64| per_delivery(x, deliveries);
        ClusterReport {
            broadcasts: n * u64::from(per_node),
            deliveries,
            expected_deliveries: expected,
            delivery_ratio: deliveries as f64 / expected.max(1) as f64,
            duplicates_delivered: duplicates,
            frames_per_delivery: per(frames1 - frames0),
            bytes_per_delivery: per(bytes1 - bytes0),
            deliveries_per_s: Some(deliveries as f64 / run_s.max(1e-9)),
            cpu_s_per_1000_deliveries: cpu.map(|c| c * 1000.0 / deliveries.max(1) as f64),
            run_s,
            ..self.report("w2")
        }
    }

    /// Shuts every node down and stops the arbiters.
    pub async fn shutdown(self) {
        for node in &self.nodes {
            let _ = node.shutdown().await;
        }
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
    }
}

/// `x` per delivery (0 when nothing was delivered).
fn per_delivery(x: u64, deliveries: u64) -> f64 {
    if deliveries == 0 {
        0.0
    } else {
        x as f64 / deliveries as f64
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

impl std::fmt::Display for ClusterReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "engine cluster ({:?}), workload {}",
            self.transport, self.workload
        )?;
        writeln!(
            f,
            "  nodes {:>12}   links {}   arbiters {}",
            self.nodes, self.links, self.arbiters
        )?;
        writeln!(f, "  setup {:>11.2} s", self.setup_s)?;
        writeln!(
            f,
            "  delivered {:>8} of {} (ratio {:.4}), duplicates {}",
            self.deliveries,
            self.expected_deliveries,
            self.delivery_ratio,
            self.duplicates_delivered
        )?;
        if let Some(t) = &self.time_to_all_ms {
            writeln!(
                f,
                "  time to all  p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   max {:.2} ms ({} broadcasts)",
                t.p50, t.p90, t.p99, t.max, t.count
            )?;
        }
        writeln!(
            f,
            "  frames/delivery {:.2}   bytes/delivery {:.0}",
            self.frames_per_delivery, self.bytes_per_delivery
        )?;
        if let Some(r) = self.deliveries_per_s {
            writeln!(f, "  deliveries/s {r:.0}")?;
        }
        if let Some(c) = self.cpu_s_per_1000_deliveries {
            writeln!(f, "  CPU s per 1,000 deliveries {c:.4}")?;
        }
        writeln!(f, "  run {:.2} s", self.run_s)?;
        write!(
            f,
            "  peak RSS {:.1} MiB   RSS per node {:.1} KiB",
            self.peak_rss_mib, self.rss_per_node_kib
        )
    }
}
