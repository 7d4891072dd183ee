//! What a cluster run measured, made into the shared `Report`: the measured phase's traffic, CPU and memory, and the `DeliveryLog` built from the tallies.

use std::collections::HashMap;
use std::time::Instant;

use super::{lock, Cluster, POLL, SETTLE_DEADLINE};
use crate::proto::{MessageId, Metrics};
use crate::sim::deliveries::DeliveryLog;
use crate::sim::memory;
use crate::sim::reach::Bitset;
use crate::sim::report::{
    cpu_ms_per_delivery, per_delivery, KindCounts, Report, Run, Traffic, Wall,
};

/// Where a measured phase started.
pub(super) struct Mark {
    counts: Counts,
    /// Process CPU seconds then.
    cpu: Option<f64>,
    /// The phase's start: the delivery log's times are nanoseconds since it.
    pub(super) at: Instant,
}

/// What the measured phase since a [`Mark`] took, read as it ends (before
/// the delivery log is built, which is not part of it).
pub(super) struct Phase {
    run_s: f64,
    /// Process CPU seconds it took.
    cpu_s: Option<f64>,
    /// The counters' growth over it.
    frames_out: u64,
    bytes_out: u64,
    frames_in: u64,
    kinds: KindCounts,
}

/// Counters summed over the nodes.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Counts {
    pub(super) frames_out: u64,
    pub(super) bytes_out: u64,
    pub(super) frames_in: u64,
    /// Frames by kind.
    pub(super) kinds: KindCounts,
}

impl Counts {
    fn add(self, m: &Metrics) -> Counts {
        Counts {
            frames_out: self.frames_out + m.frames_out,
            bytes_out: self.bytes_out + m.bytes_out,
            frames_in: self.frames_in + m.frames_in,
            kinds: KindCounts {
                payload_sent: self.kinds.payload_sent + m.broadcast_frames_out,
                control_sent: self.kinds.control_sent + m.ihave_sent + m.graft_sent + m.prune_sent,
                payload_received: self.kinds.payload_received + m.deliveries + m.duplicates_dropped,
                grafts: self.kinds.grafts + m.graft_sent,
                prunes: self.kinds.prunes + m.prune_sent,
                ids_rate_limited: self.kinds.ids_rate_limited + m.ids_rate_limited,
            },
        }
    }
}

/// One broadcast a workload sent.
pub(super) struct Sent {
    pub(super) id: MessageId,
    pub(super) sender: u32,
    /// Just before the `broadcast` call.
    pub(super) at: Instant,
    /// The running nodes connected to the sender then.
    pub(super) reach: Bitset,
}

/// Nanoseconds from `epoch` to `t` (0 if `t` is earlier).
pub(super) fn ns_since(epoch: Instant, t: Instant) -> u64 {
    t.saturating_duration_since(epoch).as_nanos() as u64
}

impl Cluster {
    /// The nodes' counters summed: the running nodes', asked now, and each
    /// stopped node's from just before it stopped.
    pub(super) async fn counts(&self) -> Counts {
        let running = self
            .metrics()
            .await
            .iter()
            .fold(Counts::default(), Counts::add);
        lock(&self.stops)
            .iter()
            .filter_map(|s| s.last.as_ref())
            .fold(running, Counts::add)
    }

    /// Waits (at most [`SETTLE_DEADLINE`]) until every frame sent has been
    /// received, or, on a network busy with keep-alives, until no node has
    /// taken in another copy of a broadcast between two looks: the flood's
    /// duplicates are drained, so the next measurement starts without them.
    pub(super) async fn settle(&self) {
        let deadline = Instant::now() + SETTLE_DEADLINE;
        let mut seen = None;
        while Instant::now() < deadline {
            let t = self.counts().await;
            // Copies of broadcasts taken in: first deliveries and duplicates.
            let copies = t.kinds.payload_received;
            if t.frames_in >= t.frames_out || seen == Some(copies) {
                return;
            }
            seen = Some(copies);
            tokio::time::sleep(POLL).await;
        }
    }

    /// In a tree, lets the announcements still deferred (the sweep) go out
    /// and settle, so the phase counts the whole run's traffic.
    pub(super) async fn drain_deferred(&self) {
        if self.broadcast == crate::config::BroadcastMode::Tree {
            tokio::time::sleep(self.deferred + POLL).await;
            self.settle().await;
        }
    }

    /// Marks the start of a measured phase.
    pub(super) async fn mark(&self) -> Mark {
        let counts = self.counts().await;
        Mark {
            counts,
            cpu: memory::cpu_seconds(),
            at: Instant::now(),
        }
    }

    /// Ends the measured phase that began at `mark`: its wall and CPU time
    /// and the traffic over it.
    pub(super) async fn phase(&self, mark: &Mark) -> Phase {
        let run_s = mark.at.elapsed().as_secs_f64();
        let cpu_s = memory::cpu_seconds().zip(mark.cpu).map(|(b, a)| b - a);
        let after = self.counts().await;
        Phase {
            run_s,
            cpu_s,
            frames_out: after.frames_out.saturating_sub(mark.counts.frames_out),
            bytes_out: after.bytes_out.saturating_sub(mark.counts.bytes_out),
            frames_in: after.frames_in.saturating_sub(mark.counts.frames_in),
            kinds: after.kinds.since(mark.counts.kinds),
        }
    }

