//! `Database`: the SQLite connection of a data directory and every query on it (blocking: called only on the `HistoryDb` actor's thread).
//!
//! WAL journal, `synchronous = NORMAL` for history and known peers (a
//! commit is durable once the WAL is checkpointed, and never corrupts the
//! database: a power cut may lose the last few commits, a killed process
//! loses nothing committed), `synchronous = FULL` around the feed counter's
//! reservation (the WAL is synced before the reservation is answered, so a
//! sequence number is never used twice, even across a power cut).

use std::path::{Path, PathBuf};

use bytes::Bytes;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use tracing::warn;

use super::schema;
use super::{FeedCounter, HistoryEntry, Restored, Write};
use crate::config::StorageConfig;
use crate::proto::{Frame, NodeKey};

/// An open history database.
#[derive(Debug)]
pub struct Database {
    conn: Connection,
    path: PathBuf,
    /// This node's key, in hex: the feed counter's row.
    key: String,
    config: StorageConfig,
}

/// A rusqlite error as one line of text.
fn text(e: rusqlite::Error) -> String {
    e.to_string()
}

impl Database {
    /// Opens (creating it if needed) the database at `path` for the node
    /// whose key is `key`: checks it, migrates it, and loads what a
    /// restart restores. `Err` says why it cannot be used.
    pub fn open(
        path: &Path,
        key: NodeKey,
        config: &StorageConfig,
    ) -> Result<(Database, Restored), String> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags).map_err(text)?;
        conn.busy_timeout(config.busy_timeout).map_err(text)?;
        // The first statement reads the file: a file that is not a database fails here.
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))
            .map_err(text)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(format!("cannot use the WAL journal (got {mode})"));
        }
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(text)?;
        if check != "ok" {
            return Err(format!("the database is damaged ({check})"));
        }
        schema::migrate(&mut conn)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(text)?;
        let mut db = Database {
            conn,
            path: path.to_path_buf(),
            key: key.to_hex(),
            config: config.clone(),
        };
        let restored = Restored {
            feed: Some(db.load_feed()?),
            frames: db.load_frames(config.restore_messages)?,
            peers: db.load_peers(config.bootstrap_peers)?,
        };
        Ok((db, restored))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This node's feed counter, made (with a random epoch, synced) if the
    /// database has none for its key.
    fn load_feed(&mut self) -> Result<FeedCounter, String> {
        let row: Option<(i64, i64)> = self
            .conn
            .query_row(
                "SELECT epoch, reserved FROM feed WHERE key = ?1",
                [&self.key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(text)?;
        if let Some((epoch, reserved)) = row {
            let next = reserved as u64;
            return Ok(FeedCounter {
                epoch: epoch as u64,
                next_seq: next,
                limit: next,
            });
        }
        // SQLite integers are signed: an epoch below 2^63 stores as itself.
        let epoch = uuid::Uuid::new_v4().as_u64_pair().0 >> 1;
        self.synced(|conn, key| {
            conn.execute(
                "INSERT INTO feed (key, epoch, reserved) VALUES (?1, ?2, 0)",
                params![key, epoch as i64],
            )
        })?;
        Ok(FeedCounter {
            epoch,
            next_seq: 0,
            limit: 0,
        })
    }

    /// The newest `n` stored broadcasts, oldest first. Rows whose frame no
    /// longer parses are skipped (and logged).
    fn load_frames(&self, n: usize) -> Result<Vec<Frame>, String> {
        Ok(self
            .newest(n)?
            .into_iter()
            .map(|(frame, _)| frame)
            .collect())
    }

    fn newest(&self, n: usize) -> Result<Vec<(Frame, u64)>, String> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT row, frame, received_at FROM messages ORDER BY row DESC LIMIT ?1",
            )
            .map_err(text)?;
        let rows = stmt
            .query_map([n as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(text)?;
        let mut out = Vec::new();
        for row in rows {
            let (row, bytes, at) = row.map_err(text)?;
            match Frame::decode(Bytes::from(bytes)) {
                Ok(frame) => out.push((frame, at.max(0) as u64)),
                Err(error) => warn!(row, %error, "a stored message does not parse; skipped"),
            }
        }
        out.reverse();
        Ok(out)
    }

    /// The addresses of the `n` peers connected most recently.
    fn load_peers(&self, n: usize) -> Result<Vec<crate::proto::PeerAddr>, String> {
        let mut stmt = self
            .conn
            .prepare("SELECT addr FROM peers ORDER BY last_seen DESC LIMIT ?1")
            .map_err(text)?;
        let addrs = stmt
            .query_map([n as i64], |r| r.get::<_, String>(0))
            .map_err(text)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(text)?;
        Ok(addrs
            .into_iter()
            .filter_map(|a| crate::addr::parse_addr(&a).ok())
            .collect())
    }

    /// The newest `n` messages (at most `storage.query_max`), oldest first.
    pub fn history(&self, n: usize) -> Result<Vec<HistoryEntry>, String> {
        Ok(self
            .newest(n.min(self.config.query_max))?
            .into_iter()
            .filter_map(|(frame, at)| HistoryEntry::from_frame(&frame, at))
            .collect())
    }

    /// Writes `batch` in one transaction, then deletes what is past
    /// `storage.keep_messages` and `storage.known_peers`.
    pub fn write(&mut self, batch: &[Write]) -> Result<(), String> {
        let tx = self.conn.transaction().map_err(text)?;
        let (mut messages, mut peers) = (false, false);
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO messages
                     (id, originator, key, epoch, seq, time, text, frame, received_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(text)?;
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO peers (addr, id, key, last_seen) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(addr) DO UPDATE SET id = ?2, key = coalesce(?3, key), last_seen = ?4",
                )
                .map_err(text)?;
            for write in batch {
                match write {
                    Write::Message { frame, at_ms } => {
                        let Some(entry) = HistoryEntry::from_frame(frame, *at_ms) else {
                            continue;
                        };
                        let time = serde_json::to_string(&entry.time).unwrap_or_default();
                        insert
                            .execute(params![
                                entry.id.map(|id| id.to_string()),
                                entry.from.as_str(),
                                entry.key.map(|k| k.to_hex()),
                                entry.epoch.map(|e| e as i64),
                                entry.seq.map(|s| s as i64),
                                time,
                                entry.text,
                                frame.bytes().as_ref(),
                                *at_ms as i64,
                            ])
                            .map_err(text)?;
                        messages = true;
                    }
                    Write::Peer {
                        id,
                        addr,
                        key,
                        at_ms,
                    } => {
                        upsert
                            .execute(params![
                                addr.to_string(),
                                id.as_str(),
                                key.map(|k| k.to_hex()),
                                *at_ms as i64
                            ])
                            .map_err(text)?;
                        peers = true;
                    }
                }
            }
        }
        if messages {
            tx.execute(
                "DELETE FROM messages WHERE row <= (SELECT max(row) FROM messages) - ?1",
                [self.config.keep_messages as i64],
            )
            .map_err(text)?;
        }
        if peers {
            tx.execute(
                "DELETE FROM peers WHERE addr NOT IN
                 (SELECT addr FROM peers ORDER BY last_seen DESC LIMIT ?1)",
                [self.config.known_peers as i64],
            )
            .map_err(text)?;
        }
        tx.commit().map_err(text)
    }

    /// Stores `limit` as the feed counter's reservation (never lowering
    /// it), synced to disk before this returns.
    pub fn reserve_feed(&mut self, limit: u64) -> Result<(), String> {
        let limit = i64::try_from(limit).map_err(|_| format!("feed limit {limit} too large"))?;
        self.synced(|conn, key| {
            conn.execute(
                "UPDATE feed SET reserved = max(reserved, ?1) WHERE key = ?2",
                params![limit, key],
            )
        })
    }

    /// Runs one statement with `synchronous = FULL` (its commit syncs the
    /// WAL), then goes back to `NORMAL`.
    fn synced(
        &mut self,
        f: impl FnOnce(&Connection, &str) -> rusqlite::Result<usize>,
    ) -> Result<(), String> {
        self.conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(text)?;
        let result = f(&self.conn, &self.key).map(|_| ()).map_err(text);
        let back = self
            .conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(text);
        result.and(back)
    }
}

#[cfg(test)]
mod tests;
