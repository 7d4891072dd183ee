//! Unit tests of the broadcast tree: eager and lazy links, `IHAVE`, `GRAFT`, `PRUNE`, the store, bad input.

use super::*;
use crate::config::{BroadcastMode, TreeConfig};

pub(super) const ID1: &str = "00000000-0000-0000-0000-0000000000b1";
pub(super) const ID2: &str = "00000000-0000-0000-0000-0000000000b2";

pub(super) fn id(s: &str) -> MessageId {
    MessageId::from(uuid::Uuid::parse_str(s).unwrap())
}

pub(super) fn tree_config() -> NodeConfig {
    NodeConfig {
        broadcast: BroadcastMode::Tree,
        tree: TreeConfig {
            lazy_fanout: 8,
            ..TreeConfig::default()
        },
        history: crate::config::HistoryConfig::off(),
        ..NodeConfig::default()
    }
}

/// A hello from a peer that builds trees.
pub(super) fn tree_hello(from: &str, port: u16) -> Frame {
    frame(
        json!({"msg_type": "PING", "msg": ["127.0.0.1", port], "originator": from, "time": "t", "v": PROTOCOL_VERSION, "caps": ["tree"]}),
    )
}

/// A tree node with tree peers `a` (conn 1), `b` (conn 2), `c` (conn 3).
pub(super) fn tree_node() -> NodeState {
    tree_node_with(tree_config())
}

/// As [`tree_node`], with `config`.
pub(super) fn tree_node_with(config: NodeConfig) -> NodeState {
    let mut s = node_with(config);
    for (conn, name) in [(1, "a"), (2, "b"), (3, "c")] {
        connect_in(&mut s, conn);
        step(
            &mut s,
            InEvent::Received {
                conn: ConnId(conn),
                frame: tree_hello(name, 6000 + conn as u16),
            },
            at(0),
        );
    }
    s
}

pub(super) fn broadcast(from: &str, id: &str, round: Option<u32>) -> Frame {
    let mut j =
        json!({"msg_type": "BROADCAST", "msg": "hi", "originator": from, "time": "t", "id": id});
    if let Some(r) = round {
        j["round"] = json!(r);
    }
    frame(j)
}

pub(super) fn recv(s: &mut NodeState, conn: u64, f: Frame, ms: u64) -> Vec<OutEvent> {
    step(
        s,
        InEvent::Received {
            conn: ConnId(conn),
            frame: f,
        },
        at(ms),
    )
}

pub(super) fn sends(out: &[OutEvent]) -> Vec<(u64, String, Option<u32>)> {
    out.iter()
        .filter_map(|o| match o {
            OutEvent::Send { conn, frame } => {
                Some((conn.0, frame.envelope().msg_type.clone(), frame.round()))
            }
            _ => None,
        })
        .collect()
}

pub(super) fn tree_frame(msg_type: &str, msg: serde_json::Value, time: &str) -> Frame {
    frame(json!({"msg_type": msg_type, "msg": msg, "originator": ME, "time": time}))
}

/// The hello of a tree node announces `tree`; a flooding node's does not.
#[test]
fn hello_announces_tree_by_mode() {
    let mut s = node_with(tree_config());
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
    let OutEvent::Send { frame, .. } = &out[1] else {
        panic!("{out:?}")
    };
    assert_eq!(frame.envelope().caps, Some(vec!["tree".to_string()]));
}

/// A new broadcast goes in full, with the next round, to every eager link
/// but the one it came on; nothing is announced while every link is eager.
#[test]
fn first_broadcast_goes_to_eager_links() {
    let mut s = tree_node();
    let out = recv(&mut s, 1, broadcast("a", ID1, Some(0)), 10);
    assert_eq!(
        out,
        vec![
            OutEvent::Emit(Event::Broadcast {
                from: PeerId::new("a"),
                text: "hi".into(),
                id: Some(id(ID1)),
                time: WireTime::Text("t".into()),
                verified: false,
                trust: Trust::Unsigned,
                late: false,
            }),
            OutEvent::Schedule {
                delay: tree_config().tree.ihave_sweep,
                timer: Timer::TreeSweep
            },
            OutEvent::Send {
                conn: ConnId(2),
                frame: broadcast("a", ID1, Some(1))
            },
            OutEvent::Send {
                conn: ConnId(3),
                frame: broadcast("a", ID1, Some(1))
            },
        ]
    );
    assert_eq!(s.metrics().stored_messages, 1);
}

