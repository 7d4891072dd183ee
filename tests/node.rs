//! The original peers' test scenarios, and more, over real sockets on port 0.

mod common;

use common::*;
use peerchat::{Error, Event, Node, Reply};
use serde_json::json;

/// A node reports its id and the real port the OS gave it.
#[actix_rt::test]
async fn node_has_id_and_real_address() {
    let a = start("alice").await;
    assert_eq!(a.id().as_str(), "alice");
    assert_ne!(a.local_addr().port(), 0);
    assert_eq!(a.advertised_addr().port(), a.local_addr().port());
    a.shutdown().await.unwrap();
}

/// The listener accepts TCP connections.
#[actix_rt::test]
async fn listener_accepts() {
    let a = start("alice").await;
    let _c = RawClient::connect(&a).await;
    until("connection counted", || async {
        a.metrics().await.unwrap().connections == 1
    })
    .await;
    a.shutdown().await.unwrap();
}

/// A frame written on a socket is the frame the node receives.
#[actix_rt::test]
async fn frame_sent_is_frame_received() {
    let a = Node::builder("alice")
        .handler("NOTE", |_| None)
        .start()
        .await
        .unwrap();
    let mut events = a.events().await.unwrap();
    let mut c = RawClient::connect(&a).await;
    let sent = json!({"msg_type": "NOTE", "msg": {"k": [1, 2.5, "x"]}, "originator": "raw", "time": 1764304919.5});
    c.send(sent.clone()).await;
    let env = expect(&mut events, "custom frame", |e| match e {
        Event::Custom { envelope, .. } => Some(*envelope.clone()),
        _ => None,
    })
    .await;
    assert_eq!(serde_json::to_value(&env).unwrap(), sent);
    a.shutdown().await.unwrap();
}

/// A node handles a TEST sent to itself.
#[actix_rt::test]
async fn test_sent_to_itself_is_handled() {
    let a = start("alice").await;
    let mut events = a.events().await.unwrap();
    a.send_test("alice", "me, myself").await.unwrap();
    let (from, text) = expect(&mut events, "test", |e| match e {
        Event::Test { from, text, .. } => Some((from.clone(), text.clone())),
        _ => None,
    })
    .await;
    assert_eq!((from.as_str(), text.as_str()), ("alice", "me, myself"));
    a.shutdown().await.unwrap();
}

/// A raw PING registers the pinger at the address it names and gets a PONG on
/// the same connection naming the node's real address.
#[actix_rt::test]
async fn ping_registers_pinger_and_gets_pong() {
    let a = start("alice").await;
    let mut c = RawClient::connect(&a).await;
    c.send(json!({"msg_type": "PING", "msg": ["127.0.0.1", 4242], "originator": "x", "time": "t", "v": 1}))
        .await;
    let pong = c.recv_type("PONG").await;
    assert_eq!(pong["originator"], "alice");
    assert_eq!(pong["msg"], json!(["127.0.0.1", a.local_addr().port()]));
    assert_eq!(pong["v"], peerchat::proto::PROTOCOL_VERSION);
    // A node always has a key, so it signs and announces `sig`; it numbers
    // its broadcasts (`seq`) by default.
    assert_eq!(pong["caps"], serde_json::json!(["seq", "sig", "tree"]));
    let x = a.peer("x").await.unwrap().expect("x registered");
    assert_eq!((x.addr.host(), x.addr.port()), ("127.0.0.1", 4242));
    a.shutdown().await.unwrap();
}

