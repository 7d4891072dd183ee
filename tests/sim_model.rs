//! The deterministic simulator: invariants on small seeded networks, faults, and exact replay.

use std::time::Duration;

use peerchat::sim::workload::{self, SimParams, Workload};
use peerchat::sim::{sim_node_config, Fault, Latency, Network, Topology, TopologySpec};

const MS: Duration = Duration::from_millis(1);

/// A connected network on `topo` with 5 ms links.
fn network(topo: Topology, seed: u64) -> Network {
    let max_degree = topo.degrees().into_iter().max().unwrap_or(0);
    let mut net =
        Network::new(topo, Latency::default(), seed, sim_node_config(max_degree)).unwrap();
    net.connect_all().unwrap();
    net
}

/// Sends `count` broadcasts from `from`, one at a time, each run until quiet and checked.
fn flood(net: &mut Network, from: u32, count: usize) {
    for k in 0..count {
        net.broadcast(from, format!("message {k}"));
        net.run_until_idle().unwrap();
        net.check_broadcasts();
    }
}

fn assert_clean(net: &Network) {
    assert_eq!(net.violations(), 0, "{:?}", net.violation_samples());
    assert_eq!(net.duplicates(), 0);
}

/// On every shape, each broadcast reaches every other node exactly once.
#[test]
fn every_topology_delivers_everything_once() {
    let shapes = [
        Topology::ring(200).unwrap(),
        Topology::random(500, 8, 42).unwrap(),
        Topology::line(100).unwrap(),
        Topology::star(300).unwrap(),
    ];
    for topo in shapes {
        let n = u64::from(topo.nodes());
        let mut net = network(topo, 7);
        flood(&mut net, 0, 3);
        flood(&mut net, 17, 2);
        assert_clean(&net);
        assert_eq!(net.deliveries(), 5 * (n - 1));
    }
}

/// A line's far end gets a broadcast after one latency per hop (flooding:
/// the tree's announcement timers would keep the run going after it).
#[test]
fn virtual_time_follows_latency() {
    let topo = Topology::line(10).unwrap();
    let mut config = sim_node_config(2);
    config.broadcast = peerchat::config::BroadcastMode::Flood;
    let mut net = Network::new(topo, Latency::default(), 1, config).unwrap();
    net.connect_all().unwrap();
    let sent = net.now();
    flood(&mut net, 0, 1);
    assert_eq!(net.now() - sent, 45 * MS);
}

/// Crashed nodes are dropped by their neighbours; later broadcasts reach every
/// node still connected to the sender, and no crashed node.
#[test]
fn crashes_then_broadcasts() {
    let mut net = network(Topology::random(400, 8, 42).unwrap(), 3);
    for v in [5, 50, 51, 52, 300] {
        net.apply_fault(Fault::Crash(v));
    }
    net.run_until_idle().unwrap();
    flood(&mut net, 0, 3);
    assert_clean(&net);
    assert_eq!(net.deliveries(), 3 * (400 - 1 - 5));
    assert!(!net.is_alive(50));
}

/// A line cut in the middle: the far half does not get the broadcast (and
/// that is no violation); cut both ways, nobody redials across.
#[test]
fn link_cut_splits_a_line() {
    let mut net = network(Topology::line(20).unwrap(), 4);
    net.apply_fault(Fault::Cut(9, 10));
    net.run_for(Duration::from_secs(30));
    flood(&mut net, 0, 1);
    assert_clean(&net);
    assert_eq!(net.deliveries(), 9);
}

/// Crashes in the middle of floods (W1 with churn) break no invariant.
#[test]
fn churn_during_floods() {
    let params = SimParams {
        nodes: 500,
        broadcasts: Some(10),
        churn_pct: Some(10.0),
        latency: "2ms..8ms".parse().unwrap(),
        ..SimParams::default()
    };
    let report = workload::run(&params).unwrap();
    assert!(report.passed(), "{report}");
    assert_eq!(report.traffic.nodes_stopped, 50);
    assert!(report.deliveries.delivery_ratio > 0.9, "{report}");
}

/// A crashed node restarts, dials its old targets, is redialled by the rest,
/// and ends up with all its links again.
#[test]
fn crash_and_restart_reconnects() {
    let mut net = network(Topology::random(200, 8, 42).unwrap(), 5);
    net.schedule_fault(net.now() + 10 * MS, Fault::Crash(42));
    net.schedule_fault(net.now() + 1500 * MS, Fault::Restart(42));
    net.run_for(Duration::from_secs(60));
    net.run_until_idle().unwrap();
    assert!(net.is_alive(42));
    net.check_links().unwrap();
    flood(&mut net, 42, 2);
    assert_clean(&net);
    assert_eq!(net.deliveries(), 2 * 199);
}

