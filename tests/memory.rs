//! Nodes on an in-memory network: the same actors and protocol, frame links instead of TCP.

mod common;

use common::*;
use peerchat::{Event, MemoryNetwork, Node, NodeHandle};

async fn mem_node(net: &MemoryNetwork, id: &str) -> NodeHandle {
    Node::builder(id).memory(net).start().await.unwrap()
}

/// Three in-memory nodes on a line: join, broadcast across, direct message, shutdown.
#[actix_rt::test]
async fn in_memory_line_chats() {
    let net = MemoryNetwork::new();
    let a = mem_node(&net, "a").await;
    let b = mem_node(&net, "b").await;
    let c = mem_node(&net, "c").await;
    assert_eq!(net.len(), 3);
    for (x, y) in [(&a, &b), (&b, &c)] {
        x.join(y.advertised_addr()).await.unwrap();
        let (xi, yi) = (x.id().to_string(), y.id().to_string());
        until("linked", || async {
            knows(x, &yi).await && knows(y, &xi).await
        })
        .await;
    }
    let mut ec = c.events().await.unwrap();
    a.broadcast("over memory").await.unwrap();
    assert_eq!(broadcast_from(&mut ec, "over memory").await.as_str(), "a");
    a.send_to("c", "psst").await.unwrap();
    expect(&mut ec, "direct", |e| {
        matches!(e, Event::Direct { .. }).then_some(())
    })
    .await;
    for n in [&a, &b, &c] {
        n.shutdown().await.unwrap();
    }
    assert!(net.is_empty(), "listeners closed on shutdown");
}

/// Dialling an address nobody listens on fails like a refused connection.
#[actix_rt::test]
async fn in_memory_dial_to_nowhere_fails() {
    let net = MemoryNetwork::new();
    let a = mem_node(&net, "a").await;
    a.join("mem9:999").await.unwrap();
    until("dial failed", || async {
        a.metrics().await.unwrap().dials_failed == 1
    })
    .await;
    a.shutdown().await.unwrap();
}
