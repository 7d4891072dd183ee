//! Unit tests of namesakes: peers told apart by key where it is known (self and duplicate checks, originator skip, DIRECT routing, sends by name).

use super::*;
use crate::proto::sign::sign_envelope;
use crate::proto::{Identity, NodeKey, PeerSlot};

fn me() -> Identity {
    Identity::from_secret([5; 32])
}

fn alice_a() -> Identity {
    Identity::from_secret([1; 32])
}

fn alice_b() -> Identity {
    Identity::from_secret([2; 32])
}

fn carol() -> Identity {
    Identity::from_secret([3; 32])
}

/// A `PONG` from `from` on `port`, naming `key` (registers without an answer).
fn keyed_pong(from: &str, port: u16, key: Option<NodeKey>) -> Frame {
    let mut json = json!({"msg_type": "PONG", "msg": ["127.0.0.1", port], "originator": from, "time": "t", "v": PROTOCOL_VERSION, "caps": []});
    if let Some(key) = key {
        json["key"] = json!(key.to_hex());
    }
    frame(json)
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

fn connected(peer: &str, port: u16) -> OutEvent {
    OutEvent::Emit(Event::PeerConnected {
        peer: PeerId::new(peer),
        addr: PeerAddr::new("127.0.0.1", port),
    })
}

/// A node with a key, and peers alice (key A, conn 1), alice (key B, conn 2)
/// and b (no key, conn 3), all on plaintext links.
fn namesakes() -> NodeState {
    let mut s = node();
    s.set_identity(me());
    for (conn, name, port, key) in [
        (1, "alice", 6001, Some(alice_a().key())),
        (2, "alice", 6002, Some(alice_b().key())),
        (3, "b", 6003, None),
    ] {
        connect_in(&mut s, conn);
        let out = receive(&mut s, conn, keyed_pong(name, port, key), at(0));
        assert_eq!(out, vec![connected(name, port)]);
    }
    s
}

/// A broadcast of `text` under `name`, signed by `who`.
fn signed_broadcast(who: &Identity, name: &str, text: &str, nonce: u64) -> Frame {
    let mut env = Envelope::new(
        "BROADCAST",
        json!(text),
        PeerId::new(name),
        WireTime::Text(T0.into()),
    );
    env.nonce = Some(nonce);
    sign_envelope(who, &mut env).unwrap();
    Frame::encode(env).unwrap()
}

/// A `DIRECT` from carol (signed) for `to` under `to_key`, with 5 hops left.
fn direct_to(to: &str, to_key: Option<NodeKey>) -> Envelope {
    let mut env = Envelope::new(
        "DIRECT",
        json!("psst"),
        PeerId::new("carol"),
        WireTime::Text(T0.into()),
    );
    env.to = Some(PeerId::new(to));
    env.to_key = to_key;
    env.hops = Some(5);
    env.nonce = Some(7);
    sign_envelope(&carol(), &mut env).unwrap();
    env
}

fn sends(out: &[OutEvent]) -> Vec<u64> {
    out.iter()
        .filter_map(|o| match o {
            OutEvent::Send { conn, .. } => Some(conn.0),
            _ => None,
        })
        .collect()
}

/// A hello naming this node's own key is a self connection, whatever name
/// it uses; one naming this node's id and no key is one too (as before keys).
#[test]
fn own_key_or_own_name_without_key_is_self() {
    for (name, key) in [(ME, Some(me().key())), ("x", Some(me().key())), (ME, None)] {
        let mut s = node();
        s.set_identity(me());
        connect_in(&mut s, 1);
        let out = receive(&mut s, 1, keyed_pong(name, 6001, key), at(0));
        assert_eq!(
            out,
            vec![OutEvent::Close {
                conn: ConnId(1),
                reason: DisconnectReason::SelfConnection
            }],
            "{name} {key:?}"
        );
    }
}

/// A hello naming this node's id under another key is another node, a
/// namesake: registered under that key (a plaintext hello's key pins nothing).
#[test]
fn own_name_other_key_is_a_namesake() {
    let mut s = node();
    s.set_identity(me());
    connect_in(&mut s, 1);
    let out = receive(
        &mut s,
        1,
        keyed_pong(ME, 6001, Some(alice_a().key())),
        at(0),
    );
    assert_eq!(out, vec![connected(ME, 6001)]);
    let peers = s.peers(at(0));
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].known_key, Some(alice_a().key()));
    assert_eq!(peers[0].key, None, "a plaintext hello's key is not proven");
    assert!(s.pins().get(&PeerId::new(ME)).is_none());
}

