//! Unit tests of `DIRECT` / `DIRECT_ACK` routing: one event in, the exact out-events.

use super::*;

const ID: &str = "00000000-0000-0000-0000-0000000000d1";

fn id() -> MessageId {
    MessageId::from(uuid::Uuid::parse_str(ID).unwrap())
}

fn direct(from: &str, to: &str, hops: u32) -> Frame {
    frame(
        json!({"msg_type": "DIRECT", "msg": "psst", "originator": from, "time": "t", "id": ID, "to": to, "hops": hops}),
    )
}

fn send(s: &mut NodeState, to: &str) -> Vec<OutEvent> {
    let mut out = Vec::new();
    let cmd = Command::Direct {
        id: id(),
        to: PeerId::new(to),
        text: "psst".into(),
    };
    s.command(cmd, at(0), &mut out).unwrap();
    out
}

/// A direct message to this node's own id is delivered and acknowledged at once.
#[test]
fn to_self_is_delivered_locally() {
    let mut s = node();
    let out = send(&mut s, ME);
    assert_eq!(
        out,
        vec![
            OutEvent::Emit(Event::Direct {
                from: PeerId::new(ME),
                text: "psst".into(),
                id: id(),
                time: WireTime::Text(T0.into()),
                verified: false,
                trust: Trust::Unsigned,
            }),
            OutEvent::Emit(Event::Delivered {
                id: id(),
                to: PeerId::new(ME),
                round_trip: Duration::ZERO
            }),
        ]
    );
}

/// To a neighbour: one frame on its connection, full hop budget, and a timeout timer.
#[test]
fn to_neighbour_goes_straight() {
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    register(&mut s, 2, "b", 6002);
    let out = send(&mut s, "b");
    assert_eq!(
        out,
        vec![
            OutEvent::Schedule {
                delay: config().direct_timeout,
                timer: Timer::Direct(id())
            },
            OutEvent::Send {
                conn: ConnId(2),
                frame: frame(
                    json!({"msg_type": "DIRECT", "msg": "psst", "originator": ME, "time": T0, "id": ID, "to": "b", "hops": 16})
                )
            },
        ]
    );
}

/// Not for this node and not a neighbour: forwarded to every other link with one hop fewer.
#[test]
fn forwards_with_one_hop_fewer() {
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    register(&mut s, 2, "b", 6002);
    register(&mut s, 3, "c", 6003);
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: direct("a", "far", 5),
        },
        at(0),
    );
    assert_eq!(
        out,
        vec![
            OutEvent::Send {
                conn: ConnId(2),
                frame: direct("a", "far", 4)
            },
            OutEvent::Send {
                conn: ConnId(3),
                frame: direct("a", "far", 4)
            },
        ]
    );
    assert_eq!(s.metrics().deliveries, 0, "nodes on the way do not deliver");
}

/// For a neighbour of this node: passed straight to it, not flooded.
#[test]
fn forwards_to_target_neighbour_only() {
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    register(&mut s, 2, "b", 6002);
    register(&mut s, 3, "c", 6003);
    let f = direct("a", "c", 5);
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: f.clone(),
        },
        at(0),
    );
    assert_eq!(
        out,
        vec![OutEvent::Send {
            conn: ConnId(3),
            frame: f
        }]
    );
}

/// With its hops spent, a direct message for someone else is dropped.
#[test]
fn hops_exhausted_is_dropped() {
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    register(&mut s, 2, "b", 6002);
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: direct("a", "far", 0),
        },
        at(0),
    );
    assert!(out.is_empty());
}

/// The same id a second time (by another path) is dropped.
#[test]
fn duplicate_is_dropped() {
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    register(&mut s, 2, "b", 6002);
    step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: direct("a", ME, 5),
        },
        at(0),
    );
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(2),
            frame: direct("a", ME, 4),
        },
        at(0),
    );
    assert!(out.is_empty());
    assert_eq!(s.metrics().deliveries, 1);
    assert_eq!(s.metrics().duplicates_dropped, 1);
}

/// For this node: delivered once and acknowledged towards the sender.
#[test]
fn for_me_is_delivered_and_acked() {
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: direct("a", ME, 5),
        },
        at(0),
    );
    let ack_id = "5a5a5a5a-5a5a-5a5a-5a5a-5a5a5a5a5a8b";
    assert_eq!(
        out,
        vec![
            OutEvent::Emit(Event::Direct {
                from: PeerId::new("a"),
                text: "psst".into(),
                id: id(),
                time: WireTime::Text("t".into()),
                verified: false,
                trust: Trust::Unsigned,
            }),
            OutEvent::Send {
                conn: ConnId(1),
                frame: frame(
                    json!({"msg_type": "DIRECT_ACK", "msg": ID, "originator": ME, "time": T0, "id": ack_id, "to": "a", "hops": 16})
                )
            },
        ]
    );
}

/// The ack settles the pending message with its round trip; a late timer then does nothing.
#[test]
fn ack_settles_then_timer_is_quiet() {
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    send(&mut s, "a");
    let ack = frame(
        json!({"msg_type": "DIRECT_ACK", "msg": ID, "originator": "a", "time": "t",
        "id": "00000000-0000-0000-0000-0000000000a1", "to": ME, "hops": 16}),
    );
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: ack,
        },
        at(40),
    );
    assert_eq!(
        out,
        vec![OutEvent::Emit(Event::Delivered {
            id: id(),
            to: PeerId::new("a"),
            round_trip: Duration::from_millis(40)
        })]
    );
    assert!(step(&mut s, InEvent::TimerFired(Timer::Direct(id())), at(5000)).is_empty());
}

/// Without an ack, the timer ends the message with a timeout.
#[test]
fn no_ack_times_out() {
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    send(&mut s, "nobody");
    let out = step(&mut s, InEvent::TimerFired(Timer::Direct(id())), at(5000));
    assert_eq!(
        out,
        vec![OutEvent::Emit(Event::DeliveryTimeout {
            id: id(),
            to: PeerId::new("nobody")
        })]
    );
}
