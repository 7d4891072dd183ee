//! Unit tests of catch-up: digests on link-up, summaries of what changed, pulls in windows from one peer then another, paced answers, and the bad input of each frame.

use super::feeds::{delivered, feed_config, feed_node, feed_node_with, numbered, recv, seq_hello};
use super::*;
use crate::proto::feed::{digest, digest_hex, FeedId};

fn ctl(msg_type: &str, msg: serde_json::Value) -> Frame {
    frame(json!({"msg_type": msg_type, "msg": msg, "originator": "a", "time": "t"}))
}

fn sent_of(out: &[OutEvent], msg_type: &str) -> Vec<(u64, Frame)> {
    out.iter()
        .filter_map(|o| match o {
            OutEvent::Send { conn, frame } if frame.envelope().msg_type == msg_type => {
                Some((conn.0, frame.clone()))
            }
            _ => None,
        })
        .collect()
}

fn empty_digest() -> String {
    digest_hex(&digest(std::iter::empty()))
}

fn history(inner: &Frame) -> Frame {
    let msg: serde_json::Value = serde_json::from_slice(inner.bytes()).unwrap();
    ctl("HISTORY", msg)
}

/// A link to a peer announcing `seq` starts with a `DIGEST` and arms the
/// periodic one; a peer without it gets none, and its catch-up frames are ignored.
#[test]
fn digest_on_link_up_only_with_seq_peers() {
    let mut s = node_with(feed_config());
    connect_in(&mut s, 1);
    let out = recv(&mut s, 1, &seq_hello("a", 6001), 0);
    let digest =
        frame(json!({"msg_type": "DIGEST", "msg": empty_digest(), "originator": ME, "time": T0}));
    assert_eq!(sent_of(&out, "DIGEST"), vec![(1, digest)]);
    assert!(out.contains(&OutEvent::Schedule {
        delay: crate::config::DIGEST_INTERVAL,
        timer: Timer::Digest
    }));
    // Its hello announced `seq`.
    let pong = &sent_of(&out, "PONG")[0].1;
    assert!(pong
        .envelope()
        .caps
        .as_ref()
        .unwrap()
        .contains(&"seq".to_string()));
    register(&mut s, 2, "legacy", 6002);
    let out = recv(&mut s, 2, &ctl("PULL", json!(["a", 1, 1, 5])), 1);
    assert!(out.is_empty());
    assert_eq!(s.metrics().catchup_ignored, 1);
}

/// On a digest mismatch the node sends a `SUMMARY` of its feeds; on the
/// next mismatch, only what changed since (nothing: no frame).
#[test]
fn summary_on_mismatch_only_what_changed() {
    let mut s = feed_node();
    recv(&mut s, 1, &numbered("x", 1, "m"), 0);
    let other = ctl("DIGEST", json!(empty_digest()));
    let out = recv(&mut s, 2, &other, 1);
    let summary = frame(
        json!({"msg_type": "SUMMARY", "msg": [["x", 1, 1]], "originator": ME, "time": "2026-11-28T04:41:59.001Z"}),
    );
    assert_eq!(
        out,
        vec![OutEvent::Send {
            conn: ConnId(2),
            frame: summary
        }]
    );
    assert!(recv(&mut s, 2, &other, 2).is_empty());
    recv(&mut s, 1, &numbered("x", 2, "m"), 3);
    let out = recv(&mut s, 2, &other, 4);
    assert_eq!(
        sent_of(&out, "SUMMARY")[0].1.envelope().msg,
        json!([["x", 1, 2]])
    );
    // A matching digest is answered with nothing.
    let mut mine = s.store.history().summary();
    let d = digest(mine.iter_mut().map(|(f, c)| (&*f, *c)));
    assert!(recv(&mut s, 1, &ctl("DIGEST", json!(digest_hex(&d))), 5).is_empty());
}

