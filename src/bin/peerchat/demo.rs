//! `peerchat demo`: a few nodes in one process connect, chat and shut down, printing what happens.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use peerchat::{Event, Node, NodeHandle};

/// How long the demo waits for the network to form or a message to spread.
const DEMO_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many nodes to start (at least 2).
    #[arg(long, default_value_t = 5)]
    nodes: usize,
}

const NAMES: [&str; 8] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
];

fn name(i: usize) -> String {
    match NAMES.get(i) {
        Some(n) => n.to_string(),
        None => format!("node{i}"),
    }
}

pub async fn demo(args: DemoArgs) -> Result<()> {
    if args.nodes < 2 {
        bail!("--nodes must be at least 2");
    }
    let n = args.nodes;
    println!(
        "starting {n} nodes on OS-chosen ports; each joins only {}, then asks it for more peers",
        name(0)
    );
    let first = Node::builder(name(0)).start().await?;
    println!("  {:<6} listening on {}", name(0), first.local_addr());
    let mut nodes = vec![first.clone()];
    for i in 1..n {
        let node = Node::builder(name(i))
            .bootstrap([first.local_addr()])
            .start()
            .await?;
        println!(
            "  {:<6} listening on {}, bootstrap {}",
            name(i),
            node.local_addr(),
            first.local_addr()
        );
        nodes.push(node);
    }
    wait_for(&nodes, "everyone to reach the first node", |node, peers| {
        node.id() == first.id() || peers.iter().any(|p| &p.id == first.id())
    })
    .await?;
    for node in &nodes[1..] {
        node.get_peers_from(first.id().clone()).await?;
    }
    wait_for(&nodes, "the full mesh (advertise)", |_, peers| {
        peers.len() == n - 1
    })
    .await?;
    println!("network formed: every node knows the other {}", n - 1);

    let mut streams = Vec::new();
    for node in &nodes {
        streams.push((node.id().to_string(), node.events().await?));
    }
    println!();
    for (i, node) in nodes.iter().enumerate() {
        let text = format!("hello from {}", name(i));
        node.broadcast(text).await?;
    }
    let mut delivered = 0;
    for (who, events) in &mut streams {
        let mut got = 0;
        while got < n - 1 {
            let event = tokio::time::timeout(DEMO_WAIT, events.next())
                .await
                .with_context(|| format!("{who} did not receive every broadcast"))?;
            let Some(event) = event else { break };
            if let Event::Broadcast { .. } = event {
                got += 1;
            }
            println!("  [{who:<6}] {event}");
        }
        delivered += got;
    }
    let mut duplicates = 0;
    for node in &nodes {
        duplicates += node.metrics().await?.duplicates_dropped;
    }
    println!();
    println!(
        "{n} broadcasts, {delivered} deliveries (each reached the other {} nodes once); {duplicates} redundant copies dropped by dedup",
        n - 1
    );
    for node in nodes.iter().rev() {
        node.shutdown().await?;
    }
    println!("all nodes shut down");
    Ok(())
}

/// Waits until `ok(node, peers)` holds for every node.
async fn wait_for(
    nodes: &[NodeHandle],
    what: &str,
    ok: impl Fn(&NodeHandle, &[peerchat::PeerInfo]) -> bool,
) -> Result<()> {
    let check = async {
        loop {
            let mut all = true;
            for node in nodes {
                all &= ok(node, &node.peers().await?);
            }
            if all {
                return Ok::<_, peerchat::Error>(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(DEMO_WAIT, check)
        .await
        .with_context(|| format!("timed out waiting for {what}"))??;
    Ok(())
}
