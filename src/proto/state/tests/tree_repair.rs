//! Unit tests of the tree under faults and bad input: repair, swaps, the sweep, bounds.

use super::tree::*;
use super::*;
use crate::config::TreeConfig;

/// Bad input: tree frames from a connection without a registered tree peer
/// are ignored; an IHAVE past `max_ihave_ids` closes the connection; pending
/// grafts stop at `max_pending_grafts`, counted.
#[test]
fn tree_bad_input_is_bounded() {
    let mut cfg = tree_config();
    cfg.tree.max_pending_grafts = 10;
    cfg.tree.max_ihave_ids = 100;
    let mut s = node_with(cfg);
    connect_in(&mut s, 1);
    recv(&mut s, 1, tree_hello("a", 6001), 0);
    connect_in(&mut s, 9);
    let ids = |n: usize, base: usize| -> serde_json::Value {
        json!((0..n)
            .map(|i| json!([format!("00000000-0000-0000-0000-{:012}", base + i), 1]))
            .collect::<Vec<_>>())
    };
    let ihave =
        |msg| frame(json!({"msg_type": "IHAVE", "msg": msg, "originator": "a", "time": "t"}));
    for f in [
        ihave(ids(5, 0)),
        frame(json!({"msg_type": "GRAFT", "msg": [ID1], "originator": "z", "time": "t"})),
        frame(json!({"msg_type": "PRUNE", "msg": "", "originator": "z", "time": "t"})),
    ] {
        assert!(recv(&mut s, 9, f, 1).is_empty());
    }
    assert_eq!(s.metrics().tree_frames_ignored, 3);
    let out = recv(&mut s, 1, ihave(ids(50, 1000)), 2);
    let timers = out
        .iter()
        .filter(|o| matches!(o, OutEvent::Schedule { .. }))
        .count();
    assert_eq!(timers, 10);
    assert_eq!(s.metrics().pending_grafts_dropped, 40);
    let out = recv(&mut s, 1, ihave(ids(101, 5000)), 3);
    assert_eq!(
        out,
        vec![OutEvent::Close {
            conn: ConnId(1),
            reason: DisconnectReason::Malformed
        }]
    );
    assert_eq!(s.metrics().ihave_oversized, 1);
}

/// Losing an eager tree link asks every other tree link to be eager (an id-less
/// GRAFT), which each answers with announcements of what it got recently.
#[test]
fn lost_eager_link_repairs_and_repair_graft_is_answered() {
    let mut s = tree_node();
    recv(&mut s, 1, broadcast("a", ID1, Some(0)), 10);
    let out = step(
        &mut s,
        InEvent::Disconnected {
            conn: ConnId(1),
            reason: DisconnectReason::Closed,
        },
        at(20),
    );
    let grafts: Vec<_> = sends(&out).into_iter().filter(|s| s.1 == "GRAFT").collect();
    assert_eq!(
        grafts,
        vec![(2, "GRAFT".into(), None), (3, "GRAFT".into(), None)]
    );
    assert_eq!(s.metrics().tree_repairs, 1);
    // Another node's id-less GRAFT is answered with IHAVEs of the last repair window.
    let mut t = tree_node();
    recv(&mut t, 1, broadcast("a", ID1, Some(0)), 10);
    recv(&mut t, 2, tree_frame("PRUNE", json!(""), "t"), 11);
    let graft = frame(json!({"msg_type": "GRAFT", "msg": [], "originator": "b", "time": "t"}));
    recv(&mut t, 2, graft, 100);
    let out = step(&mut t, InEvent::TimerFired(Timer::TreeDispatch), at(130));
    assert_eq!(
        sends(&out),
        vec![(2, "IHAVE".into(), None)],
        "announced to the grafting peer"
    );
}

/// A lazy link announcing a much shorter path is swapped in for the eager one.
#[test]
fn much_shorter_announced_path_swaps_links() {
    let mut s = tree_node_with(NodeConfig {
        tree: TreeConfig {
            optimize_rounds: 4,
            ..tree_config().tree
        },
        ..tree_config()
    });
    recv(&mut s, 1, broadcast("a", ID1, Some(9)), 10);
    recv(&mut s, 2, tree_frame("PRUNE", json!(""), "t"), 11);
    // Round 10 here; b announces round 1: 10 >= 1 + 1 + 4.
    let ihave =
        frame(json!({"msg_type": "IHAVE", "msg": [[ID1, 1]], "originator": "b", "time": "t"}));
    let out = recv(&mut s, 2, ihave, 20);
    assert_eq!(
        sends(&out),
        vec![(2, "GRAFT".into(), None), (1, "PRUNE".into(), None)]
    );
    assert_eq!(s.metrics().tree_swaps, 1);
}

