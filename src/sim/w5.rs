//! W5 on the model: catch-up after absence. Node 0 broadcasts every 50 ms for 20 s while 30% of the nodes are cut off for 10 s in the middle (links closed, links silent, or 20% of the nodes down and restarted with their history; or the sender stops at the heal).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::deliveries::{histogram, micros, DeliveryLog};
use super::network::Network;
use super::node::nanos;
use super::report::{per_delivery, Percentiles, Traffic};
use super::workload::text;
use super::{Fault, SimError};
use crate::config::NodeConfig;
use crate::proto::Metrics;

/// W5: node 0 broadcasts this often...
pub const W5_INTERVAL: Duration = Duration::from_millis(50);
/// ...for this long.
pub const W5_DURATION: Duration = Duration::from_secs(20);
/// The cut starts this long after the first broadcast...
pub const W5_CUT_AT: Duration = Duration::from_secs(5);
/// ...and lasts this long (then the heal).
pub const W5_CUT_FOR: Duration = Duration::from_secs(10);
/// Share of the nodes other than the sender cut off, in percent.
pub const W5_CUT_PCT: f64 = 30.0;
/// Share of the nodes other than the sender down and restarted (`restart`), in percent.
pub const W5_RESTART_PCT: f64 = 20.0;
/// Virtual time the run goes on after the last broadcast, for catch-up to
/// finish (longer than one `digest_interval`, so a periodic round is in it).
pub const W5_SETTLE: Duration = Duration::from_secs(40);
/// W5's keep-alive probe interval: a silent link must be noticed within the run.
pub const W5_PING_INTERVAL: Duration = Duration::from_secs(1);
/// W5's peer timeout: shorter than the cut, so a silent link times out during it.
pub const W5_PEER_TIMEOUT: Duration = Duration::from_secs(3);

/// How W5 cuts nodes off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum W5Variant {
    /// The cut-off nodes' links to the rest close (both sides see it).
    #[default]
    Closed,
    /// Their links to the rest silently drop every frame (longer than
    /// `peer_timeout`, so the peers time out).
    Silent,
    /// 20% of the nodes crash and restart at the heal, keeping their history.
    Restart,
    /// Links closed, and the sender stops at the heal: no later message
    /// shows the gap; only digests do.
    Quiet,
}

impl FromStr for W5Variant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "closed" => Ok(W5Variant::Closed),
            "silent" => Ok(W5Variant::Silent),
            "restart" => Ok(W5Variant::Restart),
            "quiet" => Ok(W5Variant::Quiet),
            _ => Err(format!(
                "unknown w5 variant {s:?}: expected closed, silent, restart or quiet"
            )),
        }
    }
}

impl fmt::Display for W5Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            W5Variant::Closed => "closed",
            W5Variant::Silent => "silent",
            W5Variant::Restart => "restart",
            W5Variant::Quiet => "quiet",
        })
    }
}

impl W5Variant {
    /// Share of the others this variant takes away, in percent.
    pub fn affected_pct(self) -> f64 {
        match self {
            W5Variant::Restart => W5_RESTART_PCT,
            _ => W5_CUT_PCT,
        }
    }

    /// Broadcasts it sends: one per interval for the whole run, or until the heal (`quiet`).
    pub fn broadcasts(self) -> u64 {
        let span = match self {
            W5Variant::Quiet => W5_CUT_AT + W5_CUT_FOR,
            _ => W5_DURATION,
        };
        (span.as_millis() / W5_INTERVAL.as_millis()) as u64
    }
}

/// W5's node configuration: keep-alive on, so silent links are noticed.
pub fn tune(config: &mut NodeConfig) {
    config.ping_interval = W5_PING_INTERVAL;
    config.peer_timeout = W5_PEER_TIMEOUT;
}

