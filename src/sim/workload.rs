//! BENCH.md's workloads on the model: W1 (broadcast latency), W4 (churn) and W5 (catch-up after absence, in `w5.rs`), each returning a `Report` (W2 and W3 need real actors).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant as WallInstant};

use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tracing::info;

use super::deliveries::histogram;
use super::latency::Latency;
use super::network::{Counters, Network, PARALLEL_MIN_EVENTS};
use super::node::sim_node_config;
use super::progress::{FinishOnDrop, NoProgress, Progress};
use super::report::{cpu_ms_per_delivery, per_delivery, Percentiles, Report, Run, Traffic, Wall};
use super::topology::{TopologySpec, BENCH_SEED, DEFAULT_DEGREE};
use super::w5::{self, W5Variant};
use super::{memory, Fault, SimError};
use crate::config::{BroadcastMode, NodeConfig};

/// Broadcasts W1 sends when not told otherwise.
pub const W1_BROADCASTS: u64 = 20;
/// Bytes of text in each broadcast (BENCH.md: a 256-byte text).
pub const TEXT_LEN: usize = 256;
/// W4: node 0 broadcasts this often...
pub const W4_INTERVAL: Duration = Duration::from_millis(50);
/// ...for this long.
pub const W4_DURATION: Duration = Duration::from_secs(10);
/// W4: share of the other nodes stopped during the run, in percent, when not told otherwise.
pub const W4_CHURN_PCT: f64 = 20.0;
/// W1 with churn: a crash falls this many longest link latencies after the
/// broadcast it is drawn for, at most, so most land while that flood is running.
pub const W1_CRASH_WINDOW_LATENCIES: u32 = 10;
/// Salt for the churn generator, so choosing victims leaves the network's RNG alone.
pub(crate) const CHURN_SALT: u64 = 0x00c4_u64 << 48;

/// Which BENCH.md workload to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Node 0 broadcasts one message at a time; time until all have it.
    W1,
    /// Every node broadcasts at once (throughput): real actors only, the
    /// cluster engine runs it.
    W2,
    /// Scale: W1 on the largest cluster the open-file or memory limit
    /// allows; real actors only, the cluster engine runs it.
    W3,
    /// Node 0 broadcasts every 50 ms for 10 s while a share of the others stop.
    W4,
    /// Node 0 broadcasts every 50 ms for 20 s while 30% of the others are
    /// cut off for 10 s in the middle; every node must end with every message.
    W5,
}

impl Workload {
    /// True for the workloads the model ([`run`]) runs: W1, W4 and W5.
    pub fn runs_on_model(self) -> bool {
        matches!(self, Workload::W1 | Workload::W4 | Workload::W5)
    }
}

impl FromStr for Workload {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "w1" => Ok(Workload::W1),
            "w2" => Ok(Workload::W2),
            "w3" => Ok(Workload::W3),
            "w4" => Ok(Workload::W4),
            "w5" => Ok(Workload::W5),
            _ => Err(format!(
                "unknown workload {s:?}: expected w1, w2, w3, w4 or w5"
            )),
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Workload::W1 => "w1",
            Workload::W2 => "w2",
            Workload::W3 => "w3",
            Workload::W4 => "w4",
            Workload::W5 => "w5",
        })
    }
}

/// Who sends W1's broadcasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sender {
    /// Always this node (BENCH.md: node 0).
    Node(u32),
    /// A node drawn at random (seeded) for each broadcast, so the tree is
    /// judged under many sources.
    #[default]
    Random,
}

impl Sender {
    /// The sender of one broadcast in a network of `n` nodes.
    pub fn pick(self, rng: &mut StdRng, n: u32) -> u32 {
        match self {
            Sender::Node(node) => node,
            Sender::Random => rng.random_range(0..n),
        }
    }
}

impl FromStr for Sender {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "random" => Ok(Sender::Random),
            n => n
                .parse()
                .map(Sender::Node)
                .map_err(|_| format!("unknown sender {s:?}: expected a node number or random")),
        }
    }
}