/// A PONG completes the handshake on the pinging side: both register each other.
#[actix_rt::test]
async fn pong_registers_on_pinging_side() {
    let a = start("alice").await;
    let b = start("bob").await;
    let mut ea = a.events().await.unwrap();
    a.join(b.local_addr()).await.unwrap();
    let (peer, addr) = expect(&mut ea, "peer connected", |e| match e {
        Event::PeerConnected { peer, addr, .. } => Some((peer.clone(), addr.clone())),
        _ => None,
    })
    .await;
    assert_eq!(peer.as_str(), "bob");
    assert_eq!(addr.port(), b.local_addr().port());
    until("bob knows alice", || knows(&b, "alice")).await;
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// A broadcast between two peers is delivered once.
#[actix_rt::test]
async fn broadcast_two_peers_once() {
    let a = start("alice").await;
    let b = start("bob").await;
    link(&a, &b).await;
    let mut eb = b.events().await.unwrap();
    a.broadcast("hello bob").await.unwrap();
    a.broadcast("end").await.unwrap();
    assert_eq!(
        broadcasts_until(&mut eb, "end").await,
        vec!["hello bob", "end"]
    );
    let m = b.metrics().await.unwrap();
    assert_eq!((m.deliveries, m.duplicates_dropped), (2, 0));
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// On a line A–B–C, a broadcast from A reaches C through B.
#[actix_rt::test]
async fn broadcast_crosses_a_line() {
    let a = start("a").await;
    let b = start("b").await;
    let c = start("c").await;
    link(&a, &b).await;
    link(&b, &c).await;
    assert!(!knows(&a, "c").await);
    let mut ec = c.events().await.unwrap();
    a.broadcast("over the hill").await.unwrap();
    assert_eq!(broadcast_from(&mut ec, "over the hill").await.as_str(), "a");
    for n in [a, b, c] {
        n.shutdown().await.unwrap();
    }
}

/// In a triangle of flooding nodes each node delivers each broadcast exactly once.
#[actix_rt::test]
async fn triangle_delivers_once() {
    let a = start_flood("a").await;
    let b = start_flood("b").await;
    let c = start_flood("c").await;
    link(&a, &b).await;
    link(&b, &c).await;
    link(&c, &a).await;
    let mut eb = b.events().await.unwrap();
    let mut ec = c.events().await.unwrap();
    a.broadcast("one").await.unwrap();
    a.broadcast("two").await.unwrap();
    a.broadcast("end").await.unwrap();
    assert_eq!(
        broadcasts_until(&mut eb, "end").await,
        ["one", "two", "end"]
    );
    assert_eq!(
        broadcasts_until(&mut ec, "end").await,
        ["one", "two", "end"]
    );
    // b and c each get every message twice (from a, and forwarded by the other) and drop one copy.
    until("duplicates dropped", || async {
        b.metrics().await.unwrap().duplicates_dropped
            + c.metrics().await.unwrap().duplicates_dropped
            == 6
    })
    .await;
    assert_eq!(b.metrics().await.unwrap().deliveries, 3);
    assert_eq!(c.metrics().await.unwrap().deliveries, 3);
    for n in [a, b, c] {
        n.shutdown().await.unwrap();
    }
}

/// Two broadcasts with the same text in the same second are both delivered.
#[actix_rt::test]
async fn same_text_twice_is_delivered_twice() {
    let a = start("a").await;
    let b = start("b").await;
    link(&a, &b).await;
    let mut eb = b.events().await.unwrap();
    a.broadcast("same").await.unwrap();
    a.broadcast("same").await.unwrap();
    a.broadcast("end").await.unwrap();
    assert_eq!(
        broadcasts_until(&mut eb, "end").await,
        ["same", "same", "end"]
    );
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// ADVERTISE is answered with the other peers, one ADVERTISE_REPLY each.
#[actix_rt::test]
async fn advertise_is_answered_with_other_peers() {
    let a = start("a").await;
    let b = start("b").await;
    link(&a, &b).await;
    let mut c = RawClient::connect(&a).await;
    c.send(json!({"msg_type": "PING", "msg": ["127.0.0.1", 4242], "originator": "x", "time": "t", "v": 1}))
        .await;
    c.recv_type("PONG").await;
    c.send(json!({"msg_type": "ADVERTISE", "msg": "", "originator": "x", "time": "t"}))
        .await;
    let reply = c.recv_type("ADVERTISE_REPLY").await;
    assert_eq!(
        reply["msg"],
        json!(["b", ["127.0.0.1", b.local_addr().port()]])
    );
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// A node that asks a peer for its peers connects to the ones it learns of.
#[actix_rt::test]
async fn connects_to_advertised_peers() {
    let a = start("a").await;
    let b = start("b").await;
    let c = start("c").await;
    link(&a, &b).await;
    link(&c, &b).await;
    let mut ec = c.events().await.unwrap();
    c.get_peers_from("b").await.unwrap();
    expect(&mut ec, "advertised a", |e| match e {
        Event::PeerAdvertised { peer, by, .. } if peer.as_str() == "a" && by.as_str() == "b" => {
            Some(())
        }
        _ => None,
    })
    .await;
    until("c knows a", || knows(&c, "a")).await;
    until("a knows c", || knows(&a, "c")).await;
    for n in [a, b, c] {
        n.shutdown().await.unwrap();
    }
}

/// Asking an unknown peer for its peers is an `UnknownPeer` error.
#[actix_rt::test]
async fn get_peers_from_unknown_is_error() {
    let a = start("a").await;
    match a.get_peers_from("nobody").await {
        Err(Error::UnknownPeer(p)) => assert_eq!(p.as_str(), "nobody"),
        other => panic!("expected UnknownPeer, got {other:?}"),
    }
    a.shutdown().await.unwrap();
}

/// An application handler gets its type's frames and its reply reaches the sender.
#[actix_rt::test]
async fn custom_handler_replies() {
    let a = Node::builder("a")
        .handler("ECHO", |env| {
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
    b.send("a", "ECHO", json!({"n": 7})).await.unwrap();
    let env = expect(&mut eb, "echo reply", |e| match e {
        Event::Custom { envelope, .. } if envelope.msg_type == "ECHO_REPLY" => {
            Some(envelope.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(
        (env.originator.as_str(), env.msg.clone()),
        ("a", json!({"n": 7}))
    );
    assert!(matches!(
        b.send("a", "PING", json!(1)).await,
        Err(Error::ReservedType(_))
    ));
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// Shutdown closes the listener: the same port can be bound again at once.
#[actix_rt::test]
async fn shutdown_frees_the_port() {
    let a = start("a").await;
    let b = start("b").await;
    link(&a, &b).await;
    let mut eb = b.events().await.unwrap();
    let port = a.local_addr().port();
    a.shutdown().await.unwrap();
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("port is free after shutdown");
    expect(&mut eb, "a disconnected", |e| match e {
        Event::PeerDisconnected { peer, .. } if peer.as_str() == "a" => Some(()),
        _ => None,
    })
    .await;
    assert!(matches!(a.broadcast("late").await, Err(Error::Stopped)));
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// A node that dials itself registers nothing; two nodes with one id ignore each other.
#[actix_rt::test]
async fn self_dial_and_same_id_register_nothing() {
    let a = start("same").await;
    let b = start("same").await;
    a.join(format!("localhost:{}", a.local_addr().port()))
        .await
        .unwrap();
    a.join(b.local_addr()).await.unwrap();
    until("dials settle", || async {
        let m = a.metrics().await.unwrap();
        m.dials == 2 && m.connections == 0
    })
    .await;
    assert!(a.peers().await.unwrap().is_empty());
    assert!(b.peers().await.unwrap().is_empty());
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// In a triangle of tree nodes each delivers each broadcast exactly once,
/// and the duplicates of the first one prune the tree to two eager links.
#[actix_rt::test]
async fn tree_triangle_delivers_once_and_prunes() {
    let a = start("a").await;
    let b = start("b").await;
    let c = start("c").await;
    link(&a, &b).await;
    link(&b, &c).await;
    link(&c, &a).await;
    let mut eb = b.events().await.unwrap();
    let mut ec = c.events().await.unwrap();
    a.broadcast("one").await.unwrap();
    assert_eq!(broadcasts_until(&mut eb, "one").await, ["one"]);
    assert_eq!(broadcasts_until(&mut ec, "one").await, ["one"]);
    // The first message reaches b and c twice; one of the copies prunes b-c.
    until("pruned", || async {
        b.metrics().await.unwrap().prune_sent + c.metrics().await.unwrap().prune_sent >= 1
    })
    .await;
    for text in ["two", "three", "end"] {
        a.broadcast(text).await.unwrap();
    }
    assert_eq!(
        broadcasts_until(&mut eb, "end").await,
        ["two", "three", "end"]
    );
    assert_eq!(
        broadcasts_until(&mut ec, "end").await,
        ["two", "three", "end"]
    );
    assert_eq!(b.metrics().await.unwrap().deliveries, 4);
    assert_eq!(c.metrics().await.unwrap().deliveries, 4);
    for n in [a, b, c] {
        n.shutdown().await.unwrap();
    }
}
