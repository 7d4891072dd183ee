// Run: cargo run --example events
//! Consuming a node's event stream: joins, advertised peers, chat, tests, direct messages, drops.

use std::time::Duration;

use peerchat::{Event, Node};

#[actix::main]
async fn main() -> anyhow::Result<()> {
    let hub = Node::builder("hub").start().await?;
    let mut events = hub.events().await?;

    // Print everything the hub sees, as it happens, until the stream ends.
    let printer = actix_rt::spawn(async move {
        while let Some(event) = events.next().await {
            match &event {
                Event::Broadcast {
                    from,
                    text,
                    id: Some(id),
                    ..
                } => println!("broadcast {id} from {from}: {text}"),
                other => println!("{other}"),
            }
        }
        println!("(event stream ended: the node stopped)");
    });

    let a = Node::builder("a")
        .bootstrap([hub.local_addr()])
        .start()
        .await?;
    let b = Node::builder("b")
        .bootstrap([hub.local_addr()])
        .start()
        .await?;
    let mut b_events = b.events().await?;
    for node in [&a, &b] {
        let id = node.id().to_string();
        wait(|| async {
            hub.peer(id.as_str())
                .await
                .map(|p| p.is_some())
                .unwrap_or(false)
        })
        .await?;
    }
    hub.get_peers_from("a").await?; // a knows only the hub: nothing new
    b.get_peers_from("hub").await?; // b learns of a
    b_events
        .wait_for(Duration::from_secs(5), |e| {
            matches!(e, Event::PeerConnected { peer, .. } if peer.as_str() == "a").then_some(())
        })
        .await;

    a.broadcast("hello from a").await?;
    a.send_test("hub", "are you there?").await?;
    b.send_to("hub", "a direct word").await?;
    a.shutdown().await?; // the hub sees a leave
    b.shutdown().await?;
    wait(|| async { hub.peers().await.map(|p| p.is_empty()).unwrap_or(true) }).await?;
    hub.shutdown().await?;
    printer.await?;
    Ok(())
}

/// Polls `cond` for up to five seconds.
async fn wait<F, Fut>(mut cond: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..500 {
        if cond().await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    anyhow::bail!("timed out")
}
