//! W5 (catch-up after absence) on a running in-memory `Cluster`: node 0 broadcasts on a beat while a share of the others are cut off (links closed or silent) and healed, or restarted with their history, or the sender stops at the heal.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::measure::{ns_since, Sent};
use super::{launch, lock, node_identity, Cluster, Stop, Transport, POLL, SETUP_POLL};
use crate::proto::{Frame, Metrics, PeerAddr};
use crate::sim::progress::Progress;
use crate::sim::reach::Bitset;
use crate::sim::report::Report;
use crate::sim::w5::{
    add_catchup, fill_from, W5Variant, W5_CUT_AT, W5_CUT_FOR, W5_DURATION, W5_INTERVAL, W5_SETTLE,
};
use crate::sim::workload::{text, victims, CHURN_SALT};
use crate::sim::SimError;
use crate::transport::Cut;
use crate::{Node, NodeHandle};

/// `restart`: the longest the cut-off nodes may take to drop their peers before their history is read.
const ISOLATE_DEADLINE: Duration = Duration::from_secs(2);

/// W5's clock on the cluster, where time is the wall's: BENCH.md's figures
/// ([`W5Timing::BENCH`]), or shorter ones for a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct W5Timing {
    /// Node 0 broadcasts this often...
    pub interval: Duration,
    /// ...for this long (until the heal in `quiet`).
    pub duration: Duration,
    /// The cut starts this long after the first broadcast...
    pub cut_at: Duration,
    /// ...and lasts this long.
    pub cut_for: Duration,
    /// After the last broadcast and the heal, the longest the run waits for
    /// every node to have every broadcast (it ends as soon as they do).
    pub settle: Duration,
}

impl W5Timing {
    /// BENCH.md's W5: every 50 ms for 20 s, 30% cut off from 5 s to 15 s, 40 s to settle.
    pub const BENCH: W5Timing = W5Timing {
        interval: W5_INTERVAL,
        duration: W5_DURATION,
        cut_at: W5_CUT_AT,
        cut_for: W5_CUT_FOR,
        settle: W5_SETTLE,
    };

    /// Broadcasts `variant` sends: one per interval, for the whole run or until the heal (`quiet`).
    pub fn broadcasts(&self, variant: W5Variant) -> u64 {
        let span = match variant {
            W5Variant::Quiet => self.cut_at + self.cut_for,
            _ => self.duration,
        };
        (span.as_millis() / self.interval.as_millis().max(1)) as u64
    }
}

