//! Cluster smoke tests: real actors for every node, in memory and over TCP.

use peerchat::sim::cluster::{Cluster, Transport};
use peerchat::sim::Topology;
use peerchat::NodeConfig;

/// 200 in-memory nodes on a random graph of degree 8: every broadcast reaches every node once.
#[actix_rt::test]
async fn memory_cluster_of_200_delivers_everything_once() {
    let topology = Topology::random(200, 8, 42).unwrap();
    let mut cluster = Cluster::start(&topology, Transport::Memory, 2, NodeConfig::default())
        .await
        .unwrap();
    let report = cluster.broadcast_latency(0, 5).await;
    println!("{report}");
    assert_eq!(report.delivery_ratio, 1.0);
    assert_eq!(report.duplicates_delivered, 0);
    assert_eq!(report.time_to_all_ms.as_ref().map(|t| t.count), Some(5));
    cluster.shutdown().await;
}

/// 50 TCP nodes on loopback: every broadcast reaches every node once.
#[actix_rt::test]
async fn tcp_cluster_of_50_delivers_everything_once() {
    let topology = Topology::random(50, 8, 42).unwrap();
    let mut cluster = Cluster::start(&topology, Transport::Tcp, 2, NodeConfig::default())
        .await
        .unwrap();
    let report = cluster.broadcast_latency(0, 5).await;
    println!("{report}");
    assert_eq!(report.delivery_ratio, 1.0);
    assert_eq!(report.duplicates_delivered, 0);
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
    match Cluster::start(&topology, Transport::Tcp, 1, NodeConfig::default()).await {
        Err(e) => assert!(e.to_string().contains("ulimit -n"), "{e}"),
        Ok(_) => panic!("started {too_many} TCP nodes with a limit of {limit} files"),
    }
}
