// Run: cargo run --example custom_handler
//! An application message type with a reply: a tiny "time service" on top of peerchat.

use std::time::Duration;

use peerchat::{Event, Node, Reply};
use serde_json::json;

#[actix::main]
async fn main() -> anyhow::Result<()> {
    // The server answers every TIME_REQUEST with a TIME_REPLY carrying its clock.
    let server = Node::builder("clock")
        .handler("TIME_REQUEST", |request| {
            let zone = request.msg["zone"].as_str().unwrap_or("UTC").to_string();
            let now = chrono::Utc::now().to_rfc3339();
            Some(Reply::new("TIME_REPLY", json!({"zone": zone, "now": now})))
        })
        .start()
        .await?;
    // The client registers a handler for the reply type, so the reply reaches its events.
    let client = Node::builder("asker")
        .handler("TIME_REPLY", |_| None)
        .bootstrap([server.local_addr()])
        .start()
        .await?;
    let mut events = client.events().await?;
    events
        .wait_for(Duration::from_secs(5), |e| {
            matches!(e, Event::PeerConnected { .. }).then_some(())
        })
        .await
        .ok_or_else(|| anyhow::anyhow!("could not reach the clock"))?;

    client
        .send("clock", "TIME_REQUEST", json!({"zone": "UTC"}))
        .await?;
    let reply = events
        .wait_for(Duration::from_secs(5), |e| match e {
            Event::Custom { from, envelope, .. } if envelope.msg_type == "TIME_REPLY" => {
                Some((from.clone(), envelope.msg.clone()))
            }
            _ => None,
        })
        .await
        .ok_or_else(|| anyhow::anyhow!("no reply"))?;
    println!(
        "{} says it is {} ({})",
        reply.0, reply.1["now"], reply.1["zone"]
    );

    // Protocol types are not application types: this is refused before anything is sent.
    let refused = client.send("clock", "BROADCAST", json!("sneaky")).await;
    println!("sending a BROADCAST by hand: {}", refused.unwrap_err());

    client.shutdown().await?;
    server.shutdown().await?;
    Ok(())
}
