//! Unit tests of the limits: frame size of what the application sends, new ids per link, one-shot sends in flight.

use super::*;

fn mid(n: u128) -> MessageId {
    MessageId::from_u128(n)
}

fn broadcast_from(from: &str, n: u128) -> Frame {
    frame(
        json!({"msg_type": "BROADCAST", "msg": "hi", "originator": from, "time": "t", "id": mid(n)}),
    )
}

fn receive(s: &mut NodeState, conn: u64, frame: Frame, now: Instant) -> Vec<OutEvent> {
    step(
        s,
        InEvent::Received {
            conn: ConnId(conn),
            frame,
        },
        now,
    )
}

fn delivered(out: &[OutEvent]) -> usize {
    out.iter()
        .filter(|o| matches!(o, OutEvent::Emit(Event::Broadcast { .. })))
        .count()
}

fn broadcast_cmd(s: &mut NodeState, n: u128, len: usize, out: &mut Vec<OutEvent>) -> Result<()> {
    let cmd = Command::Broadcast {
        id: mid(n),
        text: "x".repeat(len),
    };
    s.command(cmd, at(0), out)
}

/// A broadcast whose frame would pass `max_frame_len - frame_headroom` is
/// refused before anything happens: no frame, no seen-cache entry, no count.
/// One of exactly that size goes out.
#[test]
fn too_large_broadcast_is_refused_before_anything_is_sent() {
    let config = NodeConfig {
        max_frame_len: 1_000,
        frame_headroom: 100,
        ..config()
    };
    let mut s = node_with(config);
    register(&mut s, 1, "a", 6001);
    let before = s.metrics();
    let mut out = Vec::new();
    let Err(ProtoError::FrameTooLarge { len, max }) = broadcast_cmd(&mut s, 1, 900, &mut out)
    else {
        panic!("a 900-byte text makes a frame over 900 bytes");
    };
    assert_eq!(max, 900);
    assert!(len > 900);
    assert!(out.is_empty());
    assert_eq!(
        s.metrics(),
        before,
        "nothing counted, nothing in the seen-cache"
    );
    // The envelope costs `len - 900` bytes: a text that much shorter fits exactly.
    let fits = 900 - (len - 900);
    broadcast_cmd(&mut s, 2, fits, &mut out).unwrap();
    let [OutEvent::Send { frame, .. }] = out.as_slice() else {
        panic!("one frame to a: {out:?}");
    };
    assert_eq!(frame.bytes().len(), 900);
    let Err(ProtoError::FrameTooLarge { len, .. }) = broadcast_cmd(&mut s, 3, fits + 1, &mut out)
    else {
        panic!("one byte more is refused");
    };
    assert_eq!(len, 901);
}

/// `DIRECT`, `TEST`, application types and handler replies are held to the same size.
#[test]
fn every_message_the_application_sends_is_held_to_the_size() {
    let config = NodeConfig {
        max_frame_len: 1_000,
        frame_headroom: 100,
        ..config()
    };
    let mut s = node_with(config);
    register(&mut s, 1, "a", 6001);
    let big = "x".repeat(900);
    let commands = [
        Command::Direct {
            id: mid(1),
            to: PeerId::new("a"),
            text: big.clone(),
        },
        Command::Send {
            to: PeerId::new("a"),
            msg_type: types::TEST.into(),
            msg: json!(big),
        },
        Command::Send {
            to: PeerId::new("a"),
            msg_type: "APP".into(),
            msg: json!({ "blob": big }),
        },
        Command::Reply {
            conn: Some(ConnId(1)),
            msg_type: "APP_REPLY".into(),
            msg: json!(big),
        },
    ];
    for cmd in commands {
        let mut out = Vec::new();
        let result = s.command(cmd.clone(), at(0), &mut out);
        assert!(
            matches!(result, Err(ProtoError::FrameTooLarge { max: 900, .. })),
            "{cmd:?}: {result:?}"
        );
        assert!(out.is_empty(), "{cmd:?} sent {out:?}");
    }
    // The refused direct message is not pending: no timeout comes for it.
    let out = step(
        &mut s,
        InEvent::TimerFired(Timer::Direct(mid(1))),
        at(10_000),
    );
    assert!(out.is_empty());
}

fn limited(rate: u32, burst: u32) -> NodeState {
    node_with(NodeConfig {
        new_id_rate: rate,
        new_id_burst: burst,
        ..config()
    })
}

