//! `peerchat demo`: a few nodes in one process connect, chat and shut down, printing what happens.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use peerchat::{Event, EventStream, Node, NodeHandle};

/// How long the demo waits for any one thing to happen.
const DEMO_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many nodes to start (at least 3).
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
    let n = args.nodes;
    if n < 3 {
        bail!("--nodes must be at least 3");
    }
    println!("== {n} nodes on OS-chosen ports, each bootstrapping to the one before: a line");
    let mut nodes: Vec<NodeHandle> = Vec::new();
    for i in 0..n {
        let mut builder = Node::builder(name(i));
        if let Some(prev) = nodes.last() {
            builder = builder.bootstrap([prev.local_addr()]);
        }
        let node = builder.start().await?;
        match nodes.last() {
            Some(prev) => println!(
                "  {:<6} listening on {}, joins {}",
                name(i),
                node.local_addr(),
                prev.id()
            ),
            None => println!("  {:<6} listening on {}", name(i), node.local_addr()),
        }
        nodes.push(node);
    }
    wait_until("the line to form", || async {
        let mut ends = 0;
        for node in &nodes {
            ends += node.peers().await?.len();
        }
        Ok(ends == 2 * (n - 1))
    })
    .await?;
    let mut streams = Vec::new();
    for node in &nodes {
        streams.push((node.id().to_string(), node.events().await?));
    }

    println!("\n== everyone broadcasts once; each message travels along the tree (here, the line)");
    for (i, node) in nodes.iter().enumerate() {
        node.broadcast(format!("hello from {}", name(i))).await?;
    }
    let mut delivered = 0;
    for (who, events) in &mut streams {
        delivered +=
            print_until(who, events, n - 1, |e| matches!(e, Event::Broadcast { .. })).await?;
    }
    println!(
        "  {n} broadcasts, {delivered} deliveries: each reached the other {} nodes once",
        n - 1
    );

    let (first, last) = (&nodes[0], &nodes[n - 1]);
    println!(
        "\n== {} sends a direct message to {} ({} hops away)",
        first.id(),
        last.id(),
        n - 1
    );
    let delivered = first
        .send_to(last.id().clone(), "a secret for the far end")
        .await?;
    let (who, events) = &mut streams[n - 1];
    print_until(who, events, 1, |e| matches!(e, Event::Direct { .. })).await?;
    println!(
        "  {} got the ack back after {:.1?}",
        first.id(),
        delivered.round_trip
    );

    let middle = &nodes[n - 2];
    println!(
        "\n== {} asks {} for its peers (ADVERTISE) and dials the ones it did not know",
        last.id(),
        middle.id()
    );
    last.get_peers_from(middle.id().clone()).await?;
    let (who, events) = &mut streams[n - 1];
    print_until(who, events, 1, |e| matches!(e, Event::PeerConnected { .. })).await?;

    let mut duplicates = 0;
    for node in &nodes {
        duplicates += node.metrics().await?.duplicates_dropped;
    }
    println!("\n== shutting down ({duplicates} redundant copies were dropped by dedup on the way)");
    for node in nodes.iter().rev() {
        node.shutdown().await?;
    }
    println!("  all nodes shut down, all sockets closed");
    Ok(())
}

/// Prints `who`'s events until `count` of them match `done`; returns how many matched.
async fn print_until(
    who: &str,
    events: &mut EventStream,
    count: usize,
    done: impl Fn(&Event) -> bool,
) -> Result<usize> {
    let mut matched = 0;
    while matched < count {
        let event = tokio::time::timeout(DEMO_WAIT, events.next())
            .await
            .with_context(|| format!("{who} waited too long"))?
            .with_context(|| format!("{who} stopped"))?;
        if done(&event) {
            matched += 1;
        }
        println!("  [{who:<6}] {event}");
    }
    Ok(matched)
}

/// Polls `check` until it holds.
async fn wait_until<F, Fut>(what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = peerchat::Result<bool>>,
{
    let poll = async {
        while !check().await? {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok::<_, peerchat::Error>(())
    };
    tokio::time::timeout(DEMO_WAIT, poll)
        .await
        .with_context(|| format!("timed out waiting for {what}"))??;
    Ok(())
}
