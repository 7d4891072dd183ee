//! `Report`: what one run of either engine measured, as one table for people and one flat JSON object for scripts, with the same fields in both.
//!
//! Both engines fill the same four sections; a field an engine cannot
//! measure is `None`: `null` in the JSON, `-` in the table. The fields are
//! declared once, with their table labels, in the `section!` blocks below;
//! a key ends in its unit (`_ms`: milliseconds, `_bytes`: bytes, `_pct`:
//! percent, `_per_s`: per second).

mod table;

use std::fmt;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::cluster::Transport;
use super::plot::Curve;
use table::section;

/// Percentiles of a distribution of times, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median, in ms.
    pub p50: f64,
    /// 90th percentile, in ms.
    pub p90: f64,
    /// 99th percentile, in ms.
    pub p99: f64,
    /// Largest, in ms.
    pub max: f64,
    /// How many values.
    pub count: u64,
}

impl Percentiles {
    /// From a histogram of microseconds; `None` when it is empty.
    pub fn from_micros(h: &Histogram<u64>) -> Option<Percentiles> {
        if h.is_empty() {
            return None;
        }
        // The lowest value of each bucket: exact for values the histogram holds
        // exactly, at most 0.01% low otherwise (four significant digits).
        let ms = |us: u64| h.lowest_equivalent(us) as f64 / 1000.0;
        Some(Percentiles {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
            count: h.len(),
        })
    }
}

section! {
    /// What was run.
    pub struct Run {
        /// `model` or `cluster`.
        engine: String => "engine",
        /// `w1`, `w2`, `w3` or `w4`.
        workload: String => "workload",
        /// Cluster: how the nodes are linked (`tcp` or `memory`).
        transport: Option<Transport> => "transport",
        /// The clock the times of the deliveries section are on: `virtual`
        /// (the model's) or `wall`.
        clock: String => "clock of the delivery times",
        /// Nodes in the network.
        nodes: u64 => "nodes",
        /// Links in the topology.
        links: u64 => "links",
        /// Links per node, on average.
        mean_degree: f64 => "mean degree",
        /// `random`, `ring`, `star`, `line`, `edge list` or `file:PATH`.
        topology: String => "topology",
        /// Model: the one-way latency of a link (`5ms`, or a range `2ms..10ms`).
        latency: Option<String> => "link latency",
        /// The seed of the run's random draws (model: topology, latencies,
        /// ids and churn; cluster: the random topology's, or W4's churn).
        seed: Option<u64> => "seed",
        /// How broadcasts travel: `tree` or `flood`.
        broadcast: String => "broadcast",
        /// Who sent W1's broadcasts: a node number, or `random`; `all` for W2.
        sender: String => "sender",
        /// Broadcasts asked for (W2: per node).
        broadcasts_asked: u64 => "broadcasts asked",
        /// Share of the nodes other than the sender stopped during the run.
        churn_pct: f64 => "churn",
    }
}

section! {
    /// Who delivered what. "Connected at send": the nodes reachable from the
    /// sender over links between running nodes when a broadcast was sent,
    /// the sender not counted. "Survivors": those of them still running when
    /// the broadcast was checked, after its flood (W1) or at the end of the
    /// run (W4). In the model all of it replays exactly from the seed.
    pub struct Deliveries {
        /// Broadcasts sent.
        broadcasts_sent: u64 => "broadcasts sent",
        /// Broadcasts that every node connected at send delivered.
        broadcasts_complete: u64 => "complete: all connected at send had it",
        /// Broadcasts that every survivor delivered.
        broadcasts_complete_survivors: u64 => "complete: all survivors had it",
        /// First deliveries of the broadcasts, at nodes other than the sender.
        deliveries: u64 => "deliveries",
        /// Nodes connected at send, summed over the broadcasts.
        expected_deliveries: u64 => "expected: connected at send",
        /// Deliveries by the nodes connected at send over `expected_deliveries`
        /// (BENCH.md's ratio).
        delivery_ratio: f64 => "delivery ratio",
        /// The same over the survivors.
        delivery_ratio_survivors: f64 => "delivery ratio over survivors",
        /// Second deliveries of one id at one node (must be 0).
        duplicates_delivered: u64 => "duplicates delivered",
        /// Broken invariants (must be 0): a duplicate, a delivery of a node's
        /// own broadcast, a node still connected to the sender when the
        /// broadcast was checked that did not deliver it, a node that
        /// registered itself (model).
        violations: u64 => "invariant violations",
        /// The first of them, described.
        violation_samples: Vec<String> => "first violations",
        /// Per broadcast that every survivor had: time from the send until the
        /// last node connected at send had it.
        time_to_all_ms: Option<Percentiles> => "time to all",
        /// Per delivery: time from the send.
        delivery_latency_ms: Option<Percentiles> => "delivery latency",
        /// Model: links the first copy to reach a node crossed, most and mean.
        hops_max: Option<u32> => "hops, most",
        /// Model: links the first copy to reach a node crossed, on average.
        hops_mean: Option<f64> => "hops, mean",
    }
}

