// Run: cargo run --release --example simulate -- [NODES] [BROADCASTS]
//! The deterministic simulator as a library: BENCH.md's W1 on a random graph, then a partition and its heal by hand.

use std::time::Duration;

use peerchat::sim::workload::{self, SimParams};
use peerchat::sim::{sim_node_config, Fault, Latency, Network, Topology};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let nodes: u32 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2_000);
    let broadcasts: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);

    // 1. A whole workload in one call: the report prints as a table.
    let params = SimParams {
        nodes,
        broadcasts: Some(broadcasts),
        ..SimParams::default()
    };
    let report = workload::run(&params)?;
    println!("{report}");
    anyhow::ensure!(report.passed(), "invariants broke");

    // 2. Driving a network by hand: partition it, broadcast, heal, broadcast again.
    let n = 200;
    let topo = Topology::random(n, 8, 42)?;
    let mut net = Network::new(
        topo,
        "2ms..10ms".parse::<Latency>().map_err(anyhow::Error::msg)?,
        42,
        sim_node_config(64),
    )?;
    net.connect_all()?;
    let groups = (0..n).map(|i| u32::from(i >= n / 2)).collect();
    net.apply_fault(Fault::Partition(groups));
    net.broadcast(0, "who hears me?".into());
    net.run_until_idle()?;
    net.check_broadcasts();
    println!(
        "partitioned: {} of {} others delivered",
        net.deliveries(),
        n - 1
    );
    net.apply_fault(Fault::Heal);
    net.run_for(Duration::from_secs(60));
    let before = net.deliveries();
    net.broadcast(0, "and now?".into());
    net.run_until_idle()?;
    net.check_broadcasts();
    println!(
        "healed: {} of {} others delivered, {} violations",
        net.deliveries() - before,
        n - 1,
        net.violations()
    );
    anyhow::ensure!(net.violations() == 0, "invariants broke");
    Ok(())
}