/// The sweep tells every lazy link, in one IHAVE, of everything stored since
/// the last sweep, whatever the fan-out chose; nothing new, nothing sent.
#[test]
fn sweep_announces_everything_to_every_lazy_link() {
    let mut cfg = tree_config();
    cfg.tree.lazy_fanout = 0;
    let mut s = node_with(cfg);
    for (conn, name) in [(1, "a"), (2, "b"), (3, "c")] {
        connect_in(&mut s, conn);
        recv(&mut s, conn, tree_hello(name, 6000 + conn as u16), 0);
    }
    for conn in [2, 3] {
        recv(&mut s, conn, tree_frame("PRUNE", json!(""), "t"), 1);
    }
    let out = recv(&mut s, 1, broadcast("a", ID1, Some(0)), 10);
    assert!(!out.iter().any(|o| matches!(
        o,
        OutEvent::Schedule {
            timer: Timer::TreeDispatch,
            ..
        }
    )));
    recv(&mut s, 1, broadcast("a", ID2, Some(0)), 20);
    let out = step(&mut s, InEvent::TimerFired(Timer::TreeSweep), at(510));
    let ihave = tree_frame(
        "IHAVE",
        json!([[ID1, 1], [ID2, 1]]),
        "2026-11-28T04:41:59.510Z",
    );
    assert_eq!(
        out,
        vec![
            OutEvent::Send {
                conn: ConnId(2),
                frame: ihave.clone()
            },
            OutEvent::Send {
                conn: ConnId(3),
                frame: ihave
            },
        ]
    );
    assert!(step(&mut s, InEvent::TimerFired(Timer::TreeSweep), at(1010)).is_empty());
}

/// A link that turned eager (a GRAFT) after a message arrived while it was
/// lazy still hears of that message in the next sweep: it went to it in full
/// neither way.
#[test]
fn sweep_covers_a_link_that_turned_eager_since() {
    let mut s = tree_node();
    recv(&mut s, 2, tree_frame("PRUNE", json!(""), "t"), 1);
    recv(&mut s, 3, tree_frame("PRUNE", json!(""), "t"), 1);
    recv(&mut s, 1, broadcast("a", ID1, Some(0)), 10);
    // b grafts another id: the link b turns eager after ID1 arrived.
    let graft = frame(json!({"msg_type": "GRAFT", "msg": [ID2], "originator": "b", "time": "t"}));
    recv(&mut s, 2, graft, 20);
    recv(&mut s, 1, broadcast("a", ID2, Some(0)), 30);
    let out = step(&mut s, InEvent::TimerFired(Timer::TreeSweep), at(510));
    let announced = |conn: u64| -> Vec<serde_json::Value> {
        out.iter()
            .filter_map(|o| match o {
                OutEvent::Send { conn: c, frame } if c.0 == conn => {
                    Some(frame.envelope().msg.clone())
                }
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        announced(2),
        vec![json!([[ID1, 1]])],
        "only what came before it turned eager"
    );
    assert_eq!(announced(3), vec![json!([[ID1, 1], [ID2, 1]])]);
}

/// A graft that proves needless (the old path delivers a duplicate after the
/// graft answered) undoes the graft: the grafted link is pruned, not the old
/// path. Eager copies that keep trailing their announcements lengthen the
/// wait before the next graft (learning on: `graft_timeout_max` above
/// `graft_timeout`), and slow answers space the retries.
#[test]
fn needless_graft_is_undone_and_late_copies_lengthen_the_wait() {
    let mut s = tree_node_with(NodeConfig {
        tree: TreeConfig {
            graft_timeout_max: Duration::from_secs(5),
            ..tree_config().tree
        },
        ..tree_config()
    });
    // c is lazy; a (the old path) stays eager.
    recv(&mut s, 3, tree_frame("PRUNE", json!(""), "t"), 1);
    let ihave = |id: &str| {
        frame(json!({"msg_type": "IHAVE", "msg": [[id, 1]], "originator": "c", "time": "t"}))
    };
    recv(&mut s, 3, ihave(ID1), 10);
    let out = step(&mut s, InEvent::TimerFired(Timer::Graft(id(ID1))), at(210));
    assert_eq!(sends(&out)[0], (3, "GRAFT".into(), None));
    // The graft's answer comes first (after 1 s), then the old path's copy: a duplicate.
    recv(&mut s, 3, broadcast("a", ID1, Some(1)), 1_210);
    let out = recv(&mut s, 1, broadcast("a", ID1, Some(3)), 1_400);
    assert_eq!(
        sends(&out),
        vec![(3, "PRUNE".into(), None)],
        "the grafted link goes lazy again"
    );
    assert_eq!(s.metrics().grafts_needless, 1);
    assert_eq!(s.eager_peers(), vec![PeerId::new("a"), PeerId::new("b")]);
    // Eager copies 2 s behind their announcements, 40 times: the wait
    // before grafting follows (a quarter more than their average lag).
    let mut t = 2_000;
    for n in 0..40u128 {
        let other = MessageId::from_u128(0xfeed_0000 + n).to_string();
        recv(&mut s, 3, ihave(&other), t);
        recv(&mut s, 1, broadcast("a", &other, Some(3)), t + 2_000);
        t += 2_100;
    }
    let out = recv(&mut s, 3, ihave(ID2), t);
    let [OutEvent::Schedule { delay, timer }] = out.as_slice() else {
        panic!("expected one timer, got {out:?}");
    };
    assert_eq!(*timer, Timer::Graft(id(ID2)));
    assert!(
        *delay > Duration::from_millis(2_000) && *delay < Duration::from_millis(2_500),
        "{delay:?}"
    );
    // The graft round trip (1 s, learned once) spaces the retries at 2x its average.
    let out = step(
        &mut s,
        InEvent::TimerFired(Timer::Graft(id(ID2))),
        at(t + 2_500),
    );
    let retry = out.iter().find_map(|o| match o {
        OutEvent::Schedule { delay, .. } => Some(*delay),
        _ => None,
    });
    assert_eq!(retry, Some(Duration::from_millis(250)), "2 x (1 s / 8)");
}
