// Run: cargo run --release --example cluster -- [tcp|memory] [NODES] [w1|w2|w4]
//! Real nodes in one process (every node a PeerActor with its connections),
//! on a random graph of degree 8, measured as BENCH.md's W1, W2 or W4
//! (W4 here for 2 s instead of BENCH's 10 s).

use std::time::Duration;

use peerchat::sim::cluster::{Cluster, Transport, DEFAULT_ARBITERS};
use peerchat::sim::{NoProgress, Topology};
use peerchat::NodeConfig;

#[actix::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let transport: Transport = args
        .next()
        .as_deref()
        .unwrap_or("memory")
        .parse()
        .map_err(anyhow::Error::msg)?;
    let nodes: u32 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(100);
    let workload = args.next().unwrap_or_else(|| "w1".to_string());
    let topology = Topology::random(nodes, 8, 42)?;
    let config = NodeConfig::default();
    let mut cluster =
        Cluster::start(&topology, transport, DEFAULT_ARBITERS, config, &NoProgress).await?;
    let report = match workload.as_str() {
        "w2" => cluster.throughput(200, &NoProgress).await,
        "w4" => {
            let run = Duration::from_secs(2);
            cluster.churn(20.0, 42, run, &NoProgress).await?
        }
        _ => cluster.broadcast_latency(0, 20, &NoProgress).await,
    };
    println!("{report}");
    cluster.shutdown().await;
    anyhow::ensure!(
        report.passed(),
        "not every expected delivery happened exactly once"
    );
    Ok(())
}