/// A duplicate over an eager link prunes it; the next broadcast is then
/// announced on it (after the window, in one IHAVE) instead of sent in full.
#[test]
fn duplicate_prunes_and_lazy_link_gets_ihave() {
    let mut s = tree_node();
    recv(&mut s, 1, broadcast("a", ID1, Some(0)), 10);
    let out = recv(&mut s, 2, broadcast("a", ID1, Some(3)), 11);
    assert_eq!(
        out,
        vec![OutEvent::Send {
            conn: ConnId(2),
            frame: tree_frame("PRUNE", json!(""), "2026-11-28T04:41:59.011Z")
        }]
    );
    // A second duplicate on the now lazy link prunes nothing.
    assert!(recv(&mut s, 2, broadcast("a", ID1, Some(3)), 12).is_empty());
    let out = recv(&mut s, 1, broadcast("a", ID2, Some(0)), 20);
    assert_eq!(
        sends(&out),
        vec![(3, "BROADCAST".into(), Some(1))],
        "in full only to the eager link"
    );
    assert!(out.contains(&OutEvent::Schedule {
        delay: tree_config().tree.ihave_window,
        timer: Timer::TreeDispatch
    }));
    let out = step(&mut s, InEvent::TimerFired(Timer::TreeDispatch), at(45));
    assert_eq!(
        out,
        vec![OutEvent::Send {
            conn: ConnId(2),
            frame: tree_frame("IHAVE", json!([[ID2, 1]]), "2026-11-28T04:41:59.045Z")
        }]
    );
}

/// Duplicates coming in at one instant are answered with the same `PRUNE`
/// (one frame, shared); a duplicate at a later instant gets its own, timed then.
#[test]
fn prunes_of_one_instant_share_a_frame() {
    let mut s = tree_node();
    recv(&mut s, 1, broadcast("a", ID1, Some(0)), 10);
    let prune = |ms: &str| tree_frame("PRUNE", json!(""), &format!("2026-11-28T04:41:59.0{ms}Z"));
    let first = recv(&mut s, 2, broadcast("a", ID1, Some(3)), 11);
    let second = recv(&mut s, 3, broadcast("a", ID1, Some(3)), 11);
    let frame_of = |out: &[OutEvent]| match out {
        [OutEvent::Send { frame, .. }] => frame.clone(),
        other => panic!("expected one send, got {other:?}"),
    };
    let (a, b) = (frame_of(&first), frame_of(&second));
    assert_eq!((a.clone(), b.clone()), (prune("11"), prune("11")));
    assert_eq!(
        a.bytes().as_ptr(),
        b.bytes().as_ptr(),
        "one encoding, shared"
    );
    // A new message's duplicate, later: a frame of its own, timed then.
    recv(&mut s, 1, broadcast("a", ID2, Some(0)), 20);
    s.conns.get_mut(&ConnId(2)).unwrap().tree.eager = true;
    let later = recv(&mut s, 2, broadcast("a", ID2, Some(3)), 30);
    let c = frame_of(&later);
    assert_eq!(c, prune("30"));
    assert_ne!(c.bytes().as_ptr(), a.bytes().as_ptr());
}

