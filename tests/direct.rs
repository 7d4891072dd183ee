//! One-to-one messages over real sockets: neighbours, lines, meshes, missing targets.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use peerchat::{Error, Event, EventStream, Node, NodeConfig, NodeHandle};

async fn start_with_timeout(id: &str, timeout: Duration) -> NodeHandle {
    let config = NodeConfig {
        direct_timeout: timeout,
        ..NodeConfig::default()
    };
    Node::builder(id).config(config).start().await.unwrap()
}

/// Counts the direct messages in what `events` holds until `flush` (a TEST to self) arrives.
async fn directs_seen(node: &NodeHandle, events: &mut EventStream) -> Vec<String> {
    node.send_test(node.id().clone(), "flush").await.unwrap();
    let mut texts = Vec::new();
    expect(events, "flush", |e| match e {
        Event::Direct { text, .. } => {
            texts.push(text.clone());
            None
        }
        Event::Test { text, .. } if text == "flush" => Some(()),
        _ => None,
    })
    .await;
    texts
}

/// A direct message to a neighbour is delivered once and acknowledged.
#[actix_rt::test]
async fn to_a_neighbour() {
    let a = start("a").await;
    let b = start("b").await;
    link(&a, &b).await;
    let mut eb = b.events().await.unwrap();
    let delivered = a.send_to("b", "just for you").await.unwrap();
    assert_eq!(directs_seen(&b, &mut eb).await, ["just for you"]);
    assert!(delivered.round_trip < Duration::from_secs(5));
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// On a line A–B–C–D, A's message to D crosses three hops; only D sees it, once.
#[actix_rt::test]
async fn three_hops_along_a_line() {
    let nodes = [
        start("a").await,
        start("b").await,
        start("c").await,
        start("d").await,
    ];
    for w in nodes.windows(2) {
        link(&w[0], &w[1]).await;
    }
    let mut streams = Vec::new();
    for n in &nodes {
        streams.push(n.events().await.unwrap());
    }
    nodes[0]
        .send_to("d", "end of the line")
        .await
        .expect("acknowledged");
    for (n, events) in nodes.iter().zip(&mut streams) {
        let seen = directs_seen(n, events).await;
        let expected: &[&str] = if n.id().as_str() == "d" {
            &["end of the line"]
        } else {
            &[]
        };
        assert_eq!(seen, expected, "direct messages at {}", n.id());
    }
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}

/// Builds 10 nodes on a ring with chords (several paths between any two); returns them and the link count.
async fn mesh(timeout: Duration) -> (Vec<NodeHandle>, usize) {
    const N: usize = 10;
    let mut nodes = Vec::new();
    for i in 0..N {
        nodes.push(start_with_timeout(&format!("m{i}"), timeout).await);
    }
    let mut edges = BTreeSet::new();
    for i in 0..N {
        for j in [(i + 1) % N, (i + 3) % N] {
            edges.insert((i.min(j), i.max(j)));
        }
    }
    for &(i, j) in &edges {
        link(&nodes[i], &nodes[j]).await;
    }
    (nodes, edges.len())
}

/// In a mesh of 10 the message arrives by several paths but only the target delivers it, once.
#[actix_rt::test]
async fn mesh_delivers_once_at_target_only() {
    let (nodes, _) = mesh(Duration::from_secs(5)).await;
    let mut streams = Vec::new();
    for n in &nodes {
        streams.push(n.events().await.unwrap());
    }
    nodes[0]
        .send_to("m5", "across the mesh")
        .await
        .expect("acknowledged");
    for (n, events) in nodes.iter().zip(&mut streams) {
        let seen = directs_seen(n, events).await;
        let expected: &[&str] = if n.id().as_str() == "m5" {
            &["across the mesh"]
        } else {
            &[]
        };
        assert_eq!(seen, expected, "direct messages at {}", n.id());
    }
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}

/// A message to an id that exists nowhere fails with `DeliveryTimeout`, and the
/// flood it causes is bounded: each node forwards it at most once to each
/// neighbour, so it costs at most 2 × links frames.
#[actix_rt::test]
async fn missing_target_times_out_with_bounded_frames() {
    let (nodes, links) = mesh(Duration::from_millis(300)).await;
    let mut before = 0;
    for n in &nodes {
        before += n.metrics().await.unwrap().frames_out;
    }
    match nodes[0].send_to("ghost", "anyone?").await {
        Err(Error::DeliveryTimeout { to, .. }) => assert_eq!(to.as_str(), "ghost"),
        other => panic!("expected DeliveryTimeout, got {other:?}"),
    }
    let mut after = 0;
    for n in &nodes {
        after += n.metrics().await.unwrap().frames_out;
    }
    let cost = after - before;
    println!("message to a missing id: {cost} frames over {links} links");
    assert!(
        cost > 0 && cost <= 2 * links as u64,
        "{cost} frames for {links} links"
    );
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}

/// Under paused time the 5 s default ack timeout passes in no real time: a
/// message sent by a node with no peers fails with `DeliveryTimeout`.
#[actix_rt::test]
async fn default_timeout_under_paused_time() {
    tokio::time::pause();
    let a = start("a").await;
    let started = std::time::Instant::now();
    let result = a.send_to("nobody", "hello?").await;
    assert!(
        matches!(result, Err(Error::DeliveryTimeout { .. })),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "virtual, not real, seconds"
    );
    a.shutdown().await.unwrap();
}