impl Cluster {
    /// W5 on an in-memory cluster: node 0 broadcasts every `timing.interval`
    /// while the share of the other nodes `variant` names (drawn from
    /// `seed` as the model draws them) is cut off from `cut_at` for
    /// `cut_for`: their links to the rest close (`closed`, `quiet`: the
    /// sender stops at the heal) or lose every frame (`silent`), or they
    /// stop and start again at the heal with their history (`restart`). After the
    /// heal the run waits until every node has every broadcast (or
    /// `timing.settle` passes). The report has W5's fields: delivery over
    /// all nodes, catch-up after the heal, catch-up bytes per caught-up message.
    pub async fn w5(
        &mut self,
        variant: W5Variant,
        seed: u64,
        timing: W5Timing,
        progress: &dyn Progress,
    ) -> Result<Report, SimError> {
        if self.transport != Transport::Memory {
            return Err(SimError::Params(
                "w5 on the cluster needs --transport memory (it partitions the in-memory network)"
                    .into(),
            ));
        }
        let n = self.nodes.len() as u32;
        let mut rng = StdRng::seed_from_u64(seed ^ CHURN_SALT);
        let affected = victims(&mut rng, n, variant.affected_pct());
        let mut in_cut = vec![false; n as usize];
        affected.iter().for_each(|&v| in_cut[v as usize] = true);
        let outside = Bitset::from_fn(n as usize, |i| !in_cut[i]);
        let cut_addrs: Vec<PeerAddr> = affected
            .iter()
            .map(|&v| self.nodes[v as usize].advertised_addr().clone())
            .collect();
        let count = timing.broadcasts(variant);
        let mut sent: Vec<Sent> = Vec::with_capacity(count as usize);
        self.clear_tallies();
        progress.stage("broadcasting", count);
        let mark = self.mark().await;
        let t0 = mark.at;
        let (cut_at, heal_at) = (t0 + timing.cut_at, t0 + timing.cut_at + timing.cut_for);
        let mut faults = Faults {
            variant,
            cut_at,
            heal_at,
            addrs: &cut_addrs,
            affected: &affected,
            phase: Phase::Before,
            crashes: None,
        };
        for k in 0..count {
            let send_at = t0 + timing.interval * k as u32;
            self.w5_faults(&mut faults, send_at).await?;
            tokio::time::sleep_until(send_at.into()).await;
            let running = if faults.phase == Phase::Cut {
                outside.clone()
            } else {
                self.running()
            };
            let reach = self.reachable(0, &running);
            let at = Instant::now();
            if let Ok(id) = self.nodes[0].broadcast(text(k)).await {
                sent.push(Sent {
                    id,
                    sender: 0,
                    at,
                    reach,
                });
            }
            progress.advance(k + 1);
        }
        // The heal, when the last broadcast came before it (`quiet`).
        self.w5_faults(&mut faults, heal_at).await?;
        let want = sent.len() as u64 * u64::from(n - 1);
        progress.stage("catching up", want);
        let deadline = Instant::now().max(heal_at) + timing.settle;
        loop {
            let got = self.total();
            progress.advance(got.min(want));
            if got >= want || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(SETUP_POLL).await;
        }
        self.settle().await;
        self.drain_deferred().await;
        let phase = self.phase(&mark).await;
        let heal_ns = ns_since(t0, heal_at);
        let log = self.log_watching(&sent, t0, Some(heal_ns));
        let mut report = self.report(&phase, &log, "w5", count);
        report.run.churn_pct = variant.affected_pct();
        report.run.seed = Some(seed);
        let mut sum = Metrics::default();
        for m in self.metrics().await {
            add_catchup(&mut sum, &m);
        }
        // The restarted nodes' counters before they stopped.
        for s in lock(&self.stops).iter() {
            if let Some(m) = &s.last {
                add_catchup(&mut sum, m);
            }
        }
        if variant == W5Variant::Restart {
            report.traffic.nodes_stopped = affected.len() as u64;
        }
        fill_from(&log, &affected, heal_ns, &sum, &mut report.traffic);
        Ok(report)
    }

    /// Applies the cut and the heal due by `until` (waiting for their
    /// times), as far as the run is (`f.phase`).
    async fn w5_faults(&mut self, f: &mut Faults<'_>, until: Instant) -> Result<(), SimError> {
        if f.phase == Phase::Before && f.cut_at <= until {
            tokio::time::sleep_until(f.cut_at.into()).await;
            match f.variant {
                W5Variant::Silent => self.net.partition(f.addrs, Cut::Silent),
                W5Variant::Restart => f.crashes = Some(self.crash(f.affected, f.addrs)),
                W5Variant::Closed | W5Variant::Quiet => self.net.partition(f.addrs, Cut::Closed),
            }
            f.phase = Phase::Cut;
        }
        if f.phase == Phase::Cut && f.heal_at <= until {
            tokio::time::sleep_until(f.heal_at.into()).await;
            self.net.heal();
            if let Some(crashes) = f.crashes.take() {
                let held = crashes
                    .await
                    .map_err(|_| SimError::Setup("a crash task failed".into()))?;
                self.restart(held).await?;
            }
            f.phase = Phase::Healed;
        }
        Ok(())
    }

