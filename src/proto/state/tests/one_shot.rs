//! Unit tests of original (one-shot) peers: registered without a connection, reached by fresh ones.

use super::*;

fn original_ping(from: &str, port: u16) -> Frame {
    frame(
        json!({"msg_type": "PING", "msg": ["127.0.0.1", port], "originator": from, "time": "Sat Nov 28 04:41:59 2026"}),
    )
}

fn one_shot_pong(port: u16, time: &str) -> OutEvent {
    OutEvent::SendOneShot {
        addr: PeerAddr::new("127.0.0.1", port),
        frame: hello("PONG", ME, 5000, time),
    }
}

/// A `PING` without `v` registers a one-shot peer and is answered on a fresh connection.
#[test]
fn ping_without_v_registers_one_shot_peer() {
    let mut s = node();
    connect_in(&mut s, 1);
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: original_ping("py", 7001),
        },
        at(0),
    );
    assert_eq!(
        out,
        vec![
            OutEvent::Emit(Event::PeerConnected {
                peer: PeerId::new("py"),
                addr: PeerAddr::new("127.0.0.1", 7001)
            }),
            one_shot_pong(7001, T0),
        ]
    );
    assert!(s.peer(&PeerId::new("py"), at(0)).unwrap().one_shot);
    // The original closes its connection: the peer stays registered.
    let out = step(
        &mut s,
        InEvent::Disconnected {
            conn: ConnId(1),
            reason: DisconnectReason::Closed,
        },
        at(0),
    );
    assert!(out.is_empty());
    assert!(s.peer(&PeerId::new("py"), at(0)).is_some());
}

/// Broadcasts reach a one-shot peer on a fresh connection, the same bytes.
#[test]
fn broadcast_goes_one_shot() {
    let mut s = node();
    connect_in(&mut s, 1);
    step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: original_ping("py", 7001),
        },
        at(0),
    );
    register(&mut s, 2, "a", 6001);
    let b = frame(
        json!({"msg_type": "BROADCAST", "msg": "hi", "originator": "a", "time": "t", "id": "00000000-0000-0000-0000-000000000001"}),
    );
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(2),
            frame: b.clone(),
        },
        at(0),
    );
    assert_eq!(
        out[1],
        OutEvent::SendOneShot {
            addr: PeerAddr::new("127.0.0.1", 7001),
            frame: b
        }
    );
}

/// A frame larger than an original's single read is not sent to it, and is counted.
#[test]
fn oversized_frame_not_sent_one_shot() {
    let mut s = node();
    connect_in(&mut s, 1);
    step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: original_ping("py", 7001),
        },
        at(0),
    );
    let mut out = Vec::new();
    let text = "x".repeat(3000);
    s.command(
        Command::Broadcast {
            id: MessageId::from_u128(1),
            text,
        },
        at(0),
        &mut out,
    )
    .unwrap();
    assert!(out.is_empty());
    assert_eq!(s.metrics().one_shot_oversized, 1);
}

/// ADVERTISE from a one-shot peer is answered with one fresh connection per reply.
#[test]
fn advertise_answered_one_shot() {
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    connect_in(&mut s, 2);
    step(
        &mut s,
        InEvent::Received {
            conn: ConnId(2),
            frame: original_ping("py", 7001),
        },
        at(0),
    );
    connect_in(&mut s, 3);
    let ask = frame(json!({"msg_type": "ADVERTISE", "msg": "", "originator": "py", "time": "t"}));
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(3),
            frame: ask,
        },
        at(0),
    );
    assert_eq!(
        out,
        vec![OutEvent::SendOneShot {
            addr: PeerAddr::new("127.0.0.1", 7001),
            frame: frame(
                json!({"msg_type": "ADVERTISE_REPLY", "msg": ["a", ["127.0.0.1", 6001]], "originator": ME, "time": T0})
            )
        }]
    );
}

/// Keep-alive: a quiet one-shot peer gets a one-shot PING; its one-shot PONG keeps it;
/// silence past `peer_timeout` drops it.
#[test]
fn one_shot_keep_alive() {
    let mut s = node();
    connect_in(&mut s, 1);
    step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: original_ping("py", 7001),
        },
        at(0),
    );
    let out = step(&mut s, InEvent::TimerFired(Timer::KeepAlive), at(5000));
    assert_eq!(
        out[0],
        OutEvent::SendOneShot {
            addr: PeerAddr::new("127.0.0.1", 7001),
            frame: hello("PING", ME, 5000, "2026-11-28T04:42:04.000Z")
        }
    );
    connect_in(&mut s, 2);
    let pong = frame(
        json!({"msg_type": "PONG", "msg": ["127.0.0.1", 7001], "originator": "py", "time": "t"}),
    );
    step(
        &mut s,
        InEvent::Received {
            conn: ConnId(2),
            frame: pong,
        },
        at(6000),
    );
    let out = step(&mut s, InEvent::TimerFired(Timer::KeepAlive), at(15000));
    assert!(!out
        .iter()
        .any(|e| matches!(e, OutEvent::Emit(Event::PeerDisconnected { .. }))));
    let out = step(&mut s, InEvent::TimerFired(Timer::KeepAlive), at(21000));
    assert_eq!(
        out[0],
        OutEvent::Emit(Event::PeerDisconnected {
            peer: PeerId::new("py"),
            reason: DisconnectReason::Timeout
        })
    );
}

/// A one-shot peer that later speaks `v` 1 on a persistent connection moves to it.
#[test]
fn one_shot_peer_upgrades_to_persistent() {
    let mut s = node();
    connect_in(&mut s, 1);
    step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: original_ping("py", 7001),
        },
        at(0),
    );
    register(&mut s, 2, "py", 7001);
    let info = s.peer(&PeerId::new("py"), at(0)).unwrap();
    assert!(!info.one_shot);
    assert_eq!(info.version, Some(PROTOCOL_VERSION));
}
