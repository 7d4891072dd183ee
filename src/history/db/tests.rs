//! Tests of `Database`: what is written comes back after a reopen, the bounds hold, bad files are refused.

use std::path::PathBuf;

use serde_json::Value;

use super::*;
use crate::proto::{types, Envelope, MessageId, PeerAddr, PeerId, WireTime};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "peerchat-db-{name}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn key() -> NodeKey {
    crate::data_dir::generate_identity().key()
}

fn broadcast(from: &str, n: u128, text: &str) -> Frame {
    let time = WireTime::Text(format!("2026-12-02T21:00:00.{n:03}Z"));
    let mut env = Envelope::new(types::BROADCAST, Value::from(text), PeerId::new(from), time);
    env.id = Some(MessageId::from_u128(n));
    Frame::encode(env).unwrap()
}

fn message(frame: Frame) -> Write {
    Write::Message { frame, at_ms: 1 }
}

fn peer(port: u16, at_ms: u64) -> Write {
    Write::Peer {
        id: PeerId::new(format!("p{port}")),
        addr: PeerAddr::new("127.0.0.1", port),
        key: None,
        at_ms,
    }
}

/// Messages written come back in order, once each even when written twice
/// (from the query and, after a reopen, as the frames to restore); the
/// feed's epoch is kept.
#[test]
fn history_survives_a_reopen() {
    let dir = temp_dir("reopen");
    let path = dir.join("peerchat.db");
    let (key, config) = (key(), StorageConfig::default());
    let (mut db, first) = Database::open(&path, key, &config).unwrap();
    assert!(first.frames.is_empty());
    let epoch = first.feed.unwrap().epoch;
    let frames: Vec<Frame> = (1..=3)
        .map(|n| broadcast("bob", n, &format!("m{n}")))
        .collect();
    db.write(&frames.iter().cloned().map(message).collect::<Vec<_>>())
        .unwrap();
    let texts: Vec<String> = db
        .history(10)
        .unwrap()
        .into_iter()
        .map(|e| e.text)
        .collect();
    assert_eq!(texts, ["m1", "m2", "m3"]);
    drop(db);
    let (db, again) = Database::open(&path, key, &config).unwrap();
    assert_eq!(again.frames, frames);
    assert_eq!(again.feed.unwrap().epoch, epoch);
    assert_eq!(db.history(2).unwrap()[1].text, "m3");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Past `keep_messages` the oldest rows are deleted; at most
/// `restore_messages` are loaded at start and `query_max` returned by a query.
#[test]
fn message_bounds_hold() {
    let dir = temp_dir("bounds");
    let path = dir.join("peerchat.db");
    let config = StorageConfig {
        keep_messages: 5,
        restore_messages: 3,
        query_max: 4,
        ..StorageConfig::default()
    };
    let key = key();
    let (mut db, _) = Database::open(&path, key, &config).unwrap();
    let writes: Vec<Write> = (1..=8)
        .map(|n| message(broadcast("a", n, &n.to_string())))
        .collect();
    db.write(&writes).unwrap();
    let count: i64 = db
        .conn
        .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 5);
    let texts: Vec<String> = db
        .history(100)
        .unwrap()
        .into_iter()
        .map(|e| e.text)
        .collect();
    assert_eq!(texts, ["5", "6", "7", "8"]);
    drop(db);
    let (_, restored) = Database::open(&path, key, &config).unwrap();
    let ids: Vec<_> = restored.frames.iter().map(|f| f.envelope().id).collect();
    assert_eq!(
        ids,
        (6..=8)
            .map(|n| Some(MessageId::from_u128(n)))
            .collect::<Vec<_>>()
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Peers are remembered by address (the newest sighting wins); past
/// `known_peers` the least recent are forgotten; at start the
/// `bootstrap_peers` most recent are offered, newest first.
#[test]
fn known_peers_are_bounded_and_newest_first() {
    let dir = temp_dir("peers");
    let path = dir.join("peerchat.db");
    let config = StorageConfig {
        known_peers: 3,
        bootstrap_peers: 2,
        ..StorageConfig::default()
    };
    let key = key();
    let (mut db, _) = Database::open(&path, key, &config).unwrap();
    db.write(&[
        peer(1, 10),
        peer(2, 20),
        peer(3, 30),
        peer(4, 40),
        peer(1, 50),
    ])
    .unwrap();
    let count: i64 = db
        .conn
        .query_row("SELECT count(*) FROM peers", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 3);
    drop(db);
    let (_, restored) = Database::open(&path, key, &config).unwrap();
    assert_eq!(
        restored.peers,
        [PeerAddr::new("127.0.0.1", 1), PeerAddr::new("127.0.0.1", 4)]
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// The feed reservation is kept across a reopen and never goes down; the
/// restart's next sequence number is the reserved limit.
#[test]
fn feed_reservation_never_goes_back() {
    let dir = temp_dir("feed");
    let path = dir.join("peerchat.db");
    let (key, config) = (key(), StorageConfig::default());
    let (mut db, first) = Database::open(&path, key, &config).unwrap();
    let feed = first.feed.unwrap();
    assert_eq!((feed.next_seq, feed.limit), (0, 0));
    db.reserve_feed(100).unwrap();
    db.reserve_feed(50).unwrap();
    drop(db);
    let (_, again) = Database::open(&path, key, &config).unwrap();
    let counter = again.feed.unwrap();
    assert_eq!(counter.epoch, feed.epoch);
    assert_eq!((counter.next_seq, counter.limit), (100, 100));
    // Another key in the same database has a feed of its own.
    let (_, other) = Database::open(&path, self::key(), &config).unwrap();
    assert_eq!(other.feed.unwrap().next_seq, 0);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A file that is not a database, or one damaged inside, is refused with the reason.
#[test]
fn damaged_files_are_refused() {
    let dir = temp_dir("corrupt");
    let path = dir.join("peerchat.db");
    std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
    let err = Database::open(&path, key(), &StorageConfig::default()).unwrap_err();
    assert!(err.contains("not a database"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A write the disk cannot take (here: the database at its page limit) is
/// an error, and the database is still usable afterwards.
#[test]
fn a_full_disk_is_an_error() {
    let dir = temp_dir("full");
    let path = dir.join("peerchat.db");
    let (mut db, _) = Database::open(&path, key(), &StorageConfig::default()).unwrap();
    let pages: i64 = db
        .conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    db.conn
        .pragma_update(None, "max_page_count", pages)
        .unwrap();
    let big = "x".repeat(20_000);
    let writes: Vec<Write> = (1..=20).map(|n| message(broadcast("a", n, &big))).collect();
    let err = db.write(&writes).unwrap_err();
    assert!(err.contains("full"), "{err}");
    assert!(db.history(10).unwrap().is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}
