//! Unit tests of peer lists: answering ADVERTISE, solicited replies, dialling what is learned.

use super::*;

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
