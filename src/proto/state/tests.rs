//! Unit tests of `NodeState`: one event in, the exact out-events asserted.

use std::time::Duration;

use bytes::Bytes;
use chrono::{TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::proto::{Body, ConnId, Direction, DisconnectReason, Event, InEvent, OutEvent, Timer};

const ME: &str = "m";

fn at(ms: u64) -> Instant {
    Instant::from_epoch(Duration::from_millis(ms))
}

fn config() -> NodeConfig {
    NodeConfig::default()
}

fn node_with(config: NodeConfig) -> NodeState {
    let epoch = Utc.with_ymd_and_hms(2026, 11, 28, 4, 41, 59).unwrap();
    NodeState::new(
        PeerId::new(ME),
        PeerAddr::new("127.0.0.1", 5000),
        config,
        epoch,
    )
}

fn node() -> NodeState {
    node_with(config())
}

/// A frame in the field order peerchat writes (so expected and actual bytes compare).
fn frame(json: serde_json::Value) -> Frame {
    let env: Envelope = serde_json::from_value(json).unwrap();
    Frame::decode(Bytes::from(serde_json::to_vec(&env).unwrap())).unwrap()
}

/// The frame `state` would write as a hello (`PING`/`PONG`) at `now`.
fn hello(msg_type: &str, from: &str, port: u16, time: &str) -> Frame {
    frame(
        json!({"msg_type": msg_type, "msg": ["127.0.0.1", port], "originator": from, "time": time, "v": 1}),
    )
}

fn step(s: &mut NodeState, ev: InEvent, now: Instant) -> Vec<OutEvent> {
    let mut out = Vec::new();
    s.handle(ev, now, &mut out);
    out
}

fn connect_in(s: &mut NodeState, conn: u64) {
    step(
        s,
        InEvent::Connected {
            conn: ConnId(conn),
            dir: Direction::Inbound,
            local: None,
            remote: None,
        },
        at(0),
    );
}

/// Registers peer `id` (listening on `port`) on inbound connection `conn`.
fn register(s: &mut NodeState, conn: u64, id: &str, port: u16) {
    connect_in(s, conn);
    step(
        s,
        InEvent::Received {
            conn: ConnId(conn),
            frame: hello("PING", id, port, "t"),
        },
        at(0),
    );
}

const T0: &str = "2026-11-28T04:41:59.000Z";

/// An outbound connection is greeted with a PING naming the listen address and v 1.
#[test]
fn outbound_connection_sends_ping() {
    let mut s = node();
    let out = step(
        &mut s,
        InEvent::Connected {
            conn: ConnId(1),
            dir: Direction::Outbound {
                addr: PeerAddr::new("127.0.0.1", 6000),
            },
            local: None,
            remote: None,
        },
        at(0),
    );
    assert_eq!(
        out,
        vec![
            OutEvent::Schedule {
                delay: config().handshake_timeout,
                timer: Timer::Handshake(ConnId(1))
            },
            OutEvent::Send {
                conn: ConnId(1),
                frame: hello("PING", ME, 5000, T0)
            },
        ]
    );
}

/// A PING registers the pinger at the address in `msg` and is answered with a PONG.
#[test]
fn ping_registers_and_answers_pong() {
    let mut s = node();
    connect_in(&mut s, 1);
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: hello("PING", "a", 6001, "t"),
        },
        at(0),
    );
    assert_eq!(
        out,
        vec![
            OutEvent::Emit(Event::PeerConnected {
                peer: PeerId::new("a"),
                addr: PeerAddr::new("127.0.0.1", 6001)
            }),
            OutEvent::Send {
                conn: ConnId(1),
                frame: hello("PONG", ME, 5000, T0)
            },
        ]
    );
    assert_eq!(
        s.peer(&PeerId::new("a"), at(0)).unwrap().addr,
        PeerAddr::new("127.0.0.1", 6001)
    );
}

