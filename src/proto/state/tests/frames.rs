//! Unit tests of the other frames: TEST, application types and handlers, malformed input, command errors.

use super::*;

/// TEST is delivered to the application and not forwarded.
#[test]
fn test_is_delivered_not_forwarded() {
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    register(&mut s, 2, "b", 6002);
    let t = frame(json!({"msg_type": "TEST", "msg": "probe", "originator": "a", "time": "t"}));
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: t,
        },
        at(0),
    );
    assert_eq!(
        out,
        vec![OutEvent::Emit(Event::Test {
            from: PeerId::new("a"),
            text: "probe".into()
        })]
    );
}

/// A TEST sent to the node's own id is handled locally.
#[test]
fn test_to_self_is_local() {
    let mut s = node();
    let mut out = Vec::new();
    s.command(
        Command::Send {
            to: PeerId::new(ME),
            msg_type: "TEST".into(),
            msg: json!("me"),
        },
        at(0),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        out,
        vec![OutEvent::Emit(Event::Test {
            from: PeerId::new(ME),
            text: "me".into()
        })]
    );
}

/// An unknown type goes to the handler when one is registered, else it is counted and ignored.
#[test]
fn custom_types_go_to_handlers() {
    let mut s = node();
    s.add_handled_type("CHAT_ROOM");
    register(&mut s, 1, "a", 6001);
    let known =
        frame(json!({"msg_type": "CHAT_ROOM", "msg": {"x": 1}, "originator": "a", "time": "t"}));
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: known.clone(),
        },
        at(0),
    );
    assert_eq!(
        out,
        vec![OutEvent::Handle {
            conn: Some(ConnId(1)),
            frame: known
        }]
    );
    let unknown = frame(json!({"msg_type": "OTHER", "msg": 1, "originator": "a", "time": "t"}));
    assert!(step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: unknown
        },
        at(0)
    )
    .is_empty());
    assert_eq!(s.metrics().unhandled_frames, 1);
}

/// Commands naming an unknown peer fail with `UnknownPeer`.
#[test]
fn unknown_peer_is_an_error() {
    let mut s = node();
    let mut out = Vec::new();
    let err = s
        .command(Command::GetPeersFrom(PeerId::new("ghost")), at(0), &mut out)
        .unwrap_err();
    assert!(matches!(err, ProtoError::UnknownPeer(p) if p.as_str() == "ghost"));
    assert!(out.is_empty());
}

/// Malformed frames are counted; the 16th closes the connection.
#[test]
fn malformed_frames_close_after_limit() {
    let mut s = node();
    connect_in(&mut s, 1);
    let bad = || InEvent::Malformed {
        conn: ConnId(1),
        error: FrameError::Envelope("x".into()),
    };
    for _ in 1..config().max_malformed {
        assert!(step(&mut s, bad(), at(0)).is_empty());
    }
    assert_eq!(
        step(&mut s, bad(), at(0)),
        vec![OutEvent::Close {
            conn: ConnId(1),
            reason: DisconnectReason::Malformed
        }]
    );
    assert_eq!(s.metrics().malformed_frames, 16);
}

/// Frames of every built-in type parse to their body.
#[test]
fn bodies_parse() {
    let f = frame(
        json!({"msg_type": "ADVERTISE_REPLY", "msg": ["b", ["h", 1]], "originator": "a", "time": 1.5}),
    );
    assert_eq!(
        f.body(),
        &Body::AdvertiseReply {
            peer: PeerId::new("b"),
            addr: PeerAddr::new("h", 1)
        }
    );
}
