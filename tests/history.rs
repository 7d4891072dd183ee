//! A node with a data directory keeps its history in SQLite: across restarts, against bad files and failed writes.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use peerchat::{Error, Event, Node, NodeConfig, NodeHandle};

/// A fresh directory under the system's temp dir (not created).
fn temp_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "peerchat-history-{name}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ))
}

async fn start_in(id: &str, dir: &PathBuf, config: NodeConfig) -> NodeHandle {
    Node::builder(id)
        .listen("127.0.0.1:0")
        .data_dir(dir)
        .config(config)
        .start()
        .await
        .expect("node starts")
}

fn texts(history: &[peerchat::history::HistoryEntry]) -> Vec<(String, String)> {
    history
        .iter()
        .map(|e| (e.from.to_string(), e.text.clone()))
        .collect()
}

/// A node with a data directory receives a broadcast and sends one, shuts
/// down, and starts again: its history holds both, in order, with the
/// sender's peer among the known peers; the key is the same.
#[actix_rt::test]
async fn restart_keeps_history() {
    let dir = temp_dir("restart");
    let a = start_in("alice", &dir, NodeConfig::default()).await;
    let key = a.key();
    let b = start("bob").await;
    let mut events = a.events().await.unwrap();
    link(&b, &a).await;
    b.broadcast("from bob").await.unwrap();
    broadcast_from(&mut events, "from bob").await;
    a.broadcast("from alice").await.unwrap();
    let expected = vec![
        ("bob".to_string(), "from bob".to_string()),
        ("alice".to_string(), "from alice".to_string()),
    ];
    assert_eq!(texts(&a.history(10).await.unwrap()), expected);
    a.shutdown().await.unwrap();
    drop(a);

    let a = start_in("alice", &dir, NodeConfig::default()).await;
    assert_eq!(a.key(), key);
    let history = a.history(10).await.unwrap();
    assert_eq!(texts(&history), expected);
    assert!(history[0].id.is_some() && history[0].received_at_ms > 0);
    assert_eq!(texts(&a.history(1).await.unwrap()), expected[1..]);
    assert!(
        a.known_peers()
            .iter()
            .any(|p| p.port() == b.local_addr().port()),
        "{:?}",
        a.known_peers()
    );
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

/// A database file that is not a database refuses the start with
/// `Error::Database`, naming the file and the reason.
#[actix_rt::test]
async fn corrupt_database_refuses_start() {
    let dir = temp_dir("corrupt");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join(peerchat::history::DB_FILE);
    std::fs::write(
        &db,
        b"this is not an SQLite database, just text\n".repeat(200),
    )
    .unwrap();
    let err = Node::builder("alice")
        .data_dir(&dir)
        .start()
        .await
        .unwrap_err();
    match &err {
        Error::Database { path, reason } => {
            assert_eq!(path, &db);
            assert!(reason.contains("not a database"), "{reason}");
        }
        other => panic!("expected Error::Database, got {other:?}"),
    }
    assert!(err.to_string().contains("peerchat.db"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A write that fails (the database held by another writer past
/// `storage.busy_timeout`) is counted, told once as `StorageFailed`, and the
/// node goes on delivering; a second failure is counted but not told again.
#[actix_rt::test]
async fn failed_writes_are_told_once_and_the_node_goes_on() {
    let dir = temp_dir("fail");
    let mut config = NodeConfig::default();
    config.storage.busy_timeout = Duration::from_millis(20);
    let a = start_in("alice", &dir, config).await;
    let b = start("bob").await;
    let mut events = a.events().await.unwrap();
    link(&b, &a).await;

    // What waits (the peer just connected) is written first: from here on
    // each broadcast is one transaction.
    a.history(1).await.unwrap();
    let blocker = rusqlite::Connection::open(dir.join(peerchat::history::DB_FILE)).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    b.broadcast("one").await.unwrap();
    broadcast_from(&mut events, "one").await;
    let reason = expect(&mut events, "storage failure", |e| match e {
        Event::StorageFailed { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(reason.contains("locked"), "{reason}");
    until("one failure counted", || async {
        a.metrics().await.unwrap().history_write_failures == 1
    })
    .await;

    b.broadcast("two").await.unwrap();
    broadcast_from(&mut events, "two").await;
    until("a second failure counted", || async {
        a.metrics().await.unwrap().history_write_failures == 2
    })
    .await;
    blocker.execute_batch("ROLLBACK").unwrap();
    b.broadcast("three").await.unwrap();
    let mut told_again = false;
    expect(&mut events, "three", |e| match e {
        Event::StorageFailed { .. } => {
            told_again = true;
            None
        }
        Event::Broadcast { text, .. } if text == "three" => Some(()),
        _ => None,
    })
    .await;
    assert!(!told_again, "StorageFailed told twice");
    // Writes work again once the database is free.
    let history = a.history(10).await.unwrap();
    assert_eq!(history.last().map(|e| e.text.as_str()), Some("three"));
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

/// A node without a data directory has no history and no known peers.
#[actix_rt::test]
async fn without_a_data_dir_there_is_no_history() {
    let a = start("alice").await;
    a.broadcast("nobody keeps this").await.unwrap();
    assert!(a.history(10).await.unwrap().is_empty());
    assert!(a.known_peers().is_empty());
    a.shutdown().await.unwrap();
}
