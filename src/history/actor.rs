//! `HistoryDb`: the actor that owns a node's history database, on a one-thread `SyncArbiter` (SQLite blocks; it never runs on an arbiter thread).

use std::path::PathBuf;

use actix::prelude::*;
use tracing::{debug, warn};

use super::db::Database;
use super::{HistoryEntry, Restored, Write};
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
        SyncArbiter::start(1, move || HistoryDb {
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

/// Write these in one transaction.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), String>")]
pub struct WriteBatch(pub Vec<Write>);

impl Handler<WriteBatch> for HistoryDb {
    type Result = Result<(), String>;

    fn handle(&mut self, WriteBatch(batch): WriteBatch, _: &mut SyncContext<Self>) -> Self::Result {
        let result = self.db()?.write(&batch);
        if let Err(error) = &result {
            warn!(%error, writes = batch.len(), "history write failed");
        }
        result
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
