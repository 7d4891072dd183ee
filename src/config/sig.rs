//! Signed messages: whether a node signs, how many bad signatures a link may bring, how far a signed time may stray.

use std::time::Duration;

/// Bad signatures (or ids that do not match their signed fields) one
/// connection may bring; the one that reaches it closes the connection
/// (`DisconnectReason::BadSignature`).
pub const MAX_BAD_SIGNATURES: u32 = 8;

/// How far a signed message's `time` may be from this node's clock beyond
/// the seen-cache TTL (older) or ahead of it (newer) before the message is
/// dropped as a replay: clocks of honest nodes disagree by about this much.
pub const CLOCK_SKEW: Duration = Duration::from_secs(30);

/// Names pinned on first signed contact; past it a new name's messages are
/// still delivered (`new`) but its key is not pinned, so a flood of made-up
/// names cannot grow the table (and `DIR/pins`) without bound. `/trust` pins beyond it.
pub const MAX_PINS: usize = 10_000;

/// Other keys remembered per pinned name (keys seen signing under it that
/// are not its pin), so `/whois` can list them and `/trust NAME
/// FINGERPRINT` can pick one; past it the oldest is forgotten.
pub const OTHER_KEYS_PER_NAME: usize = 4;

/// Signing keys kept decompressed for verification: a node that hears
/// from more signers than this at once decompresses some keys again (a
/// fifth of a verification each time), nothing else. About 250 bytes a key.
pub const KEY_CACHE: usize = 64;

/// How long after a pin changes the node writes `DIR/pins` (and at
/// shutdown): the changes of a burst are written once.
pub const PINS_SAVE_DELAY: Duration = Duration::from_secs(1);

/// Signing and checking `BROADCAST`, `DIRECT` and `DIRECT_ACK` (docs/PROTOCOL.md, "Signed messages").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigConfig {
    /// Sign what this node makes and announce `sig`, when it has a key (default true).
    pub sign: bool,
    /// Bad signatures one connection may bring ([`MAX_BAD_SIGNATURES`]).
    pub max_bad_signatures: u32,
    /// Clock difference allowed on a signed `time` ([`CLOCK_SKEW`]).
    pub clock_skew: Duration,
    /// Names pinned on first contact at most ([`MAX_PINS`]).
    pub max_pins: usize,
    /// Other keys remembered per pinned name ([`OTHER_KEYS_PER_NAME`]).
    pub other_keys_per_name: usize,
    /// Signing keys kept decompressed for verification ([`KEY_CACHE`]).
    pub key_cache: usize,
}

impl Default for SigConfig {
    fn default() -> Self {
        SigConfig {
            sign: true,
            max_bad_signatures: MAX_BAD_SIGNATURES,
            clock_skew: CLOCK_SKEW,
            max_pins: MAX_PINS,
            other_keys_per_name: OTHER_KEYS_PER_NAME,
            key_cache: KEY_CACHE,
        }
    }
}