/// A PONG registers the sender and is not answered.
#[test]
fn pong_registers_without_answer() {
    let mut s = node();
    connect_in(&mut s, 1);
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: hello("PONG", "a", 6001, "t"),
        },
        at(0),
    );
    assert_eq!(
        out,
        vec![OutEvent::Emit(Event::PeerConnected {
            peer: PeerId::new("a"),
            addr: PeerAddr::new("127.0.0.1", 6001)
        })]
    );
}

/// A PING naming this node's own id closes the connection and registers nothing.
#[test]
fn ping_with_own_id_is_refused() {
    let mut s = node();
    connect_in(&mut s, 1);
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: hello("PING", ME, 5000, "t"),
        },
        at(0),
    );
    assert_eq!(
        out,
        vec![OutEvent::Close {
            conn: ConnId(1),
            reason: DisconnectReason::SelfConnection
        }]
    );
    assert!(s.peers(at(0)).is_empty());
}

/// A broadcast is delivered once and forwarded to every peer but the sender's link and the originator.
#[test]
fn broadcast_delivers_and_forwards() {
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    register(&mut s, 2, "b", 6002);
    register(&mut s, 3, "c", 6003);
    let b = frame(
        json!({"msg_type": "BROADCAST", "msg": "hi", "originator": "c", "time": "t",
        "id": "00000000-0000-0000-0000-000000000001"}),
    );
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: b.clone(),
        },
        at(1),
    );
    assert_eq!(
        out,
        vec![
            OutEvent::Emit(Event::Broadcast {
                from: PeerId::new("c"),
                text: "hi".into(),
                id: b.envelope().id,
                time: WireTime::Text("t".into())
            }),
            OutEvent::Send {
                conn: ConnId(2),
                frame: b.clone()
            },
        ]
    );
    // The forward shares the received buffer: no re-serialisation.
    if let OutEvent::Send { frame, .. } = &out[1] {
        assert!(frame.shares_bytes_with(&b));
    }
    // The same id again, from another link: dropped.
    let again = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(2),
            frame: b,
        },
        at(2),
    );
    assert!(again.is_empty());
    assert_eq!(s.metrics().duplicates_dropped, 1);
    assert_eq!(s.metrics().deliveries, 1);
}

/// Without ids (original peers), two lines of the same text in the same second
/// from different originators are both delivered; the exact triple twice is not.
#[test]
fn legacy_dedup_uses_originator_msg_time() {
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    let from_a = frame(
        json!({"msg_type": "BROADCAST", "msg": "hi", "originator": "a", "time": "Sat Nov 28 04:41:59 2026"}),
    );
    let from_b = frame(
        json!({"msg_type": "BROADCAST", "msg": "hi", "originator": "b", "time": "Sat Nov 28 04:41:59 2026"}),
    );
    assert_eq!(
        step(
            &mut s,
            InEvent::Received {
                conn: ConnId(1),
                frame: from_a.clone()
            },
            at(0)
        )
        .len(),
        1
    );
    assert_eq!(
        step(
            &mut s,
            InEvent::Received {
                conn: ConnId(1),
                frame: from_b
            },
            at(0)
        )
        .len(),
        1
    );
    assert!(step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: from_a
        },
        at(0)
    )
    .is_empty());
}

/// Two broadcasts with the same text and second but different ids are both delivered.
#[test]
fn same_text_same_second_different_ids_both_delivered() {
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    for n in 1..=2 {
        let f = frame(
            json!({"msg_type": "BROADCAST", "msg": "hi", "originator": "a", "time": "t",
            "id": format!("00000000-0000-0000-0000-00000000000{n}")}),
        );
        let out = step(
            &mut s,
            InEvent::Received {
                conn: ConnId(1),
                frame: f,
            },
            at(0),
        );
        assert!(matches!(out[0], OutEvent::Emit(Event::Broadcast { .. })));
    }
}

