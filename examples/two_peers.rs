// Run: cargo run --example two_peers
//! The smallest complete program: two nodes, one joins the other, one broadcast, shutdown.

use std::time::Duration;

use peerchat::{Event, Node};

#[actix::main]
async fn main() -> anyhow::Result<()> {
    let alice = Node::builder("alice").listen("127.0.0.1:0").start().await?;
    let mut alice_events = alice.events().await?;
    let bob = Node::builder("bob")
        .bootstrap([alice.local_addr()])
        .start()
        .await?;
    let mut bob_events = bob.events().await?;

    // Wait until bob has registered alice (her PONG answered his PING).
    bob_events
        .wait_for(Duration::from_secs(5), |e| {
            matches!(e, Event::PeerConnected { .. }).then_some(())
        })
        .await
        .ok_or_else(|| anyhow::anyhow!("bob never connected to alice"))?;
    println!("bob joined alice at {}", alice.local_addr());

    bob.broadcast("hi alice!").await?;
    let line = alice_events
        .wait_for(Duration::from_secs(5), |e| match e {
            Event::Broadcast { from, text, .. } => Some(format!("<{from}> {text}")),
            _ => None,
        })
        .await
        .ok_or_else(|| anyhow::anyhow!("alice got nothing"))?;
    println!("alice received: {line}");

    bob.shutdown().await?;
    alice.shutdown().await?;
    Ok(())
}
