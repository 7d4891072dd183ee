//! Unit tests of secure links in the state machine: the proven key per link, hellos checked against it, fallback and no downgrade.

use super::*;
use crate::proto::{DialError, Identity, NodeKey};

fn key(seed: u8) -> NodeKey {
    Identity::from_secret([seed; 32]).key()
}

fn hello_with_key(msg_type: &str, from: &str, port: u16, key: NodeKey) -> Frame {
    frame(
        json!({"msg_type": msg_type, "msg": ["127.0.0.1", port], "originator": from, "time": "t", "v": PROTOCOL_VERSION, "caps": [], "key": key.to_hex()}),
    )
}

fn authenticate(s: &mut NodeState, conn: u64, k: NodeKey) -> Vec<OutEvent> {
    step(
        s,
        InEvent::Authenticated {
            conn: ConnId(conn),
            key: k,
        },
        at(0),
    )
}

fn dial_out(s: &mut NodeState, conn: u64, port: u16) {
    let addr = PeerAddr::new("127.0.0.1", port);
    step(s, InEvent::Command(Command::Join(addr.clone())), at(0));
    step(
        s,
        InEvent::Connected {
            conn: ConnId(conn),
            dir: Direction::Outbound { addr },
            local: None,
            remote: None,
        },
        at(0),
    );
}

/// `Authenticated` changes nothing on the wire; it is counted, and the peer
/// that registers on that link shows the key and `secure`.
#[test]
fn authenticated_link_shows_key_in_peer_info() {
    let mut s = node();
    connect_in(&mut s, 1);
    assert_eq!(authenticate(&mut s, 1, key(1)), vec![]);
    assert_eq!(s.link_key(ConnId(1)), Some(key(1)));
    step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: hello_with_key("PING", "a", 6001, key(1)),
        },
        at(0),
    );
    let info = s.peer(&PeerId::new("a"), at(0)).unwrap();
    assert_eq!((info.key, info.secure), (Some(key(1)), true));
    assert_eq!(s.metrics().secure_links, 1);
    register(&mut s, 2, "b", 6002);
    let info = s.peer(&PeerId::new("b"), at(0)).unwrap();
    assert_eq!((info.key, info.secure), (None, false));
}

/// A hello on a secure link claiming another key closes it with
/// `IdentityMismatch`, counted, and registers nobody.
#[test]
fn hello_key_other_than_the_link_key_is_a_mismatch() {
    let mut s = node();
    connect_in(&mut s, 1);
    authenticate(&mut s, 1, key(1));
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(1),
            frame: hello_with_key("PING", "a", 6001, key(2)),
        },
        at(0),
    );
    assert_eq!(
        out,
        vec![OutEvent::Close {
            conn: ConnId(1),
            reason: DisconnectReason::IdentityMismatch
        }]
    );
    assert_eq!(s.metrics().identity_mismatch, 1);
    assert!(s.peer(&PeerId::new("a"), at(0)).is_none());
}

/// A dial with no secure answer is made again in plaintext (no failure
/// told), unless the address was seen secure or `require_secure` is set:
/// then it is a failed dial, counted as refused.
#[test]
fn insecure_dial_falls_back_only_when_allowed() {
    let addr = PeerAddr::new("127.0.0.1", 6001);
    let insecure = || InEvent::DialFailed {
        addr: PeerAddr::new("127.0.0.1", 6001),
        error: DialError::Insecure,
    };
    let mut s = node();
    step(&mut s, InEvent::Command(Command::Join(addr.clone())), at(0));
    assert_eq!(
        step(&mut s, insecure(), at(0)),
        vec![OutEvent::DialPlain(addr.clone())]
    );
    assert_eq!(s.metrics().dials_failed, 0);

    let mut s = node();
    s.mark_secure_addr(addr.clone());
    assert!(!s.may_downgrade(&addr));
    step(&mut s, InEvent::Command(Command::Join(addr.clone())), at(0));
    let out = step(&mut s, insecure(), at(0));
    assert!(!out.iter().any(|o| matches!(o, OutEvent::DialPlain(_))));
    assert!(out.iter().any(|o| matches!(
        o,
        OutEvent::Emit(Event::DialFailed {
            error: DialError::Insecure,
            ..
        })
    )));
    assert_eq!(s.metrics().insecure_refused, 1);

    let mut s = node_with(NodeConfig {
        require_secure: true,
        ..config()
    });
    assert!(!s.may_downgrade(&addr));
    step(&mut s, InEvent::Command(Command::Join(addr)), at(0));
    let out = step(&mut s, insecure(), at(0));
    assert!(!out.iter().any(|o| matches!(o, OutEvent::DialPlain(_))));
}

/// An address dialled securely, and the listen address of a peer
/// registered on a secure link, are remembered: no later downgrade.
#[test]
fn addresses_seen_secure_are_remembered() {
    let mut s = node();
    dial_out(&mut s, 1, 6001);
    authenticate(&mut s, 1, key(1));
    assert!(!s.may_downgrade(&PeerAddr::new("127.0.0.1", 6001)));
    connect_in(&mut s, 2);
    authenticate(&mut s, 2, key(2));
    step(
        &mut s,
        InEvent::Received {
            conn: ConnId(2),
            frame: hello("PING", "b", 6002, "t"),
        },
        at(0),
    );
    assert!(!s.may_downgrade(&PeerAddr::new("127.0.0.1", 6002)));
    assert!(s.may_downgrade(&PeerAddr::new("127.0.0.1", 6003)));
}