/// A local broadcast goes to every peer and is not delivered to the sender itself.
#[test]
fn command_broadcast_sends_to_all_peers() {
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    register(&mut s, 2, "b", 6002);
    let mut out = Vec::new();
    let id = MessageId::from_u128(7);
    s.command(
        Command::Broadcast {
            id,
            text: "yo".into(),
        },
        at(0),
        &mut out,
    )
    .unwrap();
    let expected = frame(
        json!({"msg_type": "BROADCAST", "msg": "yo", "originator": ME, "time": T0,
        "id": "00000000-0000-0000-0000-000000000007"}),
    );
    assert_eq!(
        out,
        vec![
            OutEvent::Send {
                conn: ConnId(1),
                frame: expected.clone()
            },
            OutEvent::Send {
                conn: ConnId(2),
                frame: expected
            },
        ]
    );
    assert!(s.is_seen(id));
}

/// ADVERTISE is answered with one ADVERTISE_REPLY per other peer.
#[test]
fn advertise_answers_with_other_peers() {
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    register(&mut s, 2, "b", 6002);
    let ask = frame(json!({"msg_type": "ADVERTISE", "msg": "", "originator": "a", "time": "t"}));
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: ask,
        },
        at(0),
    );
    assert_eq!(
        out,
        vec![OutEvent::Send {
            conn: ConnId(1),
            frame: frame(
                json!({"msg_type": "ADVERTISE_REPLY", "msg": ["b", ["127.0.0.1", 6002]], "originator": ME, "time": T0})
            )
        }]
    );
}

/// ADVERTISE_REPLY naming an unknown peer is announced and dialled; a known one, itself, or one being dialled is not.
#[test]
fn advertise_reply_dials_unknown_peers_once() {
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    let mut asked = Vec::new();
    s.command(Command::GetPeersFrom(PeerId::new("a")), at(0), &mut asked)
        .unwrap();
    let reply = |peer: &str, port: u16| {
        frame(
            json!({"msg_type": "ADVERTISE_REPLY", "msg": [peer, ["127.0.0.1", port]], "originator": "a", "time": "t"}),
        )
    };
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: reply("z", 6009),
        },
        at(0),
    );
    assert_eq!(
        out,
        vec![
            OutEvent::Emit(Event::PeerAdvertised {
                by: PeerId::new("a"),
                peer: PeerId::new("z"),
                addr: PeerAddr::new("127.0.0.1", 6009)
            }),
            OutEvent::Dial(PeerAddr::new("127.0.0.1", 6009)),
        ]
    );
    // Being dialled: announced, not dialled again.
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: reply("z", 6009),
        },
        at(0),
    );
    assert_eq!(out.len(), 1);
    // Itself: ignored entirely.
    assert!(step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: reply(ME, 5000)
        },
        at(0)
    )
    .is_empty());
}

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
    assert!(matches!(err, Error::UnknownPeer(p) if p.as_str() == "ghost"));
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

/// A closed connection drops its peer, tells the application, and schedules a redial.
#[test]
fn disconnect_drops_peer() {
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    let out = step(
        &mut s,
        InEvent::Disconnected {
            conn: ConnId(1),
            reason: DisconnectReason::Closed,
        },
        at(0),
    );
    assert_eq!(
        out[0],
        OutEvent::Emit(Event::PeerDisconnected {
            peer: PeerId::new("a"),
            reason: DisconnectReason::Closed
        })
    );
    assert_eq!(out.len(), 2);
    assert!(
        matches!(&out[1], OutEvent::Schedule { timer: Timer::Redial(a), .. } if a.port() == 6001)
    );
    assert!(s.peers(at(0)).is_empty());
}