impl fmt::Display for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sender::Node(n) => write!(f, "{n}"),
            Sender::Random => f.write_str("random"),
        }
    }
}

/// Salt for the random-sender generator, so drawing senders leaves the network's RNG alone.
pub(crate) const SENDER_SALT: u64 = 0x5e4d_e125_a17e_0001;

/// One model run.
#[derive(Debug, Clone)]
pub struct SimParams {
    /// The workload.
    pub workload: Workload,
    /// Nodes (ignored for an edge-list topology, which names its own).
    pub nodes: u32,
    /// Average degree of the random graph.
    pub degree: u32,
    /// Which graph.
    pub topology: TopologySpec,
    /// Link latency.
    pub latency: Latency,
    /// Broadcasts (default: 20 for W1, one per 50 ms of 10 s for W4).
    pub broadcasts: Option<u64>,
    /// Share of nodes other than the sender to crash, in percent (default: 0 for W1, 20 for W4).
    pub churn_pct: Option<f64>,
    /// Seed of every random draw of the run.
    pub seed: u64,
    /// The nodes' configuration (default: [`sim_node_config`]); its
    /// `broadcast` is set from [`SimParams::broadcast`].
    pub node_config: Option<NodeConfig>,
    /// Flood or tree.
    pub broadcast: BroadcastMode,
    /// W1's sender (W4 always sends from node 0).
    pub sender: Sender,
    /// The tree's settings, over the configuration's (default: as it has them).
    pub tree: Option<crate::config::TreeConfig>,
    /// Refuse to start when the estimate exceeds the memory available.
    pub check_memory: bool,
    /// Threads that share the work of one instant (default: the machine's
    /// cores, at most [`MAX_WORKERS`](super::network::MAX_WORKERS)). The run
    /// is the same whatever this is; only its wall time changes.
    pub threads: Option<usize>,
    /// Told of each stage (`building`, `connecting`, `broadcasting`) and how
    /// far it has got (default: nothing is told). The run is the same either way.
    pub progress: Option<Arc<dyn Progress>>,
    /// Sign and verify every message (`--crypto`): each node gets a key
    /// pair from the run's seed. Off by default (the same code paths run,
    /// without the signature work).
    pub crypto: bool,
    /// How W5 cuts nodes off.
    pub w5_variant: W5Variant,
    /// Numbered feeds, history and catch-up on (the default), or off (as
    /// before protocol 4: for before/after figures; W5 needs them).
    pub feeds: bool,
}

impl Default for SimParams {
    fn default() -> Self {
        SimParams {
            workload: Workload::W1,
            nodes: 1000,
            degree: DEFAULT_DEGREE,
            topology: TopologySpec::Random,
            latency: Latency::default(),
            broadcasts: None,
            churn_pct: None,
            seed: BENCH_SEED,
            node_config: None,
            broadcast: BroadcastMode::default(),
            sender: Sender::Node(0),
            tree: None,
            check_memory: true,
            threads: None,
            progress: None,
            crypto: false,
            w5_variant: W5Variant::default(),
            feeds: true,
        }
    }
}

impl SimParams {
    fn broadcasts(&self) -> u64 {
        self.broadcasts.unwrap_or(match self.workload {
            Workload::W4 => (W4_DURATION.as_millis() / W4_INTERVAL.as_millis()) as u64,
            Workload::W5 => self.w5_variant.broadcasts(),
            Workload::W1 | Workload::W2 | Workload::W3 => W1_BROADCASTS,
        })
    }

    fn churn_pct(&self) -> f64 {
        self.churn_pct.unwrap_or(match self.workload {
            Workload::W4 => W4_CHURN_PCT,
            Workload::W5 => self.w5_variant.affected_pct(),
            Workload::W1 | Workload::W2 | Workload::W3 => 0.0,
        })
    }
}