/// The same key on a second connection is a duplicate (refused once the
/// first is settled); the same name under another key registers beside it.
#[test]
fn same_key_is_duplicate_other_key_registers() {
    let mut s = node();
    s.set_identity(me());
    connect_in(&mut s, 1);
    receive(
        &mut s,
        1,
        keyed_pong("alice", 6001, Some(alice_a().key())),
        at(0),
    );
    let later = at(config().handshake_timeout.as_millis() as u64);
    connect_in(&mut s, 2);
    let out = receive(
        &mut s,
        2,
        keyed_pong("alice", 6001, Some(alice_a().key())),
        later,
    );
    assert_eq!(
        out,
        vec![OutEvent::Close {
            conn: ConnId(2),
            reason: DisconnectReason::Duplicate
        }]
    );
    connect_in(&mut s, 3);
    let out = receive(
        &mut s,
        3,
        keyed_pong("alice", 6002, Some(alice_b().key())),
        later,
    );
    assert_eq!(out, vec![connected("alice", 6002)]);
    let keys: BTreeSet<_> = s.peers(later).iter().map(|p| p.known_key).collect();
    assert_eq!(
        keys,
        BTreeSet::from([Some(alice_a().key()), Some(alice_b().key())])
    );
    assert!(
        s.pins().get(&PeerId::new("alice")).is_none(),
        "hellos never pin"
    );
}

/// Without keys a name is all there is: a second unsigned hello under a
/// settled name is a duplicate, as before keys.
#[test]
fn unsigned_namesake_is_a_duplicate() {
    let mut s = node();
    register(&mut s, 1, "alice", 6001);
    let later = at(config().handshake_timeout.as_millis() as u64);
    connect_in(&mut s, 2);
    let out = receive(&mut s, 2, keyed_pong("alice", 6002, None), later);
    assert_eq!(
        out,
        vec![OutEvent::Close {
            conn: ConnId(2),
            reason: DisconnectReason::Duplicate
        }]
    );
}

/// A secure link's proven key tells its peer apart even when its hello
/// names no key; a hello naming another key than the one its connection was
/// registered under is refused.
#[test]
fn link_key_tells_namesakes_apart() {
    let mut s = node();
    s.set_identity(me());
    connect_in(&mut s, 1);
    step(
        &mut s,
        InEvent::Authenticated {
            conn: ConnId(1),
            key: alice_a().key(),
        },
        at(0),
    );
    let out = receive(&mut s, 1, keyed_pong("alice", 6001, None), at(0));
    assert_eq!(out, vec![connected("alice", 6001)]);
    connect_in(&mut s, 2);
    let out = receive(
        &mut s,
        2,
        keyed_pong("alice", 6002, Some(alice_b().key())),
        at(0),
    );
    assert_eq!(out, vec![connected("alice", 6002)]);
    let before = s.metrics().rejected_frames;
    let out = receive(
        &mut s,
        2,
        keyed_pong("alice", 6002, Some(carol().key())),
        at(1),
    );
    assert_eq!(out, vec![]);
    assert_eq!(s.metrics().rejected_frames, before + 1);
    let secure: Vec<_> = s
        .peers(at(1))
        .iter()
        .map(|p| (p.secure, p.known_key))
        .collect();
    assert!(secure.contains(&(true, Some(alice_a().key()))));
    assert!(secure.contains(&(false, Some(alice_b().key()))));
}

/// A broadcast signed by alice's key A skips only the peer under key A: the
/// namesake under key B gets it. One signed by B, arriving from B, is a
/// conflict (A pinned first) and goes to A and b.
#[test]
fn originator_skip_is_by_key() {
    let mut s = namesakes();
    let f = signed_broadcast(&alice_a(), "alice", "from A", 1);
    let out = receive(&mut s, 3, f.clone(), at(1));
    assert_eq!(
        out,
        vec![
            OutEvent::PinsChanged,
            OutEvent::Emit(Event::Broadcast {
                from: PeerId::new("alice"),
                text: "from A".into(),
                id: f.envelope().id,
                time: f.envelope().time.clone(),
                verified: true,
                trust: Trust::New,
                late: false,
            }),
            OutEvent::Send {
                conn: ConnId(2),
                frame: f
            },
        ]
    );
    let g = signed_broadcast(&alice_b(), "alice", "from B", 2);
    let out = receive(&mut s, 2, g.clone(), at(2));
    let mut expected = vec![OutEvent::Emit(Event::Broadcast {
        from: PeerId::new("alice"),
        text: "from B".into(),
        id: g.envelope().id,
        time: g.envelope().time.clone(),
        verified: true,
        trust: Trust::Conflict,
        late: false,
    })];
    for conn in [1, 3] {
        expected.push(OutEvent::Send {
            conn: ConnId(conn),
            frame: g.clone(),
        });
    }
    let emitted: Vec<_> = out
        .iter()
        .filter(|o| !matches!(o, OutEvent::PinsChanged))
        .cloned()
        .collect();
    assert_eq!(emitted, expected);
}