/// A summary claiming more than this node has starts a pull of the next
/// window from that peer; its `HISTORY` answers are delivered late, kept
/// (and, for a node with a database, persisted) and not forwarded; when
/// done, a digest goes out soon so neighbours learn.
#[test]
fn pulls_a_window_and_delivers_late() {
    let mut config = feed_config();
    config.history.pull_window = 2;
    let mut s = feed_node_with(config);
    s.set_persist(true);
    let out = recv(&mut s, 1, &ctl("SUMMARY", json!([["x", 1, 3]])), 0);
    assert_eq!(
        sent_of(&out, "PULL")[0].1.envelope().msg,
        json!(["x", 1, 1, 2])
    );
    let out = recv(&mut s, 1, &history(&numbered("x", 1, "one")), 1);
    assert_eq!(delivered(&out), vec![("one".to_string(), true)]);
    assert!(sent_of(&out, "BROADCAST").is_empty());
    assert!(out.contains(&OutEvent::Persist {
        frame: numbered("x", 1, "one")
    }));
    let out = recv(&mut s, 1, &history(&numbered("x", 2, "two")), 2);
    // Window done: the next one.
    assert_eq!(
        sent_of(&out, "PULL")[0].1.envelope().msg,
        json!(["x", 1, 3, 3])
    );
    let out = recv(&mut s, 1, &history(&numbered("x", 3, "three")), 3);
    assert!(out.contains(&OutEvent::Schedule {
        delay: crate::config::DIGEST_SOON,
        timer: Timer::DigestSoon
    }));
    assert_eq!(s.metrics().caught_up, 3);
    assert_eq!(
        s.store.history().contiguous(&FeedId {
            author: "x".into(),
            epoch: 1
        }),
        3
    );
    // Answers again (late duplicates): nothing.
    assert!(delivered(&recv(&mut s, 1, &history(&numbered("x", 3, "three")), 4)).is_empty());
}

/// A pull that brings nothing within `pull_timeout` goes to another peer
/// that claims the feed (then back to one asked before, which may have
/// caught up meanwhile), at most 8 times in all; then it is given up and not
/// retried for the same claim.
#[test]
fn stalled_pull_moves_to_another_peer_then_gives_up() {
    let mut s = feed_node();
    let first = recv(&mut s, 1, &ctl("SUMMARY", json!([["x", 1, 5]])), 0);
    assert_eq!(sent_of(&first, "PULL")[0].0, 1);
    recv(&mut s, 2, &ctl("SUMMARY", json!([["x", 1, 5]])), 0);
    let out = step(&mut s, InEvent::TimerFired(Timer::CatchUp), at(2_000));
    assert_eq!(sent_of(&out, "PULL")[0].0, 2);
    let mut pulls = 2;
    for k in 2..20 {
        let out = step(&mut s, InEvent::TimerFired(Timer::CatchUp), at(2_000 * k));
        pulls += sent_of(&out, "PULL").len();
    }
    assert_eq!(pulls, 8);
    assert_eq!(s.catchup.pulls_len(), 0);
    assert!(recv(&mut s, 1, &ctl("SUMMARY", json!([["x", 1, 5]])), 50_000).is_empty());
}

/// A `PULL` is answered from history with `HISTORY` frames, at most
/// `pull_batch` at a time, the rest when the send queue is low; a window
/// larger than `pull_window` is cut to it (counted).
#[test]
fn serves_pulls_paced_by_the_send_queue() {
    let mut config = feed_config();
    config.history.pull_batch = 4;
    config.history.pull_window = 6;
    let mut s = feed_node_with(config);
    for n in 1..=10 {
        recv(&mut s, 1, &numbered("x", n, "m"), n);
    }
    let out = recv(&mut s, 2, &ctl("PULL", json!(["x", 1, 2, 100])), 20);
    let sent = sent_of(&out, "HISTORY");
    assert_eq!(sent.len(), 4);
    assert_eq!(
        sent[0].1.body(),
        &Body::History {
            frame: Box::new(numbered("x", 2, "m"))
        }
    );
    assert_eq!(out.last(), Some(&OutEvent::WatchQueue { conn: ConnId(2) }));
    assert_eq!(s.metrics().catchup_refused, 1);
    let out = step(&mut s, InEvent::QueueLow { conn: ConnId(2) }, at(21));
    assert_eq!(sent_of(&out, "HISTORY").len(), 2);
    assert!(!out.contains(&OutEvent::WatchQueue { conn: ConnId(2) }));
    assert_eq!(s.metrics().pull_served, 6);
}

/// Bad input: a summary claiming seq u64::MAX costs one window of at most
/// `pull_window`, never a walk from 1, and delivers nothing.
#[test]
fn summary_claiming_u64_max_is_bounded() {
    let mut s = feed_node();
    let out = recv(&mut s, 1, &ctl("SUMMARY", json!([["x", 1, u64::MAX]])), 0);
    let pull = &sent_of(&out, "PULL")[0].1;
    let from = u64::MAX - (crate::config::HISTORY_PER_FEED as u64 - 1);
    assert_eq!(
        pull.envelope().msg,
        json!(["x", 1, from, from + crate::config::PULL_WINDOW - 1])
    );
    assert!(delivered(&out).is_empty());
    // No one else claims it: given up, not asked again.
    step(&mut s, InEvent::TimerFired(Timer::CatchUp), at(3_000));
    assert!(recv(
        &mut s,
        1,
        &ctl("SUMMARY", json!([["x", 1, u64::MAX]])),
        4_000
    )
    .is_empty());
}