/// A partition into halves keeps each broadcast on its side; after the heal
/// the nodes' redials find each other, the next broadcast reaches everyone,
/// and the tree's announcements bring the far half the one it missed, once.
#[test]
fn partition_and_heal() {
    let n = 300;
    let mut net = network(Topology::random(n, 8, 42).unwrap(), 6);
    let groups: Vec<u32> = (0..n).map(|i| u32::from(i >= n / 2)).collect();
    net.apply_fault(Fault::Partition(groups));
    net.run_until_idle().unwrap();
    flood(&mut net, 0, 1);
    assert_clean(&net);
    let during = net.deliveries();
    assert_eq!(
        during,
        u64::from(n / 2 - 1),
        "only the sender's half delivers"
    );
    net.apply_fault(Fault::Heal);
    net.run_for(Duration::from_secs(120));
    net.run_until_idle().unwrap();
    net.check_links().unwrap();
    flood(&mut net, 0, 1);
    assert_clean(&net);
    assert_eq!(net.deliveries(), 2 * u64::from(n - 1));
}

/// W4 on the model: node 0 broadcasts every 50 ms while a fifth of the others
/// stop; every node still connected to it delivers every message.
#[test]
fn w4_churn_keeps_invariants() {
    let params = SimParams {
        workload: Workload::W4,
        nodes: 200,
        broadcasts: Some(60),
        ..SimParams::default()
    };
    let report = workload::run(&params).unwrap();
    assert!(report.passed(), "{report}");
    assert_eq!(report.traffic.nodes_stopped, 40);
    assert_eq!(report.deliveries.broadcasts_sent, 60);
    assert!(report.traffic.dead_peer_drop_ms.is_some());
}

/// Same seed, same report, byte for byte; another seed, another run.
#[test]
fn same_seed_replays_exactly() {
    let params = |seed| SimParams {
        nodes: 400,
        broadcasts: Some(4),
        churn_pct: Some(5.0),
        latency: "1ms..9ms".parse().unwrap(),
        seed,
        ..SimParams::default()
    };
    let a = workload::run(&params(9)).unwrap();
    let b = workload::run(&params(9)).unwrap();
    assert_eq!(a.deterministic_json(), b.deterministic_json());
    let c = workload::run(&params(10)).unwrap();
    assert_ne!(a.deterministic_json(), c.deterministic_json());
    assert!(a.to_json().contains("\"peak_rss_bytes\""));
    assert!(!a.deterministic_json().contains("\"peak_rss_bytes\""));
}

/// Splitting each instant's events over threads changes nothing: every node
/// ends with the same counters, and the network with the same totals.
#[test]
fn threads_do_not_change_the_run() {
    let run = |workers| {
        let topo = Topology::random(600, 8, 42).unwrap();
        let latency = "1ms..4ms".parse().unwrap();
        let mut net = Network::new(topo, latency, 11, sim_node_config(64)).unwrap();
        net.set_workers(workers, 500);
        net.connect_all().unwrap();
        net.schedule_fault(net.now() + 3 * MS, Fault::Crash(77));
        flood(&mut net, 0, 3);
        assert_clean(&net);
        let metrics: Vec<_> = (0..600).map(|i| net.node(i).map(|s| s.metrics())).collect();
        (net.counters().clone(), net.deliveries(), metrics)
    };
    assert_eq!(run(1), run(2));
}

/// An edge list with its own latencies runs, and those latencies are used.
#[test]
fn edge_list_with_latencies() {
    let dir = std::env::temp_dir().join(format!("peerchat-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("edges.txt");
    std::fs::write(
        &path,
        "# a triangle and a tail\n0 1 1ms\n1 2 1ms\n2 0 1ms\n2 3 20ms\n",
    )
    .unwrap();
    let params = SimParams {
        topology: TopologySpec::File(path),
        broadcasts: Some(2),
        ..SimParams::default()
    };
    let report = workload::run(&params).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(report.passed(), "{report}");
    assert_eq!(report.run.nodes, 4);
    assert_eq!(report.deliveries.deliveries, 6);
    assert_eq!(report.deliveries.time_to_all_ms.unwrap().max, 21.0);
}

/// With signature work on (`--crypto`), every node signs and verifies:
/// each broadcast still reaches every other node exactly once, under its
/// derived id (tracked as such), and the run replays exactly.
#[test]
fn crypto_runs_deliver_everything_once() {
    let run = || {
        let topo = Topology::random(60, 6, 3).unwrap();
        let max_degree = topo.degrees().into_iter().max().unwrap_or(0);
        let mut net =
            Network::new(topo, Latency::default(), 11, sim_node_config(max_degree)).unwrap();
        net.set_crypto(true);
        net.connect_all().unwrap();
        let ids: Vec<_> = (0..3).map(|k| net.broadcast(k, format!("m{k}"))).collect();
        net.run_until_idle().unwrap();
        net.check_broadcasts();
        assert_clean(&net);
        assert_eq!(net.deliveries(), 3 * 59);
        (ids, net.counters().clone())
    };
    let (ids, counters) = run();
    assert_eq!(run(), (ids, counters));
}
