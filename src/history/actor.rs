//! `HistoryDb`: the actor that owns a node's history database, on a one-thread `SyncArbiter` (SQLite blocks; it never runs on an arbiter thread).

use std::path::PathBuf;

use actix::prelude::*;
use tracing::{debug, warn};

use super::db::Database;
use super::{HistoryEntry, Restored, Write};
pub use crate::actors::peer::BatchDone;
use crate::config::StorageConfig;
use crate::proto::NodeKey;

/// The actor; starts closed, [`Open`] opens the database.
pub struct HistoryDb {
    path: PathBuf,
    key: NodeKey,
    config: StorageConfig,
    db: Option<Database>,
}

impl Actor for HistoryDb {
    type Context = SyncContext<Self>;
}

/// The database is closed (after [`Close`], or a failed [`Open`]).
const CLOSED: &str = "the history database is closed";

impl HistoryDb {
    /// Starts the actor on its own thread for the database at `path`,
    /// belonging to the node whose key is `key`. Nothing is opened until [`Open`].
    pub fn start(path: PathBuf, key: NodeKey, config: StorageConfig) -> Addr<HistoryDb> {
        // The factory runs once: a SyncContext actor restarts only when
        // stopped, and this one never stops itself.
        let thread = || std::thread::Builder::new().name("peerchat-history".into());
        SyncArbiter::start_with_thread_builder(1, thread, move || HistoryDb {
            path: path.clone(),
            key,
            config: config.clone(),
            db: None,
        })
    }

    fn db(&mut self) -> Result<&mut Database, String> {
        self.db.as_mut().ok_or_else(|| CLOSED.to_string())
    }
}

/// Open (create, check, migrate) the database and load what a restart restores.
#[derive(Debug, Message)]
#[rtype(result = "Result<Restored, String>")]
pub struct Open;

impl Handler<Open> for HistoryDb {
    type Result = Result<Restored, String>;

    fn handle(&mut self, _: Open, _: &mut SyncContext<Self>) -> Self::Result {
        let (db, restored) = Database::open(&self.path, self.key, &self.config)?;
        debug!(path = %self.path.display(), messages = restored.frames.len(), "history database open");
        self.db = Some(db);
        Ok(restored)
    }
}

/// Write these in one transaction; the outcome goes to `done`.
///
/// Sent with `do_send`, never `send`: a `SyncArbiter` skips a message whose
/// answer nobody waits for any more, and a write must not be lost because
/// the node that sent it is stopping.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct WriteBatch {
    /// The writes.
    pub writes: Vec<Write>,
    /// Who hears how it went (`tracked` is given back).
    pub done: Recipient<BatchDone>,
    /// Passed back in [`BatchDone`].
    pub tracked: bool,
}

impl Handler<WriteBatch> for HistoryDb {
    type Result = ();

    fn handle(&mut self, msg: WriteBatch, _: &mut SyncContext<Self>) {
        let result = self.db().and_then(|db| db.write(&msg.writes));
        if let Err(error) = &result {
            warn!(%error, writes = msg.writes.len(), "history write failed");
        }
        msg.done.do_send(BatchDone {
            result,
            tracked: msg.tracked,
        });
    }
}

/// Make the feed counter durable up to `limit` (synced before the answer).
#[derive(Debug, Message)]
#[rtype(result = "Result<(), String>")]
pub struct ReserveFeed {
    /// The new limit (exclusive).
    pub limit: u64,
}

impl Handler<ReserveFeed> for HistoryDb {
    type Result = Result<(), String>;

    fn handle(&mut self, msg: ReserveFeed, _: &mut SyncContext<Self>) -> Self::Result {
        self.db()?.reserve_feed(msg.limit)
    }
}

/// The newest `n` messages, oldest first.
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<HistoryEntry>, String>")]
pub struct Query(pub usize);

impl Handler<Query> for HistoryDb {
    type Result = Result<Vec<HistoryEntry>, String>;

    fn handle(&mut self, Query(n): Query, _: &mut SyncContext<Self>) -> Self::Result {
        self.db()?.history(n)
    }
}

/// Close the database (everything sent before is written first: one queue).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Close;

impl Handler<Close> for HistoryDb {
    type Result = ();

    fn handle(&mut self, _: Close, _: &mut SyncContext<Self>) {
        if let Some(db) = self.db.take() {
            debug!(path = %db.path().display(), "history database closed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A feed reservation is committed before it is answered: another
    /// connection reads it while the actor still holds the database, and a
    /// reopen starts numbering at it (never below).
    #[actix_rt::test]
    async fn reservation_is_durable_before_the_answer() {
        let dir = std::env::temp_dir().join(format!(
            "peerchat-actor-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(crate::history::DB_FILE);
        let key = crate::data_dir::generate_identity().key();
        let db = HistoryDb::start(path.clone(), key, StorageConfig::default());
        let restored = db.send(Open).await.unwrap().unwrap();
        let epoch = restored.feed.unwrap().epoch;
        db.send(ReserveFeed { limit: 500 }).await.unwrap().unwrap();
        let other = rusqlite::Connection::open(&path).unwrap();
        let reserved: i64 = other
            .query_row("SELECT reserved FROM feed", [], |r| r.get(0))
            .unwrap();
        assert_eq!(reserved, 500);
        db.send(ReserveFeed { limit: 100 }).await.unwrap().unwrap();
        db.send(Close).await.unwrap();
        let (_, again) = Database::open(&path, key, &StorageConfig::default()).unwrap();
        let feed = again.feed.unwrap();
        assert_eq!((feed.epoch, feed.next_seq), (epoch, 500));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
