//! Counters a node keeps about its traffic.

use serde::Serialize;

/// Counters since the node started; `peers` and `connections` are current values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Metrics {
    /// Valid frames received.
    pub frames_in: u64,
    /// Bytes of valid frames received, newlines included.
    pub bytes_in: u64,
    /// Frames handed to connections to write.
    pub frames_out: u64,
    /// Bytes of those frames, newlines included.
    pub bytes_out: u64,
    /// Messages delivered to the application (broadcast, test, custom).
    pub deliveries: u64,
    /// Broadcasts dropped because they were already seen.
    pub duplicates_dropped: u64,
    /// Lines that were not valid frames (too long ones included).
    pub malformed_frames: u64,
    /// Frames of an application type with no handler.
    pub unhandled_frames: u64,
    /// Signed messages refused: a signature that does not verify, or an id
    /// that is not the one its signed fields give (each counts against its link).
    pub bad_signatures: u64,
    /// Unsigned messages dropped: the name they claim is pinned to a key, or
    /// the node requires signatures (`require_secure`).
    pub unsigned_dropped: u64,
    /// Signed messages dropped for their `time`: older than the seen-cache
    /// TTL plus the clock skew (a replay), further ahead than the skew, or unreadable.
    pub replays_dropped: u64,
    /// Sealed `DIRECT`s for this node that did not open (not sealed to its
    /// key, or unsigned: an earlier node stripped the sender's key), dropped.
    pub seal_failures: u64,
    /// Frames refused for what they claimed (a peer id bound to another connection).
    pub rejected_frames: u64,
    /// Inbound connections closed at once because the node was at `max_connections`.
    pub connections_refused: u64,
    /// Dials started.
    pub dials: u64,
    /// Dials that failed.
    pub dials_failed: u64,
    /// Dials that failed because the name did not resolve, or resolved to no
    /// address (counted in `dials_failed` too).
    pub dials_unresolvable: u64,
    /// Hellos whose advertised host was replaced by the connection's source IP
    /// (unspecified, loopback from another host, multicast, broadcast, link-local).
    pub addr_corrected: u64,
    /// Addresses refused: hellos advertising port 0 (or an unusable host with no
    /// source IP to take instead), and `ADVERTISE_REPLY` entries naming an
    /// address that may not be dialled from here. None of them is dialled.
    pub addr_rejected: u64,
    /// Peers left out of an `ADVERTISE_REPLY` because their address must not
    /// go to that asker (unusable, or loopback to a peer on another host).
    pub addr_withheld: u64,
    /// Frames not sent to a one-shot peer because they exceed `one_shot_max_frame`.
    pub one_shot_oversized: u64,
    /// Connections closed because the peer read too slowly.
    pub slow_peer_drops: u64,
    /// Events a subscriber missed because its buffer was full (each told to it as `Event::Lagged`).
    pub events_dropped: u64,
    /// `BROADCAST` frames sent (flooded, eager, or answering a `GRAFT`): the payload copies.
    pub broadcast_frames_out: u64,
    /// `IHAVE` frames sent (tree).
    pub ihave_sent: u64,
    /// Ids announced in them.
    pub ihave_ids_sent: u64,
    /// `GRAFT` frames sent.
    pub graft_sent: u64,
    /// `PRUNE` frames sent.
    pub prune_sent: u64,
    /// Broadcasts sent in answer to a peer's `GRAFT`.
    pub grafts_served: u64,
    /// Grafted ids this node did not (or no longer) store.
    pub graft_unknown: u64,
    /// Grafted ids dropped because the peer's backlog was full.
    pub graft_backlog_dropped: u64,
    /// Announced ids not awaited because `max_pending_grafts` were.
    pub pending_grafts_dropped: u64,
    /// Grafts that proved needless: the message came by another path first
    /// (each lengthens the wait before the next graft).
    pub grafts_needless: u64,
    /// Announced messages that never came from anyone asked.
    pub grafts_failed: u64,
    /// Announced ids whose last graft's answer was waited for
    /// `graft_patience` more, the asked link being up.
    pub grafts_waited: u64,
    /// `IHAVE` frames longer than `max_ihave_ids` (their connections closed).
    pub ihave_oversized: u64,
    /// Tree frames on connections outside the tree (no peer, or no `tree`).
    pub tree_frames_ignored: u64,
    /// Lazy links swapped in for a much longer eager path.
    pub tree_swaps: u64,
    /// Eager tree links lost (each makes the node ask its other links to be eager).
    pub tree_repairs: u64,
    /// Messages in the message store now.
    pub stored_messages: u64,
    /// Sends to one-shot peers dropped because `max_one_shot_in_flight` were already under way.
    pub one_shot_dropped: u64,
    /// New message ids dropped because their connection was past `new_id_rate`/`new_id_burst`.
    pub ids_rate_limited: u64,
    /// Application handlers that panicked (the panic was caught; the node went on).
    pub handler_panics: u64,
    /// Writes to the history database that failed (each failed transaction
    /// counts once; the node goes on in memory, see `Event::StorageFailed`).
    pub history_write_failures: u64,
    /// Writes dropped before reaching the history database because
    /// `storage.max_pending` were already waiting for it.
    pub history_writes_dropped: u64,
    /// Links that completed the secure handshake.
    pub secure_links: u64,
    /// Secure handshakes that failed: a bad or forged message, a stall past
    /// `handshake_timeout` after the magic, a stream neither text nor the
    /// magic, a dialled peer that answered and then failed.
    pub secure_handshake_failed: u64,
    /// Secure links closed because a Noise message did not decrypt.
    pub decrypt_failed: u64,
    /// Secure links closed because a hello's key was not the link's key.
    pub identity_mismatch: u64,
    /// Plaintext links refused (`require_secure`, or a downgrade from an
    /// address or key seen secure), dialled or accepted.
    pub insecure_refused: u64,
    /// Registered peers now.
    pub peers: u64,
    /// Open connections now (for a node's actors, accepted TCP connections
    /// still in their secure handshake included).
    pub connections: u64,
    /// Most connections open at once since the node started.
    pub peak_connections: u64,
    /// Message keys in the seen-cache now (bounded by `seen_capacity`).
    pub seen_entries: u64,
    /// Numbered messages in history now (bounded by `history.*`).
    pub history_messages: u64,
    /// Feeds tracked now (bounded by `history.max_feeds`).
    pub history_feeds: u64,
    /// Feeds forgotten to make room for another.
    pub feeds_evicted: u64,
    /// Messages whose feed and number this node held with another id (kept once).
    pub feed_conflicts: u64,
    /// Gaps reported to the application (`Event::Gap`).
    pub feed_gaps: u64,
    /// Own broadcasts refused because the feed counter was not reserved and `own_queue` were waiting.
    pub own_queue_dropped: u64,
    /// `DIGEST` frames sent.
    pub digests_sent: u64,
    /// Bytes of `DIGEST` frames sent.
    pub digest_bytes: u64,
    /// `SUMMARY` frames sent.
    pub summaries_sent: u64,
    /// Bytes of `SUMMARY` frames sent.
    pub summary_bytes: u64,
    /// `PULL` frames sent.
    pub pulls_sent: u64,
    /// Bytes of `PULL` and `HISTORY` frames sent (catch-up traffic).
    pub catchup_bytes: u64,
    /// Messages sent in answer to `PULL`s (`HISTORY` frames).
    pub pull_served: u64,
    /// Broadcasts delivered late (caught up by a pull).
    pub caught_up: u64,
    /// `HISTORY` frames nobody asked for (dropped).
    pub history_unsolicited: u64,
    /// Catch-up input refused for its size or number: summary entries past
    /// `max_feeds`, pulls past their window or the backlog, pulls over the serve rate.
    pub catchup_refused: u64,
    /// Catch-up frames on links whose peer does not number feeds (ignored).
    pub catchup_ignored: u64,
}
