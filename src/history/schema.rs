//! The history database's tables, and their migrations by `PRAGMA user_version`.
//!
//! Each migration takes the schema from version `i` to `i + 1` in one
//! transaction that also sets `user_version`, so a crash leaves the old
//! version or the new one. A database whose version is newer than this
//! program knows is refused (a newer peerchat wrote it).

use rusqlite::Connection;

/// Migrations, in order: `MIGRATIONS[i]` takes version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: messages, the feed counter, known peers.
    "CREATE TABLE messages (
        row INTEGER PRIMARY KEY,          -- insertion order
        id TEXT,                          -- the message id (UUID), if any
        originator TEXT NOT NULL,
        key TEXT,                         -- the originator's key (hex), if signed
        epoch INTEGER,                    -- feed epoch and sequence, if numbered
        seq INTEGER,
        time TEXT NOT NULL,               -- the `time` field as JSON
        text TEXT NOT NULL,
        frame BLOB NOT NULL,              -- the frame's line as accepted (no round)
        received_at INTEGER NOT NULL      -- ms since the Unix epoch
    );
    -- A message stored twice (two Persist for one frame, or caught up again) is one row.
    CREATE UNIQUE INDEX messages_once ON messages(id, originator) WHERE id IS NOT NULL;
    CREATE UNIQUE INDEX messages_feed ON messages(key, epoch, seq)
        WHERE key IS NOT NULL AND epoch IS NOT NULL AND seq IS NOT NULL;
    CREATE TABLE feed (
        key TEXT PRIMARY KEY,             -- this node's key (hex)
        epoch INTEGER NOT NULL,
        reserved INTEGER NOT NULL         -- sequence numbers below it may have been used
    );
    CREATE TABLE peers (
        addr TEXT PRIMARY KEY,            -- host:port
        id TEXT NOT NULL,
        key TEXT,
        last_seen INTEGER NOT NULL        -- ms since the Unix epoch
    );",
];

/// The schema version this program writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings the database to [`SCHEMA_VERSION`]; `Err` names what went wrong.
pub fn migrate(conn: &mut Connection) -> Result<(), String> {
    let version: u32 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| e.to_string())?;
    if version > SCHEMA_VERSION {
        return Err(format!(
            "schema version {version} is newer than this program's ({SCHEMA_VERSION}); use a newer peerchat"
        ));
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let to = from + 1;
        let tx = conn.transaction().map_err(|e| e.to_string())?;
        tx.execute_batch(sql)
            .and_then(|()| tx.pragma_update(None, "user_version", to))
            .and_then(|()| tx.commit())
            .map_err(|e| format!("migrating the schema to version {to}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new database gets every table and the current version; migrating
    /// again changes nothing; a newer version is refused.
    #[test]
    fn migrates_once_and_refuses_newer() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let version: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        for table in ["messages", "feed", "peers"] {
            let n: i64 = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [table],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(n, 1, "{table}");
        }
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(err.contains("newer than this program"), "{err}");
    }
}