/// `churn_pct` percent of the nodes other than node 0 (the sender), drawn from `rng`.
pub(crate) fn victims(rng: &mut StdRng, nodes: u32, churn_pct: f64) -> Vec<u32> {
    let others = nodes.saturating_sub(1) as usize;
    let count = ((others as f64 * churn_pct / 100.0).round() as usize).min(others);
    rand::seq::index::sample(rng, others, count)
        .into_iter()
        .map(|i| i as u32 + 1)
        .collect()
}

/// The text of broadcast `k`: [`TEXT_LEN`] bytes.
pub fn text(k: u64) -> String {
    let mut s = format!("broadcast {k} ");
    while s.len() < TEXT_LEN {
        s.push('.');
    }
    s
}

/// Runs one workload on the model and reports on it.
///
/// W2 and W3 are refused: they measure real actors under load, which only the
/// cluster engine ([`super::cluster`]) has.
pub fn run(p: &SimParams) -> Result<Report, SimError> {
    if !p.workload.runs_on_model() {
        return Err(SimError::Params(format!(
            "workload {} needs real actors: run it on the cluster engine \
             (peerchat sim --engine cluster); the model runs w1 and w4",
            p.workload
        )));
    }
    let progress: &dyn Progress = match &p.progress {
        Some(hook) => hook.as_ref(),
        None => &NoProgress,
    };
    let _finish = FinishOnDrop(progress);
    let churn = p.churn_pct();
    if !(0.0..=100.0).contains(&churn) {
        return Err(SimError::Params(format!(
            "churn {churn}% is not in 0..=100"
        )));
    }
    if p.check_memory && !matches!(p.topology, TopologySpec::File(_)) {
        memory::check_fits(u64::from(p.nodes), f64::from(p.degree))?;
    }
    let rss_before = memory::current_rss();
    let wall = WallInstant::now();
    progress.stage("building", 0);
    let topo = p.topology.build(p.nodes, p.degree, p.seed)?;
    let n = topo.nodes();
    if n < 2 {
        return Err(SimError::Params(format!(
            "{n} nodes: a broadcast needs at least 2"
        )));
    }
    let max_degree = topo.degrees().into_iter().max().unwrap_or(0);
    let mut config = match &p.node_config {
        Some(c) => c.clone(),
        None => sim_node_config(max_degree),
    };
    config.broadcast = p.broadcast;
    if p.workload == Workload::W5 {
        w5::tune(&mut config);
    }
    if !p.feeds {
        config.history = crate::config::HistoryConfig::off();
    }
    if let Some(tree) = &p.tree {
        config.tree = tree.clone();
    }
    if let Sender::Node(s) = p.sender {
        if s >= n {
            return Err(SimError::Params(format!(
                "sender {s}: the network has {n} nodes"
            )));
        }
    }
    if p.sender != Sender::Node(0) && matches!(p.workload, Workload::W4 | Workload::W5) {
        return Err(SimError::Params(format!(
            "{} sends from node 0 (its faults spare it); --sender is for w1",
            p.workload
        )));
    }
    let run = Run {
        engine: "model".into(),
        workload: p.workload.to_string(),
        transport: None,
        clock: "virtual".into(),
        nodes: u64::from(n),
        links: topo.edges().len() as u64,
        mean_degree: topo.mean_degree(),
        topology: topo.name().to_string(),
        latency: Some(p.latency.to_string()),
        seed: Some(p.seed),
        broadcasts_asked: p.broadcasts(),
        broadcast: p.broadcast.to_string(),
        sender: p.sender.to_string(),
        churn_pct: churn,
    };
    let mut net = Network::new(topo, p.latency, p.seed, config)?;
    if p.crypto {
        net.set_crypto(true);
    }
    if let Some(threads) = p.threads {
        net.set_workers(threads, PARALLEL_MIN_EVENTS);
    }
    info!(nodes = n, "connecting");
    net.connect_all_with(progress)?;
    let setup_ns = net.links_up_at.unwrap_or(net.now);
    let after_setup = net.counters().clone();
    let setup_s = wall.elapsed().as_secs_f64();
    let rss_mib = memory::current_rss().unwrap_or(0) >> 20;
    info!(setup_s, rss_mib, "connected");

    let run_wall = WallInstant::now();
    let cpu_before = memory::cpu_seconds();
    let mut churn_rng = StdRng::seed_from_u64(p.seed ^ CHURN_SALT);
    let victims = victims(&mut churn_rng, n, churn);
    progress.stage("broadcasting", p.broadcasts());
    let mut first = None;
    let mut w5_out = None;
    let per_broadcast = match p.workload {
        Workload::W4 => w4(&mut net, p.broadcasts(), &victims, &mut churn_rng, progress)?,
        Workload::W5 => {
            // The victims are W5's cut-off (or restarted) nodes.
            let (walls, heal) = w5::run(&mut net, p.w5_variant, p.broadcasts(), &victims)?;
            w5_out = Some((victims.clone(), heal));
            walls
        }
        Workload::W1 | Workload::W2 | Workload::W3 => w1(
            &mut net,
            (p.broadcasts(), p.sender, p.seed),
            &mut first,
            &victims,
            &mut churn_rng,
            p.latency,
            progress,
        )?,
    };
    if p.broadcast == BroadcastMode::Tree {
        // The whole run's traffic: the sweep still due, and what it causes.
        net.run_for(net.config().tree.ihave_sweep);
    }
    net.run_until_settled()?;
    net.check_broadcasts();
    let run_s = run_wall.elapsed().as_secs_f64();
    let cpu_s = memory::cpu_seconds().zip(cpu_before).map(|(b, a)| b - a);

    let t = &net.tracker;
    let mut deliveries = t.log.summary();
    deliveries.hops_max = Some(t.hop_max);
    deliveries.hops_mean = Some(per_delivery(t.hop_sum, deliveries.deliveries));
    let (total, frames, bytes) = (
        &net.counters,
        after_setup.frames_sent,
        after_setup.bytes_sent,
    );
    let frames_sent = total.frames_sent - frames;
    let per = |x: u64| per_delivery(x, deliveries.deliveries);
    let mut traffic = Traffic {
        frames_sent,
        bytes_sent: total.bytes_sent - bytes,
        frames_per_delivery: per(frames_sent),
        bytes_per_delivery: per(total.bytes_sent - bytes),
        nodes_stopped: t.crashes,
        dead_peer_drop_ms: Percentiles::from_micros(&t.dead_peer_drop),
        events: Some(total.events),
        setup_virtual_ms: Some(setup_ns as f64 / 1e6),
        end_virtual_ms: Some(net.now as f64 / 1e6),
        ..Traffic::default()
    };
    // The workers count frames by kind; rate-limited ids only the nodes do.
    let mut kinds = total.kinds.since(after_setup.kinds);
    kinds.ids_rate_limited = net.ids_rate_limited();
    kinds.fill(
        &mut traffic,
        deliveries.deliveries,
        deliveries.broadcasts_sent,
    );
    if let Some((affected, heal)) = &w5_out {
        w5::fill(&net, affected, *heal, &mut traffic);
    }
    if let Some((c, d)) = first {
        let totals = (total.frames_sent - frames, deliveries.deliveries);
        let first = (c.frames_sent - frames, c.kinds, d);
        total.kinds.fill_after_first(&mut traffic, totals, first);
    }
    let frames_handled = frames_sent - (total.frames_lost - after_setup.frames_lost);
    let wall = Wall {
        threads: net.workers as u64,
        setup_wall_ms: setup_s * 1e3,
        run_wall_ms: run_s * 1e3,
        per_broadcast_wall_ms: Percentiles::from_micros(&per_broadcast),
        events_per_s: Some(total.events as f64 / (setup_s + run_s).max(1e-9)),
        frames_handled_per_s: frames_handled as f64 / run_s.max(1e-9),
        deliveries_per_s: None,
        cpu_ms_per_delivery: cpu_ms_per_delivery(cpu_s, deliveries.deliveries),
        peak_rss_bytes: memory::peak_rss().unwrap_or(0),
        rss_per_node_bytes: memory::rss_per_node(rss_before, u64::from(n)),
    };
    Ok(Report {
        run,
        deliveries,
        traffic,
        wall,
        delivery_curves: t.log.curves(),
    })
}

