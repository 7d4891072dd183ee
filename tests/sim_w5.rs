//! W5 on the model at small N: after a cut (links closed, links silent, nodes restarted with their history, or a sender that stops at the heal) every node ends with every broadcast, once.

use peerchat::sim::w5::W5Variant;
use peerchat::sim::workload::{self, SimParams, Workload};

fn w5(variant: W5Variant, seed: u64) -> peerchat::sim::report::Report {
    let params = SimParams {
        workload: Workload::W5,
        nodes: 40,
        degree: 4,
        seed,
        w5_variant: variant,
        check_memory: false,
        threads: Some(1),
        ..SimParams::default()
    };
    workload::run(&params).expect("w5 runs")
}

fn assert_complete(variant: W5Variant) {
    for seed in [1, 2] {
        let r = w5(variant, seed);
        assert_eq!(
            r.traffic.delivery_overall,
            Some(1.0),
            "{variant} seed {seed}: {:?}",
            r.deliveries.violation_samples
        );
        assert_eq!(
            r.deliveries.duplicates_delivered, 0,
            "{variant} seed {seed}"
        );
        assert_eq!(r.deliveries.violations, 0, "{variant} seed {seed}");
        assert!(
            r.traffic.caught_up.unwrap_or(0) > 0,
            "{variant}: nothing caught up"
        );
        assert!(r.traffic.catchup_after_heal_ms.is_some());
    }
}

/// Links closed for 10 s: the cut-off nodes catch up on everything after the heal.
#[test]
fn w5_closed_delivers_everything() {
    assert_complete(W5Variant::Closed);
}

/// Links silently dropping frames until peers time out: everything arrives after the heal.
#[test]
fn w5_silent_delivers_everything() {
    assert_complete(W5Variant::Silent);
}

/// 20% of the nodes down for 10 s and restarted with their history: each
/// message reaches each node once across the restart.
#[test]
fn w5_restart_delivers_everything_once() {
    assert_complete(W5Variant::Restart);
}

/// The sender stops at the heal, so no later message shows the gap: digests alone bring it.
#[test]
fn w5_quiet_sender_delivers_everything() {
    assert_complete(W5Variant::Quiet);
}

/// Without feeds (as before protocol 4) the far side of the cut never gets
/// what was said while it was cut off: the figure catch-up is measured against.
#[test]
fn w5_without_feeds_loses_what_the_cut_hid() {
    let params = SimParams {
        workload: Workload::W5,
        nodes: 40,
        degree: 4,
        seed: 1,
        w5_variant: W5Variant::Quiet,
        feeds: false,
        check_memory: false,
        threads: Some(1),
        ..SimParams::default()
    };
    let r = workload::run(&params).expect("w5 runs");
    let overall = r.traffic.delivery_overall.unwrap_or(1.0);
    assert!(overall < 0.95, "{overall}");
    assert_eq!(r.traffic.caught_up, Some(0));
    assert_eq!(r.deliveries.duplicates_delivered, 0);
}
