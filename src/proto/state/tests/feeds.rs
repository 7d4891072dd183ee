//! Unit tests of numbered feeds: own numbering and reservations, in-order delivery with hold-back and gaps, conflicts, restored history.

use super::*;
use crate::config::HistoryConfig;

/// A flooding node with feeds on.
pub(super) fn feed_config() -> NodeConfig {
    NodeConfig {
        broadcast: crate::config::BroadcastMode::Flood,
        history: HistoryConfig::default(),
        ..NodeConfig::default()
    }
}

/// A hello from a peer that numbers feeds.
pub(super) fn seq_hello(from: &str, port: u16) -> Frame {
    frame(
        json!({"msg_type": "PING", "msg": ["127.0.0.1", port], "originator": from, "time": "t", "v": PROTOCOL_VERSION, "caps": ["seq"]}),
    )
}

/// A node with `seq` peers `a` (conn 1) and `b` (conn 2).
pub(super) fn feed_node_with(config: NodeConfig) -> NodeState {
    let mut s = node_with(config);
    for (conn, name) in [(1, "a"), (2, "b")] {
        connect_in(&mut s, conn);
        step(
            &mut s,
            InEvent::Received {
                conn: ConnId(conn),
                frame: seq_hello(name, 6000 + conn as u16),
            },
            at(0),
        );
    }
    s
}

pub(super) fn feed_node() -> NodeState {
    feed_node_with(feed_config())
}

pub(super) fn msg_id(author: &str, seq: u64, text: &str) -> MessageId {
    let tag = author.bytes().fold(0u128, |h, b| h * 31 + u128::from(b)) & 0xffff_ffff;
    MessageId::from_u128(tag << 64 | u128::from(seq) << 8 | text.len() as u128)
}

/// Message `seq` of `author`'s feed (epoch 1).
pub(super) fn numbered(author: &str, seq: u64, text: &str) -> Frame {
    frame(
        json!({"msg_type": "BROADCAST", "msg": text, "originator": author, "time": "t",
        "id": msg_id(author, seq, text).to_string(), "epoch": 1, "seq": seq}),
    )
}

pub(super) fn recv(s: &mut NodeState, conn: u64, f: &Frame, ms: u64) -> Vec<OutEvent> {
    step(
        s,
        InEvent::Received {
            conn: ConnId(conn),
            frame: f.clone(),
        },
        at(ms),
    )
}

pub(super) fn delivered(out: &[OutEvent]) -> Vec<(String, bool)> {
    out.iter()
        .filter_map(|o| match o {
            OutEvent::Emit(Event::Broadcast { text, late, .. }) => Some((text.clone(), *late)),
            _ => None,
        })
        .collect()
}

fn live(texts: &[&str]) -> Vec<(String, bool)> {
    texts.iter().map(|t| (t.to_string(), false)).collect()
}

/// Own broadcasts are numbered (and, with a key, signed) when asked and
/// wait for the first reservation, then go out with epoch and seq, kept
/// (`Persist`, for a node with a database); the next block is asked for
/// when half of the current one is used.
#[test]
fn own_broadcasts_are_numbered_after_reservation() {
    let mut s = feed_node();
    s.set_persist(true);
    s.set_feed(7, 1, 0);
    let cmd = |n: u128| {
        InEvent::Command(Command::Broadcast {
            id: MessageId::from_u128(n),
            text: format!("m{n}"),
        })
    };
    let out = step(&mut s, cmd(1), at(1));
    assert_eq!(out, vec![OutEvent::ReserveFeed { limit: 1001 }]);
    let out = step(&mut s, InEvent::FeedReserved { limit: 1001 }, at(2));
    let expect = frame(
        json!({"msg_type": "BROADCAST", "msg": "m1", "originator": ME, "time": "2026-11-28T04:41:59.001Z",
        "id": MessageId::from_u128(1).to_string(), "epoch": 7, "seq": 1}),
    );
    assert_eq!(
        out,
        vec![
            OutEvent::Persist {
                frame: expect.clone()
            },
            OutEvent::Send {
                conn: ConnId(1),
                frame: expect.clone()
            },
            OutEvent::Send {
                conn: ConnId(2),
                frame: expect
            },
        ]
    );
    for n in 2..=499 {
        let out = step(&mut s, cmd(n), at(3));
        assert!(!out
            .iter()
            .any(|o| matches!(o, OutEvent::ReserveFeed { .. })));
    }
    assert_eq!(s.feed(), Some((7, 500, 1001)));
    let out = step(&mut s, cmd(500), at(3));
    assert!(out.contains(&OutEvent::ReserveFeed { limit: 2001 }));
}

