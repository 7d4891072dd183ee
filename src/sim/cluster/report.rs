//! `ClusterReport`: what a run of real actors measured, as a table for people and one JSON object for scripts.

use serde::Serialize;

use super::Transport;
use crate::sim::plot::Curve;
use crate::sim::report::Percentiles;

/// What the cluster measured. Fields a workload does not measure are `None`.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterReport {
    pub engine: &'static str,
    /// `w1`, `w2`, `w3` or `w4`.
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
    /// Deliveries over expected deliveries. W4: expected are the nodes alive
    /// and connected to the sender when each message was sent.
    pub delivery_ratio: f64,
    /// W4: the same, over the nodes that were expected and were still running at the end.
    pub delivery_ratio_survivors: Option<f64>,
    /// Second deliveries of one id at one node (must be 0).
    pub duplicates_delivered: u64,
    /// W1: per broadcast, wall time from the `broadcast` call to the last delivery.
    pub time_to_all_ms: Option<Percentiles>,
    /// Per delivery: wall time from the `broadcast` call.
    pub delivery_latency_ms: Option<Percentiles>,
    pub frames_per_delivery: f64,
    pub bytes_per_delivery: f64,
    /// Frames the nodes handled (received) per wall second of the measured part.
    pub frames_per_s: f64,
    /// New message ids dropped because a link brought them faster than
    /// `new_id_rate` allows (must be 0 under the default limits).
    pub ids_rate_limited: u64,
    /// W2: application deliveries per second across all nodes.
    pub deliveries_per_s: Option<f64>,
    /// Process CPU seconds per 1,000 deliveries.
    pub cpu_s_per_1000_deliveries: Option<f64>,
    /// W4: share of the other nodes stopped during the run, in percent, and how many.
    pub churn_pct: Option<f64>,
    pub stopped: u64,
    /// W4: per neighbour of a stopped node, time until it dropped the dead peer.
    pub dead_peer_drop_ms: Option<Percentiles>,
    /// Wall time of the measured part (after setup).
    pub run_s: f64,
    pub peak_rss_mib: f64,
    /// RSS after setup minus RSS before the first node, over the nodes.
    pub rss_per_node_kib: f64,
    /// Per broadcast: the fraction of the expected nodes reached over time (for `--plot`).
    #[serde(skip)]
    pub delivery_curves: Vec<Curve>,
}

impl ClusterReport {
    /// True when nothing was delivered twice and every expected delivery
    /// happened: for W4, every node that was connected to the sender when a
    /// message was sent and still ran at the end (a node stopped while the
    /// message was on its way could not take it).
    pub fn passed(&self) -> bool {
        let ratio = self.delivery_ratio_survivors.unwrap_or(self.delivery_ratio);
        self.duplicates_delivered == 0 && ratio >= 1.0
    }
}

fn pct(p: &Percentiles) -> String {
    format!(
        "p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   max {:.2} ms (n={})",
        p.p50, p.p90, p.p99, p.max, p.count
    )
}

impl std::fmt::Display for ClusterReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "engine cluster ({}), workload {}",
            match self.transport {
                Transport::Tcp => "tcp",
                Transport::Memory => "memory",
            },
            self.workload
        )?;
        writeln!(
            f,
            "  nodes {:>12}   links {}   arbiters {}",
            self.nodes, self.links, self.arbiters
        )?;
        writeln!(f, "  setup {:>11.2} s", self.setup_s)?;
        writeln!(
            f,
            "  delivered {:>8} of {} (ratio {:.6}), duplicates {}",
            self.deliveries,
            self.expected_deliveries,
            self.delivery_ratio,
            self.duplicates_delivered
        )?;
        if self.ids_rate_limited > 0 {
            writeln!(
                f,
                "  new ids dropped over a link's rate {}",
                self.ids_rate_limited
            )?;
        }
        if let Some(r) = self.delivery_ratio_survivors {
            writeln!(f, "  ratio over survivors {r:.6}")?;
        }
        if let Some(t) = &self.time_to_all_ms {
            writeln!(f, "  time to all       {}", pct(t))?;
        }
        if let Some(t) = &self.delivery_latency_ms {
            writeln!(f, "  delivery latency  {}", pct(t))?;
        }
        writeln!(
            f,
            "  frames/delivery {:.2}   bytes/delivery {:.0}   frames handled/s {:.0}",
            self.frames_per_delivery, self.bytes_per_delivery, self.frames_per_s
        )?;
        if let Some(r) = self.deliveries_per_s {
            writeln!(f, "  deliveries/s {r:.0}")?;
        }
        if let Some(c) = self.cpu_s_per_1000_deliveries {
            writeln!(f, "  CPU s per 1,000 deliveries {c:.4}")?;
        }
        if let Some(c) = self.churn_pct {
            writeln!(f, "  churn {c}%: {} nodes stopped", self.stopped)?;
        }
        if let Some(t) = &self.dead_peer_drop_ms {
            writeln!(f, "  dead peer dropped after  {}", pct(t))?;
        }
        writeln!(f, "  run {:.2} s", self.run_s)?;
        write!(
            f,
            "  peak RSS {:.1} MiB   RSS per node {:.1} KiB",
            self.peak_rss_mib, self.rss_per_node_kib
        )
    }
}