/// A link brings `new_id_burst` new ids at once, then `new_id_rate` a second;
/// the ids past it are dropped and counted, before the seen-cache: the same
/// id on another link (or later) is delivered. Other links have their own bucket.
#[test]
fn new_ids_per_link_are_rate_limited() {
    let mut s = limited(10, 3); // a token every 100 ms
    register(&mut s, 1, "a", 6001);
    register(&mut s, 2, "b", 6002);
    let t = at(1_000);
    let got: usize = (1..=5)
        .map(|n| delivered(&receive(&mut s, 1, broadcast_from("a", n), t)))
        .sum();
    assert_eq!(got, 3);
    assert_eq!(s.metrics().ids_rate_limited, 2);
    assert!(
        !s.has_seen(broadcast_from("a", 4).envelope())
            && !s.has_seen(broadcast_from("a", 5).envelope())
    );
    // Another link brings the dropped id.
    assert_eq!(delivered(&receive(&mut s, 2, broadcast_from("a", 4), t)), 1);
    // 100 ms later link 1 has one token again.
    assert_eq!(
        delivered(&receive(&mut s, 1, broadcast_from("a", 5), at(1_099))),
        0
    );
    assert_eq!(
        delivered(&receive(&mut s, 1, broadcast_from("a", 5), at(1_100))),
        1
    );
    assert_eq!(s.metrics().ids_rate_limited, 3);
    assert_eq!(s.metrics().deliveries, 5);
}

/// Copies of ids already seen cost no token: an empty bucket still drops them
/// as duplicates, not as over the rate.
#[test]
fn duplicates_are_not_charged() {
    let mut s = limited(1, 2);
    register(&mut s, 1, "a", 6001);
    for n in 1..=2 {
        receive(&mut s, 1, broadcast_from("a", n), at(0));
    }
    for _ in 0..10 {
        receive(&mut s, 1, broadcast_from("a", 1), at(0));
    }
    let m = s.metrics();
    assert_eq!((m.duplicates_dropped, m.ids_rate_limited), (10, 0));
}

/// The ack of this node's own `DIRECT` gets through a link whose bucket is
/// empty; an ack this node only relays does not.
#[test]
fn acks_of_own_requests_are_exempt() {
    let mut s = limited(1, 1);
    register(&mut s, 1, "a", 6001);
    register(&mut s, 2, "b", 6002);
    let mut out = Vec::new();
    let cmd = Command::Direct {
        id: mid(7),
        to: PeerId::new("a"),
        text: "psst".into(),
    };
    s.command(cmd, at(0), &mut out).unwrap();
    receive(&mut s, 1, broadcast_from("a", 1), at(0)); // empties a's bucket
    let ack = |to: &str, acked: u128| {
        frame(
            json!({"msg_type": "DIRECT_ACK", "msg": mid(acked), "originator": "a", "time": "t", "id": mid(acked + 100), "to": to, "hops": 16}),
        )
    };
    let out = receive(&mut s, 1, ack("m", 7), at(0));
    assert!(
        matches!(out.as_slice(), [OutEvent::Emit(Event::Delivered { id, .. })] if *id == mid(7)),
        "{out:?}"
    );
    let out = receive(&mut s, 1, ack("b", 8), at(0));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(s.metrics().ids_rate_limited, 1);
}

fn original_peer(s: &mut NodeState, conn: u64, id: &str, port: u16) {
    connect_in(s, conn);
    let ping = frame(
        json!({"msg_type": "PING", "msg": ["127.0.0.1", port], "originator": id, "time": "t"}),
    );
    step(
        s,
        InEvent::Received {
            conn: ConnId(conn),
            frame: ping,
        },
        at(0),
    );
}

fn one_shots(out: &[OutEvent]) -> usize {
    out.iter()
        .filter(|o| matches!(o, OutEvent::SendOneShot { .. }))
        .count()
}

/// At most `max_one_shot_in_flight` sends to original peers are under way;
/// more are dropped and counted until the executor reports one finished.
#[test]
fn one_shot_sends_in_flight_are_bounded() {
    let mut s = node_with(NodeConfig {
        max_one_shot_in_flight: 2,
        ..config()
    });
    original_peer(&mut s, 1, "py", 7001); // its PONG is the first send under way
    let test = |s: &mut NodeState| {
        let mut out = Vec::new();
        let cmd = Command::Send {
            to: PeerId::new("py"),
            msg_type: types::TEST.into(),
            msg: json!("probe"),
        };
        s.command(cmd, at(0), &mut out).unwrap();
        one_shots(&out)
    };
    assert_eq!(test(&mut s), 1);
    assert_eq!(test(&mut s), 0);
    assert_eq!(s.metrics().one_shot_dropped, 1);
    s.one_shot_finished();
    assert_eq!(test(&mut s), 1);
    assert_eq!(test(&mut s), 0);
    assert_eq!(s.metrics().one_shot_dropped, 2);
}

/// Limits that cannot work are refused by `validate`.
#[test]
fn limits_validate() {
    let bad = [
        NodeConfig {
            max_frame_len: 4_096,
            frame_headroom: 4_096,
            ..config()
        },
        NodeConfig {
            new_id_rate: 0,
            ..config()
        },
        NodeConfig {
            new_id_burst: 0,
            ..config()
        },
        NodeConfig {
            max_one_shot_in_flight: 0,
            ..config()
        },
    ];
    for c in bad {
        assert!(c.validate().is_err(), "{c:?}");
    }
    assert!(config().validate().is_ok());
}