/// Past `own_queue` broadcasts waiting for a reservation, more are dropped and counted.
#[test]
fn own_queue_is_bounded() {
    let mut config = feed_config();
    config.history.own_queue = 2;
    let mut s = feed_node_with(config);
    s.set_persist(true);
    s.set_feed(1, 1, 0);
    for n in 0..5 {
        let cmd = Command::Broadcast {
            id: MessageId::from_u128(n),
            text: "x".into(),
        };
        step(&mut s, InEvent::Command(cmd), at(1));
    }
    assert_eq!(s.metrics().own_queue_dropped, 3);
    let out = step(&mut s, InEvent::FeedReserved { limit: 1001 }, at(2));
    assert_eq!(
        out.iter()
            .filter(|o| matches!(o, OutEvent::Persist { .. }))
            .count(),
        2
    );
}

/// A message ahead of a gap is held until the gap fills; forwarding does not wait.
#[test]
fn holds_back_until_the_gap_fills() {
    let mut s = feed_node();
    assert_eq!(
        delivered(&recv(&mut s, 1, &numbered("a", 1, "one"), 1)),
        live(&["one"])
    );
    let out = recv(&mut s, 1, &numbered("a", 3, "three"), 2);
    assert_eq!(delivered(&out), vec![]);
    assert!(out.contains(&OutEvent::Send {
        conn: ConnId(2),
        frame: numbered("a", 3, "three")
    }));
    assert!(out.contains(&OutEvent::Schedule {
        delay: crate::config::HOLDBACK,
        timer: Timer::Holdback
    }));
    let out = recv(&mut s, 1, &numbered("a", 2, "two"), 3);
    assert_eq!(delivered(&out), live(&["two", "three"]));
    // The timer finds nothing left to release.
    let out = step(&mut s, InEvent::TimerFired(Timer::Holdback), at(300));
    assert!(out.is_empty());
    assert_eq!(s.metrics().deliveries, 3);
}

/// After `holdback` the held message is delivered with the gap reported;
/// at the next catch-up look the gap, still open, is pulled from the link
/// the message after it came on; the missing message, when it comes, is
/// delivered once, marked late.
#[test]
fn gap_reported_after_holdback_then_filled_late() {
    let mut s = feed_node();
    recv(&mut s, 1, &numbered("a", 1, "one"), 0);
    recv(&mut s, 1, &numbered("a", 3, "three"), 10);
    let out = step(&mut s, InEvent::TimerFired(Timer::Holdback), at(260));
    assert_eq!(
        out,
        vec![
            OutEvent::Emit(Event::Gap {
                from: PeerId::new("a"),
                epoch: 1,
                first: 2,
                last: 2
            }),
            OutEvent::Emit(Event::Broadcast {
                from: PeerId::new("a"),
                text: "three".into(),
                id: Some(msg_id("a", 3, "three")),
                time: WireTime::Text("t".into()),
                verified: false,
                trust: Trust::Unsigned,
                late: false
            }),
            OutEvent::Schedule {
                delay: crate::config::PULL_TIMEOUT / 2,
                timer: Timer::CatchUp
            },
        ]
    );
    assert_eq!(s.metrics().feed_gaps, 1);
    let out = step(&mut s, InEvent::TimerFired(Timer::CatchUp), at(1_260));
    let pull = frame(
        json!({"msg_type": "PULL", "msg": ["a", 1, 2, 2], "originator": ME, "time": "2026-11-28T04:42:00.260Z"}),
    );
    assert_eq!(
        out,
        vec![
            OutEvent::Send {
                conn: ConnId(1),
                frame: pull
            },
            OutEvent::Schedule {
                delay: crate::config::PULL_TIMEOUT / 2,
                timer: Timer::CatchUp
            },
        ]
    );
    let out = recv(&mut s, 2, &numbered("a", 2, "two"), 1_300);
    assert_eq!(delivered(&out), vec![("two".to_string(), true)]);
    // Exactly once: the same message again, from either side, is dropped.
    assert!(delivered(&recv(&mut s, 1, &numbered("a", 2, "two"), 1_301)).is_empty());
    assert!(delivered(&recv(&mut s, 2, &numbered("a", 3, "three"), 1_302)).is_empty());
}

/// A gap that a straggler fills before the catch-up look is not pulled.
#[test]
fn gap_filled_before_the_look_is_not_pulled() {
    let mut s = feed_node();
    recv(&mut s, 1, &numbered("a", 1, "one"), 0);
    recv(&mut s, 1, &numbered("a", 3, "three"), 10);
    step(&mut s, InEvent::TimerFired(Timer::Holdback), at(260));
    let out = recv(&mut s, 2, &numbered("a", 2, "two"), 500);
    assert_eq!(delivered(&out), vec![("two".to_string(), true)]);
    let out = step(&mut s, InEvent::TimerFired(Timer::CatchUp), at(1_260));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(s.metrics().pulls_sent, 0);
}

/// Past `holdback_max` held messages, all are delivered at once, gaps reported.
#[test]
fn holdback_is_bounded_in_count() {
    let mut config = feed_config();
    config.history.holdback_max = 2;
    let mut s = feed_node_with(config);
    recv(&mut s, 1, &numbered("a", 1, "1"), 0);
    assert!(delivered(&recv(&mut s, 1, &numbered("a", 3, "3"), 1)).is_empty());
    assert!(delivered(&recv(&mut s, 1, &numbered("a", 4, "4"), 2)).is_empty());
    let out = recv(&mut s, 1, &numbered("a", 6, "6"), 3);
    assert_eq!(delivered(&out), live(&["3", "4", "6"]));
    assert_eq!(s.metrics().feed_gaps, 2);
}

