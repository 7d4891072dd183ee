//! How broadcasts travel: flooding, or along a tree (Plumtree), with the tree's windows, fan-out, timeouts and bounds.

use std::time::Duration;

/// How a node passes broadcasts on (docs/PROTOCOL.md, "Broadcast along a tree").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BroadcastMode {
    /// Every new broadcast goes in full to every link (as version 1 did).
    Flood,
    /// In full along the tree's eager links, announced (`IHAVE`) on a few
    /// lazy ones; announces the `tree` capability. Links to peers without
    /// `tree` are flooded as before.
    #[default]
    Tree,
}

impl std::str::FromStr for BroadcastMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "flood" => Ok(BroadcastMode::Flood),
            "tree" => Ok(BroadcastMode::Tree),
            other => Err(format!(
                "unknown broadcast mode {other:?}: expected flood or tree"
            )),
        }
    }
}

impl std::fmt::Display for BroadcastMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BroadcastMode::Flood => "flood",
            BroadcastMode::Tree => "tree",
        })
    }
}

/// How long announcements for one link are gathered before they go out as one `IHAVE`.
pub const IHAVE_WINDOW: Duration = Duration::from_millis(25);
/// Lazy links each new broadcast is announced on at once (after `ihave_window`).
/// None by default: every announcement waits for the sweep, which costs
/// frames per link and period instead of per message (docs/PROTOCOL.md says
/// why, from measurements).
pub const LAZY_FANOUT: usize = 0;
/// How often every lazy link is told, in one `IHAVE`, of every broadcast the
/// node got since the last time: the announcement that reaches every link,
/// whose cost is per link and period, not per message.
pub const IHAVE_SWEEP: Duration = Duration::from_millis(500);
/// How long an announced id may stay missing before the node asks the announcer (`GRAFT`).
pub const GRAFT_TIMEOUT: Duration = Duration::from_millis(200);
/// The longest the learned waits before a `GRAFT` grow to. A node learns
/// how late eager copies trail their announcements and how long a graft's
/// answer takes (running averages), and waits a quarter more than the
/// first before grafting and two of the second before asking the next
/// announcer, between the floors (`graft_timeout`, `graft_retry`) and this.
/// Under load (W2, every node's burst at once) both are seconds, and a fixed
/// 200 ms grafted most announced ids, each a full copy that turned a link
/// eager: 4.6 to 5.4 frames per delivery against 2.5 to 3.6 with the
/// learning (W2 over TCP, 3 alternating pairs). On a
/// quiet network nothing is learned; under churn (model W4) recovery waits
/// a little longer (time to all p99 750 ms against 955 ms). Equal to
/// `graft_timeout`: no learning (docs/PROTOCOL.md, "Why these defaults").
pub const GRAFT_TIMEOUT_MAX: Duration = Duration::from_secs(5);
/// How long a node still waits for the answer to its last `GRAFT`, while
/// the link it asked is up, once no other announcer is left; then it asks
/// that link once more and stops tracking the id. Answers are paced by the
/// announcer's send queue, which under load (W2) holds seconds of traffic:
/// giving up after `graft_retry` and repairing (every tree link asked to be
/// eager, a flood) did that hundreds of times a W2 run. When every
/// announcer's link is gone, the node repairs at once, as before.
pub const GRAFT_PATIENCE: Duration = Duration::from_secs(5);
/// How long after a `GRAFT` the node asks the next announcer, if the message is still missing.
pub const GRAFT_RETRY: Duration = Duration::from_millis(100);
/// Rounds by which a lazy link's path must beat the eager one before they
/// swap. High: a tree shared by many senders is short for one sender and long
/// for another, and with smaller thresholds the swaps made it oscillate in
/// the simulator (docs/PROTOCOL.md, "Why these defaults").
pub const OPTIMIZE_ROUNDS: u32 = 32;
/// Bytes of broadcasts the message store keeps to answer `GRAFT`s.
pub const STORE_BYTES: usize = 16 * 1024 * 1024;
/// How long the message store keeps a broadcast.
pub const STORE_TTL: Duration = Duration::from_secs(30);
/// Announced ids a node waits for at once; more are not tracked (counted).
pub const MAX_PENDING_GRAFTS: usize = 4096;
/// Ids one `IHAVE` may carry; a longer one closes the connection.
pub const MAX_IHAVE_IDS: usize = 1024;
/// Ids a peer may have asked for (`GRAFT`) and not yet been sent; more are dropped (counted).
pub const GRAFT_BACKLOG: usize = 4096;
/// Broadcasts sent in answer to `GRAFT`s each time a link's send queue is low.
pub const GRAFT_BATCH: usize = 64;
/// Broadcasts of the last this-long a node announces to a peer that grafts it without naming ids.
pub const REPAIR_WINDOW: Duration = Duration::from_secs(2);

