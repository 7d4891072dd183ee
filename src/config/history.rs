//! Numbered feeds, history and catch-up: how long messages are kept per feed, how long a gap holds delivery back, how catch-up asks and answers.

use std::time::Duration;

/// Longest a broadcast ahead of a gap in its feed is held back from the
/// application, waiting for the gap to fill; then it is delivered and the gap reported.
pub const HOLDBACK: Duration = Duration::from_millis(250);
/// Most broadcasts held back per feed; one more delivers them all at once (gap reported).
pub const HOLDBACK_MAX: usize = 256;
/// Messages kept per feed (the newest).
pub const HISTORY_PER_FEED: usize = 1_000;
/// Bytes kept per feed, so one feed cannot take the whole history.
pub const HISTORY_FEED_BYTES: usize = 4 * 1024 * 1024;
/// Bytes of history kept in all (frames plus an entry overhead each).
pub const HISTORY_BYTES: usize = 64 * 1024 * 1024;
/// How long a message stays in history.
pub const HISTORY_AGE: Duration = Duration::from_secs(3600);
/// Feeds tracked at once; past it the feed holding the fewest messages is
/// forgotten, so a flood of throwaway feeds cannot evict a long history.
pub const HISTORY_MAX_FEEDS: usize = 1_024;
/// How often a node compares digests with each peer that numbers feeds.
pub const DIGEST_INTERVAL: Duration = Duration::from_secs(30);
/// Delay of the extra digest round after this node caught up on something,
/// so its own peers learn of it soon (hop by hop across a healed partition).
pub const DIGEST_SOON: Duration = Duration::from_millis(200);
/// Feeds per `SUMMARY` frame (each about 110 bytes: far below a frame).
pub const SUMMARY_ENTRIES: usize = 128;
/// Messages one `PULL` may ask for.
pub const PULL_WINDOW: u64 = 256;
/// A pull that brings nothing for this long is asked of another peer.
pub const PULL_TIMEOUT: Duration = Duration::from_secs(2);
/// Feeds pulled at once; others wait their turn.
pub const MAX_PULLS: usize = 64;
/// `PULL` requests queued per connection to be answered; more are dropped (counted).
pub const PULL_BACKLOG: usize = 32;
/// Messages sent in answer to `PULL`s each time a link's send queue is low.
pub const PULL_BATCH: usize = 64;
/// Messages per second one peer may be sent in answer to its pulls, sustained.
pub const SERVE_RATE: u32 = 2_000;
/// Messages one peer may be sent in answer to pulls in a burst: a whole feed's history twice.
pub const SERVE_BURST: u32 = 2 * HISTORY_PER_FEED as u32;
/// Sequence numbers reserved ahead in one block (made durable before use);
/// a new block is asked for when half of the current one is used.
pub const FEED_RESERVE_BLOCK: u64 = 1_000;
/// Own broadcasts held while the feed counter is being made durable; more are refused.
pub const OWN_QUEUE: usize = 1_024;

