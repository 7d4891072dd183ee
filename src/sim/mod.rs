//! Simulation: many nodes in one process (the deterministic `Network` of pure `NodeState`s, or the real-actor `Cluster`).
//!
//! [`Network`] runs thousands to millions of [`crate::proto::NodeState`]s under
//! a virtual clock with one seeded RNG: the same seed replays the same run,
//! event for event, so a failing property can be reproduced. [`topology`]
//! builds the graphs of BENCH.md, [`Fault`]s crash and restart nodes, cut
//! links and partition the network at scheduled virtual times, and the
//! network checks as it goes that no node delivers a broadcast twice, that
//! every node connected to the sender delivers it, and that no node
//! registers itself. [`workload`] runs BENCH.md's W1 and W4 and returns a
//! [`Report`], whose delivery [`Curve`]s [`plot::write_svg`] draws; a
//! [`Progress`] hook hears how far setup and the run have got.
//!
//! [`cluster::Cluster`] runs the same workloads (and W2, W3) on real actors
//! and returns the same [`Report`]: both engines keep one delivery log
//! (`deliveries`) and ask one reachability search (`reach`) who was
//! connected to the sender, so their tables and JSON have the same fields.
//!
//! ```
//! use peerchat::sim::{Latency, Network, Topology, sim_node_config};
//!
//! let topo = Topology::random(200, 8, 42)?;
//! let config = sim_node_config(64);
//! let mut net = Network::new(topo, Latency::default(), 42, config)?;
//! net.connect_all()?;
//! net.broadcast(0, "hello".into());
//! net.run_until_settled()?;
//! net.check_broadcasts();
//! assert_eq!(net.violations(), 0);
//! # Ok::<(), peerchat::sim::SimError>(())
//! ```

pub mod cluster;
mod deliveries;
mod exec;
mod faults;
pub mod latency;
pub mod memory;
pub mod network;
mod node;
mod order;
pub mod plot;
pub mod progress;
mod queue;
mod reach;
pub mod report;
pub mod topology;
mod track;
pub mod w5;
mod worker;
pub mod workload;

use std::time::Duration;

pub use faults::Fault;
pub use latency::Latency;
pub use network::{Counters, Network};
pub use node::{
    node_addr, node_id, parse_node_addr, parse_node_id, sim_node_config, SIM_PEER_TIMEOUT,
    SIM_PING_INTERVAL,
};
pub use plot::Curve;
pub use progress::{NoProgress, Progress};
pub use report::{Deliveries, Percentiles, Report, Run, Traffic, Wall};
pub use topology::{Topology, TopologySpec};
pub use workload::{SimParams, Workload};

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The topology is malformed (bad edge list, impossible degree).
    #[error("topology: {0}")]
    Topology(String),
    /// The node configuration does not validate.
    #[error("node configuration: {0}")]
    Config(String),
    /// The network did not form the topology's links.
    #[error("setup failed: {0}")]
    Setup(String),
    /// Frames were still in flight after this much virtual time.
    #[error("the network did not go quiet within {0:?} of virtual time")]
    NotIdle(Duration),
    /// The run would not fit in memory.
    #[error(
        "{nodes} nodes at degree {degree:.1} need about {need_mib} MiB, over the limit of \
         {budget_mib} MiB ({share}% of the {available_mib} MiB MemAvailable); the largest \
         network that fits is about {max_nodes} nodes"
    )]
    TooBig {
        /// Nodes asked for.
        nodes: u64,
        /// Mean degree of the graph.
        degree: f64,
        /// Memory the run needs (MiB, estimated).
        need_mib: u64,
        /// Memory it may use (MiB).
        budget_mib: u64,
        /// Percent of the available memory it may use.
        share: u32,
        /// Memory available (MiB).
        available_mib: u64,
        /// The largest run that fits.
        max_nodes: u64,
    },
    /// The parameters make no sense together.
    #[error("invalid parameters: {0}")]
    Params(String),
    /// A delivery-curve plot could not be drawn or written.
    #[error("plot {0}")]
    Plot(String),
}

impl Network {
    /// Invariant violations seen so far (each is also logged at `warn`).
    pub fn violations(&self) -> u64 {
        self.tracker.log.violations()
    }

    /// Descriptions of the first violations (the first hundred; all are counted).
    pub fn violation_samples(&self) -> &[String] {
        self.tracker.log.violation_samples()
    }

    /// Deliveries of each tracked broadcast so far (first deliveries only).
    pub fn deliveries(&self) -> u64 {
        self.tracker.log.deliveries()
    }

    /// Second deliveries of one id at one node (a violation; must stay 0).
    pub fn duplicates(&self) -> u64 {
        self.tracker.log.duplicates()
    }
}
