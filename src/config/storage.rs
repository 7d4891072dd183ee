//! The history database's limits (a node with a data directory and the `sqlite` feature): batching, what is kept, what is loaded.

use std::time::Duration;

/// Most writes (messages and peers seen) committed in one transaction.
/// A full batch is committed at once, without waiting for [`STORAGE_BATCH_DELAY`].
pub const STORAGE_BATCH_MAX: usize = 256;
/// Longest a write waits for others to share its transaction: one commit
/// per few milliseconds at most, whatever the message rate.
pub const STORAGE_BATCH_DELAY: Duration = Duration::from_millis(5);
/// Writes waiting for the database (one transaction is under way at a time);
/// past it, new writes are dropped and counted (`Metrics::history_writes_dropped`).
/// At a few thousand messages per commit this is seconds of a stalled disk.
pub const STORAGE_MAX_PENDING: usize = 65_536;
/// Messages kept in the database; past it the oldest are deleted as new ones come.
pub const STORAGE_KEEP_MESSAGES: usize = 100_000;
/// Messages loaded from the database at start to restore the node's history
/// (the newest ones).
pub const STORAGE_RESTORE_MESSAGES: usize = 10_000;
/// Most messages one history query (`NodeHandle::history`) returns; larger
/// asks get this many (the newest).
pub const STORAGE_QUERY_MAX: usize = 10_000;
/// Peers remembered (the most recently connected); past it the least recent are forgotten.
pub const STORAGE_KNOWN_PEERS: usize = 256;
/// Known peers offered at start as bootstrap addresses (`NodeHandle::known_peers`), the most recent first.
pub const STORAGE_BOOTSTRAP_PEERS: usize = 8;
/// How long a write waits for a database locked by another connection before it fails.
pub const STORAGE_BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// The history database's limits ([`crate::NodeConfig::storage`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageConfig {
    /// Writes per transaction ([`STORAGE_BATCH_MAX`]).
    pub batch_max: usize,
    /// Longest wait for a transaction to fill ([`STORAGE_BATCH_DELAY`]).
    pub batch_delay: Duration,
    /// Writes waiting for the database ([`STORAGE_MAX_PENDING`]); more are dropped and counted.
    pub max_pending: usize,
    /// Messages kept in the database ([`STORAGE_KEEP_MESSAGES`]); older ones are deleted.
    pub keep_messages: usize,
    /// Messages loaded at start ([`STORAGE_RESTORE_MESSAGES`]).
    pub restore_messages: usize,
    /// Most messages one history query returns ([`STORAGE_QUERY_MAX`]).
    pub query_max: usize,
    /// Peers remembered ([`STORAGE_KNOWN_PEERS`]).
    pub known_peers: usize,
    /// Known peers offered as bootstrap addresses ([`STORAGE_BOOTSTRAP_PEERS`]).
    pub bootstrap_peers: usize,
    /// Wait for a database locked by another connection ([`STORAGE_BUSY_TIMEOUT`]).
    pub busy_timeout: Duration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            batch_max: STORAGE_BATCH_MAX,
            batch_delay: STORAGE_BATCH_DELAY,
            max_pending: STORAGE_MAX_PENDING,
            keep_messages: STORAGE_KEEP_MESSAGES,
            restore_messages: STORAGE_RESTORE_MESSAGES,
            query_max: STORAGE_QUERY_MAX,
            known_peers: STORAGE_KNOWN_PEERS,
            bootstrap_peers: STORAGE_BOOTSTRAP_PEERS,
            busy_timeout: STORAGE_BUSY_TIMEOUT,
        }
    }
}

impl StorageConfig {
    /// Checks the counts that must be above zero are.
    pub fn validate(&self) -> Result<(), String> {
        let counts = [
            ("storage.batch_max", self.batch_max),
            ("storage.max_pending", self.max_pending),
            ("storage.keep_messages", self.keep_messages),
            ("storage.known_peers", self.known_peers),
        ];
        if let Some((name, _)) = counts.iter().find(|(_, n)| *n == 0) {
            return Err(format!("{name} must be above zero"));
        }
        if self.max_pending < self.batch_max {
            return Err("storage.max_pending must be at least storage.batch_max".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zero counts, and fewer writes allowed to wait than one batch holds, are refused.
    #[test]
    fn bad_values_are_refused() {
        assert_eq!(StorageConfig::default().validate(), Ok(()));
        let zero = StorageConfig {
            batch_max: 0,
            ..StorageConfig::default()
        };
        assert_eq!(
            zero.validate(),
            Err("storage.batch_max must be above zero".into())
        );
        let small = StorageConfig {
            max_pending: 10,
            batch_max: 20,
            ..StorageConfig::default()
        };
        assert!(small.validate().unwrap_err().contains("max_pending"));
        let config = crate::NodeConfig {
            storage: zero,
            ..crate::NodeConfig::default()
        };
        assert!(config.validate().is_err());
    }
}