/// W1: one broadcast at a time from node 0, each run until the network is
/// quiet. Victims crash at random points of random broadcasts' floods.
/// Returns the wall µs each broadcast took.
fn w1(
    net: &mut Network,
    (broadcasts, sender, seed): (u64, Sender, u64),
    first: &mut Option<(Counters, u64)>,
    victims: &[u32],
    rng: &mut StdRng,
    latency: Latency,
    progress: &dyn Progress,
) -> Result<Histogram<u64>, SimError> {
    let window = latency.max() * W1_CRASH_WINDOW_LATENCIES;
    let mut slots: Vec<Vec<(Duration, u32)>> = vec![Vec::new(); broadcasts as usize];
    if broadcasts > 0 {
        for &v in victims {
            let k = rng.random_range(0..broadcasts) as usize;
            let at = window.mul_f64(rng.random::<f64>());
            slots[k].push((at, v));
        }
    }
    let mut walls = histogram();
    let mut senders = StdRng::seed_from_u64(seed ^ SENDER_SALT);
    for (k, slot) in slots.into_iter().enumerate() {
        let started = WallInstant::now();
        for (at, v) in slot {
            net.schedule_fault(net.now() + at, Fault::Crash(v));
        }
        let mut from = sender.pick(&mut senders, net.len());
        // A crashed node sends nothing: draw again (node 0 never crashes).
        while !net.is_alive(from) {
            from = Sender::Random.pick(&mut senders, net.len());
        }
        net.broadcast(from, text(k as u64));
        net.run_until_settled()?;
        net.check_broadcasts();
        if k == 0 {
            *first = Some((net.counters().clone(), net.deliveries()));
        }
        let took = started.elapsed();
        info!(
            broadcast = k,
            wall_s = took.as_secs_f64(),
            virtual_ms = net.now().as_secs_f64() * 1e3,
            "broadcast done"
        );
        walls.saturating_record(took.as_micros() as u64);
        progress.advance(k as u64 + 1);
    }
    Ok(walls)
}