/// A second text for a number already held is kept once: not delivered,
/// not forwarded, counted.
#[test]
fn conflicting_message_is_kept_once() {
    let mut s = feed_node();
    recv(&mut s, 1, &numbered("a", 1, "original"), 0);
    let out = recv(&mut s, 1, &numbered("a", 1, "forged"), 1);
    assert!(out.is_empty());
    assert_eq!(s.metrics().feed_conflicts, 1);
    assert_eq!(s.metrics().deliveries, 1);
}

/// Restored history is neither delivered again nor held behind: the feed
/// goes on from the number after the last restored.
#[test]
fn restored_history_is_not_delivered_again() {
    let mut s = feed_node();
    s.restore_history((1..=3).map(|n| numbered("a", n, "old")).collect());
    assert_eq!(s.metrics().history_messages, 3);
    assert!(recv(&mut s, 1, &numbered("a", 2, "old"), 1).is_empty());
    assert_eq!(
        delivered(&recv(&mut s, 1, &numbered("a", 4, "new"), 2)),
        live(&["new"])
    );
}

/// Without the `seq` capability nothing changes: no numbers, no Persist, no hold-back.
#[test]
fn feeds_off_leaves_broadcasts_as_they_were() {
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    let out = step(
        &mut s,
        InEvent::Command(Command::Broadcast {
            id: MessageId::from_u128(1),
            text: "x".into(),
        }),
        at(0),
    );
    assert_eq!(out.len(), 1);
    let OutEvent::Send { frame, .. } = &out[0] else {
        panic!("expected a send, got {out:?}");
    };
    assert_eq!(frame.envelope().seq, None);
    assert_eq!(s.feed(), None);
}

/// A broadcast too large to send is refused when asked, also while the
/// feed counter is not reserved yet (not dropped silently later).
#[test]
fn too_large_is_refused_before_reservation() {
    let mut s = feed_node();
    s.set_feed(1, 1, 0);
    let mut out = Vec::new();
    let cmd = Command::Broadcast {
        id: MessageId::from_u128(1),
        text: "x".repeat(70_000),
    };
    let err = s.command(cmd, at(0), &mut out);
    assert!(
        matches!(err, Err(ProtoError::FrameTooLarge { .. })),
        "{err:?}"
    );
    assert!(out.is_empty());
}

/// In `run`'s JSON a late broadcast says `"late": true` and a live one says
/// nothing more than before; chat's line marks the late one as history.
#[test]
fn late_in_json_and_chat_line() {
    let ev = |late| Event::Broadcast {
        from: PeerId::new("a"),
        text: "hi".into(),
        id: None,
        time: WireTime::Text("t".into()),
        verified: false,
        trust: Trust::Unsigned,
        late,
    };
    let live = serde_json::to_value(ev(false)).unwrap();
    assert_eq!(live.get("late"), None);
    let late = serde_json::to_value(ev(true)).unwrap();
    assert_eq!(late["late"], json!(true));
    assert_eq!(ev(true).to_string(), "(history) <a> hi");
    assert_eq!(ev(false).to_string(), "<a> hi");
}

/// A gap whose last message came but whose first did not is still open:
/// pulled at the look from its first missing number (found by w5: a
/// straggler at the end of a gap must not cancel the pull of the rest),
/// and only up to the first number had again (4 came: not asked for).
#[test]
fn gap_with_its_end_filled_is_still_pulled() {
    let mut s = feed_node();
    recv(&mut s, 1, &numbered("a", 1, "one"), 0);
    recv(&mut s, 1, &numbered("a", 5, "five"), 10);
    step(&mut s, InEvent::TimerFired(Timer::Holdback), at(260));
    recv(&mut s, 2, &numbered("a", 4, "four"), 300);
    let out = step(&mut s, InEvent::TimerFired(Timer::CatchUp), at(1_260));
    let pulls: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            OutEvent::Send { conn, frame } if frame.envelope().msg_type == "PULL" => {
                Some((conn.0, frame.envelope().msg.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(pulls, vec![(1, json!(["a", 1, 2, 3]))]);
}

/// A feed the executor set (a data directory's counter) is reserved ahead
/// at start, so the first broadcast does not wait for the disk; a node
/// whose feed is drawn at its first broadcast asks then.
#[test]
fn set_feed_is_reserved_at_start() {
    let mut s = feed_node();
    s.set_feed(7, 41, 41);
    let mut out = Vec::new();
    s.start(at(0), &mut out);
    assert!(
        out.contains(&OutEvent::ReserveFeed { limit: 1041 }),
        "{out:?}"
    );
    let mut fresh = feed_node();
    let mut out = Vec::new();
    fresh.start(at(0), &mut out);
    assert!(!out
        .iter()
        .any(|o| matches!(o, OutEvent::ReserveFeed { .. })));
}
