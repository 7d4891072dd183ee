//! The sharp edges over real sockets: messages too large to send, a subscriber
//! that falls behind, a handler that panics, one-shot sends in flight.

mod common;

use common::original::OriginalPeer;
use common::*;
use peerchat::{Error, Event, Node, NodeConfig, NodeHandle, Reply};
use serde_json::json;

/// Both ends of the size test: 4 KiB frames, the default 512 bytes of headroom.
fn small_frames() -> NodeConfig {
    NodeConfig {
        max_frame_len: 4_096,
        ..NodeConfig::default()
    }
}

async fn small(id: &str) -> NodeHandle {
    Node::builder(id)
        .config(small_frames())
        .handler("APP", |_| None)
        .start()
        .await
        .expect("node starts")
}

/// How long a text may be for `send` to fill exactly the largest frame
/// (learnt from the error a too-long one gets).
fn fitting(len_tried: usize, err: Error) -> usize {
    let Error::FrameTooLarge { len, max } = err else {
        panic!("expected FrameTooLarge, got {err}");
    };
    assert_eq!(max, 4_096 - peerchat::config::FRAME_HEADROOM);
    len_tried - (len - max)
}

/// A broadcast, a direct message and an application message of the largest
/// size go through and the receiver keeps the link; one byte more is
/// `FrameTooLarge` from the API and nothing reaches the wire.
#[actix_rt::test]
async fn largest_frame_is_sent_one_byte_more_is_refused() {
    let a = small("a").await;
    let b = small("b").await;
    link(&a, &b).await;
    let mut eb = b.events().await.unwrap();

    let tried = 4_096;
    let err = a.broadcast("x".repeat(tried)).await.unwrap_err();
    assert!(err.to_string().starts_with("message too large"), "{err}");
    let n = fitting(tried, err);
    let out_before = a.metrics().await.unwrap().frames_out;
    let too_long = a.broadcast("y".repeat(n + 1)).await;
    assert!(
        matches!(too_long, Err(Error::FrameTooLarge { len, max }) if len == max + 1),
        "{too_long:?}"
    );
    assert_eq!(a.metrics().await.unwrap().frames_out, out_before);
    a.broadcast("x".repeat(n)).await.unwrap();
    let got = expect(&mut eb, "the largest broadcast", |e| match e {
        Event::Broadcast { text, .. } => Some(text.len()),
        _ => None,
    })
    .await;
    assert_eq!(got, n);

    let tried = 4_000;
    let err = a.send_to("b", "d".repeat(tried)).await.unwrap_err();
    let n = fitting(tried, err);
    assert!(matches!(
        a.send_to("b", "d".repeat(n + 1)).await,
        Err(Error::FrameTooLarge { .. })
    ));
    a.send_to("b", "d".repeat(n)).await.unwrap();

    let err = a.send("b", "APP", "p".repeat(tried)).await.unwrap_err();
    let n = fitting(tried, err);
    assert!(matches!(
        a.send("b", "APP", "p".repeat(n + 1)).await,
        Err(Error::FrameTooLarge { .. })
    ));
    a.send("b", "APP", "p".repeat(n)).await.unwrap();
    expect(&mut eb, "the largest application message", |e| match e {
        Event::Custom { envelope, .. } => Some(envelope.msg.as_str()?.len()),
        _ => None,
    })
    .await;

    // b kept the link through all of it: nothing was too long for it.
    a.broadcast("still linked").await.unwrap();
    broadcast_from(&mut eb, "still linked").await;
    let m = b.metrics().await.unwrap();
    assert_eq!(m.malformed_frames, 0);
    assert!(knows(&b, "a").await && knows(&a, "b").await);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// Tests sent to the node itself: each is one event for its subscribers.
async fn tests_to_self(node: &NodeHandle, range: std::ops::Range<u32>) {
    for i in range {
        node.send_test(node.id().clone(), format!("t{i}"))
            .await
            .unwrap();
    }
}

async fn next(events: &mut peerchat::EventStream) -> Event {
    tokio::time::timeout(WAIT, events.next())
        .await
        .expect("an event in time")
        .expect("the node runs")
}

fn test_text(e: &Event) -> &str {
    match e {
        Event::Test { text, .. } => text,
        other => panic!("expected a test, got {other:?}"),
    }
}

/// A subscriber whose buffer (4) overflows gets what fitted, then
/// `Lagged { missed }` where the rest would have been, then what came after;
/// `events_dropped` counts the same events.
#[actix_rt::test]
async fn slow_subscriber_is_told_what_it_missed() {
    let config = NodeConfig {
        event_buffer: 4,
        ..NodeConfig::default()
    };
    let a = Node::builder("a").config(config).start().await.unwrap();
    let mut events = a.events().await.unwrap();

    // Caught up with nothing newer: the gap is reported once the buffer is read.
    tests_to_self(&a, 0..10).await;
    for i in 0..4 {
        assert_eq!(test_text(&next(&mut events).await), format!("t{i}"));
    }
    assert!(matches!(
        next(&mut events).await,
        Event::Lagged { missed: 6, .. }
    ));

    // Newer events after a gap: the gap comes first.
    tests_to_self(&a, 10..16).await; // t10..t13 fit, t14 and t15 are missed
    assert_eq!(test_text(&next(&mut events).await), "t10");
    tests_to_self(&a, 16..17).await; // the Lagged takes the free slot, t16 is missed
    for i in 11..14 {
        assert_eq!(test_text(&next(&mut events).await), format!("t{i}"));
    }
    assert!(matches!(
        next(&mut events).await,
        Event::Lagged { missed: 2, .. }
    ));
    assert!(matches!(
        next(&mut events).await,
        Event::Lagged { missed: 1, .. }
    ));
    tests_to_self(&a, 17..18).await;
    assert_eq!(test_text(&next(&mut events).await), "t17");
    assert_eq!(a.metrics().await.unwrap().events_dropped, 9);
    a.shutdown().await.unwrap();
}

/// A handler that panics is caught, logged and counted; the node goes on and
/// the next frame of that type is answered.
#[actix_rt::test]
async fn panicking_handler_does_not_stop_the_node() {
    let a = Node::builder("a")
        .handler("ECHO", |env| {
            if env.msg == "boom" {
                panic!("handler fails on purpose");
            }
            Some(Reply::new("ECHO_REPLY", env.msg.clone()))
        })
        .start()
        .await
        .unwrap();
    let b = Node::builder("b")
        .handler("ECHO_REPLY", |_| None)
        .start()
        .await
        .unwrap();
    link(&a, &b).await;
    let mut eb = b.events().await.unwrap();
    b.send("a", "ECHO", json!("boom")).await.unwrap();
    b.send("a", "ECHO", json!("fine")).await.unwrap();
    let reply = expect(&mut eb, "the reply to the second", |e| match e {
        Event::Custom { envelope, .. } => Some(envelope.msg.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reply, json!("fine"));
    assert_eq!(a.metrics().await.unwrap().handler_panics, 1);
    assert!(knows(&a, "b").await);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// With one one-shot send allowed in flight, an original peer still gets
/// every message sent after the one before arrived: each finished send is
/// reported back and frees its place.
#[actix_rt::test]
async fn finished_one_shot_sends_free_their_place() {
    let config = NodeConfig {
        max_one_shot_in_flight: 1,
        ..NodeConfig::default()
    };
    let p = Node::builder("p").config(config).start().await.unwrap();
    let mut o = OriginalPeer::start("o").await;
    o.join(p.local_addr().port()).await;
    until("o registers p", || async { o.knows("p") }).await;
    for i in 0..5 {
        let text = format!("probe {i}");
        p.send_test("o", text.as_str()).await.unwrap();
        assert_eq!(o.clone_delivery_test().await["msg"], text.as_str());
    }
    assert_eq!(p.metrics().await.unwrap().one_shot_dropped, 0);
    p.shutdown().await.unwrap();
}
