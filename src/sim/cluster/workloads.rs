//! W1 (broadcast latency) and W2 (throughput) on a running `Cluster`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::measure::Sent;
use super::{lock, Cluster, POLL};
use crate::proto::MessageId;
use crate::sim::progress::Progress;
use crate::sim::reach::Bitset;
use crate::sim::report::Report;
use crate::sim::workload::{text, Sender, SENDER_SALT};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// How long one broadcast may take to reach every node before it counts as incomplete.
pub const BROADCAST_DEADLINE: Duration = Duration::from_secs(30);
/// W2's cap on the whole run (BENCH.md: 60 s).
pub const THROUGHPUT_DEADLINE: Duration = Duration::from_secs(60);

impl Cluster {
    /// W1: `from` broadcasts a 256-byte text `count` times, one at a time;
    /// each is timed until the last node connected to `from` delivers it (or
    /// [`BROADCAST_DEADLINE`] passes), and the network is let go quiet (its
    /// duplicates drained) before the next.
    pub async fn broadcast_latency(
        &mut self,
        from: usize,
        count: u32,
        progress: &dyn Progress,
    ) -> Report {
        let sender = Sender::Node(from as u32);
        self.broadcast_latency_from(sender, 0, count, progress)
            .await
    }

    /// W1 with the sender of each broadcast drawn by `sender` (seeded by `seed`).
    pub async fn broadcast_latency_from(
        &mut self,
        sender: Sender,
        seed: u64,
        count: u32,
        progress: &dyn Progress,
    ) -> Report {
        let mut senders = StdRng::seed_from_u64(seed ^ SENDER_SALT);
        let mut first = None;
        let running = self.running();
        let mut sent = Vec::with_capacity(count as usize);
        self.clear_tallies();
        let mark = self.mark().await;
        progress.stage("broadcasting", u64::from(count));
        for k in 0..count {
            let sender = sender.pick(&mut senders, self.nodes.len() as u32);
            let reach = self.reachable(sender, &running);
            let expected = reach.count() - u64::from(reach.get(sender));
            let at = Instant::now();
            let node = &self.nodes[sender as usize];
            let Ok(id) = node.broadcast(text(u64::from(k))).await else {
                break;
            };
            let deadline = Instant::now() + BROADCAST_DEADLINE;
            while self.delivered_count(id) < expected && Instant::now() <= deadline {
                tokio::time::sleep(POLL).await;
            }
            sent.push(Sent {
                id,
                sender,
                at,
                reach,
            });
            progress.advance(u64::from(k) + 1);
            self.settle().await;
            if k == 0 {
                first = Some((self.counts().await, self.delivered_count(id)));
            }
        }
        self.drain_deferred().await;
        let phase = self.phase(&mark).await;
        let log = self.log(&sent, mark.at);
        let mut report = self.report(&phase, &log, "w1", u64::from(count));
        report.run.sender = sender.to_string();
        if let Some(first) = first {
            Cluster::after_first(&mut report, &phase, &mark, first);
        }
        report
    }

    /// W2: every node broadcasts `per_node` 256-byte texts as fast as the API
    /// takes them; counts deliveries until all N × (N-1) × K are in (or 60 s).
    pub async fn throughput(&mut self, per_node: u32, progress: &dyn Progress) -> Report {
        let n = self.nodes.len() as u64;
        let expected = n * (n - 1) * u64::from(per_node);
        let text = text(0);
        let sends: Arc<Mutex<Vec<(u32, Instant, MessageId)>>> = Arc::default();
        self.clear_tallies();
        progress.stage("deliveries", expected);
        let mark = self.mark().await;
        for (i, node) in self.nodes.iter().enumerate() {
            let (node, text, sends) = (node.clone(), text.clone(), sends.clone());
            actix_rt::spawn(async move {
                let mut mine = Vec::with_capacity(per_node as usize);
                for _ in 0..per_node {
                    let at = Instant::now();
                    let Ok(id) = node.broadcast(text.clone()).await else {
                        break;
                    };
                    mine.push((i as u32, at, id));
                }
                // One lock per node, once its broadcasts are all handed over.
                lock(&sends).extend(mine);
            });
        }
        let deadline = Instant::now() + THROUGHPUT_DEADLINE;
        let all_sent = n * u64::from(per_node);
        let mut deliveries = self.total();
        while (deliveries < expected || (lock(&sends).len() as u64) < all_sent)
            && Instant::now() < deadline
        {
            tokio::time::sleep(POLL).await;
            deliveries = self.total();
            progress.advance(deliveries);
        }
        let delivered_s = mark.at.elapsed().as_secs_f64();
        self.drain_deferred().await;
        let phase = self.phase(&mark).await;
        let running = self.running();
        let mut reach_of: Vec<Option<Bitset>> = vec![None; self.nodes.len()];
        let sends = std::mem::take(&mut *lock(&sends));
        let mut sent = Vec::with_capacity(sends.len());
        for (sender, at, id) in sends {
            let reach = reach_of[sender as usize]
                .get_or_insert_with(|| self.reachable(sender, &running))
                .clone();
            sent.push(Sent {
                id,
                sender,
                at,
                reach,
            });
        }
        let log = self.log(&sent, mark.at);
        let mut report = self.report(&phase, &log, "w2", u64::from(per_node));
        // The rate is over the time the deliveries took, not the drain after.
        report.wall.deliveries_per_s =
            Some(report.deliveries.deliveries as f64 / delivered_s.max(1e-9));
        report
    }
}