/// Bad input: summaries naming a huge number of feeds: a frame over
/// `summary_entries` closes the link; many frames are tracked only up to
/// `max_feeds`, and at most `max_pulls` feeds are pulled at once.
#[test]
fn summary_of_very_many_feeds_is_bounded() {
    let mut config = feed_config();
    config.history.max_feeds = 50;
    config.history.max_pulls = 8;
    let mut s = feed_node_with(config);
    for chunk in 0..20 {
        let entries: Vec<serde_json::Value> = (0..100)
            .map(|i| json!([format!("f{chunk}-{i}"), 1, 10]))
            .collect();
        recv(&mut s, 1, &ctl("SUMMARY", json!(entries)), chunk);
    }
    assert_eq!(
        s.catchup.links.get(&ConnId(1)).map(|l| l.has_len()),
        Some(50)
    );
    assert_eq!(s.catchup.pulls_len(), 8);
    assert_eq!(s.metrics().catchup_refused, 20 * 100 - 50);
    let entries: Vec<serde_json::Value> =
        (0..200).map(|i| json!([format!("g{i}"), 1, 1])).collect();
    let out = recv(&mut s, 2, &ctl("SUMMARY", json!(entries)), 30);
    assert_eq!(
        out,
        vec![OutEvent::Close {
            conn: ConnId(2),
            reason: DisconnectReason::Malformed
        }]
    );
}

/// Bad input: a peer asking for everything on every connect is served at
/// most its budget (`serve_burst`, then `serve_rate`), across connections.
#[test]
fn pulling_everything_on_every_connect_is_budgeted() {
    let mut config = feed_config();
    config.history.serve_burst = 5;
    config.history.serve_rate = 1;
    let mut s = feed_node_with(config);
    for n in 1..=10 {
        recv(&mut s, 1, &numbered("x", n, "m"), 0);
    }
    let pull = ctl("PULL", json!(["x", 1, 1, 10]));
    let first = recv(&mut s, 2, &pull, 1);
    assert_eq!(sent_of(&first, "HISTORY").len(), 5);
    // The same peer again on a new connection, at once.
    step(
        &mut s,
        InEvent::Disconnected {
            conn: ConnId(2),
            reason: DisconnectReason::Closed,
        },
        at(2),
    );
    connect_in(&mut s, 3);
    recv(&mut s, 3, &seq_hello("b", 6002), 3);
    let again = recv(&mut s, 3, &pull, 4);
    assert!(sent_of(&again, "HISTORY").is_empty());
    assert_eq!(s.metrics().pull_served, 5);
    assert!(s.metrics().catchup_refused >= 2);
}

/// Bad input: `HISTORY` nobody asked for (no pull, another feed, outside
/// the window, or from another peer) is dropped, counted, never delivered.
#[test]
fn history_never_asked_for_is_dropped() {
    let mut config = feed_config();
    config.history.pull_window = 2;
    let mut s = feed_node_with(config);
    assert!(recv(&mut s, 1, &history(&numbered("x", 1, "m")), 0).is_empty());
    recv(&mut s, 1, &ctl("SUMMARY", json!([["x", 1, 9]])), 1);
    for (conn, f) in [
        (1, numbered("y", 1, "m")),
        (1, numbered("x", 5, "m")),
        (2, numbered("x", 1, "m")),
    ] {
        assert!(delivered(&recv(&mut s, conn, &history(&f), 2)).is_empty());
    }
    assert_eq!(s.metrics().history_unsolicited, 4);
    assert_eq!(s.metrics().deliveries, 0);
}

