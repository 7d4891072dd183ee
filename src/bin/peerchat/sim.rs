//! `peerchat sim`: runs a BENCH.md workload on either engine and prints its report as a table (or one JSON object), optionally plotting its delivery curves.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

use peerchat::config::BroadcastMode;
use peerchat::sim::workload::{self, Sender, SimParams, Workload};
use peerchat::sim::{plot, Latency, Report, TopologySpec};

use crate::progress::Bar;
use peerchat::sim::Progress;

/// Nodes when `--nodes` is not given.
const DEFAULT_NODES: u32 = 1000;

/// Which executor runs the nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    /// Pure protocol states under virtual time: deterministic, up to millions of nodes.
    Model,
    /// Real actors for every node, over loopback TCP or in-memory streams.
    Cluster,
}

#[derive(Debug, Args)]
pub struct SimArgs {
    /// The executor.
    #[arg(long, value_enum, default_value = "model")]
    engine: Engine,
    /// The BENCH.md workload: w1 (broadcast latency), w2 (throughput: every
    /// node broadcasts), w3 (scale: w1 on the largest cluster the limits
    /// allow), w4 (churn) or w5 (catch-up after a cut). The model runs w1,
    /// w4 and w5; w2 and w3 need --engine cluster; the cluster runs w5 on
    /// --transport memory only.
    #[arg(long, default_value = "w1")]
    workload: Workload,
    /// How many nodes (default 1000; an edge-list topology names its own;
    /// cluster w3: the largest the open-file or memory limit allows).
    #[arg(long)]
    nodes: Option<u32>,
    /// Average degree of the random graph.
    #[arg(long, default_value_t = peerchat::sim::topology::DEFAULT_DEGREE)]
    degree: u32,
    /// ring, random, star, line, or file:PATH (an edge list: "a b [latency]" per line).
    #[arg(long, default_value = "random")]
    topology: TopologySpec,
    /// One-way link latency: fixed (5ms) or drawn per link from a range (2ms..10ms).
    #[arg(long, default_value = "5ms")]
    latency: Latency,
    /// Broadcasts from node 0 (default: 20 for w1, 5 for w3, 200 for w4 on the
    /// model); for w2, broadcasts per node (default 200).
    #[arg(long)]
    broadcasts: Option<u64>,
    /// Crash this share of the other nodes at random virtual times during the run (default: 0 for w1, 20 for w4).
    #[arg(long, value_name = "PCT")]
    churn: Option<f64>,
    /// W5: how nodes are cut off: closed (links close), silent (links drop
    /// frames until peers time out), restart (20% down and restarted with
    /// their history) or quiet (links close and the sender stops at the heal).
    #[arg(long, default_value = "closed")]
    w5_variant: peerchat::sim::w5::W5Variant,
    /// Seed of the topology, latencies, message ids and churn.
    #[arg(long, default_value_t = peerchat::sim::topology::BENCH_SEED)]
    seed: u64,
    /// How broadcasts travel: tree (the default) or flood.
    #[arg(long, default_value = "tree")]
    broadcast: BroadcastMode,
    /// W1's sender: a node number (0, BENCH.md's) or random (one drawn per
    /// broadcast, seeded by --seed).
    #[arg(long, default_value = "0")]
    sender: Sender,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Draw the delivery curves (fraction of nodes reached over ms since each
    /// broadcast) as an SVG file: a line per distinct curve, or a
    /// min/median/max band over more than 5. Its folder must exist and be
    /// writable (checked before the run).
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Threads sharing each instant's events (default: one per core); the run is the same either way.
    #[arg(long)]
    threads: Option<usize>,
    /// Start even when the memory estimate exceeds what is available.
    #[arg(long)]
    skip_memory_check: bool,
    /// Cluster engine: tcp (loopback sockets) or memory (in-memory frame links).
    #[arg(long, default_value = "memory")]
    transport: peerchat::sim::cluster::Transport,
    /// Cluster engine: the nodes' limits and intervals (the model keeps
    /// keep-alive out of the way and sizes peer tables to the topology).
    #[command(flatten, next_help_heading = "Cluster node limits")]
    limits: crate::args::Limits,
    /// The broadcast tree's settings (both engines; ignored with --broadcast flood).
    #[command(flatten, next_help_heading = "Tree settings")]
    tree: crate::tree_args::TreeArgs,
    /// Sign every message and verify every one taken in (model: each node
    /// gets a key from the seed; cluster: each node signs with its own key,
    /// and over TCP every link is a Noise link). Off by default on both
    /// engines: the same code paths, without the signature and link
    /// encryption work, so secure and plain runs can be paired.
    #[arg(long)]
    crypto: bool,
    /// Cluster engine: arbiters (threads) the nodes are spread over.
    #[arg(long, default_value_t = peerchat::sim::cluster::DEFAULT_ARBITERS)]
    arbiters: usize,
}

/// Broadcasts per node in W2 when not told otherwise (BENCH.md: K = 200).
const W2_PER_NODE: u64 = 200;
/// Broadcasts of W3's W1 pass when not told otherwise (a large cluster is slow to flood).
const W3_BROADCASTS: u64 = 5;

/// The cluster engine: real actors per node, running W1, W2, W3, W4 or W5.
async fn cluster(args: &SimArgs) -> Result<Report> {
    use peerchat::sim::cluster::{self, Cluster, Transport};
    let nodes = match (args.workload, args.nodes) {
        (_, Some(n)) => n,
        // W3: the largest cluster the limits allow.
        (Workload::W3, None) => {
            let max = match args.transport {
                Transport::Tcp => cluster::max_tcp_nodes(f64::from(args.degree)),
                Transport::Memory => cluster::max_memory_nodes(),
            };
            let max = max.context("w3: cannot read this machine's limits; give --nodes")?;
            // A hair under the limit: memory the process takes meanwhile
            // must not make the start-up check refuse it.
            u32::try_from(max * 99 / 100).unwrap_or(u32::MAX)
        }
        (_, None) => DEFAULT_NODES,
    };
    let topology = args.topology.build(nodes, args.degree, args.seed)?;
    if args.workload == Workload::W5 && args.transport != Transport::Memory {
        bail!("w5 on the cluster needs --transport memory (it partitions the in-memory network)");
    }
    let mut config = peerchat::NodeConfig {
        broadcast: args.broadcast,
        tree: args.tree.config(),
        sig: peerchat::config::SigConfig {
            sign: args.crypto,
            ..Default::default()
        },
        secure_links: args.crypto,
        ..args.limits.config()
    };
    // W5's keep-alive (1 s, peer timeout 3 s), unless the limits flags set one.
    let keep_alive_default = config.ping_interval == peerchat::config::PING_INTERVAL
        && config.peer_timeout == peerchat::config::PEER_TIMEOUT;
    if args.workload == Workload::W5 && keep_alive_default {
        peerchat::sim::w5::tune(&mut config);
    }
    let bar = Bar::new()?;
    let mut cluster =
        Cluster::start(&topology, args.transport, args.arbiters, config, &bar).await?;
    let report = match args.workload {
        Workload::W1 => {
            let count = args.broadcasts.unwrap_or(20) as u32;
            cluster
                .broadcast_latency_from(args.sender, args.seed, count, &bar)
                .await
        }
        Workload::W2 => {
            let per_node = args.broadcasts.unwrap_or(W2_PER_NODE) as u32;
            cluster.throughput(per_node, &bar).await
        }
        Workload::W3 => {
            let count = args.broadcasts.unwrap_or(W3_BROADCASTS) as u32;
            let mut r = cluster
                .broadcast_latency_from(args.sender, args.seed, count, &bar)
                .await;
            r.run.workload = "w3".into();
            r
        }
        Workload::W4 => {
            let churn = args.churn.unwrap_or(workload::W4_CHURN_PCT);
            cluster
                .churn(churn, args.seed, workload::W4_DURATION, &bar)
                .await?
        }
        Workload::W5 => {
            let timing = cluster::W5Timing::BENCH;
            match cluster.w5(args.w5_variant, args.seed, timing, &bar).await {
                Ok(report) => report,
                Err(e) => {
                    bar.finish();
                    cluster.shutdown().await;
                    return Err(e.into());
                }
            }
        }
    };
    bar.finish();
    cluster.shutdown().await;
    Ok(report)
}

/// The model engine: pure protocol states under virtual time, running W1 or W4.
fn model(args: &SimArgs) -> Result<Report> {
    let params = SimParams {
        broadcast: args.broadcast,
        sender: args.sender,
        tree: Some(args.tree.config()),
        workload: args.workload,
        nodes: args.nodes.unwrap_or(DEFAULT_NODES),
        degree: args.degree,
        topology: args.topology.clone(),
        latency: args.latency,
        broadcasts: args.broadcasts,
        churn_pct: args.churn,
        seed: args.seed,
        node_config: None,
        check_memory: !args.skip_memory_check,
        threads: args.threads,
        progress: Some(Arc::new(Bar::new()?)),
        crypto: args.crypto,
        w5_variant: args.w5_variant,
        feeds: !args.limits.no_feeds,
    };
    Ok(workload::run(&params)?)
}

/// Runs the simulation on either engine and prints its report (the same
/// table or JSON for both); fails if an invariant broke. A `--plot` file
/// that could not be written is refused before anything runs.
pub async fn sim(args: SimArgs) -> Result<()> {
    if let Some(path) = &args.plot {
        plot::check_target(path)?;
    }
    let report = match args.engine {
        Engine::Model => model(&args)?,
        Engine::Cluster => cluster(&args).await?,
    };
    if let Some(path) = &args.plot {
        plot::write_svg(path, &report.plot_title(), &report.delivery_curves)
            .with_context(|| "writing the delivery curves")?;
    }
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{report}");
    }
    if !report.passed() {
        bail!(
            "{} invariant violations, {} duplicate deliveries",
            report.deliveries.violations,
            report.deliveries.duplicates_delivered
        );
    }
    Ok(())
}