/// An unsigned broadcast names no key: every peer under its name is skipped, as before keys.
#[test]
fn unsigned_originator_skip_is_by_name() {
    let mut s = namesakes();
    let f = frame(
        json!({"msg_type": "BROADCAST", "msg": "plain", "originator": "alice", "time": T0, "id": "00000000-0000-4000-8000-000000000001"}),
    );
    let out = receive(&mut s, 3, f.clone(), at(1));
    assert_eq!(
        out,
        vec![OutEvent::Emit(Event::Broadcast {
            from: PeerId::new("alice"),
            text: "plain".into(),
            id: f.envelope().id,
            time: f.envelope().time.clone(),
            verified: false,
            trust: Trust::Unsigned,
            late: false,
        })]
    );
}

/// A DIRECT naming `to_key` goes to the neighbour under that key, never to
/// its namesake; one naming an unknown key is flooded on (one hop fewer);
/// one naming no key goes by name to the first namesake registered (here
/// both at once: the first in key order), as before keys.
#[test]
fn direct_routes_by_key() {
    let mut s = namesakes();
    let out = receive(
        &mut s,
        3,
        Frame::encode(direct_to("alice", Some(alice_b().key()))).unwrap(),
        at(1),
    );
    assert_eq!(
        out,
        vec![
            OutEvent::PinsChanged,
            OutEvent::Send {
                conn: ConnId(2),
                frame: Frame::encode(direct_to("alice", Some(alice_b().key()))).unwrap()
            },
        ]
    );
    let mut env = direct_to("alice", Some(alice_a().key()));
    env.nonce = Some(8);
    sign_envelope(&carol(), &mut env).unwrap();
    let out = receive(&mut s, 3, Frame::encode(env).unwrap(), at(1));
    assert_eq!(sends(&out), vec![1]);
    let mut env = direct_to("alice", Some(carol().key()));
    env.nonce = Some(9);
    sign_envelope(&carol(), &mut env).unwrap();
    let out = receive(&mut s, 3, Frame::encode(env).unwrap(), at(1));
    let mut flooded = sends(&out);
    flooded.sort();
    assert_eq!(flooded, vec![1, 2]);
    let mut env = direct_to("alice", None);
    env.nonce = Some(10);
    sign_envelope(&carol(), &mut env).unwrap();
    let out = receive(&mut s, 3, Frame::encode(env).unwrap(), at(1));
    let first = if alice_a().key() < alice_b().key() {
        1
    } else {
        2
    };
    assert_eq!(sends(&out), vec![first]);
}

/// Sends by name (`Command::Send`, `peer(name)`) go to the namesake under
/// the key pinned for the name; losing one namesake leaves the other.
#[test]
fn sends_by_name_follow_the_pin() {
    let mut s = namesakes();
    let mut out = Vec::new();
    s.pin(PeerId::new("alice"), alice_b().key(), &mut out);
    assert_eq!(out, vec![OutEvent::PinsChanged]);
    let alice = PeerId::new("alice");
    assert_eq!(
        s.peer(&alice, at(1)).unwrap().known_key,
        Some(alice_b().key())
    );
    let out = step(
        &mut s,
        InEvent::Command(Command::Send {
            to: alice.clone(),
            msg_type: "CHAT".into(),
            msg: json!("hello"),
        }),
        at(1),
    );
    assert_eq!(sends(&out), vec![2]);
    let out = step(
        &mut s,
        InEvent::Disconnected {
            conn: ConnId(2),
            reason: DisconnectReason::Closed,
        },
        at(2),
    );
    assert_eq!(
        out.first(),
        Some(&OutEvent::Emit(Event::PeerDisconnected {
            peer: alice.clone(),
            reason: DisconnectReason::Closed
        }))
    );
    let left = s.peer(&alice, at(2)).unwrap();
    assert_eq!(left.known_key, Some(alice_a().key()));
    let slot = PeerSlot::new(alice, Some(alice_a().key()));
    assert!(slot.is_origin(&PeerId::new("x"), Some(&alice_a().key())));
}