    /// Sets the W1 report's "after the first" fields: the measured phase's
    /// traffic less what the first broadcast took (`first`: the counters
    /// after it settled, and its deliveries).
    pub(super) fn after_first(
        report: &mut Report,
        phase: &Phase,
        mark: &Mark,
        (first, first_deliveries): (Counts, u64),
    ) {
        let first_frames = first.frames_out.saturating_sub(mark.counts.frames_out);
        let first_kinds = first.kinds.since(mark.counts.kinds);
        let totals = (phase.frames_out, report.deliveries.deliveries);
        phase.kinds.fill_after_first(
            &mut report.traffic,
            totals,
            (first_frames, first_kinds, first_deliveries),
        );
    }

    /// The delivery log of `sent`, from what the tallies recorded, checked
    /// against the nodes running now: each node still connected to a
    /// broadcast's sender (over links between running nodes, which only ever
    /// went away during the run) must have delivered it.
    pub(super) fn log(&self, sent: &[Sent], epoch: Instant) -> DeliveryLog {
        self.log_watching(sent, epoch, None)
    }

    /// [`log`](Cluster::log), keeping per node its last first delivery of a
    /// broadcast sent before `watch_before` (W5: the heal, as ns since `epoch`).
    pub(super) fn log_watching(
        &self,
        sent: &[Sent],
        epoch: Instant,
        watch_before: Option<u64>,
    ) -> DeliveryLog {
        let mut log = DeliveryLog::new(self.nodes.len() as u32);
        if let Some(before) = watch_before {
            log.watch_sent_before(before);
        }
        for s in sent {
            log.sent(s.id, s.sender, ns_since(epoch, s.at), s.reach.clone());
        }
        for s in sent {
            for (node, at) in self.deliveries_of(s.id) {
                log.delivered(node, s.id, ns_since(epoch, at));
            }
        }
        for (id, node, at) in self.duplicates() {
            log.delivered(node, id, ns_since(epoch, at));
        }
        let running = self.running();
        let mut reach_now: HashMap<u32, Bitset> = HashMap::new();
        for (k, s) in sent.iter().enumerate() {
            let now = reach_now
                .entry(s.sender)
                .or_insert_with(|| self.reachable(s.sender, &running));
            log.check(k, Some(now), &running);
        }
        log
    }

    /// The report of a measured `phase` whose broadcasts `log` holds: the
    /// run, the deliveries, the traffic, wall and CPU time and memory.
    /// Fields only some workloads measure (W2's rate, W4's churn) are left
    /// for the workload to fill in.
    pub(super) fn report(
        &self,
        phase: &Phase,
        log: &DeliveryLog,
        workload: &str,
        broadcasts_asked: u64,
    ) -> Report {
        let deliveries = log.summary();
        let n = self.nodes.len() as u64;
        let (frames, bytes, run_s) = (phase.frames_out, phase.bytes_out, phase.run_s);
        let per = |x: u64| per_delivery(x, deliveries.deliveries);
        let cpu_ms_per_delivery = cpu_ms_per_delivery(phase.cpu_s, deliveries.deliveries);
        let mut report = Report {
            run: Run {
                engine: "cluster".into(),
                workload: workload.into(),
                transport: Some(self.transport),
                clock: "wall".into(),
                nodes: n,
                links: self.links(),
                mean_degree: 2.0 * self.links() as f64 / n.max(1) as f64,
                topology: self.topology.0.clone(),
                latency: None,
                seed: self.topology.1,
                broadcasts_asked,
                broadcast: self.broadcast.to_string(),
                sender: if workload == "w2" { "all" } else { "0" }.into(),
                churn_pct: 0.0,
            },
            traffic: Traffic {
                frames_sent: frames,
                bytes_sent: bytes,
                frames_per_delivery: per(frames),
                bytes_per_delivery: per(bytes),
                nodes_stopped: self.stopped.count(),
                dead_peer_drop_ms: None,
                events: None,
                setup_virtual_ms: None,
                end_virtual_ms: None,
                ..Traffic::default()
            },
            wall: Wall {
                threads: self.arbiters.len() as u64,
                setup_wall_ms: self.setup.as_secs_f64() * 1e3,
                run_wall_ms: run_s * 1e3,
                per_broadcast_wall_ms: None,
                events_per_s: None,
                frames_handled_per_s: phase.frames_in as f64 / run_s.max(1e-9),
                deliveries_per_s: None,
                cpu_ms_per_delivery,
                peak_rss_bytes: memory::peak_rss().unwrap_or(0),
                rss_per_node_bytes: memory::rss_per_node(self.rss_before, n),
            },
            delivery_curves: log.curves(),
            deliveries,
        };
        let (n_delivered, n_sent) = (
            report.deliveries.deliveries,
            report.deliveries.broadcasts_sent,
        );
        phase.kinds.fill(&mut report.traffic, n_delivered, n_sent);
        report
    }
}