/// `lazy_fanout` bounds how many lazy links hear of each message.
#[test]
fn announcements_are_bounded_by_fanout() {
    let mut cfg = tree_config();
    cfg.tree.lazy_fanout = 1;
    let mut s = node_with(cfg);
    for (conn, name) in [(1, "a"), (2, "b"), (3, "c"), (4, "d")] {
        connect_in(&mut s, conn);
        recv(&mut s, conn, tree_hello(name, 6000 + conn as u16), 0);
    }
    for conn in [2, 3, 4] {
        step(
            &mut s,
            InEvent::Received {
                conn: ConnId(conn),
                frame: tree_frame("PRUNE", json!(""), "t"),
            },
            at(1),
        );
    }
    recv(&mut s, 1, broadcast("a", ID1, Some(0)), 10);
    let out = step(&mut s, InEvent::TimerFired(Timer::TreeDispatch), at(40));
    assert_eq!(sends(&out).len(), 1, "one lazy link of three: {out:?}");
    assert_eq!(s.metrics().ihave_ids_sent, 1);
}

/// An announced id that does not come is grafted from the announcer after
/// `graft_timeout`, then from the next announcer after `graft_retry`.
#[test]
fn missing_id_grafts_first_then_second_announcer() {
    let mut s = tree_node();
    let ihave = |r: u32| {
        frame(json!({"msg_type": "IHAVE", "msg": [[ID1, r]], "originator": "x", "time": "t"}))
    };
    let out = recv(&mut s, 2, ihave(2), 10);
    assert_eq!(
        out,
        vec![OutEvent::Schedule {
            delay: tree_config().tree.graft_timeout,
            timer: Timer::Graft(id(ID1))
        }]
    );
    // A second announcer is remembered, with no second timer.
    assert!(recv(&mut s, 3, ihave(1), 20).is_empty());
    let out = step(&mut s, InEvent::TimerFired(Timer::Graft(id(ID1))), at(210));
    assert_eq!(
        out,
        vec![
            OutEvent::Send {
                conn: ConnId(2),
                frame: tree_frame("GRAFT", json!([ID1]), "2026-11-28T04:41:59.210Z")
            },
            OutEvent::Schedule {
                delay: tree_config().tree.graft_retry,
                timer: Timer::Graft(id(ID1))
            },
        ]
    );
    let out = step(&mut s, InEvent::TimerFired(Timer::Graft(id(ID1))), at(310));
    assert_eq!(sends(&out), vec![(3, "GRAFT".into(), None)]);
    // Nobody left, but the link asked last is up: its answer may be queued
    // behind its traffic, so the node waits `graft_patience` more.
    let patience = tree_config().tree.graft_patience;
    let out = step(&mut s, InEvent::TimerFired(Timer::Graft(id(ID1))), at(410));
    assert_eq!(
        out,
        vec![OutEvent::Schedule {
            delay: patience,
            timer: Timer::Graft(id(ID1))
        }]
    );
    assert_eq!(s.metrics().grafts_waited, 1);
    // Still nothing: that link is asked once more, the id is no longer
    // tracked (counted), and nothing is repaired (no flood).
    let end = 410 + patience.as_millis() as u64;
    let out = step(&mut s, InEvent::TimerFired(Timer::Graft(id(ID1))), at(end));
    assert_eq!(sends(&out), vec![(3, "GRAFT".into(), None)]);
    assert_eq!(s.metrics().grafts_failed, 1);
    assert_eq!(s.metrics().tree_repairs, 0);
    let out = step(
        &mut s,
        InEvent::TimerFired(Timer::Graft(id(ID1))),
        at(end + 1),
    );
    assert!(out.is_empty(), "no longer tracked: {out:?}");
    // Had the message come meanwhile, the timer would do nothing.
    let mut s = tree_node();
    recv(&mut s, 2, ihave(2), 10);
    recv(&mut s, 1, broadcast("a", ID1, Some(0)), 50);
    let out = step(&mut s, InEvent::TimerFired(Timer::Graft(id(ID1))), at(210));
    assert!(out.is_empty());
}