/// A message under this node's own name signed by another key is a
/// `conflict` here (the name is bound to this node's key), pins nothing, and
/// is still relayed, to a namesake under a third key too (not its originator by key).
#[test]
fn own_name_under_another_key_is_a_conflict() {
    let mut s = node();
    s.set_identity(me());
    connect_in(&mut s, 1);
    receive(
        &mut s,
        1,
        keyed_pong(ME, 6001, Some(alice_a().key())),
        at(0),
    );
    connect_in(&mut s, 2);
    receive(&mut s, 2, keyed_pong("b", 6002, None), at(0));
    let f = signed_broadcast(&carol(), ME, "me too", 1);
    let out = receive(&mut s, 2, f.clone(), at(1));
    assert_eq!(
        out,
        vec![
            OutEvent::Emit(Event::Broadcast {
                from: PeerId::new(ME),
                text: "me too".into(),
                id: f.envelope().id,
                time: f.envelope().time.clone(),
                verified: true,
                trust: Trust::Conflict,
                late: false,
            }),
            OutEvent::Send {
                conn: ConnId(1),
                frame: f
            },
        ]
    );
    assert!(s.pins().get(&PeerId::new(ME)).is_none());
}

/// Two connections racing between this node and a namesake of it (same
/// name, key A): the one dialled by the smaller key is kept, so both ends
/// keep the same one although their names tie.
#[test]
fn racing_namesakes_keep_the_smaller_keys_dial() {
    let mut s = node();
    s.set_identity(me());
    connect_in(&mut s, 1);
    receive(
        &mut s,
        1,
        keyed_pong(ME, 6001, Some(alice_a().key())),
        at(0),
    );
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
        at(1),
    );
    let out = receive(
        &mut s,
        2,
        keyed_pong(ME, 6001, Some(alice_a().key())),
        at(1),
    );
    // Conn 2 was dialled by this node, conn 1 by the namesake.
    let dropped = if me().key() < alice_a().key() { 1 } else { 2 };
    assert_eq!(
        out,
        vec![OutEvent::Close {
            conn: ConnId(dropped),
            reason: DisconnectReason::Duplicate
        }]
    );
}

/// With no pin for the name, a send by name (and a DIRECT without `to_key`)
/// goes to the namesake registered first, whatever the keys' bytes; a pin
/// moves it to the pinned key.
#[test]
fn unpinned_name_goes_to_the_first_registered() {
    for (first, second) in [(alice_a(), alice_b()), (alice_b(), alice_a())] {
        let mut s = node();
        s.set_identity(me());
        connect_in(&mut s, 1);
        receive(
            &mut s,
            1,
            keyed_pong("alice", 6001, Some(first.key())),
            at(0),
        );
        connect_in(&mut s, 2);
        receive(
            &mut s,
            2,
            keyed_pong("alice", 6002, Some(second.key())),
            at(1),
        );
        let alice = PeerId::new("alice");
        assert_eq!(s.peer(&alice, at(2)).unwrap().known_key, Some(first.key()));
        let send = Command::Send {
            to: alice.clone(),
            msg_type: "CHAT".into(),
            msg: json!("hello"),
        };
        let out = step(&mut s, InEvent::Command(send.clone()), at(2));
        assert_eq!(sends(&out), vec![1]);
        connect_in(&mut s, 3);
        receive(&mut s, 3, keyed_pong("b", 6003, None), at(2));
        let direct = Frame::encode(direct_to("alice", None)).unwrap();
        let out = receive(&mut s, 3, direct, at(3));
        assert_eq!(sends(&out), vec![1]);
        let mut out = Vec::new();
        s.pin(alice.clone(), second.key(), &mut out);
        let out = step(&mut s, InEvent::Command(send), at(4));
        assert_eq!(sends(&out), vec![2]);
    }
}

/// An `ADVERTISE` from one alice is answered with the other peers, her
/// namesake (another key, another connection) among them.
#[test]
fn advertise_names_the_askers_namesake() {
    let mut s = namesakes();
    let ask =
        frame(json!({"msg_type": "ADVERTISE", "msg": "", "originator": "alice", "time": "t"}));
    let out = receive(&mut s, 1, ask, at(1));
    let reply = |peer: &str, port: u16| OutEvent::Send {
        conn: ConnId(1),
        frame: frame(
            json!({"msg_type": "ADVERTISE_REPLY", "msg": [peer, ["127.0.0.1", port]], "originator": ME, "time": "2026-11-28T04:41:59.001Z"}),
        ),
    };
    assert_eq!(out, vec![reply("alice", 6002), reply("b", 6003)]);
}
