//! Cluster smoke tests: real actors for every node, in memory and over TCP.

use peerchat::sim::cluster::{Cluster, Transport};
use std::time::Duration;

use peerchat::sim::{NoProgress, Topology};
use peerchat::NodeConfig;

/// A cluster of `n` nodes on a random graph of degree 8, on 2 arbiters, with every link up.
async fn start(n: u32, seed: u64, transport: Transport) -> Cluster {
    let topology = Topology::random(n, 8, seed).unwrap();
    Cluster::start(&topology, transport, 2, NodeConfig::default(), &NoProgress)
        .await
        .unwrap()
}

/// 200 in-memory nodes on a random graph of degree 8: every broadcast reaches every node once.
#[actix_rt::test]
async fn memory_cluster_of_200_delivers_everything_once() {
    let mut cluster = start(200, 42, Transport::Memory).await;
    let report = cluster.broadcast_latency(0, 5, &NoProgress).await;
    println!("{report}");
    assert!(report.passed(), "{report}");
    assert_eq!(report.deliveries.delivery_ratio, 1.0);
    assert_eq!(report.deliveries.duplicates_delivered, 0);
    assert_eq!(report.deliveries.broadcasts_complete, 5);
    assert_eq!(
        report.deliveries.time_to_all_ms.as_ref().map(|t| t.count),
        Some(5)
    );
    assert_eq!(report.run.topology, "random");
    assert_eq!(report.run.seed, Some(42));
    cluster.shutdown().await;
}

/// 50 TCP nodes on loopback: every broadcast reaches every node once.
#[actix_rt::test]
async fn tcp_cluster_of_50_delivers_everything_once() {
    let mut cluster = start(50, 42, Transport::Tcp).await;
    let report = cluster.broadcast_latency(0, 5, &NoProgress).await;
    println!("{report}");
    assert_eq!(report.deliveries.delivery_ratio, 1.0);
    assert_eq!(report.deliveries.duplicates_delivered, 0);
    cluster.shutdown().await;
}

/// A TCP cluster too large for the open-file limit is refused up front, naming the limit.
#[actix_rt::test]
async fn tcp_cluster_past_the_file_limit_is_refused() {
    let Some(limit) = peerchat::sim::cluster::open_file_limit() else {
        return;
    };
    let too_many = (limit / 2) as u32;
    let topology = Topology::ring(too_many).unwrap();
    match Cluster::start(
        &topology,
        Transport::Tcp,
        1,
        NodeConfig::default(),
        &NoProgress,
    )
    .await
    {
        Err(e) => assert!(e.to_string().contains("ulimit -n"), "{e}"),
        Ok(_) => panic!("started {too_many} TCP nodes with a limit of {limit} files"),
    }
}

/// W4 on 100 in-memory nodes, 20% of them stopped during a 1 s run: every
/// node still running and connected to the sender at each send delivers it,
/// once, and the stopped nodes' neighbours drop them.
#[actix_rt::test]
async fn memory_cluster_churn_delivers_to_every_connected_survivor() {
    let mut cluster = start(100, 42, Transport::Memory).await;
    let report = cluster
        .churn(20.0, 42, Duration::from_secs(1), &NoProgress)
        .await
        .unwrap();
    println!("{report}");
    assert_eq!(report.run.workload, "w4");
    assert_eq!(report.traffic.nodes_stopped, 20);
    assert_eq!(report.deliveries.broadcasts_sent, 20);
    assert_eq!(report.deliveries.duplicates_delivered, 0);
    assert!(report.passed(), "{report}");
    assert_eq!(report.deliveries.delivery_ratio_survivors, 1.0);
    assert_eq!(report.run.churn_pct, 20.0);
    assert!(
        report.deliveries.delivery_ratio > 0.9,
        "{}",
        report.deliveries.delivery_ratio
    );
    let drops = report
        .traffic
        .dead_peer_drop_ms
        .expect("neighbours of stopped nodes dropped them");
    assert!(drops.count >= 20, "{drops:?}");
    assert_eq!(report.delivery_curves.len(), 20);
    cluster.shutdown().await;
}

/// A W1 run records one delivery curve per broadcast, each reaching every node.
#[actix_rt::test]
async fn cluster_w1_curves_reach_every_node() {
    let mut cluster = start(60, 7, Transport::Memory).await;
    let report = cluster.broadcast_latency(0, 3, &NoProgress).await;
    assert_eq!(report.delivery_curves.len(), 3);
    for c in &report.delivery_curves {
        assert_eq!(c.end_fraction(), 1.0, "{c:?}");
    }
    let lat = report
        .deliveries
        .delivery_latency_ms
        .expect("latencies recorded");
    assert_eq!(lat.count, 3 * 59);
    assert!(lat.max > 0.0 && lat.max <= report.deliveries.time_to_all_ms.unwrap().max);
    cluster.shutdown().await;
}

/// A cluster too large for the memory budget is refused up front, naming the largest that fits.
#[actix_rt::test]
async fn cluster_past_the_memory_budget_is_refused() {
    let Some(max) = peerchat::sim::cluster::max_memory_nodes() else {
        return;
    };
    let too_many = max * 2 + 1000;
    let e = peerchat::sim::cluster::check_memory(too_many).unwrap_err();
    assert!(
        e.to_string().contains("the largest cluster that fits"),
        "{e}"
    );
    peerchat::sim::cluster::check_memory(10).unwrap();
}
