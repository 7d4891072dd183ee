//! W1 (broadcast latency) and W2 (throughput) on a running `Cluster`.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::{Cluster, ClusterReport, POLL};
use crate::sim::plot::Curve;
use crate::sim::progress::Progress;
use crate::sim::report::ratio;
use crate::sim::report::Percentiles;
use crate::sim::workload::text;
/// How long one broadcast may take to reach every node before it counts as incomplete.
pub const BROADCAST_DEADLINE: Duration = Duration::from_secs(30);
/// W2's cap on the whole run (BENCH.md: 60 s).
pub const THROUGHPUT_DEADLINE: Duration = Duration::from_secs(60);
/// Significant digits of the latency histograms (values in microseconds).
const HIST_SIGFIG: u8 = 3;

/// Largest time the histograms track: ten minutes, in microseconds (larger values are recorded as this).
const HIST_MAX_US: u64 = 600_000_000;

/// An empty histogram of microseconds, from 1 µs to [`HIST_MAX_US`].
pub(super) fn histogram() -> Histogram<u64> {
    // Bounds are refused only when low < 1, high < 2 * low or sigfig > 5:
    // 1, HIST_MAX_US and HIST_SIGFIG are none of these.
    Histogram::new_with_bounds(1, HIST_MAX_US, HIST_SIGFIG)
        .unwrap_or_else(|_| unreachable!("constant histogram bounds are valid"))
}

/// Microseconds from `t0` to `t` (0 if `t` is earlier).
pub(super) fn micros_since(t0: Instant, t: Instant) -> u64 {
    t.saturating_duration_since(t0).as_micros() as u64
}

impl Cluster {
    /// W1: `from` broadcasts a 256-byte text `count` times, one at a time;
    /// each is timed until the last other node delivers it, and the network
    /// is let go quiet (its duplicates drained) before the next.
    pub async fn broadcast_latency(
        &mut self,
        from: usize,
        count: u32,
        progress: &dyn Progress,
    ) -> ClusterReport {
        let others = self.nodes.len() as u64 - 1;
        let (mut times, mut latency) = (histogram(), histogram());
        let mut curves = Vec::new();
        self.clear_tallies();
        let mark = self.mark().await;
        let mut deliveries = 0u64;
        progress.stage("broadcasting", u64::from(count));
        for k in 0..count {
            let t0 = Instant::now();
            let Ok(id) = self.nodes[from].broadcast(text(u64::from(k))).await else {
                break;
            };
            let deadline = Instant::now() + BROADCAST_DEADLINE;
            let (got, last) = loop {
                let (got, last) = self.progress(id);
                if got >= others || Instant::now() > deadline {
                    break (got, last);
                }
                tokio::time::sleep(POLL).await;
            };
            deliveries += got;
            if let (true, Some(last)) = (got == others, last) {
                times.saturating_record(micros_since(t0, last));
            }
            let mut offsets: Vec<f64> = self
                .deliveries_of(id)
                .into_iter()
                .map(|(_, at)| {
                    let us = micros_since(t0, at);
                    latency.saturating_record(us);
                    us as f64 / 1000.0
                })
                .collect();
            offsets.sort_by(f64::total_cmp);
            curves.push(Curve::from_offsets(
                format!("broadcast {k}"),
                &offsets,
                others,
            ));
            progress.advance(u64::from(k) + 1);
            self.settle().await;
        }
        let expected = others * u64::from(count);
        ClusterReport {
            broadcasts: u64::from(count),
            expected_deliveries: expected,
            delivery_ratio: ratio(deliveries, expected),
            time_to_all_ms: Percentiles::from_micros(&times),
            delivery_latency_ms: Percentiles::from_micros(&latency),
            delivery_curves: curves,
            ..self.measured(&mark, deliveries, "w1").await
        }
    }

    /// W2: every node broadcasts `per_node` 256-byte texts as fast as the API
    /// takes them; counts deliveries until all N × (N-1) × K are in (or 60 s).
    pub async fn throughput(&mut self, per_node: u32, progress: &dyn Progress) -> ClusterReport {
        let n = self.nodes.len() as u64;
        let expected = n * (n - 1) * u64::from(per_node);
        let text = text(0);
        self.clear_tallies();
        progress.stage("deliveries", expected);
        let mark = self.mark().await;
        for node in &self.nodes {
            let (node, text) = (node.clone(), text.clone());
            actix_rt::spawn(async move {
                for _ in 0..per_node {
                    if node.broadcast(text.clone()).await.is_err() {
                        return;
                    }
                }
            });
        }
        let deadline = Instant::now() + THROUGHPUT_DEADLINE;
        let mut deliveries = self.total();
        while deliveries < expected && Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
            deliveries = self.total();
            progress.advance(deliveries);
        }
        let report = self.measured(&mark, deliveries, "w2").await;
        ClusterReport {
            broadcasts: n * u64::from(per_node),
            expected_deliveries: expected,
            delivery_ratio: ratio(deliveries, expected),
            deliveries_per_s: Some(deliveries as f64 / report.run_s.max(1e-9)),
            ..report
        }
    }
}