/// Bad input: a flood of throwaway feeds keeps at most `max_feeds` feeds in
/// history and in delivery order; a long feed's history survives it.
#[test]
fn throwaway_feeds_cannot_evict_history() {
    let mut config = feed_config();
    config.history.max_feeds = 16;
    let mut s = feed_node_with(config);
    for n in 1..=20 {
        recv(&mut s, 1, &numbered("real", n, "m"), 0);
    }
    for n in 0..2_000 {
        recv(&mut s, 1, &numbered(&format!("junk{n}"), 1, "m"), 1);
    }
    let m = s.metrics();
    assert_eq!(m.history_feeds, 16);
    assert!(s.catchup.order_len() <= 16);
    assert_eq!(
        s.store
            .history()
            .range(
                &FeedId {
                    author: "real".into(),
                    epoch: 1
                },
                1,
                20
            )
            .count(),
        20
    );
    assert_eq!(m.history_messages, 20 + 15);
    assert_eq!(m.deliveries, 2_020);
}

/// Bad input of each catch-up frame's shape: refused by the decoder as malformed.
#[test]
fn malformed_catchup_frames_are_refused() {
    for raw in [
        r#"{"msg_type":"DIGEST","msg":"abc","originator":"a","time":"t"}"#,
        r#"{"msg_type":"DIGEST","msg":5,"originator":"a","time":"t"}"#,
        r#"{"msg_type":"SUMMARY","msg":[["a",1]],"originator":"a","time":"t"}"#,
        r#"{"msg_type":"SUMMARY","msg":[["a",-1,2]],"originator":"a","time":"t"}"#,
        r#"{"msg_type":"PULL","msg":["a",1,2],"originator":"a","time":"t"}"#,
        r#"{"msg_type":"HISTORY","msg":"x","originator":"a","time":"t"}"#,
        r#"{"msg_type":"HISTORY","msg":{"msg_type":"BROADCAST","msg":"m","originator":"a","time":"t"},"originator":"a","time":"t"}"#,
        r#"{"msg_type":"HISTORY","msg":{"msg_type":"TEST","msg":"m","originator":"a","time":"t","id":"00000000-0000-0000-0000-000000000001","epoch":1,"seq":1},"originator":"a","time":"t"}"#,
        r#"{"msg_type":"HISTORY","msg":{"msg_type":"HISTORY","msg":{},"originator":"a","time":"t"},"originator":"a","time":"t"}"#,
    ] {
        assert!(Frame::decode(Bytes::from(raw)).is_err(), "accepted {raw}");
    }
    // A PULL with its range backwards or from 0 is refused, counted.
    let mut s = feed_node();
    assert!(recv(&mut s, 1, &ctl("PULL", json!(["x", 1, 5, 2])), 0).is_empty());
    assert!(recv(&mut s, 1, &ctl("PULL", json!(["x", 1, 0, 2])), 0).is_empty());
    assert_eq!(s.metrics().catchup_refused, 2);
}

/// A pull whose link closes moves to another peer at the next look, or is given up.
#[test]
fn catchup_state_goes_with_the_link() {
    let mut s = feed_node();
    recv(&mut s, 1, &ctl("SUMMARY", json!([["x", 1, 5]])), 0);
    step(
        &mut s,
        InEvent::Disconnected {
            conn: ConnId(1),
            reason: DisconnectReason::Closed,
        },
        at(1),
    );
    // The pull moves: no one left claims it, so it is given up at the next look.
    let out = step(&mut s, InEvent::TimerFired(Timer::CatchUp), at(2));
    assert!(sent_of(&out, "PULL").is_empty());
    assert_eq!(s.catchup.pulls_len(), 0);
}

/// Past `pull_backlog` requests waiting on one link, more are dropped and counted.
#[test]
fn pull_backlog_is_bounded() {
    let mut config = feed_config();
    config.history.pull_backlog = 2;
    config.history.pull_batch = 1;
    let mut s = feed_node_with(config);
    for n in 1..=10 {
        recv(&mut s, 1, &numbered("x", n, "m"), 0);
    }
    for from in 1..=5 {
        recv(&mut s, 2, &ctl("PULL", json!(["x", 1, from, 10])), 1);
    }
    // One message answered at once each time: two requests queue, three are refused.
    assert_eq!(s.metrics().catchup_refused, 3);
    assert_eq!(s.metrics().pull_served, 2);
}

/// A tree node with history, linked to `a` (`seq` and `tree`) on
/// connection 1, that pulled `numbered("x", 1, "m")` from it (delivered late).
fn tree_node_that_pulled() -> NodeState {
    let mut config = super::tree::tree_config();
    config.history = crate::config::HistoryConfig::default();
    let mut s = node_with(config);
    connect_in(&mut s, 1);
    let hello = frame(
        json!({"msg_type": "PING", "msg": ["127.0.0.1", 6001], "originator": "a", "time": "t", "v": PROTOCOL_VERSION, "caps": ["seq", "tree"]}),
    );
    recv(&mut s, 1, &hello, 0);
    recv(&mut s, 1, &ctl("SUMMARY", json!([["x", 1, 1]])), 1);
    let out = recv(&mut s, 1, &history(&numbered("x", 1, "m")), 2);
    assert_eq!(delivered(&out), vec![("m".to_string(), true)]);
    s
}