/// Runs W5 on a connected network, cutting off `affected` (drawn by the
/// caller); returns the wall µs per broadcast and the heal's virtual time
/// (W5's fields of the report come from [`fill`]).
pub(super) fn run(
    net: &mut Network,
    variant: W5Variant,
    broadcasts: u64,
    affected: &[u32],
) -> Result<(Histogram<u64>, Duration), SimError> {
    let started = std::time::Instant::now();
    let n = net.len();
    let t0 = net.now();
    let (cut, heal) = (t0 + W5_CUT_AT, t0 + W5_CUT_AT + W5_CUT_FOR);
    net.tracker.log.watch_sent_before(nanos(heal));
    for k in 0..broadcasts {
        net.schedule_broadcast(t0 + W5_INTERVAL * k as u32, 0, text(k));
    }
    let mut groups = vec![0u32; n as usize];
    for &v in affected {
        groups[v as usize] = 1;
    }
    match variant {
        W5Variant::Closed | W5Variant::Quiet => {
            net.schedule_fault(cut, Fault::Partition(groups));
            net.schedule_fault(heal, Fault::Heal);
        }
        W5Variant::Silent => {
            net.schedule_fault(cut, Fault::Silence(groups));
            net.schedule_fault(heal, Fault::Heal);
        }
        W5Variant::Restart => {
            for &v in affected {
                net.schedule_fault(cut, Fault::Crash(v));
                net.schedule_fault(heal, Fault::Restart(v));
            }
        }
    }
    let end = t0 + W5_INTERVAL * broadcasts as u32;
    net.run_until(end.max(heal));
    net.run_for(W5_SETTLE);
    net.run_until_idle()?;
    let each = started.elapsed().as_micros() as u64 / broadcasts.max(1);
    let mut walls = histogram();
    if broadcasts > 0 {
        walls.saturating_record_n(each, broadcasts);
    }
    Ok((walls, heal))
}

/// W5's report fields: delivery over all nodes, catch-up time of the
/// affected nodes after `heal`, and catch-up bytes per caught-up message.
pub(super) fn fill(net: &Network, affected: &[u32], heal: Duration, traffic: &mut Traffic) {
    let mut sum = Metrics::default();
    for i in 0..net.len() {
        if let Some(m) = net.node(i).map(|s| s.metrics()) {
            add_catchup(&mut sum, &m);
        }
    }
    fill_from(&net.tracker.log, affected, nanos(heal), &sum, traffic);
}

/// Adds `m`'s catch-up counters (caught up; digest, summary and catch-up bytes) to `sum`.
pub(super) fn add_catchup(sum: &mut Metrics, m: &Metrics) {
    sum.caught_up += m.caught_up;
    sum.digest_bytes += m.digest_bytes;
    sum.summary_bytes += m.summary_bytes;
    sum.catchup_bytes += m.catchup_bytes;
}

/// W5's report fields from a delivery log that watched the broadcasts sent
/// before `heal_ns` and the nodes' catch-up counters summed (`sum`): the
/// same on both engines.
pub(super) fn fill_from(
    log: &DeliveryLog,
    affected: &[u32],
    heal_ns: u64,
    sum: &Metrics,
    traffic: &mut Traffic,
) {
    let (got, want) = log.overall();
    traffic.delivery_overall = Some(if want == 0 {
        1.0
    } else {
        got as f64 / want as f64
    });
    let mut times = histogram();
    for &v in affected {
        let settled = log.settled_ns().get(v as usize).copied().unwrap_or(0);
        times.saturating_record(micros(settled.saturating_sub(heal_ns)));
    }
    traffic.catchup_after_heal_ms = Percentiles::from_micros(&times);
    traffic.caught_up = Some(sum.caught_up);
    traffic.digest_bytes_per_caught_up = Some(per_delivery(sum.digest_bytes, sum.caught_up));
    traffic.summary_bytes_per_caught_up = Some(per_delivery(sum.summary_bytes, sum.caught_up));
    traffic.catchup_bytes_per_caught_up = Some(per_delivery(sum.catchup_bytes, sum.caught_up));
}
