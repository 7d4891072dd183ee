//! Secure links: whether plaintext peers are refused, and how many addresses and keys seen secure a node remembers (no downgrade).

/// TCP links to peerchat nodes are dialled secure (Noise) by default; off,
/// the node dials in plaintext (it still answers a secure dial). For
/// measuring what security costs (`peerchat sim` without `--crypto`) and for
/// networks that encrypt below peerchat; never with `require_secure`.
pub const SECURE_LINKS: bool = true;

/// Plaintext links are served by default (legacy peers); `--require-secure` refuses them.
pub const REQUIRE_SECURE: bool = false;

/// Addresses (and, apart, keys) seen on secure links that a node remembers
/// so that it never falls back to plaintext with them. Past it the oldest
/// is forgotten, and that address may be downgraded again. 4,096 covers
/// every peer of a node at `max_peers` many times over, at about 100 bytes each.
pub const SECURE_MEMORY: usize = 4096;