/// A tree link that later brings a message this node caught up on by pull
/// is not pruned: the first copy never came over the tree, so the copy is
/// no sign of a redundant path.
#[test]
fn copy_of_a_pulled_message_does_not_prune() {
    let mut s = tree_node_that_pulled();
    let out = recv(&mut s, 1, &numbered("x", 1, "m").with_round(3), 3);
    assert!(sent_of(&out, "PRUNE").is_empty(), "{out:?}");
    assert_eq!(s.eager_peers(), vec![PeerId::new("a")]);
}

/// A message pulled by catch-up is held like one that came live: a later
/// announcement of its id is not grafted, and a `GRAFT` for it is answered.
#[test]
fn pulled_message_is_held_for_the_tree() {
    let mut s = tree_node_that_pulled();
    let id = numbered("x", 1, "m").envelope().id.unwrap();
    assert!(s.has_id(id));
    let out = recv(&mut s, 1, &ctl("IHAVE", json!([[id, 2]])), 3);
    assert!(out.is_empty(), "held: nothing to graft: {out:?}");
    let out = recv(&mut s, 1, &ctl("GRAFT", json!([id])), 4);
    let answers = sent_of(&out, "BROADCAST");
    assert_eq!(answers.len(), 1, "{out:?}");
    assert_eq!(answers[0].1.envelope().id, Some(id));
}

/// Two holes in live traffic are pulled one after the other, each exactly:
/// what came after a hole is never asked for again.
#[test]
fn live_gaps_pull_only_the_missing_numbers() {
    let mut s = feed_node();
    for (seq, ms) in [(1, 0), (3, 10), (5, 20), (6, 30)] {
        recv(&mut s, 1, &numbered("a", seq, "x"), ms);
    }
    step(&mut s, InEvent::TimerFired(Timer::Holdback), at(260));
    let out = step(&mut s, InEvent::TimerFired(Timer::CatchUp), at(1_260));
    let pulls: Vec<_> = sent_of(&out, "PULL")
        .into_iter()
        .map(|(c, f)| (c, f.envelope().msg.clone()))
        .collect();
    assert_eq!(pulls, vec![(1, json!(["a", 1, 2, 2]))]);
    // 2 comes by the pull: the next window is the second hole alone.
    let out = recv(&mut s, 1, &history(&numbered("a", 2, "x")), 1_300);
    let pulls: Vec<_> = sent_of(&out, "PULL")
        .into_iter()
        .map(|(c, f)| (c, f.envelope().msg.clone()))
        .collect();
    assert_eq!(pulls, vec![(1, json!(["a", 1, 4, 4]))]);
}

/// A peer whose `SUMMARY` shows it behind (or not holding a feed at all)
/// is told, in a `SUMMARY`, what this node has, once per value: a node that
/// answered a catching-up neighbour's `DIGEST` learns what to pull (W5
/// `quiet` on the cluster left a node without its missed messages before).
#[test]
fn a_peer_behind_is_told_what_to_pull_once() {
    let mut s = feed_node();
    for (seq, ms) in [(1, 0), (2, 10), (3, 20)] {
        recv(&mut s, 2, &numbered("z", seq, "x"), ms);
    }
    recv(&mut s, 2, &numbered("y", 1, "x"), 30);
    let out = recv(&mut s, 1, &ctl("SUMMARY", json!([["z", 1, 1]])), 100);
    let told: Vec<_> = sent_of(&out, "SUMMARY")
        .into_iter()
        .map(|(c, f)| (c, f.envelope().msg.clone()))
        .collect();
    assert_eq!(told, vec![(1, json!([["y", 1, 1], ["z", 1, 3]]))]);
    // The same claim again: nothing new to tell.
    let out = recv(&mut s, 1, &ctl("SUMMARY", json!([["z", 1, 1]])), 200);
    assert!(sent_of(&out, "SUMMARY").is_empty());
    // A peer level with this node is told nothing.
    let out = recv(
        &mut s,
        2,
        &ctl("SUMMARY", json!([["y", 1, 1], ["z", 1, 3]])),
        300,
    );
    assert!(sent_of(&out, "SUMMARY").is_empty());
}
