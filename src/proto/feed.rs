//! Numbered feeds (the `seq` capability): which feed a broadcast belongs to, and the digest two nodes compare to find what one of them lacks.
//!
//! A feed is one author's numbered sequence of broadcasts in one epoch: the
//! author is its key (hex) on a frame that carries `key`, else its
//! originator id. Numbers start at 1; "highest contiguous" 0 means none.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::wire::Envelope;

/// Longest author (key hex or originator id) a feed may have, in bytes:
/// longer ones are not numbered feeds (their summary entries are ignored).
pub const MAX_AUTHOR_LEN: usize = 256;

/// One feed: an author and an epoch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FeedId {
    /// The author's key in hex, or its originator id (shared: every link's
    /// claims and tells name the same few feeds).
    pub author: Arc<str>,
    /// The author's epoch (random at each start without a data directory).
    pub epoch: u64,
}

impl FeedId {
    /// The feed and number of a broadcast that carries `epoch` and `seq`
    /// (`seq` 0, or an author longer than [`MAX_AUTHOR_LEN`]: none).
    pub fn of(env: &Envelope) -> Option<(FeedId, u64)> {
        let (epoch, seq) = (env.epoch?, env.seq?);
        let author = match &env.key {
            Some(key) => key.to_hex(),
            None => env.originator.as_str().to_owned(),
        };
        if seq == 0 || author.len() > MAX_AUTHOR_LEN {
            return None;
        }
        Some((
            FeedId {
                author: author.into(),
                epoch,
            },
            seq,
        ))
    }
}

/// The digest of a node's feeds: SHA-256 over `pairs` sorted by feed (author
/// bytes, then epoch), each written as the author's length (u32, big
/// endian), its UTF-8 bytes, the epoch (u64, big endian) and the highest
/// contiguous number (u64, big endian). Feeds at 0 are left out.
pub fn digest<'a>(pairs: impl IntoIterator<Item = (&'a FeedId, u64)>) -> [u8; 32] {
    let mut sorted: Vec<(&FeedId, u64)> = pairs.into_iter().filter(|(_, c)| *c > 0).collect();
    sorted.sort();
    let mut h = Sha256::new();
    for (feed, contiguous) in sorted {
        h.update((feed.author.len() as u32).to_be_bytes());
        h.update(feed.author.as_bytes());
        h.update(feed.epoch.to_be_bytes());
        h.update(contiguous.to_be_bytes());
    }
    h.finalize().into()
}

/// A digest as the `DIGEST` frame writes it: 64 lower-case hex digits.
pub fn digest_hex(d: &[u8; 32]) -> String {
    super::identity::to_hex(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::wire::{PeerId, WireTime};

    fn feed(a: &str, e: u64) -> FeedId {
        FeedId {
            author: a.into(),
            epoch: e,
        }
    }

    /// The digest is independent of order, leaves out empty feeds, and
    /// matches the encoding PROTOCOL.md states (checked byte by byte here).
    #[test]
    fn digest_is_sorted_and_stated() {
        let (a, b) = (feed("a", 7), feed("b", 1));
        let d1 = digest([(&a, 3), (&b, 5)]);
        let d2 = digest([(&b, 5), (&a, 3), (&feed("z", 1), 0)]);
        assert_eq!(d1, d2);
        let mut bytes = Vec::new();
        for (f, c) in [(&a, 3u64), (&b, 5)] {
            bytes.extend_from_slice(&(f.author.len() as u32).to_be_bytes());
            bytes.extend_from_slice(f.author.as_bytes());
            bytes.extend_from_slice(&f.epoch.to_be_bytes());
            bytes.extend_from_slice(&c.to_be_bytes());
        }
        let expect: [u8; 32] = Sha256::digest(&bytes).into();
        assert_eq!(d1, expect);
        assert_ne!(d1, digest([(&a, 3), (&b, 6)]));
        assert_eq!(digest_hex(&d1).len(), 64);
    }

    /// Only frames with both `epoch` and a `seq` above 0 belong to a feed; the author is the originator without a key.
    #[test]
    fn feed_of_envelope() {
        let mut env = Envelope::new(
            "BROADCAST",
            "x".into(),
            PeerId::new("n1"),
            WireTime::Text("t".into()),
        );
        assert_eq!(FeedId::of(&env), None);
        env.epoch = Some(9);
        env.seq = Some(0);
        assert_eq!(FeedId::of(&env), None);
        env.seq = Some(4);
        assert_eq!(FeedId::of(&env), Some((feed("n1", 9), 4)));
        env.originator = PeerId::new("x".repeat(MAX_AUTHOR_LEN + 1));
        assert_eq!(FeedId::of(&env), None);
    }
}
