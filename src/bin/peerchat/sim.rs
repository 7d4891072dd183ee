//! `peerchat sim`: runs a BENCH.md workload on the simulator and prints a table (or one JSON object), optionally plotting its delivery curves.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

use peerchat::sim::workload::{self, SimParams, Workload};
use peerchat::sim::{plot, Latency, TopologySpec};

use crate::progress::Bar;

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
    /// The BENCH.md workload: w1 (broadcast latency), w2 (throughput), w3
    /// (many senders) or w4 (churn). The model runs w1 and w4; w2 and w3 need
    /// --engine cluster.
    #[arg(long, default_value = "w1")]
    workload: Workload,
    /// How many nodes (an edge-list topology names its own).
    #[arg(long, default_value_t = 1000)]
    nodes: u32,
    /// Average degree of the random graph.
    #[arg(long, default_value_t = peerchat::sim::topology::DEFAULT_DEGREE)]
    degree: u32,
    /// ring, random, star, line, or file:PATH (an edge list: "a b [latency]" per line).
    #[arg(long, default_value = "random")]
    topology: TopologySpec,
    /// One-way link latency: fixed (5ms) or drawn per link from a range (2ms..10ms).
    #[arg(long, default_value = "5ms")]
    latency: Latency,
    /// Broadcasts from node 0 (default: 20 for w1, 200 for w4).
    #[arg(long)]
    broadcasts: Option<u64>,
    /// Crash this share of the other nodes at random virtual times during the run (default: 0 for w1, 20 for w4).
    #[arg(long, value_name = "PCT")]
    churn: Option<f64>,
    /// Seed of the topology, latencies, message ids and churn.
    #[arg(long, default_value_t = peerchat::sim::topology::BENCH_SEED)]
    seed: u64,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Draw the delivery curves (fraction of nodes reached over ms since each
    /// broadcast) as an SVG file: a line per broadcast, or a min/median/max
    /// band over more than 20.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Threads sharing each instant's events (default: one per core); the run is the same either way.
    #[arg(long)]
    threads: Option<usize>,
    /// Start even when the memory estimate exceeds what is available.
    #[arg(long)]
    skip_memory_check: bool,
    /// Cluster engine: tcp (loopback sockets) or memory (in-memory duplex streams).
    #[arg(long, default_value = "memory")]
    transport: peerchat::sim::cluster::Transport,
    /// Cluster engine: w2 (every node broadcasts this many) instead of W1; 0 for W1.
    #[arg(long, default_value_t = 0)]
    throughput: u32,
}

/// The cluster engine: real actors per node, W1 (or W2 with --throughput K).
async fn cluster(args: &SimArgs) -> Result<()> {
    use peerchat::sim::cluster::Cluster;
    if args.plot.is_some() {
        bail!(
            "--plot: the cluster engine does not record delivery curves yet (use --engine model)"
        );
    }
    match args.workload {
        Workload::W1 | Workload::W2 => {}
        other => bail!("workload {other} does not run on the cluster engine yet (w1, or w2 with --throughput K)"),
    }
    if args.workload == Workload::W2 && args.throughput == 0 {
        bail!("workload w2 on the cluster engine needs --throughput K (broadcasts per node)");
    }
    let topology = args.topology.build(args.nodes, args.degree, args.seed)?;
    let mut cluster = Cluster::start(
        &topology,
        args.transport,
        2,
        peerchat::NodeConfig::default(),
    )
    .await?;
    let report = if args.throughput > 0 {
        cluster.throughput(args.throughput).await
    } else {
        cluster
            .broadcast_latency(0, args.broadcasts.unwrap_or(20) as u32)
            .await
    };
    cluster.shutdown().await;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{report}");
    }
    if report.duplicates_delivered > 0 || report.delivery_ratio < 1.0 {
        bail!("not every broadcast was delivered exactly once");
    }
    Ok(())
}

/// Runs the simulation and prints its report; fails if an invariant broke.
pub async fn sim(args: SimArgs) -> Result<()> {
    if args.engine == Engine::Cluster {
        return cluster(&args).await;
    }
    let params = SimParams {
        workload: args.workload,
        nodes: args.nodes,
        degree: args.degree,
        topology: args.topology,
        latency: args.latency,
        broadcasts: args.broadcasts,
        churn_pct: args.churn,
        seed: args.seed,
        node_config: None,
        check_memory: !args.skip_memory_check,
        threads: args.threads,
        progress: Some(Arc::new(Bar::new()?)),
    };
    let report = workload::run(&params)?;
    if let Some(path) = &args.plot {
        let p = &report.params;
        let mut title = plot::title(&p.engine, &p.workload, p.nodes, p.mean_degree);
        title.push_str(&format!(", {} links", p.latency));
        if p.churn_pct > 0.0 {
            title.push_str(&format!(", {}% churn", p.churn_pct));
        }
        plot::write_svg(path, &title, &report.outcome.delivery_curves)
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
            report.outcome.violations,
            report.outcome.duplicates_delivered
        );
    }
    Ok(())
}