/// A plaintext hello claiming a key seen secure, or advertising an
/// address seen secure, is refused (`InsecureRefused`, counted).
#[test]
fn plaintext_hello_from_a_secure_peer_is_refused() {
    let mut s = node();
    connect_in(&mut s, 1);
    authenticate(&mut s, 1, key(1));
    connect_in(&mut s, 2);
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(2),
            frame: hello_with_key("PING", "x", 6009, key(1)),
        },
        at(0),
    );
    let refused = OutEvent::Close {
        conn: ConnId(2),
        reason: DisconnectReason::InsecureRefused,
    };
    assert_eq!(out, vec![refused]);
    s.mark_secure_addr(PeerAddr::new("127.0.0.1", 6010));
    connect_in(&mut s, 3);
    let out = step(
        &mut s,
        InEvent::Received {
            conn: ConnId(3),
            frame: hello("PING", "y", 6010, "t"),
        },
        at(0),
    );
    assert_eq!(
        out,
        vec![OutEvent::Close {
            conn: ConnId(3),
            reason: DisconnectReason::InsecureRefused
        }]
    );
    assert_eq!(s.metrics().insecure_refused, 2);
}

/// A link closed with `DecryptFailed` is counted once; failures the
/// executor reports outside a connection are counted by reason.
#[test]
fn link_failures_are_counted() {
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    step(
        &mut s,
        InEvent::Disconnected {
            conn: ConnId(1),
            reason: DisconnectReason::DecryptFailed,
        },
        at(0),
    );
    s.count_link_failure(DisconnectReason::HandshakeFailed);
    s.count_link_failure(DisconnectReason::HandshakeTimeout);
    s.count_link_failure(DisconnectReason::InsecureRefused);
    let m = s.metrics();
    assert_eq!(
        (
            m.decrypt_failed,
            m.secure_handshake_failed,
            m.insecure_refused
        ),
        (1, 2, 1)
    );
}

/// Hellos carry the node's own key once it has one.
#[test]
fn hellos_carry_the_node_key() {
    let mut s = node();
    s.set_identity(Identity::from_secret([9; 32]));
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
    let sent = out.iter().find_map(|o| match o {
        OutEvent::Send { frame, .. } => Some(frame.envelope().key),
        _ => None,
    });
    assert_eq!(sent, Some(Some(key(9))));
}

/// Past `secure_memory` addresses, the oldest may be downgraded again.
#[test]
fn secure_memory_is_bounded() {
    let mut s = node_with(NodeConfig {
        secure_memory: 2,
        ..config()
    });
    for port in [6001, 6002, 6003] {
        s.mark_secure_addr(PeerAddr::new("127.0.0.1", port));
    }
    assert!(s.may_downgrade(&PeerAddr::new("127.0.0.1", 6001)));
    assert!(!s.may_downgrade(&PeerAddr::new("127.0.0.1", 6003)));
}

/// A plaintext hello on a new TCP connection under a name pinned to a key
/// is a downgrade: the link closes `InsecureRefused`, counted, and nobody
/// registers; the same hello under an unpinned name registers as before.
#[test]
fn plaintext_hello_under_a_pinned_name_is_refused() {
    let mut s = node();
    let mut out = Vec::new();
    s.pin(PeerId::new("a"), key(1), &mut out);
    step(
        &mut s,
        InEvent::Connected {
            conn: ConnId(1),
            dir: Direction::Inbound,
            local: Some("127.0.0.1:5000".parse().unwrap()),
            remote: Some("127.0.0.1:40001".parse().unwrap()),
        },
        at(0),
    );
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
        vec![OutEvent::Close {
            conn: ConnId(1),
            reason: DisconnectReason::InsecureRefused
        }]
    );
    assert_eq!(s.metrics().insecure_refused, 1);
    assert!(s.peer(&PeerId::new("a"), at(0)).is_none());
    register(&mut s, 2, "b", 6002);
    assert!(s.peer(&PeerId::new("b"), at(0)).is_some());
}

/// The new close reasons read as the protocol document names them, in
/// JSON and for people; the new dial errors too.
#[test]
fn secure_reasons_are_named() {
    for (reason, json, text) in [
        (
            DisconnectReason::HandshakeFailed,
            "handshake_failed",
            "handshake failed",
        ),
        (
            DisconnectReason::DecryptFailed,
            "decrypt_failed",
            "decrypt failed",
        ),
        (
            DisconnectReason::IdentityMismatch,
            "identity_mismatch",
            "identity mismatch",
        ),
        (
            DisconnectReason::InsecureRefused,
            "insecure_refused",
            "insecure refused",
        ),
    ] {
        assert_eq!(serde_json::to_value(reason).unwrap(), json);
        assert_eq!(reason.to_string(), text);
    }
    assert_eq!(
        serde_json::to_value(DialError::Insecure).unwrap(),
        "insecure"
    );
    assert_eq!(
        serde_json::to_value(DialError::HandshakeFailed).unwrap(),
        "handshake_failed"
    );
}

/// The pinned-name rule judges new plaintext sockets only: a hello on an
/// in-memory link (no socket) under a pinned name registers, and so do its
/// later keep-alive hellos.
#[test]
fn pinned_name_on_an_in_memory_link_is_not_a_downgrade() {
    let mut s = node();
    let mut out = Vec::new();
    s.pin(PeerId::new("a"), key(1), &mut out);
    step(
        &mut s,
        InEvent::Connected {
            conn: ConnId(1),
            dir: Direction::Inbound,
            local: None,
            remote: None,
        },
        at(0),
    );
    for t in 0..2 {
        let out = step(
            &mut s,
            InEvent::Received {
                conn: ConnId(1),
                frame: hello("PING", "a", 6001, "t"),
            },
            at(t),
        );
        assert!(
            !out.iter().any(|o| matches!(o, OutEvent::Close { .. })),
            "{out:?}"
        );
    }
    assert!(s.peer(&PeerId::new("a"), at(1)).is_some());
    assert_eq!(s.metrics().insecure_refused, 0);
}
