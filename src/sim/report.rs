//! The report of a run: what replays exactly (parameters, deliveries, virtual times) and what the wall clock saw.

use std::fmt;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::network::Counters;
use super::plot::Curve;
use super::track::Tracker;

/// Percentiles of a distribution of virtual times, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
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

/// What was run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Params {
    /// Always `model` here.
    pub engine: String,
    /// `w1` or `w4`.
    pub workload: String,
    pub nodes: u64,
    /// Links in the topology.
    pub links: u64,
    pub mean_degree: f64,
    pub topology: String,
    pub latency: String,
    pub seed: u64,
    /// Broadcasts asked for.
    pub broadcasts: u64,
    /// Share of nodes crashed during the run, in percent.
    pub churn_pct: f64,
}

/// What happened, in virtual time and counts: the same seed gives the same outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub broadcasts_sent: u64,
    /// Broadcasts that every node reachable at send delivered.
    pub broadcasts_complete: u64,
    pub deliveries: u64,
    /// Nodes reachable from the sender when each broadcast was sent, summed.
    pub expected_deliveries: u64,
    /// Deliveries by those nodes over `expected_deliveries` (BENCH.md's ratio).
    pub delivery_ratio: f64,
    /// The same over those still alive when the broadcast was checked.
    pub delivery_ratio_survivors: f64,
    /// Second deliveries of an id at a node (must be 0).
    pub duplicates_delivered: u64,
    /// Per broadcast: time until every reachable node had it.
    pub time_to_all_ms: Option<Percentiles>,
    /// Per delivery: time from the broadcast.
    pub delivery_latency_ms: Option<Percentiles>,
    /// Frames sent after setup (every kind), over deliveries.
    pub frames_per_delivery: f64,
    pub bytes_per_delivery: f64,
    pub frames_sent: u64,
    pub bytes_sent: u64,
    /// Links the first copy to reach a node crossed: most, and mean over deliveries.
    pub hops_max: u32,
    pub hops_mean: f64,
    /// Virtual time until every link was registered at both ends.
    pub setup_virtual_ms: f64,
    /// Virtual time at the end of the run.
    pub end_virtual_ms: f64,
    /// Events handled, setup included.
    pub events: u64,
    pub crashes: u64,
    /// Per survivor of a crashed neighbour: time until it dropped the dead peer.
    pub dead_peer_drop_ms: Option<Percentiles>,
    /// Invariant violations (must be 0), and the first of them.
    pub violations: u64,
    pub violation_samples: Vec<String>,
    /// Per broadcast: the fraction of the nodes reachable at send that had
    /// it, over virtual ms since the send ([`super::plot::write_svg`] draws
    /// them). Left out of the JSON, which stays one line of figures.
    #[serde(skip)]
    pub delivery_curves: Vec<Curve>,
}

/// `x` per delivery (0 when nothing was delivered).
pub(crate) fn per_delivery(x: u64, deliveries: u64) -> f64 {
    if deliveries == 0 {
        0.0
    } else {
        x as f64 / deliveries as f64
    }
}

/// `a / b`, 1 when `b` is 0 (nothing was expected, nothing is missing).
pub(crate) fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

impl Outcome {
    /// Gathers the outcome from a finished run.
    pub(crate) fn gather(
        t: &Tracker,
        total: &Counters,
        after_setup: &Counters,
        setup_ns: u64,
        end_ns: u64,
    ) -> Outcome {
        let frames = total.frames_sent - after_setup.frames_sent;
        let bytes = total.bytes_sent - after_setup.bytes_sent;
        let per = |x: u64| per_delivery(x, t.deliveries);
        Outcome {
            broadcasts_sent: t.sent() as u64,
            broadcasts_complete: t.complete,
            deliveries: t.deliveries,
            expected_deliveries: t.expected,
            delivery_ratio: ratio(t.expected_delivered, t.expected),
            delivery_ratio_survivors: ratio(t.survivors_delivered, t.survivors),
            duplicates_delivered: t.duplicates,
            time_to_all_ms: Percentiles::from_micros(&t.time_to_all),
            delivery_latency_ms: Percentiles::from_micros(&t.latency),
            frames_per_delivery: per(frames),
            bytes_per_delivery: per(bytes),
            frames_sent: frames,
            bytes_sent: bytes,
            hops_max: t.hop_max,
            hops_mean: per(t.hop_sum),
            setup_virtual_ms: setup_ns as f64 / 1e6,
            end_virtual_ms: end_ns as f64 / 1e6,
            events: total.events,
            crashes: t.crashes,
            dead_peer_drop_ms: Percentiles::from_micros(&t.dead_peer_drop),
            violations: t.violations,
            violation_samples: t.violation_samples.clone(),
            delivery_curves: t.curves(),
        }
    }
}