/// W4: node 0 broadcasts every [`W4_INTERVAL`]; victims stop at random times
/// within the run. Returns the wall µs per broadcast (run time / count), once per broadcast.
fn w4(
    net: &mut Network,
    broadcasts: u64,
    victims: &[u32],
    rng: &mut StdRng,
    progress: &dyn Progress,
) -> Result<Histogram<u64>, SimError> {
    let started = WallInstant::now();
    let t0 = net.now();
    let span = W4_INTERVAL * broadcasts as u32;
    for k in 0..broadcasts {
        net.schedule_broadcast(t0 + W4_INTERVAL * k as u32, 0, text(k));
    }
    for &v in victims {
        net.schedule_fault(t0 + span.mul_f64(rng.random::<f64>()), Fault::Crash(v));
    }
    // One interval at a time, only to tell `progress`. Each slice handles the
    // events up to its end and moves the clock there, before any later event,
    // so the slices run exactly what one `run_until(t0 + span)` would.
    for k in 1..=broadcasts {
        net.run_until(t0 + W4_INTERVAL * k as u32);
        progress.advance(k);
    }
    net.run_until(t0 + span);
    net.run_until_idle()?;
    let each = started.elapsed().as_micros() as u64 / broadcasts.max(1);
    let mut walls = histogram();
    if broadcasts > 0 {
        walls.saturating_record_n(each, broadcasts);
    }
    Ok(walls)
}