/// Of two connections to one peer, the one dialled by the smaller id stays; the other closes quietly.
#[test]
fn duplicate_connection_keeps_smaller_dialer() {
    // "a" < "m": keep the connection "a" dialled (inbound here).
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    step(
        &mut s,
        InEvent::Connected {
            conn: ConnId(2),
            dir: Direction::Outbound {
                addr: PeerAddr::new("127.0.0.1", 6001),
            },
            local: None,
            remote: None,
        },
        at(0),
    );
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(2),
            frame: hello("PONG", "a", 6001, "t"),
        },
        at(0),
    );
    assert_eq!(
        out,
        vec![OutEvent::Close {
            conn: ConnId(2),
            reason: DisconnectReason::Duplicate
        }]
    );
    // "z" > "m": keep the connection this node dialled.
    register(&mut s, 3, "z", 6026);
    step(
        &mut s,
        InEvent::Connected {
            conn: ConnId(4),
            dir: Direction::Outbound {
                addr: PeerAddr::new("127.0.0.1", 6026),
            },
            local: None,
            remote: None,
        },
        at(0),
    );
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(4),
            frame: hello("PONG", "z", 6026, "t"),
        },
        at(0),
    );
    assert_eq!(
        out,
        vec![OutEvent::Close {
            conn: ConnId(3),
            reason: DisconnectReason::Duplicate
        }]
    );
    // Closing the replaced connection does not drop the peer.
    assert!(step(
        &mut s,
        InEvent::Disconnected {
            conn: ConnId(3),
            reason: DisconnectReason::Duplicate
        },
        at(0)
    )
    .is_empty());
    assert!(s.peer(&PeerId::new("z"), at(0)).is_some());
}

/// A hello on a connection bound to another peer id is refused and counted.
#[test]
fn hello_cannot_rebind_a_connection() {
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: hello("PONG", "b", 6002, "t"),
        },
        at(0),
    );
    assert!(out.is_empty());
    assert_eq!(s.metrics().rejected_frames, 1);
    assert!(s.peer(&PeerId::new("b"), at(0)).is_none());
}

/// At `max_peers`, a new pinger is referred to other peers and closed.
#[test]
fn peer_limit_refers_and_closes() {
    let mut s = node_with(NodeConfig {
        max_peers: 1,
        ..config()
    });
    register(&mut s, 1, "a", 6001);
    connect_in(&mut s, 2);
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(2),
            frame: hello("PING", "b", 6002, "t"),
        },
        at(0),
    );
    assert_eq!(
        out,
        vec![
            OutEvent::Send {
                conn: ConnId(2),
                frame: frame(
                    json!({"msg_type": "ADVERTISE_REPLY", "msg": ["a", ["127.0.0.1", 6001]], "originator": ME, "time": T0})
                )
            },
            OutEvent::Close {
                conn: ConnId(2),
                reason: DisconnectReason::PeerLimit
            },
        ]
    );
}

/// An inbound connection without a hello is closed when its handshake timer fires.
#[test]
fn handshake_timeout_closes_silent_connection() {
    let mut s = node();
    connect_in(&mut s, 1);
    let out = step(
        &mut s,
        InEvent::TimerFired(Timer::Handshake(ConnId(1))),
        at(5000),
    );
    assert_eq!(
        out,
        vec![OutEvent::Close {
            conn: ConnId(1),
            reason: DisconnectReason::HandshakeTimeout
        }]
    );
    register(&mut s, 2, "a", 6001);
    assert!(step(
        &mut s,
        InEvent::TimerFired(Timer::Handshake(ConnId(2))),
        at(5000)
    )
    .is_empty());
}

/// Keep-alive: a quiet peer is probed, a silent one dropped, and the timer rescheduled.
#[test]
fn keep_alive_probes_then_drops() {
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    let interval = config().ping_interval;
    let out = step(&mut s, InEvent::TimerFired(Timer::KeepAlive), at(5000));
    assert_eq!(
        out,
        vec![
            OutEvent::Send {
                conn: ConnId(1),
                frame: hello("PING", ME, 5000, "2026-11-28T04:42:04.000Z")
            },
            OutEvent::Schedule {
                delay: interval,
                timer: Timer::KeepAlive
            },
        ]
    );
    let out = step(&mut s, InEvent::TimerFired(Timer::KeepAlive), at(15000));
    assert_eq!(
        out,
        vec![
            OutEvent::Close {
                conn: ConnId(1),
                reason: DisconnectReason::Timeout
            },
            OutEvent::Schedule {
                delay: interval,
                timer: Timer::KeepAlive
            },
        ]
    );
}