/// What the wall clock and the kernel saw: differs between runs of one seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Wall {
    /// Building the topology and nodes, and running the handshakes.
    pub setup_s: f64,
    /// The measured phase (broadcasts, faults, drains).
    pub run_s: f64,
    /// W1: median and worst wall time of one broadcast (sent until quiet).
    pub per_broadcast_s: f64,
    pub per_broadcast_max_s: f64,
    /// Events handled per wall second, over setup and run.
    pub events_per_s: f64,
    /// Peak resident set of the process (VmHWM).
    pub peak_rss_bytes: u64,
    pub rss_per_node_bytes: u64,
}

/// A run's report: `Display` prints a table for people, `serde` one JSON object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub params: Params,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub wall: Wall,
}

/// The part of a report that replays exactly.
#[derive(Serialize)]
struct Deterministic<'a> {
    #[serde(flatten)]
    params: &'a Params,
    #[serde(flatten)]
    outcome: &'a Outcome,
}

impl Report {
    /// One JSON object with every field.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The parameters and outcome only, as JSON: the same seed gives the same
    /// text, byte for byte.
    pub fn deterministic_json(&self) -> String {
        let d = Deterministic {
            params: &self.params,
            outcome: &self.outcome,
        };
        serde_json::to_string(&d).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// True when no invariant broke and nothing was delivered twice.
    pub fn passed(&self) -> bool {
        self.outcome.violations == 0 && self.outcome.duplicates_delivered == 0
    }
}

fn pct(p: &Option<Percentiles>) -> String {
    match p {
        Some(p) => format!(
            "p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}  (n={})",
            p.p50, p.p90, p.p99, p.max, p.count
        ),
        None => "-".into(),
    }
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (p, o, w) = (&self.params, &self.outcome, &self.wall);
        let rows: Vec<(&str, String)> = vec![
            (
                "engine / workload",
                format!("{} / {}", p.engine, p.workload),
            ),
            (
                "network",
                format!(
                    "{} nodes, {} links (mean degree {:.2}), {}",
                    p.nodes, p.links, p.mean_degree, p.topology
                ),
            ),
            ("latency / seed", format!("{} / {}", p.latency, p.seed)),
            (
                "broadcasts",
                format!(
                    "{} sent, {} complete (asked {}, churn {}%)",
                    o.broadcasts_sent, o.broadcasts_complete, p.broadcasts, p.churn_pct
                ),
            ),
            (
                "delivery ratio",
                format!(
                    "{:.6} ({} of {}); survivors {:.6}",
                    o.delivery_ratio,
                    o.deliveries,
                    o.expected_deliveries,
                    o.delivery_ratio_survivors
                ),
            ),
            ("duplicates delivered", o.duplicates_delivered.to_string()),
            ("time to all (virtual ms)", pct(&o.time_to_all_ms)),
            ("delivery latency (virtual ms)", pct(&o.delivery_latency_ms)),
            (
                "frames / delivery",
                format!(
                    "{:.3} ({:.1} bytes / delivery)",
                    o.frames_per_delivery, o.bytes_per_delivery
                ),
            ),
            (
                "hops",
                format!("max {}  mean {:.3}", o.hops_max, o.hops_mean),
            ),
            (
                "virtual time",
                format!(
                    "setup {:.3} ms, end {:.3} ms",
                    o.setup_virtual_ms, o.end_virtual_ms
                ),
            ),
            ("crashes", o.crashes.to_string()),
            ("dead peer dropped after (ms)", pct(&o.dead_peer_drop_ms)),
            ("violations", o.violations.to_string()),
            ("setup (wall)", format!("{:.3} s", w.setup_s)),
            (
                "per broadcast (wall)",
                format!(
                    "median {:.3} s, max {:.3} s",
                    w.per_broadcast_s, w.per_broadcast_max_s
                ),
            ),
            (
                "events",
                format!("{} ({:.0} per wall second)", o.events, w.events_per_s),
            ),
            (
                "peak RSS",
                format!(
                    "{} ({} bytes per node)",
                    mib(w.peak_rss_bytes),
                    w.rss_per_node_bytes
                ),
            ),
        ];
        for (k, v) in rows {
            writeln!(f, "{k:<30} {v}")?;
        }
        for v in &o.violation_samples {
            writeln!(f, "  violation: {v}")?;
        }
        Ok(())
    }
}
