// Run: cargo run --example broadcast_mesh -- [NODES]
//! N nodes in one process on a ring with chords; node 0 broadcasts; who got it, and how often.

use std::collections::BTreeSet;
use std::time::Duration;

use peerchat::{Event, Node, NodeHandle};

#[actix::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(12);
    anyhow::ensure!(n >= 2, "need at least 2 nodes");
    let mut nodes: Vec<NodeHandle> = Vec::new();
    for i in 0..n {
        nodes.push(Node::builder(format!("n{i}")).start().await?);
    }
    // A ring (always connected) plus a chord from every third node.
    let mut edges = BTreeSet::new();
    for i in 0..n {
        edges.insert((i.min((i + 1) % n), i.max((i + 1) % n)));
        if i % 3 == 0 {
            let j = (i + n / 2) % n;
            if j != i {
                edges.insert((i.min(j), i.max(j)));
            }
        }
    }
    for &(i, j) in &edges {
        nodes[i].join(nodes[j].local_addr()).await?;
    }
    // Wait until every node has registered its neighbours: each link has two ends.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut ends = 0;
        for node in &nodes {
            ends += node.peers().await?.len();
        }
        if ends == 2 * edges.len() {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "network did not form"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("{n} nodes, {} links up", edges.len());

    let mut streams = Vec::new();
    for node in &nodes[1..] {
        streams.push((node.id().clone(), node.events().await?));
    }
    nodes[0].broadcast("hello, mesh").await?;
    for (id, events) in &mut streams {
        let got = events
            .wait_for(Duration::from_secs(5), |e| match e {
                Event::Broadcast { text, .. } => Some(text.clone()),
                _ => None,
            })
            .await;
        println!("{id:>4} got {got:?}");
    }
    let mut duplicates = 0;
    let mut deliveries = 0;
    for node in &nodes {
        let m = node.metrics().await?;
        duplicates += m.duplicates_dropped;
        deliveries += m.deliveries;
    }
    println!(
        "{deliveries} deliveries for {} receivers; {duplicates} extra copies dropped by dedup",
        n - 1
    );
    for node in nodes {
        node.shutdown().await?;
    }
    Ok(())
}
