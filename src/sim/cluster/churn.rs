//! W4 (churn) on a running `Cluster`: node 0 broadcasts on a fixed beat while a share of the others stop.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::workloads::{histogram, micros_since};
use super::{Cluster, ClusterReport};
use crate::proto::MessageId;
use crate::sim::plot::Curve;
use crate::sim::progress::Progress;
use crate::sim::report::ratio;
use crate::sim::report::Percentiles;
use crate::sim::workload::{text, victims, CHURN_SALT, W4_INTERVAL};
use crate::sim::SimError;

/// After the last broadcast, how long the run waits for deliveries still on their way.
pub const W4_DRAIN: Duration = Duration::from_secs(2);

/// One W4 broadcast as the cluster follows it.
struct Sent {
    id: MessageId,
    at: Instant,
    /// Nodes alive and connected to the sender (through live nodes) when it was sent.
    reach: Vec<bool>,
}

impl Cluster {
    /// W4: node 0 broadcasts every [`W4_INTERVAL`] for `duration` (BENCH.md:
    /// [`W4_DURATION`](crate::sim::workload::W4_DURATION)) while
    /// `churn_pct` percent of the other nodes stop at random times (drawn from
    /// `seed`). A stopped node shuts down (its sockets close), as a process
    /// that exits would. Deliveries count against the nodes alive and
    /// connected to node 0 when each message was sent.
    pub async fn churn(
        &mut self,
        churn_pct: f64,
        seed: u64,
        duration: Duration,
        progress: &dyn Progress,
    ) -> Result<ClusterReport, SimError> {
        if !(0.0..=100.0).contains(&churn_pct) {
            return Err(SimError::Params(format!(
                "churn {churn_pct}% is not in 0..=100"
            )));
        }
        let n = self.nodes.len();
        let mut rng = StdRng::seed_from_u64(seed ^ CHURN_SALT);
        let victims = victims(&mut rng, n as u32, churn_pct);
        let mut stops: Vec<(Duration, usize)> = victims
            .iter()
            .map(|&v| (duration.mul_f64(rng.random::<f64>()), v as usize))
            .collect();
        stops.sort();
        let mut stops: VecDeque<(Duration, usize)> = stops.into();
        let count = (duration.as_millis() / W4_INTERVAL.as_millis()) as u32;
        let mut alive = vec![true; n];
        let mut stopped_at: Vec<Option<Instant>> = vec![None; n];
        let mut sent: Vec<Sent> = Vec::with_capacity(count as usize);
        self.clear_tallies();
        progress.stage("broadcasting", u64::from(count));
        let mark = self.mark().await;
        let t0 = mark.at;
        let mut k = 0;
        while k < count {
            let next_send = W4_INTERVAL * k;
            match stops.front() {
                Some(&(at, v)) if at <= next_send => {
                    stops.pop_front();
                    tokio::time::sleep_until((t0 + at).into()).await;
                    alive[v] = false;
                    stopped_at[v] = Some(self.stop_node(v));
                }
                _ => {
                    tokio::time::sleep_until((t0 + next_send).into()).await;
                    let reach = self.reachable(0, &alive);
                    let at = Instant::now();
                    if let Ok(id) = self.nodes[0].broadcast(text(u64::from(k))).await {
                        sent.push(Sent { id, at, reach });
                    }
                    k += 1;
                    progress.advance(u64::from(k));
                }
            }
        }
        // Late stops (drawn after the last send) still happen, inside the run.
        for (at, v) in stops {
            tokio::time::sleep_until((t0 + at).into()).await;
            alive[v] = false;
            stopped_at[v] = Some(self.stop_node(v));
        }
        self.drain(&sent, &alive).await;
        let report = self.measured(&mark, self.total(), "w4").await;

        let (mut expected, mut got, mut survivors, mut survivors_got) = (0u64, 0u64, 0u64, 0u64);
        let (mut times, mut latency) = (histogram(), histogram());
        let mut curves = Vec::with_capacity(sent.len());
        for (k, s) in sent.iter().enumerate() {
            let delivered = self.deliveries_of(s.id);
            let mut has = vec![None; n];
            for &(node, at) in &delivered {
                has[node as usize] = Some(at);
            }
            let (mut e, mut g, mut last) = (0u64, 0u64, s.at);
            let mut offsets = Vec::new();
            for i in (1..n).filter(|&i| s.reach[i]) {
                e += 1;
                survivors += u64::from(alive[i]);
                if let Some(at) = has[i] {
                    g += 1;
                    survivors_got += u64::from(alive[i]);
                    last = last.max(at);
                    latency.saturating_record(micros_since(s.at, at));
                    offsets.push(micros_since(s.at, at) as f64 / 1000.0);
                }
            }
            let complete_among_survivors = (1..n)
                .filter(|&i| s.reach[i] && alive[i])
                .all(|i| has[i].is_some());
            if complete_among_survivors {
                times.saturating_record(micros_since(s.at, last));
            }
            offsets.sort_by(f64::total_cmp);
            curves.push(Curve::from_offsets(format!("broadcast {k}"), &offsets, e));
            expected += e;
            got += g;
        }
        let mut drops = histogram();
        let mut all_drops = Vec::new();
        for t in &self.tallies {
            t.drops(&mut all_drops);
        }
        for (node, peer, at) in all_drops {
            let survivor = alive.get(node as usize).copied().unwrap_or(false);
            let dead_since = stopped_at.get(peer as usize).copied().flatten();
            if let (true, Some(since)) = (survivor, dead_since) {
                if at >= since {
                    drops.saturating_record(micros_since(since, at));
                }
            }
        }
        Ok(ClusterReport {
            broadcasts: sent.len() as u64,
            deliveries: got,
            expected_deliveries: expected,
            delivery_ratio: ratio(got, expected),
            delivery_ratio_survivors: Some(ratio(survivors_got, survivors)),
            time_to_all_ms: Percentiles::from_micros(&times),
            delivery_latency_ms: Percentiles::from_micros(&latency),
            churn_pct: Some(churn_pct),
            stopped: victims.len() as u64,
            dead_peer_drop_ms: Percentiles::from_micros(&drops),
            delivery_curves: curves,
            ..report
        })
    }