/// The tree's settings ([`NodeConfig::tree`](super::NodeConfig)); each field's default is the constant it names.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeConfig {
    /// Announcement batching window per link ([`IHAVE_WINDOW`]).
    pub ihave_window: Duration,
    /// Lazy links announced to per broadcast ([`LAZY_FANOUT`]; 0: none, only the sweep).
    pub lazy_fanout: usize,
    /// Period of the announcement to every lazy link ([`IHAVE_SWEEP`]).
    pub ihave_sweep: Duration,
    /// First wait for an announced id ([`GRAFT_TIMEOUT`]).
    pub graft_timeout: Duration,
    /// Longest the first wait grows to ([`GRAFT_TIMEOUT_MAX`]).
    pub graft_timeout_max: Duration,
    /// Wait for the last graft's answer on a live link before repairing ([`GRAFT_PATIENCE`]; zero: none).
    pub graft_patience: Duration,
    /// Wait before asking the next announcer ([`GRAFT_RETRY`]).
    pub graft_retry: Duration,
    /// Round gain that swaps a lazy link for the eager one ([`OPTIMIZE_ROUNDS`]).
    pub optimize_rounds: u32,
    /// Message store size ([`STORE_BYTES`]).
    pub store_bytes: usize,
    /// Message store retention ([`STORE_TTL`]).
    pub store_ttl: Duration,
    /// Announced ids awaited at once ([`MAX_PENDING_GRAFTS`]).
    pub max_pending_grafts: usize,
    /// Ids per `IHAVE` ([`MAX_IHAVE_IDS`]).
    pub max_ihave_ids: usize,
    /// Grafted ids queued per link ([`GRAFT_BACKLOG`]).
    pub graft_backlog: usize,
    /// Graft answers per queue-low signal ([`GRAFT_BATCH`]).
    pub graft_batch: usize,
    /// Announced to an id-less graft ([`REPAIR_WINDOW`]).
    pub repair_window: Duration,
}

impl Default for TreeConfig {
    fn default() -> Self {
        TreeConfig {
            ihave_window: IHAVE_WINDOW,
            lazy_fanout: LAZY_FANOUT,
            ihave_sweep: IHAVE_SWEEP,
            graft_timeout: GRAFT_TIMEOUT,
            graft_timeout_max: GRAFT_TIMEOUT_MAX,
            graft_patience: GRAFT_PATIENCE,
            graft_retry: GRAFT_RETRY,
            optimize_rounds: OPTIMIZE_ROUNDS,
            store_bytes: STORE_BYTES,
            store_ttl: STORE_TTL,
            max_pending_grafts: MAX_PENDING_GRAFTS,
            max_ihave_ids: MAX_IHAVE_IDS,
            graft_backlog: GRAFT_BACKLOG,
            graft_batch: GRAFT_BATCH,
            repair_window: REPAIR_WINDOW,
        }
    }
}

impl TreeConfig {
    /// Checks the values make sense: windows and timeouts above zero, room for at least one id.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("tree.ihave_window", self.ihave_window),
            ("tree.ihave_sweep", self.ihave_sweep),
            ("tree.graft_timeout", self.graft_timeout),
            ("tree.graft_retry", self.graft_retry),
            ("tree.store_ttl", self.store_ttl),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, d)| d.is_zero()) {
            return Err(format!("{name} must be above zero"));
        }
        if self.graft_timeout_max < self.graft_timeout {
            return Err("tree.graft_timeout_max must not be below tree.graft_timeout".into());
        }
        let counts = [
            ("tree.max_pending_grafts", self.max_pending_grafts),
            ("tree.max_ihave_ids", self.max_ihave_ids),
            ("tree.graft_backlog", self.graft_backlog),
            ("tree.graft_batch", self.graft_batch),
        ];
        if let Some((name, _)) = counts.iter().find(|(_, n)| *n == 0) {
            return Err(format!("{name} must be above zero"));
        }
        Ok(())
    }
}
