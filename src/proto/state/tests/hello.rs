//! Unit tests of registration: hellos, duplicate and self connections, the peer limit, hijacking.

use super::*;

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
