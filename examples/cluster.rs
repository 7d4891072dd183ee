// Run: cargo run --release --example cluster -- [tcp|memory] [NODES] [w1|w2]
//! Real nodes in one process (every node a PeerActor with its connections),
//! on a random graph of degree 8, measured as BENCH.md's W1 or W2.

use peerchat::sim::cluster::{Cluster, Transport};
use peerchat::sim::Topology;
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
    let mut cluster = Cluster::start(&topology, transport, 2, NodeConfig::default()).await?;
    let report = match workload.as_str() {
        "w2" => cluster.throughput(200).await,
        _ => cluster.broadcast_latency(0, 20).await,
    };
    println!("{report}");
    cluster.shutdown().await;
    Ok(())
}