section! {
    /// What the nodes sent and what stopped. In the model all of it replays exactly.
    pub struct Traffic {
        /// Frames the nodes sent during the measured run (every kind).
        frames_sent: u64 => "frames sent",
        /// Bytes of those frames, newlines included.
        bytes_sent: u64 => "bytes sent",
        /// Frames sent per delivery (every kind).
        frames_per_delivery: f64 => "frames / delivery",
        /// Bytes sent per delivery.
        bytes_per_delivery: f64 => "bytes / delivery",
        /// `BROADCAST` frames sent per delivery (flooded, eager, grafted).
        payload_frames_per_delivery: f64 => "payload frames / delivery",
        /// `IHAVE`, `GRAFT` and `PRUNE` frames sent per delivery.
        control_frames_per_delivery: f64 => "control frames / delivery",
        /// Copies of broadcasts taken in per delivery, less one (0: each
        /// node got each message once).
        redundancy: f64 => "relative message redundancy",
        /// `GRAFT` frames sent per broadcast.
        grafts_per_broadcast: f64 => "grafts / broadcast",
        /// `PRUNE` frames sent per broadcast.
        prunes_per_broadcast: f64 => "prunes / broadcast",
        /// W1: frames per delivery of the broadcasts after the first (which,
        /// in a tree, builds the tree).
        frames_per_delivery_after_first: Option<f64> => "frames / delivery after the first",
        /// W1: relative message redundancy after the first broadcast.
        redundancy_after_first: Option<f64> => "redundancy after the first",
        /// New message ids dropped over a link's rate (`new_id_rate`).
        ids_rate_limited: u64 => "new ids over a link's rate",
        /// Nodes stopped during the run (model: crashed; cluster: shut down).
        nodes_stopped: u64 => "nodes stopped",
        /// Per running neighbour of a stopped node: time until it dropped the dead peer.
        dead_peer_drop_ms: Option<Percentiles> => "dead peer dropped after",
        /// Model: events handled, setup included.
        events: Option<u64> => "events",
        /// Model: virtual time when every link was registered at both ends.
        setup_virtual_ms: Option<f64> => "links up at (virtual)",
        /// Model: virtual time at the end of the run.
        end_virtual_ms: Option<f64> => "run ended at (virtual)",
        /// W5: first deliveries over every (broadcast, node other than its
        /// sender) pair, crashed and cut-off nodes included (target 1.0).
        delivery_overall: Option<f64> => "delivery over all nodes (w5)",
        /// W5: per node that was cut off (or down), from the heal until it
        /// had every broadcast sent before the heal.
        catchup_after_heal_ms: Option<Percentiles> => "caught up after heal (w5)",
        /// W5: broadcasts delivered late, in answer to pulls (the nodes' `caught_up`).
        caught_up: Option<u64> => "caught up by pull (w5)",
        /// W5: bytes of `DIGEST` frames per caught-up message.
        digest_bytes_per_caught_up: Option<f64> => "digest bytes / caught up (w5)",
        /// W5: bytes of `SUMMARY` frames per caught-up message.
        summary_bytes_per_caught_up: Option<f64> => "summary bytes / caught up (w5)",
        /// W5: bytes of `PULL` and `HISTORY` frames per caught-up message.
        catchup_bytes_per_caught_up: Option<f64> => "pull+history bytes / caught up (w5)",
    }
}