/// Joining this node's own address, or one already being dialled, starts no dial.
#[test]
fn join_skips_self_and_in_flight() {
    let mut s = node();
    let mut out = Vec::new();
    s.command(
        Command::Join(PeerAddr::new("127.0.0.1", 5000)),
        at(0),
        &mut out,
    )
    .unwrap();
    assert!(out.is_empty());
    s.command(
        Command::Join(PeerAddr::new("127.0.0.1", 7000)),
        at(0),
        &mut out,
    )
    .unwrap();
    s.command(
        Command::Join(PeerAddr::new("127.0.0.1", 7000)),
        at(0),
        &mut out,
    )
    .unwrap();
    assert_eq!(out, vec![OutEvent::Dial(PeerAddr::new("127.0.0.1", 7000))]);
}

/// The seen-cache stays within its bound under a stream of unique ids.
#[test]
fn seen_cache_bounded_under_unique_ids() {
    let mut s = node_with(NodeConfig {
        seen_capacity: 1000,
        ..config()
    });
    register(&mut s, 1, "a", 6001);
    for n in 0..20_000u128 {
        let mut out = Vec::new();
        let id = MessageId::from_u128(n + 1);
        let f = frame(
            json!({"msg_type": "BROADCAST", "msg": "x", "originator": "a", "time": "t", "id": id}),
        );
        s.handle(
            InEvent::Received {
                conn: ConnId(1),
                frame: f,
            },
            at(0),
            &mut out,
        );
    }
    assert_eq!(s.seen.len(), 1000);
    assert_eq!(s.metrics().deliveries, 20_000);
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

mod addresses;
mod direct;
mod liveness;
mod one_shot;

/// A second connection claiming a peer that registered longer than the
/// handshake timeout ago is refused: it cannot take the peer over.
#[test]
fn settled_peer_cannot_be_hijacked() {
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    step(
        &mut s,
        InEvent::Connected {
            conn: ConnId(2),
            dir: Direction::Inbound,
            local: None,
            remote: Some("10.0.0.9:1".parse().unwrap()),
        },
        at(6000),
    );
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(2),
            frame: hello("PONG", "a", 6001, "t"),
        },
        at(6000),
    );
    assert_eq!(
        out,
        vec![OutEvent::Close {
            conn: ConnId(2),
            reason: DisconnectReason::Duplicate
        }]
    );
    assert_eq!(s.metrics().rejected_frames, 1);
    // The real peer is untouched and still reached on its own connection.
    let mut out = Vec::new();
    s.command(
        Command::Send {
            to: PeerId::new("a"),
            msg_type: "TEST".into(),
            msg: json!("x"),
        },
        at(6000),
        &mut out,
    )
    .unwrap();
    assert!(matches!(
        out[0],
        OutEvent::Send {
            conn: ConnId(1),
            ..
        }
    ));
}

/// ADVERTISE_REPLY frames nobody asked for are ignored and counted; an asked
/// peer gets at most `max_advertise` replies accepted.
#[test]
fn advertise_replies_must_be_solicited() {
    let mut s = node_with(NodeConfig {
        max_advertise: 2,
        ..config()
    });
    register(&mut s, 1, "a", 6001);
    let reply = |n: u16| {
        frame(
            json!({"msg_type": "ADVERTISE_REPLY", "msg": [format!("z{n}"), ["127.0.0.1", 7000 + n]], "originator": "a", "time": "t"}),
        )
    };
    assert!(step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: reply(0)
        },
        at(0)
    )
    .is_empty());
    assert_eq!(s.metrics().rejected_frames, 1);
    let mut out = Vec::new();
    s.command(Command::GetPeersFrom(PeerId::new("a")), at(0), &mut out)
        .unwrap();
    for n in 1..=2 {
        let out = step(
            &mut s,
            InEvent::Received {
                conn: ConnId(1),
                frame: reply(n),
            },
            at(0),
        );
        assert!(out.contains(&OutEvent::Dial(PeerAddr::new("127.0.0.1", 7000 + n))));
    }
    assert!(step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: reply(3)
        },
        at(0)
    )
    .is_empty());
    assert_eq!(s.metrics().rejected_frames, 2);
}
