//! Bad input on the wire is logged, counted and survived; the node keeps serving its peers.

mod common;

use common::*;
use peerchat::Event;
use serde_json::json;

async fn malformed(node: &peerchat::NodeHandle) -> u64 {
    node.metrics().await.unwrap().malformed_frames
}

/// Non-JSON, a frame missing fields and wrong field types are counted; the
/// connection and the node go on, and a broadcast still reaches the real peer.
#[actix_rt::test]
async fn malformed_frames_are_counted_and_survived() {
    let a = start("a").await;
    let b = start("b").await;
    link(&a, &b).await;
    let mut c = RawClient::connect(&a).await;
    c.send_raw(b"this is not json\n").await;
    c.send_raw(b"\xff\xfe\xfd\n").await;
    c.send_raw(b"[1, 2, 3]\n").await;
    c.send(json!({"msg": "", "originator": "x", "time": "t"}))
        .await;
    c.send(json!({"msg_type": "PING", "msg": "nowhere", "originator": "x", "time": "t"}))
        .await;
    c.send(json!({"msg_type": "PING", "msg": ["h", 99999], "originator": "x", "time": "t"}))
        .await;
    c.send(json!({"msg_type": "TEST", "msg": "x", "originator": "x", "time": {}}))
        .await;
    until("7 malformed frames counted", || async {
        malformed(&a).await == 7
    })
    .await;
    // The same connection still works.
    c.send(json!({"msg_type": "PING", "msg": ["127.0.0.1", 4242], "originator": "x", "time": "t", "v": 1}))
        .await;
    c.recv_type("PONG").await;
    let mut eb = b.events().await.unwrap();
    a.broadcast("still here").await.unwrap();
    broadcast_from(&mut eb, "still here").await;
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// A 1 MiB line is rejected at `max_frame_len`, the connection is closed, and
/// the node keeps serving.
#[actix_rt::test]
async fn oversized_line_closes_connection_only() {
    let a = start("a").await;
    let b = start("b").await;
    link(&a, &b).await;
    let mut c = RawClient::connect(&a).await;
    let mut big = vec![b'x'; 1 << 20];
    big.push(b'\n');
    // The node may close before all of it is written; a write error is fine here.
    let _ = tokio::io::AsyncWriteExt::write_all(&mut c.writer_mut(), &big).await;
    assert!(c.recv_or_reset().await.is_none(), "connection closed");
    assert_eq!(malformed(&a).await, 1);
    let mut eb = b.events().await.unwrap();
    a.broadcast("after the flood").await.unwrap();
    broadcast_from(&mut eb, "after the flood").await;
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// Sixteen malformed frames close the connection that sent them.
#[actix_rt::test]
async fn too_many_malformed_frames_close_the_connection() {
    let a = start("a").await;
    let mut c = RawClient::connect(&a).await;
    for _ in 0..16 {
        c.send_raw(b"{bad\n").await;
    }
    assert!(c.recv_or_reset().await.is_none());
    let mut events = a.events().await.unwrap();
    a.send_test("a", "alive").await.unwrap();
    expect(&mut events, "node alive", |e| {
        matches!(e, Event::Test { .. }).then_some(())
    })
    .await;
    a.shutdown().await.unwrap();
}
