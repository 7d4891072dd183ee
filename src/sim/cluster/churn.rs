//! W4 (churn) on a running `Cluster`: node 0 broadcasts on a fixed beat while a share of the others stop.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::measure::Sent;
use super::{lock, Cluster, Stop, SETUP_POLL};
use crate::sim::deliveries::{histogram, micros};
use crate::sim::progress::Progress;
use crate::sim::report::{Percentiles, Report};
use crate::sim::workload::{text, victims, CHURN_SALT, W4_INTERVAL};
use crate::sim::SimError;

/// After the last broadcast, how long the run waits for deliveries still on their way.
pub const W4_DRAIN: Duration = Duration::from_secs(2);

impl Cluster {
    /// W4: node 0 broadcasts every [`W4_INTERVAL`] for `duration` (BENCH.md:
    /// [`W4_DURATION`](crate::sim::workload::W4_DURATION)) while
    /// `churn_pct` percent of the other nodes stop at random times (drawn from
    /// `seed`). A stopped node shuts down (its sockets close), as a process
    /// that exits would. Deliveries count against the nodes running and
    /// connected to node 0 when each message was sent.
    pub async fn churn(
        &mut self,
        churn_pct: f64,
        seed: u64,
        duration: Duration,
        progress: &dyn Progress,
    ) -> Result<Report, SimError> {
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
                    self.stop_node(v);
                }
                _ => {
                    tokio::time::sleep_until((t0 + next_send).into()).await;
                    let reach = self.reachable(0, &self.running());
                    let at = Instant::now();
                    if let Ok(id) = self.nodes[0].broadcast(text(u64::from(k))).await {
                        let sender = 0;
                        sent.push(Sent {
                            id,
                            sender,
                            at,
                            reach,
                        });
                    }
                    k += 1;
                    progress.advance(u64::from(k));
                }
            }
        }
        // Late stops (drawn after the last send) still happen, inside the run.
        for (at, v) in stops {
            tokio::time::sleep_until((t0 + at).into()).await;
            self.stop_node(v);
        }
        self.drain(&sent, victims.len()).await;
        let phase = self.phase(&mark).await;
        let log = self.log(&sent, t0);
        let mut report = self.report(&phase, &log, "w4", u64::from(count));
        report.run.churn_pct = churn_pct;
        report.run.seed = Some(seed);
        report.traffic.dead_peer_drop_ms = self.dead_peer_drops();
        Ok(report)
    }

    /// Starts shutting node `v` down, without waiting for it: it is taken
    /// out of the running set now, and its counters are read just before
    /// the shutdown begins (see [`Stop`]).
    fn stop_node(&mut self, v: usize) {
        self.stopped.set(v as u32);
        let node = self.nodes[v].clone();
        let stops = self.stops.clone();
        actix_rt::spawn(async move {
            let last = node.metrics().await.ok();
            let at = Instant::now();
            let node_id = v as u32;
            lock(&stops).push(Stop {
                node: node_id,
                at,
                last,
            });
            let _ = node.shutdown().await;
        });
    }

    /// Per running node that dropped a stopped peer after it began shutting
    /// down: how long that took.
    fn dead_peer_drops(&self) -> Option<Percentiles> {
        let mut stopped_at = vec![None; self.nodes.len()];
        for s in lock(&self.stops).iter() {
            stopped_at[s.node as usize] = Some(s.at);
        }
        let mut drops = Vec::new();
        for t in &self.tallies {
            t.drops(&mut drops);
        }
        let mut h = histogram();
        for (node, peer, at) in drops {
            let dead_since = stopped_at.get(peer as usize).copied().flatten();
            if let (false, Some(since)) = (self.stopped.get(node), dead_since) {
                if at >= since {
                    h.saturating_record(micros(at.duration_since(since).as_nanos() as u64));
                }
            }
        }
        Percentiles::from_micros(&h)
    }

    /// Waits until every stopped node's counters are in and every running
    /// node connected at send has every message, or [`W4_DRAIN`] passes.
    async fn drain(&self, sent: &[Sent], stopped: usize) {
        let deadline = Instant::now() + W4_DRAIN;
        let running = self.running();
        let want: u64 = sent
            .iter()
            .map(|s| s.reach.count_and(&[&running]))
            .sum::<u64>()
            - sent
                .iter()
                .filter(|s| running.get(s.sender) && s.reach.get(s.sender))
                .count() as u64;
        while Instant::now() < deadline {
            let have: u64 = sent
                .iter()
                .map(|s| {
                    self.deliveries_of(s.id)
                        .iter()
                        .filter(|(i, _)| running.get(*i) && s.reach.get(*i))
                        .count() as u64
                })
                .sum();
            if have >= want && lock(&self.stops).len() >= stopped {
                return;
            }
            tokio::time::sleep(SETUP_POLL).await;
        }
    }
}
