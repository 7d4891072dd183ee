//! W5 (catch-up after absence) on the cluster engine: real actors on a partitioned in-memory network, one test per variant, on a short clock.

use std::time::Duration;

use peerchat::config::SigConfig;
use peerchat::sim::cluster::{Cluster, Transport, W5Timing};
use peerchat::sim::w5::W5Variant;
use peerchat::sim::{NoProgress, Report, Topology};
use peerchat::NodeConfig;

/// Nodes in each test.
const NODES: u32 = 40;

/// W5 on a shorter clock: every 50 ms for 5.5 s, the cut from 0.5 s for
/// 4.5 s (longer than the 3 s peer timeout, for `silent`).
const TIMING: W5Timing = W5Timing {
    interval: Duration::from_millis(50),
    duration: Duration::from_millis(5500),
    cut_at: Duration::from_millis(500),
    cut_for: Duration::from_millis(4500),
    settle: Duration::from_secs(15),
};

/// Runs `variant` on 40 in-memory nodes (random graph of degree 8) with
/// W5's keep-alive (1 s, peer timeout 3 s) and redials scaled to the short
/// clock, unsigned as `peerchat sim` runs them without `--crypto`.
async fn run(variant: W5Variant) -> Report {
    let topology = Topology::random(NODES, 8, 42).unwrap();
    let mut config = NodeConfig {
        redial_base: Duration::from_millis(100),
        sig: SigConfig {
            sign: false,
            ..SigConfig::default()
        },
        ..NodeConfig::default()
    };
    peerchat::sim::w5::tune(&mut config);
    let mut cluster = Cluster::start(&topology, Transport::Memory, 2, config, &NoProgress)
        .await
        .unwrap();
    let report = cluster.w5(variant, 42, TIMING, &NoProgress).await.unwrap();
    println!("{report}");
    cluster.shutdown().await;
    report
}

/// What every variant must show: every node has every broadcast, once, and
/// the cut-off nodes got what they missed by pull.
fn check(report: &Report, variant: W5Variant) {
    assert_eq!(report.run.workload, "w5");
    assert!(report.passed(), "{report}");
    assert_eq!(report.deliveries.duplicates_delivered, 0, "{report}");
    assert_eq!(report.traffic.delivery_overall, Some(1.0), "{report}");
    assert_eq!(
        report.deliveries.broadcasts_sent,
        TIMING.broadcasts(variant),
        "{report}"
    );
    assert!(report.traffic.caught_up.unwrap_or(0) > 0, "{report}");
    let after_heal = report
        .traffic
        .catchup_after_heal_ms
        .as_ref()
        .expect("catch-up times of the cut-off nodes");
    let affected = (f64::from(NODES - 1) * variant.affected_pct() / 100.0).round() as u64;
    assert_eq!(after_heal.count, affected, "{report}");
}

/// `closed`: the cut-off nodes' links to the rest close; after the heal they
/// reconnect and pull what they missed: delivery 1.0, no duplicates.
#[actix_rt::test]
async fn w5_closed_delivers_everything_once() {
    check(&run(W5Variant::Closed).await, W5Variant::Closed);
}

/// `quiet`: as `closed`, but the sender stops at the heal, so only the
/// digests on the new links show the gap: delivery 1.0, no duplicates.
#[actix_rt::test]
async fn w5_quiet_delivers_everything_once() {
    check(&run(W5Variant::Quiet).await, W5Variant::Quiet);
}

/// `silent`: the links across lose every frame until the peers time out;
/// after the heal they reconnect and catch up: delivery 1.0, no duplicates.
#[actix_rt::test]
async fn w5_silent_delivers_everything_once() {
    check(&run(W5Variant::Silent).await, W5Variant::Silent);
}

/// `restart`: 20% of the nodes stop at the cut and start again at the heal
/// with the history they held: each (node, message) pair counts once across
/// the restart, and delivery is 1.0.
#[actix_rt::test]
async fn w5_restart_delivers_everything_once() {
    let report = run(W5Variant::Restart).await;
    check(&report, W5Variant::Restart);
    assert_eq!(report.traffic.nodes_stopped, 8, "{report}");
}