/// History and catch-up settings ([`NodeConfig::history`](super::NodeConfig)); each field's default is the constant it names.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryConfig {
    /// Number own broadcasts, announce `seq`, keep history and catch up (default on).
    pub feeds: bool,
    /// Hold-back of a broadcast ahead of a gap ([`HOLDBACK`]).
    pub holdback: Duration,
    /// Broadcasts held back per feed ([`HOLDBACK_MAX`]).
    pub holdback_max: usize,
    /// Messages kept per feed ([`HISTORY_PER_FEED`]).
    pub per_feed: usize,
    /// Bytes kept per feed ([`HISTORY_FEED_BYTES`]).
    pub feed_bytes: usize,
    /// Bytes kept in all ([`HISTORY_BYTES`]).
    pub max_bytes: usize,
    /// Age of the oldest message kept ([`HISTORY_AGE`]).
    pub age: Duration,
    /// Feeds tracked ([`HISTORY_MAX_FEEDS`]).
    pub max_feeds: usize,
    /// Digest period per peer ([`DIGEST_INTERVAL`]).
    pub digest_interval: Duration,
    /// Extra digest round after catching up ([`DIGEST_SOON`]).
    pub digest_soon: Duration,
    /// Feeds per `SUMMARY` ([`SUMMARY_ENTRIES`]).
    pub summary_entries: usize,
    /// Messages per `PULL` ([`PULL_WINDOW`]).
    pub pull_window: u64,
    /// Wait for a pull's progress before asking another peer ([`PULL_TIMEOUT`]).
    pub pull_timeout: Duration,
    /// Feeds pulled at once ([`MAX_PULLS`]).
    pub max_pulls: usize,
    /// Pull requests queued per link ([`PULL_BACKLOG`]).
    pub pull_backlog: usize,
    /// Pull answers per queue-low signal ([`PULL_BATCH`]).
    pub pull_batch: usize,
    /// Messages per second served to one peer ([`SERVE_RATE`]).
    pub serve_rate: u32,
    /// Messages served to one peer in a burst ([`SERVE_BURST`]).
    pub serve_burst: u32,
    /// Sequence numbers reserved per block ([`FEED_RESERVE_BLOCK`]).
    pub reserve_block: u64,
    /// Own broadcasts held awaiting a reservation ([`OWN_QUEUE`]).
    pub own_queue: usize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            feeds: true,
            holdback: HOLDBACK,
            holdback_max: HOLDBACK_MAX,
            per_feed: HISTORY_PER_FEED,
            feed_bytes: HISTORY_FEED_BYTES,
            max_bytes: HISTORY_BYTES,
            age: HISTORY_AGE,
            max_feeds: HISTORY_MAX_FEEDS,
            digest_interval: DIGEST_INTERVAL,
            digest_soon: DIGEST_SOON,
            summary_entries: SUMMARY_ENTRIES,
            pull_window: PULL_WINDOW,
            pull_timeout: PULL_TIMEOUT,
            max_pulls: MAX_PULLS,
            pull_backlog: PULL_BACKLOG,
            pull_batch: PULL_BATCH,
            serve_rate: SERVE_RATE,
            serve_burst: SERVE_BURST,
            reserve_block: FEED_RESERVE_BLOCK,
            own_queue: OWN_QUEUE,
        }
    }
}

impl HistoryConfig {
    /// The same settings with feeds off: no numbering, no history, no catch-up.
    pub fn off() -> Self {
        HistoryConfig {
            feeds: false,
            ..HistoryConfig::default()
        }
    }

    /// Checks the values make sense: periods and counts above zero, a
    /// hold-back of at most [`HOLDBACK`]'s ceiling of 500 ms.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("history.age", self.age),
            ("history.digest_interval", self.digest_interval),
            ("history.digest_soon", self.digest_soon),
            ("history.pull_timeout", self.pull_timeout),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, d)| d.is_zero()) {
            return Err(format!("{name} must be above zero"));
        }
        if self.holdback > Duration::from_millis(500) {
            return Err("history.holdback must be at most 500 ms".into());
        }
        let counts = [
            ("history.per_feed", self.per_feed),
            ("history.feed_bytes", self.feed_bytes),
            ("history.max_bytes", self.max_bytes),
            ("history.max_feeds", self.max_feeds),
            ("history.summary_entries", self.summary_entries),
            ("history.pull_window", self.pull_window as usize),
            ("history.max_pulls", self.max_pulls),
            ("history.pull_backlog", self.pull_backlog),
            ("history.pull_batch", self.pull_batch),
            ("history.serve_rate", self.serve_rate as usize),
            ("history.serve_burst", self.serve_burst as usize),
            ("history.reserve_block", self.reserve_block as usize),
            ("history.own_queue", self.own_queue),
        ];
        if let Some((name, _)) = counts.iter().find(|(_, n)| *n == 0) {
            return Err(format!("{name} must be above zero"));
        }
        Ok(())
    }
}
