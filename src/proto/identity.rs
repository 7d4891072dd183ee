//! Node keys: an ed25519 key pair is a node's identity; its public half is its `key` on the wire.
//!
//! Pure values and pure functions: a key pair is built from 32 secret bytes
//! the executor drew (or loaded from `identity.key`), and signing and
//! verifying are calls on those values. Keys and signatures are written on
//! the wire as lower-case hex (64 and 128 characters).

use std::collections::HashMap;
use std::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Bytes of a public key.
pub const KEY_LEN: usize = 32;
/// Bytes of a signature.
pub const SIG_LEN: usize = 64;
/// Hex characters of a fingerprint (`/whois`, `/peers`): the first 64 bits
/// of SHA-256 over the key, in four groups of four.
pub const FINGERPRINT_HEX: usize = 16;

/// Why a key or signature could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not hex, or not the right length.
    #[error("expected {expected} hex characters, got {got:?}")]
    Encoding {
        /// Hex characters expected.
        expected: usize,
        /// What came (cut to 80 characters).
        got: String,
    },
    /// 32 bytes that are not an ed25519 public key.
    #[error("not an ed25519 public key")]
    NotAKey,
}

/// A node's key pair. `Debug` shows only the public key.
#[derive(Clone)]
pub struct Identity {
    signing: SigningKey,
}

impl Identity {
    /// The key pair whose secret is `secret` (32 random bytes, or a stored key).
    pub fn from_secret(secret: [u8; 32]) -> Identity {
        Identity {
            signing: SigningKey::from_bytes(&secret),
        }
    }

    /// The 32 secret bytes (what `identity.key` holds).
    pub fn secret(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The public key.
    pub fn key(&self) -> NodeKey {
        NodeKey(self.signing.verifying_key().to_bytes())
    }

    /// Signs `msg`.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.signing.sign(msg).to_bytes())
    }

    /// The ed25519 signing key, for constructions built on it (sealed
    /// direct messages derive an X25519 secret from it).
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }
}

impl PartialEq for Identity {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Identity {}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({})", self.key().fingerprint())
    }
}

/// An ed25519 public key: who a signature proves.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeKey([u8; KEY_LEN]);

impl NodeKey {
    /// The key with these bytes; `KeyError::NotAKey` if they are not a curve point.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Result<NodeKey, KeyError> {
        VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::NotAKey)?;
        Ok(NodeKey(bytes))
    }

    /// The key written as 64 hex characters.
    pub fn from_hex(text: &str) -> Result<NodeKey, KeyError> {
        NodeKey::from_bytes(hex_array(text)?)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// 64 lower-case hex characters.
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }

    /// What people compare: the first 64 bits of SHA-256 over the key, as
    /// `xxxx:xxxx:xxxx:xxxx`.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.0);
        let hex = to_hex(&digest[..FINGERPRINT_HEX / 2]);
        let groups: Vec<&str> = (0..FINGERPRINT_HEX / 4)
            .map(|i| &hex[i * 4..i * 4 + 4])
            .collect();
        groups.join(":")
    }

    /// True when `sig` is this key's signature over `msg` (strict
    /// verification: no malleable or small-order forms).
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> bool {
        VerifyingKey::from_bytes(&self.0).is_ok_and(|key| verify_strict(&key, msg, sig))
    }
}

fn verify_strict(key: &VerifyingKey, msg: &[u8], sig: &Signature) -> bool {
    key.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&sig.0))
        .is_ok()
}

/// Public keys kept decompressed for verification, so a key that signs
/// often is decompressed (a square root on the curve, about a fifth of a
/// verification) once, not once per message. Only keys whose signature
/// verified are kept, at most `capacity` of them: past it one kept key
/// makes room for the new one (any one: a cache miss costs only time).
#[derive(Debug, Default)]
pub struct KeyCache {
    keys: HashMap<NodeKey, VerifyingKey>,
    capacity: usize,
}

impl KeyCache {
    /// An empty cache of at most `capacity` keys (0: keep none).
    pub fn new(capacity: usize) -> KeyCache {
        KeyCache {
            keys: HashMap::new(),
            capacity,
        }
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// [`NodeKey::verify`], with `key` decompressed once and kept after
    /// its first signature that verifies.
    pub fn verify(&mut self, key: &NodeKey, msg: &[u8], sig: &Signature) -> bool {
        if let Some(kept) = self.keys.get(key) {
            return verify_strict(kept, msg, sig);
        }
        let Ok(point) = VerifyingKey::from_bytes(&key.0) else {
            return false;
        };
        if !verify_strict(&point, msg, sig) {
            return false;
        }
        if self.capacity > 0 {
            if self.keys.len() >= self.capacity {
                if let Some(old) = self.keys.keys().next().copied() {
                    self.keys.remove(&old);
                }
            }
            self.keys.insert(*key, point);
        }
        true
    }
}

impl fmt::Display for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeKey({})", self.fingerprint())
    }
}

impl Serialize for NodeKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

/// A key read from a frame is only decoded (64 hex characters), not
/// checked to be a curve point: that check (a point decompression, half
/// the cost of a verification) would run on every copy of every signed
/// frame, while [`NodeKey::verify`] (once per message) refuses a key that
/// is not a point anyway.
impl<'de> Deserialize<'de> for NodeKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<NodeKey, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        hex_array(&text)
            .map(NodeKey)
            .map_err(serde::de::Error::custom)
    }
}

