//! Unit tests of flooding: delivery once, forwarding, dedup with and without ids, the seen-cache bound.

use super::*;

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
                time: WireTime::Text("t".into()),
                verified: false,
                trust: Trust::Unsigned,
                late: false,
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

/// An unsigned frame's seen-cache key hashes its id, originator and text,
/// not the bare id: a frame that squats a live id with other words (or
/// another name) does not suppress the genuine message, while an exact
/// copy is still a duplicate.
#[test]
fn unsigned_id_squatting_does_not_hide_the_genuine_message() {
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    register(&mut s, 2, "b", 6002);
    let id = "00000000-0000-0000-0000-000000000009";
    let msg = |from: &str, text: &str| {
        frame(
            json!({"msg_type": "BROADCAST", "msg": text, "originator": from, "time": "t", "id": id}),
        )
    };
    let got = |s: &mut NodeState, conn: u64, f: Frame| {
        let out = step(
            s,
            InEvent::Received {
                conn: ConnId(conn),
                frame: f,
            },
            at(0),
        );
        out.iter()
            .filter_map(|o| match o {
                OutEvent::Emit(Event::Broadcast { text, .. }) => Some(text.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    // The squatter's frame comes first, under the genuine id.
    assert_eq!(got(&mut s, 2, msg("a", "forged")), vec!["forged"]);
    // The genuine message is still new: other text.
    assert_eq!(got(&mut s, 1, msg("a", "hi")), vec!["hi"]);
    // Same id and text under another name: another message too.
    assert_eq!(got(&mut s, 2, msg("b", "hi")), vec!["hi"]);
    // An exact copy is a duplicate, whichever link brings it.
    assert_eq!(got(&mut s, 2, msg("a", "hi")), Vec::<String>::new());
    assert_eq!(s.metrics().duplicates_dropped, 1);
    assert!(s.has_seen(msg("a", "hi").envelope()));
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
                frame: expected.clone()
            },
        ]
    );
    assert!(s.has_seen(expected.envelope()));
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