section! {
    /// What the wall clock and the machine saw: differs from run to run.
    pub struct Wall {
        /// Threads the run used: the model's workers (the run is the same
        /// whatever their number), the cluster's arbiters.
        threads: u64 => "threads",
        /// Starting the nodes until every link was registered at both ends.
        setup_wall_ms: f64 => "setup (wall)",
        /// The measured run after setup (broadcasts, stops, drains).
        run_wall_ms: f64 => "run (wall)",
        /// Model: per broadcast, the wall time the simulator took for it (W4:
        /// the run over the broadcasts).
        per_broadcast_wall_ms: Option<Percentiles> => "per broadcast (wall)",
        /// Model: events handled per wall second, setup included.
        events_per_s: Option<f64> => "events handled",
        /// Frames the nodes took in per wall second of the run.
        frames_handled_per_s: f64 => "frames handled",
        /// W2: deliveries per wall second across all nodes.
        deliveries_per_s: Option<f64> => "deliveries (w2)",
        /// Process CPU time of the run over its deliveries.
        cpu_ms_per_delivery: Option<f64> => "CPU / delivery",
        /// Peak resident set of the process (VmHWM).
        peak_rss_bytes: u64 => "peak RSS",
        /// Peak RSS less the RSS before the first node was built, over the nodes.
        rss_per_node_bytes: u64 => "RSS / node",
    }
}

/// A run's report: `Display` prints the table, [`Report::to_json`] one JSON
/// object with the same fields (the sections flattened into it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    #[serde(flatten)]
    /// What was run.
    pub run: Run,
    #[serde(flatten)]
    /// Who delivered what.
    pub deliveries: Deliveries,
    #[serde(flatten)]
    /// What the nodes sent.
    pub traffic: Traffic,
    #[serde(flatten)]
    /// What the wall clock and the machine saw.
    pub wall: Wall,
    /// Per broadcast: the fraction of the nodes connected at send that had it,
    /// over ms since the send ([`super::plot::write_svg`] draws them). Left
    /// out of the JSON, which stays one line of figures.
    #[serde(skip)]
    pub delivery_curves: Vec<Curve>,
}

/// The part of a report that replays exactly in the model.
#[derive(Serialize)]
struct Deterministic<'a> {
    #[serde(flatten)]
    run: &'a Run,
    #[serde(flatten)]
    deliveries: &'a Deliveries,
    #[serde(flatten)]
    traffic: &'a Traffic,
}

impl Report {
    /// Every JSON key, in table order.
    pub fn keys() -> impl Iterator<Item = &'static str> {
        [Run::KEYS, Deliveries::KEYS, Traffic::KEYS, Wall::KEYS]
            .into_iter()
            .flatten()
            .copied()
    }

    /// One JSON object with every field.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// Everything but the wall section, as JSON: in the model the same seed
    /// gives the same text, byte for byte.
    pub fn deterministic_json(&self) -> String {
        let d = Deterministic {
            run: &self.run,
            deliveries: &self.deliveries,
            traffic: &self.traffic,
        };
        serde_json::to_string(&d).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The title of its delivery-curve plot: engine, workload, nodes and
    /// degree (see [`super::plot::title`]), then the links (the model's
    /// latency, the cluster's transport) and the churn, if any.
    pub fn plot_title(&self) -> String {
        let r = &self.run;
        let mut title = super::plot::title(&r.engine, &r.workload, r.nodes, r.mean_degree);
        if let Some(latency) = &r.latency {
            title.push_str(&format!(", {latency} links"));
        }
        match r.transport {
            Some(Transport::Tcp) => title.push_str(", TCP"),
            Some(Transport::Memory) => title.push_str(", in memory"),
            None => {}
        }
        if r.churn_pct > 0.0 {
            title.push_str(&format!(", {}% churn", r.churn_pct));
        }
        title
    }

    /// True when no invariant broke and nothing was delivered twice: every
    /// node still connected to the sender when a broadcast was checked had it.
    pub fn passed(&self) -> bool {
        self.deliveries.violations == 0 && self.deliveries.duplicates_delivered == 0
    }
}

/// Width of the label column.
const LABEL_WIDTH: usize = 40;