    /// Starts shutting node `v` down (without waiting for it); returns when.
    fn stop_node(&self, v: usize) -> Instant {
        let node = self.nodes[v].clone();
        actix_rt::spawn(async move {
            let _ = node.shutdown().await;
        });
        Instant::now()
    }

    /// Nodes reachable from `from` over the topology's links between live nodes.
    fn reachable(&self, from: usize, alive: &[bool]) -> Vec<bool> {
        let n = self.nodes.len();
        let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
        for &(a, b) in &self.edges {
            let (a, b) = (a as usize, b as usize);
            if alive[a] && alive[b] {
                adj[a].push(b);
                adj[b].push(a);
            }
        }
        let mut seen = vec![false; n];
        let mut queue = VecDeque::from([from]);
        seen[from] = alive[from];
        while let Some(x) = queue.pop_front() {
            for &y in &adj[x] {
                if !seen[y] {
                    seen[y] = true;
                    queue.push_back(y);
                }
            }
        }
        seen
    }

    /// Waits until every surviving expected node has every message, or [`W4_DRAIN`] passes.
    async fn drain(&self, sent: &[Sent], alive: &[bool]) {
        let deadline = Instant::now() + W4_DRAIN;
        let want: u64 = sent
            .iter()
            .map(|s| (1..alive.len()).filter(|&i| s.reach[i] && alive[i]).count() as u64)
            .sum();
        while Instant::now() < deadline {
            let have: u64 = sent
                .iter()
                .map(|s| {
                    self.deliveries_of(s.id)
                        .iter()
                        .filter(|(i, _)| alive[*i as usize] && s.reach[*i as usize])
                        .count() as u64
                })
                .sum();
            if have >= want {
                return;
            }
            tokio::time::sleep(super::SETUP_POLL).await;
        }
    }
}