/// An ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature([u8; SIG_LEN]);

impl Signature {
    /// The signature with these bytes.
    pub fn from_bytes(bytes: [u8; SIG_LEN]) -> Signature {
        Signature(bytes)
    }

    /// The signature written as 128 hex characters.
    pub fn from_hex(text: &str) -> Result<Signature, KeyError> {
        Ok(Signature(hex_array(text)?))
    }

    /// The 64 bytes.
    pub fn as_bytes(&self) -> &[u8; SIG_LEN] {
        &self.0
    }

    /// 128 lower-case hex characters.
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}…)", &self.to_hex()[..16])
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Signature, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Signature::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// Exactly `N` bytes written as `2N` hex characters (either case).
pub fn hex_array<const N: usize>(text: &str) -> Result<[u8; N], KeyError> {
    let bad = || KeyError::Encoding {
        expected: 2 * N,
        got: text.chars().take(80).collect(),
    };
    let raw = text.as_bytes();
    if raw.len() != 2 * N {
        return Err(bad());
    }
    let mut out = [0u8; N];
    for (i, pair) in raw.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16).ok_or_else(bad)?;
        let lo = (pair[1] as char).to_digit(16).ok_or_else(bad)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(n: u8) -> Identity {
        Identity::from_secret([n; 32])
    }

    /// A signature verifies under its key only, over its message only.
    #[test]
    fn sign_and_verify() {
        let (a, b) = (identity(1), identity(2));
        let sig = a.sign(b"hello");
        assert!(a.key().verify(b"hello", &sig));
        assert!(!a.key().verify(b"hellO", &sig));
        assert!(!b.key().verify(b"hello", &sig));
        let mut flipped = *sig.as_bytes();
        flipped[5] ^= 1;
        assert!(!a.key().verify(b"hello", &Signature::from_bytes(flipped)));
    }

    /// The key cache verifies exactly as `NodeKey::verify` does, keeps
    /// only keys whose signature verified, and past its capacity holds
    /// `capacity` keys (each still verifying); capacity 0 keeps none.
    #[test]
    fn key_cache_agrees_and_is_bounded() {
        let mut cache = KeyCache::new(2);
        let (a, b) = (identity(1), identity(2));
        let sig = a.sign(b"hello");
        assert!(!cache.verify(&b.key(), b"hello", &sig));
        assert!(!cache.verify(&a.key(), b"hellO", &sig));
        assert!(cache.is_empty(), "nothing kept for a signature that failed");
        assert!(cache.verify(&a.key(), b"hello", &sig));
        assert!(cache.verify(&a.key(), b"hello", &sig));
        assert!(
            !cache.verify(&a.key(), b"hellO", &sig),
            "a kept key still checks"
        );
        assert_eq!(cache.len(), 1);
        for n in 2..10 {
            let who = identity(n);
            assert!(cache.verify(&who.key(), b"m", &who.sign(b"m")));
            assert_eq!(cache.len(), 2);
        }
        assert!(
            cache.verify(&a.key(), b"hello", &sig),
            "an evicted key verifies again"
        );
        let mut none = KeyCache::new(0);
        assert!(none.verify(&a.key(), b"hello", &sig));
        assert!(none.is_empty());
        let not_a_point = NodeKey([2; KEY_LEN]);
        assert!(VerifyingKey::from_bytes(&not_a_point.0).is_err());
        assert!(!cache.verify(&not_a_point, b"hello", &sig));
    }

    /// Keys and signatures survive hex and JSON; bad text is refused with a reason.
    #[test]
    fn hex_round_trips_and_refusals() {
        let a = identity(7);
        let key = a.key();
        assert_eq!(NodeKey::from_hex(&key.to_hex()), Ok(key));
        assert_eq!(NodeKey::from_hex(&key.to_hex().to_uppercase()), Ok(key));
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(serde_json::from_str::<NodeKey>(&json).unwrap(), key);
        let sig = a.sign(b"x");
        assert_eq!(Signature::from_hex(&sig.to_hex()), Ok(sig));
        assert!(matches!(
            NodeKey::from_hex("abc"),
            Err(KeyError::Encoding { expected: 64, .. })
        ));
        assert!(NodeKey::from_hex(&"zz".repeat(32)).is_err());
        assert!(serde_json::from_str::<NodeKey>("\"00\"").is_err());
        assert_eq!(Identity::from_secret(a.secret()), a);
    }

    /// A key that is not a curve point is refused by `from_hex`, read from a
    /// frame without the check, and verifies nothing.
    #[test]
    fn non_point_key_verifies_nothing() {
        // y = 2 is not the y-coordinate of a curve point.
        let mut bytes = [0u8; 32];
        bytes[0] = 2;
        let hex = to_hex(&bytes);
        assert_eq!(NodeKey::from_hex(&hex), Err(KeyError::NotAKey));
        let key: NodeKey = serde_json::from_str(&format!("\"{hex}\"")).unwrap();
        let sig = identity(1).sign(b"m");
        assert!(!key.verify(b"m", &sig));
    }

    /// A fingerprint is four groups of four hex digits, stable for a key.
    #[test]
    fn fingerprint_shape() {
        let f = identity(3).key().fingerprint();
        assert_eq!(f.len(), 19);
        assert_eq!(f.matches(':').count(), 3);
        assert_eq!(f, identity(3).key().fingerprint());
        assert_ne!(f, identity(4).key().fingerprint());
    }
}