/// When every announcer's link is gone (or the patience is off), a missing
/// id that never came repairs at once: every tree link is asked to be
/// eager and to announce what it got lately.
#[test]
fn missing_id_with_no_live_announcer_repairs() {
    let ihave =
        frame(json!({"msg_type": "IHAVE", "msg": [[ID1, 1]], "originator": "x", "time": "t"}));
    // The announcer's link goes away after it was asked (its loss repairs
    // once; the timer fires after that repair's window).
    let mut s = tree_node();
    recv(&mut s, 3, ihave.clone(), 10);
    step(&mut s, InEvent::TimerFired(Timer::Graft(id(ID1))), at(210));
    step(
        &mut s,
        InEvent::Disconnected {
            conn: ConnId(3),
            reason: DisconnectReason::Closed,
        },
        at(250),
    );
    assert_eq!(s.metrics().tree_repairs, 1);
    let late = 250 + tree_config().tree.repair_window.as_millis() as u64;
    let out = step(&mut s, InEvent::TimerFired(Timer::Graft(id(ID1))), at(late));
    assert_eq!(
        sends(&out),
        vec![(1, "GRAFT".into(), None), (2, "GRAFT".into(), None)],
        "repaired at once, no patience for a link that is gone"
    );
    assert_eq!(s.metrics().grafts_waited, 0);
    assert_eq!(s.metrics().tree_repairs, 2);
    // Patience zero: the old behaviour, repair right after the last retry.
    let mut cfg = tree_config();
    cfg.tree.graft_patience = Duration::ZERO;
    let mut s = tree_node_with(cfg);
    recv(&mut s, 3, ihave, 10);
    step(&mut s, InEvent::TimerFired(Timer::Graft(id(ID1))), at(210));
    let out = step(&mut s, InEvent::TimerFired(Timer::Graft(id(ID1))), at(310));
    assert_eq!(sends(&out).len(), 3);
    assert_eq!(s.metrics().tree_repairs, 1);
}

/// The store answers a GRAFT with the message (and the link turns eager);
/// an id it never had, or has forgotten, gets nothing and is counted.
#[test]
fn store_answers_graft_then_forgets() {
    let mut cfg = tree_config();
    cfg.tree.store_ttl = Duration::from_secs(1);
    let mut s = node_with(cfg);
    for (conn, name) in [(1, "a"), (2, "b")] {
        connect_in(&mut s, conn);
        recv(&mut s, conn, tree_hello(name, 6000 + conn as u16), 0);
    }
    recv(&mut s, 1, broadcast("a", ID1, Some(4)), 10);
    recv(&mut s, 2, tree_frame("PRUNE", json!(""), "t"), 11);
    let graft = |ids: serde_json::Value| {
        frame(json!({"msg_type": "GRAFT", "msg": ids, "originator": "b", "time": "t"}))
    };
    let out = recv(&mut s, 2, graft(json!([ID1, ID2])), 20);
    assert_eq!(
        out,
        vec![OutEvent::Send {
            conn: ConnId(2),
            frame: broadcast("a", ID1, Some(5))
        }]
    );
    assert_eq!(s.metrics().grafts_served, 1);
    assert_eq!(s.metrics().graft_unknown, 1);
    // The graft made the link eager again: the next message goes in full.
    let out = recv(&mut s, 1, broadcast("a", ID2, Some(0)), 30);
    assert_eq!(sends(&out), vec![(2, "BROADCAST".into(), Some(1))]);
    // Past the store's age the message is forgotten (the next insert expires it).
    let id3 = "00000000-0000-0000-0000-0000000000b3";
    recv(&mut s, 1, broadcast("a", id3, Some(0)), 5000);
    assert!(recv(&mut s, 2, graft(json!([ID1])), 5001).is_empty());
    assert_eq!(s.metrics().graft_unknown, 2);
}

