//! A node's history database (`DIR/peerchat.db`, feature `sqlite`): the messages it received, its feed counter and the peers it knew, kept by one actor on its own thread.
//!
//! - `schema`: the tables, created and migrated by `PRAGMA user_version`.
//! - `db`: [`Database`](db::Database), the SQLite connection and every query (blocking).
//! - `actor`: [`HistoryDb`](actor::HistoryDb), the actor on a one-thread
//!   `SyncArbiter` that owns the connection: SQLite never runs on an arbiter thread.
//! - `batch`: [`Batcher`](batch::Batcher), the PeerActor's side: writes
//!   gathered into transactions of `storage.batch_max`, or every `storage.batch_delay`.
//!
//! [`HistoryEntry`] exists without the feature, so the API is the same;
//! a node without a database has no history.

use serde::Serialize;

use crate::proto::{Body, Frame, MessageId, NodeKey, PeerAddr, PeerId, WireTime};

#[cfg(feature = "sqlite")]
pub(crate) mod actor;
#[cfg(feature = "sqlite")]
pub(crate) mod batch;
#[cfg(feature = "sqlite")]
pub(crate) mod db;
#[cfg(feature = "sqlite")]
mod schema;

/// The database file's name inside a data directory.
pub const DB_FILE: &str = "peerchat.db";

/// One broadcast from the history, as stored when it was accepted.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct HistoryEntry {
    /// The message id (absent for messages of original peers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<MessageId>,
    /// Who made it (the originator).
    pub from: PeerId,
    /// The originator's key, when the message carried one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<NodeKey>,
    /// Its feed's epoch, when numbered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    /// Its sequence number in that feed, when numbered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// When its originator made it (the `time` field as it came).
    pub time: WireTime,
    /// The text.
    pub text: String,
    /// When this node accepted it, in milliseconds since the Unix epoch.
    pub received_at_ms: u64,
}

impl HistoryEntry {
    /// The entry for a stored broadcast frame; `None` for any other frame.
    pub fn from_frame(frame: &Frame, received_at_ms: u64) -> Option<HistoryEntry> {
        let Body::Broadcast { text } = frame.body() else {
            return None;
        };
        let env = frame.envelope();
        Some(HistoryEntry {
            id: env.id,
            from: env.originator.clone(),
            key: env.key,
            epoch: env.epoch,
            seq: env.seq,
            time: env.time.clone(),
            text: text.clone(),
            received_at_ms,
        })
    }
}

impl std::fmt::Display for HistoryEntry {
    /// `[time] <from> text`, as the chat shows history.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] <{}> {}", self.time, self.from, self.text)
    }
}

/// What a data directory's database held at start, loaded before the node
/// runs: the newest messages, the feed counter, the peers known.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    /// The newest `storage.restore_messages` broadcasts, oldest first.
    pub frames: Vec<Frame>,
    /// This node's feed counter.
    pub feed: Option<FeedCounter>,
    /// Peers this node connected to, the most recent first (at most `storage.bootstrap_peers`).
    pub peers: Vec<PeerAddr>,
}

/// This node's feed counter as the database holds it: its epoch, and the
/// limit reserved (synced to disk) before sequence numbers up to it were used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedCounter {
    /// The feed's epoch (random when the feed was made, then kept).
    pub epoch: u64,
    /// Every sequence number below it may have been used: the next one to use.
    pub next_seq: u64,
    /// Sequence numbers below it are reserved durably (equal to `next_seq`
    /// at start: the node reserves more before numbering).
    pub limit: u64,
}

/// One write for the database, as the PeerActor gathers them.
#[derive(Debug, Clone)]
pub enum Write {
    /// A broadcast accepted as new (`OutEvent::Persist`).
    Message {
        /// The frame, without its round.
        frame: Frame,
        /// When, in milliseconds since the Unix epoch.
        at_ms: u64,
    },
    /// A peer this node connected to.
    Peer {
        /// Its id.
        id: PeerId,
        /// Its address.
        addr: PeerAddr,
        /// Its key, when known.
        key: Option<NodeKey>,
        /// When, in milliseconds since the Unix epoch.
        at_ms: u64,
    },
}

/// Now, in milliseconds since the Unix epoch (the executor's wall clock).
pub fn now_ms() -> u64 {
    chrono::Utc::now().timestamp_millis().max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{types, Envelope, Event};

    /// `run` writes a history entry and a storage failure as the protocol
    /// document says: absent fields left out, times in ms.
    #[test]
    fn entries_and_failures_as_json() {
        let time = WireTime::Text("2026-12-02T21:00:00.000Z".into());
        let mut env = Envelope::new(types::BROADCAST, "hi".into(), PeerId::new("bob"), time);
        env.id = Some(MessageId::from_u128(1));
        let frame = Frame::encode(env).unwrap();
        let entry = HistoryEntry::from_frame(&frame, 42).unwrap();
        assert_eq!(
            serde_json::to_value(&entry).unwrap(),
            serde_json::json!({"id": "00000000-0000-0000-0000-000000000001", "from": "bob",
                "time": "2026-12-02T21:00:00.000Z", "text": "hi", "received_at_ms": 42})
        );
        assert_eq!(entry.to_string(), "[2026-12-02T21:00:00.000Z] <bob> hi");
        let failed = Event::StorageFailed {
            reason: "disk full".into(),
        };
        assert_eq!(
            serde_json::to_value(&failed).unwrap(),
            serde_json::json!({"event": "storage_failed", "reason": "disk full"})
        );
    }
}