    /// W5 `restart`, at the cut: the `affected` nodes (listening on
    /// `addrs`) are cut off alone at once (so they take in nothing more), and
    /// in the background, once each has dropped its peers and let its held
    /// back messages go, their history is read (as a database would hold
    /// it), their counters kept, and they shut down. The task's answer is
    /// what [`Cluster::restart`] needs.
    fn crash(&mut self, affected: &[u32], addrs: &[PeerAddr]) -> tokio::task::JoinHandle<Held> {
        self.net.partition(addrs, Cut::Isolated);
        let nodes: Vec<(u32, NodeHandle)> = affected
            .iter()
            .map(|&v| (v, self.nodes[v as usize].clone()))
            .collect();
        affected.iter().for_each(|&v| {
            self.stopped.set(v);
        });
        let stops = self.stops.clone();
        let holdback = self.config.history.holdback;
        actix_rt::spawn(async move {
            let deadline = Instant::now() + ISOLATE_DEADLINE;
            loop {
                let asks = nodes.iter().map(|(_, node)| node.metrics());
                let peers: u64 = futures_util::future::join_all(asks)
                    .await
                    .into_iter()
                    .filter_map(Result::ok)
                    .map(|m| m.peers)
                    .sum();
                if peers == 0 || Instant::now() >= deadline {
                    break;
                }
                tokio::time::sleep(POLL).await;
            }
            // A message held back for a gap is in the store before it is delivered.
            tokio::time::sleep(holdback + POLL).await;
            let mut held = Vec::with_capacity(nodes.len());
            for (v, node) in &nodes {
                let frames = node.held_history().await.unwrap_or_default();
                let last = node.metrics().await.ok();
                lock(&stops).push(Stop {
                    node: *v,
                    at: Instant::now(),
                    last,
                });
                held.push((*v, frames));
            }
            let shutdowns = nodes.iter().map(|(_, node)| node.shutdown());
            futures_util::future::join_all(shutdowns).await;
            held
        })
    }

    /// W5 `restart`, at the heal: each crashed node starts again where it
    /// listened, with its key and the history it `held`, and dials its
    /// topology targets (as the model's restart does).
    async fn restart(&mut self, held: Held) -> Result<(), SimError> {
        let mut pending = Vec::with_capacity(held.len());
        for (v, frames) in held {
            let builder = Node::builder(format!("n{v}"))
                .config(self.config.clone())
                .identity(node_identity(v))
                .memory(&self.net)
                .listen(self.nodes[v as usize].advertised_addr())
                .restore_history(frames);
            let k = v as usize % self.arbiters.len();
            pending.push((
                v,
                launch(&self.arbiters[k], self.tallies[k].clone(), v, builder)?,
            ));
        }
        let mut restarted: Vec<u32> = Vec::with_capacity(pending.len());
        for (v, p) in pending {
            let node = p
                .await
                .map_err(|_| SimError::Setup("a node's arbiter dropped it".into()))?
                .map_err(|e| SimError::Setup(format!("n{v} did not restart: {e}")))?;
            self.nodes[v as usize] = node;
            restarted.push(v);
        }
        self.stopped = Bitset::new(self.nodes.len());
        restarted.sort_unstable();
        let joins = self
            .edges
            .iter()
            .filter(|(a, _)| restarted.binary_search(a).is_ok())
            .map(|&(a, b)| {
                let to = self.nodes[b as usize].advertised_addr().to_string();
                self.nodes[a as usize].join(to)
            });
        for joined in futures_util::future::join_all(joins).await {
            joined.map_err(|e| SimError::Setup(format!("join: {e}")))?;
        }
        Ok(())
    }
}

/// What each crashed node held in its history store, by node.
type Held = Vec<(u32, Vec<Frame>)>;

/// The faults of one W5 run, and how far it is.
struct Faults<'a> {
    variant: W5Variant,
    cut_at: Instant,
    heal_at: Instant,
    /// The affected nodes, and where they listen.
    affected: &'a [u32],
    addrs: &'a [PeerAddr],
    phase: Phase,
    /// `restart`: the crash task (see [`Cluster::crash`]), until the heal.
    crashes: Option<tokio::task::JoinHandle<Held>>,
}

/// How far a W5 run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the cut.
    Before,
    /// Cut off.
    Cut,
    /// After the heal.
    Healed,
}