/// Grafted ids past `graft_batch` wait for the link's queue-low signal.
#[test]
fn graft_answers_are_paced_by_the_send_queue() {
    let mut cfg = tree_config();
    cfg.tree.graft_batch = 2;
    let mut s = node_with(cfg);
    for (conn, name) in [(1, "a"), (2, "b")] {
        connect_in(&mut s, conn);
        recv(&mut s, conn, tree_hello(name, 6000 + conn as u16), 0);
    }
    let ids: Vec<String> = (0..5)
        .map(|i| format!("00000000-0000-0000-0000-0000000001{i:02}"))
        .collect();
    for (i, mid) in ids.iter().enumerate() {
        recv(&mut s, 1, broadcast("a", mid, Some(0)), 10 + i as u64);
    }
    let graft = frame(json!({"msg_type": "GRAFT", "msg": ids, "originator": "b", "time": "t"}));
    let out = recv(&mut s, 2, graft, 20);
    assert_eq!(sends(&out).len(), 2);
    assert_eq!(out.last(), Some(&OutEvent::WatchQueue { conn: ConnId(2) }));
    let out = step(&mut s, InEvent::QueueLow { conn: ConnId(2) }, at(21));
    assert_eq!(sends(&out).len(), 2);
    let out = step(&mut s, InEvent::QueueLow { conn: ConnId(2) }, at(22));
    assert_eq!(sends(&out).len(), 1);
    assert!(!out.contains(&OutEvent::WatchQueue { conn: ConnId(2) }));
    assert_eq!(s.metrics().grafts_served, 5);
}

/// A GRAFT past `graft_backlog` is cut to the backlog, the rest counted.
#[test]
fn graft_backlog_is_bounded() {
    let mut cfg = tree_config();
    cfg.tree.graft_backlog = 3;
    cfg.tree.graft_batch = 1;
    let mut s = node_with(cfg);
    connect_in(&mut s, 1);
    recv(&mut s, 1, tree_hello("a", 6001), 0);
    let ids: Vec<String> = (0..10)
        .map(|i| format!("00000000-0000-0000-0000-0000000002{i:02}"))
        .collect();
    let graft = frame(json!({"msg_type": "GRAFT", "msg": ids, "originator": "a", "time": "t"}));
    recv(&mut s, 1, graft, 10);
    assert_eq!(s.metrics().graft_backlog_dropped, 7);
}

/// A DIRECT flood, and a broadcast from a one-shot peer or a peer without
/// `tree`, never touch tree state: duplicates prune nothing.
#[test]
fn non_tree_traffic_leaves_tree_state_alone() {
    let mut s = tree_node();
    // A flooding peer on conn 4.
    register(&mut s, 4, "f", 6004);
    recv(&mut s, 4, broadcast("f", ID1, None), 10);
    assert!(recv(&mut s, 4, broadcast("f", ID1, None), 11).is_empty());
    let direct = |conn| {
        frame(json!({"msg_type": "DIRECT", "msg": "x", "originator": "z", "time": "t", "id": ID2, "to": "far", "hops": 3}))
            .clone()
            .with_round(conn)
    };
    recv(&mut s, 1, direct(0), 12);
    assert!(sends(&recv(&mut s, 2, direct(0), 13)).is_empty());
    assert_eq!(s.metrics().prune_sent, 0);
    // Frames to the flooding peer carry no round.
    let out = recv(
        &mut s,
        1,
        broadcast("a", "00000000-0000-0000-0000-0000000000b9", Some(0)),
        20,
    );
    assert!(sends(&out).contains(&(4, "BROADCAST".into(), None)));
}

/// The round is spliced onto the shared bytes, and read back the same.
#[test]
fn round_is_a_per_hop_suffix() {
    let f = broadcast("a", ID1, None);
    let mut wire = bytes::BytesMut::new();
    f.with_round(17).write_to(&mut wire);
    assert_eq!(wire.len(), f.with_round(17).wire_len());
    let line = wire.split_to(wire.len() - 1).freeze();
    let back = Frame::decode(line).unwrap();
    assert_eq!(back.round(), Some(17));
    assert_eq!(back.bytes(), f.bytes());
    assert_eq!(back.envelope().round, None);
    // Written elsewhere than last: read, and its shared part written without it.
    let odd = Bytes::from(format!(
        r#"{{"round":3,"msg_type":"BROADCAST","msg":"hi","originator":"a","time":"t","id":"{ID1}"}}"#
    ));
    let back = Frame::decode(odd).unwrap();
    assert_eq!(back.round(), Some(3));
    assert_eq!(back.bytes(), f.bytes());
}