/// What the table's "connected at send" and "survivors" mean, printed under it.
const NOTE: &str = "connected at send: reachable from the sender over links between running nodes when \
it was sent (the sender not counted)\nsurvivors: those of them still running when the broadcast was \
checked, after its flood (w1) or at the end of the run (w4)";

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sections = [
            ("run", self.run.rows()),
            ("deliveries", self.deliveries.rows()),
            ("traffic and churn", self.traffic.rows()),
            ("wall clock and memory", self.wall.rows()),
        ];
        for (title, rows) in sections {
            writeln!(f, "{title}")?;
            for (label, value) in rows {
                let mut lines = value.lines();
                let first = lines.next().unwrap_or("");
                writeln!(f, "  {label:<LABEL_WIDTH$} {first}")?;
                for more in lines {
                    writeln!(f, "  {:<LABEL_WIDTH$} {more}", "")?;
                }
            }
        }
        writeln!(f, "{NOTE}")
    }
}

/// `x` per delivery (0 when nothing was delivered).
/// Frames of each kind a measured phase moved, summed over the nodes: what
/// the traffic section's per-kind fields are made of, on either engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindCounts {
    /// `BROADCAST` frames sent.
    pub payload_sent: u64,
    /// `IHAVE`, `GRAFT` and `PRUNE` frames sent.
    pub control_sent: u64,
    /// `BROADCAST` copies taken in by running nodes.
    pub payload_received: u64,
    /// `GRAFT` frames sent.
    pub grafts: u64,
    /// `PRUNE` frames sent.
    pub prunes: u64,
    /// New ids dropped over a link's rate.
    pub ids_rate_limited: u64,
}

impl KindCounts {
    /// The growth from `before` to `self`.
    pub fn since(self, before: KindCounts) -> KindCounts {
        KindCounts {
            payload_sent: self.payload_sent - before.payload_sent,
            control_sent: self.control_sent - before.control_sent,
            payload_received: self.payload_received - before.payload_received,
            grafts: self.grafts - before.grafts,
            prunes: self.prunes - before.prunes,
            ids_rate_limited: self.ids_rate_limited - before.ids_rate_limited,
        }
    }

    /// Sets the "after the first" fields from the phase's totals and what
    /// the first broadcast alone took (`first`: its frames, counts and deliveries).
    pub fn fill_after_first(
        &self,
        t: &mut Traffic,
        (frames, deliveries): (u64, u64),
        first: (u64, KindCounts, u64),
    ) {
        let (first_frames, first_kinds, first_deliveries) = first;
        let rest = deliveries.saturating_sub(first_deliveries);
        if rest == 0 {
            return;
        }
        t.frames_per_delivery_after_first = Some(per_delivery(frames - first_frames, rest));
        let received = self.payload_received - first_kinds.payload_received;
        t.redundancy_after_first = Some(per_delivery(received, rest) - 1.0);
    }

    /// Sets the traffic section's per-kind fields for `deliveries` deliveries of `broadcasts`.
    pub fn fill(&self, t: &mut Traffic, deliveries: u64, broadcasts: u64) {
        t.payload_frames_per_delivery = per_delivery(self.payload_sent, deliveries);
        t.control_frames_per_delivery = per_delivery(self.control_sent, deliveries);
        t.redundancy = if deliveries == 0 {
            0.0
        } else {
            per_delivery(self.payload_received, deliveries) - 1.0
        };
        t.grafts_per_broadcast = per_delivery(self.grafts, broadcasts);
        t.prunes_per_broadcast = per_delivery(self.prunes, broadcasts);
        t.ids_rate_limited = self.ids_rate_limited;
    }
}

pub(crate) fn per_delivery(x: u64, deliveries: u64) -> f64 {
    if deliveries == 0 {
        0.0
    } else {
        x as f64 / deliveries as f64
    }
}

/// `cpu_s` CPU seconds in milliseconds per delivery (`None` when the CPU
/// time is unknown or nothing was delivered).
pub(crate) fn cpu_ms_per_delivery(cpu_s: Option<f64>, deliveries: u64) -> Option<f64> {
    let cpu_s = cpu_s?;
    (deliveries > 0).then(|| cpu_s * 1000.0 / deliveries as f64)
}

/// `a / b`, 1 when `b` is 0 (nothing was expected, nothing is missing).
pub(crate) fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}
